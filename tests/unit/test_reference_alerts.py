"""Hand cases on the pure-Python usage-alert reference (DESIGN.md 7d, docs/BILLING.md section 12).

Every expected number is worked out by hand in the comments. The catalog below is small: the
minutes allowance is 1000 s (80 % = 800 s), the spending cap and the roaming data cap are 10.00 MAD.
Casablanca is UTC+1 in October and November 2026.
"""

from __future__ import annotations

import hashlib
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

import pytest

from reference.alerts import Monitor, alerts
from telecom_billing.refdata.catalog import Catalog, load_catalog

CATALOG_YAML = """
catalog_version: "ALERTS-1"
currency: MAD
timezone: Africa/Casablanca
home_country_code: "212"
home_country: MA
tax_rate: "0.20"
rounding_decimals: 4
grace_days: 3
roaming_data_cap: {amount: "10.00", alerts: [50, 100]}
time_bands:
  - {name: any}
zones:
  national_mobile: ["2126", "2127"]
  rest_of_world: [""]
roaming_zones:
  roam_europe: [FR]
  roam_world: ["*"]
plans:
  - id: BUNDLE                     # allowance_alerts absent: [80, 100]
    monthly_fee: "99.00"
    thresholds: {spending_cap: {amount: "10.00", alerts: [50, 60]}}
    rates: &rates
      - {service: voice, zone: "*", band: "*", price: "0.60", per: 60, increments: [1, 1]}
      - {service: sms, zone: "*", band: "*", price: "0.005", per: 1, increments: [1, 1]}
      - {service: data, zone: "*", band: "*", price: "5.00", per: 1000, increments: [1, 1]}
    allowances:
      - {name: minutes, service: voice, zones: [national_mobile], quantity: 1000}
      - {name: roam_data, service: data, zones: [roam_europe], quantity: 1000}
  - id: PAYG                       # no thresholds, no allowance: no spending cap
    monthly_fee: "0.00"
    rates: *rates
  - id: QUIET
    monthly_fee: "10.00"
    thresholds: {allowance_alerts: []}
    rates: *rates
    allowances:
      - {name: minutes, service: voice, zones: [national_mobile], quantity: 100}
  - id: CENTS
    monthly_fee: "0.00"
    thresholds: {spending_cap: {amount: "0.02", alerts: [100]}}
    rates: *rates
  - id: HIGH
    monthly_fee: "0.00"
    thresholds: {spending_cap: {amount: "10.00", alerts: [150, 100]}}
    rates: *rates
"""

MAIN = "212600000001"


@pytest.fixture(scope="module")
def catalog(tmp_path_factory: pytest.TempPathFactory) -> Catalog:
    path = tmp_path_factory.mktemp("alerts") / "catalog.yaml"
    path.write_text(CATALOG_YAML, encoding="utf-8")
    return load_catalog(path)


def cdr(cdr_id: str, event_time: str, billable: int, *, service: str = "voice", zone: str = "national_mobile",
        plan: str = "BUNDLE", price: str = "0.60", per: int = 60, fee: str = "0.00", charge: str | None = None,
        msisdn: str = MAIN, rated_at: str | None = None) -> dict[str, Any]:
    """A rated CDR as decoded from `cdr.rated` (charge: the rated one, nothing included)."""
    if charge is None:
        exact = Decimal(fee) + Decimal(billable) * Decimal(price) / Decimal(per)
        charge = str(exact.quantize(Decimal("0.0001"), ROUND_HALF_UP))
    return {"cdr_id": cdr_id, "event_time": event_time, "msisdn": msisdn, "record_type": service, "zone": zone,
            "plan_id": plan, "quantity": billable, "billable_units": billable, "price": price, "per": per,
            "connect_fee": fee, "charge": charge, "currency": "MAD",
            "rated_at": rated_at or event_time.replace(".000Z", ".500Z")}


def summary(monitor: Monitor) -> list[tuple[Any, ...]]:
    """(kind, name, percent, used, triggered_by) of every alert, in write order."""
    return [(a["kind"], a["name"], a["percent"], a["used"], a["triggered_by"]) for a in monitor.alerts]


def expected_id(period: str, kind: str, name: str, percent: int, msisdn: str = MAIN) -> str:
    return "ALR-" + hashlib.sha256(f"{msisdn}|{period}|{kind}|{name}|{percent}".encode()).hexdigest()[:20].upper()


