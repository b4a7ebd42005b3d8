#!/usr/bin/env python3
"""End-to-end latency: produce -> rated record in `cdr.rated`, at a fixed offered load.

Starts `telecom stream` (a separate process, as a user runs it) on fresh topics, then a paced
kafka-python producer offers `--rate` clean generated CDRs per second for `--warmup` + `--seconds`
seconds. A consumer on the rated topic matches each rated record to its send time by `cdr_id`:
latency = the rated record's Kafka timestamp (set by Spark's producer when it writes the record) minus
the wall-clock time our producer called `send` (same machine, same clock). A warm-up load is sent first and
fully rated (the first batches compile the query); only the CDRs of the measured period count. While the stream runs, the resident memory of the whole local stack (this process and
every descendant: the broker JVM, the stream process and its Spark JVM) is sampled every 0.5 s.

`--trigger` is the stream's trigger: the default micro-batch interval, or `realtime:<checkpoint
interval>` for Spark's real-time mode. When the stream refuses the query (the pinned Spark's real-time
mode supports stateless queries only; ours deduplicates), the latency is null and `reason` says why.

Uses KAFKA_BOOTSTRAP_SERVERS when set, else an embedded broker on free ports. Prints one JSON line
with `<prefix>p50_ms`, `<prefix>p99_ms`, the offered and achieved rates, and `peak_rss_mb`.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import re
import signal
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path

from kafka import KafkaConsumer, KafkaProducer, TopicPartition
from rss import RssSampler

from telecom_billing.broker import EmbeddedBroker, free_port
from telecom_billing.catalog import load_catalog
from telecom_billing.generator import CdrGenerator, GeneratorOptions
from telecom_billing.kafka_clients import python_client_kwargs
from telecom_billing.producer import subscriber_key
from telecom_billing.settings import load_settings
from telecom_billing.subscribers import load_subscribers
from telecom_billing.topics import TopicSpec, ensure_topics

TELECOM = Path(sys.executable).parent / "telecom"


class RatedWatcher(threading.Thread):
    """Reads the rated topic from its current end; records (cdr_id, Kafka timestamp ms)."""

    def __init__(self, settings, topic: str) -> None:
        super().__init__(daemon=True)
        self.consumer = KafkaConsumer(**python_client_kwargs(settings), enable_auto_commit=False,
                                      fetch_max_wait_ms=50, fetch_max_bytes=64 * 1024 * 1024)
        partitions = [TopicPartition(topic, p) for p in sorted(self.consumer.partitions_for_topic(topic) or [])]
        self.consumer.assign(partitions)
        self.consumer.seek_to_end()
        for tp in partitions:
            self.consumer.position(tp)
        self.seen: dict[str, int] = {}
        self.halt = threading.Event()

    def run(self) -> None:
        while not self.halt.is_set():
            for batch in self.consumer.poll(timeout_ms=200).values():
                for record in batch:
                    cdr_id = json.loads(record.value).get("cdr_id")
                    self.seen.setdefault(cdr_id, record.timestamp)
        self.consumer.close()


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q / 100 * len(ordered)) - 1))]


def start_stream(settings, trigger: str, log: Path) -> subprocess.Popen:
    env = dict(os.environ, TELECOM_BOOTSTRAP_SERVERS=settings.bootstrap_servers, TELECOM_TOPIC_RAW=settings.topic_raw,
               TELECOM_TOPIC_RATED=settings.topic_rated, TELECOM_TOPIC_REJECTED=settings.topic_rejected,
               TELECOM_CHECKPOINT_DIR=str(settings.checkpoint_dir))
    return subprocess.Popen([str(TELECOM), "stream", "--trigger", trigger, "--starting-offsets", "latest"],
                            env=env, stdout=log.open("w"), stderr=subprocess.STDOUT, start_new_session=True)


def failure(log: Path) -> str:
    """Why the stream stopped: Spark's real-time-mode limitation when that is it, else its error line."""
    text = log.read_text(errors="replace")
    limitation = re.search(r"\[STREAMING_REAL_TIME_MODE[^\]]*\].*?(?= To bypass|$)", text, re.M)
    if limitation:
        return limitation.group(0)
    errors = [ln for ln in text.splitlines() if "error" in ln.lower()] or text.splitlines()[-1:]
    return errors[0].strip() if errors else "the stream stopped"


