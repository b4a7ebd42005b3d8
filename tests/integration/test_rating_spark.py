"""Spark's mediation + rating (`telecom_billing.rating`) equals the written rules.

The pure-Python reference (`tests/reference/rating.py`, written from docs/RULES.md) and the Spark
pipeline rate the same raw records; rated and rejected records are compared as parsed JSON (minus
`rated_at` / `rejected_at`), record by record, and so are the duplicates.

* Property tests (hypothesis): random catalogs (prefixes, bands, rates, increments, connect fees,
  prices with up to 6 places, 0-10 rounding places, time zones), random subscriber bases and a few
  hundred random canonical and legacy records per example, valid and with every defect kind.
* Hand-written edge cases, each checked against a value worked out by hand from RULES.md as well
  as against the reference. All of them run through Spark in one job (Spark costs seconds per job).
"""

from __future__ import annotations

import hashlib
import itertools
import json
import random
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
import yaml
from hypothesis import HealthCheck, Phase, example, given, settings
from hypothesis import strategies as st

from reference.comparable import comparable
from reference.rating import mediate_and_rate
from telecom_billing.contracts.reasons import Reason
from telecom_billing.refdata.catalog import Catalog, load_catalog
from telecom_billing.refdata.subscribers import Subscriber

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[2]
KAFKA_SCHEMA = "value binary, topic string, partition int, offset bigint, timestamp timestamp"

# --- running both implementations ---------------------------------------------------------------


@dataclass
class Outcome:
    """What happened to each record, by offset: ("rated", record) / ("rejected", record) / ("duplicate", None)
    / ("merged", None) (a part of a partial record beyond the first of its assembled CDR)."""

    by_offset: dict[int, tuple[str, dict[str, Any] | None]] = field(default_factory=dict)

    def kinds(self) -> Counter[str]:
        return Counter(kind for kind, _ in self.by_offset.values())

    def reasons(self) -> Counter[str]:
        return Counter(rec["reason"] for kind, rec in self.by_offset.values() if kind == "rejected" and rec)


def reference_outcome(payloads: Sequence[bytes], catalog: Catalog, subscribers: Sequence[Subscriber],
                      now: datetime) -> Outcome:
    result = mediate_and_rate(payloads, catalog, subscribers, now)
    out = Outcome()
    for offset, record in zip(result.rated_offsets, result.rated, strict=True):
        out.by_offset[offset] = ("rated", record)
    for record in result.rejected:
        out.by_offset[record["source"]["offset"]] = ("rejected", record)
    for offset in result.duplicate_offsets:
        out.by_offset[offset] = ("duplicate", None)
    for offset in result.merged_offsets:
        out.by_offset[offset] = ("merged", None)
    assert len(out.by_offset) == len(payloads), "the reference must account for every record once"
    return out


def spark_outcome(spark: Any, payloads: Sequence[bytes], catalog: Catalog, subscribers: Sequence[Subscriber],
                  now: datetime) -> Outcome:
    """Rate through `pipeline.rate_batch` and collect every outcome in one Spark job."""
    from pyspark.sql import functions as F

    from telecom_billing.output import rated_json, rejected_json
    from telecom_billing.pipeline import rate_batch

    raw = spark.createDataFrame([(p, None, None, i, None) for i, p in enumerate(payloads)], KAFKA_SCHEMA)
    outcome = rate_batch(spark, raw, catalog, subscribers, now)
    record = (F.when(F.col("outcome") == "rated", rated_json())
              .when(F.col("outcome") == "rejected", rejected_json()))
    rows = outcome.select("offset", F.col("outcome").alias("kind"), record.alias("v")).collect()
    stamp = now.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    out = Outcome()
    for row in rows:
        assert row["offset"] not in out.by_offset, f"offset {row['offset']} has two outcomes"
        record = None
        if row["v"] is not None:
            record = json.loads(row["v"])
            key = "rated_at" if row["kind"] == "rated" else "rejected_at"
            assert record.pop(key) == stamp
        out.by_offset[row["offset"]] = (row["kind"], record)
    assert sorted(out.by_offset) == list(range(len(payloads))), "Spark must account for every record once"
    return out


def differences(payloads: Sequence[bytes], expected: Outcome, actual: Outcome, limit: int = 8) -> list[str]:
    """Readable differences (reference vs Spark), at most `limit`."""
    found = []
    for offset in range(len(payloads)):
        ref, got = expected.by_offset.get(offset), actual.by_offset.get(offset)
        if ref == got:
            continue
        if ref and got and ref[0] == got[0] and ref[1] and got[1]:
            fields = {k: (ref[1].get(k), got[1].get(k)) for k in {*ref[1], *got[1]} if ref[1].get(k) != got[1].get(k)}
            detail = f"{ref[0]} fields (reference, spark): {fields}"
        else:
            detail = f"reference {ref}\n    spark {got}"
        found.append(f"offset {offset}: {payloads[offset][:300]!r}\n    {detail}")
        if len(found) >= limit:
            break
    return found


def assert_same(spark: Any, payloads: Sequence[bytes], catalog: Catalog, subscribers: Sequence[Subscriber],
                now: datetime) -> Outcome:
    expected = reference_outcome(payloads, catalog, subscribers, now)
    actual = spark_outcome(spark, payloads, catalog, subscribers, now)
    diffs = differences(payloads, expected, actual)
    assert not diffs, "Spark differs from the reference:\n" + "\n".join(diffs)
    return expected


def catalog_from(doc: dict[str, Any] | str, folder: Path) -> Catalog:
    folder.mkdir(parents=True, exist_ok=True)
    text = doc if isinstance(doc, str) else yaml.safe_dump(doc, sort_keys=False, allow_unicode=True)
    (folder / "catalog.yaml").write_text(text, encoding="utf-8")
    return load_catalog(folder)


# --- random catalogs and subscriber bases (hypothesis) --------------------------------------------

TIMEZONES = ("Africa/Casablanca", "Europe/Paris", "America/New_York", "Asia/Kolkata", "Australia/Lord_Howe",
             "UTC", "Pacific/Chatham", "America/St_Johns")
HOMES = (("212", "MA"), ("33", "FR"), ("1", "US"), ("91", "IN"), ("961", "LB"))
COUNTRIES = ("MA", "FR", "ES", "US", "DE", "GB", "IN", "LB")
DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


def money() -> st.SearchStrategy[str]:
    """A catalog money string `[0-9]{1,9}(.[0-9]{1,6})?`, mostly small."""
    whole = st.one_of(st.integers(0, 9), st.integers(0, 999_999_999))
    return st.builds(
        lambda w, places, fraction: f"{w}" if places == 0 else f"{w}.{fraction % 10**places:0{places}d}",
        whole, st.integers(0, 6), st.integers(0, 999_999),
    ) | st.sampled_from(["0.00", "0.05", "0.5", "1.20", "0.00025", "0.049999", "999999999.999999"])


UNITS = st.one_of(st.sampled_from([1, 30, 60, 1000, 1024, 10240, 1048576, 10**12]), st.integers(1, 100_000),
                  st.integers(1, 10**12))


def _hhmm(minute: int) -> str:
    return f"{minute // 60:02d}:{minute % 60:02d}"


@st.composite
def time_bands(draw: st.DrawFn) -> list[dict[str, Any]]:
    """0-3 bands, then the default band; each can match somewhere (the loader refuses dead bands)."""
    bands: list[dict[str, Any]] = []
    covered: set[tuple[int, int]] = set()
    for i in range(draw(st.integers(0, 3))):
        band: dict[str, Any] = {"name": f"band{i}"}
        days = draw(st.none() | st.lists(st.sampled_from(DAYS), min_size=1, max_size=7, unique=True))
        if days is not None:
            band["days"] = days
        start, end = 0, 1440
        if draw(st.booleans()):
            edges = st.sampled_from([0, 420, 480, 1080, 1200, 1439, 1440]) | st.integers(0, 1440)
            start, end = sorted(draw(st.lists(edges, min_size=2, max_size=2, unique=True)))
            band["start"], band["end"] = _hhmm(start), _hhmm(end)
        slots = {(d, m) for d in (range(7) if days is None else [DAYS.index(x) for x in days])
                 for m in range(start, end)}
        if slots - covered and len(covered | slots) < 7 * 1440:  # the default band must still match somewhere
            bands.append(band)
            covered |= slots
    return [*bands, {"name": "other"}]


