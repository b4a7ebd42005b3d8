"""Partial records (DESIGN.md 7c, RULES.md section 18) through Spark: the file driver and the stream
assemble what the pure-Python reference assembles, in any arrival order.

The sessions below are hand cases (parts out of order, a repeated part, a missing part, a part after
closing, a band boundary crossed during a call, a session across midnight at the month's end, every
INVALID_PARTIAL case) among whole records; each test shuffles them.
"""

from __future__ import annotations

import dataclasses
import json
import random
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from kafka import KafkaConsumer, KafkaProducer

from integration.test_rating_spark import assert_same
from reference.rating import mediate_and_rate
from telecom_billing.contracts.limits import MAX_PARTS
from telecom_billing.infra.settings import Settings, load_settings
from telecom_billing.infra.topics import ensure_topics
from telecom_billing.refdata.catalog import load_catalog
from telecom_billing.refdata.subscribers import load_subscribers
from telecom_billing.stream import StreamOptions, start_stream

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[2]
CATALOG = load_catalog(REPO / "data" / "catalog")
SUBSCRIBERS = load_subscribers(REPO / "data" / "subscribers.csv")
NOW = datetime(2026, 11, 2, tzinfo=UTC)
A, B, C = "212739690415", "212642699719", "212600000000"
START = datetime(2026, 10, 14, 8, 0, tzinfo=UTC)


def voice(cdr_id: str, at: datetime, seconds: int, session: str | None = None, sequence: Any = None,
          partial: str | None = None, msisdn: str = A, **more: Any) -> dict[str, Any]:
    record = {"cdr_id": cdr_id, "record_type": "voice", "event_time": at.strftime("%Y-%m-%dT%H:%M:%SZ"),
              "msisdn": msisdn, "other_party": B, "direction": "MO", "duration_sec": seconds}
    for key, value in (("session_id", session), ("sequence", sequence), ("partial", partial)):
        if value is not None:
            record[key] = value
    return {**record, **more}


def call(session: str, at: datetime, lengths: list[int], **more: Any) -> list[dict[str, Any]]:
    """A call cut into parts of `lengths` seconds, contiguous, in order."""
    parts, start = [], at
    for n, seconds in enumerate(lengths, start=1):
        kind = "last" if n == len(lengths) else "intermediate"
        parts.append(voice(f"{session}-{n}", start, seconds, session, n, kind, **more))
        start += timedelta(seconds=seconds)
    return parts


def data_part(cdr_id: str, at: datetime, session: str, sequence: int, partial: str, down: int) -> dict[str, Any]:
    return {"cdr_id": cdr_id, "record_type": "data", "event_time": at.strftime("%Y-%m-%dT%H:%M:%SZ"), "msisdn": B,
            "bytes_up": 1000, "bytes_down": down, "session_id": session, "sequence": sequence, "partial": partial}


def hand_cases() -> list[dict[str, Any]]:
    """Sessions of every kind and a few whole records, in no particular order (tests shuffle them)."""
    t = START
    ok = call("S-ok", t, [1800, 1800, 95])
    repeated = [*call("S-rep", t + timedelta(hours=1), [1800, 42]),
                voice("S-rep-2-again", t + timedelta(hours=1, minutes=30), 42, "S-rep", 2, "last")]
    missing = [p for p in call("S-miss", t + timedelta(hours=2), [1800, 1800, 61]) if p["sequence"] != 2]
    late = [*call("S-late", t + timedelta(hours=3), [1800, 30]),
            voice("S-late-3", t + timedelta(hours=3, minutes=31), 10, "S-late", 3, "intermediate")]
    # 19:40 local (UTC+1) is peak, the rest of the call after 20:00 offpeak: part 1's band applies.
    band = call("S-band", datetime(2026, 10, 14, 18, 40, tzinfo=UTC), [1200, 1800])
    # Across local midnight at the month's end: part 1 is on 2026-10-31, so the CDR is October's.
    midnight = [data_part("S-mid-1", datetime(2026, 10, 31, 22, 50, tzinfo=UTC), "S-mid", 1, "intermediate",
                          104_857_600),
                data_part("S-mid-2", datetime(2026, 10, 31, 23, 20, tzinfo=UTC), "S-mid", 2, "last", 5_000)]
    invalid = [
        voice("bad-seq0", t, 60, "S-bad", 0, "intermediate"),
        voice("bad-seqx", t, 60, "S-bad", "x", "intermediate"),
        voice("bad-seq-huge", t, 60, "S-bad", 10**12, "intermediate"),
        voice("bad-word", t, 60, "S-bad", 1, "middle"),
        voice("bad-only-session", t, 60, "S-bad"),
        voice("bad-long-id", t, 60, "S" * 200, 1, "last"),
        voice("bad-empty-id", t, 60, "", 1, "last"),
    ]
    two_lasts = [*call("S-2last", t + timedelta(hours=4), [1800, 40]),
                 voice("S-2last-3", t + timedelta(hours=4, minutes=31), 5, "S-2last", 3, "last")]
    differs = [*call("S-diff", t + timedelta(hours=5), [1800, 40]),
               voice("S-diff-3", t + timedelta(hours=5, minutes=31), 5, "S-diff", 3, "last", other_party="33612345678")]
    whole = [voice("w-1", t, 125), voice("w-2", t + timedelta(hours=6), 5, msisdn=B), voice("w-1", t, 125),
             voice("w-unknown", t, 60, "S-unk", 1, "last", msisdn=C)]
    return [*ok, *repeated, *missing, *late, *band, *midnight, *invalid, *two_lasts, *differs, *whole]


