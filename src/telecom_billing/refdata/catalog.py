"""The tariff catalog (DESIGN.md section 5): YAML validated once into frozen, typed objects.

`load_catalog` refuses a catalog that could rate a CDR ambiguously or not at all, with one line
naming the file and the entry (docs/RULES.md section 17). The objects are plain data: the rules
that use them live in mediation and rating.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import yaml

from ..contracts.limits import MAX_UNITS, MONEY_SCALE
from ..contracts.records import SERVICES
from ..errors import TelecomError

CATALOG_FILE = "catalog.yaml"
DAY_NAMES: tuple[str, ...] = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
ANY = "*"
HOME_ZONE = "home"
INCOMING_ZONE = "incoming"
MINUTES_PER_DAY = 24 * 60

_MONEY_PLACES = rf"(\.[0-9]{{1,{MONEY_SCALE}}})?"
_MONEY = re.compile(r"[0-9]{1,9}" + _MONEY_PLACES)
_RATE_FRACTION = re.compile(r"[0-9]" + _MONEY_PLACES)
_HHMM = re.compile(r"([0-9]{2}):([0-9]{2})")
_DIGITS = re.compile(r"[0-9]*")
_COUNTRY = re.compile(r"[A-Z]{2}")
_COUNTRY_CODE = re.compile(r"[1-9][0-9]{0,2}")
_PLAN_ID = re.compile(r"[A-Za-z0-9_.-]+")

_TOP_KEYS = (
    "catalog_version",
    "currency",
    "timezone",
    "home_country_code",
    "home_country",
    "tax_rate",
    "rounding_decimals",
    "time_bands",
    "zones",
    "roaming_zones",
    "plans",
)
_OPTIONAL_TOP_KEYS = ("grace_days", "roaming_data_cap")
DEFAULT_GRACE_DAYS = 3  # DESIGN.md section 7a
DEFAULT_ALERTS = (80, 100)  # DESIGN.md section 7d: percentages alerted when a catalog does not say
MAX_ALERT_PERCENT = 1000
_BAND_KEYS = ("name", "days", "start", "end")
_PLAN_KEYS = ("id", "monthly_fee", "rates", "allowances", "thresholds")
_THRESHOLD_KEYS = ("allowance_alerts", "spending_cap")
_CAP_KEYS = ("amount", "alerts")
_RATE_KEYS = ("service", "zone", "band", "price", "per", "increments", "connect_fee")
_ALLOWANCE_KEYS = ("name", "service", "zones", "quantity")


class CatalogError(TelecomError):
    """The catalog file is missing or invalid; the message names the file and the entry."""


@dataclass(frozen=True)
class TimeBand:
    """A band matches local weekday `d` (0 = Monday) and minute `m` when
    `(days is None or d in days) and start_minute <= m < end_minute`."""

    name: str
    days: frozenset[int] | None
    start_minute: int
    end_minute: int


@dataclass(frozen=True)
class Rate:
    service: str
    zone: str
    band: str
    price: Decimal
    per: int
    first_increment: int
    next_increment: int
    connect_fee: Decimal


@dataclass(frozen=True)
class Allowance:
    name: str
    service: str
    zones: tuple[str, ...]
    quantity: int


@dataclass(frozen=True)
class Cap:
    """A spending cap (DESIGN.md 7d): alerts at these percentages of `amount`, in the catalog's currency."""

    amount: Decimal
    alerts: tuple[int, ...] = DEFAULT_ALERTS


@dataclass(frozen=True)
class Plan:
    id: str
    monthly_fee: Decimal
    rates: tuple[Rate, ...]
    allowances: tuple[Allowance, ...]
    # DESIGN.md 7d: the percentages of every allowance that are alerted, and the usage spending cap
    allowance_alerts: tuple[int, ...] = DEFAULT_ALERTS
    spending_cap: Cap | None = None


