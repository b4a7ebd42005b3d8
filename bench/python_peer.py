#!/usr/bin/env python3
"""The Python peer of the stream: what a Python engineer would write instead of Spark, same rules, same data.

Both peers read the raw topic, run the rules of `tests/reference/rating.py` (`mediate_and_rate`, the
reference the Spark pipeline is property-tested against) and write `<raw>.peer-rated` and
`<raw>.peer-rejected`:

* `fair_peer` (`python_peer_cdr_per_s`): confluent-kafka (librdkafka) consumers, one OS process per
  core, each assigned a fixed share of the partitions (no group rebalancing mid-drain); each polls
  batches of up to 5,000 records, rates them, serializes with orjson and produces with a
  confluent-kafka producer (lz4, acks=all, idempotent, linger 5 ms, the Java client's murmur2
  partitioner), then commits its offsets once the batch is acknowledged (the stream's at-least-once
  contract). Timed from the moment every process has its partitions (a barrier, before the first
  fetch) to the last process's last acknowledged batch, over the whole backlog: records / wall
  seconds. Process start and imports are not timed.
* `naive_peer` (`python_peer_naive_cdr_per_s`, the earlier figure): one process, kafka-python
  consumer and producer, the standard library's json, on the first `count` records.

Deduplication: the reference drops copies of a `cdr_id` within one call (one batch); the fair peer
also drops a copy whose `cdr_id` it rated in an earlier batch. A process sees only its own
partitions, which is enough: copies of a CDR share its MSISDN, the record key, hence a partition.
(A copy whose first copy was rejected at rating, in an earlier batch, is rejected again instead of
being counted as a duplicate: rare, and the same work.) The reference indexes the catalog and the
subscriber base on each call, i.e. once per batch (~5 ms for 10,000 subscribers).

The reference is imported as `reference.rating`, the name the tests use: `bench/run.py` puts `tests/`
on PYTHONPATH. Alone: `PYTHONPATH=tests python bench/python_peer.py --bootstrap-servers HOST:PORT
--topic RAW` (the output topics must exist) prints one JSON line.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import queue
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson
from confluent_kafka import OFFSET_BEGINNING, Consumer, KafkaError, Producer, TopicPartition

try:
    from reference.rating import Result, mediate_and_rate
except ModuleNotFoundError:
    raise SystemExit("python_peer: cannot import reference.rating; run with PYTHONPATH=tests "
                     "(bench/run.py sets it)") from None

from telecom_billing.infra.settings import Settings, load_settings
from telecom_billing.refdata.catalog import load_catalog
from telecom_billing.refdata.subscribers import load_subscribers

BATCH = 5000
SETTLE_TIMEOUT_S = 120.0
RESULT_TIMEOUT_S = 3600.0


def rated_topic(raw: str) -> str:
    return f"{raw}.peer-rated"


def rejected_topic(raw: str) -> str:
    return f"{raw}.peer-rejected"


# -- the fair peer: confluent-kafka + orjson, one process per core ------------------------------------


def fair_peer(settings: Settings, subscribers_file: Path, processes: int | None = None) -> dict[str, Any]:
    """Drain `settings.topic_raw` with `processes` peer processes (default: one per core, at most one
    per partition); the JSON keys `python_peer_*`."""
    count = min(processes or os.cpu_count() or 1, settings.partitions)
    spawn = multiprocessing.get_context("spawn")  # no fork of a process that runs a JVM gateway
    group = Group(spawn, count)
    job = PeerJob(settings.bootstrap_servers, settings.topic_raw, settings.partitions, f"peer-{uuid.uuid4().hex[:6]}",
                  settings.catalog_dir, subscribers_file)
    workers = [spawn.Process(target=run_worker, args=(job, group, index), daemon=True) for index in range(count)]
    for worker in workers:
        worker.start()
    try:
        reports = [group.results.get(timeout=RESULT_TIMEOUT_S) for _ in workers]
    except queue.Empty:
        raise SystemExit(f"python_peer: no result from the peer processes within {RESULT_TIMEOUT_S:.0f} s") from None
    finally:
        for worker in workers:
            worker.join(timeout=30)
            if worker.is_alive():
                worker.kill()
    errors = [r["error"] for r in reports if "error" in r]
    if errors:
        raise SystemExit(f"python_peer: {errors[0]}")
    records = sum(r["records"] for r in reports)
    seconds = max(r["finished"] for r in reports) - min(r["started"] for r in reports)
    return {"python_peer_cdr_per_s": round(records / seconds, 1) if seconds > 0 else None,
            "python_peer_processes": count, "python_peer_records": records,
            "python_peer_rated": sum(r["rated"] for r in reports),
            "python_peer_rejected": sum(r["rejected"] for r in reports),
            "python_peer_duplicates": sum(r["duplicates"] for r in reports),
            "python_peer_seconds": round(seconds, 2)}


class PeerJob:
    """What every peer process needs to know (picklable: it crosses the spawn)."""

    def __init__(self, bootstrap: str, topic: str, partitions: int, group_id: str, catalog_dir: Path,
                 subscribers_file: Path) -> None:
        self.bootstrap, self.topic, self.partitions, self.group_id = bootstrap, topic, partitions, group_id
        self.catalog_dir, self.subscribers_file = catalog_dir, subscribers_file


class Group:
    """Shared state of the peer processes: the start barrier and the results queue."""

    def __init__(self, context: Any, processes: int) -> None:
        self.processes = processes
        self.ready = context.Barrier(processes, timeout=SETTLE_TIMEOUT_S)
        self.results = context.Queue()


def run_worker(job: PeerJob, group: Group, index: int) -> None:
    """One peer process; puts one report (or `{"error": line}`) on the results queue."""
    try:
        group.results.put(PeerWorker(job, group, index).drain())
    except BaseException as exc:
        group.results.put({"error": f"peer process {index}: {type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}"})


class PeerWorker:
    def __init__(self, job: PeerJob, group: Group, index: int) -> None:
        self.job, self.group, self.index = job, group, index
        self.catalog = load_catalog(job.catalog_dir)
        self.subscribers = load_subscribers(job.subscribers_file)
        self.consumer = Consumer({"bootstrap.servers": job.bootstrap, "group.id": job.group_id,
                                  "enable.auto.commit": False, "auto.offset.reset": "earliest",
                                  "enable.partition.eof": True})
        self.failures: list[str] = []
        self.producer = Producer({"bootstrap.servers": job.bootstrap, "acks": "all", "enable.idempotence": True,
                                  "compression.type": "lz4", "linger.ms": 5, "partitioner": "murmur2_random",
                                  # Only failed deliveries call back: no Python call per record.
                                  "delivery.report.only.error": True, "on_delivery": self._delivered})
        self.rated_ids: set[str] = set()  # cdr_ids rated by this process in earlier batches
        self.counts = {"records": 0, "rated": 0, "rejected": 0, "duplicates": 0}

    def _delivered(self, error: Any, _message: Any) -> None:
        if error is not None:
            self.failures.append(str(error))

    def drain(self) -> dict[str, Any]:
        self._take_partitions()
        started = time.monotonic()
        at_end: set[int] = set()
        while not at_end >= {tp.partition for tp in self.consumer.assignment()}:
            values, sources = [], []
            for message in self.consumer.consume(num_messages=BATCH, timeout=0.1):
                error = message.error()
                if error is None:
                    values.append(message.value())
                    sources.append((message.partition(), message.offset()))
                elif error.code() == KafkaError._PARTITION_EOF:
                    at_end.add(message.partition())
                else:
                    raise RuntimeError(error.str())
            if values:
                self._rate_batch(values, sources)
        finished = time.monotonic()
        self.consumer.close()
        return {**self.counts, "started": started, "finished": finished}

    def _take_partitions(self) -> None:
        """A fixed share of the partitions (every `processes`-th one), from the beginning, then wait
        for every process: a static assignment, so no rebalance ever moves a partition mid-drain."""
        count = self.group.processes
        self.consumer.assign([TopicPartition(self.job.topic, p, OFFSET_BEGINNING)
                              for p in range(self.job.partitions) if p % count == self.index])
        self.group.ready.wait()

    def _rate_batch(self, values: list[bytes], sources: list[tuple[int, int]]) -> None:
        result = mediate_and_rate(values, self.catalog, self.subscribers, datetime.now(UTC))
        fresh = self._drop_earlier_copies(result)
        for record in fresh:
            self._produce(rated_topic(self.job.topic), record["msisdn"], orjson.dumps(record))
        for record in result.rejected:
            # The reference numbers records by their position in the call; the source is the Kafka record.
            partition, offset = sources[record["source"]["offset"]]
            record["source"] = {"topic": self.job.topic, "partition": partition, "offset": offset}
            self._produce(rejected_topic(self.job.topic), record.get("msisdn"), orjson.dumps(record))
        self.producer.flush()
        if self.failures:
            raise RuntimeError(f"delivery failed: {self.failures[0]}")
        self.consumer.commit(asynchronous=True)  # only once the batch's output is acknowledged
        self.counts["records"] += len(values)
        self.counts["rated"] += len(fresh)
        self.counts["rejected"] += len(result.rejected)
        self.counts["duplicates"] += result.duplicates + len(result.rated) - len(fresh)

    def _drop_earlier_copies(self, result: Result) -> list[dict[str, Any]]:
        fresh = [record for record in result.rated if record["cdr_id"] not in self.rated_ids]
        self.rated_ids.update(record["cdr_id"] for record in fresh)
        return fresh

    def _produce(self, topic: str, key: str | None, value: bytes) -> None:
        while True:
            try:
                self.producer.produce(topic, value=value, key=key.encode() if key else None)
                return
            except BufferError:  # the local queue is full: let librdkafka send, then retry
                self.producer.poll(0.1)


# -- the naive peer: one process, kafka-python -----------------------------------------------------------


def naive_peer(settings: Settings, subscribers_file: Path, count: int) -> float:
    """CDR/s of one kafka-python process rating the first `count` records of the raw topic."""
    from kafka import KafkaConsumer, KafkaProducer

    from telecom_billing.infra.kafka_clients import python_client_kwargs

    catalog, subscribers = load_catalog(settings.catalog_dir), load_subscribers(subscribers_file)
    consumer = KafkaConsumer(settings.topic_raw, **python_client_kwargs(settings), auto_offset_reset="earliest",
                             enable_auto_commit=False, group_id=f"peer-naive-{uuid.uuid4().hex[:6]}",
                             max_poll_records=BATCH, fetch_max_bytes=64 * 1024 * 1024)
    producer = KafkaProducer(**python_client_kwargs(settings), acks="all", linger_ms=20, batch_size=256 * 1024,
                             compression_type="lz4")
    started, done = time.perf_counter(), 0
    while done < count:
        polled = consumer.poll(timeout_ms=2000, max_records=min(BATCH, count - done))
        values = [r.value for batch in polled.values() for r in batch]
        if not values:
            break
        result = mediate_and_rate(values, catalog, subscribers, datetime.now(UTC))
        for record in result.rated:
            producer.send(rated_topic(settings.topic_raw), key=record["msisdn"].encode(),
                          value=json.dumps(record, separators=(",", ":")).encode())
        for record in result.rejected:
            producer.send(rejected_topic(settings.topic_raw), value=json.dumps(record, separators=(",", ":")).encode())
        done += len(values)
    producer.flush()
    elapsed = time.perf_counter() - started
    consumer.close()
    producer.close()
    return done / elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bootstrap-servers", required=True)
    parser.add_argument("--topic", required=True, help="the raw topic to drain")
    parser.add_argument("--processes", type=int, default=None, help="peer processes (default: one per core)")
    parser.add_argument("--subscribers-file", type=Path, default=None, help="default data/subscribers.csv")
    parser.add_argument("--naive-count", type=int, default=0, help="also run the naive peer on this many records")
    args = parser.parse_args()
    settings = load_settings({"bootstrap_servers": args.bootstrap_servers, "topic_raw": args.topic})
    subscribers_file = args.subscribers_file or settings.subscribers_file
    result = fair_peer(settings, subscribers_file, args.processes)
    if args.naive_count:
        result["python_peer_naive_cdr_per_s"] = round(naive_peer(settings, subscribers_file, args.naive_count), 1)
    print(json.dumps(result))


if __name__ == "__main__":
    main()
