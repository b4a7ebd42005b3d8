"""An independent, pure-Python reference of the usage monitor (bill-shock alerts), written from the
spec alone: DESIGN.md section 7d and docs/BILLING.md section 12 (with sections 1, 4, 5 and 9).

It shares no logic with `telecom_billing` (no billing, money or monitor code: only the typed
catalog), never imports pyspark, and works in exact rationals (`fractions.Fraction`), so no
intermediate rounding can hide a bug in the product. The monitor is simulated as a plain loop over
its micro-batches, one record at a time in arrival order.

Where section 12 leaves a point open, this reference reads it as follows (each is a choice):

* *Readable*: the fields section 12 lists must be present with these types: `cdr_id`, `msisdn`,
  `zone` non-empty strings; `record_type` one of voice, sms, data; `plan_id` a plan of the catalog;
  `event_time` an ISO-8601 timestamp *with* an offset; `billable_units` an int >= 0; `per` an int
  from 1 to 10^12; `price` and `charge` decimal strings >= 0, the price with at most 6 places
  (by value) below 10^12 (billing's section 8). `connect_fee` absent or null is 0 (section 2);
  present, it must read like a price. Anything else is `unreadable`.
* The watermark is taken over every record of the earlier micro-batches whose `event_time` reads as
  a time, readable or not (BILLING.md section 12: Spark's watermark sees every row).
* A record is judged in this order: unreadable, late (its period's cut-off <= the watermark),
  duplicate (its `cdr_id` already counted in its (msisdn, period)), counted.
* After every counted CDR, every allowance of the CDR's plan, the plan's spending cap and the
  catalog's roaming data cap are checked (not only what the CDR changed).
* Allowance use is kept per (plan, allowance) (a mid-period plan change counts them apart); the
  alert key is (msisdn, period, kind, name, percent) as written, so a same-named allowance of
  another plan is not alerted again at a percentage already alerted.
* A cap's `limit` is written half-up to 2 places (a catalog amount may have up to 6); the crossing
  test uses the exact amount.
* `emitted_at` is the CDR's `rated_at` as given (None when absent: `rated_at` is not a field the
  monitor needs to count a CDR).
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal, InvalidOperation
from fractions import Fraction
from typing import Any
from zoneinfo import ZoneInfo

from telecom_billing.refdata.catalog import Cap, Catalog, Plan

SCHEMA_VERSION = "1.0"  # schema `alert` 1.0
UNITS = {"voice": "seconds", "sms": "messages", "data": "bytes"}
MAX_PER = 10**12
MAX_MONEY = Decimal(10) ** 12
_DECIMAL_TEXT = re.compile(r"[+-]?([0-9]+(\.[0-9]*)?|\.[0-9]+)")


@dataclass
class Monitor:
    """What the monitor wrote (alerts as JSON-ready dicts, in write order) and its progress counts."""

    alerts: list[dict[str, Any]] = field(default_factory=list)
    counted: int = 0
    duplicates: int = 0
    late: int = 0
    unreadable: int = 0


@dataclass
class _State:
    """One (msisdn, period)."""

    ids: set[str] = field(default_factory=set)
    drawn: dict[tuple[str, str], int] = field(default_factory=dict)  # (plan_id, allowance name) -> units
    lines: dict[tuple[str, str], Fraction] = field(default_factory=dict)  # (service, zone) -> billed sum
    roaming: dict[str, Fraction] = field(default_factory=dict)  # roaming zone -> charges of data CDRs
    alerted: set[tuple[str, str, int]] = field(default_factory=set)  # (kind, name, percent)


@dataclass(frozen=True)
class _Cdr:
    source: Mapping[str, Any]
    cdr_id: str
    msisdn: str
    instant: datetime
    service: str
    zone: str
    plan: Plan
    billable: int
    price: Fraction
    per: int
    connect_fee: Fraction
    charge: Fraction


def half_up(value: Fraction, places: int) -> Fraction:
    """`value` (>= 0) rounded half-up to `places` decimals."""
    scale = 10**places
    return Fraction((value * scale * 2 + 1) // 2, scale)


def text(value: Fraction, places: int) -> str:
    """A rational with at most `places` decimals as a string with exactly `places` of them."""
    scaled = value * 10**places
    assert scaled.denominator == 1
    return f"{Decimal(scaled.numerator).scaleb(-places):.{places}f}"


def alert_id(msisdn: str, period: str, kind: str, name: str, percent: int) -> str:
    digest = hashlib.sha256(f"{msisdn}|{period}|{kind}|{name}|{percent}".encode()).hexdigest()
    return "ALR-" + digest[:20].upper()


def period_of(instant: datetime, zone: ZoneInfo) -> str:
    """The calendar month (`YYYY-MM`) of the instant's local date in the catalog's zone."""
    return instant.astimezone(zone).strftime("%Y-%m")


def start_of_day(day: date, zone: ZoneInfo) -> datetime:
    """The first instant (UTC) of the local day `day`: local midnight, or the end of a DST gap over it."""
    found = []
    for fold in (0, 1):
        instant = datetime.combine(day, time(0), tzinfo=zone).replace(fold=fold).astimezone(UTC)
        # A skipped midnight maps (fold 0) to the end of the gap; fold 1 may land on the day before.
        if instant.astimezone(zone).date() == day:
            found.append(instant)
    return min(found)


def cutoff(period: str, catalog: Catalog) -> datetime:
    """Start of the local day `grace_days` after the first day of the month after `period`."""
    year, month = int(period[:4]), int(period[5:7])
    after = date(year + month // 12, month % 12 + 1, 1)
    return start_of_day(after + timedelta(days=catalog.grace_days), ZoneInfo(catalog.timezone))


def _instant(value: Any) -> datetime | None:
    if not isinstance(value, str):
        return None
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        return None
    return parsed.astimezone(UTC) if parsed.tzinfo is not None else None


def _decimal(value: Any, catalog_money: bool) -> Fraction | None:
    """A non-negative decimal string; catalog money also has at most 6 places and is below 10^12."""
    if not isinstance(value, str) or not _DECIMAL_TEXT.fullmatch(value):
        return None
    try:
        number = Decimal(value)
    except InvalidOperation:
        return None
    if number < 0:
        return None
    if catalog_money and (number >= MAX_MONEY or number != number.quantize(Decimal("0.000001"))):
        return None
    return Fraction(number)


def _int(value: Any, low: int, high: int | None = None) -> int | None:
    if isinstance(value, bool) or not isinstance(value, int) or value < low or (high is not None and value > high):
        return None
    return value


def _name(value: Any) -> str | None:
    return value if isinstance(value, str) and value != "" else None


def read(record: Any, catalog: Catalog) -> _Cdr | None:
    """The fields the monitor needs, or None when the record is unreadable."""
    if not isinstance(record, Mapping):
        return None
    plan_id = record.get("plan_id")
    plan = catalog.plans.get(plan_id) if isinstance(plan_id, str) else None
    service = record.get("record_type")
    fee_text = record.get("connect_fee")
    cdr_id, msisdn, zone = _name(record.get("cdr_id")), _name(record.get("msisdn")), _name(record.get("zone"))
    instant = _instant(record.get("event_time"))
    billable = _int(record.get("billable_units"), 0)
    per = _int(record.get("per"), 1, MAX_PER)
    price = _decimal(record.get("price"), catalog_money=True)
    connect_fee = Fraction(0) if fee_text is None else _decimal(fee_text, catalog_money=True)
    charge = _decimal(record.get("charge"), catalog_money=False)
    if (cdr_id is None or msisdn is None or zone is None or instant is None or service not in UNITS
            or plan is None or billable is None or per is None or price is None or connect_fee is None
            or charge is None):
        return None
    return _Cdr(source=record, cdr_id=cdr_id, msisdn=msisdn, instant=instant, service=service, zone=zone,
                plan=plan, billable=billable, price=price, per=per, connect_fee=connect_fee, charge=charge)


def billed_amount(cdr: _Cdr, included: int, places: int) -> Fraction:
    """Billing's amount (section 4): the rated charge when nothing is included, else the formula."""
    if included == 0:
        return cdr.charge
    return half_up(cdr.connect_fee + (cdr.billable - included) * cdr.price / cdr.per, places)


