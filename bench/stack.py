"""What the benchmarks share: the broker they run on, fresh topics, generated backlogs, timing a
draining query, and the environment of a `telecom` subprocess.

Every benchmark runs on fresh, uniquely named topics, so runs never see each other's records, and
on the broker named by KAFKA_BOOTSTRAP_SERVERS when it is set, else on an embedded broker on free
ports that lives in the benchmark's temporary folder and stops with it.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from telecom_billing.infra.broker import EmbeddedBroker, free_port
from telecom_billing.infra.settings import Settings
from telecom_billing.infra.topics import TopicSpec, ensure_topics

REPO = Path(__file__).resolve().parents[1]
WORK = REPO / "build" / "bench"  # git-ignored; inputs worth keeping between runs
TELECOM = Path(sys.executable).parent / "telecom"


def telecom(*args: str, env: dict[str, str] | None = None, ok: tuple[int, ...] = (0,)) -> str:
    """Run the `telecom` command; its standard output. Exits with its last error line when its exit
    status is not in `ok`."""
    done = subprocess.run([str(TELECOM), *args], env=env, capture_output=True, text=True)
    if done.returncode not in ok:
        last = (done.stderr.strip().splitlines() or done.stdout.strip().splitlines() or ["no output"])[-1]
        raise SystemExit(f"telecom {args[0]} failed (exit status {done.returncode}): {last}")
    return done.stdout


def timed(*args: str, env: dict[str, str] | None = None) -> float:
    """Wall seconds of the `telecom` command `args`, start to exit (JVM start included)."""
    started = time.monotonic()
    telecom(*args, env=env)
    return time.monotonic() - started


@dataclass
class Kafka:
    """The broker a benchmark uses: its bootstrap servers and, when embedded, its pid (for RSS)."""

    bootstrap: str
    pid: int | None = None


@contextlib.contextmanager
def kafka(home: Path, heap: str = "1g") -> Iterator[Kafka]:
    """KAFKA_BOOTSTRAP_SERVERS when set, else an embedded broker in `home`, stopped on exit."""
    existing = os.environ.get("KAFKA_BOOTSTRAP_SERVERS")
    if existing:
        yield Kafka(existing)
        return
    from telecom_billing.infra.settings import load_settings

    broker = EmbeddedBroker(home=home, jars_dir=load_settings().jars_dir, port=free_port(),
                            controller_port=free_port(), heap=heap)
    pid = broker.start()
    try:
        yield Kafka(broker.bootstrap_servers, pid)
    finally:
        broker.stop()


def fresh_settings(base: Settings, bootstrap: str, prefix: str, work: Path) -> Settings:
    """`base` on `bootstrap` with topics `<prefix>.raw.<id>` (rated, rejected, parts, alerts alike) no run has used."""
    suffix = uuid.uuid4().hex[:6]
    return dataclasses.replace(base, bootstrap_servers=bootstrap, topic_raw=f"{prefix}.raw.{suffix}",
                               topic_rated=f"{prefix}.rated.{suffix}", topic_rejected=f"{prefix}.rejected.{suffix}",
                               topic_parts=f"{prefix}.parts.{suffix}", topic_alerts=f"{prefix}.alerts.{suffix}",
                               checkpoint_dir=work / "checkpoints", output_dir=work / "output")


def create_topics(settings: Settings, *extra: str) -> None:
    """The pipeline's five topics plus `extra` ones, all with the project's partition count."""
    names = (settings.topic_raw, settings.topic_rated, settings.topic_rejected, settings.topic_parts,
             settings.topic_alerts, *extra)
    ensure_topics(settings, [TopicSpec(name, settings.partitions, {}) for name in names])


def generate_backlog(path: Path, count: int, *flags: str) -> Path:
    """`count` CDRs from `telecom generate` (the CLI, so the benchmarks follow the generator as users
    get it; default defect rate, period 2026-10) as JSON lines in `path`; `flags` are more of its
    flags (`--subscribers-file F`, `--seed N`, `--defects 0`)."""
    telecom("generate", "--count", str(count), *flags, "--out", str(path), "--quiet")
    return path


def load_into_topic(spark, settings: Settings, lines: Path, topic: str | None = None) -> None:
    """A Spark batch write of the JSON lines (a file, or a folder of them) into `topic` (default: the
    raw topic), keyed by MSISDN like `telecom produce` (much faster than a Python producer, and not
    what is measured)."""
    from pyspark.sql import functions as F

    from telecom_billing.infra.kafka_clients import spark_kafka_options

    key = F.get_json_object("value", "$.msisdn")
    (spark.read.text(str(lines))
     .select(key.cast("binary").alias("key"), F.col("value").cast("binary").alias("value"))
     .write.format("kafka").options(**spark_kafka_options(settings)).option("topic", topic or settings.topic_raw)
     .save())


def subscriber_base(count: int, seed: int = 42) -> Path:
    """A generated base of `count` subscribers (`telecom generate --subscribers-only`), kept in
    build/bench/ and reused: a million takes about a minute to generate."""
    path = WORK / f"subscribers-{count}-seed{seed}.csv"
    if not path.is_file():
        WORK.mkdir(parents=True, exist_ok=True)
        partial = path.with_name(f".{path.name}.{os.getpid()}")
        telecom("generate", "--subscribers-only", "--subscribers", str(count), "--seed", str(seed),
                "--out", str(partial), "--quiet")
        partial.replace(path)
    return path


@dataclass
class BatchTimes:
    """Rows and duration of each micro-batch of a query, from its progress events, in batch order."""

    batches: list[tuple[int, int]] = field(default_factory=list)  # (rows, triggerExecution ms)

    @property
    def rows(self) -> int:
        return sum(rows for rows, _ in self.batches)

    @property
    def seconds(self) -> float:
        return sum(ms for _, ms in self.batches) / 1000

    def rate(self, after_rows: int = 0) -> float | None:
        """Rows per second of summed batch time, counting only the batches that start after the first
        `after_rows` rows (the JIT warm-up); None when no batch does."""
        done, rows, ms = 0, 0, 0
        for batch_rows, batch_ms in self.batches:
            if done >= after_rows:
                rows, ms = rows + batch_rows, ms + batch_ms
            done += batch_rows
        return round(rows / (ms / 1000), 1) if rows and ms else None


def drain(query) -> BatchTimes:
    """Wait for an availableNow query to finish; its batch times. One-line error if it failed."""
    progress: dict[int, dict] = {}
    while query.isActive:
        query.awaitTermination(1)
        progress.update((p["batchId"], p) for p in query.recentProgress)  # recentProgress keeps the last 100
    progress.update((p["batchId"], p) for p in query.recentProgress)
    _fail_if_failed(query)
    return _batch_times(progress)


def drain_sessions(run) -> BatchTimes:
    """Wait for a drain-and-exit `RatingStream` (`telecom_billing.stream`) to end: its sessions
    query's batch times (a few batches: `recentProgress` keeps them)."""
    while run.isActive:
        time.sleep(0.5)
    _fail_if_failed(run)
    return _batch_times({p["batchId"]: p for p in (run.sessions.recentProgress if run.sessions else [])})


def _fail_if_failed(query) -> None:
    if query.exception() is not None:
        raise SystemExit(f"the query failed: {str(query.exception()).splitlines()[0]}")


def _batch_times(progress: dict[int, dict]) -> BatchTimes:
    return BatchTimes([(p["numInputRows"], p["durationMs"].get("triggerExecution", 0))
                       for _, p in sorted(progress.items())])


def telecom_env(settings: Settings) -> dict[str, str]:
    """The environment that points a `telecom` subprocess at `settings`' broker, topics and folders."""
    return dict(os.environ, TELECOM_BOOTSTRAP_SERVERS=settings.bootstrap_servers,
                TELECOM_TOPIC_RAW=settings.topic_raw, TELECOM_TOPIC_RATED=settings.topic_rated,
                TELECOM_TOPIC_REJECTED=settings.topic_rejected, TELECOM_TOPIC_PARTS=settings.topic_parts,
                TELECOM_TOPIC_ALERTS=settings.topic_alerts,
                TELECOM_CHECKPOINT_DIR=str(settings.checkpoint_dir),
                TELECOM_OUTPUT_DIR=str(settings.output_dir))
