"""Read a pipeline topic and render each record on one line, whatever its payload.

`read_records` decides where to start and when to stop (like `tail`: the last records of the
topic, or everything from the beginning, optionally following new ones); `render` turns a
record of `cdr.raw`, `cdr.rated`, `cdr.rejected` or `subscriber.alerts` (the usage monitor's
alerts, DESIGN.md 7d) into one readable line, or a JSON line for piping. Rendering never raises: a
payload that is not UTF-8, not JSON or not the expected shape is shown as escaped text.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Generator, Iterator
from dataclasses import dataclass
from typing import Any

from kafka import KafkaConsumer, TopicPartition
from kafka.errors import KafkaError

from .errors import ServiceUnavailable, TelecomError
from .infra.kafka_clients import python_client_kwargs
from .infra.settings import Settings

RAW_WIDTH = 100  # characters of a raw payload shown on a rejected or unreadable record
MISSING_WIDTH = 40  # characters of the missing parts shown on an incomplete assembled CDR
SUBSCRIBER_FIELDS = ("msisdn", "caller_id", "sender_id", "user_id")
CONNECT_TIMEOUT_S = 15.0


@dataclass(frozen=True)
class Record:
    topic: str
    partition: int
    offset: int
    timestamp_ms: int
    key: bytes | None
    value: bytes | None


def _text(data: bytes | None) -> str:
    if data is None:
        return "(null)"
    return data.decode("utf-8", errors="backslashreplace")


def _one_line(text: str, width: int | None = None) -> str:
    flat = text.replace("\r", "\\r").replace("\n", "\\n")
    if width is not None and len(flat) > width:
        return flat[: width - 1] + "…"
    return flat


def _parsed(value: bytes | None) -> Any:
    if value is None:
        return None
    try:
        return json.loads(value)
    except (ValueError, RecursionError):
        return None


def _quantity(record: dict[str, Any]) -> str:
    quantity = record.get("quantity")
    if not isinstance(quantity, int) or isinstance(quantity, bool):
        return str(quantity)
    service = record.get("record_type")
    if service == "voice":
        return f"{quantity} s"
    if service == "sms":
        return f"{quantity} sms"
    if service == "data":
        size, unit = float(quantity), "B"
        for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
            if size < 1024 or unit == "TiB":
                break
            size /= 1024
        return f"{quantity} B" if unit == "B" else f"{size:.1f} {unit}"
    return str(quantity)


def _field(record: dict[str, Any], name: str) -> str:
    value = record.get(name)
    return "-" if value is None else _one_line(str(value))


def _parts(r: dict[str, Any]) -> str:
    """` [3 parts]`, or ` [2 parts, incomplete: missing 2, last]`, on a rated CDR assembled from
    partial records (DESIGN.md 7c); empty on a whole one (`partials` null)."""
    if r.get("partials") is None:
        return ""
    parts = f"{_field(r, 'partials')} part{'' if r['partials'] == 1 else 's'}"
    if not r.get("incomplete"):
        return f" [{parts}]"
    absent = [str(sequence) for sequence in r.get("missing") or []] + (["last"] if r.get("last_missing") else [])
    gaps = f": missing {_one_line(', '.join(absent), MISSING_WIDTH)}" if absent else ""
    return f" [{parts}, incomplete{gaps}]"


def _rated_line(r: dict[str, Any]) -> str:
    roaming = f" roaming {_field(r, 'visited_country')}" if r.get("roaming") else ""
    return (f"{_field(r, 'event_time'):<27} {_field(r, 'msisdn'):<13} {_field(r, 'record_type'):<5} "
            f"{_field(r, 'zone'):<15} {_field(r, 'band'):<8} {_quantity(r):>12}{_parts(r)} "
            f"{_field(r, 'charge'):>10} {_field(r, 'currency')}{roaming}")


def _rejected_line(r: dict[str, Any]) -> str:
    raw = r.get("raw")
    if raw is None and r.get("raw_base64") is not None:
        shown = f"base64:{r.get('raw_base64')}"
    else:
        shown = raw if isinstance(raw, str) else json.dumps(raw)
    return (f"{_field(r, 'reason'):<20} {_field(r, 'msisdn'):<13} {_one_line(_field(r, 'detail'), 60):<40} "
            f"raw={_one_line(shown, RAW_WIDTH)}")


def _alert_line(r: dict[str, Any]) -> str:
    """`<event_time> <msisdn> 2026-10   80% allowance voice_national: 14400 of 18000 seconds (by cdr-1)`:
    the crossing CDR's time, the subscriber, the period, the threshold reached, of what, and by which
    CDR. A cap's name is its kind (BILLING.md section 12): shown once."""
    kind, name = _field(r, "kind"), _field(r, "name")
    what = kind if name == kind else f"{kind} {name}"
    return (f"{_field(r, 'event_time'):<27} {_field(r, 'msisdn'):<13} {_field(r, 'period'):<7} "
            f"{_field(r, 'percent'):>4}% {what}: {_field(r, 'used')} of {_field(r, 'limit')} {_field(r, 'unit')} "
            f"(by {_field(r, 'triggered_by')})")