def wait_started(proc: subprocess.Popen, log: Path, timeout: float = 300) -> str | None:
    """None once the query has run for a few seconds, else why it stopped."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            return failure(log)
        if "stream started" in log.read_text(errors="replace"):
            time.sleep(5)  # a query Spark refuses fails on its first batch
            return failure(log) if proc.poll() is not None else None
        time.sleep(0.5)
    return f"the stream did not start within {timeout:.0f} s"


def stop(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()


def offer(settings, lines: list[bytes], ids: list[str], rate: int, seconds: float) -> tuple[dict[str, float], float]:
    """Send `rate` lines per second for `seconds` in 20 ms slices; send wall-clock ms per cdr_id."""
    producer = KafkaProducer(**python_client_kwargs(settings), acks="all", linger_ms=1, compression_type="lz4")
    sent: dict[str, float] = {}
    started = time.monotonic()
    n = 0
    while True:
        elapsed = time.monotonic() - started
        if elapsed >= seconds or n >= len(lines):
            break
        due = min(len(lines), int(elapsed * rate) + 1)
        while n < due:
            sent[ids[n]] = time.time() * 1000
            producer.send(settings.topic_raw, key=subscriber_key(lines[n]), value=lines[n])
            n += 1
        time.sleep(0.02)
    producer.flush()
    producer.close()
    return sent, n / (time.monotonic() - started)


def wait_rated(watcher: RatedWatcher, proc: subprocess.Popen, sent: dict[str, float], timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and proc.poll() is None and not all(i in watcher.seen for i in sent):
        time.sleep(0.5)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rate", type=int, default=5000, help="offered CDRs per second (default 5000)")
    parser.add_argument("--seconds", type=float, default=60, help="measured seconds (default 60)")
    parser.add_argument("--warmup", type=float, default=20, help="seconds sent before measuring (default 20)")
    parser.add_argument("--trigger", default=None, help="stream trigger (default: the project's default)")
    parser.add_argument("--prefix", default="latency_", help="prefix of the JSON keys")
    args = parser.parse_args()

    base = load_settings()
    trigger = args.trigger or base.trigger
    tmp = Path(tempfile.mkdtemp(prefix="bench-latency-"))
    broker = None
    bootstrap = os.environ.get("KAFKA_BOOTSTRAP_SERVERS")
    if not bootstrap:
        broker = EmbeddedBroker(home=tmp / "broker", jars_dir=base.jars_dir, port=free_port(),
                                controller_port=free_port(), heap="1g")
        broker.start()
        bootstrap = broker.bootstrap_servers
    suffix = uuid.uuid4().hex[:6]
    settings = dataclasses.replace(base, bootstrap_servers=bootstrap, topic_raw=f"lat.raw.{suffix}",
                                   topic_rated=f"lat.rated.{suffix}", topic_rejected=f"lat.rejected.{suffix}",
                                   checkpoint_dir=tmp / "checkpoints")
    result: dict[str, object] = {f"{args.prefix}trigger": trigger, f"{args.prefix}offered_cdr_per_s": args.rate}
    sampler = RssSampler()
    proc = None
    try:
        ensure_topics(settings, [TopicSpec(t, settings.partitions, {}) for t in
                                 (settings.topic_raw, settings.topic_rated, settings.topic_rejected)])
        total = int(args.rate * (args.seconds + args.warmup)) + args.rate
        generator = CdrGenerator(load_catalog(settings.catalog_dir), load_subscribers(settings.subscribers_file),
                                 GeneratorOptions(count=total, defects=0.0))
        lines = [line.encode() for lines, _labels, _keys in generator.batches(keyed=True) for line in lines]
        ids = [json.loads(line)["cdr_id"] for line in lines]
        sampler.start()
        proc = start_stream(settings, trigger, tmp / "stream.log")
        refused = wait_started(proc, tmp / "stream.log")
        if refused is not None:
            result.update({f"{args.prefix}p50_ms": None, f"{args.prefix}p99_ms": None,
                           f"{args.prefix}reason": refused})
        else:
            watcher = RatedWatcher(settings, settings.topic_rated)
            watcher.start()
            # Warm-up: the first batches compile the query and warm the JIT; wait until they are all rated.
            warm = int(args.rate * args.warmup)
            sent, _ = offer(settings, lines[:warm], ids[:warm], args.rate, args.warmup)
            wait_rated(watcher, proc, sent, 600)
            measured, achieved = offer(settings, lines[warm:], ids[warm:], args.rate, args.seconds)
            wait_rated(watcher, proc, measured, 120)
            watcher.halt.set()
            watcher.join()
            latencies = [watcher.seen[i] - t for i, t in measured.items() if i in watcher.seen]
            if proc.poll() is not None or not latencies:
                result.update({f"{args.prefix}p50_ms": None, f"{args.prefix}p99_ms": None,
                               f"{args.prefix}reason": failure(tmp / "stream.log")})
            else:
                result.update({
                    f"{args.prefix}p50_ms": round(percentile(latencies, 50), 1),
                    f"{args.prefix}p99_ms": round(percentile(latencies, 99), 1),
                    f"{args.prefix}max_ms": round(max(latencies), 1),
                    f"{args.prefix}achieved_cdr_per_s": round(achieved, 1),
                    f"{args.prefix}measured_cdrs": len(measured),
                    f"{args.prefix}missing_cdrs": len(measured) - len(latencies),
                })
    finally:
        if proc is not None:
            stop(proc)
        sampler.halt.set()
        if broker is not None:
            broker.stop()
    result["peak_rss_mb"] = round(sampler.peak / 2**20, 1)
    print(json.dumps(result))


if __name__ == "__main__":
    main()
