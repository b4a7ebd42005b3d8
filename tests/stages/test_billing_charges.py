"""Billing stages (docs/BILLING.md sections 4, 5 and 7) on a handful of rated CDRs each, local Spark only.

Covered: allowance consumption in `(event_time, cdr_id)` order (included units, then the crossing
CDR's billable rest, then fall-through to a later allowance), the billed amount rounded half-up per
CDR and each usage line rounded once, the recurring fee (prorated by active days, allowances not),
tax and totals, a duplicate `cdr_id` billed once, CDRs without a subscriber counted and not billed,
CDRs assembled from partial records billed like any other and counted on their line (in the
invoice, its HTML and the period report), the reconciliation's counts and money trail, and
`invoices`' pure helpers. Every expected value is
worked out by hand from docs/BILLING.md and written as a literal.

The catalog: November 2026 (30 days) in Casablanca (UTC+1), 4 rounding places, tax 0.20.
"""

from __future__ import annotations

import json
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from telecom_billing.billing import charges, invoices, job, reconcile, report
from telecom_billing.billing.charges import DUPLICATE, INVALID, NO_SUBSCRIBER, OK, UNREADABLE
from telecom_billing.billing.period import Period
from telecom_billing.refdata.catalog import Catalog, load_catalog
from telecom_billing.refdata.subscribers import Subscriber

CATALOG_YAML = """
catalog_version: "S-1"
currency: MAD
timezone: Africa/Casablanca
home_country_code: "212"
home_country: MA
tax_rate: "0.20"
rounding_decimals: 4
time_bands: [{name: any}]
zones: {national_mobile: ["2126", "2127"], national_fixed: ["2125"], rest_of_world: [""]}
roaming_zones: {roam_world: ["*"]}
plans:
  - id: BUNDLE
    monthly_fee: "99.00"
    rates: &rates [{service: voice, zone: "*", band: "*", price: "0.60", per: 60, increments: [1, 1]},
                   {service: sms, zone: "*", band: "*", price: "0.00125", per: 1, increments: [1, 1]}]
    allowances:
      - {name: minutes, service: voice, zones: [national_mobile], quantity: 600}
      - {name: texts, service: sms, zones: [national_mobile], quantity: 1}
  - id: OVERLAP
    monthly_fee: "10.00"
    rates: *rates
    allowances:
      - {name: first, service: voice, zones: [national_mobile], quantity: 60}
      - {name: wide, service: voice, zones: [national_mobile, national_fixed], quantity: 120}
  - id: MINI
    monthly_fee: "0.75"
    rates: *rates
  - id: PAYG
    monthly_fee: "0.00"
    rates: *rates
"""
NOV = Period(2026, 11)
BUNDLE_SUB = Subscriber("212600000001", "Bundle Subscriber", "1 Rue A", "BUNDLE", date(2020, 1, 1))
OVERLAP_SUB = Subscriber("212600000002", "Overlap Subscriber", "2 Rue B", "OVERLAP", date(2026, 11, 23))
LATE_JOINER = Subscriber("212600000003", "Late Joiner", "3 Rue C", "PAYG", date(2026, 11, 20))
MINI_SUB = Subscriber("212600000004", "Mini Subscriber", "4 Rue D", "MINI", date(2026, 10, 1), date(2026, 11, 2))
GONE_SUB = Subscriber("212600000005", "Gone Subscriber", "5 Rue E", "PAYG", date(2020, 1, 1), date(2026, 11, 1))
IDLE_SUB = Subscriber("212600000006", "Idle Subscriber", "6 Rue F", "BUNDLE", date(2020, 1, 1))
DUP_SUB = Subscriber("212600000007", "Dup Subscriber", "7 Rue G", "BUNDLE", date(2020, 1, 1))
NOBODY = "212699999999"


