"""The Spark billing job against the pure-Python reference, and the period folder it writes.

Property tests generate whole subscriber bases per example (one Spark run each); the hand cases of
`reference.billing` run through Spark too. Then the command: files, byte-identical re-runs,
refusal to overwrite, hostile record content, reading the rated topic.
"""

from __future__ import annotations

import dataclasses
import json
import os
import random
import re
import subprocess
import sys
from datetime import date, datetime, timedelta
from decimal import Decimal
from fractions import Fraction
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from kafka import KafkaProducer

from reference.billing import (
    MAIN,
    OTHER,
    Billing,
    Case,
    Late,
    bill_period,
    hand_cases,
    hand_catalog,
    on_topic,
    rated_cdr,
    subscriber,
)
from reference.billing import TEST_CATALOG as CATALOG_YAML
from telecom_billing import cli
from telecom_billing.billing import charges, invoices, job, reconcile
from telecom_billing.billing.charges import DUPLICATE, NO_SUBSCRIBER, OK
from telecom_billing.billing.late import LateRule
from telecom_billing.billing.live import FinalPeriod
from telecom_billing.billing.period import Period
from telecom_billing.refdata.catalog import Allowance, Catalog
from telecom_billing.refdata.subscribers import Subscriber, write_subscribers

pytestmark = pytest.mark.integration

CATALOG = hand_catalog()
# (service, zone, price, per, connect_fee): what the rated CDRs of the property tests are priced at.
PRICES = [
    ("voice", "national_mobile", "0.60", 60, "0.00"),
    ("voice", "national_mobile", "1.20", 60, "0.00"),
    ("voice", "national_fixed", "1.20", 60, "0.50"),
    ("voice", "europe", "1.20", 60, "0.50"),
    ("voice", "incoming", "0.00", 60, "0.00"),
    ("sms", "national_mobile", "0.0017", 1, "0.00"),
    ("sms", "europe", "0.005", 1, "0.00"),
    ("data", "home", "0.05", 1048576, "0.00"),
    ("data", "roam_world", "1.2", 1048576, "0.00"),
]


def spark_billing(spark: Any, cdrs: list[dict[str, Any]], catalog: Catalog, subscribers: list[Subscriber],
                  period: str) -> Billing:
    """Run the Spark job on JSON lines and present its result like the reference's."""
    lines = spark.createDataFrame([(json.dumps(c),) for c in cdrs], "value string")
    frames = job.bill(charges.parse_rated(lines), catalog, subscribers, Period.parse(period))
    try:
        billed = invoices.collect(frames, catalog, subscribers, Period.parse(period), "final")
    finally:
        frames.close()
    ok = billed.status.get(OK, {})
    duplicates = int(billed.status.get(DUPLICATE, {}).get("cdrs") or 0)
    return Billing(invoices=billed.invoices, duplicates=duplicates,
                   unbilled=sorted((u["cdr_id"], u["reason"]) for u in billed.unexplained),
                   rated_charges=Fraction(ok.get("charge") or 0), billed_amounts=Fraction(ok.get("billed_amount") or 0))


def assert_same(spark_result: Billing, expected: Billing) -> None:
    assert spark_result.invoices == expected.invoices
    assert spark_result.duplicates == expected.duplicates
    assert [i for i, _ in spark_result.unbilled] == sorted(i for i, _ in expected.unbilled)
    assert spark_result.rated_charges == expected.rated_charges
    assert spark_result.billed_amounts == expected.billed_amounts


# -- the hand cases, through Spark ---------------------------------------------------------------------


def _renumbered(case: Case, n: int) -> tuple[list[Subscriber], list[dict[str, Any]]]:
    """The case's input with its own msisdns and cdr_ids, so that cases of a period share one run."""
    def number(msisdn: str) -> str:
        return f"21270{n:02d}{msisdn[-5:]}" if msisdn.isdigit() else msisdn

    subscribers = [dataclasses.replace(s, msisdn=number(s.msisdn)) for s in case.subscribers]
    cdrs = [{**c, "msisdn": number(c["msisdn"]), "cdr_id": f"{n:02d}:{c['cdr_id']}"} for c in case.cdrs]
    return subscribers, cdrs


def _case_result(batch: Billing, case: Case, n: int) -> Billing:
    """The case's part of a batched result, with its own msisdns and cdr_ids back."""
    original = {f"21270{n:02d}{s.msisdn[-5:]}": s.msisdn for s in case.subscribers}
    prefix = f"{n:02d}:"
    invoices = [{**i, "msisdn": original[i["msisdn"]]} for i in batch.invoices if i["msisdn"] in original]
    mine = {c["cdr_id"] for c in case.cdrs}
    duplicates = len(case.cdrs) - len(mine)
    unbilled = [(i.removeprefix(prefix), r) for i, r in batch.unbilled if i.startswith(prefix)]
    return Billing(invoices=invoices, duplicates=duplicates, unbilled=unbilled)


