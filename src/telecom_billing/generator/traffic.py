"""The traffic model: what subscribers do, how much and where, in terms of the catalog.

Two halves:

* The shape of traffic, the same whatever the catalog, is the constants below: the service mix,
  usage distributions, the daily and weekly profile, travel habits, handsets.
* What names catalog entries (plans, zones, visited countries) is data: the traffic file
  `traffic.yaml` beside the catalog's `catalog.yaml` (format: data/README.md). `load_traffic`
  checks it against the catalog, failing with one line that names the file and the entry, and
  resolves it into a `Traffic` with a weight for every plan, prefix zone and visited country of
  the catalog. Entries the file leaves out, and all of them when there is no file, get defaults
  derived from the catalog's structure (the DEFAULT_* constants; a national zone is one whose
  prefixes all start with the home country code).

The same file may also set where the network cuts long usage into partial records and how much
of the traffic comes that way (`partials`, DESIGN.md 7c), with DEFAULT_PARTIALS for what it
leaves out.
"""

from __future__ import annotations

import math
import random
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..contracts.limits import BYTES_PER_MB, MAX_DATA_BYTES
from ..errors import TelecomError
from ..refdata.catalog import ANY, Catalog, read_yaml

TRAFFIC_FILE = "traffic.yaml"

# Share of each service among CDRs, and of mobile-originated among voice and sms.
SERVICE_MIX = {"voice": 0.50, "sms": 0.15, "data": 0.35}
MO_SHARE = 0.62
# Log-normal usage: median and shape (sigma of the underlying normal), clamped to a plausible range.
VOICE_MEDIAN_SEC, VOICE_SIGMA, VOICE_MAX_SEC = 75.0, 1.0, 4 * 3600
DATA_DOWN_MEDIAN_BYTES, DATA_SIGMA, DATA_MIN_BYTES = 4_000_000.0, 1.6, 1024
DATA_UP_RATIO_MEDIAN, DATA_UP_RATIO_SIGMA = 0.08, 0.7
SESSION_MEDIAN_SEC, SESSION_SIGMA, SESSION_MAX_SEC = 300.0, 0.9, 6 * 3600
# Roaming: a share of subscribers travel; a traveller is abroad one 4-day block in four.
TRAVELLER_SHARE = 0.12
TRIP_BLOCK_DAYS = 4
TRIP_CYCLE_BLOCKS = 4
ROAMING_SHARE = TRAVELLER_SHARE / TRIP_CYCLE_BLOCKS
# Share of event times written in UTC ('Z') rather than with the catalog time zone's offset.
UTC_SHARE = 0.35
# Relative traffic per local hour (0..23) and per weekday (Monday..Sunday).
DIURNAL = (0.30, 0.18, 0.11, 0.08, 0.07, 0.09, 0.18, 0.40, 0.70, 0.90, 1.00, 1.02,
           1.00, 0.95, 0.92, 0.95, 1.00, 1.05, 1.10, 1.15, 1.20, 1.10, 0.85, 0.55)
WEEKLY = (1.00, 1.00, 1.00, 1.00, 0.97, 0.88, 0.80)
ON_NET_SHARE = 0.40  # of destinations in the subscribers' own prefixes, calls to other subscribers of the base
TECHNOLOGIES = ("2G", "3G", "4G", "5G")
DEVICE_MIX = (0.05, 0.15, 0.55, 0.25)  # best technology of the subscriber's handset
# Digits after the home country code in a national number: the numbering plan, which the catalog does not give.
NATIONAL_DIGITS = 9
FOREIGN_MIN_DIGITS = 11
# The wider world, for the catalog's wildcards: country codes that a catch-all zone (prefix "") may
# dial and countries that a "*" roaming zone may see, each used when no other catalog entry claims it.
WORLD_CODES = ("966", "971", "974", "90", "221", "213", "216", "20", "86", "91", "7", "55", "61", "27")
WORLD_COUNTRIES = ("US", "SA", "AE", "TR", "BE", "NL", "CA", "SN", "EG", "CN", "QA", "PT", "CH")


@dataclass(frozen=True)
class PlanUse:
    share: float  # relative weight in the subscriber base
    activity: float  # relative number of CDRs per subscriber


