"""An independent, pure-Python reference of billing, written from DESIGN.md section 7 and docs/BILLING.md.

The Spark billing job is property-tested against it. It shares no billing logic with
`telecom_billing` (only the typed catalog and subscribers), never imports pyspark, and works in
exact rationals (`fractions.Fraction`) so no intermediate rounding can hide a Spark decimal bug.
Allowances are consumed by a plain sequential simulation, not the level-by-level running sums
the Spark job uses.
"""

from __future__ import annotations

import calendar
import hashlib
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from decimal import Decimal
from fractions import Fraction
from typing import Any
from zoneinfo import ZoneInfo

from telecom_billing.contracts import schemas
from telecom_billing.refdata.catalog import Catalog
from telecom_billing.refdata.subscribers import Subscriber

from .rating import active_on


@dataclass
class Billing:
    """The invoices of a period (JSON-ready dicts, in file order) and what could not be billed."""

    invoices: list[dict[str, Any]] = field(default_factory=list)
    duplicates: int = 0
    unbilled: list[tuple[str, str]] = field(default_factory=list)  # (cdr_id, reason)
    rated_charges: Fraction = Fraction(0)
    billed_amounts: Fraction = Fraction(0)
    # Late CDRs (DESIGN.md 7a): billed, duplicates (a copy of a billed or of another late cdr_id), no subscriber
    late_billed: int = 0
    late_duplicates: int = 0
    late_unbilled: list[tuple[str, str]] = field(default_factory=list)  # (cdr_id, reason)
    late_amounts: Fraction = Fraction(0)


@dataclass(frozen=True)
class Late:
    """What a final run of a period needs to find late CDRs (DESIGN.md section 7a).

    `cdrs`: rated CDRs as read from `cdr.rated`, each with its Kafka `partition` and `offset` (any
    period; only late ones are used). `finals`: the final periods already written (`YYYY-MM`), each
    with the `cdr.rated` offsets its run took in (partition -> first offset beyond its snapshot).
    `billed`: the `cdr_id`s those final periods billed.
    """

    cdrs: Sequence[Mapping[str, Any]]
    finals: Mapping[str, Mapping[int, int]]
    billed: Collection[str] = ()

    def taken_in(self) -> dict[int, int]:
        """Per partition, the highest offset any final run took in (a missing partition: 0)."""
        high: dict[int, int] = {}
        for offsets in self.finals.values():
            for partition, after in offsets.items():
                high[partition] = max(high.get(partition, 0), after)
        return high


def half_up(value: Fraction, places: int) -> Decimal:
    """`value` (>= 0) rounded half-up to `places` decimals, as an exact Decimal."""
    scale = 10**places
    units = (value * scale * 2 + 1) // 2
    return Decimal(units).scaleb(-places)


def money(value: Decimal) -> str:
    return f"{value:.2f}"


def invoice_number(period: str, subscriber: Subscriber) -> str:
    digest = hashlib.sha256(f"{subscriber.msisdn}|{subscriber.activation_date.isoformat()}".encode()).hexdigest()
    return f"INV-{period.replace('-', '')}-{digest[:10].upper()}"


def _event_time(text: str) -> datetime:
    return datetime.strptime(text, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=UTC)


def _owner(people: Sequence[Subscriber], msisdn: str, local_day: date) -> int | None:
    return next((i for i, s in enumerate(people) if s.msisdn == msisdn and active_on(s, local_day)), None)


def _no_parts() -> dict[str, int]:
    """An invoice line's counts of assembled CDRs (DESIGN.md 7c), none yet."""
    return {"assembled_cdrs": 0, "incomplete_cdrs": 0}


def _count_parts(line: dict[str, Any], cdr: Mapping[str, Any]) -> None:
    if cdr.get("partials") is not None:
        line["assembled_cdrs"] += 1
        line["incomplete_cdrs"] += cdr.get("incomplete") is True