@pytest.fixture(scope="module")
def catalog(tmp_path_factory: pytest.TempPathFactory) -> Catalog:
    folder: Path = tmp_path_factory.mktemp("catalog")
    (folder / "catalog.yaml").write_text(CATALOG_YAML, encoding="utf-8")
    return load_catalog(folder)


def rated(cdr_id: str, event_time: str, charge: str, *, msisdn: str = BUNDLE_SUB.msisdn, service: str = "voice",
          zone: str = "national_mobile", units: int = 60, price: str = "0.60", per: int = 60,
          connect_fee: str = "0.00", rated_at: str = "2026-12-01T00:00:00.000000Z", partials: int | None = None,
          missing: tuple[int, ...] | None = None) -> dict[str, Any]:
    """A rated CDR (RULES.md 16) with the fields billing reads; `charge` is given by hand, never computed.
    With `partials`, a CDR assembled from that many parts (RULES.md 18), incomplete when `missing` has any."""
    assembly = {"partials": partials, "incomplete": None, "missing": None, "last_missing": None}  # whole
    if partials is not None:
        assembly.update(incomplete=bool(missing), missing=list(missing or ()), last_missing=False)
    return {"cdr_id": cdr_id, "record_type": service, "event_time": event_time, "msisdn": msisdn, "zone": zone,
            "quantity": units, "billable_units": units, "price": price, "per": per, "connect_fee": connect_fee,
            "charge": charge, "rated_at": rated_at, **assembly}


def lines_of(spark: Any, cdrs: list[Any]) -> Any:
    """One JSON document per row (a str is taken as the raw line), as `parse_rated` reads the topic."""
    return spark.createDataFrame([(c if isinstance(c, str) else json.dumps(c),) for c in cdrs], "value string")


def bill(spark: Any, catalog: Catalog, subscribers: list[Subscriber], cdrs: list[Any]) -> invoices.Billed:
    """`job.bill` then `invoices.collect`, as `telecom bill` runs them."""
    frames = job.bill(charges.parse_rated(lines_of(spark, cdrs)), catalog, subscribers, NOV)
    try:
        return invoices.collect(frames, catalog, subscribers, NOV, "final")
    finally:
        frames.close()


def usage(invoice: dict[str, Any]) -> list[tuple[Any, ...]]:
    return [(x["service"], x["zone"], x["quantity"], x["included_units"], x["amount"], x["cdr_count"])
            for x in invoice["lines"] if x["type"] == "usage"]


def totals(invoice: dict[str, Any]) -> tuple[str, ...]:
    return tuple(invoice[k] for k in ("recurring", "usage", "subtotal", "tax", "total"))


# -- per-CDR stages: one Spark run for both scenarios ------------------------------------------------------

# BUNDLE: 600 s of national_mobile voice; price 0.60 per 60 s = 0.01 per second. Input order is
# scrambled on purpose; x-a and x-b have the same event_time, so x-a (smaller cdr_id) draws first.
ORDER_CDRS = [rated("x-b", "2026-11-10T10:00:00.000000Z", "1.2000", units=120),
              rated("c9", "2026-11-11T09:00:00.000000Z", "0.6000", units=60),
              rated("x-a", "2026-11-10T10:00:00.000000Z", "1.2000", units=120),
              rated("c0", "2026-11-10T09:00:00.000000Z", "5.0000", units=500)]
# DUP_SUB (BUNDLE): d1 twice, the copy rated later listed first.
_D1_LATE = rated("d1", "2026-11-10T09:00:00.000000Z", "5.4000", msisdn=DUP_SUB.msisdn, units=540,
                 rated_at="2026-12-01T00:00:05.000000Z")
DUPLICATE_CDRS = [_D1_LATE, rated("d2", "2026-11-11T09:00:00.000000Z", "1.2000", msisdn=DUP_SUB.msisdn, units=120),
                  {**_D1_LATE, "rated_at": "2026-12-01T00:00:01.000000Z"}]


