"""Stage `assemble_sessions`: the parts of a long call or data session, held until the session
closes, then one assembled CDR (DESIGN.md 7c, RULES.md section 18).

One `StatefulProcessor` run by Spark's `transformWithState`, keyed by `(msisdn, session_id)`, for
both drivers: the stream (`stream.py`: state kept across micro-batches, sessions closed by their
timeout against the watermark) and the file driver (`pipeline.rate_batch`: one batch, every session
still open at the end closed as incomplete). Only parts reach it: whole records never wait for a
session nor touch its state.

Why `transformWithState`, and in processing-time mode: a session needs a list of held parts, a
remembered closed session (for LATE_PARTIAL and duplicates after closing) and timers, which is what
it is made for (`applyInPandasWithState` has one state object per key and no list). Its event-time
mode drops every input row older than the watermark, silently: a part arriving out of event-time
order would be lost. In processing-time mode no row is dropped, the watermark of `event_ts` is still
readable, and a timer re-checks an open session's deadline against it.

Each part leaves as exactly one row, its `part_outcome`: `assembled` (the first part, carrying the
assembled CDR), `merged`, `duplicate`, `rejected` (`invalid_partial` / `late_partial` set, words in
`partial_detail`) or, in the stream, nothing yet (held).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from pyspark.sql import DataFrame, Row
from pyspark.sql import types as T
from pyspark.sql.streaming import StatefulProcessor, StatefulProcessorHandle

from ..contracts.reasons import Reason
from ..contracts.records import DUPLICATE, MERGED, PYTHON_TIME_FORMAT, REJECTED
from ..infra.settings import interval_us
from .columns import problem
from .partials import LAST

# A part's `part_outcome`: the outcomes of contracts.records, or `assembled`: the first part of an
# assembled CDR, which it carries (its outcome is the CDR's: rated or rejected).
ASSEMBLED = "assembled"
SESSION_KEY = ("msisdn", "session_id")
# The fields the parts of a session share (besides the key), in the order RULES.md checks them.
SHARED_FIELDS = ("record_type", "other_party", "direction", "visited_country")
USAGE_FIELDS = ("duration_sec", "bytes_up", "bytes_down", "quantity")
_CLOSED = T.StructType([T.StructField("cdr_id", T.StringType()), T.StructField("complete", T.BooleanType()),
                        T.StructField("seen", T.ArrayType(T.LongType())), T.StructField("latest_us", T.LongType())])
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


# How often the stream re-checks a session's deadlines against the watermark (processing time).
CHECK_EVERY_MS = 10_000
# How long a closed session is remembered: the deduplication window (RULES.md sections 11 and 18).
REMEMBER = "24 hours"


@dataclass(frozen=True)
class SessionRules:
    """How long a session waits (µs of event time) and how long a closed one is remembered."""

    timeout_us: int
    remember_us: int
    # The stream's. The file driver has no clock: it closes every session at the end of its batch.
    streaming: bool
    # A drain-and-exit run (`--once`) checks a session that received parts at the next batch (a timer
    # due at the batch's own time would fire in it, before the watermark moves): the batch without
    # data that ends the run, with the watermark the data moved, closes what timed out.
    check_at_once: bool = False

    @property
    def first_check_ms(self) -> int:
        return 1 if self.check_at_once else CHECK_EVERY_MS


def stream_rules(partial_timeout: str, drain: bool) -> SessionRules:
    """The stream's rules, from the `partial_timeout` setting."""
    return SessionRules(timeout_us=interval_us(partial_timeout), remember_us=interval_us(REMEMBER), streaming=True,
                        check_at_once=drain)


FILE_RULES = SessionRules(timeout_us=0, remember_us=0, streaming=False)


def output_schema(parts: T.StructType) -> T.StructType:
    return T.StructType([*parts.fields, T.StructField("part_outcome", T.StringType())])


def assemble_sessions(parts: DataFrame, rules: SessionRules) -> DataFrame:
    """Parts (`pipeline.MEDIATED_COLUMNS` of records that passed their own checks and deduplication
    by `cdr_id`) -> one row per part with its `part_outcome`."""
    schema = output_schema(parts.schema)
    parts.sparkSession.streams  # noqa: B018 -- starts the state store coordinator, which a batch query needs too
    return parts.groupBy(*SESSION_KEY).transformWithState(
        SessionAssembler(parts.schema, rules), schema, "Append", "ProcessingTime")


