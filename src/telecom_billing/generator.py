"""Synthetic traffic: a Faker subscriber base and realistic raw CDRs with labelled defects.

Two products, both deterministic for a seed:

* `generate_subscribers` builds the subscriber base (Moroccan names and addresses; Faker has
  no Moroccan locale, so names come from its Maghreb locale `fr_DZ` and addresses from the
  Moroccan cities and streets below). Activations and terminations fall inside
  `REFERENCE_MONTH`, so billing that month exercises proration.
* `CdrGenerator` turns a catalog and a subscriber base into raw CDR lines (canonical or
  legacy format, DESIGN.md section 3) and, on the side, one `Label` per injected defect with
  the reason code mediation is expected to give (docs/RULES.md).

Speed matters (hundreds of thousands of lines per second), so everything random about a
subscriber or a number is drawn once into pools at start-up, and the per-CDR loop only
indexes tables and formats one string. Faker never runs per CDR.
"""

from __future__ import annotations

import calendar
import hashlib
import json
import math
import random
import statistics
import time
from array import array
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from itertools import accumulate, repeat
from operator import and_, mod
from typing import IO, Any, NamedTuple
from zoneinfo import ZoneInfo

from .catalog import Catalog
from .errors import UsageError
from .subscribers import Subscriber

DEFAULT_SEED = 42
DEFAULT_SUBSCRIBERS = 10_000
DEFAULT_COUNT = 10_000
DEFAULT_DEFECT_RATE = 0.03
# The month in which the committed subscriber base activates and terminates subscribers, and the
# default simulated period: a fixed past month, so output never depends on today's date and no
# simulated event is in the future.
REFERENCE_MONTH = date(2026, 10, 1)
FORMATS = ("canonical", "legacy")

# Share of each service among CDRs, and of mobile-originated among voice and sms.
SERVICE_MIX = {"voice": 0.50, "sms": 0.15, "data": 0.35}
MO_SHARE = 0.62
# Log-normal usage: median and shape (sigma of the underlying normal).
VOICE_MEDIAN_SEC, VOICE_SIGMA = 75.0, 1.0
DATA_DOWN_MEDIAN_BYTES, DATA_SIGMA = 4_000_000.0, 1.6
DATA_UP_RATIO_MEDIAN, DATA_UP_RATIO_SIGMA = 0.08, 0.7
SESSION_MEDIAN_SEC, SESSION_SIGMA = 300.0, 0.9
# Roaming: a share of subscribers travel; a traveller is abroad one 4-day block in four.
TRAVELLER_SHARE = 0.12
TRIP_BLOCK_DAYS = 4
ROAMING_SHARE = TRAVELLER_SHARE / 4
# Share of event times written in UTC ('Z') rather than with the Casablanca offset.
UTC_SHARE = 0.35

# Relative traffic per local hour (0..23) and per weekday (Monday..Sunday).
DIURNAL = (0.30, 0.18, 0.11, 0.08, 0.07, 0.09, 0.18, 0.40, 0.70, 0.90, 1.00, 1.02,
           1.00, 0.95, 0.92, 0.95, 1.00, 1.05, 1.10, 1.15, 1.20, 1.10, 0.85, 0.55)
WEEKLY = (1.00, 1.00, 1.00, 1.00, 0.97, 0.88, 0.80)

# Destination mix by catalog zone name; a zone not named here gets the fallback weight.
ZONE_WEIGHTS = {"national_mobile": 0.70, "national_fixed": 0.10, "europe": 0.10, "maghreb": 0.03,
                "gulf": 0.02, "north_america": 0.02, "rest_of_world": 0.03}
OTHER_ZONE_WEIGHT = 0.01
ON_NET_SHARE = 0.40  # of national mobile destinations, calls to other subscribers of the base
# Plan mix by plan id; an unknown plan id gets the fallback weight.
PLAN_WEIGHTS = {"PAYG": 0.30, "SMART_99": 0.38, "MAX_199": 0.22, "BUSINESS_349": 0.10}
OTHER_PLAN_WEIGHT = 0.10
PLAN_ACTIVITY = {"PAYG": 0.6, "SMART_99": 1.0, "MAX_199": 1.4, "BUSINESS_349": 2.0}
# Country codes used for a catch-all zone (prefix ""), and visited countries for a "*" roaming zone.
WORLD_CODES = ("966", "971", "974", "90", "221", "213", "216", "20", "86", "91", "7", "55", "61", "27")
WORLD_COUNTRIES = ("US", "SA", "AE", "TR", "BE", "NL", "CA", "SN", "EG", "CN", "QA", "PT", "CH")
# Where Moroccan subscribers travel most; other visited countries weigh 1.
COUNTRY_WEIGHTS = {"FR": 12, "ES": 9, "IT": 4, "BE": 3, "NL": 3, "DE": 2, "GB": 2, "SA": 3, "AE": 3,
                   "US": 2, "TR": 2, "PT": 2, "CA": 2}
TECHNOLOGIES = ("2G", "3G", "4G", "5G")
DEVICE_MIX = (0.05, 0.15, 0.55, 0.25)  # best technology of the subscriber's handset

# Defect kind -> (relative weight, expected mediation outcome). "DUPLICATE" is the later copy
# of an already-seen cdr_id; None means the record must be accepted and rated.
DEFECTS: dict[str, tuple[float, str | None]] = {
    "exact_resend": (12, "DUPLICATE"),
    "duplicate_id": (10, "DUPLICATE"),
    "malformed_json": (10, "MALFORMED_JSON"),
    "missing_field": (12, "MISSING_FIELD"),
    "invalid_msisdn": (10, "INVALID_MSISDN"),
    "non_positive_usage": (10, "NON_POSITIVE_USAGE"),
    "over_long_usage": (6, "USAGE_OUT_OF_RANGE"),
    "future_timestamp": (7, "FUTURE_TIMESTAMP"),
    "unknown_subscriber": (10, "UNKNOWN_SUBSCRIBER"),
    "numbers_as_strings": (13, None),
}
MAX_VOICE_SEC = 86_400
MAX_DATA_BYTES = 100 * 1024**3
MIB = 1_048_576
INVALID_NUMBERS = ("invalid_phone", "2126123", "21261234567890123", "+212 6XX-XXX-XXX", "n/a", "UNKNOWN")
FAR_FUTURE_YEAR = "2099"

