"""The stream driver on the real broker: the same CDRs and charges as the file driver, and restarts.

Each test runs the streaming query in this process (the session's Spark), on topics of its own.
"""

from __future__ import annotations

import dataclasses
import json
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path

import pytest
from kafka import KafkaConsumer, KafkaProducer

from schema_check import problems
from telecom_billing import stream
from telecom_billing.contracts.records import KAFKA_COLUMNS
from telecom_billing.generator import subscriber_key
from telecom_billing.infra.kafka_clients import spark_kafka_options
from telecom_billing.infra.topics import TopicSpec, ensure_topics
from telecom_billing.output import rated_json, rejected_json
from telecom_billing.pipeline import rate_batch
from telecom_billing.refdata.catalog import load_catalog
from telecom_billing.refdata.subscribers import load_subscribers
from telecom_billing.stream import StreamOptions, start_stream

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[2]
SAMPLE = REPO / "data" / "sample_cdrs.jsonl"
VOLATILE = {"rated_at", "rejected_at"}


@pytest.fixture(scope="module")
def reference_data():
    return load_catalog(REPO / "data" / "catalog"), load_subscribers(REPO / "data" / "subscribers.csv")


@pytest.fixture
def stream_settings(base_settings, tmp_path):
    suffix = uuid.uuid4().hex[:8]
    settings = dataclasses.replace(base_settings, topic_raw=f"raw.{suffix}", topic_rated=f"rated.{suffix}",
                                   topic_rejected=f"rejected.{suffix}", topic_parts=f"parts.{suffix}", partitions=3,
                                   checkpoint_dir=tmp_path / "checkpoints")
    ensure_topics(settings, [TopicSpec(t, 3, {}) for t in
                             (settings.topic_raw, settings.topic_rated, settings.topic_rejected)])
    return settings


def _produce(settings, lines: list[bytes]) -> None:
    producer = KafkaProducer(bootstrap_servers=settings.bootstrap_servers, acks="all",
                             max_request_size=8 * 1024 * 1024)
    for line in lines:
        producer.send(settings.topic_raw, key=subscriber_key(line), value=line)
    producer.flush()
    producer.close()


def _consume(settings, topic: str) -> list:
    consumer = KafkaConsumer(bootstrap_servers=settings.bootstrap_servers, auto_offset_reset="earliest",
                             enable_auto_commit=False, consumer_timeout_ms=3000,
                             fetch_max_bytes=64 * 1024 * 1024, max_partition_fetch_bytes=64 * 1024 * 1024)
    from kafka import TopicPartition

    partitions = [TopicPartition(topic, p) for p in consumer.partitions_for_topic(topic) or []]
    consumer.assign(partitions)
    consumer.seek_to_beginning()
    end = consumer.end_offsets(partitions)
    records = []
    deadline = time.monotonic() + 60
    while any(consumer.position(tp) < end[tp] for tp in partitions) and time.monotonic() < deadline:
        for batch in consumer.poll(timeout_ms=1000).values():
            records.extend(batch)
    consumer.close()
    return records


def _drain(spark, settings, reference_data, checkpoint: Path) -> None:
    catalog, subscribers = reference_data
    query = start_stream(spark, settings, catalog, subscribers,
                         StreamOptions(trigger="once", max_offsets_per_trigger=1000), str(checkpoint))
    try:
        assert query.awaitTermination(300), "the stream did not drain cdr.raw in time"
        assert query.exception() is None
    finally:
        query.stop()


def _strip(record: dict) -> dict:
    return {k: v for k, v in record.items() if k not in VOLATILE}