class SessionAssembler(StatefulProcessor):
    """One session's state in Spark (`held` parts, the `closed` session it remembers) around `Session`,
    which judges; a timer re-checks the deadlines while the stream holds either."""

    def __init__(self, parts: T.StructType, rules: SessionRules) -> None:
        self.parts_schema = parts
        self.names = [f.name for f in parts.fields]
        self.rules = rules

    def init(self, handle: StatefulProcessorHandle) -> None:
        self.handle = handle
        self.held = handle.getListState("held", self.parts_schema)
        self.closed = handle.getValueState("closed", _CLOSED)

    def handleInputRows(self, key: Any, rows: Iterator[Row], timerValues: Any) -> Iterator[Row]:
        clock = _Clock(timerValues, self.rules)
        session = self._load()
        out = session.expire(clock)
        for row in sorted(rows, key=_arrival):
            out += session.receive(row.asDict(), clock)
        if not self.rules.streaming:
            out += session.close_open(clock)
        self._save(session, clock.now_ms + self.rules.first_check_ms)
        return iter([self._row(r) for r in out])

    def handleExpiredTimer(self, key: Any, timerValues: Any, expiredTimerInfo: Any) -> Iterator[Row]:
        clock = _Clock(timerValues, self.rules)
        session = self._load()
        out = session.expire(clock)
        self._save(session, clock.now_ms + CHECK_EVERY_MS)
        return iter([self._row(r) for r in out])

    def close(self) -> None:
        pass

    def _load(self) -> Session:
        held = [dict(zip(self.names, values, strict=True)) for values in self.held.get()] if self.held.exists() else []
        closed = self.closed.get() if self.closed.exists() else None
        return Session(held, Closed(*closed) if closed else None, self.rules)

    def _save(self, session: Session, next_check_ms: int) -> None:
        self.held.clear()
        if session.held:
            self.held.put([tuple(part[n] for n in self.names) for part in session.held])
        if session.closed is None:
            self.closed.clear()
        else:
            c = session.closed
            self.closed.update((c.cdr_id, c.complete, sorted(c.seen), c.latest_us))
        for timer in self.handle.listTimers():
            self.handle.deleteTimer(timer)
        if self.rules.streaming and (session.held or session.closed):
            self.handle.registerTimer(next_check_ms)

    def _row(self, part: dict[str, Any]) -> Row:
        return Row(*self.names, "part_outcome")(*[part[n] for n in self.names], part["part_outcome"])


def _arrival(row: Row) -> tuple[Any, ...]:
    return (row["timestamp"] is None, row["timestamp"], row["partition"], row["offset"])


class _Clock:
    """The watermark (µs of event time; None in the file driver) and the processing time."""

    def __init__(self, timer_values: Any, rules: SessionRules) -> None:
        self.now_ms = int(timer_values.getCurrentProcessingTimeInMs())
        watermark = int(timer_values.getCurrentWatermarkInMs())
        self.watermark_us = watermark * 1000 if rules.streaming and watermark > 0 else None
        self.stamp = None if not rules.streaming else \
            datetime.fromtimestamp(self.now_ms / 1000, UTC).strftime(PYTHON_TIME_FORMAT)

    def reached(self, instant_us: int) -> bool:
        return self.watermark_us is not None and self.watermark_us >= instant_us


@dataclass
class Closed:
    cdr_id: str
    complete: bool
    seen: list[int]
    latest_us: int