# What applies to a catalog entry the traffic file does not name.
DEFAULT_PLAN = PlanUse(share=0.10, activity=1.0)
DEFAULT_NATIONAL_ZONE_WEIGHT = 0.10
DEFAULT_FOREIGN_ZONE_WEIGHT = 0.01
DEFAULT_COUNTRY_WEIGHT = 1.0
_TOP_KEYS = ("subscriber_zone", "plans", "zones", "visited_countries", "partials")
_PLAN_KEYS = ("share", "activity")
_PARTIALS_KEYS = ("split_after", "split_bytes", "share")


@dataclass(frozen=True)
class Partials:
    """Where the network cuts long usage into partial records, and how much traffic comes that way."""

    split_after: int  # seconds: a call lasting longer comes as parts, one every split_after
    split_bytes: int  # a data session larger comes as parts, one every split_bytes
    share: float  # of the lines (canonical): parts of a long call or data session


DEFAULT_PARTIALS = Partials(split_after=1800, split_bytes=100 * BYTES_PER_MB, share=0.02)
# A part is at least a minute or a megabyte (a call cut finer would exceed the 1,000 parts a session
# may have), and a long call must still fit under the longest call the model makes.
SPLIT_AFTER_RANGE = (60, VOICE_MAX_SEC - 1)
SPLIT_BYTES_RANGE = (BYTES_PER_MB, MAX_DATA_BYTES)


class TrafficError(TelecomError):
    """The traffic file is unreadable or invalid; the message names the file and the entry."""


@dataclass(frozen=True)
class Traffic:
    """The catalog-named half of the model, resolved for one catalog."""

    subscriber_prefixes: tuple[str, ...]  # subscriber numbers start with one of these
    plans: dict[str, PlanUse]  # every plan of the catalog
    zones: dict[str, float]  # every prefix zone of the catalog: its weight as a destination
    countries: dict[str, float]  # every country a traveller may visit: its weight
    partials: Partials

    def activity(self, plan_id: str) -> float:
        """How busy a subscriber on this plan is (on a plan the catalog lacks: the default)."""
        return self.plans.get(plan_id, DEFAULT_PLAN).activity


def load_traffic(catalog_path: str | Path, catalog: Catalog) -> Traffic:
    """The traffic of the catalog at `catalog_path` (its folder or its file): `traffic.yaml` in
    the same folder, checked against `catalog`; without that file, the catalog's defaults."""
    path = Path(catalog_path)
    path = (path if path.is_dir() else path.parent) / TRAFFIC_FILE
    if not path.is_file():
        return default_traffic(catalog)
    document = read_yaml(path, TrafficError, "the traffic file")
    return _Resolver(str(path), catalog).traffic({} if document is None else document)


def default_traffic(catalog: Catalog) -> Traffic:
    """The traffic of a catalog that has no traffic file: every entry at its default."""
    return _Resolver(TRAFFIC_FILE, catalog).traffic({})


def national_zones(catalog: Catalog) -> list[str]:
    """Prefix zones of national numbers: every prefix starts with the home country code."""
    cc = catalog.home_country_code
    return [zone for zone, prefixes in catalog.zones.items() if all(p.startswith(cc) for p in prefixes)]


def visitable_countries(catalog: Catalog) -> list[str]:
    """Countries a traveller may visit: those the roaming zones name, and the world's for a "*"."""
    home, zones = catalog.home_country, catalog.roaming_zones.values()
    named = [c for countries in zones for c in countries if c not in (ANY, home)]
    if not any(ANY in countries for countries in zones):
        return named
    return named + [c for c in WORLD_COUNTRIES if c not in named and c != home]


def random_number(rnd: random.Random, head: str, home_country_code: str) -> str:
    """A random number starting with `head`, national or foreign by its country code."""
    if head.startswith(home_country_code):
        length = len(home_country_code) + NATIONAL_DIGITS
    else:
        length = max(FOREIGN_MIN_DIGITS, len(head) + NATIONAL_DIGITS)
    digits = length - len(head)
    return head + str(rnd.randrange(10**digits)).zfill(digits)