@dataclass(frozen=True)
class Catalog:
    version: str
    currency: str
    timezone: str
    home_country_code: str
    home_country: str
    tax_rate: Decimal
    rounding_decimals: int
    time_bands: tuple[TimeBand, ...]
    zones: dict[str, tuple[str, ...]]
    roaming_zones: dict[str, tuple[str, ...]]
    plans: dict[str, Plan]
    grace_days: int = DEFAULT_GRACE_DAYS  # days after a period's end until its invoices can be final
    roaming_data_cap: Cap | None = None  # DESIGN.md 7d: data charges in roaming zones, before allowances

    def zone_names(self) -> tuple[str, ...]:
        """Every zone a CDR can be given: prefix zones, roaming zones, `home`, `incoming`."""
        return (*self.zones, *self.roaming_zones, HOME_ZONE, INCOMING_ZONE)


def load_catalog(path_or_dir: str | Path) -> Catalog:
    """Load and validate a catalog file, or `catalog.yaml` inside a directory."""
    path = Path(path_or_dir)
    if path.is_dir():
        path = path / CATALOG_FILE
    if not path.is_file():
        raise CatalogError(f"{path}: catalog file not found")
    return _Parser(str(path)).catalog(read_yaml(path, CatalogError, "the catalog"))


def read_yaml(path: Path, error: type[TelecomError], what: str) -> Any:
    """The YAML document in `path`; `error` with one line (the file, and the line when YAML knows
    it) when the file cannot be read or parsed."""
    try:
        return yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError) as exc:
        raise error(f"{path}: cannot read {what}: {exc}") from None
    except yaml.YAMLError as exc:
        raise error(f"{path}: {yaml_problem(exc)}") from None


def yaml_problem(exc: yaml.YAMLError) -> str:
    """A YAML parse error in one line: `line N: problem` (the line when PyYAML knows it)."""
    mark = getattr(exc, "problem_mark", None)
    where = f"line {mark.line + 1}: " if mark is not None else ""
    return where + (getattr(exc, "problem", None) or "not valid YAML")


