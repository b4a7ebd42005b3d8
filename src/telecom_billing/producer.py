"""Raw CDR lines to the `cdr.raw` topic with kafka-python, fast and without losing any.

Every line is sent as-is (malformed ones too), keyed by the subscriber's MSISDN when the line
is a JSON object that names one, so that all records of a subscriber share a partition.

Throughput with kafka-python's pure-Python producer comes from doing less per record:

* the partition is computed here, once per distinct key (Kafka's murmur2, exactly what the
  default partitioner and the Java client compute), and passed to `send`, which then skips
  the partitioner and its per-call metadata sorting;
* no callback per record: the futures of a chunk are checked in bulk once the chunk is done;
* large batches with a short linger, and compression, which also shrinks the bytes that
  kafka-python checksums in pure Python (CRC32C) when the `crc32c` package is absent.
"""

from __future__ import annotations

import signal
import sys
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from kafka import KafkaProducer, codec
from kafka.errors import KafkaError
from kafka.partitioner.default import murmur2

from .contracts.limits import MAX_RECORD_BYTES
from .errors import ServiceUnavailable, TelecomError, UsageError
from .generator import Batch, subscriber_key, write_labels
from .infra.kafka_clients import DEFAULT_BATCH_SIZE, DEFAULT_COMPRESSION, DEFAULT_LINGER_MS, python_client_kwargs
from .infra.settings import Settings
from .infra.topics import TopicSpec, ensure_topics, pipeline_topics

CONNECT_TIMEOUT_S = 15.0
FLUSH_TIMEOUT_S = 60.0
# A poison record megabytes long must reach cdr.raw (and be rejected there), not stop the producer:
# kafka-python refuses records over 1 MiB by default; the broker accepts MAX_RECORD_BYTES.
# Record values and their keys (None: read each key from its line).
Lines = tuple[list[bytes], list[bytes | None] | None]
_CODEC_PACKAGES = {"lz4": "lz4", "zstd": "zstandard", "snappy": "python-snappy (or cramjam)"}


def codecs_available() -> dict[str, bool]:
    """Which compression codecs kafka-python can use with the installed packages."""
    return {"none": True, "gzip": codec.has_gzip(), "snappy": codec.has_snappy(), "lz4": codec.has_lz4(),
            "zstd": codec.has_zstd()}


@dataclass(frozen=True)
class Tuning:
    """Producer knobs that matter for throughput; the defaults are the measured best."""

    compression: str = DEFAULT_COMPRESSION
    batch_size: int = DEFAULT_BATCH_SIZE
    linger_ms: int = DEFAULT_LINGER_MS

    def kwargs(self) -> dict[str, Any]:
        available = codecs_available()
        if self.compression not in available:
            raise UsageError(f"unknown compression {self.compression!r} (choose from {', '.join(available)})")
        if not available[self.compression]:
            raise UsageError(f"{self.compression} compression needs the Python package "
                             f"{_CODEC_PACKAGES.get(self.compression, self.compression)}")
        return {"compression_type": None if self.compression == "none" else self.compression,
                "batch_size": self.batch_size, "linger_ms": self.linger_ms}


@dataclass
class ProduceStats:
    queued: int = 0
    sent: int = 0  # acknowledged by the broker
    failed: int = 0
    seconds: float = 0.0
    first_error: str | None = None
    interrupted: str | None = None  # the signal's name

    @property
    def rate(self) -> float:
        return self.sent / self.seconds if self.seconds > 0 else 0.0

    def summary(self) -> str:
        return f"sent={self.sent} failed={self.failed} rate={self.rate:.0f}/s"


