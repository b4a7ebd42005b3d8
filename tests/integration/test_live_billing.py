"""Billing a live system (DESIGN.md section 7a) on the real broker and the real stream: a draft during
the grace days, the final after them (waiting for the stream, or failing cleanly when it is
stopped), a byte-identical re-run, and late CDRs billed once on the next final invoice.

One story, step by step, on topics and a checkpoint of its own: each step's output is the next
step's starting point, as it is in production.
"""

from __future__ import annotations

import dataclasses
import json
import uuid
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from kafka import KafkaConsumer, KafkaProducer

from telecom_billing import cli
from telecom_billing.billing import live as live_billing
from telecom_billing.generator import subscriber_key
from telecom_billing.infra.settings import env_name
from telecom_billing.infra.topics import TopicSpec, ensure_topics
from telecom_billing.refdata.catalog import load_catalog
from telecom_billing.refdata.subscribers import load_subscribers
from telecom_billing.stream import StreamOptions, start_stream

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[2]
STAYING = "212600000001"  # PAYG since 2020
LEAVING = "212600000002"  # PAYG, terminated on 2026-11-01: no active day in November
SUBSCRIBERS = (f"msisdn,name,address,plan_id,activation_date,termination_date\n"
               f"{STAYING},Staying Subscriber,1 Rue A,PAYG,2020-01-01,\n"
               f"{LEAVING},Leaving Subscriber,2 Rue B,PAYG,2020-01-01,2026-11-01\n")
OCT_DRAFT_AS_OF = "2026-11-02T12:00:00+01:00"  # inside October's 3 grace days (cut-off 2026-11-04 00:00 local)
OCT_DRAFT_LATER_AS_OF = "2026-11-03T09:30:00+01:00"  # a later draft run, same data
OCT_FINAL_AS_OF = "2026-11-04T00:00:00+01:00"  # exactly the cut-off: final
NOV_FINAL_AS_OF = "2026-12-05T09:00:00Z"
DEC_FINAL_AS_OF = "2027-01-10T09:00:00Z"


def sms(cdr_id: str, msisdn: str, event_time: str) -> bytes:
    return json.dumps({"cdr_id": cdr_id, "record_type": "sms", "event_time": event_time, "msisdn": msisdn,
                       "cell_id": "CASABLANCA_210", "technology": "4G", "other_party": "212794434533",
                       "direction": "MO"}).encode()


@pytest.fixture
def live(base_settings: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, spark: Any) -> dict[str, Any]:
    suffix = uuid.uuid4().hex[:8]
    settings = dataclasses.replace(base_settings, topic_raw=f"raw.{suffix}", topic_rated=f"rated.{suffix}",
                                   topic_rejected=f"rejected.{suffix}", topic_parts=f"parts.{suffix}",
                                   checkpoint_dir=tmp_path / "checkpoints")
    ensure_topics(settings, [TopicSpec(t, 2, {}) for t in
                             (settings.topic_raw, settings.topic_rated, settings.topic_rejected)])
    for field in ("bootstrap_servers", "topic_raw", "topic_rated", "topic_rejected", "checkpoint_dir"):
        monkeypatch.setenv(env_name(field), str(getattr(settings, field)))
    (tmp_path / "subscribers.csv").write_text(SUBSCRIBERS, encoding="utf-8")
    return {"settings": settings, "out": tmp_path / "invoices", "subscribers": tmp_path / "subscribers.csv",
            "catalog": load_catalog(REPO / "data" / "catalog")}


def produce(live: dict[str, Any], lines: list[bytes]) -> None:
    producer = KafkaProducer(bootstrap_servers=live["settings"].bootstrap_servers, acks="all")
    for line in lines:
        producer.send(live["settings"].topic_raw, key=subscriber_key(line), value=line)
    producer.flush()
    producer.close()


