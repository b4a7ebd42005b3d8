"""Hand cases on the pure-Python billing reference (DESIGN.md section 7, docs/BILLING.md).

The expected numbers are worked out by hand in `reference.billing.hand_cases`; the integration
tests run the same cases through the Spark job.
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from fractions import Fraction

import pytest

from reference.billing import (
    MAIN,
    OTHER,
    Case,
    bill_period,
    half_up,
    hand_cases,
    hand_catalog,
    invoice_number,
    rated_cdr,
    subscriber,
)

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