# (city, postal code, share of the population, cell-id stem).
CITIES = (
    ("Casablanca", "20000", 33.0, "CASABLANCA"), ("Rabat", "10000", 9.0, "RABAT"),
    ("Fès", "30000", 11.0, "FES"), ("Marrakech", "40000", 9.3, "MARRAKECH"),
    ("Tanger", "90000", 9.5, "TANGER"), ("Salé", "11000", 9.0, "SALE"),
    ("Meknès", "50000", 6.3, "MEKNES"), ("Oujda", "60000", 5.5, "OUJDA"),
    ("Kénitra", "14000", 4.3, "KENITRA"), ("Agadir", "80000", 4.2, "AGADIR"),
    ("Tétouan", "93000", 3.8, "TETOUAN"), ("Témara", "12000", 3.1, "TEMARA"),
    ("Safi", "46000", 3.1, "SAFI"), ("Mohammedia", "28800", 2.2, "MOHAMMEDIA"),
    ("Khouribga", "25000", 2.0, "KHOURIBGA"), ("El Jadida", "24000", 1.9, "ELJADIDA"),
    ("Béni Mellal", "23000", 1.9, "BENIMELLAL"), ("Nador", "62000", 1.6, "NADOR"),
    ("Taza", "35000", 1.5, "TAZA"), ("Al Hoceïma", "32000", 0.6, "ALHOCEIMA"),
)
CELLS_PER_SHARE = 12  # cells per point of population share: ~1,400 cells in all
STREET_TYPES = ("Rue", "Avenue", "Boulevard", "Derb", "Impasse", "Rue", "Avenue", "Résidence")
STREET_NAMES = (
    "Mohammed V", "Hassan II", "Ibn Battouta", "Zerktouni", "Al Massira", "Moulay Ismail", "Ibn Sina",
    "Al Qods", "Allal El Fassi", "Abdelmoumen", "Anfa", "des FAR", "Moulay Youssef", "Oued Sebou",
    "Al Andalous", "Ibn Khaldoun", "Annakhil", "Bir Anzarane", "Al Wahda", "Omar Ibn Khattab",
    "Lalla Yacout", "Tarik Ibn Ziad", "Al Moukawama", "Ibn Rochd", "Al Amal", "Oued Ziz",
    "Moulay Rachid", "Al Farabi", "Ennakhil", "Al Irfane", "Yacoub El Mansour", "Idriss Premier",
)


# --------------------------------------------------------------------------- subscriber base


def _address(rnd: random.Random, city: tuple[str, str, float, str], fake: Any) -> str:
    kind = rnd.choice(STREET_TYPES)
    name = rnd.choice(STREET_NAMES) if rnd.random() < 0.7 else fake.last_name()
    if kind == "Résidence":
        return f"{kind} {name}, Imm. {rnd.randint(1, 40)} Appt {rnd.randint(1, 30)}, {city[1]} {city[0]}"
    return f"{rnd.randint(1, 250)} {kind} {name}, {city[1]} {city[0]}"


def _weighted(rnd: random.Random, weights: dict[str, float]) -> str:
    names = list(weights)
    return rnd.choices(names, weights=[weights[n] for n in names])[0]


def mobile_prefixes(catalog: Catalog) -> tuple[str, ...]:
    """E.164 prefixes of subscriber numbers: the catalog's national mobile zone."""
    prefixes = tuple(p for p in catalog.zones.get("national_mobile", ()) if p)
    cc = catalog.home_country_code
    return prefixes or (cc + "6", cc + "7")


def national_length(catalog: Catalog) -> int:
    return len(catalog.home_country_code) + 9


def generate_subscribers(catalog: Catalog, count: int = DEFAULT_SUBSCRIBERS, seed: int = DEFAULT_SEED,
                         month: date = REFERENCE_MONTH) -> list[Subscriber]:
    """A subscriber base of `count`, with activations and terminations inside `month`."""
    from faker import Faker

    if count < 1:
        raise UsageError("the subscriber base needs at least one subscriber")
    fake = Faker("fr_DZ")
    fake.seed_instance(seed)
    rnd = random.Random(f"subscribers/{seed}")
    plan_weights = {p: PLAN_WEIGHTS.get(p, OTHER_PLAN_WEIGHT) for p in catalog.plans}
    if not plan_weights:
        raise UsageError("the catalog has no plans")
    prefixes, length = mobile_prefixes(catalog), national_length(catalog)
    city_weights = [c[2] for c in CITIES]
    month_end = date(month.year, month.month, calendar.monthrange(month.year, month.month)[1])
    earliest = date(month.year - 12, 1, 1)
    seen: set[str] = set()
    base: list[Subscriber] = []
    while len(base) < count:
        prefix = prefixes[0] if rnd.random() < 0.75 or len(prefixes) == 1 else rnd.choice(prefixes[1:])
        msisdn = prefix + str(rnd.randrange(10 ** (length - len(prefix)))).zfill(length - len(prefix))
        if msisdn in seen:
            continue
        seen.add(msisdn)
        city = rnd.choices(CITIES, weights=city_weights)[0]
        name = f"{fake.first_name()} {fake.last_name()}"
        roll = rnd.random()
        if roll < 0.03:  # a new subscriber this month: prorated recurring fee
            activation = month + timedelta(days=rnd.randrange(1, month_end.day))
        else:  # tenure skewed towards recent years
            span = (month - earliest).days
            activation = month - timedelta(days=1 + int(span * rnd.random() ** 1.8))
        termination: date | None = None
        roll = rnd.random()
        if roll < 0.03:  # leaves during the month: prorated too
            low = max(activation, month) + timedelta(days=1)
            if low <= month_end:
                termination = low + timedelta(days=rnd.randrange((month_end - low).days + 1))
        elif roll < 0.05 and (month - activation).days > 60:  # churned before the month
            termination = activation + timedelta(days=rnd.randrange(30, (month - activation).days))
        base.append(Subscriber(msisdn=msisdn, name=name, address=_address(rnd, city, fake),
                               plan_id=_weighted(rnd, plan_weights), activation_date=activation,
                               termination_date=termination))
    return base