@pytest.mark.parametrize("period", sorted({c.period for c in hand_cases()}))
def test_hand_cases_through_spark(spark: Any, period: str) -> None:
    """Every hand case of the period in one Spark run: Spark equals the reference, and each case's
    hand-worked facts hold on Spark's invoices."""
    cases = [(n, c) for n, c in enumerate(hand_cases()) if c.period == period]
    subscribers: list[Subscriber] = []
    cdrs: list[dict[str, Any]] = []
    for n, case in cases:
        subs, rows = _renumbered(case, n)
        subscribers += subs
        cdrs += rows
    result = spark_billing(spark, cdrs, CATALOG, subscribers, period)
    assert_same(result, bill_period(cdrs, CATALOG, subscribers, period))
    for n, case in cases:
        case.check(_case_result(result, case, n))


# -- property tests ------------------------------------------------------------------------------------

PERIODS = ["2026-10", "2026-03", "2026-12", "2027-01", "2028-02"]  # March 2026: Ramadan, Casablanca at +00


@st.composite
def scenarios(draw: Any) -> tuple[str, Catalog, list[Subscriber], list[dict[str, Any]]]:
    period = Period.parse(draw(st.sampled_from(PERIODS)))
    start = period.first_day
    plans = {}
    for plan in CATALOG.plans.values():
        allowances = tuple(dataclasses.replace(a, quantity=draw(st.integers(1, {
            "voice": 1200, "sms": 4, "data": 4_000_000}[a.service]))) for a in plan.allowances)
        extra = draw(st.sampled_from([(), (Allowance("late", "voice", ("national_mobile", "europe"), 300),)]))
        plans[plan.id] = dataclasses.replace(plan, allowances=allowances + extra)
    catalog = dataclasses.replace(CATALOG, plans=plans, rounding_decimals=draw(st.sampled_from([4, 2, 6])))

    subscribers: list[Subscriber] = []
    for n in range(draw(st.integers(1, 10))):
        activation = start + timedelta(days=draw(st.integers(-40, 32)))
        termination = draw(st.one_of(st.none(), st.integers(1, 50).map(lambda d, a=activation: a + timedelta(d))))
        msisdn = f"2126000001{n:02d}"
        subscribers.append(subscriber(msisdn, draw(st.sampled_from(sorted(plans))), activation, termination,
                                      name=f"Subscriber {n}"))
        if termination is not None and draw(st.booleans()):  # the number is recycled after termination
            later = termination + timedelta(days=draw(st.integers(0, 20)))
            subscribers.append(subscriber(msisdn, draw(st.sampled_from(sorted(plans))), later, None,
                                          name=f"Successor {n}"))
    msisdns = [*sorted({s.msisdn for s in subscribers}), "212699999999"]

    cdrs: list[dict[str, Any]] = []
    span_minutes = (period.days + 4) * 24 * 60
    first_minute = draw(st.integers(-3 * 24 * 60, -1))  # from a few days before the period
    for n in range(draw(st.integers(0, 60))):
        service, zone, price, per, fee = draw(st.sampled_from(PRICES))
        quantity = {"voice": draw(st.integers(1, 700)), "sms": 1,
                    "data": draw(st.integers(1, 3_000_000))}[service]
        minute = first_minute + draw(st.integers(0, span_minutes // 7)) * 7  # coarse: equal times happen
        event = (f"{(start + timedelta(days=minute // 1440)).isoformat()}"
                 f"T{(minute % 1440) // 60:02d}:{minute % 60:02d}:00Z")
        cdr = rated_cdr(f"cdr-{draw(st.integers(0, 3))}-{n:03d}", event, msisdn=draw(st.sampled_from(msisdns)),
                        service=service, zone=zone, quantity=quantity,
                        billable=quantity + draw(st.integers(0, 59)) * (service != "sms"), price=price, per=per,
                        connect_fee=fee, rounding=catalog.rounding_decimals)
        cdrs.append(cdr)
        if draw(st.integers(0, 9)) == 0:  # an at-least-once sink wrote it twice
            cdrs.append({**cdr, "rated_at": "2026-12-09T00:00:00.000000Z"})
    return period.label, catalog, subscribers, draw(st.permutations(cdrs))


# Each example is a Spark run: few examples, and no shrinking (it would take many more runs).
@settings(max_examples=10, deadline=None, derandomize=True, phases=[Phase.explicit, Phase.generate],
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(scenario=scenarios())
def test_spark_equals_reference(spark: Any, scenario: tuple[str, Catalog, list[Subscriber], list[dict]]) -> None:
    period, catalog, subscribers, cdrs = scenario
    assert_same(spark_billing(spark, cdrs, catalog, subscribers, period),
                bill_period(cdrs, catalog, subscribers, period))


def test_extreme_terms_bill_exactly(spark: Any) -> None:
    """Prices, `per` and rounding at the catalog's limits take the exact decimal path of the money
    engine, partly included or not, and still equal the reference to the last digit."""
    wide = dataclasses.replace(CATALOG, rounding_decimals=10)
    cdrs = [rated_cdr("w1", "2026-11-02T10:00:00Z", quantity=10**12 - 7, billable=10**12 - 7,
                      price="999999999.999999", per=10**12, connect_fee="999999999.999999", rounding=10),
            rated_cdr("w2", "2026-11-03T10:00:00Z", quantity=7, billable=7, price="0.000001", per=3, rounding=10)]
    subscribers = [subscriber()]
    assert_same(spark_billing(spark, cdrs, wide, subscribers, "2026-11"), bill_period(cdrs, wide, subscribers, "2026-11"))


# -- late CDRs (DESIGN.md 7a) --------------------------------------------------------------------------

LATE_SUBSCRIBERS = [
    subscriber("212600000201", "BUNDLE"),
    subscriber("212600000202", "OVERLAP", termination=date(2026, 11, 1)),  # only late usage in November
    subscriber("212600000203", "PAYG", activation=date(2026, 10, 20), termination=date(2026, 11, 10)),
    subscriber("212600000204", "TINY", termination=date(2026, 10, 10)),  # recycled: a successor from 20 Oct
    subscriber("212600000204", "BUNDLE", activation=date(2026, 10, 20)),
    subscriber("212600000205", "BUNDLE", termination=date(2026, 9, 1)),  # no invoice at all
    subscriber("212600000206", "RETIRED", termination=date(2026, 11, 1)),  # its plan left the catalog: late usage only
]


def late_scenario(seed: int) -> tuple[list[dict[str, Any]], dict[str, dict[int, int]], set[str]]:
    """Rated CDRs of September, October and November 2026 (some written twice, with different
    `rated_at`), arriving on 3 partitions of `cdr.rated` in a random order, and the final runs of
    September and October: each took in a random prefix of partitions 0 and 1 (never partition 2),
    and billed the ids of its own period seen below its snapshot."""
    rng = random.Random(seed)
    msisdns = [*sorted({s.msisdn for s in LATE_SUBSCRIBERS}), "212699999999"]
    cdrs: list[dict[str, Any]] = []
    for n in range(rng.randint(20, 70)):
        start = rng.choice([date(2026, 9, 25), date(2026, 10, 1), date(2026, 10, 1), date(2026, 10, 28)])
        minute = rng.randrange(0, 10 * 24 * 60, 7)  # coarse: equal times happen, month edges are crossed
        day = start + timedelta(days=minute // 1440)
        event = f"{day.isoformat()}T{(minute % 1440) // 60:02d}:{minute % 60:02d}:00Z"
        service, zone, price, per, fee = rng.choice(PRICES)
        quantity = {"voice": rng.randint(1, 700), "sms": 1, "data": rng.randint(1, 3_000_000)}[service]
        cdr = rated_cdr(f"late-{rng.randint(0, 3)}-{n:03d}", event, msisdn=rng.choice(msisdns), service=service,
                        zone=zone, quantity=quantity, billable=quantity + rng.randint(0, 59) * (service != "sms"),
                        price=price, per=per, connect_fee=fee,
                        rated_at=f"2026-11-0{rng.randint(1, 4)}T00:00:00.000000Z")
        cdrs.append(cdr)
        while rng.random() < 0.25:  # the at-least-once sink wrote it again, maybe much later
            cdrs.append({**cdr, "rated_at": f"2026-11-0{rng.randint(1, 9)}T00:00:00.000000Z"})
    rng.shuffle(cdrs)
    next_offset = [0, 0, 0]
    on_topics = []
    for cdr in cdrs:
        partition = rng.randrange(3)
        on_topics.append(on_topic(cdr, partition, next_offset[partition]))
        next_offset[partition] += 1
    october = {p: rng.randint(0, next_offset[p]) for p in (0, 1)}
    september = {p: rng.randint(0, october[p]) for p in (0, 1)}
    finals = {"2026-09": september, "2026-10": october}
    zone = ZoneInfo(CATALOG.timezone)

    def local_month(cdr: dict[str, Any]) -> str:
        return datetime.fromisoformat(cdr["event_time"]).astimezone(zone).strftime("%Y-%m")

    billed = {c["cdr_id"] for c in on_topics if c["partition"] in (0, 1)
              for label, offsets in finals.items()
              if local_month(c) == label and c["offset"] < offsets[c["partition"]]}
    return on_topics, finals, billed


def spark_late_billing(spark: Any, cdrs: list[dict[str, Any]], finals: dict[str, dict[int, int]],
                       billed_ids: set[str], subscribers: list[Subscriber], period: Period,
                       folder: Path) -> invoices.Billed:
    """The final run of `period` in Spark, reading `cdrs` (with their partition and offset) as `cdr.rated`."""
    lines = spark.createDataFrame([(json.dumps({k: v for k, v in c.items() if k not in ("partition", "offset")}),
                                    c["partition"], c["offset"]) for c in cdrs],
                                  "value string, partition int, offset bigint")
    rule = LateRule(finals=[FinalPeriod(Period.parse(label), folder / label, dict(offsets))
                            for label, offsets in finals.items()],
                    billed=spark.createDataFrame([(i,) for i in sorted(billed_ids)], "cdr_id string")
                    if billed_ids else None)
    frames = job.bill(charges.parse_rated(lines, keep=("partition", "offset")), CATALOG, subscribers, period,
                          rule)
    try:
        return invoices.collect(frames, CATALOG, subscribers, period, "final")
    finally:
        frames.close()


def late_counts(billed: invoices.Billed) -> dict[str, tuple[int, Fraction]]:
    """Spark's late CDRs per status: (count, billed amount)."""
    return {status: (int(row["cdrs"] or 0), Fraction(row["billed_amount"] or 0))
            for status, row in sorted(billed.late_status.items()) if row["cdrs"]}


def expected_late_counts(expected: Billing) -> dict[str, tuple[int, Fraction]]:
    counts = {OK: (expected.late_billed, expected.late_amounts), DUPLICATE: (expected.late_duplicates, Fraction(0)),
              NO_SUBSCRIBER: (len(expected.late_unbilled), Fraction(0))}
    return {status: count for status, count in sorted(counts.items()) if count[0]}


@pytest.mark.parametrize("seed", range(4))
def test_late_cdrs_spark_equals_reference(spark: Any, seed: int, tmp_path: Path) -> None:
    """November's final run after the finals of September and October: Spark's invoices (usage and
    late usage lines) and late CDR counts equal the reference, whatever the arrival order."""
    cdrs, finals, billed_ids = late_scenario(seed)
    period = Period.parse("2026-11")
    billed = spark_late_billing(spark, cdrs, finals, billed_ids, LATE_SUBSCRIBERS, period, tmp_path)
    expected = bill_period(cdrs, CATALOG, LATE_SUBSCRIBERS, period.label, Late(cdrs, finals, billed_ids), "final")
    assert billed.invoices == expected.invoices
    assert late_counts(billed) == expected_late_counts(expected)


def test_late_copies_of_no_subscriber_count_once(spark: Any, tmp_path: Path) -> None:
    """Two late copies of one CDR whose msisdn has no subscriber are one unbilled CDR and one
    duplicate (as in the period's own usage), and a late copy of a billed `cdr_id` is a duplicate
    even when its msisdn has no subscriber now."""
    nobody = rated_cdr("nobody", "2026-10-15T10:00:00Z", msisdn="212699999999")
    cdrs = [on_topic(nobody, 0, 0), on_topic(nobody, 0, 1),
            on_topic(rated_cdr("was-billed", "2026-10-16T10:00:00Z", msisdn="212699999999"), 0, 2)]
    finals, billed_ids = {"2026-10": {0: 0}}, {"was-billed"}
    billed = spark_late_billing(spark, cdrs, finals, billed_ids, [subscriber()], Period.parse("2026-11"), tmp_path)
    expected = bill_period(cdrs, CATALOG, [subscriber()], "2026-11", Late(cdrs, finals, billed_ids))
    assert expected_late_counts(expected) == {DUPLICATE: (2, 0), NO_SUBSCRIBER: (1, 0)}
    assert billed.invoices == expected.invoices
    assert late_counts(billed) == expected_late_counts(expected)


# -- the command and the period folder -----------------------------------------------------------------


@pytest.fixture
def inputs(tmp_path: Path) -> dict[str, Path]:
    """A catalog, a subscriber base with hostile names, and a rated file with a duplicate."""
    catalog = tmp_path / "catalog.yaml"
    catalog.write_text(CATALOG_YAML, encoding="utf-8")
    subs = tmp_path / "subscribers.csv"
    write_subscribers(subs, [
        subscriber(MAIN, name='<script>alert("x")</script>', address="../../etc/passwd"),
        subscriber(OTHER, plan_id="OVERLAP", activation=date(2026, 10, 10)),
        subscriber("212600000003", plan_id="PAYG", termination=date(2026, 9, 1)),
    ])
    rated = tmp_path / "rated.jsonl"
    cdrs = [rated_cdr("a", "2026-10-02T10:00:00Z", quantity=700),
            rated_cdr("b", "2026-10-12T10:00:00Z", msisdn=OTHER, zone="europe", price="1.20", connect_fee="0.50"),
            rated_cdr("b", "2026-10-12T10:00:00Z", msisdn=OTHER, zone="europe", price="1.20", connect_fee="0.50"),
            rated_cdr("c", "2026-10-13T10:00:00Z", msisdn=OTHER, service="data", zone="home", quantity=5000,
                      price="0.05", per=1048576),
            rated_cdr("nov", "2026-11-02T10:00:00Z")]
    rated.write_text("".join(json.dumps(c) + "\n" for c in cdrs), encoding="utf-8")
    return {"catalog": catalog, "subscribers": subs, "rated": rated, "out": tmp_path / "out"}


def bill(paths: dict[str, Path], *extra: str, out: Path | None = None) -> int:
    return cli.main(["bill", "--period", "2026-10", "--rated", str(paths["rated"]), "--catalog",
                     str(paths["catalog"]), "--subscribers", str(paths["subscribers"]), "--out",
                     str(out or paths["out"]), *extra])


def tree(folder: Path) -> dict[str, bytes]:
    return {p.relative_to(folder).as_posix(): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def test_period_folder(spark: Any, inputs: dict[str, Path]) -> None:
    assert bill(inputs) == 0
    folder = inputs["out"] / "period=2026-10"
    files = tree(folder)
    assert {"invoices.jsonl", "summary.csv", "lines.parquet", "reconciliation.json", "manifest.json", "_SUCCESS",
            "report.html"} <= set(files)
    assert [p.name for p in inputs["out"].iterdir()] == ["period=2026-10"], "no temporary folder is left"

    lines = files["invoices.jsonl"].decode().splitlines()
    written = [json.loads(line) for line in lines]
    expected = bill_period([json.loads(x) for x in inputs["rated"].read_text().splitlines()], CATALOG,
                           [subscriber(MAIN), subscriber(OTHER, plan_id="OVERLAP", activation=date(2026, 10, 10))],
                           "2026-10").invoices
    assert [{**i, "name": None, "address": None} for i in written] == [
        {**i, "name": None, "address": None} for i in expected]

    html = sorted(name for name in files if name.startswith("html/"))
    assert html == sorted(f"html/{i['invoice_number']}.html" for i in written)
    assert all(re.fullmatch(r"html/INV-202610-[0-9A-F]{10}\.html", name) for name in html)
    page = files[f"html/{written[0]['invoice_number']}.html"].decode()
    assert "<script>" not in page and "&lt;script&gt;" in page

    report = json.loads(files["reconciliation.json"])
    assert (report["rated"]["records"], report["rated"]["duplicates"], report["rated"]["billed"]) == (4, 1, 3)
    assert report["unexplained_total"] == 0 and report["unexplained"] == []
    amounts = report["amounts"]
    assert Decimal(amounts["usage_lines"]) - Decimal(amounts["billed_amounts"]) == Decimal(amounts["rounding_drift"])
    assert Decimal(amounts["rated_charges"]) - Decimal(amounts["allowance_inclusions"]) == Decimal(
        amounts["billed_amounts"])

    manifest = json.loads(files["manifest.json"])
    for name in ("invoices.jsonl", "summary.csv", "lines.parquet", "reconciliation.json", "report.html"):
        assert manifest["files"][name]["bytes"] == len(files[name])
    assert manifest["counts"]["invoices"] == len(written) == 2
    assert manifest["totals"]["total"] == f"{sum(Decimal(i['total']) for i in written):.2f}"

    flat = spark.read.parquet(str(folder / "lines.parquet")).orderBy("invoice_number", "line_no").collect()
    assert [(r["invoice_number"], r["type"], str(r["amount"])) for r in flat] == [
        (i["invoice_number"], line["type"], line["amount"]) for i in sorted(written, key=lambda i: i["invoice_number"])
        for line in i["lines"]]
    summary = files["summary.csv"].decode().splitlines()
    assert summary[0].startswith("invoice_number,msisdn,") and len(summary) == 3


def test_rerun_is_byte_identical_and_a_different_output_is_refused(spark: Any, inputs: dict[str, Path],
                                                                   capsys: Any) -> None:
    assert bill(inputs) == 0
    first = tree(inputs["out"])
    # Another process (another JVM: parquet-mr's footer order depends on it) writes the same bytes.
    again = inputs["out"].with_name("again")
    command = [sys.executable, "-m", "telecom_billing.cli", "bill", "--period", "2026-10", "--rated",
               str(inputs["rated"]), "--catalog", str(inputs["catalog"]), "--subscribers", str(inputs["subscribers"]),
               "--out", str(again)]
    subprocess.run(command, check=True, timeout=900, capture_output=True, env={**os.environ, "PYSPARK_PYTHON": sys.executable})
    assert tree(again) == first, "a fresh run writes the same bytes"
    assert bill(inputs) == 0
    assert "unchanged" in capsys.readouterr().out
    assert tree(inputs["out"]) == first

    with inputs["rated"].open("a", encoding="utf-8") as handle:
        handle.write(json.dumps(rated_cdr("late", "2026-10-30T10:00:00Z", zone="europe", price="1.20")) + "\n")
    assert bill(inputs) == 1
    assert "already exists with a different output" in capsys.readouterr().err
    assert tree(inputs["out"]) == first, "the existing period is left as it was"
    assert sorted(p.name for p in inputs["out"].iterdir()) == ["period=2026-10"]
    assert bill(inputs, "--force") == 0
    assert tree(inputs["out"]) != first
    assert sorted(p.name for p in inputs["out"].iterdir()) == ["period=2026-10"]


def test_record_content_never_names_a_file(spark: Any, inputs: dict[str, Path], tmp_path: Path) -> None:
    with inputs["rated"].open("a", encoding="utf-8") as handle:
        for msisdn in ("../../x", "/tmp/evil", "..", "INV-202610-0000000000.html"):
            handle.write(json.dumps(rated_cdr(f"evil-{msisdn}", "2026-10-05T10:00:00Z", msisdn=msisdn)) + "\n")
        handle.write("not json at all\n")
    before = {p for p in tmp_path.rglob("*")}
    assert bill(inputs) == 1, "unexplained records make the run fail"
    created = {p for p in tmp_path.rglob("*")} - before
    folder = inputs["out"] / "period=2026-10"
    assert all(p == inputs["out"] or folder in (p, *p.parents) for p in created)
    assert not (tmp_path / "x").exists() and not Path("/tmp/evil").exists()
    report = json.loads((folder / "reconciliation.json").read_text())
    assert report["rated"]["no_subscriber"] == 4 and report["rated"]["unreadable"] == 1
    assert report["unexplained_total"] == 5
    assert {u["cdr_id"] for u in report["unexplained"]} == {None, *(f"evil-{m}" for m in (
        "../../x", "/tmp/evil", "..", "INV-202610-0000000000.html"))}


def test_bad_arguments_are_one_line_errors(inputs: dict[str, Path], capsys: Any) -> None:
    assert cli.main(["bill", "--period", "2026-13", "--rated", str(inputs["rated"])]) == 2
    assert cli.main(["bill", "--period", "2026-10", "--rated", str(inputs["rated"].with_name("nope.jsonl")),
                     "--catalog", str(inputs["catalog"]), "--subscribers", str(inputs["subscribers"])]) == 2
    errors = capsys.readouterr().err.strip().splitlines()
    assert len(errors) == 2 and all(e.startswith("telecom bill: error: ") for e in errors)
    assert "Traceback" not in "".join(errors)


def test_bill_from_the_rated_topic(spark: Any, inputs: dict[str, Path], kafka_bootstrap: str, topic_factory: Any,
                                   monkeypatch: Any, tmp_path: Path) -> None:
    """A batch read of the whole topic (a redelivered copy included) bills like the file."""
    topic = topic_factory("rated", partitions=2)
    producer = KafkaProducer(bootstrap_servers=kafka_bootstrap, acks="all")
    lines = inputs["rated"].read_bytes().splitlines()
    for line in [*lines, lines[0]]:
        producer.send(topic, key=json.loads(line)["msisdn"].encode(), value=line)
    producer.flush()
    producer.close()
    monkeypatch.setenv("TELECOM_TOPIC_RATED", topic)
    monkeypatch.setenv("TELECOM_TOPIC_RAW", topic_factory("raw"))  # empty: a final has no stream to wait for
    from_topic = tmp_path / "from-topic"
    assert cli.main(["bill", "--period", "2026-10", "--catalog", str(inputs["catalog"]), "--subscribers",
                     str(inputs["subscribers"]), "--out", str(from_topic), "--bootstrap-servers", kafka_bootstrap,
                     "--no-raw"]) == 0
    assert bill(inputs) == 0
    topic_files, file_files = tree(from_topic / "period=2026-10"), tree(inputs["out"] / "period=2026-10")
    assert topic_files["invoices.jsonl"] == file_files["invoices.jsonl"]
    assert json.loads(topic_files["reconciliation.json"])["rated"]["duplicates"] == 2
    manifest = json.loads(topic_files["manifest.json"])
    assert manifest["input"]["rated"] == {"topic": topic, "offsets": manifest["input"]["rated"]["offsets"]}
    assert sum(after - first for first, after in manifest["input"]["rated"]["offsets"].values()) == len(lines) + 1


# -- reconciliation of raw records ---------------------------------------------------------------------


S1_TIME, S2_TIME = "2026-10-05T10:00:00.000000Z", "2026-10-06T10:00:00.000000Z"
RAW_OUTCOMES = [  # what mediation says of ten raw records: (partition, offset, outcome, reason, cdr_id, event_time,
    # session_id)
    (0, 0, "rated", None, "r1", "2026-10-02T10:00:00.000000Z", None),
    (0, 1, "rejected", "MISSING_FIELD", None, None, None),
    (0, 2, "duplicate", None, "r1", "2026-10-02T10:00:00.000000Z", None),
    (1, 0, "rated", None, "r2", "2026-11-02T10:00:00.000000Z", None),
    (1, 1, "rated", None, "lost", "2026-10-03T10:00:00.000000Z", None),
    (1, 2, "rated", None, "r3", "2026-10-04T10:00:00.000000Z", None),  # the stream found it in the future
    # Partial records (DESIGN.md 7c): session S1 assembled from (2, 0) and (2, 1), (2, 3) a repeated part
    # of it; (2, 2) the only part of S2 yet, which the stream holds.
    (2, 0, "rated", None, "S1", S1_TIME, "S1"),
    (2, 1, "merged", None, "p2", S1_TIME, "S1"),
    (2, 2, "rated", None, "S2", S2_TIME, "S2"),
    (2, 3, "duplicate", None, "p2-again", S1_TIME, "S1"),
]
# The rated output (r1 written twice by the at-least-once sink, and a record of no raw record) with
# the raw record each names in its `source` header and, for S1, the part it merged (`merged`).
RATED_OUTPUT = [("r1", "2026-10-02T10:00:00.000000Z", "0:0", None), ("r1", "2026-10-02T10:00:00.000000Z", "0:0", None),
                ("r2", "2026-11-02T10:00:00.000000Z", "1:0", None), ("ghost", "2026-10-09T10:00:00.000000Z", "7:7", None),
                ("S1", S1_TIME, "2:0", "2:1")]


def _classified_and_orphans(spark: Any, by_offsets: bool) -> tuple[Any, Any]:
    """`RAW_OUTCOMES` against `RATED_OUTPUT` and three rejections, deep (mediation of every raw record)
    or by offsets (mediation of the records the rated output does not name only)."""
    rated = spark.createDataFrame(RATED_OUTPUT, "cdr_id string, event_time string, source string, merged string")
    rejected = spark.createDataFrame(
        [(0, 1, "MISSING_FIELD", None), (1, 2, "FUTURE_TIMESTAMP", "r3"), (5, 5, "MALFORMED_JSON", None)],
        "partition int, offset bigint, reason string, cdr_id string")
    ids = rated.select("cdr_id", "event_time")
    keys = spark.createDataFrame([r[:2] for r in RAW_OUTCOMES], "partition int, offset bigint")
    if not by_offsets:
        return reconcile.classify_with_orphans(spark.createDataFrame(RAW_OUTCOMES, reconcile.OUTCOME_COLUMNS), keys,
                                               ids, rejected)
    named = {tuple(int(x) for x in position.split(":")) for r in RATED_OUTPUT for position in (r[2], r[3]) if position}
    unnamed = spark.createDataFrame([r for r in RAW_OUTCOMES if r[:2] not in named], reconcile.OUTCOME_COLUMNS)
    sources = reconcile.rated_sources(rated)
    return reconcile.classify_with_orphans(unnamed, keys, sources.select("cdr_id", "event_time"), rejected,
                                           sources=sources)


@pytest.mark.parametrize("by_offsets", [False, True], ids=["deep", "by-offsets"])
def test_classify_raw_records(spark: Any, by_offsets: bool) -> None:
    """Both ways of reconciling the raw side classify every raw record alike."""
    classified, lonely = _classified_and_orphans(spark, by_offsets)
    assert {(r["partition"], r["offset"]): (r["class"], r["reason"]) for r in classified.collect()} == {
        (0, 0): ("rated", None), (0, 1): ("rejected", "MISSING_FIELD"), (0, 2): ("duplicate", None),
        (1, 0): ("rated", None), (1, 1): ("unexplained", None), (1, 2): ("rejected", "FUTURE_TIMESTAMP"),
        (2, 0): ("rated", None), (2, 1): ("merged", None), (2, 2): ("held", None), (2, 3): ("duplicate", None)}
    section = reconcile.raw_section(classified, lonely, CATALOG, Period.parse("2026-10"))
    assert section["run"] == {"records": 10, "rated": 3, "rejected": 2, "duplicate": 2, "merged": 1, "in_flight": 0,
                              "held": 1, "unexplained": 1,
                              "rejected_by_reason": {"FUTURE_TIMESTAMP": 1, "MISSING_FIELD": 1}, "recycled": {},
                              "balanced": False}
    assert (section["period"]["records"], section["period"]["rated"], section["period"]["duplicate"]) == (8, 2, 2)
    assert section["orphans"] == 2
    reasons = sorted(u["reason"] for u in section["unexplained_sample"])
    assert reasons == ["mediation says rated, but it is on neither output", "rated output without a raw record",
                       "rejected output without a raw record"]


def test_reconcile_raw_records_from_files(spark: Any, inputs: dict[str, Path], tmp_path: Path) -> None:
    """`telecom rate` a small raw file, then `telecom reconcile` and `telecom bill --raw` account for
    every raw record; a rated record missing from the output is unexplained."""
    raw_records = [
        {"cdr_id": "r1", "record_type": "voice", "event_time": "2026-10-02T10:00:00Z", "msisdn": MAIN,
         "other_party": "212612345678", "direction": "MO", "duration_sec": 120},
        {"cdr_id": "r2", "record_type": "sms", "event_time": "2026-10-03T10:00:00Z", "msisdn": MAIN,
         "other_party": "33612345678", "direction": "MO"},
        {"cdr_id": "r1", "record_type": "voice", "event_time": "2026-10-02T10:00:00Z", "msisdn": MAIN,
         "other_party": "212612345678", "direction": "MO", "duration_sec": 120},
        "not json",
        {"cdr_id": "r3", "record_type": "sms", "event_time": "2026-10-04T10:00:00Z", "msisdn": "212600000009",
         "other_party": "212612345678", "direction": "MO"},
        {"cdr_id": "r4", "record_type": "data", "event_time": "2026-10-12T10:00:00Z", "msisdn": OTHER,
         "bytes_up": 1000, "bytes_down": 250000},
    ]
    raw = tmp_path / "raw.jsonl"
    raw.write_text("".join((r if isinstance(r, str) else json.dumps(r)) + "\n" for r in raw_records))
    rated = tmp_path / "rated"
    reference = ["--catalog", str(inputs["catalog"]), "--subscribers", str(inputs["subscribers"])]
    assert cli.main(["rate", "--input", str(raw), "--out", str(rated), "--now", "2026-11-01T00:00:00Z",
                     *reference]) == 0
    files = ["--raw", str(raw), "--rated", str(rated), "--rejected", str(rated)]
    assert cli.main(["reconcile", "--period", "2026-10", *files, *reference, "--out", str(tmp_path / "rec")]) == 0
    report = json.loads((tmp_path / "rec" / "reconciliation.json").read_text())
    assert report["raw"]["run"] == {"records": 6, "rated": 3, "rejected": 2, "duplicate": 1, "merged": 0,
                                    "in_flight": 0, "held": 0, "unexplained": 0,
                                    "rejected_by_reason": {"MALFORMED_JSON": 1, "UNKNOWN_SUBSCRIBER": 1},
                                    "recycled": {}, "balanced": True}
    assert report["raw"]["period"]["records"] == 5, "the malformed record has no event time, hence no period"
    assert (report["rated"]["billed"], report["unexplained_total"]) == (3, 0)

    assert cli.main(["bill", "--period", "2026-10", *files, *reference, "--out", str(tmp_path / "out")]) == 0
    billed = json.loads((tmp_path / "out" / "period=2026-10" / "reconciliation.json").read_text())
    assert billed["raw"] == report["raw"] and billed["amounts"] == report["amounts"]

    lines = (rated / "rated.jsonl").read_text().splitlines()
    (rated / "rated.jsonl").write_text("".join(line + "\n" for line in lines if '"r2"' not in line))
    assert cli.main(["reconcile", "--period", "2026-10", *files, *reference, "--out", str(tmp_path / "rec")]) == 1
    report = json.loads((tmp_path / "rec" / "reconciliation.json").read_text())
    assert report["unexplained_total"] == 1
    assert [(u["offset"], u["cdr_id"]) for u in report["unexplained"]] == [(1, "r2")]