def redeliver(live: dict[str, Any], cdr_id: str) -> None:
    """Writes the rated record of `cdr_id` to `cdr.rated` once more, as an at-least-once sink does after
    a restart (the stream's own dedup keeps a replayed raw copy from ever reaching `cdr.rated`)."""
    settings = live["settings"]
    consumer = KafkaConsumer(settings.topic_rated, bootstrap_servers=settings.bootstrap_servers,
                             auto_offset_reset="earliest", consumer_timeout_ms=5000)
    record = next(r for r in consumer if json.loads(r.value)["cdr_id"] == cdr_id)
    consumer.close()
    producer = KafkaProducer(bootstrap_servers=settings.bootstrap_servers, acks="all")
    producer.send(settings.topic_rated, key=record.key, value=record.value)
    producer.flush()
    producer.close()


def drain(spark: Any, live: dict[str, Any]) -> None:
    settings = live["settings"]
    subscribers = load_subscribers(live["subscribers"])
    query = start_stream(spark, settings, live["catalog"], subscribers, StreamOptions(trigger="once"),
                         str(settings.rating_checkpoint))
    try:
        assert query.awaitTermination(300), "the stream did not drain cdr.raw in time"
        assert query.exception() is None
    finally:
        query.stop()


def bill(live: dict[str, Any], period: str, as_of: str, *more: str) -> int:
    return cli.main(["bill", "--period", period, "--as-of", as_of, "--out", str(live["out"]),
                     "--subscribers", str(live["subscribers"]), *more])


def folder(live: dict[str, Any], period: str) -> Path:
    return live["out"] / f"period={period}"


def manifest(live: dict[str, Any], period: str) -> dict[str, Any]:
    return json.loads((folder(live, period) / "manifest.json").read_text(encoding="utf-8"))


def invoices(live: dict[str, Any], period: str) -> dict[str, dict[str, Any]]:
    lines = (folder(live, period) / "invoices.jsonl").read_text(encoding="utf-8").splitlines()
    return {i["msisdn"]: i for i in map(json.loads, lines)}


def reconciliation(live: dict[str, Any], period: str) -> dict[str, Any]:
    return json.loads((folder(live, period) / "reconciliation.json").read_text(encoding="utf-8"))


def snapshot(path: Path) -> dict[str, bytes]:
    return {p.relative_to(path).as_posix(): p.read_bytes() for p in sorted(path.rglob("*")) if p.is_file()}


def billed_ids(spark: Any, live: dict[str, Any], period: str) -> list[tuple[str, str, str]]:
    rows = spark.read.parquet(str(folder(live, period) / "billed_cdrs.parquet")).collect()
    return sorted((r["cdr_id"], r["origin_period"], r["type"]) for r in rows)


def sms_price(live: dict[str, Any]) -> Decimal:
    rate = next(r for r in live["catalog"].plans["PAYG"].rates if r.service == "sms" and r.zone == "national_mobile")
    return Decimal(rate.price)