@pytest.fixture(scope="module")
def per_cdr(spark: Any, catalog: Catalog) -> list[tuple[Any, ...]]:
    """The per-CDR stages of `job.bill`: (cdr_id, status, included_units, allowance, billed_amount, rated_at)."""
    subs = charges.subscriber_frame(spark, [BUNDLE_SUB, DUP_SUB], catalog, NOV)
    typed = charges.typed_rated(charges.parse_rated(lines_of(spark, ORDER_CDRS + DUPLICATE_CDRS)), catalog, NOV)
    candidates = charges.allowance_candidates(charges.attach_subscribers(typed, subs), catalog)
    billed = charges.apply_allowances(charges.deduplicate(candidates), catalog)
    rows = billed.select("cdr_id", "status", "included_units", "allowance", "billed_amount", "rated_at").collect()
    return sorted((tuple(r) for r in rows), key=lambda r: (r[0], r[1]))


def test_allowance_is_drawn_in_event_time_then_cdr_id_order(per_cdr: list[tuple[Any, ...]]) -> None:
    assert [r[:5] for r in per_cdr if not r[0].startswith("d")] == [
        ("c0", OK, 500, "minutes", Decimal("0.0000")),  # 500 of 600 included, 100 left
        ("c9", OK, 0, None, Decimal("0.6000")),  # allowance used up: its rated charge
        ("x-a", OK, 100, "minutes", Decimal("0.2000")),  # crosses: 100 included, (120 - 100) * 0.01 = 0.20
        ("x-b", OK, 0, None, Decimal("1.2000")),  # nothing left: its rated charge
    ]


def test_duplicate_cdr_id_billed_once_and_draws_once(per_cdr: list[tuple[Any, ...]]) -> None:
    # d1 billed once (the copy rated first): 540 of 600 included; d2 then gets the 60 left: (120 - 60) * 0.01 = 0.60
    assert [r for r in per_cdr if r[0].startswith("d")] == [
        ("d1", DUPLICATE, 0, None, None, "2026-12-01T00:00:05.000000Z"),
        ("d1", OK, 540, "minutes", Decimal("0.0000"), "2026-12-01T00:00:01.000000Z"),
        ("d2", OK, 60, "minutes", Decimal("0.6000"), "2026-12-01T00:00:00.000000Z"),
    ]


# -- invoices: one Spark run, one subscriber per scenario ---------------------------------------------------

# OVERLAP_SUB, active Nov 23..30 = 8 days: allowances `first` (60 s mobile) then `wide` (120 s mobile + fixed).
# o1 and o2 were assembled from partial records (o2 closed incomplete, its part 2 missing): billed
# exactly like whole CDRs, only counted apart on their line.
FALL_THROUGH_CDRS = [
    rated("o1", "2026-11-24T10:00:00.000000Z", "1.0000", msisdn=OVERLAP_SUB.msisdn, units=100, partials=3),
    rated("o2", "2026-11-25T10:00:00.000000Z", "0.9000", msisdn=OVERLAP_SUB.msisdn, units=90, partials=2,
          missing=(2,)),
    rated("o3", "2026-11-26T10:00:00.000000Z", "1.4000", msisdn=OVERLAP_SUB.msisdn, zone="national_fixed", units=45,
          price="1.20", connect_fee="0.50")]
# BUNDLE_SUB: `texts` = 1 sms, `minutes` = 600 s.
ROUNDING_CDRS = [
    rated("s1", "2026-11-05T10:00:00.000000Z", "0.0075", service="sms", units=6, price="0.00125", per=1),
    rated("s2", "2026-11-06T10:00:00.000000Z", "0.0041", service="sms", units=1, price="0.0041", per=1),
    rated("s3", "2026-11-07T10:00:00.000000Z", "0.0146", service="sms", units=2, price="0.0073", per=1),
    rated("v1", "2026-11-08T10:00:00.000000Z", "0.8000", units=30, connect_fee="0.50")]
