"""Hand cases on the pure-Python billing reference (DESIGN.md section 7, docs/BILLING.md).

The expected numbers are worked out by hand in `reference.billing.hand_cases`; the integration
tests run the same cases through the Spark job.
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from fractions import Fraction
from typing import Any

import pytest

from reference.billing import (
    MAIN,
    OTHER,
    Billing,
    Case,
    Late,
    bill_period,
    half_up,
    hand_cases,
    hand_catalog,
    invoice_number,
    on_topic,
    rated_cdr,
    subscriber,
)
from telecom_billing.refdata.subscribers import Subscriber

CATALOG = hand_catalog()


@pytest.mark.parametrize("case", hand_cases(), ids=lambda c: c.name)
def test_hand_case(case: Case) -> None:
    case.check(bill_period(case.cdrs, CATALOG, case.subscribers, case.period))


@pytest.mark.parametrize(("value", "places", "expected"), [
    (Fraction(5, 1000), 2, "0.01"),
    (Fraction(4999, 1000000), 2, "0.00"),
    (Fraction(1, 3), 4, "0.3333"),
    (Fraction(2, 3), 4, "0.6667"),
    (Fraction(0), 2, "0.00"),
    (Fraction(125, 10000), 2, "0.01"),
    (Fraction(135, 10000), 2, "0.01"),
])
def test_half_up(value: Fraction, places: int, expected: str) -> None:
    assert f"{half_up(value, places):.{places}f}" == expected


def test_invoice_number_is_stable_and_a_safe_file_name() -> None:
    one = subscriber()
    number = invoice_number("2026-10", one)
    assert number == invoice_number("2026-10", subscriber(name="Someone Else"))
    assert number != invoice_number("2026-11", one)
    assert number != invoice_number("2026-10", subscriber(activation=date(2021, 1, 1)))
    assert number.startswith("INV-202610-") and number.replace("-", "").isalnum()


def test_invoices_are_ordered_by_msisdn_and_amounts_have_two_places() -> None:
    billing = bill_period([rated_cdr("a", "2026-10-02T10:00:00Z", msisdn=OTHER, zone="europe", price="1.20",
                                     quantity=61)],
                          CATALOG, [subscriber(OTHER), subscriber(MAIN)], "2026-10")
    assert [i["msisdn"] for i in billing.invoices] == [MAIN, OTHER]
    other = billing.invoices[1]
    assert other["lines"][1]["amount"] == "1.22"  # 61 s at 1.20 per 60 s = 1.22
    for invoice in billing.invoices:
        for key in ("recurring", "usage", "subtotal", "tax", "total"):
            assert Decimal(invoice[key]).as_tuple().exponent == -2


def test_lines_are_ordered_by_service_then_zone_after_the_recurring_line() -> None:
    cdrs = [rated_cdr("v", "2026-10-02T10:00:00Z", zone="europe", price="1.20"),
            rated_cdr("d", "2026-10-02T11:00:00Z", service="data", zone="home", price="0.05", per=1048576),
            rated_cdr("s", "2026-10-02T12:00:00Z", service="sms", zone="europe", quantity=1, price="0.0017", per=1),
            rated_cdr("m", "2026-10-02T13:00:00Z")]
    invoice = bill_period(cdrs, CATALOG, [subscriber()], "2026-10").invoices[0]
    assert [(line["type"], line["service"], line["zone"]) for line in invoice["lines"]] == [
        ("recurring", None, None), ("usage", "data", "home"), ("usage", "sms", "europe"),
        ("usage", "voice", "europe"), ("usage", "voice", "national_mobile")]


# -- late CDRs (DESIGN.md 7a) ------------------------------------------------------------------------

OCTOBER_FINAL = {"2026-10": {0: 5}}  # October's final run took in partition 0 below offset 5 (none of 1)


def _late_run(late_cdrs: list[dict[str, Any]], subscribers: list[Subscriber] | None = None,
              billed: tuple[str, ...] = (), status: str = "final") -> Billing:
    return bill_period([], CATALOG, subscribers or [subscriber()], "2026-11",
                       Late(late_cdrs, OCTOBER_FINAL, billed), status)


def _late_lines(invoice: dict[str, Any]) -> list[tuple[str, str, str, int, str, int]]:
    return [(line["origin_period"], line["service"], line["zone"], line["quantity"], line["amount"],
             line["cdr_count"]) for line in invoice["lines"] if line["type"] == "late_usage"]


def test_a_late_cdr_beyond_the_snapshot_is_billed_at_its_rated_charge() -> None:
    november = rated_cdr("nov", "2026-11-03T10:00:00Z", quantity=120)  # inside the allowance: 0.00
    late = on_topic(rated_cdr("oct", "2026-10-15T10:00:00Z", quantity=90), 0, 5)  # no allowance: 0.90
    result = bill_period([november], CATALOG, [subscriber()], "2026-11", Late([late], OCTOBER_FINAL))
    invoice = result.invoices[0]
    assert [(line["type"], line["amount"]) for line in invoice["lines"]] == [
        ("recurring", "99.00"), ("usage", "0.00"), ("late_usage", "0.90")]
    assert invoice["lines"][-1] == {"type": "late_usage", "origin_period": "2026-10", "service": "voice",
                                    "zone": "national_mobile", "quantity": 90, "billable_units": 90,
                                    "included_units": 0, "amount": "0.90", "cdr_count": 1, "assembled_cdrs": 0,
                                    "incomplete_cdrs": 0}
    assert (invoice["usage"], invoice["late_usage"], invoice["subtotal"], invoice["tax"], invoice["total"]) == (
        "0.00", "0.90", "99.90", "19.98", "119.88")
    assert invoice["allowances"][0]["used"] == 120, "a late CDR draws on no allowance"
    assert (invoice["status"], result.late_billed, result.late_duplicates) == ("final", 1, 0)


def test_only_offsets_no_final_took_in_are_late() -> None:
    cdrs = [on_topic(rated_cdr("seen", "2026-10-15T10:00:00Z"), 0, 4),  # below October's snapshot
            on_topic(rated_cdr("other-partition", "2026-10-15T11:00:00Z"), 1, 0),  # partition 1: from 0 on
            on_topic(rated_cdr("september", "2026-09-15T10:00:00Z"), 0, 9),  # September is not final
            on_topic(rated_cdr("november", "2026-11-02T10:00:00Z"), 0, 10),  # the period itself: not late
            on_topic(rated_cdr("local-october", "2026-10-31T23:30:00Z"), 0, 11)]  # 00:30 on 1 November locally
    result = _late_run(cdrs)
    assert result.late_billed == 1
    assert _late_lines(result.invoices[0]) == [("2026-10", "voice", "national_mobile", 60, "0.60", 1)]


def test_a_copy_of_a_billed_cdr_is_a_duplicate() -> None:
    result = _late_run([on_topic(rated_cdr("billed", "2026-10-15T10:00:00Z"), 0, 7)], billed=("billed",))
    assert (result.late_billed, result.late_duplicates) == (0, 1)
    assert _late_lines(result.invoices[0]) == [] and result.invoices[0]["late_usage"] == "0.00"


def test_late_copies_of_one_cdr_are_billed_once_the_first_by_rated_at() -> None:
    first = rated_cdr("twice", "2026-10-15T10:00:00Z", quantity=60, rated_at="2026-11-02T00:00:00.000000Z")
    # A later copy (by rated_at) that sits earlier on the topic, and one with the same rated_at further on.
    cdrs = [on_topic({**first, "charge": "9.9900", "rated_at": "2026-11-03T00:00:00.000000Z"}, 0, 6),
            on_topic(first, 1, 3), on_topic({**first, "charge": "7.0000"}, 1, 4)]
    result = _late_run(cdrs)
    assert (result.late_billed, result.late_duplicates) == (1, 2)
    assert _late_lines(result.invoices[0]) == [("2026-10", "voice", "national_mobile", 60, "0.60", 1)]


def test_a_subscriber_with_only_late_usage_gets_an_invoice() -> None:
    gone = subscriber(OTHER, termination=date(2026, 11, 1))
    never = subscriber("212600000003", termination=date(2026, 11, 1))  # no late usage: no invoice
    result = _late_run([on_topic(rated_cdr("last-call", "2026-10-31T10:00:00Z", msisdn=OTHER), 0, 8)],
                       [subscriber(), gone, never], status="draft")
    assert [i["msisdn"] for i in result.invoices] == [MAIN, OTHER]
    invoice = result.invoices[1]
    assert (invoice["active_days"], invoice["recurring"], invoice["usage"], invoice["late_usage"]) == (
        0, "0.00", "0.00", "0.60")
    assert [line["type"] for line in invoice["lines"]] == ["recurring", "late_usage"]
    assert invoice["lines"][0]["quantity"] == 0
    assert (invoice["subtotal"], invoice["tax"], invoice["total"], invoice["status"]) == (
        "0.60", "0.12", "0.72", "draft")


def test_a_late_cdr_of_no_subscriber_is_not_billed() -> None:
    result = _late_run([on_topic(rated_cdr("nobody", "2026-10-15T10:00:00Z", msisdn="212699999999"), 0, 5)])
    assert (result.late_billed, [i for i, _ in result.late_unbilled]) == (0, ["nobody"])


def test_late_lines_round_their_sum_half_up_and_are_ordered() -> None:
    sms: dict[str, Any] = {"service": "sms", "quantity": 1, "per": 1}
    cdrs = [*[on_topic(rated_cdr(f"m{i}", f"2026-10-1{i}T10:00:00Z", zone="national_mobile", price="0.0017", **sms),
                       1, i) for i in range(3)],  # 3 x 0.0017 = 0.0051: 0.01 (not 3 x 0.00)
            *[on_topic(rated_cdr(f"e{i}", f"2026-10-2{i}T10:00:00Z", zone="europe", price="0.0025", **sms), 1, 5 + i)
              for i in range(2)],  # 2 x 0.0025 = 0.0050 exactly: half-up to 0.01
            on_topic(rated_cdr("v", "2026-10-05T10:00:00Z", zone="europe", price="1.20"), 1, 9)]
    invoice = _late_run(cdrs, [subscriber(plan_id="PAYG")]).invoices[0]
    assert _late_lines(invoice) == [("2026-10", "sms", "europe", 2, "0.01", 2),
                                    ("2026-10", "sms", "national_mobile", 3, "0.01", 3),
                                    ("2026-10", "voice", "europe", 60, "1.20", 1)]
    assert (invoice["late_usage"], invoice["subtotal"], invoice["tax"]) == ("1.22", "1.22", "0.24")


def test_without_late_cdrs_invoices_have_zero_late_usage_and_the_status() -> None:
    invoice = bill_period([rated_cdr("a", "2026-10-02T10:00:00Z")], CATALOG, [subscriber()], "2026-10",
                          status="draft").invoices[0]
    assert (invoice["status"], invoice["late_usage"]) == ("draft", "0.00")
    assert list(invoice)[:4] == ["schema_version", "invoice_number", "period", "status"]
