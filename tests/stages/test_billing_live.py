"""Live billing rules (docs/BILLING.md section 9) on a few rows, local Spark only: the cut-off and
draft/final status (`live`), which rated CDRs are late for a final run (`late.is_late`,
`live.taken_in`), how late CDRs are deduplicated, attached and charged (`late.late_cdrs`), their
`late_usage` lines (`late.late_lines`, counting CDRs assembled from partial records), the invoice of a
subscriber with no active day but late usage, and the CDRs the run bills (`billed_cdrs`).

The catalog: Casablanca (UTC+1 all year in 2026), PAYG only (fee 0.00), 4 rounding places, 3 grace days.
Every expected value is worked out by hand and written as a literal.
"""

from __future__ import annotations

import dataclasses
import json
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from telecom_billing.billing import charges, invoices, job, late, live
from telecom_billing.billing.charges import DUPLICATE, NO_SUBSCRIBER, OK
from telecom_billing.billing.period import Period
from telecom_billing.refdata.catalog import Catalog, load_catalog
from telecom_billing.refdata.subscribers import Subscriber

CATALOG_YAML = """
catalog_version: "L-1"
currency: MAD
timezone: Africa/Casablanca
home_country_code: "212"
home_country: MA
tax_rate: "0.20"
rounding_decimals: 4
grace_days: 3
time_bands: [{name: any}]
zones: {national_mobile: ["2126", "2127"], rest_of_world: [""]}
roaming_zones: {roam_world: ["*"]}
plans:
  - id: PAYG
    monthly_fee: "0.00"
    rates: [{service: voice, zone: "*", band: "*", price: "0.60", per: 60, increments: [1, 1]}]
"""
SEP, OCT, NOV, DEC = Period(2026, 9), Period(2026, 10), Period(2026, 11), Period(2026, 12)
STAYING = Subscriber("212600000001", "Staying Subscriber", "1 Rue A", "PAYG", date(2020, 1, 1))
LEAVING = Subscriber("212600000002", "Leaving Subscriber", "2 Rue B", "PAYG", date(2020, 1, 1), date(2026, 11, 1))
NOBODY = "212699999999"
UNUSED = Path("unused")  # a FinalPeriod's folder: only read for billed_cdrs.parquet, given here as a frame


@pytest.fixture(scope="module")
def catalog(tmp_path_factory: pytest.TempPathFactory) -> Catalog:
    folder: Path = tmp_path_factory.mktemp("catalog")
    (folder / "catalog.yaml").write_text(CATALOG_YAML, encoding="utf-8")
    return load_catalog(folder)


# -- the clock: pure Python ----------------------------------------------------------------------------------


def test_cutoff_of_december_is_in_the_next_year(catalog: Catalog) -> None:
    # Jan 1 + 3 grace days = local Jan 4 00:00 (+01:00) = 2027-01-03T23:00Z
    assert live.cutoff(DEC, catalog) == datetime(2027, 1, 3, 23, 0, tzinfo=UTC)
    assert live.status_at(DEC, catalog, datetime(2027, 1, 3, 22, 59, 59, tzinfo=UTC)) == live.DRAFT
    assert live.status_at(DEC, catalog, datetime(2027, 1, 3, 23, 0, tzinfo=UTC)) == live.FINAL  # the instant itself
    # No grace: the cut-off is the period's end, local Jan 1 00:00 = 2026-12-31T23:00Z
    assert live.cutoff(DEC, dataclasses.replace(catalog, grace_days=0)) == datetime(2026, 12, 31, 23, 0, tzinfo=UTC)


def test_taken_in_is_the_highest_offset_of_any_final() -> None:
    finals = [live.FinalPeriod(SEP, UNUSED, {0: 5, 1: 3}), live.FinalPeriod(OCT, UNUSED, {0: 8})]
    assert live.taken_in(finals) == {0: 8, 1: 3}
    assert live.taken_in([]) == {}


# -- late CDRs: Spark ------------------------------------------------------------------------------------------