# LATE_JOINER is active from Nov 20 (local date, UTC+1); NOBODY is no subscriber.
_N1 = rated("n1", "2026-11-10T10:00:00.000000Z", "0.6000", msisdn=NOBODY)
NO_SUBSCRIBER_CDRS = [
    _N1, _N1,  # an unknown number, twice: one unexplained CDR, one copy
    rated("n2", "2026-11-19T22:30:00.000000Z", "0.6000", msisdn=LATE_JOINER.msisdn),  # local Nov 19 23:30: not yet
    rated("n3", "2026-11-19T23:30:00.000000Z", "0.6000", msisdn=LATE_JOINER.msisdn)]  # local Nov 20 00:30: active
NOVEMBER_SUBSCRIBERS = [BUNDLE_SUB, OVERLAP_SUB, LATE_JOINER, MINI_SUB, GONE_SUB, IDLE_SUB]


@pytest.fixture(scope="module")
def november(spark: Any, catalog: Catalog) -> invoices.Billed:
    return bill(spark, catalog, NOVEMBER_SUBSCRIBERS, FALL_THROUGH_CDRS + ROUNDING_CDRS + NO_SUBSCRIBER_CDRS)


def invoice_of(billed: invoices.Billed, subscriber: Subscriber) -> dict[str, Any]:
    [invoice] = [i for i in billed.invoices if i["msisdn"] == subscriber.msisdn]
    return invoice


def test_crossing_cdr_pays_its_rest_and_the_next_falls_through(november: invoices.Billed) -> None:
    invoice = invoice_of(november, OVERLAP_SUB)
    # o1: 60 from `first`, the 40 s beyond are charged (not taken from `wide`): 40 * 0.01 = 0.40
    # o2: `first` is empty, falls through to `wide`: 90 included, 0.00 (30 left)
    # o3: 30 from `wide`, 0.50 connect fee + 15 s * 1.20 / 60 = 0.50 + 0.30 = 0.80
    assert usage(invoice) == [("voice", "national_fixed", 45, 30, "0.80", 1),  # national_fixed < national_mobile
                              ("voice", "national_mobile", 190, 150, "0.40", 2)]
    # 8 active days, but the allowances are full (not prorated)
    assert [(a["name"], a["quantity"], a["used"]) for a in invoice["allowances"]] == [("first", 60, 60),
                                                                                    ("wide", 120, 120)]
    # recurring 10.00 * 8 / 30 = 2.6666.. -> 2.67; usage 0.80 + 0.40 = 1.20; subtotal 3.87;
    # tax 3.87 * 0.20 = 0.774 -> 0.77; total 4.64
    assert (invoice["active_days"], invoice["lines"][0]["quantity"]) == (8, 8)
    assert totals(invoice) == ("2.67", "1.20", "3.87", "0.77", "4.64")


def test_billed_amount_half_up_per_cdr_and_line_rounded_once(november: invoices.Billed) -> None:
    invoice = invoice_of(november, BUNDLE_SUB)
    # s1: 1 included, 5 * 0.00125 = 0.00625 -> 0.0063 (half-up; half-even or truncation: 0.0062)
    # s2, s3: nothing left, their rated charges 0.0041 and 0.0146
    # sms line: 0.0063 + 0.0041 + 0.0146 = 0.0250 -> 0.03 once (per CDR to cents: 0.01 + 0.00 + 0.01 = 0.02)
    # v1: fully included, still pays its connect fee 0.50
    assert usage(invoice) == [("sms", "national_mobile", 9, 1, "0.03", 3), ("voice", "national_mobile", 30, 30, "0.50", 1)]
    # recurring 99.00 (whole month); subtotal 99.53; tax 19.906 -> 19.91; total 119.44
    assert totals(invoice) == ("99.00", "0.53", "99.53", "19.91", "119.44")


