"""The foundation: a real broker round trip with kafka-python, and Spark's Kafka connector."""

from __future__ import annotations

import time
import uuid

import pytest
from kafka import KafkaConsumer, KafkaProducer

from telecom_billing.infra.kafka_clients import spark_kafka_options

pytestmark = pytest.mark.integration


def _consume_all(bootstrap: str, topic: str, expected: int, timeout_s: float = 60.0) -> list:
    consumer = KafkaConsumer(topic, bootstrap_servers=bootstrap, auto_offset_reset="earliest",
                             enable_auto_commit=False, group_id=f"test-{uuid.uuid4().hex[:8]}",
                             consumer_timeout_ms=2000)
    records: list = []
    deadline = time.monotonic() + timeout_s
    try:
        while len(records) < expected and time.monotonic() < deadline:
            for batch in consumer.poll(timeout_ms=1000).values():
                records.extend(batch)
    finally:
        consumer.close()
    return records


def test_produce_consume_roundtrip(kafka_bootstrap, topic_factory):
    topic = topic_factory("roundtrip")
    producer = KafkaProducer(bootstrap_servers=kafka_bootstrap, acks="all")
    for i in range(100):
        producer.send(topic, key=f"k{i % 7}".encode(), value=f"v{i}".encode())
    producer.flush()
    producer.close()
    records = _consume_all(kafka_bootstrap, topic, 100)
    assert sorted(r.value for r in records) == sorted(f"v{i}".encode() for i in range(100))
    by_key = {}
    for r in records:
        by_key.setdefault(r.key, set()).add(r.partition)
    assert all(len(parts) == 1 for parts in by_key.values()), "a key always lands on one partition"


def test_spark_streaming_copies_topic_through_connector(kafka_bootstrap, topic_factory, base_settings, spark,
                                                        tmp_path):
    source, sink = topic_factory("src"), topic_factory("dst")
    n = 500
    producer = KafkaProducer(bootstrap_servers=kafka_bootstrap, acks="all")
    for i in range(n):
        producer.send(source, key=str(i).encode(), value=f'{{"n": {i}}}'.encode())
    producer.flush()
    producer.close()

    options = spark_kafka_options(base_settings)
    query = (
        spark.readStream.format("kafka").options(**options)
        .option("subscribe", source).option("startingOffsets", "earliest").load()
        .selectExpr("key", "upper(CAST(value AS STRING)) AS value")
        .writeStream.format("kafka").options(**options).option("topic", sink)
        .option("checkpointLocation", str(tmp_path / "checkpoint"))
        .trigger(availableNow=True).start()
    )
    try:
        assert query.awaitTermination(180), "the query did not drain the topic in time"
        assert query.exception() is None
    finally:
        query.stop()
    out = _consume_all(kafka_bootstrap, sink, n)
    assert sorted(r.value for r in out) == sorted(f'{{"N": {i}}}'.encode() for i in range(n))