class _Parser:
    """Turns the YAML document into a Catalog; every error names `file: entry: problem`."""

    def __init__(self, source: str) -> None:
        self.source = source

    def fail(self, where: str, problem: str) -> CatalogError:
        return CatalogError(f"{self.source}: {where}: {problem}")

    # -- generic shapes ---------------------------------------------------------------------

    def mapping(self, value: Any, where: str, keys: tuple[str, ...], required: tuple[str, ...]) -> dict:
        if not isinstance(value, Mapping):
            raise self.fail(where, f"must be a mapping, got {_describe(value)}")
        for key in value:
            if key not in keys:
                raise self.fail(where, f"unknown key {key!r} (expected {', '.join(keys)})")
        for key in required:
            if key not in value:
                raise self.fail(where, f"missing key {key!r}")
        return dict(value)

    def sequence(self, value: Any, where: str) -> list:
        if not isinstance(value, list):
            raise self.fail(where, f"must be a list, got {_describe(value)}")
        return value

    def name(self, value: Any, where: str) -> str:
        if not isinstance(value, str) or not value.strip() or value != value.strip():
            raise self.fail(where, f"must be a non-empty string without surrounding spaces, got {_describe(value)}")
        return value

    def positive_int(self, value: Any, where: str) -> int:
        if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
            raise self.fail(where, f"must be a positive integer, got {_describe(value)}")
        return value

    def unit_count(self, value: Any, where: str) -> int:
        value = self.positive_int(value, where)
        if value > MAX_UNITS:
            raise self.fail(where, f"must be at most {MAX_UNITS}, got {value}")
        return value

    def decimal(self, value: Any, where: str, pattern: re.Pattern[str], example: str) -> Decimal:
        if not isinstance(value, str):
            extra = " (money is never a float)" if isinstance(value, float) else ""
            raise self.fail(where, f'must be a decimal string such as "{example}", got {_describe(value)}{extra}')
        if not pattern.fullmatch(value):
            raise self.fail(where, f'must be a decimal string such as "{example}", got {value!r}')
        return Decimal(value)

    def money(self, value: Any, where: str) -> Decimal:
        return self.decimal(value, where, _MONEY, "0.60")

    # -- the catalog ------------------------------------------------------------------------

    def catalog(self, document: Any) -> Catalog:
        top = self.mapping(document, "top level", (*_TOP_KEYS, *_OPTIONAL_TOP_KEYS), _TOP_KEYS)
        version = self.name(top["catalog_version"], "catalog_version")
        currency = self.name(top["currency"], "currency")
        timezone = self.timezone(top["timezone"])
        home_cc = top["home_country_code"]
        if not isinstance(home_cc, str) or not _COUNTRY_CODE.fullmatch(home_cc):
            raise self.fail(
                "home_country_code", f'must be 1 to 3 digits as a string such as "212", got {_describe(home_cc)}'
            )
        home_country = top["home_country"]
        if not isinstance(home_country, str) or not _COUNTRY.fullmatch(home_country):
            raise self.fail(
                "home_country", f"must be an ISO code of two capital letters, got {_describe(home_country)}"
            )
        tax_rate = self.decimal(top["tax_rate"], "tax_rate", _RATE_FRACTION, "0.20")
        if tax_rate > 1:
            raise self.fail("tax_rate", f"must be between 0 and 1, got {top['tax_rate']!r}")
        decimals = top["rounding_decimals"]
        if isinstance(decimals, bool) or not isinstance(decimals, int) or not 0 <= decimals <= 10:
            raise self.fail("rounding_decimals", f"must be an integer from 0 to 10, got {_describe(decimals)}")
        grace_days = top.get("grace_days", DEFAULT_GRACE_DAYS)
        if isinstance(grace_days, bool) or not isinstance(grace_days, int) or not 0 <= grace_days <= 366:
            raise self.fail("grace_days", f"must be an integer from 0 to 366, got {_describe(grace_days)}")
        bands = self.time_bands(top["time_bands"])
        zones = self.zones(top["zones"])
        roaming = self.roaming_zones(top["roaming_zones"], zones)
        zone_names = (*zones, *roaming, HOME_ZONE, INCOMING_ZONE)
        band_names = tuple(band.name for band in bands)
        plans = self.plans(top["plans"], zone_names, band_names)
        return Catalog(
            version=version,
            currency=currency,
            timezone=timezone,
            home_country_code=home_cc,
            home_country=home_country,
            tax_rate=tax_rate,
            rounding_decimals=decimals,
            time_bands=bands,
            zones=zones,
            roaming_zones=roaming,
            plans=plans,
            grace_days=grace_days,
            roaming_data_cap=self.cap(top["roaming_data_cap"], "roaming_data_cap") if "roaming_data_cap" in top
            else None,
        )

    def timezone(self, value: Any) -> str:
        name = self.name(value, "timezone")
        try:
            ZoneInfo(name)
        except (ZoneInfoNotFoundError, ValueError):
            raise self.fail("timezone", f"unknown IANA time zone {name!r}") from None
        return name

    # -- time bands -------------------------------------------------------------------------

    def time_bands(self, value: Any) -> tuple[TimeBand, ...]:
        items = self.sequence(value, "time_bands")
        if not items:
            raise self.fail("time_bands", "must list at least the default band")
        bands: list[TimeBand] = []
        covered = [0] * len(DAY_NAMES)  # per weekday, a bit per minute already taken by an earlier band
        for index, item in enumerate(items):
            where = f"time_bands[{index}]"
            raw = self.mapping(item, where, _BAND_KEYS, ("name",))
            name = self.name(raw["name"], f"{where}.name")
            where = f"time_bands[{name}]"
            if name == ANY:
                raise self.fail(where, f"{ANY!r} is reserved for 'any band' in rates")
            if any(band.name == name for band in bands):
                raise self.fail(where, "duplicate band name")
            days = self.days(raw.get("days"), where) if "days" in raw else None
            start, end = self.band_times(raw, where)
            band = TimeBand(name=name, days=days, start_minute=start, end_minute=end)
            slots = ((1 << end) - 1) ^ ((1 << start) - 1)
            weekdays = range(len(DAY_NAMES)) if days is None else sorted(days)
            if all(covered[day] & slots == slots for day in weekdays):
                raise self.fail(where, "can never match: earlier bands already cover all of its days and times")
            for day in weekdays:
                covered[day] |= slots
            bands.append(band)
        last = bands[-1]
        if last.days is not None or (last.start_minute, last.end_minute) != (0, MINUTES_PER_DAY):
            raise self.fail(
                f"time_bands[{last.name}]",
                "the last band must be the default band (no days, no start/end), e.g. {name: offpeak}",
            )
        return tuple(bands)

    def days(self, value: Any, where: str) -> frozenset[int]:
        items = self.sequence(value, f"{where}.days")
        if not items:
            raise self.fail(f"{where}.days", "must not be empty (omit days for every day)")
        days: set[int] = set()
        for item in items:
            if not isinstance(item, str) or item not in DAY_NAMES:
                raise self.fail(f"{where}.days", f"unknown day {item!r} (expected {', '.join(DAY_NAMES)})")
            day = DAY_NAMES.index(item)
            if day in days:
                raise self.fail(f"{where}.days", f"day {item!r} listed twice")
            days.add(day)
        return frozenset(days)

    def band_times(self, raw: dict, where: str) -> tuple[int, int]:
        if ("start" in raw) != ("end" in raw):
            raise self.fail(where, "give both start and end, or neither for the whole day")
        if "start" not in raw:
            return 0, MINUTES_PER_DAY
        start = self.clock(raw["start"], f"{where}.start", allow_24=False)
        end = self.clock(raw["end"], f"{where}.end", allow_24=True)
        if start >= end:
            raise self.fail(where, f"start {raw['start']} must be before end {raw['end']} (split bands at midnight)")
        return start, end

    def clock(self, value: Any, where: str, allow_24: bool) -> int:
        match = _HHMM.fullmatch(value) if isinstance(value, str) else None
        if match is None:
            raise self.fail(where, f'must be a quoted "HH:MM" string, got {_describe(value)}')
        hours, minutes = int(match.group(1)), int(match.group(2))
        if allow_24 and (hours, minutes) == (24, 0):
            return MINUTES_PER_DAY
        if hours > 23 or minutes > 59:
            limit = '"00:00" to "24:00"' if allow_24 else '"00:00" to "23:59"'
            raise self.fail(where, f"must be between {limit}, got {value!r}")
        return hours * 60 + minutes

    # -- zones ------------------------------------------------------------------------------

    def zone_name(self, value: Any, where: str, taken: Mapping[str, Any]) -> str:
        name = self.name(value, where)
        if name in (ANY, HOME_ZONE, INCOMING_ZONE):
            raise self.fail(where, f"zone name {name!r} is reserved")
        if name in taken:
            raise self.fail(where, f"zone name {name!r} is used twice")
        return name

    def zones(self, value: Any) -> dict[str, tuple[str, ...]]:
        if not isinstance(value, Mapping) or not value:
            raise self.fail("zones", f"must be a non-empty mapping of zone name to prefixes, got {_describe(value)}")
        zones: dict[str, tuple[str, ...]] = {}
        owner: dict[str, str] = {}
        for key, prefixes in value.items():
            name = self.zone_name(key, "zones", zones)
            items = self.sequence(prefixes, f"zones.{name}")
            if not items:
                raise self.fail(f"zones.{name}", "has no prefixes")
            for prefix in items:
                if not isinstance(prefix, str) or not _DIGITS.fullmatch(prefix):
                    raise self.fail(
                        f"zones.{name}", f'prefixes must be quoted digit strings such as "33", got {_describe(prefix)}'
                    )
                if prefix in owner:
                    raise self.fail(f"zones.{name}", f"prefix {prefix!r} is already in zone {owner[prefix]}")
                owner[prefix] = name
            zones[name] = tuple(items)
        return zones

    def roaming_zones(self, value: Any, zones: Mapping[str, Any]) -> dict[str, tuple[str, ...]]:
        if value is None:
            value = {}
        if not isinstance(value, Mapping):
            raise self.fail("roaming_zones", f"must be a mapping of zone name to countries, got {_describe(value)}")
        roaming: dict[str, tuple[str, ...]] = {}
        owner: dict[str, str] = {}
        for key, countries in value.items():
            name = self.zone_name(key, "roaming_zones", {**zones, **roaming})
            items = self.sequence(countries, f"roaming_zones.{name}")
            if not items:
                raise self.fail(f"roaming_zones.{name}", "has no countries")
            for country in items:
                if not isinstance(country, str) or not (country == ANY or _COUNTRY.fullmatch(country)):
                    raise self.fail(
                        f"roaming_zones.{name}",
                        f'countries must be quoted ISO codes such as "FR" or "*", got {_describe(country)}',
                    )
                if country in owner:
                    raise self.fail(f"roaming_zones.{name}", f"country {country!r} is already in zone {owner[country]}")
                owner[country] = name
            roaming[name] = tuple(items)
        return roaming

    # -- plans ------------------------------------------------------------------------------

    def plans(self, value: Any, zone_names: tuple[str, ...], band_names: tuple[str, ...]) -> dict[str, Plan]:
        items = self.sequence(value, "plans")
        if not items:
            raise self.fail("plans", "must list at least one plan")
        plans: dict[str, Plan] = {}
        for index, item in enumerate(items):
            raw = self.mapping(item, f"plans[{index}]", _PLAN_KEYS, ("id", "monthly_fee", "rates"))
            plan_id = raw["id"]
            if not isinstance(plan_id, str) or not _PLAN_ID.fullmatch(plan_id):
                raise self.fail(
                    f"plans[{index}].id", f"must be letters, digits, '_', '.', '-', got {_describe(plan_id)}"
                )
            where = f"plans[{plan_id}]"
            if plan_id in plans:
                raise self.fail(where, "duplicate plan id")
            fee = self.money(raw["monthly_fee"], f"{where}.monthly_fee")
            rate_items = self.sequence(raw["rates"], f"{where}.rates")
            if not rate_items:
                raise self.fail(f"{where}.rates", "a plan needs at least one rate")
            rates = tuple(
                self.rate(rate, f"{where}.rates[{i}]", zone_names, band_names) for i, rate in enumerate(rate_items)
            )
            seen: set[tuple[str, str, str]] = set()
            for i, rate in enumerate(rates):
                key = (rate.service, rate.zone, rate.band)
                if key in seen:
                    raise self.fail(f"{where}.rates[{i}]", f"a second rate for {'/'.join(key)}")
                seen.add(key)
            allowance_items = self.sequence(raw.get("allowances") or [], f"{where}.allowances")
            allowances = tuple(
                self.allowance(a, f"{where}.allowances[{i}]", zone_names) for i, a in enumerate(allowance_items)
            )
            names = [a.name for a in allowances]
            for name in names:
                if names.count(name) > 1:
                    raise self.fail(f"{where}.allowances[{name}]", "duplicate allowance name")
            thresholds = self.mapping(raw.get("thresholds") or {}, f"{where}.thresholds", _THRESHOLD_KEYS, ())
            alerts = self.percentages(thresholds.get("allowance_alerts", list(DEFAULT_ALERTS)),
                                      f"{where}.thresholds.allowance_alerts")
            cap = thresholds.get("spending_cap")
            plans[plan_id] = Plan(id=plan_id, monthly_fee=fee, rates=rates, allowances=allowances,
                                  allowance_alerts=alerts,
                                  spending_cap=None if cap is None else self.cap(cap, f"{where}.thresholds.spending_cap"))
        return plans

    # -- alert thresholds (DESIGN.md 7d) -----------------------------------------------------

    def cap(self, value: Any, where: str) -> Cap:
        raw = self.mapping(value, where, _CAP_KEYS, ("amount",))
        amount = self.money(raw["amount"], f"{where}.amount")
        if amount <= 0:
            raise self.fail(f"{where}.amount", f"must be above zero, got {raw['amount']!r}")
        return Cap(amount=amount, alerts=self.percentages(raw.get("alerts", list(DEFAULT_ALERTS)), f"{where}.alerts"))

    def percentages(self, value: Any, where: str) -> tuple[int, ...]:
        """Alert percentages: whole numbers from 1 to MAX_ALERT_PERCENT, each once (an empty list: no alert)."""
        items = self.sequence(value, where)
        for item in items:
            if isinstance(item, bool) or not isinstance(item, int) or not 1 <= item <= MAX_ALERT_PERCENT:
                raise self.fail(where, f"percentages must be whole numbers from 1 to {MAX_ALERT_PERCENT}, "
                                       f"got {_describe(item)}")
        if len(set(items)) != len(items):
            raise self.fail(where, "a percentage is listed twice")
        return tuple(sorted(items))

    def service(self, value: Any, where: str) -> str:
        if not isinstance(value, str) or value not in SERVICES:
            raise self.fail(where, f"unknown service {value!r} (expected {', '.join(SERVICES)})")
        return value

    def rate(self, value: Any, where: str, zone_names: tuple[str, ...], band_names: tuple[str, ...]) -> Rate:
        raw = self.mapping(value, where, _RATE_KEYS, ("service", "zone", "band", "price", "per", "increments"))
        service = self.service(raw["service"], f"{where}.service")
        zone = raw["zone"]
        if zone != ANY and zone not in zone_names:
            raise self.fail(f"{where}.zone", f"unknown zone {zone!r}")
        band = raw["band"]
        if band != ANY and band not in band_names:
            raise self.fail(f"{where}.band", f"unknown band {band!r}")
        increments = raw["increments"]
        if (
            not isinstance(increments, list)
            or len(increments) != 2
            or any(isinstance(i, bool) or not isinstance(i, int) or not 0 < i <= MAX_UNITS for i in increments)
        ):
            raise self.fail(
                f"{where}.increments", f"must be two positive integers [first, next], got {_describe(increments)}"
            )
        return Rate(
            service=service,
            zone=zone,
            band=band,
            price=self.money(raw["price"], f"{where}.price"),
            per=self.unit_count(raw["per"], f"{where}.per"),
            first_increment=increments[0],
            next_increment=increments[1],
            connect_fee=self.money(raw.get("connect_fee", "0.00"), f"{where}.connect_fee"),
        )

    def allowance(self, value: Any, where: str, zone_names: tuple[str, ...]) -> Allowance:
        raw = self.mapping(value, where, _ALLOWANCE_KEYS, _ALLOWANCE_KEYS)
        name = self.name(raw["name"], f"{where}.name")
        where = f"{where.rsplit('[', 1)[0]}[{name}]"
        service = self.service(raw["service"], f"{where}.service")
        zones = self.sequence(raw["zones"], f"{where}.zones")
        if not zones:
            raise self.fail(f"{where}.zones", "must list at least one zone")
        for zone in zones:
            if zone not in zone_names:
                raise self.fail(f"{where}.zones", f"unknown zone {zone!r}")
        if len(set(zones)) != len(zones):
            raise self.fail(f"{where}.zones", "a zone is listed twice")
        return Allowance(
            name=name,
            service=service,
            zones=tuple(zones),
            quantity=self.positive_int(raw["quantity"], f"{where}.quantity"),
        )


def _describe(value: Any) -> str:
    """A short, one-line description of a YAML value for error messages."""
    if value is None:
        return "nothing"
    if isinstance(value, bool):
        return f"the boolean {value}"
    if isinstance(value, int | float):
        return f"the YAML number {value}"
    if isinstance(value, str):
        return repr(value)
    return f"a {type(value).__name__}"