def test_late_only_for_earlier_final_periods_beyond_every_final_offset(frame: Any) -> None:
    finals = [live.FinalPeriod(SEP, UNUSED, {0: 5, 1: 3}), live.FinalPeriod(OCT, UNUSED, {0: 8})]
    rows = frame("origin_period string, partition int, offset bigint", [
        ("2026-10", 0, 7),  # below 8: October's final took it in
        ("2026-10", 0, 8),  # at the bound: late
        ("2026-09", 0, 6),  # beyond September's 5 but below October's 8: taken in by October's final
        ("2026-09", 1, 3),  # at the bound of partition 1: late
        ("2026-10", 2, 0),  # a partition no final has read: late from offset 0
        ("2026-11", 0, 99),  # the run's own period: not late
        ("2026-08", 0, 99),  # not a final period
    ])
    flags = rows.select(late.is_late(finals, NOV).alias("late")).collect()
    assert [r["late"] for r in flags] == [False, True, False, True, True, False, False]
    # For October's own final run only September is earlier: October's CDRs are never late there.
    october_run = rows.select(late.is_late(finals, OCT).alias("late")).collect()
    assert [r["late"] for r in october_run] == [False, False, False, True, False, False, False]


def rated(cdr_id: str, event_time: str, charge: str, msisdn: str = STAYING.msisdn,
          rated_at: str = "2026-11-05T00:00:00.000000Z", partials: int | None = None, incomplete: bool | None = None
          ) -> str:
    """A rated CDR's JSON (60 s national voice at 0.60 per 60 s unless the charge says otherwise); with
    `partials`, assembled from that many parts (RULES.md 18)."""
    return json.dumps({"cdr_id": cdr_id, "record_type": "voice", "event_time": event_time, "msisdn": msisdn,
                       "zone": "national_mobile", "quantity": 60, "billable_units": 60, "price": "0.60", "per": 60,
                       "connect_fee": "0.00", "charge": charge, "rated_at": rated_at, "partials": partials,
                       "incomplete": incomplete})


# November's final run, after October's, which took in partition 0 below offset 2 and nothing of partition 1.
TOPIC = [  # (value, partition, offset)
    (rated("early", "2026-10-10T10:00:00.000000Z", "0.6000"), 0, 1),  # below the bound: not late
    (rated("late-1", "2026-10-20T10:00:00.000000Z", "1.2000", rated_at="2026-11-05T00:00:05.000000Z"), 0, 3),
    (rated("late-2", "2026-10-21T10:00:00.000000Z", "0.0050", partials=2, incomplete=True), 0, 4),
    (rated("was-billed", "2026-10-22T10:00:00.000000Z", "0.6000"), 0, 5),  # in October's billed_cdrs
    (rated("leaving", "2026-10-30T10:00:00.000000Z", "0.3333", msisdn=LEAVING.msisdn), 0, 6),
    (rated("nobody", "2026-10-23T10:00:00.000000Z", "0.6000", msisdn=NOBODY), 0, 7),
    # November's own usage
    (rated("nov-usage", "2026-11-05T10:00:00.000000Z", "0.6000", partials=3, incomplete=False), 0, 8),
    (rated("sep", "2026-09-15T10:00:00.000000Z", "0.6000"), 0, 9),  # September is not a final period
    # local Oct 1 00:30: October
    (rated("edge-oct", "2026-09-30T23:30:00.000000Z", "0.6000", partials=4, incomplete=False), 0, 10),
    (rated("late-1", "2026-10-20T10:00:00.000000Z", "1.2000", rated_at="2026-11-05T00:00:01.000000Z"), 1, 0),
]


@pytest.fixture(scope="module")
def late_rule(spark: Any) -> late.LateRule:
    return late.LateRule(finals=[live.FinalPeriod(OCT, UNUSED, {0: 2})],
                         billed=spark.createDataFrame([("was-billed",)], "cdr_id string"))


@pytest.fixture(scope="module")
def topic(spark: Any) -> Any:
    lines = spark.createDataFrame(TOPIC, "value string, partition int, offset bigint")
    return charges.parse_rated(lines, keep=("partition", "offset"))