@dataclass
class _Pending:
    """Futures of records not yet known to be acknowledged, in chunks checked in bulk."""

    chunks: deque[list[Any]] = field(default_factory=deque)

    def settle(self, stats: ProduceStats, everything: bool = False) -> None:
        while self.chunks:
            chunk = self.chunks[0]
            if not everything and not all(f.is_done for f in chunk):
                return
            self.chunks.popleft()
            for f in chunk:
                if f.is_done and f.exception is None:
                    stats.sent += 1
                else:
                    stats.failed += 1
                    if stats.first_error is None:
                        stats.first_error = repr(f.exception) if f.is_done else "not acknowledged in time"


class CdrProducer:
    """A tuned, idempotent KafkaProducer for one topic."""

    def __init__(self, settings: Settings, topic: str, tuning: Tuning | None = None,
                 connect_timeout_s: float = CONNECT_TIMEOUT_S, create_topic: bool = True) -> None:
        self.topic = topic
        options = (tuning or Tuning()).kwargs()
        try:
            self.producer = KafkaProducer(
                **python_client_kwargs(settings), acks="all", enable_idempotence=True,
                max_in_flight_requests_per_connection=5, max_request_size=MAX_RECORD_BYTES,
                bootstrap_timeout_ms=int(connect_timeout_s * 1000),
                max_block_ms=int(connect_timeout_s * 1000), delivery_timeout_ms=120_000,
                client_id="telecom-producer", metrics_enabled=False, **options)
        except (KafkaError, OSError) as exc:
            raise ServiceUnavailable(f"no Kafka broker answers at {settings.bootstrap_servers} after "
                                     f"{connect_timeout_s:.0f} s ({type(exc).__name__}); start one with "
                                     "`telecom broker start`") from None
        if create_topic:
            _ensure_topic(settings, topic)
        try:
            partitions = self.producer.partitions_for(topic)
        except KafkaError as exc:
            self.producer.close(timeout=1)
            raise ServiceUnavailable(f"topic {topic}: no metadata after {connect_timeout_s:.0f} s "
                                     f"({type(exc).__name__})") from None
        if not partitions:
            self.producer.close(timeout=1)
            raise TelecomError(f"topic {topic} does not exist and could not be created")
        self.partitions = sorted(partitions)
        self._partition_of: dict[bytes, int] = {}

    def partition(self, key: bytes) -> int:
        """Kafka's default partition of a key (murmur2, as the Java client), cached per key."""
        found = self._partition_of.get(key)
        if found is None:

            found = self.partitions[(murmur2(key) & 0x7FFFFFFF) % len(self.partitions)]
            self._partition_of[key] = found
        return found

    def send_all(self, batches: Iterable[Lines], stats: ProduceStats, should_stop: Callable[[], bool],
                 progress: Callable[[ProduceStats], None] | None = None, every_s: float = 5.0) -> None:
        """Send every line of every batch; settle acknowledgements in bulk as they arrive."""
        send, topic, partition_of = self.producer.send, self.topic, self._partition_of
        pending = _Pending()
        started = last = time.monotonic()
        for batch, keys in batches:
            futures = []
            for value, key in zip(batch, keys or map(subscriber_key, batch), strict=True):
                if key is None:
                    futures.append(send(topic, value=value))
                else:
                    part = partition_of.get(key)
                    futures.append(send(topic, value=value, key=key,
                                        partition=self.partition(key) if part is None else part))
            stats.queued += len(batch)
            pending.chunks.append(futures)
            pending.settle(stats)
            now = time.monotonic()
            if progress is not None and now - last >= every_s:
                last, stats.seconds = now, now - started
                progress(stats)
            if should_stop():
                break
        try:
            self.producer.flush(timeout=FLUSH_TIMEOUT_S)
        except Exception as exc:  # a timeout: the unacknowledged records count as failed below
            stats.first_error = stats.first_error or f"flush: {type(exc).__name__}"
        pending.settle(stats, everything=True)
        stats.seconds = time.monotonic() - started

    def close(self) -> None:
        self.producer.close(timeout=10)