def test_draft_final_rerun_and_late_cdrs(spark: Any, live: dict[str, Any], capsys: Any) -> None:
    october = [sms(f"oct-{i}", STAYING if i % 2 else LEAVING, f"2026-10-{10 + i}T10:00:00+01:00") for i in range(6)]
    produce(live, october)

    # During the grace days, before the stream ran: a draft; every raw record is in flight, none unexplained.
    assert bill(live, "2026-10", OCT_DRAFT_AS_OF) == 0
    assert manifest(live, "2026-10")["status"] == "draft"
    assert {i["status"] for i in invoices(live, "2026-10").values()} == {"draft"}
    raw = reconciliation(live, "2026-10")["raw"]["run"]
    assert (raw["in_flight"], raw["unexplained"]) == (6, 0)
    assert not (folder(live, "2026-10") / "billed_cdrs.parquet").exists()

    # A later draft run that finds the same data: every data file byte for byte as it was, and the
    # manifest says which run last confirmed it (a reader wants to know how fresh a draft is).
    data_files = {k: v for k, v in snapshot(folder(live, "2026-10")).items() if k != "manifest.json"}
    capsys.readouterr()
    assert bill(live, "2026-10", OCT_DRAFT_LATER_AS_OF) == 0
    assert "confirmed" in capsys.readouterr().out
    assert {k: v for k, v in snapshot(folder(live, "2026-10")).items() if k != "manifest.json"} == data_files
    assert live_billing.parse_as_of(manifest(live, "2026-10")["input"]["as_of"]) == \
        live_billing.parse_as_of(OCT_DRAFT_LATER_AS_OF)

    # After the cut-off, with the stream stopped and records behind it: one line, nothing written.
    draft = snapshot(folder(live, "2026-10"))
    capsys.readouterr()
    assert bill(live, "2026-10", OCT_FINAL_AS_OF, "--wait", "2") == 1
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "6 records behind" in err, err
    assert snapshot(folder(live, "2026-10")) == draft

    # The stream catches up: the final, with the offsets it took in and the cdr_ids it billed.
    drain(spark, live)
    assert bill(live, "2026-10", OCT_FINAL_AS_OF) == 0
    final = manifest(live, "2026-10")
    assert final["status"] == "final" and final["input"]["rated"]["offsets"]
    assert {i["status"] for i in invoices(live, "2026-10").values()} == {"final"}
    assert billed_ids(spark, live, "2026-10") == sorted((f"oct-{i}", "2026-10", "usage") for i in range(6))
    assert reconciliation(live, "2026-10")["raw"]["run"]["rated"] == 6

    # A final is never rewritten: a re-run (even with a later clock and more data) leaves it byte-identical.
    before = snapshot(folder(live, "2026-10"))
    produce(live, [sms("oct-late-1", STAYING, "2026-10-30T23:30:00+01:00"),
                   sms("oct-late-2", LEAVING, "2026-10-31T12:00:00+01:00")])
    produce(live, [sms(f"nov-{i}", STAYING, f"2026-11-{10 + i}T10:00:00+01:00") for i in range(3)])
    drain(spark, live)
    redeliver(live, "oct-1")  # a late copy of a CDR October's final billed
    assert bill(live, "2026-10", NOV_FINAL_AS_OF) == 0
    assert snapshot(folder(live, "2026-10")) == before

    # November's final bills the late October CDRs once, as late_usage lines at their rated charge;
    # the subscriber with no active day in November gets an invoice for them alone.
    assert bill(live, "2026-11", NOV_FINAL_AS_OF) == 0
    november = invoices(live, "2026-11")
    price = sms_price(live)
    for msisdn, usage_lines in ((STAYING, 1), (LEAVING, 0)):
        lines = november[msisdn]["lines"]
        late = [line for line in lines if line["type"] == "late_usage"]
        assert len([line for line in lines if line["type"] == "usage"]) == usage_lines
        assert [(line["origin_period"], line["service"], line["cdr_count"]) for line in late] == [("2026-10", "sms", 1)]
        assert Decimal(late[0]["amount"]) == price.quantize(Decimal("0.01"))
    assert november[LEAVING]["active_days"] == 0 and november[LEAVING]["recurring"] == "0.00"
    late_report = reconciliation(live, "2026-11")["late_billed"]
    assert (late_report["billed"], late_report["duplicates"]) == (2, 1)
    assert ("oct-late-1", "2026-10", "late_usage") in billed_ids(spark, live, "2026-11")

    # The same late records replayed (raw, and a rated copy): copies of billed CDRs, never billed again.
    produce(live, [sms("oct-late-1", STAYING, "2026-10-30T23:30:00+01:00")])
    drain(spark, live)
    redeliver(live, "oct-late-1")
    assert bill(live, "2026-12", DEC_FINAL_AS_OF) == 0
    december = invoices(live, "2026-12")
    assert all(line["type"] != "late_usage" for i in december.values() for line in i["lines"])
    assert reconciliation(live, "2026-12")["late_billed"]["duplicates"] == 1

    # October's reconciliation, re-run: its final as it was, and its late CDRs with the period that billed them.
    out = folder(live, "2026-10").parent.parent / "rec"
    assert cli.main(["reconcile", "--period", "2026-10", "--invoices", str(live["out"]), "--out", str(out),
                     "--subscribers", str(live["subscribers"])]) == 0
    report = json.loads((out / "reconciliation.json").read_text(encoding="utf-8"))
    assert report["rated"]["billed"] == 6
    assert report["late"] == {"records": 4, "billed_in": {"2026-11": 2}, "duplicates": 2, "pending": 0}


