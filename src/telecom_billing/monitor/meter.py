"""What billing would have consumed and charged so far, per subscriber and period, in arrival order,
and the alerts that makes due (DESIGN.md 7d, docs/BILLING.md section 12).

Plain Python over one subscriber's rated CDRs; `monitor/stream.py` runs it in Spark, keyed by MSISDN.
The rules are billing's, from the same code: which allowance a CDR draws from is
`billing.charges.Allowances` (the lookup billing's running sums use), a billed amount is
`money.charge`, a line amount is rounded like an invoice line. Only the order differs: billing
sorts a finished period by `(event_time, cdr_id)`, the monitor takes CDRs as they arrive.
"""

from __future__ import annotations

import functools
import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from typing import Any
from zoneinfo import ZoneInfo

from .. import money
from ..billing.charges import Allowances
from ..billing.live import cutoff
from ..billing.period import Period
from ..contracts import schemas
from ..contracts.limits import MAX_UNITS, MONEY_SCALE
from ..contracts.records import PYTHON_TIME_FORMAT
from ..refdata.catalog import Cap, Catalog

ALLOWANCE, SPENDING_CAP, ROAMING_DATA_CAP = "allowance", "spending_cap", "roaming_data_cap"
ALERT_KINDS = (ALLOWANCE, SPENDING_CAP, ROAMING_DATA_CAP)
UNITS = {"voice": "seconds", "sms": "messages", "data": "bytes"}  # an allowance's quantity (DESIGN.md 5)
# The keys of an alert on `subscriber.alerts`, in this order.
ALERT_FIELDS = ("schema_version", "alert_id", "msisdn", "period", "kind", "name", "percent", "used", "limit", "unit",
                "triggered_by", "event_time", "emitted_at")
_CENT = Decimal("0.01")


@dataclass(frozen=True)
class Usage:
    """The fields of a rated CDR the monitor reads, typed."""

    cdr_id: str
    instant: datetime  # its event_time
    msisdn: str
    service: str
    zone: str
    plan_id: str
    billable_units: int
    price: Decimal
    per: int
    connect_fee: Decimal
    charge: Decimal
    rated_at: str | None


def read_usage(record: Mapping[str, Any], catalog: Catalog) -> Usage | None:
    """A rated CDR (its JSON fields) as `Usage`; None when a field billing needs is unreadable or its
    plan is not in the catalog."""
    try:
        usage = Usage(
            cdr_id=_text(record["cdr_id"]), instant=_instant(_text(record["event_time"])),
            msisdn=_text(record["msisdn"]), service=_text(record["record_type"]), zone=_text(record["zone"]),
            plan_id=_text(record["plan_id"]), billable_units=int(record["billable_units"]),
            price=Decimal(_text(record["price"])), per=int(record["per"]),
            connect_fee=Decimal(_text(record.get("connect_fee") or "0")), charge=Decimal(_text(record["charge"])),
            rated_at=record.get("rated_at"))
    except (KeyError, TypeError, ValueError, InvalidOperation):
        return None
    readable = (usage.plan_id in catalog.plans and usage.service in UNITS and usage.billable_units >= 0
                and 0 < usage.per <= MAX_UNITS and _catalog_money(usage.price) and _catalog_money(usage.connect_fee)
                and usage.charge.is_finite() and usage.charge >= 0)
    return usage if readable else None


def _instant(text: str) -> datetime:
    instant = datetime.fromisoformat(text)
    if instant.tzinfo is None:
        raise ValueError("no UTC offset")
    return instant.astimezone(UTC)


def _catalog_money(value: Decimal) -> bool:
    """What billing accepts as a rated CDR's price or fee (BILLING.md section 2): catalog money."""
    return value.is_finite() and value >= 0 and value == round(value, MONEY_SCALE)


def _text(value: Any) -> str:
    if not isinstance(value, str) or not value:
        raise ValueError("not a string")
    return value