def _measure(cdr: _Cdr, state: _State, catalog: Catalog) -> None:
    """Count one CDR into its (msisdn, period) state: allowance, usage line, roaming charges."""
    included = 0
    for allowance in cdr.plan.allowances:
        key = (cdr.plan.id, allowance.name)
        remaining = allowance.quantity - state.drawn.get(key, 0)
        if allowance.service == cdr.service and cdr.zone in allowance.zones and remaining > 0:
            included = min(remaining, cdr.billable)
            state.drawn[key] = state.drawn.get(key, 0) + included
            break
    line = (cdr.service, cdr.zone)
    state.lines[line] = state.lines.get(line, Fraction(0)) + billed_amount(cdr, included, catalog.rounding_decimals)
    if cdr.service == "data" and cdr.zone in catalog.roaming_zones:
        state.roaming[cdr.zone] = state.roaming.get(cdr.zone, Fraction(0)) + cdr.charge


def _due(cdr: _Cdr, state: _State, catalog: Catalog) -> list[tuple[str, str, int, str, str, str]]:
    """Every alert due after the CDR, in write order: (kind, name, percent, used, limit, unit)."""
    checks: list[tuple[str, str, tuple[int, ...], Fraction, Fraction, str, str, str]] = []
    for allowance in cdr.plan.allowances:
        drawn = state.drawn.get((cdr.plan.id, allowance.name), 0)
        checks.append(("allowance", allowance.name, cdr.plan.allowance_alerts, Fraction(drawn),
                       Fraction(allowance.quantity), str(drawn), str(allowance.quantity), UNITS[allowance.service]))
    caps: list[tuple[str, Cap, Fraction]] = []
    if cdr.plan.spending_cap is not None:
        spent = sum((half_up(s, 2) for s in state.lines.values()), Fraction(0))
        caps.append(("spending_cap", cdr.plan.spending_cap, spent))
    if catalog.roaming_data_cap is not None:
        roamed = sum((half_up(s, 2) for s in state.roaming.values()), Fraction(0))
        caps.append(("roaming_data_cap", catalog.roaming_data_cap, roamed))
    for kind, cap, amount in caps:
        limit = Fraction(cap.amount)
        checks.append((kind, kind, cap.alerts, amount, limit, text(amount, 2), text(half_up(limit, 2), 2),
                       catalog.currency))
    due = []
    for kind, name, percents, used, limit, used_text, limit_text, unit in checks:
        for percent in sorted(percents):
            if 100 * used >= percent * limit and (kind, name, percent) not in state.alerted:
                state.alerted.add((kind, name, percent))
                due.append((kind, name, percent, used_text, limit_text, unit))
    return due