def _ensure_topic(settings: Settings, topic: str) -> None:
    """Create the topic when missing: a pipeline topic with its own settings, another with defaults."""
    specs = [s for s in pipeline_topics(settings) if s.name == topic] or [TopicSpec(topic, settings.partitions, {})]
    ensure_topics(settings, specs)


def encoded(batches: Iterable[Batch], labels: IO[str] | None = None) -> Iterator[Lines]:
    """Keyed generator batches as bytes (writing their labels on the way)."""
    for lines, batch_labels, keys in batches:
        if labels is not None and batch_labels:
            write_labels(labels, batch_labels)
        yield [line.encode() for line in lines], keys


def file_batches(path: str, size: int = 2000) -> Iterator[Lines]:
    """The lines of a file (`-`: stdin) exactly as stored, without their newline, in batches."""
    handle = sys.stdin.buffer if path == "-" else _open(path)
    try:
        batch: list[bytes] = []
        for line in handle:
            batch.append(line[:-1] if line.endswith(b"\n") else line)
            if len(batch) >= size:
                yield batch, None
                batch = []
        if batch:
            yield batch, None
    finally:
        if handle is not sys.stdin.buffer:
            handle.close()


def _open(path: str) -> IO[bytes]:
    try:
        return Path(path).open("rb")
    except OSError as exc:
        raise UsageError(f"{path}: cannot read ({exc.strerror})") from None


def limited(batches: Iterable[Lines], duration_s: float | None) -> Iterator[Lines]:
    """Stop taking batches once `duration_s` has passed."""
    deadline = None if duration_s is None else time.monotonic() + duration_s
    for batch in batches:
        yield batch
        if deadline is not None and time.monotonic() >= deadline:
            return


@contextmanager
def stop_on_signals(stats: ProduceStats) -> Iterator[Callable[[], bool]]:
    """SIGINT and SIGTERM ask the send loop to stop (then it flushes and reports)."""
    if threading.current_thread() is not threading.main_thread():
        yield lambda: False
        return
    previous = {sig: signal.getsignal(sig) for sig in (signal.SIGINT, signal.SIGTERM)}

    def ask_to_stop(signum: int, frame: Any) -> None:
        stats.interrupted = signal.Signals(signum).name

    for sig in previous:
        signal.signal(sig, ask_to_stop)
    try:
        yield lambda: stats.interrupted is not None
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def produce(settings: Settings, topic: str, batches: Iterable[Lines], tuning: Tuning | None = None,
            progress: Callable[[ProduceStats], None] | None = None) -> ProduceStats:
    """Send all lines to `topic`, stopping early on SIGINT / SIGTERM; always flushes."""
    producer = CdrProducer(settings, topic, tuning)
    stats = ProduceStats()
    try:
        with stop_on_signals(stats) as should_stop:
            producer.send_all(batches, stats, should_stop, progress)
    finally:
        producer.close()
    return stats


__all__ = ["CdrProducer", "ProduceStats", "Tuning", "codecs_available", "encoded", "file_batches", "limited",
           "produce", "subscriber_key"]


def send_with_headers(settings: Settings, topic: str,
                      records: Iterable[tuple[bytes | None, bytes, list[tuple[str, bytes]]]]) -> int:
    """Send `(key, value, headers)` records to `topic` and wait for every acknowledgement; returns the
    count sent. Any failure is one error line (what was acknowledged stays sent)."""
    producer = CdrProducer(settings, topic, create_topic=False)
    try:
        futures = [producer.producer.send(topic, value=value, key=key, headers=headers,
                                          partition=None if key is None else producer.partition(key))
                   for key, value, headers in records]
        producer.producer.flush(timeout=FLUSH_TIMEOUT_S)
        for future in futures:
            future.get(timeout=FLUSH_TIMEOUT_S)
    except KafkaError as exc:
        raise TelecomError(f"sending to {topic} failed: {type(exc).__name__}: {exc}") from None
    finally:
        producer.close()
    return len(futures)