class _Resolver:
    """Turns the traffic document into a `Traffic` for `catalog`; errors read `file: entry: problem`."""

    def __init__(self, source: str, catalog: Catalog) -> None:
        self.source = source
        self.catalog = catalog

    def fail(self, where: str, problem: str) -> TrafficError:
        return TrafficError(f"{self.source}: {where}: {problem}")

    def traffic(self, document: Any) -> Traffic:
        top = self.mapping(document, "top level", _TOP_KEYS)
        national = national_zones(self.catalog)
        return Traffic(
            subscriber_prefixes=self.subscriber_prefixes(top.get("subscriber_zone"), national),
            plans=self.plans(self.named(top, "plans", list(self.catalog.plans), "a plan")),
            zones=self.weights(top, "zones", list(self.catalog.zones), "a prefix zone",
                               lambda zone: DEFAULT_NATIONAL_ZONE_WEIGHT if zone in national
                               else DEFAULT_FOREIGN_ZONE_WEIGHT),
            countries=self.weights(top, "visited_countries", visitable_countries(self.catalog),
                                   "a country its roaming zones let travellers visit", lambda _: DEFAULT_COUNTRY_WEIGHT),
            partials=self.partials(self.mapping(top.get("partials", {}), "partials", _PARTIALS_KEYS)))

    def mapping(self, value: Any, where: str, keys: tuple[str, ...]) -> Mapping[Any, Any]:
        if not isinstance(value, Mapping):
            raise self.fail(where, f"must be a mapping, got {value!r}")
        for key in value:
            if key not in keys:
                raise self.fail(where, f"unknown key {key!r} (expected {', '.join(keys)})")
        return value

    def named(self, top: Mapping[str, Any], section: str, known: list[str], what: str) -> Mapping[Any, Any]:
        """The section's entries, each of which must name something of the catalog."""
        entries = top.get(section, {})
        if not isinstance(entries, Mapping):
            raise self.fail(section, f"must be a mapping, got {entries!r}")
        for name in entries:
            if name not in known:
                raise self.fail(f"{section}.{name}", f"not {what} of the catalog ({', '.join(known)})")
        return entries

    def weight(self, value: Any, where: str) -> float:
        if isinstance(value, bool) or not isinstance(value, int | float) or not 0 < value < math.inf:
            raise self.fail(where, f"must be a positive number, got {value!r}")
        return float(value)

    def whole(self, value: Any, where: str, bounds: tuple[int, int], unit: str) -> int:
        low, high = bounds
        if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
            raise self.fail(where, f"must be a whole number of {unit} from {low} to {high}, got {value!r}")
        return value

    def share(self, value: Any, where: str) -> float:
        if isinstance(value, bool) or not isinstance(value, int | float) or not 0 <= value < 1:
            raise self.fail(where, f"must be a number from 0 to below 1, got {value!r}")
        return float(value)

    def weights(self, top: Mapping[str, Any], section: str, known: list[str], what: str,
                default: Callable[[str], float]) -> dict[str, float]:
        """A weight for every known name: the file's, else the default."""
        named = self.named(top, section, known, what)
        return {name: self.weight(named[name], f"{section}.{name}") if name in named else default(name)
                for name in known}

    def subscriber_prefixes(self, zone: Any, national: list[str]) -> tuple[str, ...]:
        cc = self.catalog.home_country_code
        if zone is None:  # the first national zone; with none, any national number
            return self.catalog.zones[national[0]] if national else (cc,)
        if zone not in national:
            raise self.fail("subscriber_zone", f"must be a national zone of the catalog (prefixes starting with {cc}: "
                                               f"{', '.join(national) or 'none'}), got {zone!r}")
        return self.catalog.zones[zone]

    def plans(self, named: Mapping[Any, Any]) -> dict[str, PlanUse]:
        uses = {}
        for plan_id in self.catalog.plans:
            entry = self.mapping(named.get(plan_id, {}), f"plans.{plan_id}", _PLAN_KEYS)
            uses[plan_id] = PlanUse(
                share=self.weight(entry.get("share", DEFAULT_PLAN.share), f"plans.{plan_id}.share"),
                activity=self.weight(entry.get("activity", DEFAULT_PLAN.activity), f"plans.{plan_id}.activity"))
        return uses

    def partials(self, entry: Mapping[Any, Any]) -> Partials:
        default = DEFAULT_PARTIALS
        return Partials(
            split_after=self.whole(entry.get("split_after", default.split_after), "partials.split_after",
                                   SPLIT_AFTER_RANGE, "seconds"),
            split_bytes=self.whole(entry.get("split_bytes", default.split_bytes), "partials.split_bytes",
                                   SPLIT_BYTES_RANGE, "bytes"),
            share=self.share(entry.get("share", default.share), "partials.share"))