def _parts_of(line: Mapping[str, Any]) -> dict[str, int]:
    return {"assembled_cdrs": line["assembled_cdrs"], "incomplete_cdrs": line["incomplete_cdrs"]}


def bill_period(rated: Iterable[Mapping[str, Any]], catalog: Catalog, subscribers: Iterable[Subscriber],
                period: str, late: Late | None = None, status: str = "final") -> Billing:
    """Bill one calendar month (`YYYY-MM`, local to the catalog's time zone); every invoice carries
    `status` (`final` or `draft`).

    Late CDRs (DESIGN.md 7a), with `late`: a rated CDR of `late.cdrs` is late when its local month
    (catalog time zone) is one of `late.finals` earlier than `period`, and its offset is at or beyond
    the highest offset any final took in on its partition (a partition no final read: 0). A late CDR
    whose `cdr_id` is in `late.billed` is a duplicate; among late copies of one `cdr_id` the first by
    (`rated_at`, `partition`, `offset`) is billed, the others are duplicates. A billed late CDR goes to
    the subscriber active on its local event date (none: unbilled) at its rated `charge` (no allowance
    applies). Per (subscriber, origin period, service, zone) one `late_usage` line: quantity, billable
    units, 0 included, the charges' sum rounded half-up to 2 places, the CDR count, and
    `origin_period`; late lines follow the usage lines, sorted by (origin period, service, zone). The
    invoice's `late_usage` is the sum of those lines, `usage` the sum of the usage lines only, and
    subtotal = recurring + usage + late_usage. A subscriber with no active day in the period gets an
    invoice (recurring 0.00) only when it has late lines.
    """
    year, month = int(period[:4]), int(period[5:7])
    first = date(year, month, 1)
    days_in_period = calendar.monthrange(year, month)[1]
    after = date(year + month // 12, month % 12 + 1, 1)
    zone = ZoneInfo(catalog.timezone)
    result = Billing()

    copies: dict[str, list[Mapping[str, Any]]] = {}
    for cdr in rated:
        local_day = _event_time(cdr["event_time"]).astimezone(zone).date()
        if first <= local_day < after:
            copies.setdefault(cdr["cdr_id"], []).append(cdr)
    unique = []
    for same in copies.values():
        result.duplicates += len(same) - 1
        unique.append(min(same, key=lambda c: c["rated_at"]))

    people = [s for s in subscribers]
    usage: dict[int, list[Mapping[str, Any]]] = {}
    for cdr in unique:
        local_day = _event_time(cdr["event_time"]).astimezone(zone).date()
        owner = _owner(people, cdr["msisdn"], local_day)
        if owner is None:
            result.unbilled.append((cdr["cdr_id"], "no subscriber active on the event's local date"))
            continue
        usage.setdefault(owner, []).append(cdr)

    # Late CDRs: (subscriber, origin period, service, zone) -> the line being summed.
    late_lines: dict[int, dict[tuple[str, str, str], dict[str, Any]]] = {}
    if late is not None:
        earlier = {p for p in late.finals if p < period}
        seen = late.taken_in()
        late_copies: dict[str, list[Mapping[str, Any]]] = {}
        for cdr in late.cdrs:
            origin = _event_time(cdr["event_time"]).astimezone(zone).date().strftime("%Y-%m")
            if origin in earlier and int(cdr["offset"]) >= seen.get(int(cdr["partition"]), 0):
                late_copies.setdefault(cdr["cdr_id"], []).append(cdr)
        for cdr_id, same in sorted(late_copies.items()):
            if cdr_id in late.billed:
                result.late_duplicates += len(same)
                continue
            result.late_duplicates += len(same) - 1
            cdr = min(same, key=lambda c: (c["rated_at"], int(c["partition"]), int(c["offset"])))
            local_day = _event_time(cdr["event_time"]).astimezone(zone).date()
            owner = _owner(people, cdr["msisdn"], local_day)
            if owner is None:
                result.late_unbilled.append((cdr_id, "no subscriber active on the event's local date"))
                continue
            charge = Fraction(Decimal(cdr["charge"]))
            result.late_billed += 1
            result.late_amounts += charge
            key = (local_day.strftime("%Y-%m"), cdr["record_type"], cdr["zone"])
            line = late_lines.setdefault(owner, {}).setdefault(key, {
                "quantity": 0, "billable_units": 0, "cdr_count": 0, "sum": Fraction(0), **_no_parts()})
            line["quantity"] += int(cdr["quantity"])
            line["billable_units"] += int(cdr["billable_units"])
            line["cdr_count"] += 1
            _count_parts(line, cdr)
            line["sum"] += charge

    for index, subscriber in sorted(enumerate(people), key=lambda p: (p[1].msisdn, p[1].activation_date)):
        start = max(subscriber.activation_date, first)
        end = min(subscriber.termination_date or after, after)
        active_days = max((end - start).days, 0)
        if active_days == 0 and index not in late_lines:
            continue
        # A plan gone from the catalog bills only late usage (no active day: checked by the product).
        plan = catalog.plans.get(subscriber.plan_id)
        allowances, fee = (plan.allowances, plan.monthly_fee) if plan else ((), Decimal(0))
        remaining = {a.name: a.quantity for a in allowances}
        lines: dict[tuple[str, str], dict[str, Any]] = {}
        for cdr in sorted(usage.get(index, []), key=lambda c: (_event_time(c["event_time"]), c["cdr_id"])):
            billable = int(cdr["billable_units"])
            included = 0
            for allowance in allowances:
                if (allowance.service == cdr["record_type"] and cdr["zone"] in allowance.zones
                        and remaining[allowance.name] > 0):
                    included = min(remaining[allowance.name], billable)
                    remaining[allowance.name] -= included
                    break
            def amount(units: int, cdr: Mapping[str, Any] = cdr) -> Fraction:
                fee = Fraction(Decimal(cdr.get("connect_fee") or "0"))
                exact = fee + Fraction(units) * Fraction(Decimal(cdr["price"])) / int(cdr["per"])
                return Fraction(half_up(exact, catalog.rounding_decimals))

            # The rated charge is the amount with nothing included (computed when the CDR has none).
            charge = Fraction(Decimal(cdr["charge"])) if cdr.get("charge") is not None else amount(billable)
            billed = charge if included == 0 else amount(billable - included)
            result.rated_charges += charge
            result.billed_amounts += billed
            line = lines.setdefault((cdr["record_type"], cdr["zone"]), {
                "quantity": 0, "billable_units": 0, "included_units": 0, "cdr_count": 0, "sum": Fraction(0),
                **_no_parts()})
            line["quantity"] += int(cdr["quantity"])
            line["billable_units"] += billable
            line["included_units"] += included
            line["cdr_count"] += 1
            _count_parts(line, cdr)
            line["sum"] += billed

        recurring = half_up(Fraction(fee) * active_days / days_in_period, 2)
        invoice_lines = [{"type": "recurring", "service": None, "zone": None, "quantity": active_days,
                          "billable_units": active_days, "included_units": 0, "amount": money(recurring),
                          "cdr_count": 0, **_no_parts()}]
        usage_total = Decimal(0)
        for (service, zone_name), line in sorted(lines.items()):
            rounded = half_up(line["sum"], 2)
            usage_total += rounded
            invoice_lines.append({"type": "usage", "service": service, "zone": zone_name,
                                  "quantity": line["quantity"], "billable_units": line["billable_units"],
                                  "included_units": line["included_units"], "amount": money(rounded),
                                  "cdr_count": line["cdr_count"], **_parts_of(line)})
        late_total = Decimal(0)
        for (origin, service, zone_name), line in sorted(late_lines.get(index, {}).items()):
            rounded = half_up(line["sum"], 2)
            late_total += rounded
            invoice_lines.append({"type": "late_usage", "origin_period": origin, "service": service,
                                  "zone": zone_name, "quantity": line["quantity"],
                                  "billable_units": line["billable_units"], "included_units": 0,
                                  "amount": money(rounded), "cdr_count": line["cdr_count"], **_parts_of(line)})
        subtotal = recurring + usage_total + late_total
        tax = half_up(Fraction(subtotal) * Fraction(catalog.tax_rate), 2)
        result.invoices.append({
            schemas.FIELD: schemas.INVOICE,
            "invoice_number": invoice_number(period, subscriber),
            "period": period,
            "status": status,
            "period_start": first.isoformat(),
            "period_end": date(year, month, days_in_period).isoformat(),
            "msisdn": subscriber.msisdn,
            "name": subscriber.name,
            "address": subscriber.address,
            "plan_id": subscriber.plan_id,
            "activation_date": subscriber.activation_date.isoformat(),
            "termination_date": subscriber.termination_date.isoformat() if subscriber.termination_date else None,
            "active_days": active_days,
            "days_in_period": days_in_period,
            "currency": catalog.currency,
            "catalog_version": catalog.version,
            "lines": invoice_lines,
            "allowances": [{"name": a.name, "service": a.service, "zones": list(a.zones), "quantity": a.quantity,
                            "used": a.quantity - remaining[a.name]} for a in allowances],
            "recurring": money(recurring),
            "usage": money(usage_total),
            "late_usage": money(late_total),
            "subtotal": money(subtotal),
            "tax_rate": str(catalog.tax_rate),
            "tax": money(tax),
            "total": money(subtotal + tax),
        })
    return result


# -- scenarios shared by the unit tests (reference) and the integration tests (Spark) -------------------

TEST_CATALOG = """
catalog_version: "T-1"
currency: MAD
timezone: Africa/Casablanca
home_country_code: "212"
home_country: MA
tax_rate: "0.20"
rounding_decimals: 4
time_bands:
  - {name: day, start: "08:00", end: "20:00"}
  - {name: night}
zones:
  national_mobile: ["2126", "2127"]
  national_fixed: ["2125"]
  europe: ["33"]
  rest_of_world: [""]
roaming_zones:
  roam_world: ["*"]
plans:
  - id: BUNDLE
    monthly_fee: "99.00"
    rates: &rates
      - {service: voice, zone: national_mobile, band: day, price: "1.20", per: 60, increments: [60, 1]}
      - {service: voice, zone: national_mobile, band: "*", price: "0.60", per: 60, increments: [60, 1]}
      - {service: voice, zone: "*", band: "*", price: "1.20", per: 60, increments: [1, 1], connect_fee: "0.50"}
      - {service: sms, zone: "*", band: "*", price: "0.0017", per: 1, increments: [1, 1]}
      - {service: data, zone: "*", band: "*", price: "0.05", per: 1048576, increments: [1024, 1024]}
    allowances:
      - {name: minutes, service: voice, zones: [national_mobile], quantity: 600}
      - {name: home_data, service: data, zones: [home], quantity: 1048576}
  - id: OVERLAP
    monthly_fee: "10.00"
    rates: *rates
    allowances:
      - {name: mobile_minutes, service: voice, zones: [national_mobile], quantity: 120}
      - {name: national_minutes, service: voice, zones: [national_mobile, national_fixed], quantity: 120}
      - {name: sms, service: sms, zones: [national_mobile, europe], quantity: 2}
  - id: TINY
    monthly_fee: "0.05"
    rates: *rates
  - id: PAYG
    monthly_fee: "0.00"
    rates: *rates
"""

MAIN = "212600000001"
OTHER = "212600000002"


def hand_catalog() -> Catalog:
    """The small catalog of the hand cases, through the real loader (so it is a valid catalog)."""
    import tempfile
    from pathlib import Path

    from telecom_billing.refdata.catalog import load_catalog

    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "catalog.yaml"
        path.write_text(TEST_CATALOG, encoding="utf-8")
        return load_catalog(path)


def subscriber(msisdn: str = MAIN, plan_id: str = "BUNDLE", activation: date = date(2020, 1, 1),
               termination: date | None = None, name: str = "Test Subscriber",
               address: str = "1 Rue Test, 20000 Casablanca") -> Subscriber:
    return Subscriber(msisdn=msisdn, name=name, address=address, plan_id=plan_id, activation_date=activation,
                      termination_date=termination)


def rated_cdr(cdr_id: str, event_time: str, *, msisdn: str = MAIN, service: str = "voice",
              zone: str = "national_mobile", quantity: int = 60, billable: int | None = None, price: str = "0.60",
              per: int = 60, connect_fee: str = "0.00", rated_at: str = "2026-12-01T00:00:00.000000Z",
              rounding: int = 4) -> dict[str, Any]:
    """A rated CDR as RULES.md section 16 writes it; `event_time` may omit the fraction and `Z`."""
    if "." not in event_time:
        event_time = event_time.removesuffix("Z") + ".000000Z"
    billable = quantity if billable is None else billable
    charge = half_up(Fraction(Decimal(connect_fee)) + billable * Fraction(Decimal(price)) / per, rounding)
    return {"cdr_id": cdr_id, "record_type": service, "event_time": event_time, "msisdn": msisdn,
            "other_party": None, "direction": "MO", "duration_sec": quantity if service == "voice" else None,
            "bytes_up": None, "bytes_down": None, "quantity": quantity, "cell_id": None, "technology": None,
            "visited_country": None, "roaming": False, "source_format": "canonical", "plan_id": "BUNDLE",
            "zone": zone, "band": "night", "billable_units": billable, "price": price, "per": per,
            "unit_price": "0", "connect_fee": connect_fee, "charge": f"{charge:.{rounding}f}", "currency": "MAD",
            "catalog_version": "T-1", "rated_at": rated_at}


def on_topic(cdr: dict[str, Any], partition: int, offset: int) -> dict[str, Any]:
    """A rated CDR as read from `cdr.rated`: with its Kafka `partition` and `offset`."""
    return {**cdr, "partition": partition, "offset": offset}


@dataclass
class Case:
    """A hand case: its input, and the facts (worked out by hand) its billing must show."""

    name: str
    period: str
    subscribers: list[Subscriber]
    cdrs: list[dict[str, Any]]
    check: Any  # Callable[[Billing], None]


def _invoice(billing: Billing, msisdn: str = MAIN) -> dict[str, Any]:
    found = [i for i in billing.invoices if i["msisdn"] == msisdn]
    assert len(found) == 1, f"expected one invoice for {msisdn}, got {len(found)}"
    return found[0]


def _usage(invoice: dict[str, Any], service: str, zone: str) -> dict[str, Any]:
    found = [line for line in invoice["lines"] if line["service"] == service and line["zone"] == zone]
    assert len(found) == 1, f"expected one {service}/{zone} line"
    return found[0]


def _check_crossing(b: Billing) -> None:
    invoice = _invoice(b)
    line = _usage(invoice, "voice", "national_mobile")
    # 400 s included, then 200 of the next 300 s: 100 s at 0.60 / 60 s = 1.00
    assert (line["quantity"], line["billable_units"], line["included_units"], line["amount"]) == (
        700, 700, 600, "1.00")
    assert (invoice["subtotal"], invoice["tax"], invoice["total"]) == ("100.00", "20.00", "120.00")
    assert invoice["allowances"][0]["used"] == 600


def _check_equal_times(b: Billing) -> None:
    line = _usage(_invoice(b), "voice", "national_mobile")
    # "x-a" (0.60/min) comes first and takes 500 s; "x-b" (1.20/min) gets 100 s, pays 400 s: 8.00
    assert line["amount"] == "8.00"


def _check_inside_month(b: Billing) -> None:
    invoice = _invoice(b)
    assert invoice["active_days"] == 10 and invoice["days_in_period"] == 31
    assert invoice["lines"][0] == {"type": "recurring", "service": None, "zone": None, "quantity": 10,
                                   "billable_units": 10, "included_units": 0, "amount": "31.94", "cdr_count": 0,
                                   "assembled_cdrs": 0, "incomplete_cdrs": 0}
    assert _usage(invoice, "voice", "national_mobile")["cdr_count"] == 1
    assert sorted(cdr_id for cdr_id, _ in b.unbilled) == ["before-activation", "on-termination-day"]


def _check_fee_only(b: Billing) -> None:
    invoice = _invoice(b, OTHER)
    assert [line["type"] for line in invoice["lines"]] == ["recurring"]
    assert (invoice["usage"], invoice["subtotal"], invoice["tax"], invoice["total"]) == (
        "0.00", "99.00", "19.80", "118.80")


def _check_terminated_before(b: Billing) -> None:
    assert [i["msisdn"] for i in b.invoices] == [MAIN]


def _check_december(b: Billing) -> None:
    assert _invoice(b)["lines"][1:] == [], "23:30 UTC on 31 December is January in Casablanca"


def _check_january(b: Billing) -> None:
    invoice = _invoice(b)
    assert invoice["invoice_number"].startswith("INV-202701-")
    assert _usage(invoice, "voice", "national_mobile")["cdr_count"] == 1


def _check_leap_february(b: Billing) -> None:
    invoice = _invoice(b)
    assert (invoice["period_end"], invoice["days_in_period"], invoice["active_days"]) == ("2028-02-29", 29, 15)
    assert invoice["recurring"] == "51.21"  # 99 * 15 / 29 = 51.2068...


def _check_duplicate(b: Billing) -> None:
    assert b.duplicates == 1
    line = _usage(_invoice(b), "voice", "europe")
    assert (line["cdr_count"], line["quantity"], line["amount"]) == (1, 90, "2.30")  # 0.50 + 90 s at 1.20/min


def _check_half_up(b: Billing) -> None:
    invoice = _invoice(b)
    assert invoice["recurring"] == "0.01"  # 0.05 * 3 / 30 = 0.005
    assert _usage(invoice, "sms", "national_mobile")["amount"] == "0.01"  # 3 * 0.0017 = 0.0051, not 3 * 0.00
    assert _usage(invoice, "sms", "europe")["amount"] == "0.01"  # 0.0050 exactly: half-up
    assert (invoice["subtotal"], invoice["tax"], invoice["total"]) == ("0.03", "0.01", "0.04")  # tax 0.006


def _check_overlap(b: Billing) -> None:
    invoice = _invoice(b)
    mobile = _usage(invoice, "voice", "national_mobile")
    fixed = _usage(invoice, "voice", "national_fixed")
    # mobile_minutes: 100 + 20 (crossing: 30 s paid, not taken from national_minutes); then national_minutes: 60
    assert (mobile["included_units"], mobile["amount"]) == (180, "0.30")
    # national_minutes has 60 s left for the fixed call of 100 s: 40 s at 1.20/min + 0.50
    assert (fixed["included_units"], fixed["amount"]) == (60, "1.30")
    assert [a["used"] for a in invoice["allowances"]] == [120, 120, 2]
    sms = _usage(invoice, "sms", "europe")
    assert (sms["included_units"], sms["amount"]) == (1, "0.00")


def _check_connect_fee(b: Billing) -> None:
    line = _usage(_invoice(b), "voice", "national_mobile")
    assert (line["included_units"], line["amount"]) == (60, "0.50")  # included usage still pays its connect fee


def _check_unknown_msisdn(b: Billing) -> None:
    assert [cdr_id for cdr_id, _ in b.unbilled] == ["escape"]
    assert [i["msisdn"] for i in b.invoices] == [MAIN]


def hand_cases() -> list[Case]:
    t = "2026-10-14T10:00:00"
    return [
        Case("allowance crossing inside one CDR", "2026-10", [subscriber()], [
            rated_cdr("c1", "2026-10-02T10:00:00Z", quantity=400),
            rated_cdr("c2", "2026-10-03T10:00:00Z", quantity=300),
        ], _check_crossing),
        Case("equal event times ordered by cdr_id", "2026-10", [subscriber()], [
            rated_cdr("x-b", t, quantity=500, price="1.20"),
            rated_cdr("x-a", t, quantity=500),
            rated_cdr("x-c", "2026-10-01T00:00:00Z", quantity=100, service="data", zone="home", price="0.05",
                      per=1048576),
        ], _check_equal_times),
        Case("activation and termination inside the month", "2026-10", [
            subscriber(activation=date(2026, 10, 10), termination=date(2026, 10, 20))], [
            rated_cdr("before-activation", "2026-10-09T12:00:00Z"),
            rated_cdr("inside", "2026-10-15T12:00:00Z"),
            rated_cdr("on-termination-day", "2026-10-20T12:00:00Z"),
        ], _check_inside_month),
        Case("fee-only invoice", "2026-10", [subscriber(), subscriber(OTHER)], [
            rated_cdr("m1", "2026-10-05T09:00:00Z"),
        ], _check_fee_only),
        Case("terminated before the period", "2026-10", [
            subscriber(), subscriber(OTHER, termination=date(2026, 9, 15)),
            subscriber("212600000003", termination=date(2026, 10, 1))], [], _check_terminated_before),
        Case("December (the last minutes of the year are January)", "2026-12", [subscriber()], [
            rated_cdr("nye", "2026-12-31T23:30:00Z")], _check_december),
        Case("January", "2027-01", [subscriber()], [rated_cdr("nye", "2026-12-31T23:30:00Z")], _check_january),
        Case("February of a leap year", "2028-02", [subscriber(activation=date(2028, 2, 15))], [],
             _check_leap_february),
        Case("a duplicate rated CDR", "2026-10", [subscriber()], [
            rated_cdr("dup", "2026-10-07T08:00:00Z", zone="europe", quantity=90, price="1.20", connect_fee="0.50"),
            rated_cdr("dup", "2026-10-07T08:00:00Z", zone="europe", quantity=90, price="1.20", connect_fee="0.50",
                      rated_at="2026-12-02T00:00:00.000000Z"),
        ], _check_duplicate),
        Case("rounding half-up at 0.005", "2026-11", [
            subscriber(plan_id="TINY", activation=date(2026, 11, 28))], [
            *[rated_cdr(f"s{i}", f"2026-11-29T1{i}:00:00Z", service="sms", quantity=1, price="0.0017", per=1)
              for i in range(3)],
            rated_cdr("s-half", "2026-11-29T15:00:00Z", service="sms", zone="europe", quantity=1, price="0.005",
                      per=1),
        ], _check_half_up),
        Case("overlapping allowances", "2026-10", [subscriber(plan_id="OVERLAP")], [
            rated_cdr("o1", "2026-10-01T10:00:00Z", quantity=100),
            rated_cdr("o2", "2026-10-01T11:00:00Z", quantity=50),
            rated_cdr("o3", "2026-10-01T12:00:00Z", quantity=60),
            rated_cdr("o4", "2026-10-01T13:00:00Z", zone="national_fixed", quantity=100, price="1.20",
                      connect_fee="0.50"),
            rated_cdr("o5", "2026-10-01T14:00:00Z", service="sms", zone="europe", quantity=1, price="0.0017", per=1),
            rated_cdr("o6", "2026-10-01T15:00:00Z", service="sms", zone="national_mobile", quantity=1,
                      price="0.0017", per=1),
        ], _check_overlap),
        Case("an included call still pays its connect fee", "2026-10", [subscriber()], [
            rated_cdr("cf", "2026-10-01T10:00:00Z", connect_fee="0.50")], _check_connect_fee),
        Case("an MSISDN like ../../x", "2026-10", [subscriber()], [
            rated_cdr("escape", "2026-10-01T10:00:00Z", msisdn="../../x")], _check_unknown_msisdn),
    ]
