#!/usr/bin/env python3
"""End-to-end latency: produce -> rated record in `cdr.rated`, at a fixed offered load.

Starts `telecom stream` (its own process, as a user runs it) on fresh topics, then `--producers`
paced producer processes (confluent-kafka; default one per 10,000 CDR/s) offer `--rate` clean, whole
generated CDRs per second in all, in 10 ms slices, first for `--warmup` seconds, then, once every
warm-up CDR is rated (the first batches compile the query and warm the JIT), for `--seconds` measured
seconds. Each producer records the wall-clock time at which it hands each record to its client
(`produce`), by `cdr_id`. A consumer of the rated and rejected topics in this process notes each
output record's Kafka timestamp, which Spark's Kafka producer sets when it sends the record (same
machine, same clock); latency = that timestamp - our send time, so it does not include the delay of
our own consumer. A measured CDR not on either output `--wait` seconds after the last send counts as
infinitely late: a percentile that falls on one is null, with the reason.

While the stream runs, the resident memory of the stack (the embedded broker's JVM and the `telecom
stream` process tree: its Python driver and Spark's JVM; not these producers nor this process) is
sampled every 0.5 s.

`--trigger` is the stream's trigger: the default micro-batch interval, or `realtime:<checkpoint
interval>` for Spark's real-time mode; `--stream-args` passes more `telecom stream` flags (real-time
mode needs a task slot per raw partition: `--stream-args=--master local[6]`). When the stream
refuses the query, the latency is null and `reason` says why in one line.

`--monitor` also runs `telecom monitor` (the usage monitor, DESIGN.md 7d) beside the stream and
measures its alert latency: an alert's Kafka timestamp on the alerts topic minus that of the rated CDR
that crossed the threshold (`triggered_by`) on the rated topic, for the alerts of measured CDRs:
`monitor_alert_p50_ms`, `monitor_alert_p99_ms`, `monitor_alerts_measured`.

Uses KAFKA_BOOTSTRAP_SERVERS when set, else an embedded broker on free ports. Prints one JSON line:
`<prefix>p50_ms<suffix>`, `<prefix>p99_ms<suffix>`, the offered and achieved rates, `peak_rss_mb`.
"""

from __future__ import annotations

import argparse
import math
import multiprocessing
import os
import re
import shlex
import signal
import subprocess
import tempfile
import threading
import time
import uuid
from array import array
from pathlib import Path
from typing import Any

import orjson
from confluent_kafka import OFFSET_BEGINNING, Consumer, Producer, TopicPartition
from rss import RssSampler
from stack import TELECOM, create_topics, fresh_settings, generate_backlog, kafka, telecom_env

from telecom_billing.generator import subscriber_key
from telecom_billing.infra.settings import Settings, load_settings

SLICE_S = 0.01
RATE_PER_PRODUCER = 10_000
WARMUP_TIMEOUT_S = 600.0


# -- the paced producers ------------------------------------------------------------------------------


def producer_process(conn: Any, bootstrap: str, topic: str, lines_file: Path, rate: float) -> None:
    """One paced producer process: sends its lines (from `telecom generate`) at `rate` for each
    `seconds` received on `conn`, answering (cdr_ids, send times in ms, seconds taken); stops on None."""
    try:
        lines = lines_file.read_bytes().splitlines()
        keys = [subscriber_key(line) for line in lines]
        ids = [orjson.loads(line)["cdr_id"] for line in lines]
        producer = Producer({"bootstrap.servers": bootstrap, "acks": "all", "enable.idempotence": True,
                             "compression.type": "lz4", "linger.ms": 1, "partitioner": "murmur2_random"})
        conn.send("ready")
        first = 0  # the next line to send
        while (seconds := conn.recv()) is not None:
            times, sent, elapsed = pace(producer, topic, lines[first:], keys[first:], rate, seconds)
            conn.send((ids[first:first + sent], times, elapsed))
            first += sent
    except BaseException as exc:
        conn.send(f"producer {os.getpid()}: {type(exc).__name__}: {exc}".splitlines()[0])