def _batch_expectation(spark, settings, reference_data):
    """What the file/batch driver makes of the same Kafka records (same partitions and offsets)."""
    catalog, subscribers = reference_data
    raw = (spark.read.format("kafka").options(**spark_kafka_options(settings))
           .option("subscribe", settings.topic_raw).load().select(*KAFKA_COLUMNS))
    outcome = rate_batch(spark, raw, catalog, subscribers, datetime.now(UTC)).cache()
    rated = [_strip(json.loads(r[0])) for r in outcome.where("outcome = 'rated'").select(rated_json()).collect()]
    rejected = [_strip(json.loads(r[0])) for r in outcome.where("outcome = 'rejected'").select(rejected_json()).collect()]
    return rated, rejected, outcome.where("outcome = 'duplicate'").count()


def _key(record: dict) -> str:
    return json.dumps(record, sort_keys=True)


def test_stream_equals_file_driver_and_restart_resumes(spark, stream_settings, reference_data, tmp_path):
    lines = SAMPLE.read_bytes().split(b"\n")[:-1]
    first, second = lines[:1200], lines[1200:]
    # A re-send of a rated record from the first run arrives in the second: the stream's dedup state
    # (kept in the checkpoint) must catch it across the restart.
    resent = next(line for line in first if b'"cdr_id"' in line and b'"record_type":"voice"' in line)
    checkpoint = tmp_path / "checkpoint"

    _produce(stream_settings, first)
    _drain(spark, stream_settings, reference_data, checkpoint)
    after_first = _consume(stream_settings, stream_settings.topic_rated)
    assert after_first, "the first run rated nothing"

    _produce(stream_settings, [*second, resent])
    _drain(spark, stream_settings, reference_data, checkpoint)

    rated = [json.loads(r.value) for r in _consume(stream_settings, stream_settings.topic_rated)]
    rejected = [json.loads(r.value) for r in _consume(stream_settings, stream_settings.topic_rejected)]
    for name, records in (("rated-cdr", rated), ("rejected-cdr", rejected)):
        assert all(problems(name, record) == [] for record in records), name
    expected_rated, expected_rejected, duplicates = _batch_expectation(spark, stream_settings, reference_data)

    ids = [r["cdr_id"] for r in rated]
    assert len(ids) == len(set(ids)), "a restart without a crash must not rate a record twice"
    assert sorted(map(_key, map(_strip, rated))) == sorted(map(_key, expected_rated))
    assert sorted(map(_key, map(_strip, rejected))) == sorted(map(_key, expected_rejected))
    assert len(lines) + 1 == len(rated) + len(rejected) + duplicates
    assert any(r["reason"] == "MALFORMED_JSON" for r in rejected)
    # Keys: the subscriber's MSISDN on rated records.
    for record in _consume(stream_settings, stream_settings.topic_rated)[:50]:
        assert record.key == json.loads(record.value)["msisdn"].encode()


def test_a_stop_lets_the_batch_in_flight_finish(spark, stream_settings, reference_data, tmp_path):
    """SIGINT / SIGTERM (`stop_between_batches`) while a micro-batch runs: that batch still commits
    (Spark's own `stop()` would interrupt it, and the next start would write its output again), so
    a stop and a restart write every record once."""
    catalog, subscribers = reference_data
    lines = SAMPLE.read_bytes().split(b"\n")[:-1]
    _produce(stream_settings, lines)
    checkpoint = tmp_path / "checkpoint"
    run = start_stream(spark, stream_settings, catalog, subscribers,
                       StreamOptions(trigger="0 seconds", max_offsets_per_trigger=150), str(checkpoint))
    query = run.rating
    deadline = time.monotonic() + 120
    while not (query.status["isTriggerActive"] and _batches(checkpoint / "offsets") and query.lastProgress):
        assert time.monotonic() < deadline, "no micro-batch started"
        time.sleep(0.01)
    time.sleep(0.3)  # well into the batch: Spark's stop() now would interrupt it
    in_flight = max(_batches(checkpoint / "offsets"))
    assert stream.stop_between_batches(query, wait_s=60)
    assert in_flight in _batches(checkpoint / "commits"), f"batch {in_flight} was interrupted"
    run.stop()  # the sessions query beside it

    _drain(spark, stream_settings, reference_data, checkpoint)
    rated = [json.loads(r.value) for r in _consume(stream_settings, stream_settings.topic_rated)]
    rejected = [json.loads(r.value) for r in _consume(stream_settings, stream_settings.topic_rejected)]
    expected_rated, expected_rejected, _ = _batch_expectation(spark, stream_settings, reference_data)
    assert sorted(map(_key, map(_strip, rated))) == sorted(map(_key, expected_rated)), "a record written twice"
    assert sorted(map(_key, map(_strip, rejected))) == sorted(map(_key, expected_rejected))