def test_80_then_100_percent_on_separate_cdrs(catalog: Catalog) -> None:
    # 800 s of 1000 s: 100 * 800 >= 80 * 1000, not 100 %; then 200 s more: 1000 s = 100 %.
    # Both are fully included: billed 0.00, no cap alert.
    monitor = alerts(catalog, [[cdr("c1", "2026-10-05T08:00:00.000Z", 800),
                                cdr("c2", "2026-10-06T08:00:00.000Z", 200)]])
    assert summary(monitor) == [("allowance", "minutes", 80, "800", "c1"), ("allowance", "minutes", 100, "1000", "c2")]
    assert monitor.alerts[0] == {
        "schema_version": "1.0", "alert_id": expected_id("2026-10", "allowance", "minutes", 80), "msisdn": MAIN,
        "period": "2026-10", "kind": "allowance", "name": "minutes", "percent": 80, "used": "800",
        "limit": "1000", "unit": "seconds", "triggered_by": "c1", "event_time": "2026-10-05T08:00:00.000Z",
        "emitted_at": "2026-10-05T08:00:00.500Z"}
    assert list(monitor.alerts[0]) == ["schema_version", "alert_id", "msisdn", "period", "kind", "name", "percent",
                                       "used", "limit", "unit", "triggered_by", "event_time", "emitted_at"]
    assert monitor.counted == 2


def test_799_seconds_is_not_80_percent(catalog: Catalog) -> None:
    # 100 * 799 = 79900 < 80 * 1000 = 80000
    assert alerts(catalog, [[cdr("c1", "2026-10-05T08:00:00.000Z", 799)]]).alerts == []


def test_one_cdr_crosses_80_and_100_at_once(catalog: Catalog) -> None:
    # 1200 s: 1000 included (80 % and 100 %), 200 s paid 200 * 0.60 / 60 = 2.00 < 5.00 (50 % of the cap)
    monitor = alerts(catalog, [[cdr("c1", "2026-10-05T08:00:00.000Z", 1200)]])
    assert summary(monitor) == [("allowance", "minutes", 80, "1000", "c1"), ("allowance", "minutes", 100, "1000", "c1")]


def test_partly_included_cdr_feeds_the_spending_cap_with_its_billed_amount(catalog: Catalog) -> None:
    # c1: 900 s included (80 %), billed 0.0000 (not its charge 9.0000).
    # c2: 100 s left, included; 500 s paid: billed 0.50 + 500 * 0.60 / 60 = 5.50 (its charge is 6.50).
    # Spending = 0.00 + 5.50 = 5.50 (one line voice/national_mobile): 50 % (5.00) yes, 60 % (6.00) no.
    # Had the charge been used: 6.50 reaches 60 %; had c1's charge counted: 14.50.
    monitor = alerts(catalog, [[cdr("c1", "2026-10-05T08:00:00.000Z", 900, charge="9.0000"),
                                cdr("c2", "2026-10-06T08:00:00.000Z", 600, fee="0.50", charge="6.5000")]])
    assert summary(monitor) == [("allowance", "minutes", 80, "900", "c1"), ("allowance", "minutes", 100, "1000", "c2"),
                                ("spending_cap", "spending_cap", 50, "5.50", "c2")]
    cap = monitor.alerts[-1]
    assert (cap["limit"], cap["unit"], cap["alert_id"]) == (
        "10.00", "MAD", expected_id("2026-10", "spending_cap", "spending_cap", 50))


def test_a_duplicate_cdr_id_counts_once(catalog: Catalog) -> None:
    # c1 500 s; its copy counts nothing (else 1000 s: 80 % and 100 % on the copy); c2 300 s: 800 s = 80 %.
    c1 = cdr("c1", "2026-10-05T08:00:00.000Z", 500)
    copy = {**c1, "rated_at": "2026-10-05T09:00:00.000Z"}
    monitor = alerts(catalog, [[c1, copy], [cdr("c2", "2026-10-06T08:00:00.000Z", 300), c1]])
    assert summary(monitor) == [("allowance", "minutes", 80, "800", "c2")]
    assert (monitor.counted, monitor.duplicates) == (2, 2)