@pytest.fixture(scope="module")
def late_rows(spark: Any, catalog: Catalog, topic: Any, late_rule: late.LateRule) -> Any:
    subs = charges.subscriber_frame(spark, [STAYING, LEAVING], catalog, NOV)  # sub_id 0 and 1
    return late.late_cdrs(charges.type_rated(topic, catalog), subs, late_rule, NOV, catalog).cache()


def test_late_cdrs_deduplicated_attached_and_at_their_rated_charge(late_rows: Any) -> None:
    rows = late_rows.select("cdr_id", "partition", "offset", "status", "sub_id", "origin_period",
                            "billed_amount").orderBy("cdr_id", "partition").collect()
    assert [tuple(r) for r in rows] == [
        ("edge-oct", 0, 10, OK, 0, "2026-10", Decimal("0.6000")),
        ("late-1", 0, 3, DUPLICATE, 0, "2026-10", None),  # rated later than its copy on partition 1
        ("late-1", 1, 0, OK, 0, "2026-10", Decimal("1.2000")),  # first by rated_at
        ("late-2", 0, 4, OK, 0, "2026-10", Decimal("0.0050")),
        ("leaving", 0, 6, OK, 1, "2026-10", Decimal("0.3333")),  # active in October, not in November
        ("nobody", 0, 7, NO_SUBSCRIBER, None, "2026-10", None),
        ("was-billed", 0, 5, DUPLICATE, 0, "2026-10", None),  # billed by a final already
    ]


def test_late_lines_sum_the_charges_rounded_half_up_once(late_rows: Any) -> None:
    lines = late.late_lines(late.late_status(late_rows)).select(
        "sub_id", "origin_period", "service", "zone", "cdr_count", "assembled_cdrs", "incomplete_cdrs", "amount"
    ).orderBy("sub_id").collect()
    assert [tuple(r) for r in lines] == [
        # 0.6000 + 1.2000 + 0.0050 = 1.8050 -> 1.81; edge-oct assembled, late-2 assembled and incomplete
        (0, "2026-10", "voice", "national_mobile", 3, 2, 1, Decimal("1.81")),
        (1, "2026-10", "voice", "national_mobile", 1, 0, 0, Decimal("0.33")),  # 0.3333 -> 0.33
    ]


def test_subscriber_gone_before_the_period_gets_an_invoice_for_late_usage(
        spark: Any, catalog: Catalog, topic: Any, late_rule: late.LateRule) -> None:
    frames = job.bill(topic, catalog, [STAYING, LEAVING], NOV, late_rule)
    try:
        billed = invoices.collect(frames, catalog, [STAYING, LEAVING], NOV, live.FINAL)
        ledger = sorted(tuple(r) for r in frames.billed_cdrs.select(*invoices.BILLED_CDRS_COLUMNS).collect())
    finally:
        frames.close()
    staying, leaving = billed.invoices
    assert [(x["type"], x.get("origin_period"), x["cdr_count"], x["assembled_cdrs"], x["incomplete_cdrs"],
             x["amount"]) for x in staying["lines"]] == [
        ("recurring", None, 0, 0, 0, "0.00"), ("usage", None, 1, 1, 0, "0.60"),
        ("late_usage", "2026-10", 3, 2, 1, "1.81")]
    assert ledger == [("edge-oct", "2026-10", "late_usage", 4, False), ("late-1", "2026-10", "late_usage", None, None),
                      ("late-2", "2026-10", "late_usage", 2, True), ("leaving", "2026-10", "late_usage", None, None),
                      ("nov-usage", "2026-11", "usage", 3, False)]
    # LEAVING: no active day in November, a 0.00 recurring line and its late line; tax 0.33 * 0.20 = 0.066 -> 0.07
    assert (leaving["active_days"], [x["type"] for x in leaving["lines"]]) == (0, ["recurring", "late_usage"])
    assert tuple(leaving[k] for k in ("recurring", "usage", "late_usage", "subtotal", "tax", "total")) == (
        "0.00", "0.00", "0.33", "0.33", "0.07", "0.40")
    assert {k: v["cdrs"] for k, v in billed.late_status.items()} == {OK: 4, DUPLICATE: 2, NO_SUBSCRIBER: 1}
