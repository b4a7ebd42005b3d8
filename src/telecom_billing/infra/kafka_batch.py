"""Batch reads of Kafka topics: the offsets a topic holds now, and a read of exactly those (Spark, or
plain Python for a job without Spark)."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from typing import TYPE_CHECKING

from kafka import KafkaConsumer, TopicPartition
from kafka.errors import KafkaError

from ..errors import ServiceUnavailable, TelecomError
from .kafka_clients import python_client_kwargs, spark_kafka_source_options
from .settings import Settings

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession


def topic_offsets(settings: Settings, topic: str, timeout_s: float = 20.0) -> dict[int, tuple[int, int]]:
    """The first and next offsets of every partition of `topic`, now: the range a batch reads."""
    try:
        consumer = KafkaConsumer(**python_client_kwargs(settings), enable_auto_commit=False,
                                 request_timeout_ms=int(timeout_s * 1000))
    except (KafkaError, OSError) as exc:
        raise ServiceUnavailable(f"no Kafka broker answers at {settings.bootstrap_servers} "
                                 f"({type(exc).__name__}); start one with `telecom broker start`") from None
    try:
        partitions = consumer.partitions_for_topic(topic)
        if not partitions:
            raise TelecomError(f"topic {topic} does not exist at {settings.bootstrap_servers}")
        assigned = [TopicPartition(topic, p) for p in sorted(partitions)]
        first = consumer.beginning_offsets(assigned)
        after = consumer.end_offsets(assigned)
        return {tp.partition: (first[tp], after[tp]) for tp in assigned}
    except KafkaError as exc:
        raise ServiceUnavailable(f"cannot read offsets of {topic} at {settings.bootstrap_servers}: "
                                 f"{type(exc).__name__}") from None
    finally:
        consumer.close()


def read_topic(spark: SparkSession, settings: Settings, topic: str, offsets: dict[int, tuple[int, int]],
               headers: bool = False) -> DataFrame:
    """A batch read of exactly `offsets` of `topic` (Kafka columns: key, value, topic, partition, offset,
    timestamp, and `headers` when asked)."""
    starting = {topic: {str(p): first for p, (first, _) in offsets.items()}}
    ending = {topic: {str(p): after for p, (_, after) in offsets.items()}}
    return (spark.read.format("kafka").options(**spark_kafka_source_options(settings))
            .option("subscribe", topic).option("startingOffsets", json.dumps(starting))
            .option("endingOffsets", json.dumps(ending)).option("includeHeaders", str(headers).lower()).load())


def read_values(settings: Settings, topic: str, offsets: dict[int, tuple[int, int]],
                timeout_s: float = 300.0) -> Iterator[bytes]:
    """The values of exactly `offsets` of `topic`, with kafka-python (no Spark); partition by partition."""
    try:
        consumer = KafkaConsumer(**python_client_kwargs(settings), enable_auto_commit=False, group_id=None,
                                 fetch_max_bytes=64 * 1024 * 1024, max_partition_fetch_bytes=16 * 1024 * 1024)
    except (KafkaError, OSError) as exc:
        raise ServiceUnavailable(f"no Kafka broker answers at {settings.bootstrap_servers} "
                                 f"({type(exc).__name__}): the rated CDRs are read from {topic}") from None
    try:
        deadline = time.monotonic() + timeout_s
        for partition, (first, after) in sorted(offsets.items()):
            tp = TopicPartition(topic, partition)
            consumer.assign([tp])
            consumer.seek(tp, first)
            while consumer.position(tp) < after:
                if time.monotonic() > deadline:
                    raise ServiceUnavailable(f"{topic}: offsets {first}-{after} of partition {partition} not read "
                                             f"in {timeout_s:.0f} s (deleted by retention?)")
                for record in consumer.poll(timeout_ms=1000, max_records=10_000).get(tp, []):
                    if record.offset < after:
                        yield record.value
    finally:
        consumer.close()