def test_a_new_period_starts_from_zero_and_the_old_one_stays(catalog: Catalog) -> None:
    # October: 900 s (80 %). 2026-10-31T23:30Z is 00:30 on 1 November in Casablanca: November, 900 s (80 %
    # of November, not 1800 s of October). Then 100 s more in October: 1000 s, 100 % of October.
    monitor = alerts(catalog, [[cdr("oct1", "2026-10-20T08:00:00.000Z", 900),
                                cdr("nov1", "2026-10-31T23:30:00.000Z", 900),
                                cdr("oct2", "2026-10-25T08:00:00.000Z", 100)]])
    assert [(a["period"], a["percent"], a["used"], a["triggered_by"]) for a in monitor.alerts] == [
        ("2026-10", 80, "900", "oct1"), ("2026-11", 80, "900", "nov1"), ("2026-10", 100, "1000", "oct2")]


@pytest.mark.parametrize(("clock", "same_batch", "late"), [
    # October's cut-off: 2026-11-04T00:00+01:00 = 2026-11-03T23:00Z (grace_days 3).
    ("2026-11-03T23:00:00.000Z", False, True),   # the watermark reaches the cut-off: final
    ("2026-11-04T00:00:00+01:00", False, True),  # the same instant with an offset
    ("2026-11-03T22:59:59.999Z", False, False),  # a millisecond before: still open
    ("2026-11-03T23:00:00.000Z", True, False),   # a batch's own records do not move its watermark
])
def test_a_late_cdr_raises_nothing(catalog: Catalog, clock: str, same_batch: bool, late: bool) -> None:
    # oct1 500 s, then oct2 500 s would make 1000 s: 80 % and 100 % (if October is still open).
    first = [cdr("oct1", "2026-10-20T08:00:00.000Z", 500)]
    tick = cdr("nov", clock, 10)
    oct2 = cdr("oct2", "2026-10-21T08:00:00.000Z", 500)
    batches = [first, [tick, oct2]] if same_batch else [first, [tick], [oct2]]
    monitor = alerts(catalog, batches)
    assert summary(monitor) == ([] if late else [("allowance", "minutes", 80, "1000", "oct2"),
                                                  ("allowance", "minutes", 100, "1000", "oct2")])
    assert (monitor.late, monitor.counted) == ((1, 2) if late else (0, 3))


def test_roaming_data_cap_counts_charges_before_allowances(catalog: Catalog) -> None:
    # d1: 1500 bytes in roam_europe at 5.00 / 1000 bytes, charge 7.50. 1000 bytes included (roam_data 80 %, 100 %),
    #     billed 500 * 5.00 / 1000 = 2.50 (spending 2.50 < 5.00). Roaming: its charge 7.50 >= 5.00 (50 %).
    # d2: 600 bytes, charge 3.00, nothing left to include: billed 3.00; spending 5.50 (50 %),
    #     roaming 10.50 (100 %): the spending cap is written before the roaming cap.
    monitor = alerts(catalog, [[cdr("d1", "2026-10-05T08:00:00.000Z", 1500, service="data", zone="roam_europe",
                                    price="5.00", per=1000, charge="7.5000"),
                                cdr("d2", "2026-10-06T08:00:00.000Z", 600, service="data", zone="roam_europe",
                                    price="5.00", per=1000, charge="3.0000")]])
    assert summary(monitor) == [
        ("allowance", "roam_data", 80, "1000", "d1"), ("allowance", "roam_data", 100, "1000", "d1"),
        ("roaming_data_cap", "roaming_data_cap", 50, "7.50", "d1"),
        ("spending_cap", "spending_cap", 50, "5.50", "d2"), ("roaming_data_cap", "roaming_data_cap", 100, "10.50", "d2")]
    assert (monitor.alerts[1]["unit"], monitor.alerts[2]["unit"], monitor.alerts[2]["limit"]) == ("bytes", "MAD", "10.00")


def test_roaming_data_cap_counts_only_data_in_roaming_zones(catalog: Catalog) -> None:
    # PAYG: no spending cap, no allowance. A roaming call (20.00) and home data (9.00) are not roaming data;
    # roam_world data 5.00: 50 % of the roaming cap.
    monitor = alerts(catalog, [[cdr("v", "2026-10-05T08:00:00.000Z", 2000, zone="roam_europe", plan="PAYG"),
                                cdr("h", "2026-10-05T09:00:00.000Z", 1800, service="data", zone="home",
                                    plan="PAYG", price="5.00", per=1000),
                                cdr("w", "2026-10-05T10:00:00.000Z", 1000, service="data", zone="roam_world",
                                    plan="PAYG", price="5.00", per=1000)]])
    assert summary(monitor) == [("roaming_data_cap", "roaming_data_cap", 50, "5.00", "w")]