class Lines:
    """Amounts per invoice line (`service|zone`, or a zone) and their total as an invoice adds them:
    each line rounded half-up to cents. The total is kept as lines grow: no sum over the lines per CDR."""

    def __init__(self, amounts: dict[str, Decimal] | None = None) -> None:
        self.amounts = amounts or {}
        self.total = sum((_cents(a) for a in self.amounts.values()), Decimal(0))

    def add(self, line: str, amount: Decimal) -> None:
        before = self.amounts.get(line, Decimal(0))
        self.amounts[line] = before + amount
        self.total += _cents(before + amount) - _cents(before)

    def to_json(self) -> dict[str, str]:
        return {k: str(v) for k, v in self.amounts.items()}

    @classmethod
    def from_json(cls, data: dict[str, str]) -> Lines:
        return cls({k: Decimal(v) for k, v in data.items()})


@dataclass
class PeriodMeter:
    """One subscriber's period: the `cdr_id`s counted, the units drawn per allowance (by its id in
    `Allowances`), the billed amounts per `service|zone`, the roaming data charges per zone, and the
    alerts written (`kind|name|percent`)."""

    counted: set[str] = field(default_factory=set)
    drawn: dict[int, int] = field(default_factory=dict)
    spent: Lines = field(default_factory=Lines)
    roamed: Lines = field(default_factory=Lines)
    alerted: set[str] = field(default_factory=set)

    def to_json(self) -> dict[str, Any]:
        return {"counted": sorted(self.counted), "drawn": {str(k): v for k, v in self.drawn.items()},
                "spent": self.spent.to_json(), "roamed": self.roamed.to_json(), "alerted": sorted(self.alerted)}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> PeriodMeter:
        return cls(set(data["counted"]), {int(k): v for k, v in data["drawn"].items()},
                   Lines.from_json(data["spent"]), Lines.from_json(data["roamed"]), set(data["alerted"]))


@dataclass
class Tally:
    """What the monitor did with the rated CDRs it read."""

    counted: int = 0
    duplicates: int = 0
    late: int = 0
    unreadable: int = 0


class AlertRules:
    """The catalog's allowances and caps, and the rules that meter one CDR into a period."""

    def __init__(self, catalog: Catalog) -> None:
        self.catalog = catalog
        self.allowances = Allowances.of(catalog)
        self.roaming_zones = frozenset(catalog.roaming_zones)
        self.zone = ZoneInfo(catalog.timezone)

    def period(self, usage: Usage) -> Period:
        local = usage.instant.astimezone(self.zone)
        return Period(local.year, local.month)

    def is_final(self, period: Period, watermark: datetime | None) -> bool:
        return watermark is not None and watermark >= self._cutoff(period)

    @functools.lru_cache(maxsize=64)  # noqa: B019 -- one AlertRules per job: a few periods, computed once
    def _cutoff(self, period: Period) -> datetime:
        return cutoff(period, self.catalog)

    def meter(self, meter: PeriodMeter, usage: Usage, period: Period) -> list[dict[str, Any]]:
        """Count `usage` (a CDR its period has not counted yet) into the period's `meter`; the alerts it
        makes due, in BILLING.md's order."""
        included = self._draw(meter, usage)
        billed = usage.charge if included == 0 else money.charge(
            usage.connect_fee, usage.billable_units - included, usage.price, usage.per, self.catalog.rounding_decimals)
        line = f"{usage.service}|{usage.zone}"
        meter.spent.add(line, billed)
        if usage.service == "data" and usage.zone in self.roaming_zones:
            meter.roamed.add(usage.zone, usage.charge)
        meter.counted.add(usage.cdr_id)
        return [self._alert(usage, period, *due) for due in self._due(meter, usage)]

    def _draw(self, meter: PeriodMeter, usage: Usage) -> int:
        """Billing's step 2: the first allowance of the plan matching the CDR with quantity left."""
        candidates = self.allowances.candidates.get(usage.plan_id, {}).get(usage.service, {}).get(usage.zone, ())
        for allowance in candidates:
            remaining = self.allowances.quantities[allowance] - meter.drawn.get(allowance, 0)
            if remaining > 0:
                included = min(remaining, usage.billable_units)
                meter.drawn[allowance] = meter.drawn.get(allowance, 0) + included
                return included
        return 0

    def _due(self, meter: PeriodMeter, usage: Usage) -> list[tuple[str, str, int, str, str, str]]:
        """(kind, name, percent, used, limit, unit) of every threshold reached and not alerted yet."""
        due = []
        for kind, name, percents, used, limit, unit in self._measures(meter, usage.plan_id):
            for percent in percents:
                key = f"{kind}|{name}|{percent}"
                if key not in meter.alerted and 100 * used >= percent * limit:
                    meter.alerted.add(key)
                    due.append((kind, name, percent, _plain(used, kind), _plain(limit, kind), unit))
        return due

    def _measures(self, meter: PeriodMeter, plan_id: str) -> list[tuple[str, str, tuple[int, ...], Decimal, Decimal, str]]:
        """(kind, name, percentages, used, limit, unit) of what is measured, in the order alerts are
        written: the plan's allowances, its spending cap, the roaming data cap."""
        plan = self.catalog.plans[plan_id]
        measures = [(ALLOWANCE, spec.name, plan.allowance_alerts, Decimal(meter.drawn.get(allowance, 0)),
                     Decimal(spec.quantity), UNITS[spec.service])
                    for allowance, spec in zip(self.allowances.of_plan[plan_id], plan.allowances, strict=True)]
        caps: tuple[tuple[str, Cap | None, Lines], ...] = (
            (SPENDING_CAP, plan.spending_cap, meter.spent), (ROAMING_DATA_CAP, self.catalog.roaming_data_cap, meter.roamed))
        measures += [(kind, kind, cap.alerts, lines.total, cap.amount, self.catalog.currency)
                     for kind, cap, lines in caps if cap is not None]
        return measures

    def _alert(self, usage: Usage, period: Period, kind: str, name: str, percent: int, used: str, limit: str,
               unit: str) -> dict[str, Any]:
        return dict(zip(ALERT_FIELDS, (
            schemas.ALERT, alert_id(usage.msisdn, period.label, kind, name, percent), usage.msisdn, period.label,
            kind, name, percent, used, limit, unit, usage.cdr_id, usage.instant.strftime(PYTHON_TIME_FORMAT), usage.rated_at),
            strict=True))