class Session:
    """One session's parts and their judgement: pure Python over dicts of the part's columns."""

    def __init__(self, held: list[dict[str, Any]], closed: Closed | None, rules: SessionRules) -> None:
        self.held = held
        self.closed = closed
        self.rules = rules

    def receive(self, part: dict[str, Any], clock: _Clock) -> list[dict[str, Any]]:
        if self.closed is not None:
            if part["sequence"] in self.closed.seen:
                return [_decided(part, DUPLICATE, clock)]
            state = "complete" if self.closed.complete else "incomplete"
            return [_rejected(part, Reason.LATE_PARTIAL, f"session closed as {self.closed.cdr_id} ({state})", clock)]
        if any(h["sequence"] == part["sequence"] for h in self.held):
            return [_decided(part, DUPLICATE, clock)]
        self.held.append(part)
        judged = _Judgement(self.held)
        return self._close(judged, clock, complete=True) if judged.complete else []

    def expire(self, clock: _Clock) -> list[dict[str, Any]]:
        """Close the session by its timeout, and forget a closed one, when the watermark says so."""
        if self.closed is not None and clock.reached(self.closed.latest_us + self.rules.remember_us):
            self.closed = None
        if self.held and clock.reached(_latest_us(self.held) + self.rules.timeout_us):
            return self._close(_Judgement(self.held), clock, complete=False)
        return []

    def close_open(self, clock: _Clock) -> list[dict[str, Any]]:
        """The end of a file: close the session as it stands."""
        return self._close(_Judgement(self.held), clock, complete=False) if self.held else []

    def _close(self, judged: _Judgement, clock: _Clock, complete: bool) -> list[dict[str, Any]]:
        first = judged.first
        cdr_id = first["session_id"]
        out = [_assembled(first, judged, clock, complete)]
        out += [_decided(p, MERGED, clock) for p in judged.valid if p is not first]
        out += [_rejected(p, Reason.INVALID_PARTIAL, words, clock) for p, words in judged.invalid]
        self.closed = Closed(cdr_id, complete, [p["sequence"] for p in self.held], _latest_us(self.held))
        self.held = []
        return out


class _Judgement:
    """The held parts judged against their session, in arrival order (RULES.md section 18)."""

    def __init__(self, held: list[dict[str, Any]]) -> None:
        lasts = [p for p in held if p["partial"] == LAST]
        self.last = lasts[0] if lasts else None
        invalid: list[tuple[dict[str, Any], str]] = []
        for part in held:
            if self.last is not None and part["partial"] == LAST and part is not self.last:
                invalid.append((part, f"a second last part: sequence {self.last['sequence']} already ended the session"))
            elif self.last is not None and part["sequence"] > self.last["sequence"]:
                invalid.append((part, f"sequence {part['sequence']} above the last part's {self.last['sequence']}"))
        rest = [p for p in held if all(p is not bad for bad, _ in invalid)]
        self.first = min(rest, key=lambda p: p["sequence"])
        for part in rest:
            differs = next((f for f in SHARED_FIELDS if part[f] != self.first[f]), None)
            if differs is not None:
                invalid.append((part, f"{differs} differs from part {self.first['sequence']}"))
        self.invalid = invalid
        self.valid = [p for p in rest if all(p is not bad for bad, _ in invalid)]
        sequences = {p["sequence"] for p in self.valid}
        self.complete = (self.last is not None and any(p is self.last for p in self.valid)
                         and sequences >= set(range(1, self.last["sequence"] + 1)))


def _assembled(first: dict[str, Any], judged: _Judgement, clock: _Clock, complete: bool) -> dict[str, Any]:
    valid = judged.valid
    highest = max(p["sequence"] for p in valid)
    sequences = {p["sequence"] for p in valid}
    others = sorted((p for p in valid if p is not first), key=lambda p: p["sequence"])
    return {
        **_decided(first, ASSEMBLED, clock),
        "cdr_id": first["session_id"],
        **{field: _sum(p[field] for p in valid) for field in USAGE_FIELDS},
        "partials": len(valid),
        "incomplete": not complete,
        "missing": [s for s in range(1, highest + 1) if s not in sequences],
        "last_missing": not any(p is judged.last for p in valid),
        "merged": ",".join(f"{p['partition']}:{p['offset']}" for p in others),
    }


def _sum(values: Iterator[int | None]) -> int | None:
    present = [v for v in values if v is not None]
    return sum(present) if present else None


def _latest_us(parts: list[dict[str, Any]]) -> int:
    return max(_instant_us(p["event_time"]) for p in parts)


def _instant_us(text: str) -> int:
    return (datetime.strptime(text, PYTHON_TIME_FORMAT).replace(tzinfo=UTC) - _EPOCH) // timedelta(microseconds=1)


def _decided(part: dict[str, Any], outcome: str, clock: _Clock) -> dict[str, Any]:
    stamped = {**part, "part_outcome": outcome}
    if clock.stamp is not None:
        stamped["processed_at"] = clock.stamp
    return stamped


def _rejected(part: dict[str, Any], reason: Reason, words: str, clock: _Clock) -> dict[str, Any]:
    return {**_decided(part, REJECTED, clock), problem(reason): True, "partial_detail": words}