@pytest.mark.parametrize(("second_zone", "expected"), [
    # Two lines (sms/national_mobile, sms/rest_of_world) of 0.0050 each: 0.01 + 0.01 = 0.02 = 100 % of 0.02.
    ("rest_of_world", [("spending_cap", "spending_cap", 100, "0.02", "s2")]),
    # One line of 0.0100: 0.01 < 0.02. (The raw sum is 0.0100 either way: only per-line rounding alerts.)
    ("national_mobile", []),
])
def test_spending_is_the_sum_of_lines_each_rounded_to_cents(catalog: Catalog, second_zone: str,
                                                             expected: list[tuple[Any, ...]]) -> None:
    monitor = alerts(catalog, [[cdr("s1", "2026-10-05T08:00:00.000Z", 1, service="sms", plan="CENTS", price="0.005",
                                    per=1, charge="0.0050"),
                                cdr("s2", "2026-10-05T09:00:00.000Z", 1, service="sms", zone=second_zone,
                                    plan="CENTS", price="0.005", per=1, charge="0.0050")]])
    assert summary(monitor) == expected


def test_alert_id_is_deterministic(catalog: Catalog) -> None:
    batches = [[cdr("c1", "2026-10-05T08:00:00.000Z", 800), cdr("n1", "2026-11-05T08:00:00.000Z", 800)]]
    first, again = alerts(catalog, batches), alerts(catalog, batches)
    assert first.alerts == again.alerts
    # "212600000001|2026-10|allowance|minutes|80", sha256, 20 hex digits upper case: one id per period
    assert [a["alert_id"] for a in first.alerts] == [
        "ALR-" + hashlib.sha256(b"212600000001|2026-10|allowance|minutes|80").hexdigest()[:20].upper(),
        "ALR-" + hashlib.sha256(b"212600000001|2026-11|allowance|minutes|80").hexdigest()[:20].upper()]


def test_a_percentage_above_100(catalog: Catalog) -> None:
    # HIGH: cap 10.00 at [100, 150]. 10.00 (100 %), +4.99 = 14.99 (< 15.00), +0.01 = 15.00 (150 %).
    monitor = alerts(catalog, [[cdr("a", "2026-10-05T08:00:00.000Z", 1000, plan="HIGH"),
                                cdr("b", "2026-10-05T09:00:00.000Z", 499, plan="HIGH"),
                                cdr("c", "2026-10-05T10:00:00.000Z", 1, plan="HIGH")]])
    assert summary(monitor) == [("spending_cap", "spending_cap", 100, "10.00", "a"),
                                ("spending_cap", "spending_cap", 150, "15.00", "c")]
    assert monitor.alerts[1]["limit"] == "10.00"


def test_an_empty_allowance_alerts_list_alerts_nothing(catalog: Catalog) -> None:
    assert catalog.plans["QUIET"].allowance_alerts == ()
    # 100 s of 100 s: 100 % of the allowance, but the plan lists no percentage (no cap either).
    monitor = alerts(catalog, [[cdr("q", "2026-10-05T08:00:00.000Z", 100, plan="QUIET")]])
    assert (monitor.alerts, monitor.counted) == ([], 1)


def _without_charge(record: dict[str, Any]) -> None:
    del record["charge"]


@pytest.mark.parametrize("spoil", [
    _without_charge,
    lambda r: r.update(plan_id="NO_SUCH_PLAN"),
    lambda r: r.update(event_time="2026-10-05T08:00:00"),  # no offset
    lambda r: r.update(event_time="yesterday"),
    lambda r: r.update(billable_units=None),
    lambda r: r.update(price=0.6),  # money is never a float
    lambda r: r.update(per=0),
], ids=["no charge", "unknown plan", "naive time", "bad time", "no billable units", "float price", "per 0"])
def test_an_unreadable_record_counts_as_unreadable(catalog: Catalog, spoil: Any) -> None:
    # Readable, it would take the whole 1000 s allowance: 80 % and 100 %.
    record = cdr("u", "2026-10-05T08:00:00.000Z", 1000)
    spoil(record)
    monitor = alerts(catalog, [[record]])
    assert (monitor.alerts, monitor.unreadable, monitor.counted) == ([], 1, 0)