def test_recurring_fee_prorated_by_active_days(november: invoices.Billed) -> None:
    # GONE_SUB terminated on Nov 1 (the period's first day): no active day, no invoice.
    assert GONE_SUB.msisdn not in [i["msisdn"] for i in november.invoices]
    idle, mini = invoice_of(november, IDLE_SUB), invoice_of(november, MINI_SUB)
    assert idle["invoice_number"] == "INV-202611-36F4FA4957"  # sha256("212600000006|2020-01-01")[:10]
    assert idle["lines"] == [{"type": "recurring", "service": None, "zone": None, "quantity": 30,
                              "billable_units": 30, "included_units": 0, "amount": "99.00", "cdr_count": 0,
                              "assembled_cdrs": 0, "incomplete_cdrs": 0}]
    assert totals(idle) == ("99.00", "0.00", "99.00", "19.80", "118.80")  # tax 99.00 * 0.20
    # MINI active Nov 1 only (terminated Nov 2): 0.75 * 1 / 30 = 0.025 -> 0.03 (half-up);
    # tax 0.03 * 0.20 = 0.006 -> 0.01; total 0.04
    assert (mini["active_days"], mini["days_in_period"]) == (1, 30)
    assert totals(mini) == ("0.03", "0.00", "0.03", "0.01", "0.04")


def test_cdr_without_subscriber_is_counted_not_billed(november: invoices.Billed) -> None:
    # n1 (and its copy) and n2 are not billed; only n3 is, with the 7 CDRs of the other scenarios.
    assert {k: v["cdrs"] for k, v in november.status.items()} == {OK: 8, NO_SUBSCRIBER: 2, DUPLICATE: 1}
    assert [(u["cdr_id"], u["status"]) for u in november.unexplained] == [("n1", NO_SUBSCRIBER), ("n2", NO_SUBSCRIBER)]
    invoice = invoice_of(november, LATE_JOINER)  # PAYG, active Nov 20..30 = 11 days, fee 0.00
    assert (invoice["active_days"], usage(invoice)) == (11, [("voice", "national_mobile", 60, 0, "0.60", 1)])


def partial_counts(invoice: dict[str, Any]) -> list[tuple[Any, ...]]:
    return [(x["type"], x["zone"], x["cdr_count"], x["assembled_cdrs"], x["incomplete_cdrs"]) for x in invoice["lines"]]


def test_assembled_cdrs_counted_on_their_line_and_billed_as_any(november: invoices.Billed) -> None:
    invoice = invoice_of(november, OVERLAP_SUB)
    # The amounts are test_crossing_cdr_pays_its_rest_and_the_next_falls_through's, worked out for whole CDRs.
    assert partial_counts(invoice) == [("recurring", None, 0, 0, 0), ("usage", "national_fixed", 1, 0, 0),
                                       ("usage", "national_mobile", 2, 2, 1)]
    assert totals(invoice) == ("2.67", "1.20", "3.87", "0.77", "4.64")
    assert all(x["assembled_cdrs"] == x["incomplete_cdrs"] == 0 for x in invoice_of(november, BUNDLE_SUB)["lines"])


def test_invoice_html_and_report_show_the_assembled_cdrs(november: invoices.Billed, tmp_path: Path) -> None:
    report.render_invoices(november.invoices, tmp_path / "html")
    html = (tmp_path / "html" / report.invoice_file(invoice_of(november, OVERLAP_SUB))).read_text(encoding="utf-8")
    assert "Voice, national mobile (2 records; 2 calls assembled from parts, 1 incomplete)" in html
    assert "Voice, national fixed (1 record)<" in html
    assert report.partial_records(november.invoices) == [
        {"service": "sms", "cdr_count": 3, "assembled_cdrs": 0, "incomplete_cdrs": 0},
        {"service": "voice", "cdr_count": 5, "assembled_cdrs": 2, "incomplete_cdrs": 1}]
    report.render_report(november.invoices, november.hourly, reconcile.build_report(november, None), tmp_path, "html")
    page = (tmp_path / report.REPORT_FILE).read_text(encoding="utf-8")
    assert ('<tr><td>Voice</td><td class="num">5</td><td class="num">2</td><td class="num">1</td></tr>'
            in page.split("<h2>Partial records</h2>")[1])