@st.composite
def catalog_docs(draw: st.DrawFn) -> dict[str, Any]:
    code, home = draw(st.sampled_from(HOMES))
    bands = draw(time_bands())
    zone_names = draw(st.lists(st.sampled_from(["za", "zb", "zc", "zd", "ze"]), min_size=1, max_size=5, unique=True))
    prefixes = draw(st.lists(st.text("12369", max_size=4) | st.just(code), min_size=len(zone_names),
                             max_size=3 * len(zone_names), unique=True))
    zones: dict[str, list[str]] = {name: [] for name in zone_names}
    for i, prefix in enumerate(prefixes):
        zones[zone_names[i] if i < len(zone_names) else draw(st.sampled_from(zone_names))].append(prefix)
    roam_names = draw(st.lists(st.sampled_from(["r_eu", "r_world", "r_x"]), max_size=3, unique=True))
    countries = draw(st.lists(st.sampled_from([*COUNTRIES, "*"]), min_size=len(roam_names),
                              max_size=2 * len(roam_names) + 1, unique=True))
    roaming: dict[str, list[str]] = {name: [] for name in roam_names}
    for i, country in enumerate(countries[: len(roam_names) * 3]):
        if roam_names:
            roaming[roam_names[i] if i < len(roam_names) else draw(st.sampled_from(roam_names))].append(country)
    zone_choices = [*zone_names, *roam_names, "home", "incoming", "*"]
    band_choices = [b["name"] for b in bands] + ["*"]
    plans = []
    for plan_number in range(draw(st.integers(1, 3))):
        keys = draw(st.lists(st.tuples(st.sampled_from(["voice", "sms", "data"]), st.sampled_from(zone_choices),
                                       st.sampled_from(band_choices)), min_size=1, max_size=12, unique=True))
        if draw(st.booleans()):  # often a catch-all per service, so that most CDRs find a rate
            keys += [(s, "*", "*") for s in ("voice", "sms", "data") if (s, "*", "*") not in keys]
        rates = []
        for service, zone, band in keys:
            rate: dict[str, Any] = {"service": service, "zone": zone, "band": band, "price": draw(money()),
                                    "per": draw(UNITS), "increments": [draw(UNITS), draw(UNITS)]}
            if draw(st.booleans()):
                rate["connect_fee"] = draw(money())
            rates.append(rate)
        plans.append({"id": f"P{plan_number}", "monthly_fee": "0.00", "rates": rates})
    return {
        "catalog_version": draw(st.sampled_from(["v1", "2026.11", "é-1"])),
        "currency": draw(st.sampled_from(["MAD", "EUR"])),
        "timezone": draw(st.sampled_from(TIMEZONES)),
        "home_country_code": code,
        "home_country": home,
        "tax_rate": "0.20",
        "rounding_decimals": draw(st.sampled_from([4, 4, 2, 0, 6, 10]) | st.integers(0, 10)),
        "time_bands": bands,
        "zones": zones,
        "roaming_zones": roaming,
        "plans": plans,
    }


@st.composite
def subscriber_bases(draw: st.DrawFn, doc: dict[str, Any]) -> list[Subscriber]:
    """A few numbers (mostly of the home country), each with one or two non-overlapping active periods."""
    plan_ids = [p["id"] for p in doc["plans"]]
    code = doc["home_country_code"]
    national = st.integers(10**8, 10**9 - 1).map(lambda n: f"{code}{n}")
    foreign = st.integers(10**9, 10**12 - 1).map(lambda n: f"44{n}")
    numbers = draw(st.lists(national | foreign, min_size=3, max_size=10, unique=True))
    base = []
    for number in numbers:
        start = date(2024, 6, 1) + timedelta(days=draw(st.integers(0, 800)))
        for _ in range(draw(st.integers(1, 2))):
            days = draw(st.none() | st.integers(1, 400))
            end = None if days is None else start + timedelta(days=days)
            plan = draw(st.sampled_from(plan_ids)) if draw(st.integers(0, 9)) else "GHOST"
            base.append(Subscriber(number, "Random", "Somewhere", plan, start, end))
            if end is None:
                break
            start = end + timedelta(days=draw(st.integers(0, 30)))
    return base


# --- random raw records ---------------------------------------------------------------------------

JUNK: tuple[Any, ...] = (None, True, False, 0, -1, 7, 1.5, -0.0, 1e300, "", "x", "NaN", [], {}, [1, "b"],
                         {"a": [1, "é"], "b": None}, "1e400", "😀", "x\ud800y", 2**70)


def _transitions(tz: ZoneInfo, start: datetime, end: datetime) -> list[datetime]:
    """UTC instants where the zone's offset changes between start and end (to the second)."""
    found = []
    t = start
    while t < end:
        nxt = t + timedelta(days=1)
        if t.astimezone(tz).utcoffset() != nxt.astimezone(tz).utcoffset():
            lo, hi = t, nxt
            while hi - lo > timedelta(seconds=1):
                mid = lo + (hi - lo) / 2
                if mid.astimezone(tz).utcoffset() == lo.astimezone(tz).utcoffset():
                    lo = mid
                else:
                    hi = mid
            found.append(hi.replace(microsecond=0))
        t = nxt
    return found