def payloads(records: list[dict[str, Any]], seed: int) -> list[bytes]:
    shuffled = list(records)
    random.Random(seed).shuffle(shuffled)
    return [json.dumps(r, separators=(",", ":")).encode() for r in shuffled]


@pytest.mark.parametrize("seed", [1, 2, 3, 4])
def test_file_driver_assembles_what_the_reference_does_in_any_order(spark: Any, seed: int) -> None:
    records = payloads(hand_cases(), seed)
    outcome = assert_same(spark, records, CATALOG, SUBSCRIBERS, NOW)
    rated = {rec["cdr_id"]: rec for kind, rec in outcome.by_offset.values() if kind == "rated" and rec}
    assert rated["S-ok"]["duration_sec"] == 3695 and rated["S-ok"]["partials"] == 3
    assert (rated["S-miss"]["incomplete"], rated["S-miss"]["missing"]) == (True, [2])
    assert rated["S-band"]["band"] == "peak"
    assert rated["S-mid"]["event_time"].startswith("2026-10-31T22:50")
    assert rated["S-rep"]["quantity"] == 1842, "the repeated part counts once"
    reasons = [rec["reason"] for kind, rec in outcome.by_offset.values() if kind == "rejected" and rec]
    assert reasons.count("INVALID_PARTIAL") >= len([r for r in hand_cases() if r["cdr_id"].startswith("bad-")])


def test_connect_fee_and_first_increment_are_charged_once(spark: Any, tmp_path: Path) -> None:
    """The assembled call costs what one whole call of the summed duration costs."""
    parts = call("S-fee", START, [1800, 1800, 95])
    whole = voice("fee-whole", START, 3695, msisdn=B)
    outcome = assert_same(spark, payloads([*parts, whole], 0), CATALOG, SUBSCRIBERS, NOW)
    rated = {rec["cdr_id"]: rec for kind, rec in outcome.by_offset.values() if kind == "rated" and rec}
    assert rated["S-fee"]["charge"] == rated["fee-whole"]["charge"]
    assert rated["S-fee"]["billable_units"] == rated["fee-whole"]["billable_units"]


def test_a_hundred_thousand_parts_of_one_session_keep_state_bounded(spark: Any) -> None:
    """Sequences above the maximum are rejected on their own; the session holds at most MAX_PARTS. A
    session_id of two megabytes is rejected with a reason too."""
    parts = [voice(f"many-{n}", START + timedelta(seconds=n), 1, "S-many", n, "intermediate")
             for n in range(1, 100_001)]
    huge = voice("huge-id", START, 60, "S" * 2_000_000, 1, "last")
    outcome = assert_same(spark, payloads([*parts, huge], 0), CATALOG, SUBSCRIBERS, NOW)
    kinds = outcome.kinds()
    assert kinds["rejected"] == 100_000 - MAX_PARTS + 1
    assert (kinds["rated"], kinds["merged"]) == (1, MAX_PARTS - 1)
    assert outcome.reasons() == {"INVALID_PARTIAL": 100_000 - MAX_PARTS + 1}