def pace(producer: Producer, topic: str, lines: list[bytes], keys: list[bytes | None], rate: float,
         seconds: float) -> tuple[array, int, float]:
    """Send `rate` lines per second for `seconds`; the send time of each (ms), how many, how long."""
    times = array("d")
    started = time.monotonic()
    n = 0
    while (elapsed := time.monotonic() - started) < seconds and n < len(lines):
        due = min(len(lines), int(elapsed * rate) + 1)
        while n < due:
            times.append(time.time() * 1000)
            while True:
                try:
                    producer.produce(topic, value=lines[n], key=keys[n])
                    break
                except BufferError:  # the client's queue is full: let it send first
                    producer.poll(0.01)
            n += 1
        producer.poll(0)
        time.sleep(SLICE_S)
    producer.flush()
    return times, n, elapsed


class Producers:
    """The paced producer processes, each with its own generated clean CDRs and a share of the rate."""

    def __init__(self, settings: Settings, work: Path, rate: float, seconds: float, processes: int) -> None:
        context = multiprocessing.get_context("spawn")
        share = rate / processes
        count = math.ceil(share * (seconds + 1))
        self.pipes, self.processes = [], []
        for index in range(processes):
            # A seed per producer: distinct cdr_ids (identical ones would be dropped as duplicates).
            # Whole CDRs only: a part leaves no record of its own id (its session's CDR does, up to
            # 10 s later: README, "Partial records"), and would count as never rated.
            lines = generate_backlog(work / f"offer-{index}.jsonl", count, "--seed", str(1000 + index),
                                     "--defects", "0", "--parts-share", "0")
            parent, child = context.Pipe()
            process = context.Process(target=producer_process, daemon=True,
                                      args=(child, settings.bootstrap_servers, settings.topic_raw, lines, share))
            process.start()
            self.pipes.append(parent)
            self.processes.append(process)

    def _answers(self) -> list[Any]:
        answers = [pipe.recv() for pipe in self.pipes]
        errors = [a for a in answers if isinstance(a, str) and a != "ready"]
        if errors:
            raise SystemExit(f"bench_latency: {errors[0]}")
        return answers

    def wait_ready(self) -> None:
        self._answers()

    def offer(self, seconds: float) -> tuple[dict[str, float], float]:
        """Offer the load for `seconds`: send time (ms) per cdr_id, and the rate achieved in all."""
        for pipe in self.pipes:
            pipe.send(seconds)
        sent: dict[str, float] = {}
        achieved = 0.0
        for ids, times, elapsed in self._answers():
            sent.update(zip(ids, times, strict=True))
            achieved += len(ids) / elapsed if elapsed else 0
        return sent, achieved

    def close(self) -> None:
        for pipe, process in zip(self.pipes, self.processes, strict=True):
            if process.is_alive():
                pipe.send(None)
            process.join(timeout=30)
            if process.is_alive():
                process.kill()


# -- the outputs ----------------------------------------------------------------------------------------