# --------------------------------------------------------------------------- CDRs


@dataclass(frozen=True)
class Label:
    """One injected defect: the 0-based output line and what mediation must make of it."""

    line: int
    defect: str
    expected_reason: str | None

    def to_json(self) -> str:
        return json.dumps({"line": self.line, "defect": self.defect, "expected_reason": self.expected_reason})


class Batch(NamedTuple):
    """Consecutive output lines, the labels of their defects and, when asked for, Kafka keys."""

    lines: list[str]
    labels: list[Label]
    keys: list[bytes | None] | None = None


@dataclass(frozen=True)
class GeneratorOptions:
    """What to generate. Simulated clock when `start` is set, else live (event time = now)."""

    seed: int = DEFAULT_SEED
    count: int | None = DEFAULT_COUNT  # None: endless (live streaming)
    fmt: str = "canonical"
    start: date | None = REFERENCE_MONTH
    days: int | None = None  # None: to the end of the start's month
    rate: float | None = None  # lines per second; None: as fast as possible
    defects: float = DEFAULT_DEFECT_RATE

    def __post_init__(self) -> None:
        if self.fmt not in FORMATS:
            raise UsageError(f"unknown format {self.fmt!r} (choose from {', '.join(FORMATS)})")
        if self.count is not None and self.count < 0:
            raise UsageError("--count must not be negative")
        if not 0.0 <= self.defects <= 1.0:
            raise UsageError("--defects is a rate between 0 and 1 (e.g. 0.03)")
        if self.rate is not None and self.rate <= 0:
            raise UsageError("--rate must be positive")
        if self.days is not None and self.days < 1:
            raise UsageError("--days must be at least 1")
        if self.start is None and self.rate is None:
            raise UsageError("the live clock needs --rate (or give --start for a simulated period)")
        if self.start is not None and self.count is None:
            raise UsageError("a simulated period needs --count")

    @property
    def live(self) -> bool:
        return self.start is None

    @property
    def period_days(self) -> int:
        if self.start is None:
            return 0
        if self.days is not None:
            return self.days
        return calendar.monthrange(self.start.year, self.start.month)[1] - self.start.day + 1


@dataclass
class _Slot:
    """One UTC hour: event time prefixes in both spellings, and the local calendar facts."""

    prefixes: tuple[str, str]  # ("2026-10-01T12:", "2026-10-01T13:"): UTC, local
    suffixes: tuple[str, str]  # ("Z", "+01:00")
    day: int  # local date ordinal
    weekday: int
    hour: int
    count: int = 0


@dataclass
class _Day:
    """The weighted table of subscriber parts for one local date: only active subscribers,
    travellers abroad with their roaming cells."""

    parts: list[str]
    tails: list[str]
    owners: list[int]  # whose line each slot makes (stand-ins change it)


@dataclass
class _Pools:
    """Everything drawn once per run: the tables that the per-line code only indexes."""

    msisdn: list[str]
    active: list[tuple[int, int]]  # (first, last + 1) local date ordinals
    ranges: list[tuple[int, int]]  # each subscriber's slots in the weighted table
    owner: list[int]  # subscriber of each slot
    parts: list[str]  # per slot: canonical '"msisdn":..,"cell_id":..,"technology":..'; legacy: the msisdn
    tails: list[str]  # per slot, legacy only: ', "cell_id": .., "technology": ..}'
    tech: list[tuple[str, str]]  # best and second technology of each subscriber's handset
    traveller: dict[int, tuple[str, int, int]]  # subscriber -> (country, block phase, block offset)
    roam_cells: dict[str, tuple[str, ...]]
    heads: list[str]  # MIDS entries: canonical '"record_type":"voice",'; legacy the type
    id_fields: list[str]  # legacy: the subscriber's field name for each MIDS entry
    keys: list[bytes]  # each subscriber's Kafka key
    mids: list[str]  # usage and other party of one event
    voice_mids: list[int]  # indices of voice entries (usage defects on an sms become a call)
    unknown: list[str]  # valid numbers of nobody in the base
    volatile: list[int]  # subscribers not active on every day the run may cover
    steady_slots: list[int]  # slots of subscribers active all along and never abroad


_MMSS = [f"{m:02d}:{s:02d}" for m in range(60) for s in range(60)]
_TABLE_BITS = 14
# Table sizes: small enough to stay in the CPU caches, which decides the speed of the per-line maps.
_MIDS = 1 << 13  # events in the pool; a power of two, indexed by masking 16-bit draws
_SLOTS_PER_SUBSCRIBER = 2  # on average, in the weighted table of subscriber parts
_WORD = array("I").itemsize
_UTC_FLAGS = bytes(0 if b < round(UTC_SHARE * 256) else 1 for b in range(256))


def _lognormal_table(median: float, sigma: float) -> list[float]:
    """Quantiles of a log-normal distribution: indexing with a uniform integer samples it."""
    normal = statistics.NormalDist()
    size = 1 << _TABLE_BITS
    return [median * math.exp(sigma * normal.inv_cdf((i + 0.5) / size)) for i in range(size)]


def _home_city(address: str, msisdn: str) -> int:
    tail = address.rsplit(",", 1)[-1].strip()
    for i, city in enumerate(CITIES):
        if tail.endswith(city[0]):
            return i
    return int(hashlib.sha256(msisdn.encode()).hexdigest(), 16) % len(CITIES)