# -- reconciliation: a Spark run of its own (its counts are the whole run's) ----------------------------------


def test_reconciliation_counts_and_money_trail(spark: Any, catalog: Catalog) -> None:
    r1 = rated("r1", "2026-11-03T10:00:00.000000Z", "7.0000", units=700)
    cdrs = [r1, r1,  # a copy
            rated("r2", "2026-11-04T10:00:00.000000Z", "0.0050", service="sms", zone="national_fixed", units=1,
                  price="0.0050", per=1),
            {**rated("r-invalid", "2026-11-05T10:00:00.000000Z", "0.6000"), "per": 0},
            rated("r-nosub", "2026-11-06T10:00:00.000000Z", "0.6000", msisdn=NOBODY),
            rated("r-unreadable", "yesterday", "0.6000"), "not json {",
            rated("r-october", "2026-10-15T10:00:00.000000Z", "0.6000")]  # another period: not counted
    report = reconcile.build_report(bill(spark, catalog, [BUNDLE_SUB], cdrs), None)
    # records 5 (r1 twice, r2, r-invalid, r-nosub); billed = 5 - 1 - 1 - 1 = 2; 2 unreadable, outside `records`
    assert report["rated"] == {"records": 5, "duplicates": 1, "billed": 2, "invalid": 1, "no_subscriber": 1,
                               "unreadable": 2}
    assert report["unexplained_total"] == 4  # 1 invalid + 1 no_subscriber + 2 unreadable
    # r1: 600 included, 100 * 0.01 = 1.0000; r2: 0.0050. Charges 7.0050 - inclusions 6.0000 = 1.0050.
    # Lines: voice 1.00, sms 0.0050 -> 0.01 (half-up): 1.01, drift 1.01 - 1.0050 = 0.0050 <= 2 * 0.005
    amounts = report["amounts"]
    assert [amounts[k] for k in ("rated_charges", "allowance_inclusions", "billed_amounts", "usage_lines",
                                 "rounding_drift", "rounding_drift_bound", "rounding_drift_within_bound")] == [
        "7.0050", "6.0000", "1.0050", "1.01", "0.0050", "0.010", True]
    # subtotal 99.00 + 1.01 = 100.01; tax 20.002 -> 20.00
    assert [amounts[k] for k in ("recurring", "subtotal", "tax", "total")] == ["99.00", "100.01", "20.00", "120.01"]
    assert sorted(u["status"] for u in report["unexplained"]) == [INVALID, NO_SUBSCRIBER, UNREADABLE, UNREADABLE]


# -- invoices' pure helpers: no Spark ------------------------------------------------------------------------


@pytest.mark.parametrize(("service", "assembled", "incomplete", "note"), [
    ("voice", 0, 0, ""),
    ("voice", 1, 0, "1 call assembled from parts"),
    ("data", 3, 1, "3 sessions assembled from parts, 1 incomplete"),
    ("voice", 12345, 2, "12 345 calls assembled from parts, 2 incomplete"),
])
def test_partial_note_says_what_was_assembled(service: str, assembled: int, incomplete: int, note: str) -> None:
    line = {"service": service, "assembled_cdrs": assembled, "incomplete_cdrs": incomplete}
    assert report.partial_note(line) == note


def collected_row() -> dict[str, Any]:
    """A row as `invoices.collect` reads it back from Spark's JSON (amounts as Decimal)."""
    line = {"service": "voice", "zone": "national_mobile", "quantity": 190, "billable_units": 190,
            "included_units": 150, "amount": Decimal("0.4"), "cdr_count": 2, "assembled_cdrs": 1,
            "incomplete_cdrs": 1}
    late = {"origin_period": "2026-10", "service": "sms", "zone": "national_mobile", "quantity": 1,
            "billable_units": 1, "amount": Decimal("0.01"), "cdr_count": 1, "assembled_cdrs": 0, "incomplete_cdrs": 0}
    return {"sub_id": 0, "invoice_number": "INV-202611-0123456789", "active_days": 8, "recurring": Decimal("2.67"),
            "lines": [line], "late_lines": [late], "allowance_used": {"wide": 120}, "usage": Decimal("0.4"),
            "late_usage": Decimal("0.01"), "subtotal": Decimal("3.08"), "tax": Decimal("0.62"),
            "total": Decimal("3.7")}