class OutputWatcher(threading.Thread):
    """Reads the rated and rejected topics from their beginning (fresh topics: only this run's records);
    the first output's Kafka timestamp (ms) per cdr_id, and which cdr_ids were rejected."""

    def __init__(self, settings: Settings, alerts: bool = False) -> None:
        super().__init__(daemon=True)
        self.consumer = Consumer({"bootstrap.servers": settings.bootstrap_servers, "enable.auto.commit": False,
                                  "group.id": f"latency-watch-{uuid.uuid4().hex[:6]}", "fetch.wait.max.ms": 50})
        topics = (settings.topic_rated, settings.topic_rejected, *([settings.topic_alerts] if alerts else []))
        metadata = self.consumer.list_topics(timeout=30).topics
        self.consumer.assign([TopicPartition(topic, partition, OFFSET_BEGINNING)
                              for topic in topics for partition in metadata[topic].partitions])
        self.rejected_topic, self.alerts_topic = settings.topic_rejected, settings.topic_alerts
        self.alerts: list[tuple[str, int]] = []  # (triggered_by, Kafka timestamp ms) of each alert
        self.seen: dict[str, int] = {}
        self.rejected: set[str] = set()
        self.halt = threading.Event()

    def run(self) -> None:
        while not self.halt.is_set():
            for message in self.consumer.consume(num_messages=1000, timeout=0.2):
                if message.error() is not None:
                    continue
                if message.topic() == self.alerts_topic:
                    self.alerts.append((orjson.loads(message.value())["triggered_by"], message.timestamp()[1]))
                    continue
                cdr_id = orjson.loads(message.value()).get("cdr_id")
                if cdr_id is not None and cdr_id not in self.seen:
                    self.seen[cdr_id] = message.timestamp()[1]
                    if message.topic() == self.rejected_topic:
                        self.rejected.add(cdr_id)
        self.consumer.close()

    def wait_for(self, ids: list[str], proc: subprocess.Popen, timeout: float) -> int:
        """Wait until every id has an output, the stream stops or `timeout`; how many have none."""
        pending = ids
        deadline = time.monotonic() + timeout
        while pending and time.monotonic() < deadline and proc.poll() is None:
            time.sleep(0.5)
            pending = [i for i in pending if i not in self.seen]
        return len(pending)


def alert_summary(sent: dict[str, float], watcher: OutputWatcher) -> dict[str, Any]:
    """Nearest-rank percentiles of the alert latency (alert on its topic - its rated CDR on the rated
    topic) over the alerts of the measured CDRs."""
    latencies = sorted(ts - watcher.seen[cdr_id] for cdr_id, ts in watcher.alerts
                       if cdr_id in sent and cdr_id in watcher.seen)

    def percentile(q: float) -> float | None:
        return round(latencies[math.ceil(q / 100 * len(latencies)) - 1], 1) if latencies else None

    return {"monitor_alert_p50_ms": percentile(50), "monitor_alert_p99_ms": percentile(99),
            "monitor_alerts_measured": len(latencies)}


def wait_quiet(watcher: OutputWatcher, quiet_s: float = 10.0, timeout: float = 120.0) -> None:
    """Wait until no alert has arrived for `quiet_s` (the monitor's last batches), at most `timeout`."""
    deadline = time.monotonic() + timeout
    count, since = len(watcher.alerts), time.monotonic()
    while time.monotonic() < deadline and time.monotonic() - since < quiet_s:
        time.sleep(0.5)
        if len(watcher.alerts) != count:
            count, since = len(watcher.alerts), time.monotonic()


def summary(sent: dict[str, float], watcher: OutputWatcher) -> dict[str, Any]:
    """Nearest-rank percentiles of the measured CDRs' latency, the unrated ones counted as infinite."""
    latencies = sorted(watcher.seen[i] - t for i, t in sent.items() if i in watcher.seen)

    def percentile(q: float) -> float | None:
        rank = math.ceil(q / 100 * len(sent))
        return round(latencies[rank - 1], 1) if 0 < rank <= len(latencies) else None

    missing = len(sent) - len(latencies)
    return {"p50_ms": percentile(50), "p99_ms": percentile(99),
            "max_ms": round(latencies[-1], 1) if latencies and not missing else None,
            "measured_cdrs": len(sent), "missing_cdrs": missing,
            "rejected_cdrs": sum(1 for i in sent if i in watcher.rejected)}


# -- the stream ------------------------------------------------------------------------------------------


def start_stream(settings: Settings, trigger: str, extra: list[str], log: Path) -> subprocess.Popen:
    return subprocess.Popen([str(TELECOM), "stream", "--trigger", trigger, "--starting-offsets", "latest", *extra],
                            env=telecom_env(settings), stdout=log.open("w"), stderr=subprocess.STDOUT,
                            start_new_session=True)


def start_monitor(settings: Settings, log: Path) -> subprocess.Popen:
    return subprocess.Popen([str(TELECOM), "monitor", "--ui-port", "0"], env=telecom_env(settings),
                            stdout=log.open("w"), stderr=subprocess.STDOUT, start_new_session=True)


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