def alert_id(msisdn: str, period: str, kind: str, name: str, percent: int) -> str:
    """`ALR-` and 20 hex digits of SHA-256: the same alert always has the same id."""
    digest = hashlib.sha256(f"{msisdn}|{period}|{kind}|{name}|{percent}".encode()).hexdigest()
    return f"ALR-{digest[:20].upper()}"


def _cents(amount: Decimal) -> Decimal:
    """An invoice line's amount: half-up to cents (BILLING.md section 5)."""
    return amount.quantize(_CENT, rounding=ROUND_HALF_UP)


def _plain(value: Decimal, kind: str) -> str:
    return str(int(value)) if kind == ALLOWANCE else money.plain(value, 2)


class SubscriberMeter:
    """One subscriber's open periods (state kept by the Spark job as JSON), metered CDR by CDR."""

    def __init__(self, rules: AlertRules, periods: dict[str, PeriodMeter]) -> None:
        self.rules = rules
        self.periods = periods

    @classmethod
    def load(cls, rules: AlertRules, state: str | None) -> SubscriberMeter:
        periods = json.loads(state) if state else {}
        return cls(rules, {label: PeriodMeter.from_json(data) for label, data in periods.items()})

    def save(self) -> str:
        return json.dumps({label: meter.to_json() for label, meter in sorted(self.periods.items())},
                          separators=(",", ":"))

    def receive(self, record: Mapping[str, Any], watermark: datetime | None, tally: Tally) -> list[dict[str, Any]]:
        """Meter one rated CDR (its JSON fields); the alerts it makes due."""
        usage = read_usage(record, self.rules.catalog)
        if usage is None:
            tally.unreadable += 1
            return []
        period = self.rules.period(usage)
        if self.rules.is_final(period, watermark):
            tally.late += 1
            return []
        meter = self.periods.setdefault(period.label, PeriodMeter())
        if usage.cdr_id in meter.counted:
            tally.duplicates += 1
            return []
        tally.counted += 1
        return self.rules.meter(meter, usage, period)

    def forget_final(self, watermark: datetime | None) -> None:
        """Drop the periods that are final: nothing counts in them any more."""
        self.periods = {label: meter for label, meter in self.periods.items()
                        if not self.rules.is_final(Period.parse(label), watermark)}