LATE_JOINER = "212600000003"  # loaded into the subscriber base only after its CDRs were rejected


def test_recycled_rejects_are_billed_once_and_counted_once(spark: Any, live: dict[str, Any], capsys: Any) -> None:
    cdrs = [sms(f"joiner-{i}", LATE_JOINER, f"2026-10-{10 + i}T10:00:00+01:00") for i in range(3)]
    # joiner-0 twice: rejected before deduplication, both copies are recycled; the second is its duplicate.
    produce(live, [*cdrs, cdrs[0], sms("known-0", STAYING, "2026-10-05T10:00:00+01:00")])
    drain(spark, live)
    recycle = ["recycle", "--reason", "UNKNOWN_SUBSCRIBER", "--period", "2026-10"]
    # The base is fixed: the subscriber arrives (active since 2020), the rejects are recycled and rated.
    with live["subscribers"].open("a", encoding="utf-8") as base:
        base.write(f"{LATE_JOINER},Late Joiner,3 Rue C,PAYG,2020-01-01,\n")
    assert cli.main(recycle) == 0
    assert "recycled 4 UNKNOWN_SUBSCRIBER record(s) of 2026-10" in capsys.readouterr().out
    # Recycling again before and after the stream ran sends nothing twice.
    assert cli.main(recycle) == 0
    assert "recycled 0 " in capsys.readouterr().out
    drain(spark, live)
    assert cli.main(recycle) == 0
    assert "recycled 0 " in capsys.readouterr().out
    assert cli.main(["recycle", "--reason", "NO_SUCH_REASON"]) == 2
    assert "is not a reason code" in capsys.readouterr().err

    assert bill(live, "2026-10", OCT_FINAL_AS_OF) == 0
    joiner = invoices(live, "2026-10")[LATE_JOINER]
    assert [(line["type"], line["cdr_count"]) for line in joiner["lines"]] == [("recurring", 0), ("usage", 3)]
    raw = reconciliation(live, "2026-10")["raw"]["run"]
    assert (raw["records"], raw["rated"], raw["duplicate"], raw["rejected"], raw["unexplained"]) == (5, 4, 1, 0, 0)
    assert raw["recycled"] == {"UNKNOWN_SUBSCRIBER": 4} and raw["balanced"]


MISPLANNED = "212600000004"  # loaded with a plan the catalog does not have, corrected later


def test_no_rate_rejects_recycled_inside_the_dedup_window_are_rated(spark: Any, live: dict[str, Any],
                                                                    capsys: Any) -> None:
    """A NO_RATE record passed deduplication before it was rejected: its recycled copy, minutes later
    (well inside the stream's 24-hour window), is rated, not dropped as a copy of it."""
    with live["subscribers"].open("a", encoding="utf-8") as base:
        base.write(f"{MISPLANNED},Misplanned Subscriber,4 Rue D,GOLD_2027,2020-01-01,\n")
    cdrs = [sms(f"misplanned-{i}", MISPLANNED, f"2026-10-{10 + i}T10:00:00+01:00") for i in range(2)]
    produce(live, [*cdrs, cdrs[1]])  # the copy of misplanned-1 is a duplicate: never recycled
    drain(spark, live)
    fixed = live["subscribers"].read_text(encoding="utf-8").replace("GOLD_2027", "PAYG")
    live["subscribers"].write_text(fixed, encoding="utf-8")
    assert cli.main(["recycle", "--reason", "NO_RATE"]) == 0
    assert "recycled 2 NO_RATE record(s)" in capsys.readouterr().out
    drain(spark, live)

    assert bill(live, "2026-10", OCT_FINAL_AS_OF) == 0
    misplanned = invoices(live, "2026-10")[MISPLANNED]
    assert [(line["type"], line["cdr_count"]) for line in misplanned["lines"]] == [("recurring", 0), ("usage", 2)]
    raw = reconciliation(live, "2026-10")["raw"]["run"]
    assert (raw["records"], raw["rated"], raw["duplicate"], raw["rejected"], raw["unexplained"]) == (3, 2, 1, 0, 0)
    assert raw["recycled"] == {"NO_RATE": 2} and raw["balanced"]