def _raw_line(record: Record, parsed: Any) -> str:
    where = f"p{record.partition}@{record.offset}"
    key = _text(record.key) if record.key is not None else "-"
    if isinstance(parsed, dict):
        when = parsed.get("event_time", parsed.get("timestamp"))
        kind = parsed.get("record_type")
        return (f"{where:<10} {_one_line(str(when)):<25} {key:<13} {_one_line(str(kind)):<5} "
                f"{_one_line(_text(record.value), RAW_WIDTH)}")
    return f"{where:<10} {'(not a JSON object)':<25} {key:<13} {'-':<5} {_one_line(_text(record.value), RAW_WIDTH)}"


def render(record: Record, kind: str, as_json: bool = False) -> str:
    """One line for a record of a topic of `kind` (raw, rated, rejected or alerts); never raises."""
    try:
        parsed = _parsed(record.value)
        if as_json:
            if parsed is not None or record.value == b"null":
                return json.dumps(parsed, ensure_ascii=False, separators=(",", ":"))
            return json.dumps(_text(record.value), ensure_ascii=False)
        if kind == "rated" and isinstance(parsed, dict):
            return _rated_line(parsed)
        if kind == "rejected" and isinstance(parsed, dict):
            return _rejected_line(parsed)
        if kind == "alerts" and isinstance(parsed, dict):
            return _alert_line(parsed)
        return _raw_line(record, parsed)
    except Exception:  # a payload of an unforeseen shape: show it rather than stop tailing
        return f"p{record.partition}@{record.offset} {_one_line(repr(record.value), RAW_WIDTH)}"


def subscriber_of(record: Record) -> str | None:
    """The subscriber a record is about: its key, else a subscriber field of its JSON value."""
    if record.key:
        return _text(record.key)
    parsed = _parsed(record.value)
    if isinstance(parsed, dict):
        for name in SUBSCRIBER_FIELDS:
            if parsed.get(name) is not None:
                return str(parsed[name])
    return None


def read_records(settings: Settings, topic: str, *, from_beginning: bool, follow: bool, last: int,
                 limit: int | None, matches: Callable[[Record], bool] = lambda r: True,
                 poll_ms: int = 500) -> Generator[Record, None, None]:
    """Records of `topic` that `matches`, at most `limit`.

    Start: the earliest offsets with `from_beginning`, else the last `last` records of each
    partition (and only the newest `last` of those are yielded). Stop: at the end offsets seen
    on start, or never with `follow`.
    """
    try:
        consumer = KafkaConsumer(**python_client_kwargs(settings), group_id=None, enable_auto_commit=False,
                                 allow_auto_create_topics=False,
                                 bootstrap_timeout_ms=int(CONNECT_TIMEOUT_S * 1000), client_id="telecom-tail")
    except (KafkaError, OSError) as exc:
        raise ServiceUnavailable(f"no Kafka broker answers at {settings.bootstrap_servers} after "
                                 f"{CONNECT_TIMEOUT_S:.0f} s ({type(exc).__name__})") from None
    try:
        partitions = _partitions(consumer, topic)
        tps = [TopicPartition(topic, p) for p in partitions]
        consumer.assign(tps)
        begin, end = consumer.beginning_offsets(tps), consumer.end_offsets(tps)
        for tp in tps:
            consumer.seek(tp, begin[tp] if from_beginning else max(begin[tp], end[tp] - last))
        shown = 0
        if not from_beginning:  # the newest `last` records overall, in time order
            backlog = sorted((r for r in _drain(consumer, tps, end, poll_ms) if matches(r)),
                             key=lambda r: (r.timestamp_ms, r.partition, r.offset))[-last:]
            for record in backlog[:limit]:
                yield record
                shown += 1
            if not follow:
                return
            for tp in tps:  # records that arrived while draining come again below
                consumer.seek(tp, end[tp])
        else:
            for record in _drain(consumer, tps, None if follow else end, poll_ms):
                if limit is not None and shown >= limit:
                    return
                if matches(record):
                    yield record
                    shown += 1
            return
        while limit is None or shown < limit:
            for record in _poll(consumer, poll_ms):
                if limit is not None and shown >= limit:
                    return
                if matches(record):
                    yield record
                    shown += 1
    finally:
        consumer.close(autocommit=False)


def _partitions(consumer: Any, topic: str) -> list[int]:
    if topic not in consumer.topics():  # one fresh metadata request for every topic
        raise TelecomError(f"topic {topic} does not exist (create the topics with `telecom topics`)")
    deadline = time.monotonic() + CONNECT_TIMEOUT_S
    while not (partitions := consumer.partitions_for_topic(topic)) and time.monotonic() < deadline:
        time.sleep(0.2)
    if not partitions:
        raise ServiceUnavailable(f"topic {topic}: no partition metadata after {CONNECT_TIMEOUT_S:.0f} s")
    return sorted(partitions)


def _poll(consumer: Any, poll_ms: int) -> Iterator[Record]:
    for tp, messages in consumer.poll(timeout_ms=poll_ms).items():
        for m in messages:
            yield Record(tp.topic, tp.partition, m.offset, m.timestamp, m.key, m.value)


def _drain(consumer: Any, tps: list[Any], end: dict[Any, int] | None, poll_ms: int) -> Iterator[Record]:
    """Poll until every partition has reached `end` (forever when None)."""
    while True:
        if end is not None and all(consumer.position(tp) >= end[tp] for tp in tps):
            return
        for record in _poll(consumer, poll_ms):
            tp_end = None if end is None else end.get(_tp(record))
            if tp_end is None or record.offset < tp_end:
                yield record


def _tp(record: Record) -> Any:
    return TopicPartition(record.topic, record.partition)


__all__ = ["Record", "read_records", "render", "subscriber_of"]