def measure(settings: Settings, proc: subprocess.Popen, log: Path, producers: Producers,
            args: argparse.Namespace) -> dict[str, Any]:
    """Warm up until every warm-up CDR is rated, then offer the measured load; the latency keys."""
    refused = wait_started(proc, log)
    if refused is not None:
        return {"reason": refused}
    watcher = OutputWatcher(settings, alerts=args.monitor)
    watcher.start()
    try:
        producers.wait_ready()
        warm, _ = producers.offer(args.warmup)
        unrated = watcher.wait_for(list(warm), proc, WARMUP_TIMEOUT_S)
        if proc.poll() is not None:
            return {"reason": failure(log)}
        if unrated:
            return {"reason": f"{unrated} of {len(warm)} warm-up CDRs not rated within {WARMUP_TIMEOUT_S:.0f} s"}
        sent, achieved = producers.offer(args.seconds)
        watcher.wait_for(list(sent), proc, args.wait)
        if proc.poll() is not None:
            return {"reason": failure(log)}
        found = summary(sent, watcher) | {"achieved_cdr_per_s": round(achieved, 1)}
        if args.monitor:
            wait_quiet(watcher)
            found |= alert_summary(sent, watcher)
        if found["p99_ms"] is None:
            found["reason"] = f"{found['missing_cdrs']} of {len(sent)} measured CDRs not rated within {args.wait:.0f} s"
        return found
    finally:
        watcher.halt.set()
        watcher.join()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rate", type=int, default=5000, help="offered CDRs per second (default 5000)")
    parser.add_argument("--seconds", type=float, default=60, help="measured seconds (default 60)")
    parser.add_argument("--warmup", type=float, default=20, help="seconds sent before measuring (default 20)")
    parser.add_argument("--wait", type=float, default=300,
                        help="seconds to wait for the measured CDRs after the last send (default 300)")
    parser.add_argument("--producers", type=int, default=None,
                        help=f"producer processes (default: one per {RATE_PER_PRODUCER:,} CDR/s)")
    parser.add_argument("--trigger", default=None, help="stream trigger (default: the project's default)")
    parser.add_argument("--stream-args", default="", help="more `telecom stream` flags, e.g. '--master local[6]'")
    parser.add_argument("--prefix", default="latency_", help="prefix of the JSON keys")
    parser.add_argument("--suffix", default="", help="suffix of the JSON keys (e.g. _20k)")
    parser.add_argument("--monitor", action="store_true", help="also run the usage monitor: its alert latency")
    args = parser.parse_args()

    base = load_settings()
    trigger = args.trigger or base.trigger
    processes = args.producers or math.ceil(args.rate / RATE_PER_PRODUCER)
    tmp = Path(tempfile.mkdtemp(prefix="bench-latency-"))
    with kafka(tmp / "broker", heap="1g") as broker:
        settings = fresh_settings(base, broker.bootstrap, "lat", tmp)
        create_topics(settings)
        producers = Producers(settings, tmp, args.rate, args.warmup + args.seconds, processes)
        log = tmp / "stream.log"
        proc = start_stream(settings, trigger, shlex.split(args.stream_args), log)
        monitor = start_monitor(settings, tmp / "monitor.log") if args.monitor else None
        sampler = RssSampler(*(p for p in (broker.pid, proc.pid, monitor and monitor.pid) if p is not None))
        sampler.start()
        try:
            found = measure(settings, proc, log, producers, args)
        finally:
            producers.close()
            for running in (proc, monitor):
                if running is not None:
                    stop(running)
            sampler.halt.set()
    keys = {"trigger": trigger, "offered_cdr_per_s": args.rate, "producers": processes, "p50_ms": None,
            "p99_ms": None, **found, "peak_rss_mb": sampler.peak_mb}
    result: dict[str, Any] = {key if key.startswith("monitor_") else f"{args.prefix}{key}{args.suffix}": value
                              for key, value in keys.items()}
    result["peak_rss_mb"] = sampler.peak_mb
    print(orjson.dumps(result).decode())


if __name__ == "__main__":
    main()