def _batches(log: Path) -> set[int]:
    """The batch ids in a checkpoint's `offsets` or `commits` log."""
    return {int(f.name) for f in log.glob("*") if f.name.isdigit()} if log.is_dir() else set()


def test_poison_messages_do_not_stop_the_query(spark, stream_settings, reference_data, tmp_path):
    poison = [b"\xff\xfe\x00", b"{" * 5000, b"x" * (2 * 1024 * 1024), b"[1,2,3]", b"null", b"",
              '{"cdr_id": "\u00e9\u0000", "record_type": "voice"}'.encode(), b'{"cdr_id": 1e999}']
    _produce(stream_settings, poison)
    _drain(spark, stream_settings, reference_data, tmp_path / "checkpoint")
    rejected = [json.loads(r.value) for r in _consume(stream_settings, stream_settings.topic_rejected)]
    assert len(rejected) == len(poison)
    assert all(r["reason"] for r in rejected)
    assert {r["source"]["offset"] is not None for r in rejected} == {True}


def _wait_for_records(settings, expected: int, timeout_s: float) -> tuple[list, list]:
    """The rated and rejected records once `expected` of them are out (or the timeout passed)."""
    deadline = time.monotonic() + timeout_s
    while True:
        rated = [json.loads(r.value) for r in _consume(settings, settings.topic_rated)]
        rejected = [json.loads(r.value) for r in _consume(settings, settings.topic_rejected)]
        if len(rated) + len(rejected) >= expected or time.monotonic() > deadline:
            return rated, rejected


def test_real_time_mode_rates_everything_and_leaves_copies_to_billing(spark, base_settings, reference_data,
                                                                      tmp_path):
    # Real-time mode runs one long-lived task per partition: two partitions fill the session's two slots.
    suffix = uuid.uuid4().hex[:8]
    settings = dataclasses.replace(base_settings, topic_raw=f"raw.{suffix}", topic_rated=f"rated.{suffix}",
                                   topic_rejected=f"rejected.{suffix}", topic_parts=f"parts.{suffix}", partitions=2)
    ensure_topics(settings, [TopicSpec(t, 2, {}) for t in (settings.topic_raw, settings.topic_rated,
                                                             settings.topic_rejected, settings.topic_parts)])
    lines = SAMPLE.read_bytes().split(b"\n")[:-1][:1500]
    _produce(settings, lines)
    catalog, subscribers = reference_data
    query = start_stream(spark, settings, catalog, subscribers, StreamOptions(trigger="realtime:5 seconds"),
                         str(tmp_path / "checkpoint"))
    try:
        rated, rejected = _wait_for_records(settings, len(lines), timeout_s=180)
        assert query.exception() is None
    finally:
        query.stop()
    expected_rated, expected_rejected, duplicates = _batch_expectation(spark, settings, reference_data)

    assert duplicates > 0, "the sample must carry re-sent records for this test to mean anything"
    # Stateless: every record comes out once, rated or rejected; a re-sent copy is not marked.
    assert len(rated) + len(rejected) == len(lines)
    found = {_key(_strip(r)) for r in rated + rejected}
    assert {_key(r) for r in expected_rated + expected_rejected} <= found
    # What billing sees after it drops copies by cdr_id: the micro-batch stream's rated records.
    assert {r["cdr_id"] for r in rated} == {r["cdr_id"] for r in expected_rated}