def test_invoice_dict_from_a_collected_row(catalog: Catalog) -> None:
    invoice = invoices._invoice(collected_row(), catalog, OVERLAP_SUB, NOV, "draft")
    assert [(x["type"], x["amount"], x.get("origin_period")) for x in invoice["lines"]] == [
        ("recurring", "2.67", None), ("usage", "0.40", None), ("late_usage", "0.01", "2026-10")]
    assert invoice["lines"][2]["included_units"] == 0  # late usage never draws from an allowance
    assert [list(x)[-3:] for x in invoice["lines"]] == [["cdr_count", "assembled_cdrs", "incomplete_cdrs"]] * 3
    assert [(x["assembled_cdrs"], x["incomplete_cdrs"]) for x in invoice["lines"]] == [(0, 0), (1, 1), (0, 0)]
    assert [(a["name"], a["used"]) for a in invoice["allowances"]] == [("first", 0), ("wide", 120)]
    assert (invoice["period_start"], invoice["period_end"], invoice["days_in_period"]) == ("2026-11-01", "2026-11-30", 30)
    assert (invoice["total"], invoice["tax_rate"], invoice["status"]) == ("3.70", "0.20", "draft")
    csv_row = invoices.summary_text([invoice]).splitlines()[1]
    assert csv_row == "INV-202611-0123456789,212600000002,Overlap Subscriber,OVERLAP,2026-11,8,3,2.67,0.40,0.01,3.08," \
                      "0.62,3.70,MAD,draft"  # usage_cdrs 3 = 0 (recurring) + 2 (usage) + 1 (late)


def test_invoice_keys_in_the_documented_order(catalog: Catalog) -> None:
    """BILLING.md 5, the order of `invoices.jsonl`'s keys."""
    invoice = invoices._invoice(collected_row(), catalog, OVERLAP_SUB, NOV, "final")
    assert list(invoice) == [
        "schema_version", "invoice_number", "period", "status", "period_start", "period_end", "msisdn", "name",
        "address", "plan_id", "activation_date", "termination_date", "active_days", "days_in_period", "currency", "catalog_version",
        "lines", "allowances", "recurring", "usage", "late_usage", "subtotal", "tax_rate", "tax", "total"]


def test_price_or_fee_wider_than_six_places_is_invalid(spark: Any, catalog: Catalog) -> None:
    """BILLING.md 8: catalog money has 6 places; 7 is not rounded to fit, the record is invalid."""
    cdrs = [rated("w1", "2026-11-05T10:00:00.000000Z", "0.1235", units=60, price="0.1234567", per=60),
            {**rated("w2", "2026-11-05T10:00:00.000000Z", "0.6000", units=60, price="0.60", per=60),
             "connect_fee": "0.5000001"},
            rated("w3", "2026-11-05T10:00:00.000000Z", "0.1235", units=60, price="0.123456000", per=60)]
    typed = charges.type_rated(charges.parse_rated(lines_of(spark, cdrs)), catalog)
    rows = {r["cdr_id"]: (r["status"], r["problem"], r["price"]) for r in typed.collect()}
    assert rows["w1"][:2] == (INVALID, "price: absent or out of range for catalog " + catalog.version)
    assert rows["w2"][:2] == (INVALID, "connect_fee: absent or out of range for catalog " + catalog.version)
    assert rows["w3"] == (OK, None, Decimal("0.123456")), "trailing zeros are not places"