class CdrGenerator:
    """Raw CDR lines with labelled defects, deterministic for a seed in simulated mode.

    A line is one f-string of pieces picked from tables: the event time from the hour's two
    prefixes and a second of the hour; the subscriber part (number, cell, technology) from a
    table in which each subscriber holds slots in proportion to their activity; the service,
    other party and usage from a pool of events. The random indices come in bulk from
    `Random.randbytes` and are turned into pieces by `map` at C speed.
    """

    def __init__(self, catalog: Catalog, subscribers: Sequence[Subscriber], options: GeneratorOptions,
                 clock: Any = time) -> None:
        if not subscribers:
            raise UsageError("the subscriber base is empty")
        self.catalog = catalog
        self.subscribers = list(subscribers)
        self.options = options
        self.clock = clock
        self.legacy = options.fmt == "legacy"
        self.tz = ZoneInfo(catalog.timezone)
        self.rnd = random.Random(f"cdrs/{options.seed}/{options.fmt}")
        self.tag = self._run_tag()
        self.pools = self._draw_pools()
        self._days: dict[int, _Day] = {}
        self._roaming: dict[int, list[str]] = {}
        self._stand_in: dict[int, tuple[list[str], list[str], list[int]]] = {}
        self.emitted = 0
        self._next_defect = self._defect_gap()
        # Recent clean lines: what exact re-sends and duplicate ids copy.
        self._recent: deque[str] = deque(maxlen=256)
        # Clean legacy lines of the current hour (simulated) or second (live), kept distinct.
        self._twin_scope: tuple[str, int | None] | None = None
        self._twin_seen: set[str] = set()

    # ---- set-up

    def _run_tag(self) -> str:
        o = self.options
        if o.live:
            basis = f"live/{o.seed}/{o.fmt}/{self.clock.time_ns()}"
        else:
            basis = f"sim/{o.seed}/{o.fmt}/{o.start}/{o.period_days}/{o.count}/{o.defects}/{len(self.subscribers)}"
        return hashlib.sha256(basis.encode()).hexdigest()[:8]

    def _draw_pools(self) -> _Pools:
        rnd, subs = self.rnd, self.subscribers
        stems = [(c[3], max(2, round(c[2] * CELLS_PER_SHARE))) for c in CITIES]
        city_cells = [tuple(f"{stem}_{i:03d}" for i in range(1, n + 1)) for stem, n in stems]
        all_cells = tuple(c for cells in city_cells for c in cells)
        countries, country_weights = self._roaming_countries()
        never = date.max.toordinal()
        msisdn = [s.msisdn for s in subs]
        active = [(s.activation_date.toordinal(), s.termination_date.toordinal() if s.termination_date else never)
                  for s in subs]
        weight = [min(rnd.paretovariate(1.6), 60.0) * PLAN_ACTIVITY.get(s.plan_id, 1.0) for s in subs]
        target = max(1 << 13, _SLOTS_PER_SUBSCRIBER * len(subs)) / sum(weight)
        ranges: list[tuple[int, int]] = []
        owner: list[int] = []
        parts: list[str] = []
        tails: list[str] = []
        tech: list[tuple[str, str]] = []
        traveller: dict[int, tuple[str, int, int]] = {}
        for i, s in enumerate(subs):
            home = city_cells[_home_city(s.address, s.msisdn)]
            favourite = [rnd.choice(home) for _ in range(3)]
            best = rnd.choices(range(4), weights=DEVICE_MIX)[0]
            tech.append((TECHNOLOGIES[best], TECHNOLOGIES[max(best - 1, 0)]))
            if countries and rnd.random() < TRAVELLER_SHARE:
                country = rnd.choices(countries, weights=country_weights)[0]
                traveller[i] = (country, rnd.randrange(4), rnd.randrange(TRIP_BLOCK_DAYS))
            slots = max(1, round(weight[i] * target))
            ranges.append((len(parts), len(parts) + slots))
            owner.extend([i] * slots)
            for _ in range(slots):  # each slot: one place and radio the subscriber uses
                r = rnd.random()
                cell = favourite[int(r * 3.75)] if r < 0.80 else rnd.choice(home if r < 0.95 else all_cells)
                radio = tech[i][0] if rnd.random() < 0.8 else tech[i][1]
                if self.legacy:
                    parts.append(msisdn[i])
                    tails.append(self._legacy_tail(cell, radio))
                else:
                    parts.append(f'"msisdn":"{msisdn[i]}","cell_id":"{cell}","technology":"{radio}"')
        heads, id_fields, mids, voice_mids = self._events(self._other_parties(msisdn))
        o = self.options
        today = datetime.fromtimestamp(self.clock.time(), self.tz).date()
        first = (o.start or today - timedelta(days=1)).toordinal()
        last = first + (o.period_days if o.start else 3)
        volatile = [i for i, (a, b) in enumerate(active) if a > first or b <= last]
        unsteady = set(volatile) | set(traveller)
        return _Pools(msisdn=msisdn, active=active, ranges=ranges, owner=owner, parts=parts, tails=tails,
                      tech=tech, traveller=traveller,
                      roam_cells={c: tuple(f"{c}_ROAM_{n:02d}" for n in range(1, 21)) for c in countries},
                      heads=heads, id_fields=id_fields, mids=mids, voice_mids=voice_mids,
                      keys=[m.encode() for m in msisdn],
                      unknown=self._unknown_numbers(set(msisdn)), volatile=volatile,
                      steady_slots=[j for j, i in enumerate(owner) if i not in unsteady])

    def _legacy_tail(self, cell: str, radio: str) -> str:
        r = self.rnd.random()  # like the seed data, a few records lack one of the optional fields
        if r < 0.002:
            return f', "technology": "{radio}"}}'
        if r >= 0.9975:
            return f', "cell_id": "{cell}"}}'
        return f', "cell_id": "{cell}", "technology": "{radio}"}}'

    def _events(self, numbers: list[str]) -> tuple[list[str], list[str], list[str], list[int]]:
        """The event pool: service, other party, direction and usage, in the exact service mix."""
        rnd = self.rnd
        voice_sec = [min(max(1, round(x)), 4 * 3600) for x in _lognormal_table(VOICE_MEDIAN_SEC, VOICE_SIGMA)]
        down = [max(1024, round(x)) for x in _lognormal_table(DATA_DOWN_MEDIAN_BYTES, DATA_SIGMA)]
        up_ratio = _lognormal_table(DATA_UP_RATIO_MEDIAN, DATA_UP_RATIO_SIGMA)
        session = [min(max(1, round(x)), 6 * 3600) for x in _lognormal_table(SESSION_MEDIAN_SEC, SESSION_SIGMA)]
        n_voice = round(_MIDS * SERVICE_MIX["voice"])
        n_sms = round(_MIDS * SERVICE_MIX["sms"])
        services = ["voice"] * n_voice + ["sms"] * n_sms + ["data"] * (_MIDS - n_voice - n_sms)
        rnd.shuffle(services)
        heads, keys, mids = [], [], []
        table = 1 << _TABLE_BITS
        for service in services:
            other = numbers[int(rnd.random() * len(numbers))]
            direction = "MO" if rnd.random() < MO_SHARE else "MT"
            if service == "data":
                d = down[int(rnd.random() * table)]
                u = max(1, int(d * up_ratio[int(rnd.random() * table)]))
                if self.legacy:
                    mb = repr(max(0.01, round(d / MIB, 2)))
                    mid = f', "data_volume_mb": {mb}, "session_duration_sec": {session[int(rnd.random() * table)]}'
                else:
                    mid = f',"bytes_up":{u},"bytes_down":{d}'
            elif self.legacy:  # the legacy subscriber is always the caller / sender
                key = "callee_id" if service == "voice" else "receiver_id"
                mid = f', "{key}": "{other}"'
            else:
                mid = f',"other_party":"{other}","direction":"{direction}"'
            if service == "voice":
                mid += (f', "duration_sec": {voice_sec[int(rnd.random() * table)]}' if self.legacy
                        else f',"duration_sec":{voice_sec[int(rnd.random() * table)]}')
            heads.append(service if self.legacy else f'"record_type":"{service}",')
            keys.append({"voice": "caller_id", "sms": "sender_id", "data": "user_id"}[service])
            mids.append(mid)
        return heads, keys, mids, [i for i, s in enumerate(services) if s == "voice"]

    def _roaming_countries(self) -> tuple[list[str], list[float]]:
        home = self.catalog.home_country
        explicit = [c for codes in self.catalog.roaming_zones.values() for c in codes if c not in ("*", home)]
        world = any("*" in codes for codes in self.catalog.roaming_zones.values())
        extra = [c for c in WORLD_COUNTRIES if world and c not in explicit and c != home]
        countries = explicit + extra
        return countries, [float(COUNTRY_WEIGHTS.get(c, 1)) for c in countries]

    def _other_parties(self, base: list[str], size: int = 20_000) -> list[str]:
        """A pool of destination numbers that falls in the catalog's zones with ZONE_WEIGHTS."""
        rnd, cc = self.rnd, self.catalog.home_country_code
        zones = self.catalog.zones
        named = [p for prefixes in zones.values() for p in prefixes if p]
        pools: list[tuple[float, list[str]]] = []
        for zone, prefixes in zones.items():
            heads = [p for p in prefixes if p]
            if "" in prefixes:  # the catch-all: countries that no other prefix claims
                heads += [c for c in WORLD_CODES if not any(c.startswith(p) or p.startswith(c) for p in named)]
            if heads:
                pools.append((ZONE_WEIGHTS.get(zone, OTHER_ZONE_WEIGHT), heads))
        if not pools:
            raise UsageError("the catalog has no zone prefixes to call")
        total = sum(w for w, _ in pools)
        numbers: list[str] = []
        for zone_weight, heads in pools:
            for _ in range(round(size * zone_weight / total)):
                head = rnd.choice(heads)
                length = len(cc) + 9 if head.startswith(cc) else max(11, len(head) + 9)
                numbers.append(head + str(rnd.randrange(10 ** (length - len(head)))).zfill(length - len(head)))
        mobile = mobile_prefixes(self.catalog)
        for i, number in enumerate(numbers):
            if number.startswith(mobile) and rnd.random() < ON_NET_SHARE:
                numbers[i] = rnd.choice(base)
        rnd.shuffle(numbers)
        return numbers

    def _unknown_numbers(self, base: set[str], size: int = 500) -> list[str]:
        prefixes, length = mobile_prefixes(self.catalog), national_length(self.catalog)
        out: list[str] = []
        while len(out) < size:
            prefix = self.rnd.choice(prefixes)
            n = prefix + str(self.rnd.randrange(10 ** (length - len(prefix)))).zfill(length - len(prefix))
            if n not in base:
                out.append(n)
        return out

    def _inactive(self, ordinal: int) -> list[int]:
        """Subscribers who are not active on this local date."""
        p = self.pools
        return [i for i in p.volatile if not p.active[i][0] <= ordinal < p.active[i][1]]

    def _day(self, ordinal: int) -> _Day | None:
        """The day's table (None when nobody is active): the slots of inactive subscribers show
        steady ones instead, travellers on a trip show roaming cells (canonical only)."""
        if ordinal in self._days:
            return self._days[ordinal]
        p = self.pools
        inactive = self._inactive(ordinal)
        if len(inactive) == len(p.msisdn):
            return None
        away = set(inactive)
        abroad = [] if self.legacy else [
            i for i, (_, phase, offset) in p.traveller.items()
            if i not in away and ((ordinal + offset) // TRIP_BLOCK_DAYS) % 4 == phase]
        parts, tails, owners = p.parts, p.tails, p.owner
        if abroad or inactive:
            parts, tails, owners = list(parts), list(tails), list(owners)
        for i in abroad:
            a, b = p.ranges[i]
            parts[a:b] = self._roaming_parts(i)
        for i in inactive:
            a, b = p.ranges[i]
            parts[a:b], tails_in, owners[a:b] = self._stand_ins(i, ordinal, away)
            if tails:
                tails[a:b] = tails_in
        day = _Day(parts, tails, owners)
        if len(self._days) >= 2:
            self._days.clear()
        self._days[ordinal] = day
        return day

    def _roaming_parts(self, i: int) -> list[str]:
        parts = self._roaming.get(i)
        if parts is None:
            p, rnd = self.pools, self.rnd
            country = p.traveller[i][0]
            cells, best = p.roam_cells[country], p.tech[i][0]
            a, b = p.ranges[i]
            parts = [f'"msisdn":"{p.msisdn[i]}","cell_id":"{cells[int(rnd.random() * len(cells))]}",'
                     f'"technology":"{best}","visited_country":"{country}"' for _ in range(a, b)]
            self._roaming[i] = parts
        return parts

    def _stand_ins(self, i: int, ordinal: int, away: set[int]) -> tuple[list[str], list[str], list[int]]:
        """Parts of steady subscribers (active all along, never abroad) for an inactive one's slots."""
        p, rnd = self.pools, self.rnd
        cached = self._stand_in.get(i)
        if cached is not None:
            return cached
        pool = p.steady_slots
        if not pool:  # a small or unusual base: anyone active today and at home will do
            pool = [j for j, owner in enumerate(p.owner) if owner not in away and owner not in p.traveller]
        if not pool:
            pool = [j for j, owner in enumerate(p.owner) if owner not in away]
        a, b = p.ranges[i]
        picks = [pool[int(rnd.random() * len(pool))] for _ in range(a, b)]
        found = ([p.parts[j] for j in picks], [p.tails[j] for j in picks] if p.tails else [],
                 [p.owner[j] for j in picks])
        if p.steady_slots:
            self._stand_in[i] = found
        return found

    def _slot(self, utc_hour: datetime) -> _Slot:
        local = utc_hour.astimezone(self.tz)
        offset = local.utcoffset() or timedelta(0)
        minutes = int(offset.total_seconds()) // 60
        sign = "+" if minutes >= 0 else "-"
        suffix = f"{sign}{abs(minutes) // 60:02d}:{abs(minutes) % 60:02d}"
        return _Slot((utc_hour.strftime("%Y-%m-%dT%H:"), local.strftime("%Y-%m-%dT%H:")), ("Z", suffix),
                     local.date().toordinal(), local.weekday(), local.hour)

    def _simulated_slots(self) -> list[_Slot]:
        o = self.options
        assert o.start is not None
        begin = datetime(o.start.year, o.start.month, o.start.day, tzinfo=self.tz).astimezone(UTC)
        end_day = o.start + timedelta(days=o.period_days)
        end = datetime(end_day.year, end_day.month, end_day.day, tzinfo=self.tz).astimezone(UTC)
        slots, hour = [], begin
        while hour < end:
            slots.append(self._slot(hour))
            hour += timedelta(hours=1)
        everyone = len(self.pools.msisdn)
        someone = {day: len(self._inactive(day)) < everyone for day in {s.day for s in slots}}
        weights = [DIURNAL[s.hour] * WEEKLY[s.weekday] * someone[s.day] for s in slots]
        total = sum(weights)
        if total == 0:
            raise UsageError(f"no subscriber is active between {o.start} and {end_day - timedelta(days=1)}")
        count = o.count or 0
        done, cum = 0, 0.0
        for slot, w in zip(slots, weights, strict=True):
            cum += w
            upto = round(count * cum / total)
            slot.count, done = upto - done, upto
        return slots

    # ---- batches of lines

    def batches(self, keyed: bool = False) -> Iterator[Batch]:
        """Lines (without newline) and the labels of their defects, a batch at a time; with
        `keyed`, also each line's Kafka key (what `producer.subscriber_key` reads from it)."""
        o = self.options
        if o.live:
            yield from self._live_batches(keyed)
            return
        started = self.clock.monotonic()
        for slot in self._simulated_slots():
            if slot.count:
                seconds = sorted(map(mod, array("I", self.rnd.randbytes(_WORD * slot.count)), repeat(3600)))
                batch = self._batch(slot, seconds, keyed)
                if o.rate is None:
                    yield batch
                else:
                    yield from self._paced(batch, started)

    def _paced(self, batch: Batch, started: float) -> Iterator[Batch]:
        rate = self.options.rate
        assert rate is not None
        step = max(1, int(rate / 20))
        first = self.emitted - len(batch.lines)
        for i in range(0, len(batch.lines), step):
            due = started + (first + i) / rate
            wait = due - self.clock.monotonic()
            if wait > 0:
                self.clock.sleep(wait)
            lo = first + i
            yield Batch(batch.lines[i:i + step], [lb for lb in batch.labels if lo <= lb.line < lo + step],
                        None if batch.keys is None else batch.keys[i:i + step])

    def _live_batches(self, keyed: bool) -> Iterator[Batch]:
        rate = self.options.rate
        assert rate is not None
        count = self.options.count
        started = self.clock.monotonic()
        slot: _Slot | None = None
        while count is None or self.emitted < count:
            due = int((self.clock.monotonic() - started) * rate) + 1
            if count is not None:
                due = min(due, count)
            k = due - self.emitted
            if k <= 0:
                self.clock.sleep(min(0.05, 1.0 / rate))
                continue
            now = int(self.clock.time())
            hour = datetime.fromtimestamp(now - now % 3600, UTC)
            if slot is None or slot.prefixes[0] != hour.strftime("%Y-%m-%dT%H:"):
                slot = self._slot(hour)
            yield self._batch(slot, [now % 3600] * k, keyed, now=now)

    def _batch(self, slot: _Slot, seconds: list[int], keyed: bool, now: int | None = None) -> Batch:
        day = self._day(slot.day)
        if day is None:
            raise UsageError(f"no subscriber is active on {date.fromordinal(slot.day)}")
        k, p, rnd = len(seconds), self.pools, self.rnd
        who = list(map(mod, array("I", rnd.randbytes(_WORD * k)), repeat(len(day.parts))))
        what = list(map(and_, array("H", rnd.randbytes(2 * k)), repeat(_MIDS - 1)))
        mmss = list(map(_MMSS.__getitem__, seconds))
        parts = map(day.parts.__getitem__, who)
        heads, mids = map(p.heads.__getitem__, what), map(p.mids.__getitem__, what)
        if self.legacy:
            stamp = slot.prefixes[0]
            lines = [f'{{"record_type": "{head}", "timestamp": "{stamp}{ms}Z", "{key}": "{part}"{mid}{tail}'
                     for head, ms, key, part, mid, tail in zip(heads, mmss, map(p.id_fields.__getitem__, what), parts,
                                                               mids, map(day.tails.__getitem__, who), strict=True)]
        else:
            tag, spelling = self.tag, rnd.randbytes(k).translate(_UTC_FLAGS)
            lines = [f'{{"cdr_id":"{tag}-{n:09d}",{head}"event_time":"{pre}{ms}{suf}",{part}{mid}}}'
                     for n, head, pre, ms, suf, part, mid in zip(
                         range(self.emitted, self.emitted + k), heads, map(slot.prefixes.__getitem__, spelling),
                         mmss, map(slot.suffixes.__getitem__, spelling), parts, mids, strict=True)]
        if self.legacy:
            self._separate_legacy_twins(lines, slot, mmss, who, day, now)
        keys: list[bytes | None] | None = (list(map(p.keys.__getitem__, map(day.owners.__getitem__, who)))
                                           if keyed else None)
        first = self.emitted
        self.emitted += k
        labels = self._inject(lines, keys, slot, mmss, who, day, first, now)
        return Batch(lines, labels, keys)

    def _line(self, n: int, slot: _Slot, mmss: str, part: int, what: int, day: _Day, utc: bool) -> str:
        """One line the slow way (the same text as `_batch` builds), for the rare line built twice."""
        p = self.pools
        head, mid, subscriber = p.heads[what], p.mids[what], day.parts[part]
        if self.legacy:
            return (f'{{"record_type": "{head}", "timestamp": "{slot.prefixes[0]}{mmss}Z", '
                    f'"{p.id_fields[what]}": "{subscriber}"{mid}{day.tails[part]}')
        i = 0 if utc else 1
        return (f'{{"cdr_id":"{self.tag}-{n:09d}",{head}"event_time":"{slot.prefixes[i]}{mmss}{slot.suffixes[i]}",'
                f'{subscriber}{mid}}}')

    def _separate_legacy_twins(self, lines: list[str], slot: _Slot, mmss: list[str], who: list[int], day: _Day,
                               now: int | None) -> None:
        """Legacy ids derive from content: two identical clean lines would collapse as duplicates."""
        scope = (slot.prefixes[0], now)
        if scope != self._twin_scope:
            self._twin_scope, self._twin_seen = scope, set()
        seen = self._twin_seen
        fresh = set(lines)
        if len(fresh) == len(lines) and fresh.isdisjoint(seen):
            seen |= fresh
            return
        for j, line in enumerate(lines):
            while line in seen:
                line = self._line(0, slot, mmss[j], who[j], int(self.rnd.random() * _MIDS), day, True)
            lines[j] = line
            seen.add(line)

    # ---- defects

    def _defect_gap(self) -> int:
        """Clean lines before the next defect: geometric with the defect rate."""
        rate = self.options.defects
        if rate <= 0:
            return 1 << 62
        if rate >= 1:
            return 0
        return int(math.log(1.0 - self.rnd.random()) / math.log(1.0 - rate))

    def _inject(self, lines: list[str], keys: list[bytes | None] | None, slot: _Slot, mmss: list[str],
                who: list[int], day: _Day, first: int, now: int | None) -> list[Label]:
        end = first + len(lines)
        if self._next_defect >= end:
            self._recent.extend(lines[-self._recent.maxlen:] if self._recent.maxlen else lines)
            return []
        kinds = list(DEFECTS)
        weights = list(accumulate(w for w, _ in DEFECTS.values()))
        labels: list[Label] = []
        previous = 0
        while self._next_defect < end:
            n = self._next_defect
            j = n - first
            self._recent.extend(lines[previous:j])
            previous = j + 1
            kind = self.rnd.choices(kinds, cum_weights=weights)[0]
            if kind in ("exact_resend", "duplicate_id") and not self._recent:
                kind = "malformed_json"
            lines[j] = self._defect(kind, lines[j], slot, mmss[j], who[j], day, n, now)
            if keys is not None:
                from .producer import subscriber_key

                keys[j] = subscriber_key(lines[j].encode())
            labels.append(Label(n, kind, DEFECTS[kind][1]))
            self._next_defect = n + 1 + self._defect_gap()
        self._recent.extend(lines[previous:])
        return labels

    def _defect(self, kind: str, line: str, slot: _Slot, mmss: str, part: int, day: _Day, n: int,
                now: int | None) -> str:
        rnd = self.rnd
        if kind == "exact_resend":
            return rnd.choice(self._recent)
        if kind == "duplicate_id":
            return self._reserialized(rnd.choice(self._recent))
        if kind == "malformed_json":
            if rnd.random() < 0.8:
                return line[: rnd.randrange(1, len(line) - 1)]
            return "|".join(str(v) for v in json.loads(line).values())
        record: dict[str, Any] = json.loads(line)
        if kind in ("non_positive_usage", "over_long_usage", "numbers_as_strings") and record["record_type"] == "sms":
            what = rnd.choice(self.pools.voice_mids)
            record = json.loads(self._line(n, slot, mmss, part, what, day, rnd.random() < UTC_SHARE))
        getattr(self, f"_{kind}_{'legacy' if self.legacy else 'canonical'}")(record, now)
        return json.dumps(record) if self.legacy else json.dumps(record, separators=(",", ":"))

    def _reserialized(self, line: str) -> str:
        """The same event sent again: other key order and, canonical, the other time spelling."""
        record = json.loads(line)
        if "event_time" in record:
            instant = datetime.fromisoformat(record["event_time"])
            if record["event_time"].endswith("Z"):
                record["event_time"] = instant.astimezone(self.tz).isoformat()
            else:
                record["event_time"] = instant.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
            items = sorted(record.items())
            return json.dumps(dict(items), separators=(",", ":"))
        items = list(record.items())
        while list(dict(items)) == list(record):
            self.rnd.shuffle(items)
        return json.dumps(dict(items))

    def _missing_field_canonical(self, record: dict[str, Any], now: int | None) -> None:
        required = {"voice": ("cdr_id", "event_time", "msisdn", "direction", "other_party", "duration_sec",
                              "record_type"),
                    "sms": ("cdr_id", "event_time", "msisdn", "direction", "other_party", "record_type"),
                    "data": ("cdr_id", "event_time", "msisdn", "bytes_up", "bytes_down", "record_type")}
        name = self.rnd.choice(required[record["record_type"]])
        if self.rnd.random() < 0.6:
            del record[name]
        else:
            record[name] = None

    def _missing_field_legacy(self, record: dict[str, Any], now: int | None) -> None:
        # Only the shapes the seed sample shows: absent other party / session, null usage.
        kind = record["record_type"]
        if kind == "voice":
            if self.rnd.random() < 0.5:
                del record["callee_id"]
            else:
                record["duration_sec"] = None
        elif kind == "sms":
            del record["receiver_id"]
        elif self.rnd.random() < 0.5:
            del record["session_duration_sec"]
        else:
            record["data_volume_mb"] = None

    def _invalid_msisdn_canonical(self, record: dict[str, Any], now: int | None) -> None:
        field_name = "other_party" if "other_party" in record and self.rnd.random() < 0.2 else "msisdn"
        record[field_name] = self.rnd.choice(INVALID_NUMBERS)

    def _invalid_msisdn_legacy(self, record: dict[str, Any], now: int | None) -> None:
        key = {"voice": "caller_id", "sms": "sender_id", "data": "user_id"}[record["record_type"]]
        record[key] = "invalid_phone"

    def _non_positive_usage_canonical(self, record: dict[str, Any], now: int | None) -> None:
        if record["record_type"] == "voice":
            record["duration_sec"] = -self.rnd.randrange(0, 600)
        else:
            record["bytes_up"] = -self.rnd.randrange(0, 5000)
            record["bytes_down"] = -self.rnd.randrange(0, 50000) if self.rnd.random() < 0.5 else 0

    def _non_positive_usage_legacy(self, record: dict[str, Any], now: int | None) -> None:
        if record["record_type"] == "voice":
            record["duration_sec"] = -self.rnd.randrange(0, 600)
        else:
            record["data_volume_mb"] = -round(self.rnd.uniform(0.0, 500.0), 2)

    def _over_long_usage_canonical(self, record: dict[str, Any], now: int | None) -> None:
        if record["record_type"] == "voice":
            record["duration_sec"] = self.rnd.randrange(MAX_VOICE_SEC + 1, 5 * MAX_VOICE_SEC)
        else:
            record["bytes_down"] = self.rnd.randrange(MAX_DATA_BYTES + 1, 4 * MAX_DATA_BYTES)

    def _over_long_usage_legacy(self, record: dict[str, Any], now: int | None) -> None:
        if record["record_type"] == "voice":
            record["duration_sec"] = self.rnd.randrange(MAX_VOICE_SEC + 1, 5 * MAX_VOICE_SEC)
        else:
            record["data_volume_mb"] = round(self.rnd.uniform(102_400.01, 400_000.0), 2)

    def _future(self, stamp: str, now: int | None) -> str:
        if now is None:  # simulated: far enough ahead to be future whenever it is processed
            year_later = FAR_FUTURE_YEAR + stamp[4:]
            return year_later.replace("-02-29T", "-02-28T")
        ahead = now + self.rnd.randrange(2 * 3600, 72 * 3600)
        return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(ahead))

    def _future_timestamp_canonical(self, record: dict[str, Any], now: int | None) -> None:
        record["event_time"] = self._future(record["event_time"], now)

    def _future_timestamp_legacy(self, record: dict[str, Any], now: int | None) -> None:
        record["timestamp"] = self._future(record["timestamp"], now)

    def _unknown_subscriber_canonical(self, record: dict[str, Any], now: int | None) -> None:
        record["msisdn"] = self.rnd.choice(self.pools.unknown)

    def _unknown_subscriber_legacy(self, record: dict[str, Any], now: int | None) -> None:
        key = {"voice": "caller_id", "sms": "sender_id", "data": "user_id"}[record["record_type"]]
        record[key] = self.rnd.choice(self.pools.unknown)

    def _numbers_as_strings_canonical(self, record: dict[str, Any], now: int | None) -> None:
        for key in ("duration_sec", "bytes_up", "bytes_down"):
            if key in record:
                record[key] = str(record[key])

    def _numbers_as_strings_legacy(self, record: dict[str, Any], now: int | None) -> None:
        key = "duration_sec" if record["record_type"] == "voice" else "data_volume_mb"
        record[key] = str(record[key])


@dataclass
class WriteStats:
    lines: int = 0
    defects: int = 0
    seconds: float = 0.0

    @property
    def rate(self) -> float:
        return self.lines / self.seconds if self.seconds > 0 else 0.0


def write_cdrs(generator: CdrGenerator, out: IO[str], labels: IO[str] | None = None,
               progress: Callable[[WriteStats], None] | None = None, every_s: float = 5.0) -> WriteStats:
    """Write every batch as newline-terminated lines (and labels); `progress` every `every_s`."""
    stats = WriteStats()
    started = last = time.monotonic()
    for lines, batch_labels, _ in generator.batches():
        if lines:
            out.write("\n".join(lines))
            out.write("\n")
        if labels is not None and batch_labels:
            labels.write("".join(f"{label.to_json()}\n" for label in batch_labels))
        stats.lines += len(lines)
        stats.defects += len(batch_labels)
        if progress is not None and time.monotonic() - last >= every_s:
            last = time.monotonic()
            stats.seconds = last - started
            progress(stats)
    stats.seconds = time.monotonic() - started
    return stats


def default_labels_path(out: str) -> str:
    """`cdrs.jsonl` -> `cdrs.labels.jsonl`."""
    stem = out[: -len(".jsonl")] if out.endswith(".jsonl") else out
    return f"{stem}.labels.jsonl"


__all__ = ["DEFAULT_SEED", "DEFAULT_SUBSCRIBERS", "DEFECTS", "REFERENCE_MONTH", "Batch", "CdrGenerator",
           "GeneratorOptions", "Label", "WriteStats", "default_labels_path", "generate_subscribers",
           "write_cdrs"]
