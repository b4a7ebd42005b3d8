#!/usr/bin/env python3
"""Streaming throughput: drain a backlog of generated CDRs from `cdr.raw` through mediation + rating.

Loads `--count` generated CDRs (default 1,000,000, default defect rate) into a fresh raw topic with
a Spark batch write, then measures, on the same data and settings:

* `stream_rating_cdr_per_s`: the rating query (availableNow) — rows over the summed batch time;
* `stream_passthrough_cdr_per_s`: a Kafka -> Kafka copy with no logic, same reader/writer options;
* `python_peer_cdr_per_s`: kafka-python consumer -> the pure-Python reference -> kafka-python producer,
  on the first `--peer-count` records (what a user might write instead of Spark);
* `peak_rss_mb`: resident memory of this process tree (Spark's JVM, the embedded broker) while rating.

Uses KAFKA_BOOTSTRAP_SERVERS when set, else an embedded broker on free ports. Prints one JSON line.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests"))

from rss import RssSampler  # noqa: E402

from telecom_billing.broker import EmbeddedBroker, free_port  # noqa: E402
from telecom_billing.catalog import load_catalog  # noqa: E402
from telecom_billing.generator import CdrGenerator, GeneratorOptions, write_cdrs  # noqa: E402
from telecom_billing.kafka_clients import python_client_kwargs, spark_kafka_options  # noqa: E402
from telecom_billing.settings import load_settings  # noqa: E402
from telecom_billing.stream import StreamOptions, start_stream  # noqa: E402
from telecom_billing.subscribers import load_subscribers  # noqa: E402
from telecom_billing.topics import TopicSpec, ensure_topics  # noqa: E402


class _Timer:
    """Sums processed rows and batch durations from query progress events."""

    def __init__(self) -> None:
        self.rows = 0
        self.ms = 0

    def add(self, progress: dict) -> None:
        self.rows += progress["numInputRows"]
        self.ms += progress["durationMs"].get("triggerExecution", 0)


def _drain(query, timer: _Timer) -> None:
    seen = set()
    while query.isActive:
        query.awaitTermination(1)
        for p in query.recentProgress:
            if p["batchId"] not in seen:
                seen.add(p["batchId"])
                timer.add(p)
    for p in query.recentProgress:
        if p["batchId"] not in seen:
            seen.add(p["batchId"])
            timer.add(p)
    if query.exception() is not None:
        raise RuntimeError(str(query.exception()))


def python_peer(settings, raw_topic: str, count: int, catalog, subscribers) -> float:
    from kafka import KafkaConsumer, KafkaProducer

    from reference.rating import mediate_and_rate

    consumer = KafkaConsumer(raw_topic, **python_client_kwargs(settings), auto_offset_reset="earliest",
                             enable_auto_commit=False, group_id=f"peer-{uuid.uuid4().hex[:6]}",
                             max_poll_records=5000, fetch_max_bytes=64 * 1024 * 1024)
    producer = KafkaProducer(**python_client_kwargs(settings), acks="all", linger_ms=20, batch_size=256 * 1024,
                             compression_type="lz4")
    now = datetime.now(UTC)
    started, done = time.perf_counter(), 0
    while done < count:
        polled = consumer.poll(timeout_ms=2000, max_records=min(5000, count - done))
        values = [r.value for batch in polled.values() for r in batch]
        if not values:
            break
        result = mediate_and_rate(values, catalog, subscribers, now)
        for record in result.rated:
            producer.send(f"{raw_topic}.peer-rated", key=record["msisdn"].encode(),
                          value=json.dumps(record, separators=(",", ":")).encode())
        for record in result.rejected:
            producer.send(f"{raw_topic}.peer-rejected", value=json.dumps(record, separators=(",", ":")).encode())
        done += len(values)
    producer.flush()
    elapsed = time.perf_counter() - started
    consumer.close()
    producer.close()
    return done / elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=1_000_000)
    parser.add_argument("--peer-count", type=int, default=100_000)
    parser.add_argument("--max-offsets-per-trigger", type=int, default=500_000)
    args = parser.parse_args()

    base = load_settings()
    broker = None
    bootstrap = os.environ.get("KAFKA_BOOTSTRAP_SERVERS")
    tmp = Path(tempfile.mkdtemp(prefix="bench-stream-"))
    if not bootstrap:
        broker = EmbeddedBroker(home=tmp / "broker", jars_dir=base.jars_dir, port=free_port(),
                                controller_port=free_port(), heap="2g")
        broker.start()
        bootstrap = broker.bootstrap_servers
    suffix = uuid.uuid4().hex[:6]
    settings = dataclasses.replace(base, bootstrap_servers=bootstrap, topic_raw=f"bench.raw.{suffix}",
                                   topic_rated=f"bench.rated.{suffix}", topic_rejected=f"bench.rejected.{suffix}")
    try:
        from telecom_billing.spark import create_spark

        catalog = load_catalog(settings.catalog_dir)
        subscribers = load_subscribers(settings.subscribers_file)
        ensure_topics(settings, [TopicSpec(t, settings.partitions, {}) for t in (
            settings.topic_raw, settings.topic_rated, settings.topic_rejected, f"{settings.topic_raw}.copy",
            f"{settings.topic_raw}.peer-rated", f"{settings.topic_raw}.peer-rejected")])
        cdrs = tmp / "cdrs.jsonl"
        with cdrs.open("w", encoding="utf-8") as out, (tmp / "labels.jsonl").open("w", encoding="utf-8") as labels:
            write_cdrs(CdrGenerator(catalog, subscribers, GeneratorOptions(count=args.count)), out, labels)
        spark = create_spark(settings, "bench-stream")
        options = spark_kafka_options(settings)
        from pyspark.sql import functions as F

        lines = spark.read.text(str(cdrs))
        key = F.get_json_object("value", "$.msisdn")
        (lines.select(key.cast("binary").alias("key"), F.col("value").cast("binary").alias("value"))
         .write.format("kafka").options(**options).option("topic", settings.topic_raw).save())

        sampler = RssSampler()
        sampler.start()
        rating = _Timer()
        query = start_stream(spark, settings, catalog, subscribers,
                             StreamOptions(trigger="once", max_offsets_per_trigger=args.max_offsets_per_trigger),
                             str(tmp / "checkpoint-rating"))
        _drain(query, rating)
        sampler.halt.set()

        copy = _Timer()
        passthrough = (spark.readStream.format("kafka").options(**options).option("subscribe", settings.topic_raw)
                       .option("startingOffsets", "earliest").option("failOnDataLoss", "true")
                       .option("maxOffsetsPerTrigger", str(args.max_offsets_per_trigger)).load()
                       .select("key", "value").writeStream.format("kafka").options(**options)
                       .option("kafka.compression.type", "lz4").option("kafka.linger.ms", "5")
                       .option("topic", f"{settings.topic_raw}.copy")
                       .option("checkpointLocation", str(tmp / "checkpoint-copy")).trigger(availableNow=True).start())
        _drain(passthrough, copy)
        spark.stop()
        peer = python_peer(settings, settings.topic_raw, args.peer_count, catalog, subscribers)
        print(json.dumps({
            "stream_rating_cdr_per_s": round(rating.rows / (rating.ms / 1000), 1) if rating.ms else None,
            "stream_passthrough_cdr_per_s": round(copy.rows / (copy.ms / 1000), 1) if copy.ms else None,
            "python_peer_cdr_per_s": round(peer, 1),
            "stream_rows": rating.rows,
            "peak_rss_mb": round(sampler.peak / 2**20, 1),
        }))
    finally:
        if broker is not None:
            broker.stop()


if __name__ == "__main__":
    main()