# -- the stream ----------------------------------------------------------------------------------------


def _settings(bootstrap: str, tmp_path: Path) -> Settings:
    suffix = uuid.uuid4().hex[:8]
    settings = dataclasses.replace(load_settings(), bootstrap_servers=bootstrap, topic_raw=f"raw.{suffix}",
                                   topic_rated=f"rated.{suffix}", topic_rejected=f"rejected.{suffix}",
                                   topic_parts=f"parts.{suffix}", partitions=2,
                                   checkpoint_dir=tmp_path / "checkpoints")
    ensure_topics(settings)
    return settings


def _produce(settings: Settings, lines: list[bytes]) -> None:
    producer = KafkaProducer(bootstrap_servers=settings.bootstrap_servers)
    for line in lines:
        key = json.loads(line).get("msisdn", "").encode()
        producer.send(settings.topic_raw, key=key, value=line)
    producer.flush()
    producer.close()


def _consume(settings: Settings, topic: str) -> list[dict[str, Any]]:
    consumer = KafkaConsumer(topic, bootstrap_servers=settings.bootstrap_servers, auto_offset_reset="earliest",
                             consumer_timeout_ms=5000, enable_auto_commit=False, group_id=None)
    values = [json.loads(m.value) for m in consumer]
    consumer.close()
    return values


def _drain(spark: Any, settings: Settings) -> None:
    run = start_stream(spark, settings, CATALOG, SUBSCRIBERS, StreamOptions(trigger="once"),
                       str(settings.rating_checkpoint))
    try:
        assert run.awaitTermination(600), "the stream did not drain in time"
        assert run.exception() is None
    finally:
        run.stop()


def _by_id(records: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {r["cdr_id"]: {k: v for k, v in r.items() if k not in ("rated_at", "rejected_at")} for r in records}


def test_stream_assembles_what_the_reference_does(spark: Any, kafka_bootstrap: str, tmp_path: Path) -> None:
    """Random arrival order on a real broker; a part a day later moves the watermark past every
    incomplete session, so that the stream closes them as the file driver does at its end."""
    settings = _settings(kafka_bootstrap, tmp_path)
    clock = call("S-clock", START + timedelta(days=1), [1800, 5])
    lines = payloads(hand_cases(), 7) + payloads(clock, 0)
    _produce(settings, lines)
    _drain(spark, settings)
    expected = mediate_and_rate(lines, CATALOG, SUBSCRIBERS, NOW)
    rated = _by_id(_consume(settings, settings.topic_rated))
    assert rated == _by_id(expected.rated)
    rejected = sorted((r["reason"], r["detail"], r["cdr_id"]) for r in _consume(settings, settings.topic_rejected))
    assert rejected == sorted((r["reason"], r["detail"], r["cdr_id"]) for r in expected.rejected)


def test_a_missing_part_after_the_timeout_is_late(spark: Any, kafka_bootstrap: str, tmp_path: Path) -> None:
    """A session closed by its timeout (the watermark moved 6 h past it), then its missing part:
    LATE_PARTIAL, naming the incomplete CDR; the assembled CDR is not changed."""
    settings = _settings(kafka_bootstrap, tmp_path)
    parts = call("S-t", START, [1800, 1800, 61])
    clock = call("S-clock", START + timedelta(hours=8), [1800, 5])
    _produce(settings, payloads([parts[0], parts[2], *clock], 0))
    _drain(spark, settings)
    rated = _by_id(_consume(settings, settings.topic_rated))
    assert (rated["S-t"]["incomplete"], rated["S-t"]["missing"], rated["S-t"]["duration_sec"]) == (True, [2], 1861)
    _produce(settings, payloads([parts[1]], 0))
    _drain(spark, settings)
    rejected = _consume(settings, settings.topic_rejected)
    assert [(r["reason"], r["detail"], r["cdr_id"]) for r in rejected] == [
        ("LATE_PARTIAL", "session closed as S-t (incomplete)", "S-t-2")]
    assert len(_consume(settings, settings.topic_rated)) == 2, "nothing rated again"