def alerts(catalog: Catalog, batches: Sequence[Sequence[Mapping[str, Any]]]) -> Monitor:
    """Run the monitor over its micro-batches (rated CDRs as decoded JSON, in arrival order)."""
    zone = ZoneInfo(catalog.timezone)
    result = Monitor()
    states: dict[tuple[str, str], _State] = {}
    cutoffs: dict[str, datetime] = {}
    watermark: datetime | None = None
    for batch in batches:
        greatest = watermark
        for record in batch:
            instant = _instant(record.get("event_time")) if isinstance(record, Mapping) else None
            if instant is not None:
                greatest = instant if greatest is None else max(greatest, instant)
            cdr = read(record, catalog)
            if cdr is None:
                result.unreadable += 1
                continue
            period = period_of(cdr.instant, zone)
            if period not in cutoffs:
                cutoffs[period] = cutoff(period, catalog)
            if watermark is not None and cutoffs[period] <= watermark:
                result.late += 1
                states.pop((cdr.msisdn, period), None)  # a final period's state is dropped
                continue
            state = states.setdefault((cdr.msisdn, period), _State())
            if cdr.cdr_id in state.ids:
                result.duplicates += 1
                continue
            state.ids.add(cdr.cdr_id)
            result.counted += 1
            _measure(cdr, state, catalog)
            for kind, name, percent, used, limit, unit in _due(cdr, state, catalog):
                result.alerts.append({
                    "schema_version": SCHEMA_VERSION,
                    "alert_id": alert_id(cdr.msisdn, period, kind, name, percent),
                    "msisdn": cdr.msisdn,
                    "period": period,
                    "kind": kind,
                    "name": name,
                    "percent": percent,
                    "used": used,
                    "limit": limit,
                    "unit": unit,
                    "triggered_by": cdr.cdr_id,
                    "event_time": cdr.source["event_time"],
                    "emitted_at": cdr.source.get("rated_at"),
                })
        watermark = greatest
    return result