class RecordMaker:
    """Raw records for one catalog and subscriber base, from a seeded `random.Random`."""

    def __init__(self, rnd: random.Random, doc: dict[str, Any], subscribers: Sequence[Subscriber],
                 now: datetime) -> None:
        self.rnd = rnd
        self.doc = doc
        self.code = doc["home_country_code"]
        self.tz = ZoneInfo(doc["timezone"])
        self.now = now
        self.subscribers = list(subscribers)
        self.prefixes = [p for ps in doc["zones"].values() for p in ps]
        self.countries = [c for cs in doc["roaming_zones"].values() for c in cs if c != "*"]
        self.increments = {s: [tuple(r["increments"]) for p in doc["plans"] for r in p["rates"] if r["service"] == s]
                           for s in ("voice", "sms", "data")}
        self.edges = sorted({0, 1440} | {int(b[k][:2]) * 60 + int(b[k][3:]) for b in doc["time_bands"]
                                         for k in ("start", "end") if k in b})
        self.start = datetime(2024, 6, 1, tzinfo=UTC)
        self.transitions = _transitions(self.tz, self.start, now + timedelta(days=1))
        self.ids = itertools.count()
        self.records: list[bytes] = []
        self.cdr_ids: list[Any] = []

    # -- values --------------------------------------------------------------------------------

    def pick(self, *weighted: tuple[float, Callable[[], Any]]) -> Any:
        total = sum(w for w, _ in weighted)
        x = self.rnd.random() * total
        for weight, make in weighted:
            x -= weight
            if x < 0:
                return make()
        return weighted[-1][1]()

    def digits(self, length: int) -> str:
        return "".join(self.rnd.choice("0123456789") for _ in range(length))

    def subscriber(self) -> tuple[str, Subscriber | None]:
        """A subscriber's number (and the subscription), or now and then an unknown number."""
        if self.subscribers and self.rnd.random() < 0.9:
            chosen = self.rnd.choice(self.subscribers)
            return chosen.msisdn, chosen
        return self.number(), None

    def number(self) -> str:
        """E.164 digits of an other party, built on a catalog prefix."""
        rnd = self.rnd
        prefix = rnd.choice([*self.prefixes, self.code, "44", "1", "9"]).lstrip("0") or "1"
        return (prefix + self.digits(rnd.randint(8, 15)))[: rnd.randint(max(8, len(prefix)), 15)]

    def msisdn(self, e164: str) -> Any:
        """One of the many ways a number arrives (RULES.md section 6)."""
        rnd = self.rnd

        def noisy() -> str:
            chars = list("+" + e164 if rnd.random() < 0.5 else e164)
            for _ in range(rnd.randint(1, 4)):
                chars.insert(rnd.randrange(len(chars) + 1), rnd.choice(" -.()\t"))
            return "".join(chars)

        return self.pick(
            (12, lambda: e164), (3, lambda: "+" + e164), (2, lambda: "00" + e164),
            (3, lambda: "0" + e164[len(self.code):] if e164.startswith(self.code) else e164),
            (3, noisy), (3, lambda: int(e164)), (0.2, lambda: -int(e164)), (0.2, lambda: float(e164)),
            (0.2, lambda: float(e164[:4] + "." + e164[4:])), (0.1, lambda: e164 + "x"),
            (0.1, lambda: "000" + e164), (0.1, lambda: e164[:7]), (0.1, lambda: rnd.choice(JUNK)),
            (0.1, lambda: "invalid_phone"), (0.1, lambda: e164.replace("1", "١")),
        )

    def instant(self, subscription: Subscriber | None) -> datetime:
        rnd = self.rnd
        start, end = self.start, self.now + timedelta(hours=3)
        if subscription is not None and rnd.random() < 0.8:  # mostly while the subscription is active
            start = max(start, datetime.combine(subscription.activation_date, datetime.min.time(), self.tz))
            if subscription.termination_date is not None:
                end = min(end, datetime.combine(subscription.termination_date, datetime.min.time(), self.tz))
            if start >= self.now:
                start, end = self.start, self.now + timedelta(hours=3)
            end = max(end, start + timedelta(hours=1))
        span = (end - start).total_seconds()

        def uniform() -> datetime:
            return start + timedelta(seconds=rnd.uniform(0, span))

        def at_edge() -> datetime:  # a band edge or local midnight, on a random local day
            day = (start + timedelta(days=rnd.randint(0, int(span // 86400)))).astimezone(self.tz).date()
            minute = rnd.choice(self.edges)
            local = datetime(day.year, day.month, day.day, tzinfo=self.tz) + timedelta(minutes=minute)
            moment = local.replace(fold=rnd.randint(0, 1)).astimezone(UTC)
            return moment + rnd.choice([timedelta(0), timedelta(seconds=-1), timedelta(microseconds=-1),
                                        timedelta(seconds=59), timedelta(seconds=60)])

        def near_transition() -> datetime:
            if not self.transitions:
                return uniform()
            return rnd.choice(self.transitions) + timedelta(seconds=rnd.choice([-3600, -61, -1, 0, 1, 59, 3600]))

        def near_future_limit() -> datetime:
            return self.now + timedelta(hours=1) + rnd.choice(
                [timedelta(0), timedelta(microseconds=1), timedelta(microseconds=-1), timedelta(seconds=30)])

        moment = self.pick((10, uniform), (5, at_edge), (1, near_transition), (1, near_future_limit))
        if rnd.random() < 0.5:
            moment = moment.replace(microsecond=0)
        return moment.astimezone(UTC)

    def timestamp(self, subscription: Subscriber | None) -> Any:
        rnd = self.rnd
        moment = self.instant(subscription)
        offset_minutes = self.pick((4, lambda: 0), (4, lambda: rnd.randint(-14 * 60, 14 * 60)),
                                   (0.3, lambda: rnd.choice([-18 * 60, 18 * 60])))
        local = moment + timedelta(minutes=offset_minutes)
        if offset_minutes == 0 and rnd.random() < 0.7:
            zone = rnd.choice(["Z", "Z", "+00:00", "-00:00"])
        else:
            sign = "-" if offset_minutes < 0 else "+"
            zone = f"{sign}{abs(offset_minutes) // 60:02d}:{abs(offset_minutes) % 60:02d}"
        fraction = ""
        if local.microsecond or rnd.random() < 0.3:
            fraction = "." + f"{local.microsecond:06d}"
            if rnd.random() < 0.3:
                fraction += self.digits(rnd.randint(1, 4))  # truncated, never rounded
            elif local.microsecond % 1000 == 0 and rnd.random() < 0.5:
                fraction = fraction[:4]
        text = local.strftime("%Y-%m-%dT%H:%M:%S") + fraction + zone
        return self.pick(
            (40, lambda: text), (0.2, lambda: text[:-len(zone)]), (0.1, lambda: text.replace("T", " ")),
            (0.1, lambda: text + "\n"), (0.1, lambda: text.replace(":", "", 1)),
            (0.1, lambda: local.strftime("%Y-%m-%dT%H:%M:%S") + zone.replace(":", "")),
            (0.1, lambda: "2026-02-30T10:00:00Z"), (0.1, lambda: "2026-11-02T24:00:00Z"),
            (0.1, lambda: "1969-12-31T23:59:59.999999Z"), (0.1, lambda: "2026-11-02T10:00:00+18:01"),
            (0.1, lambda: rnd.choice(JUNK)), (0.1, lambda: int(moment.timestamp())),
        )

    def integer(self, value: int) -> Any:
        """An integer written one of the ways RULES.md section 5 accepts, or a defect."""
        rnd = self.rnd
        return self.pick(
            (20, lambda: value), (4, lambda: str(value)), (1, lambda: f" {value}\t"), (1, lambda: f"{value}.0"),
            (0.5, lambda: f"{value}00e-2"), (0.5, lambda: float(value)), (0.5, lambda: f"+{value}"),
            (0.2, lambda: f"{value}.5"), (0.2, lambda: f"{value}.00000000001"), (0.1, lambda: value + 0.5),
            (0.1, lambda: f"{value}e400"), (0.1, lambda: "1e-400"), (0.1, lambda: "-1e400"),
            (0.2, lambda: rnd.choice(JUNK)), (0.1, lambda: "NOT_A_NUMBER"),
        )

    def quantity(self, service: str, limit: int) -> int:
        rnd = self.rnd
        f, n = rnd.choice(self.increments[service] or [(60, 60)])
        return self.pick(
            (6, lambda: rnd.randint(1, 3600 if service == "voice" else 50_000_000)),
            (4, lambda: max(1, min(limit, rnd.choice([f - 1, f, f + 1, f + n - 1, f + n, f + n + 1, 2 * n + f])))),
            (1, lambda: rnd.choice([limit, limit + 1, 0, -1, 1]))
        )

    def megabytes(self) -> Any:
        rnd = self.rnd
        tie = Decimal(rnd.randint(0, 10**7) * 2 + 1) / Decimal(2**21)  # exactly half a byte
        return self.pick(
            (4, lambda: round(rnd.uniform(0.001, 500), rnd.randint(0, 3))),
            (2, lambda: f"{rnd.randint(0, 999)}.{self.digits(rnd.randint(1, 25))}"),
            (1, lambda: f"{tie:f}"), (0.5, lambda: f"{tie - Decimal('1e-30'):f}"),
            (0.5, lambda: float(tie)), (0.3, lambda: rnd.choice(["0", "-1.5", "1e-7", "102400", "102401", "1e20"])),
            (0.2, lambda: rnd.choice(JUNK)),
        )

    def optional_text(self, choices: Sequence[str]) -> Any:
        return self.pick((6, lambda: self.rnd.choice(choices)), (2, lambda: None), (1, lambda: self.rnd.choice(JUNK)))

    def country(self) -> Any:
        rnd = self.rnd
        home = self.doc["home_country"]
        return self.pick(
            (6, lambda: None), (2, lambda: home), (0.5, lambda: home.lower()),
            (3, lambda: rnd.choice(self.countries) if self.countries else "FR"),
            (1, lambda: rnd.choice(self.countries).lower() if self.countries else "es"),
            (1, lambda: rnd.choice(COUNTRIES)), (0.3, lambda: ""), (0.3, lambda: rnd.choice(JUNK)),
        )

    # -- records -------------------------------------------------------------------------------

    def canonical(self) -> dict[str, Any]:
        rnd = self.rnd
        service = rnd.choice(["voice", "voice", "sms", "data"])
        if self.cdr_ids and rnd.random() < 0.05:
            cdr_id = rnd.choice(self.cdr_ids)  # a redelivery, same or different content
        else:
            cdr_id = self.pick((20, lambda: f"r-{next(self.ids)}"), (0.5, lambda: next(self.ids)),
                               (0.3, lambda: rnd.choice(JUNK)))
            self.cdr_ids.append(cdr_id)
        number, subscription = self.subscriber()
        record: dict[str, Any] = {"cdr_id": cdr_id, "record_type": service,
                                  "event_time": self.timestamp(subscription), "msisdn": self.msisdn(number)}
        if service == "data":
            record["bytes_up"] = self.integer(self.quantity("data", 107_374_182_400) // rnd.choice([1, 2, 3]))
            record["bytes_down"] = self.integer(rnd.choice([0, 1, rnd.randint(0, 10**7), 107_374_182_400]))
        else:
            record["other_party"] = self.msisdn(self.number())
            record["direction"] = rnd.choice(["MO", "MO", "MT"])
            if service == "voice":
                record["duration_sec"] = self.integer(self.quantity("voice", 86_400))
        record["cell_id"] = self.optional_text(["RABAT_01", "", "Fès-2", "x\ud800y"])
        record["technology"] = self.optional_text(["2G", "3G", "4G", "5G"])
        record["visited_country"] = self.country()
        return record

    def legacy(self) -> dict[str, Any]:
        rnd = self.rnd
        service = rnd.choice(["voice", "sms", "data", "data"])
        number, subscription = self.subscriber()
        record: dict[str, Any] = {"record_type": service, "timestamp": self.timestamp(subscription)}
        subscriber = self.msisdn(number)
        if service == "voice":
            record.update(caller_id=subscriber, callee_id=self.msisdn(self.number()),
                          duration_sec=self.integer(self.quantity("voice", 86_400)))
        elif service == "sms":
            record.update(sender_id=subscriber, receiver_id=self.msisdn(self.number()))
        else:
            record.update(user_id=subscriber, data_volume_mb=self.megabytes(),
                          session_duration_sec=self.integer(rnd.choice([0, 1, 524, 86_400, 86_401, -1])))
        record["cell_id"] = self.optional_text(["ALHOCEIMA_01", "BNIBOUFRAH_02", ""])
        record["technology"] = self.optional_text(["2G", "3G", "4G"])
        return record

    def defects(self, record: dict[str, Any]) -> None:
        rnd = self.rnd
        for _ in range(rnd.choice([1, 1, 2])):
            key = rnd.choice(list(record))
            defect = self.pick((2, lambda: "drop"), (1, lambda: "null"), (1, lambda: "junk"), (1, lambda: "type"),
                               (1, lambda: "direction"), (0.5, lambda: "unknown"))
            if defect == "drop":
                record.pop(key)
            elif defect == "null":
                record[key] = None
            elif defect == "junk":
                record[key] = rnd.choice(JUNK)
            elif defect == "type":
                record["record_type"] = rnd.choice(["VOICE", "mms", "", 5, None])
            elif defect == "direction":
                record["direction"] = rnd.choice(["mo", "", 1, None, "MT"])
            else:
                record["unknown_field"] = rnd.choice(JUNK)

    def serialize(self, record: dict[str, Any]) -> bytes:
        rnd = self.rnd
        text = json.dumps(record, ensure_ascii=rnd.random() < 0.5,
                          separators=rnd.choice([(", ", ": "), (",", ":")]))
        if rnd.random() < 0.03 and record:  # a key given twice: the last one wins
            key = rnd.choice(list(record))
            text = text[:-1] + f', "{key}": {json.dumps(rnd.choice(JUNK[:12]))}}}'
        if rnd.random() < 0.03:
            text = rnd.choice([" ", "\t", "\r\n"]) + text
        if rnd.random() < 0.03:
            text += rnd.choice([" trailing", "}", " {broken", "\x00", "[[[", "\r"])
        if rnd.random() < 0.03:
            text = self.mutate(text)
        return text.encode("utf-8", "surrogatepass")  # a lone surrogate makes the bytes invalid UTF-8

    def mutate(self, text: str) -> str:
        rnd = self.rnd
        alphabet = [*'{}[]":,\\ \t0123456789.eE+-truefalsnul\'/', "\\u00e9", "\\ud800", "é", "😀", "NaN", "\ufeff"]
        for _ in range(rnd.randint(1, 3)):
            pos = rnd.randrange(len(text) + 1)
            op = rnd.random()
            if op < 0.4:
                text = text[:pos] + rnd.choice(alphabet) + text[pos:]
            elif op < 0.7:
                text = text[:pos] + text[pos + rnd.randint(1, 3):]
            else:
                text = text[:pos] + rnd.choice(alphabet) + text[pos + 1:]
        return text

    def noise(self) -> bytes:
        rnd = self.rnd
        return rnd.choice([
            b"", b"   ", b"\xff\xfe{}", bytes(rnd.randrange(256) for _ in range(12)), b"[1, 2]", b'"voice"', b"null",
            b"123", b"{'cdr_id': 'q', 'record_type': 'voice'}", b'{"cdr_id": NaN}', b'\xef\xbb\xbf{"cdr_id": "b"}',
            b'{"record_type": "voice", "msisdn": "212600000001"}', b'{"cdr_id": null, "timestamp": null}',
            b'{"cdr_id": "deep", "x": ' + b"[" * 999 + b"]" * 999 + b"}",
            b'{"cdr_id": "deeper", "x": ' + b"[" * 1000 + b"]" * 1000 + b"}",
            b'{"cdr_id": "long", "x": 1' + b"0" * 900 + b"}", b'{"cdr_id": "longer", "x": 1' + b"0" * 1100 + b"}",
            b'{"' + b"k" * 50_001 + b'": 1}', b'{"cdr_id": "a"',
        ])

    def make(self, count: int) -> list[bytes]:
        rnd = self.rnd
        while len(self.records) < count:
            roll = rnd.random()
            if roll < 0.04 and self.records:
                payload = rnd.choice(self.records)  # an exact repeat
            elif roll < 0.08:
                payload = self.noise()
            else:
                record = self.canonical() if roll < 0.6 else self.legacy()
                if rnd.random() < 0.15:
                    self.defects(record)
                payload = self.serialize(record)
            if comparable(payload):
                self.records.append(payload)
        return self.records


# The shipped catalog with a small base on every plan: always one of the examples.
DEFAULT_WORLD = (
    yaml.safe_load((REPO / "data" / "catalog" / "catalog.yaml").read_text(encoding="utf-8")),
    [Subscriber(f"2126{i:08d}", "Default", "Rabat", plan, date(2025, 1 + i, 1), None if i % 2 else date(2026, 9, 1))
     for i, plan in enumerate(["PAYG", "SMART_99", "MAX_199", "BUSINESS_349", "PAYG", "SMART_99"])],
    datetime(2026, 7, 1, 12, tzinfo=UTC),
)

CATALOG_AND_BASE = catalog_docs().flatmap(
    lambda doc: st.tuples(st.just(doc), subscriber_bases(doc),
                          st.datetimes(datetime(2025, 3, 1), datetime(2027, 1, 1)).map(lambda t: t.replace(tzinfo=UTC))))


@settings(max_examples=6, deadline=None, phases=[Phase.explicit, Phase.reuse, Phase.generate],
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(world=CATALOG_AND_BASE, seed=st.integers(0, 2**64 - 1))
@example(world=DEFAULT_WORLD, seed=20261115)
def test_spark_equals_reference_on_random_catalogs_and_records(
    spark: Any, tmp_path_factory: pytest.TempPathFactory, world: tuple[dict[str, Any], list[Subscriber], datetime],
    seed: int,
) -> None:
    # Hypothesis draws the catalog, the subscriber base, `now` and the seed of the records (hundreds
    # of records drawn one by one through Hypothesis would overrun its buffer). No shrinking: each
    # Spark job takes seconds, so a failure names the differing records instead.
    doc, subscribers, now = world
    catalog = catalog_from(doc, tmp_path_factory.mktemp("catalog"))
    payloads = RecordMaker(random.Random(seed), doc, subscribers, now).make(600)
    outcome = assert_same(spark, payloads, catalog, subscribers, now)
    # The generator exercises the pipeline: many records get far, many are rated or rejected late.
    kinds = outcome.kinds()
    assert kinds["rated"] + kinds["rejected"] + kinds["duplicate"] == len(payloads)
    assert len(outcome.reasons()) >= 6, outcome.reasons()


# --- hand-written edge cases ----------------------------------------------------------------------

NOW = datetime(2026, 12, 15, tzinfo=UTC)
SUB = "212600000001"  # HAND, always active
VOICE_ONLY = "212600000002"
GHOST_PLAN = "212600000003"  # a plan the catalog does not have
FROM_DEC = "212600000004"  # active from 2026-12-01
UNTIL_DEC = "212600000005"  # terminated 2026-12-01 (exclusive)
FROM_DST = "212600000006"  # active from 2026-02-15, the day Casablanca leaves +01:00 for Ramadan
UNTIL_MAR = "212600000007"  # terminated 2026-03-01
SWITCHED = "212600000008"  # HAND until 2026-06-01, then VOICE_ONLY

HAND_SUBSCRIBERS = [
    Subscriber(SUB, "Hand", "Rabat", "HAND", date(2020, 1, 1)),
    Subscriber(VOICE_ONLY, "Voice", "Rabat", "VOICE_ONLY", date(2020, 1, 1)),
    Subscriber(GHOST_PLAN, "Ghost", "Rabat", "GHOST", date(2020, 1, 1)),
    Subscriber(FROM_DEC, "New", "Fes", "HAND", date(2026, 12, 1)),
    Subscriber(UNTIL_DEC, "Leaving", "Fes", "HAND", date(2020, 1, 1), date(2026, 12, 1)),
    Subscriber(FROM_DST, "Ramadan", "Tanger", "HAND", date(2026, 2, 15)),
    Subscriber(UNTIL_MAR, "March", "Agadir", "HAND", date(2020, 1, 1), date(2026, 3, 1)),
    Subscriber(SWITCHED, "Switch", "Oujda", "HAND", date(2020, 1, 1), date(2026, 6, 1)),
    Subscriber(SWITCHED, "Switch", "Oujda", "VOICE_ONLY", date(2026, 6, 1)),
]

HAND_CATALOG = """
catalog_version: "hand-1"
currency: MAD
timezone: Africa/Casablanca
home_country_code: "212"
home_country: MA
tax_rate: "0.20"
rounding_decimals: 4
time_bands:
  - {name: peak, days: [mon, tue, wed, thu, fri], start: "08:00", end: "20:00"}
  - {name: evening, days: [mon, tue, wed, thu, fri], start: "20:00", end: "24:00"}
  - {name: weekend, days: [sat, sun]}
  - {name: offpeak}
zones:                      # no empty prefix: a number that matches none has no zone
  national_mobile: ["2126", "2127"]
  national_fixed: ["2125"]
  europe: ["33", "34"]
  france_mobile: ["336"]
  special: ["3361"]
  north_america: ["1"]
roaming_zones:
  roam_europe: [FR, ES]
  roam_world: ["*"]
plans:
  - id: HAND
    monthly_fee: "10.00"
    rates:
      - {service: voice, zone: national_mobile, band: peak, price: "1.20", per: 60, increments: [60, 30]}
      - {service: voice, zone: national_mobile, band: "*", price: "0.60", per: 60, increments: [60, 30]}
      - {service: voice, zone: "*", band: evening, price: "2.00", per: 60, increments: [1, 1]}
      - {service: voice, zone: "*", band: "*", price: "3.00", per: 60, increments: [1, 1], connect_fee: "0.50"}
      - {service: voice, zone: incoming, band: "*", price: "0.00", per: 60, increments: [1, 1]}
      - {service: voice, zone: roam_europe, band: "*", price: "6.00", per: 60, increments: [60, 60],
         connect_fee: "1.0"}
      - {service: sms, zone: "*", band: "*", price: "0.5", per: 1, increments: [1, 1]}
      - {service: sms, zone: special, band: "*", price: "0.00025", per: 1, increments: [1, 1]}
      - {service: sms, zone: france_mobile, band: "*", price: "0.049999", per: 1000, increments: [1, 1]}
      - {service: data, zone: home, band: "*", price: "0.05", per: 1048576, increments: [1024, 1024]}
      - {service: data, zone: roam_world, band: "*", price: "50.00", per: 1048576, increments: [10240, 10240]}
      - {service: data, zone: roam_europe, band: weekend, price: "999999999.999999", per: 1000000000000,
         increments: [1000000000000, 1]}
  - id: VOICE_ONLY
    monthly_fee: "0.00"
    rates:
      - {service: voice, zone: national_mobile, band: "*", price: "1.00", per: 60, increments: [1, 1]}
"""

DROP = object()
_hand_ids = itertools.count(1)


def _apply(record: dict[str, Any], changes: dict[str, Any]) -> dict[str, Any]:
    for key, value in changes.items():
        if value is DROP:
            record.pop(key, None)
        else:
            record[key] = value
    return record


def voice(**changes: Any) -> dict[str, Any]:
    """A canonical call, Monday 2026-11-02 10:00 local (+01:00): national mobile, peak."""
    record = {"cdr_id": f"h-{next(_hand_ids)}", "record_type": "voice", "event_time": "2026-11-02T10:00:00+01:00",
              "msisdn": SUB, "other_party": "212611111111", "direction": "MO", "duration_sec": 60}
    return _apply(record, changes)


def sms(**changes: Any) -> dict[str, Any]:
    return _apply(voice(record_type="sms", duration_sec=DROP), changes)


def data(**changes: Any) -> dict[str, Any]:
    record = voice(record_type="data", other_party=DROP, direction=DROP, duration_sec=DROP)
    record.update(bytes_up=1000, bytes_down=500)
    return _apply(record, changes)


def legacy_voice(**changes: Any) -> dict[str, Any]:
    record = {"record_type": "voice", "timestamp": "2026-11-02T09:00:00Z", "caller_id": SUB,
              "callee_id": "212611111111", "duration_sec": 61, "cell_id": f"CELL_{next(_hand_ids)}",
              "technology": "3G"}
    return _apply(record, changes)


def legacy_data(**changes: Any) -> dict[str, Any]:
    record = {"record_type": "data", "timestamp": "2026-11-02T09:00:00Z", "user_id": SUB, "data_volume_mb": 7.28,
              "session_duration_sec": 524, "cell_id": f"CELL_{next(_hand_ids)}", "technology": "3G"}
    return _apply(record, changes)


def with_literal(record: dict[str, Any], key: str, literal: str) -> bytes:
    """The record with `key` written as a raw JSON literal (one Python's json would not write)."""
    record.pop(key, None)
    return (json.dumps(record)[:-1] + f', "{key}": {literal}}}').encode("utf-8")


def raw(record: dict[str, Any] | bytes | str) -> bytes:
    if isinstance(record, bytes):
        return record
    if isinstance(record, str):
        return record.encode("utf-8")
    return json.dumps(record).encode("utf-8")


@dataclass(frozen=True)
class Rated:
    """Expect a rated CDR with (at least) these fields."""

    fields: dict[str, Any]


@dataclass(frozen=True)
class Rejected:
    reason: str
    detail: str
    extra: dict[str, Any] = field(default_factory=dict)


DUPLICATE = "duplicate"


def rated(**fields: Any) -> Rated:
    return Rated(fields)


def rejected(reason: Reason, detail: str, **extra: Any) -> Rejected:
    return Rejected(str(reason), detail, extra)


@dataclass(frozen=True)
class Case:
    name: str
    records: tuple[bytes, ...]
    expected: tuple[Rated | Rejected | str, ...]


CASES: list[Case] = []


def case(name: str, *pairs: tuple[Any, Rated | Rejected | str]) -> None:
    CASES.append(Case(name, tuple(raw(r) for r, _ in pairs), tuple(e for _, e in pairs)))


def band_at(utc: str, band: str, **more: Any) -> tuple[dict[str, Any], Rated]:
    return voice(event_time=utc), rated(band=band, **more)


# Increments [60, 30] (national mobile peak): the first 60 s, then whole 30 s steps.
for seconds, billable, charge in [(1, 60, "1.2000"), (59, 60, "1.2000"), (60, 60, "1.2000"), (61, 90, "1.8000"),
                                  (90, 90, "1.8000"), (91, 120, "2.4000"), (86400, 86400, "1728.0000")]:
    case(f"increments voice {seconds}s", (voice(duration_sec=seconds),
                                          rated(quantity=seconds, billable_units=billable, charge=charge)))
case("increments data [1024, 1024]",
     (data(bytes_up=0, bytes_down=1), rated(quantity=1, billable_units=1024, charge="0.0000")),
     (data(bytes_up=1000, bytes_down=24), rated(quantity=1024, billable_units=1024)),
     (data(bytes_up=1000, bytes_down=25), rated(quantity=1025, billable_units=2048, charge="0.0001")))

# Bands in local time (+01:00 in November): start inclusive, end exclusive, "24:00" as an end.
case("band start inclusive end exclusive",
     band_at("2026-11-02T06:59:59.999999Z", "offpeak"),  # Monday 07:59:59.999999 local
     band_at("2026-11-02T07:00:00Z", "peak"),  # 08:00 local
     band_at("2026-11-02T18:59:59Z", "peak"),
     band_at("2026-11-02T19:00:00Z", "evening", zone="national_mobile", price="0.60"),  # 20:00 local
     band_at("2026-11-02T22:59:59Z", "evening"),  # 23:59:59 local, in the band ending at 24:00
     band_at("2026-11-02T23:00:00Z", "offpeak"),  # Tuesday 00:00 local
     band_at("2026-11-06T23:00:00Z", "weekend"),  # Saturday 00:00 local
     band_at("2026-11-08T22:59:59Z", "weekend"),  # Sunday 23:59:59 local
     band_at("2026-11-08T23:00:00Z", "offpeak"))  # Monday 00:00 local

# Africa/Casablanca leaves +01:00 for +00:00 (Ramadan) at 2026-02-15T02:00Z and returns at
# 2026-03-22T02:00Z: the same UTC clock time is in different bands, and local dates move.
case("DST change in Africa/Casablanca",
     band_at("2026-02-13T07:30:00Z", "peak"),  # Friday 08:30 local (+01:00)
     band_at("2026-02-16T07:30:00Z", "offpeak"),  # Monday 07:30 local (+00:00)
     band_at("2026-02-16T08:00:00Z", "peak"),  # Monday 08:00 local (+00:00)
     band_at("2026-03-23T07:30:00Z", "peak"),  # Monday 08:30 local (+01:00 again)
     band_at("2026-03-20T19:59:59Z", "peak"),  # Friday 19:59:59 local (+00:00)
     band_at("2026-03-23T19:00:00Z", "evening"),  # Monday 20:00 local (+01:00)
     (voice(msisdn=FROM_DST, event_time="2026-02-14T23:30:00Z"), rated(band="weekend")),  # 00:30 on the 15th
     (voice(msisdn=FROM_DST, event_time="2026-02-14T22:59:59Z"),
      rejected(Reason.UNKNOWN_SUBSCRIBER, f"no subscriber {FROM_DST} active on 2026-02-14")),
     # During Ramadan 23:30Z on the last day of February is still February locally.
     (voice(msisdn=UNTIL_MAR, event_time="2026-02-28T23:30:00Z"), rated(band="weekend")),
     (voice(msisdn=UNTIL_MAR, event_time="2026-03-01T00:30:00Z"),
      rejected(Reason.UNKNOWN_SUBSCRIBER, f"no subscriber {UNTIL_MAR} active on 2026-03-01")))

# 2026-11-30T23:30Z is Tuesday 2026-12-01 00:30 in Casablanca: a new month and a new subscriber.
case("just after local midnight at a month boundary",
     (voice(msisdn=FROM_DEC, event_time="2026-11-30T23:30:00Z"),
      rated(band="offpeak", event_time="2026-11-30T23:30:00.000000Z", plan_id="HAND")),
     (voice(msisdn=UNTIL_DEC, event_time="2026-11-30T23:30:00Z"),
      rejected(Reason.UNKNOWN_SUBSCRIBER, f"no subscriber {UNTIL_DEC} active on 2026-12-01")),
     (voice(msisdn=UNTIL_DEC, event_time="2026-11-30T22:59:59Z"), rated(band="evening")),  # Monday 23:59:59
     (voice(msisdn=FROM_DEC, event_time="2026-11-30T22:59:59Z"),
      rejected(Reason.UNKNOWN_SUBSCRIBER, f"no subscriber {FROM_DEC} active on 2026-11-30")))

case("longest prefix among overlapping prefixes",
     (voice(other_party="33611111111"), rated(zone="special", price="3.00")),  # 3361 beats 336 and 33
     (voice(other_party="33698765432"), rated(zone="france_mobile")),  # 336 beats 33
     (voice(other_party="33123456789"), rated(zone="europe")),
     (voice(other_party="+1 415 555 0100"), rated(zone="north_america", other_party="14155550100")),
     (voice(other_party="0711111111"), rated(zone="national_mobile", other_party="212711111111")),
     (voice(other_party="212511111111"), rated(zone="national_fixed")),
     (voice(other_party="4915112345678"),  # no prefix matches: no zone, so no rate
      rejected(Reason.NO_RATE, "no rate in plan HAND for voice/-/peak", msisdn=SUB)))

case("roaming versus home",
     (voice(visited_country="fr"), rated(visited_country="FR", roaming=True, zone="roam_europe",
                                          connect_fee="1.00", charge="7.0000")),  # "1.0" + 60 s at 6.00 / min
     (voice(visited_country="MA"), rated(visited_country="MA", roaming=False, zone="national_mobile")),
     (voice(visited_country="ma"), rated(visited_country="MA", roaming=False)),
     (voice(visited_country=""), rated(visited_country=None, roaming=False)),
     (voice(visited_country="US"), rated(zone="roam_world", price="3.00", charge="3.5000")),  # "*"/"*" rate
     (data(visited_country="US", bytes_up=0, bytes_down=1),
      rated(zone="roam_world", billable_units=10240, charge="0.4883")),  # 10240 * 50 / 2^20 = 0.48828125
     (data(visited_country="ES"), rejected(Reason.NO_RATE, "no rate in plan HAND for data/roam_europe/peak")),
     # Saturday in Spain: 10^12 units at 999999999.999999 per 10^12, rounded to 4 places.
     (data(visited_country="ES", event_time="2026-11-07T12:00:00Z"),
      rated(zone="roam_europe", band="weekend", billable_units=10**12, charge="1000000000.0000",
            unit_price="0.0010000000")))  # 0.000999999999999999 half-up

case("incoming calls",
     (voice(direction="MT", other_party="34911111111", duration_sec=300),
      rated(direction="MT", zone="incoming", billable_units=300, charge="0.0000")),
     (voice(direction="MT", visited_country="ES"), rated(zone="roam_europe", charge="7.0000")),
     (sms(direction="MT", other_party="33611111111"), rated(zone="incoming", price="0.50", charge="0.5000")))

case("rate precedence",
     (voice(), rated(zone="national_mobile", band="peak", price="1.20", charge="1.2000")),  # zone + band
     (voice(event_time="2026-11-02T21:00:00+01:00"), rated(price="0.60", charge="0.6000")),  # zone + "*"
     (voice(other_party="34911111111", event_time="2026-11-02T21:00:00+01:00"),
      rated(zone="europe", price="2.00", charge="2.0000")),  # "*" + band
     (voice(other_party="34911111111"), rated(zone="europe", price="3.00", charge="3.5000")))  # "*" + "*"

case("subscriber before activation, after termination, switched plan",
     (voice(msisdn=FROM_DEC, event_time="2026-11-15T12:00:00Z"),
      rejected(Reason.UNKNOWN_SUBSCRIBER, f"no subscriber {FROM_DEC} active on 2026-11-15", msisdn=FROM_DEC)),
     (voice(msisdn=UNTIL_DEC, event_time="2026-12-10T12:00:00Z"),
      rejected(Reason.UNKNOWN_SUBSCRIBER, f"no subscriber {UNTIL_DEC} active on 2026-12-10")),
     (voice(msisdn=UNTIL_DEC, event_time="2026-11-10T12:00:00Z"), rated(plan_id="HAND")),
     (voice(msisdn="212699999999"),
      rejected(Reason.UNKNOWN_SUBSCRIBER, "no subscriber 212699999999 active on 2026-11-02")),
     (voice(msisdn=SWITCHED, event_time="2026-05-31T22:59:59Z"), rated(plan_id="HAND")),  # May 31 local
     (voice(msisdn=SWITCHED, event_time="2026-05-31T23:00:00Z"), rated(plan_id="VOICE_ONLY", price="1.00")))

case("exact decimals",
     # 1 SMS at 0.049999 per 1000 = 0.000049999: once half-up to 4 places it is 0.0000; rounding to 6
     # places first (Spark's precision loss) would give 0.000050 and then 0.0001.
     (sms(other_party="33698765432"), rated(zone="france_mobile", unit_price="0.0000499990", charge="0.0000")),
     (sms(other_party="33611111111"), rated(zone="special", price="0.00025", charge="0.0003")),  # a tie: half-up
     (voice(other_party="34911111111", duration_sec=7, event_time="2026-11-02T21:00:00+01:00"),
      rated(charge="0.2333", unit_price="0.0333333333")),  # 7 * 2.00 / 60 = 0.2333..., rounded once
     (data(cell_id=DROP), rated(unit_price="0.0000000477", charge="0.0001", billable_units=2048)))

# Legacy ids: "L" + the first 31 hex digits of sha256 of the normalized content (RULES.md section 12).
LEGACY_KEY = "voice|2026-11-02T09:00:00.000000Z|212600000001|212611111111|61||LEGACY_ID|3G"
LEGACY_ID = "L" + hashlib.sha256(LEGACY_KEY.encode()).hexdigest()[:31]
case("legacy id derivation and mapping",
     (legacy_voice(cell_id="LEGACY_ID", duration_sec="61"),
      rated(cdr_id=LEGACY_ID, source_format="legacy", direction="MO", other_party="212611111111",
            visited_country=None)),
     # The same call written differently (national MSISDN, another offset, 61.0) is the same CDR.
     (legacy_voice(cell_id="LEGACY_ID", caller_id="0600000001", duration_sec=61.0,
                   timestamp="2026-11-02T10:00:00+01:00"), DUPLICATE),
     (legacy_data(cell_id="LEGACY_DATA"),
      rated(cdr_id="L" + hashlib.sha256(
          b"data|2026-11-02T09:00:00.000000Z|212600000001||524|7633633|LEGACY_DATA|3G").hexdigest()[:31],
            bytes_up=0, bytes_down=7633633, duration_sec=524, other_party=None, direction=None)),
     (legacy_data(data_volume_mb="0.000000476837158203125"), rated(bytes_down=1)),  # exactly half a byte
     (legacy_data(data_volume_mb="0.000000476837158203124999999999"),
      rejected(Reason.NON_POSITIVE_USAGE, "bytes must be positive")),  # just under: 0 bytes
     (legacy_data(data_volume_mb=" 1.5 "), rated(bytes_down=1572864)),
     ({"record_type": "sms", "timestamp": "2026-11-02T09:00:00Z", "sender_id": SUB, "receiver_id": "0611111111",
       "cell_id": "LEGACY_SMS"}, rated(other_party="212611111111", direction="MO", charge="0.5000")),
     (legacy_voice(timestamp="2027-01-01T00:00:00Z"),
      rejected(Reason.FUTURE_TIMESTAMP, "event_time more than 1 h after processing time", msisdn=SUB)))

case("duplicates",
     (voice(cdr_id="dup-1"), rated(duration_sec=60)),
     (voice(cdr_id="dup-1", duration_sec=999), DUPLICATE),  # a later copy, whatever its content
     (voice(cdr_id="dup-2", event_time="garbage"), rejected(Reason.INVALID_TIMESTAMP, "event_time: invalid timestamp")),
     (voice(cdr_id="dup-2"), rated(cdr_id="dup-2")),  # a rejected first copy does not count
     (voice(cdr_id="dup-3", msisdn=GHOST_PLAN), rejected(Reason.NO_RATE, "plan GHOST not in catalog hand-1")),
     (voice(cdr_id="dup-3", msisdn=GHOST_PLAN), DUPLICATE))

# Spark reads every field as text (RULES.md section 2, amended).
case("fields read as text",
     (voice(cdr_id=7001), rated(cdr_id="7001")),
     (voice(cdr_id={"b": [1, "é", "😀"]}), rated(cdr_id='{"b":[1,"é","\\uD83D\\uDE00"]}')),
     (voice(msisdn=int(SUB)), rated(msisdn=SUB)),
     (voice(msisdn=-int(SUB)), rated(msisdn=SUB)),  # "-212600000001": the "-" is cleaned away
     (voice(other_party=2126.11111111), rated(other_party="212611111111")),
     (voice(msisdn=212600000001.0), rejected(Reason.INVALID_MSISDN, "msisdn: invalid")),  # 2.12600000001E11
     (voice(cell_id=5, technology=4.5), rated(cell_id="5", technology="4.5")),
     (voice(cell_id=True, technology=1e30), rated(cell_id="true", technology="1.0E30")),
     (voice(visited_country=True), rated(visited_country="TRUE", roaming=True, zone="roam_world")),
     (voice(duration_sec=140.0), rated(duration_sec=140)),
     (voice(duration_sec="1.4e2"), rated(duration_sec=140)),
     (with_literal(voice(), "duration_sec", "1e-400"),  # read as "0.0"
      rejected(Reason.NON_POSITIVE_USAGE, "duration_sec must be positive")),
     (with_literal(voice(), "duration_sec", "1e400"),  # read as "Infinity", quotes included
      rejected(Reason.MISSING_FIELD, "duration_sec: not a number")),
     (with_literal(voice(), "duration_sec", "6E+1"), rated(duration_sec=60)),
     (with_literal(voice(), "duration_sec", "60.000000000000000001"), rated(duration_sec=60)),  # via a double
     (voice(cell_id="x\ud800y\udc00\ud800"), rated(cell_id="x?y??")),
     (raw(voice(cdr_id="h-trailing")) + b" trailing {broken", rated(cdr_id="h-trailing")),
     (raw(voice(cdr_id="h-twice"))[:-1] + b', "duration_sec": 120, "cell_id": "A", "cell_id": null}',
      rated(duration_sec=120, cell_id=None)))

case("numbers are exact",
     (voice(duration_sec="60.00000000001"), rejected(Reason.MISSING_FIELD, "duration_sec: not an integer")),
     (voice(duration_sec="1e-11"), rejected(Reason.MISSING_FIELD, "duration_sec: not an integer")),
     (voice(duration_sec="1e44"), rejected(Reason.USAGE_OUT_OF_RANGE, "duration_sec over 86400")),
     (voice(duration_sec="-1e400"), rejected(Reason.NON_POSITIVE_USAGE, "duration_sec must be positive")),
     (voice(duration_sec="86400.000000000000000000000"), rated(duration_sec=86400)),
     (data(bytes_up="7374182400", bytes_down="100000000000"), rated(quantity=107374182400)),
     (data(bytes_up="7374182401", bytes_down="1e11"), rejected(Reason.USAGE_OUT_OF_RANGE, "bytes over 107374182400")))

case("poison",
     (b"\xff\xfe{}", rejected(Reason.MALFORMED_JSON, "not UTF-8", raw=None, raw_base64="//57fQ==")),
     (b"", rejected(Reason.MALFORMED_JSON, "not a JSON object")),
     (b"[1, 2]", rejected(Reason.MALFORMED_JSON, "not a JSON object")),
     ("\ufeff" + json.dumps(voice()), rejected(Reason.MALFORMED_JSON, "not a JSON object")),
     (b"{'cdr_id': 'x', 'record_type': 'voice'}", rejected(Reason.MALFORMED_JSON, "not a JSON object")),
     (b'{"cdr_id": "x", "duration_sec": NaN}', rejected(Reason.MALFORMED_JSON, "not a JSON object")),
     (json.dumps(voice(cdr_id="h-deep999"))[:-1] + ', "x": ' + "[" * 999 + "]" * 999 + "}", rated()),
     (json.dumps(voice())[:-1] + ', "x": ' + "[" * 1000 + "]" * 1000 + "}",
      rejected(Reason.MALFORMED_JSON, "not a JSON object")),
     (json.dumps(voice())[:-1] + ', "x": 1' + "0" * 1000 + "}", rejected(Reason.MALFORMED_JSON, "not a JSON object")),
     (json.dumps(voice())[:-1] + ', "' + "k" * 50_001 + '": 1}', rejected(Reason.MALFORMED_JSON, "not a JSON object")),
     (b'{"cdr_id": "h-c", "_corrupt": "x", "record_type": "fax"}',
      rejected(Reason.UNKNOWN_RECORD_TYPE, "record_type is not voice, sms or data", cdr_id="h-c", msisdn=None)))

# Every reason code, each with the exact detail RULES.md prescribes.
case("every reason code",
     (b"\xc3\x28", rejected(Reason.MALFORMED_JSON, "not UTF-8")),
     (b"{not json", rejected(Reason.MALFORMED_JSON, "not a JSON object")),
     ({"record_type": "voice", "msisdn": SUB}, rejected(Reason.UNKNOWN_FORMAT, "neither canonical nor legacy")),
     ({"cdr_id": None, "timestamp": None}, rejected(Reason.UNKNOWN_FORMAT, "neither canonical nor legacy")),
     (voice(record_type="mms"), rejected(Reason.UNKNOWN_RECORD_TYPE, "record_type is not voice, sms or data")),
     (voice(record_type=DROP), rejected(Reason.MISSING_FIELD, "record_type: absent")),
     (voice(cdr_id=""), rejected(Reason.MISSING_FIELD, "cdr_id: not a non-empty string")),
     (voice(duration_sec=DROP), rejected(Reason.MISSING_FIELD, "duration_sec: absent", msisdn=SUB)),
     (voice(direction="mo"), rejected(Reason.MISSING_FIELD, "direction: not MO or MT")),
     (voice(duration_sec="NOT_A_NUMBER"), rejected(Reason.MISSING_FIELD, "duration_sec: not a number")),
     (voice(duration_sec="140.5"), rejected(Reason.MISSING_FIELD, "duration_sec: not an integer")),
     (legacy_data(session_duration_sec=DROP), rejected(Reason.MISSING_FIELD, "session_duration_sec: absent")),
     (voice(msisdn="invalid_phone"), rejected(Reason.INVALID_MSISDN, "msisdn: invalid", msisdn=None)),
     (legacy_voice(callee_id="12"), rejected(Reason.INVALID_MSISDN, "callee_id: invalid", msisdn=SUB)),
     (voice(event_time="2026-11-02T10:00:00"), rejected(Reason.INVALID_TIMESTAMP, "event_time: invalid timestamp")),
     (legacy_voice(timestamp="2026-02-30T10:00:00Z"),
      rejected(Reason.INVALID_TIMESTAMP, "timestamp: invalid timestamp")),
     (voice(duration_sec=0), rejected(Reason.NON_POSITIVE_USAGE, "duration_sec must be positive")),
     (legacy_data(data_volume_mb=-1.5), rejected(Reason.NON_POSITIVE_USAGE, "bytes must be positive")),
     (legacy_data(session_duration_sec=-1),
      rejected(Reason.NON_POSITIVE_USAGE, "session_duration_sec must not be negative")),
     (voice(duration_sec=86401), rejected(Reason.USAGE_OUT_OF_RANGE, "duration_sec over 86400")),
     (legacy_data(data_volume_mb=102401), rejected(Reason.USAGE_OUT_OF_RANGE, "bytes over 107374182400")),
     (legacy_data(session_duration_sec=86401),
      rejected(Reason.USAGE_OUT_OF_RANGE, "session_duration_sec over 86400")),
     (voice(event_time="2026-12-15T01:00:00Z"), rated()),  # exactly now + 1 h is not in the future
     (voice(event_time="2026-12-15T01:00:00.000001Z"),
      rejected(Reason.FUTURE_TIMESTAMP, "event_time more than 1 h after processing time")),
     (voice(msisdn="212699999999"),
      rejected(Reason.UNKNOWN_SUBSCRIBER, "no subscriber 212699999999 active on 2026-11-02", msisdn="212699999999")),
     (voice(msisdn=GHOST_PLAN), rejected(Reason.NO_RATE, "plan GHOST not in catalog hand-1")),
     (sms(msisdn=VOICE_ONLY), rejected(Reason.NO_RATE, "no rate in plan VOICE_ONLY for sms/national_mobile/peak")),
     # Partial records (DESIGN.md 7c): a one-part session, then a part of it after it closed.
     (voice(session_id="every-S", sequence=1, partial="last"), rated(cdr_id="every-S", partials=1)),
     (voice(session_id="every-S", sequence=2, partial="intermediate"),
      rejected(Reason.LATE_PARTIAL, "session closed as every-S (complete)")),
     (voice(session_id="every-T", sequence=0, partial="last"), rejected(Reason.INVALID_PARTIAL, "sequence: below 1")))


@pytest.fixture(scope="module")
def hand_run(spark: Any, tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[list[bytes], Outcome, Outcome]]:
    """Every hand-written record through the reference and through Spark, in one job."""
    catalog = catalog_from(HAND_CATALOG, tmp_path_factory.mktemp("hand-catalog"))
    payloads = [r for c in CASES for r in c.records]
    yield (payloads, reference_outcome(payloads, catalog, HAND_SUBSCRIBERS, NOW),
           spark_outcome(spark, payloads, catalog, HAND_SUBSCRIBERS, NOW))


def _offsets() -> dict[str, range]:
    out, start = {}, 0
    for c in CASES:
        out[c.name] = range(start, start + len(c.records))
        start += len(c.records)
    return out


def _matches(outcome: tuple[str, dict[str, Any] | None], expected: Rated | Rejected | str) -> bool:
    kind, record = outcome
    if expected == DUPLICATE:
        return kind == "duplicate"
    if isinstance(expected, Rated):
        return kind == "rated" and record is not None and all(record.get(k) == v for k, v in expected.fields.items())
    assert isinstance(expected, Rejected)
    return (kind == "rejected" and record is not None and (record["reason"], record["detail"]) == (
        expected.reason, expected.detail) and all(record.get(k) == v for k, v in expected.extra.items()))


@pytest.mark.parametrize("name", [c.name for c in CASES])
def test_hand_written_case(hand_run: tuple[list[bytes], Outcome, Outcome], name: str) -> None:
    payloads, reference, actual = hand_run
    case_ = next(c for c in CASES if c.name == name)
    for offset, expected in zip(_offsets()[name], case_.expected, strict=True):
        got = actual.by_offset[offset]
        assert got == reference.by_offset[offset], f"Spark differs from the reference on {payloads[offset][:300]!r}"
        assert _matches(got, expected), f"{payloads[offset][:300]!r}: expected {expected}, got {got}"


def test_hand_cases_cover_every_reason_code() -> None:
    reasons = {e.reason for c in CASES for e in c.expected if isinstance(e, Rejected)}
    assert reasons == {str(r) for r in Reason}


def test_hand_written_rejections_carry_source_and_raw(hand_run: tuple[list[bytes], Outcome, Outcome]) -> None:
    payloads, _, actual = hand_run
    for offset, (kind, record) in actual.by_offset.items():
        if kind != "rejected":
            continue
        assert record is not None and record["source"] == {"topic": None, "partition": None, "offset": offset}
        try:
            text = payloads[offset].decode("utf-8")
        except UnicodeDecodeError:
            assert record["raw"] is None and record["raw_base64"] is not None
        else:
            assert (record["raw"], record["raw_base64"]) == (text, None)
