"""Long calls and data sessions cut into partial records (DESIGN.md 7c), with labelled defects.

The network closes a partial record every `split_after` seconds of a call and every `split_bytes`
of a data session (the canonical data record carries no duration, so data is cut by volume
alone). A long call lasts `split_after` plus an exponential excess of the same mean (at most the
model's longest call), a large data session `split_bytes` plus one (at most MAX_PARTS parts); the
event pool holds the shorter usage (`events`). The parts of a data session share its upload ratio,
and a duration drawn like a legacy session's places their event times.

A session is a run of consecutive output lines, one per part, written over the lines the
generator drew from the line where it is due (continuing into the next batches when the rest of
its batch is shorter), so that about `share` of the lines are parts. It takes that line's
subscriber, with a cell of theirs per part, and lies within the line's local date (activity and
trips are per date): on the simulated clock it starts at the line's time, earlier when it would
run past midnight; on the live clock it ends by now. A session that does not fit there, or whose
lines would go past the output's last (`--count`), is drawn again at the next batch.

Every line of a run is labelled, since no part is rated as itself: the assembled CDR's outcome
(rated: null) on its first part, MERGED on the other parts merged. A run has a defect with the
probability `--defects`, of a kind drawn uniformly from SESSION_DEFECTS in registration order (a
new kind goes at the end, or every seed's output changes).
"""

from __future__ import annotations

import random
import time
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from zoneinfo import ZoneInfo

from ..contracts.limits import MAX_PARTS
from ..contracts.reasons import Reason
from .batches import Label
from .defects import DUPLICATE, MERGED, lines_until
from .events import EventPool, sample
from .options import GeneratorOptions
from .traffic import MO_SHARE, SERVICE_MIX, UTC_SHARE, VOICE_MAX_SEC, Partials

SPLIT_SESSION = "split_session"  # the label of a run without a defect
INTERMEDIATE, LAST = "intermediate", "last"
VOICE_SHARE = SERVICE_MIX["voice"] / (SERVICE_MIX["voice"] + SERVICE_MIX["data"])  # of the sessions
REVERSED = {"MO": "MT", "MT": "MO"}


@dataclass(slots=True)
class Part:
    """What a part's line says but its cdr_id (a defect changes a copy, never the part)."""

    session_id: str
    sequence: int
    partial: str
    service: str
    event_time: str
    place: str  # the subscriber's fields: '"msisdn":..,"cell_id":..,"technology":..[,"visited_country":..]'
    other_party: str | None  # a call's
    direction: str | None  # a call's
    usage: str  # ',"duration_sec":..' or ',"bytes_up":..,"bytes_down":..'

    def line(self, cdr_id: str) -> str:
        """The line, in the key order and spacing of the other canonical lines, then the part's fields."""
        call = f',"other_party":"{self.other_party}","direction":"{self.direction}"' if self.direction else ""
        return (f'{{"cdr_id":"{cdr_id}","record_type":"{self.service}","event_time":"{self.event_time}",'
                f'{self.place}{call}{self.usage},"session_id":"{self.session_id}","sequence":{self.sequence},'
                f'"partial":"{self.partial}"}}')


Run = list[tuple[Part, str | None]]  # the lines of a session in arrival order, each with its expected outcome
MakeRun = Callable[[random.Random, list[Part]], Run]  # the parts in sequence order -> the run

SESSION_DEFECTS: dict[str, MakeRun] = {}


def session_defect(kind: str) -> Callable[[MakeRun], MakeRun]:
    """Registers a function that turns the parts of a session into a run with a defect."""

    def register(make: MakeRun) -> MakeRun:
        if kind in SESSION_DEFECTS:
            raise ValueError(f"session defect kind {kind!r} is registered twice")
        SESSION_DEFECTS[kind] = make
        return make

    return register


def assembled(parts: list[Part]) -> Run:
    """The parts with the outcomes of the CDR assembled from them: the first part (the lowest
    sequence) takes the CDR's, rated; the others are merged."""
    first = min(part.sequence for part in parts)
    return [(part, None if part.sequence == first else MERGED) for part in parts]


@session_defect("repeated_part")
def repeated_part(rnd: random.Random, parts: list[Part]) -> Run:
    """A part sent again with its own cdr_id, later, before or after the session closes: a
    duplicate by its sequence."""
    run = assembled(parts)
    k = rnd.randrange(len(parts))
    run.insert(rnd.randrange(k + 1, len(run) + 1), (parts[k], DUPLICATE))
    return run


@session_defect("parts_out_of_order")
def parts_out_of_order(rnd: random.Random, parts: list[Part]) -> Run:
    """The parts in another order: assembled all the same."""
    run = assembled(parts)
    while [part for part, _ in run] == parts:
        rnd.shuffle(run)
    return run


@session_defect("missing_part")
def missing_part(rnd: random.Random, parts: list[Part]) -> Run:
    """A part never sent: the session closes by timeout, incomplete, and its first part present
    takes the assembled CDR's outcome."""
    gone = rnd.randrange(len(parts))
    return assembled(parts[:gone] + parts[gone + 1:])


@session_defect("part_after_close")
def part_after_close(rnd: random.Random, parts: list[Part]) -> Run:
    """After the last part, an intermediate part with the next sequence: the session has closed."""
    late = replace(parts[-1], sequence=len(parts) + 1, partial=INTERMEDIATE)
    return [*assembled(parts), (late, Reason.LATE_PARTIAL)]


@session_defect("invalid_part")
def invalid_part(rnd: random.Random, parts: list[Part]) -> Run:
    """A spoiled copy of a part, sent after the first part and before the last."""
    run = assembled(parts)
    run.insert(rnd.randrange(1, len(run)), (_spoiled(rnd, rnd.choice(parts), len(parts)), Reason.INVALID_PARTIAL))
    return run


def _spoiled(rnd: random.Random, part: Part, parts: int) -> Part:
    """The part with sequence 0, or partial "middle", or (a call) the direction reversed under a
    sequence the session lacks (under one it has, the copy would be a duplicate)."""
    spoils = [replace(part, sequence=0), replace(part, partial="middle")]
    if part.direction is not None:
        spoils.append(replace(part, sequence=parts + 1, partial=INTERMEDIATE, direction=REVERSED[part.direction]))
    return rnd.choice(spoils)


@dataclass(frozen=True)
class Origin:
    """Where a session due at a line may go: the line's time and subscriber, and the span of its
    local date."""

    time: int  # the line's event time, Unix time
    earliest: int  # the session starts at or after this (the date's start)
    latest: int  # and ends by this (the date's end; on the live clock, now)
    places: Sequence[str]  # the subscriber's slots that date (Part.place)
    key: bytes  # the subscriber's Kafka key


Pending = tuple[str, bytes, Label]  # a line of a run, its key and its label
Usages = list[tuple[int, str]]  # each part's offset in seconds from the session's start, and usage (Part.usage)


class Sessions:
    """The runs of one generator: when the next is due, and the lines of the current one still to write.

    Legacy output has no parts: then no run is ever due, and no random number is drawn."""

    def __init__(self, rnd: random.Random, partials: Partials, events: EventPool, tz: ZoneInfo, tag: str,
                 options: GeneratorOptions) -> None:
        self.rnd = rnd
        self.partials = partials
        self.events = events
        self.tz = tz
        self.tag = tag
        self.count = options.count
        self.defects = options.defects
        self.share = 0.0 if options.legacy else partials.share
        self._due = lines_until(rnd, self.share)
        self._pending: deque[Pending] = deque()

    def place(self, lines: list[str], keys: list[bytes | None] | None, first: int,
              origin: Callable[[int], Origin]) -> tuple[set[int], list[Label]]:
        """Write the parts due in a batch of lines (numbered from `first`) over them and their keys;
        the batch indices written and their labels. `origin` tells where a session due at a batch
        index may go."""
        written: set[int] = set()
        labels: list[Label] = []
        end = first + len(lines)
        n = first
        while n < end:
            if not self._pending:
                n = max(n, self._due)
                if n >= end or not self._start(n, origin(n - first)):
                    break
            line, key, label = self._pending.popleft()
            j = n - first
            lines[j] = line
            if keys is not None:
                keys[j] = key
            written.add(j)
            labels.append(label)
            n += 1
        return written, labels

    def _start(self, n: int, origin: Origin) -> bool:
        """Queue the run of a session starting at line `n`; False when it does not fit (the next
        batch draws another)."""
        session = self._session(f"{self.tag}-S{n:09d}", origin)
        if session is None:
            return False
        kind, run = self._with_defect(session)
        if self.count is not None and n + len(run) > self.count:
            return False
        self._pending.extend((part.line(f"{self.tag}-{n + i:09d}"), origin.key, Label(n + i, kind, expect))
                             for i, (part, expect) in enumerate(run))
        gap_rate = self.share / (self.share + len(run) * (1 - self.share))  # then about `share` of lines are parts
        self._due = n + len(run) + lines_until(self.rnd, gap_rate)
        return True

    def _session(self, session_id: str, origin: Origin) -> list[Part] | None:
        """The parts of a long call or data session in sequence order, None when it does not fit
        the line's date."""
        rnd = self.rnd
        other_party: str | None = None
        direction: str | None = None
        if rnd.random() < VOICE_SHARE:
            service, (seconds, usages) = "voice", self._call()
            other_party, direction = sample(rnd, self.events.parties), "MO" if rnd.random() < MO_SHARE else "MT"
        else:
            service, (seconds, usages) = "data", self._data_session()
        begin = min(origin.time, origin.latest - seconds)
        if begin < origin.earliest:
            return None
        return [Part(session_id, k, LAST if k == len(usages) else INTERMEDIATE, service, self._spell(begin + offset),
                     sample(rnd, origin.places), other_party, direction, usage)
                for k, (offset, usage) in enumerate(usages, 1)]

    def _call(self) -> tuple[int, Usages]:
        """A long call: its duration, and each part's offset and duration."""
        split_after = self.partials.split_after
        seconds = _over(self.rnd, split_after, VOICE_MAX_SEC)
        return seconds, [(start, f',"duration_sec":{length}') for start, length in _cut(seconds, split_after)]

    def _data_session(self) -> tuple[int, Usages]:
        """A large data session: its duration, and each part's offset and bytes (the part's share of
        the session's upload and download bytes; the offset at the session's constant rate)."""
        split_bytes = self.partials.split_bytes
        total = _over(self.rnd, split_bytes, MAX_PARTS * split_bytes)
        ratio = sample(self.rnd, self.events.up_ratios)
        up = max(1, round(total * ratio / (1 + ratio)))
        seconds = sample(self.rnd, self.events.session_seconds)
        usages = []
        for start, length in _cut(total, split_bytes):
            part_up = up * (start + length) // total - up * start // total
            usages.append((seconds * start // total, f',"bytes_up":{part_up},"bytes_down":{length - part_up}'))
        return seconds, usages

    def _with_defect(self, parts: list[Part]) -> tuple[str, Run]:
        """The run's label kind and lines: with the defect rate's probability, a defect's."""
        if self.rnd.random() < self.defects:
            kind = self.rnd.choice(list(SESSION_DEFECTS))
            return kind, SESSION_DEFECTS[kind](self.rnd, parts)
        return SPLIT_SESSION, assembled(parts)

    def _spell(self, instant: int) -> str:
        """An event time, in UTC or with the catalog time zone's offset, as the other lines spell them."""
        if self.rnd.random() < UTC_SHARE:
            return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(instant))
        return datetime.fromtimestamp(instant, self.tz).isoformat()


def _over(rnd: random.Random, threshold: int, most: int) -> int:
    """Usage over `threshold`: by an exponential excess of mean `threshold`, drawn again above `most`."""
    while True:
        usage = threshold + 1 + int(rnd.expovariate(1.0 / threshold))
        if usage <= most:
            return usage


def _cut(total: int, size: int) -> list[tuple[int, int]]:
    """`total` cut every `size`: each piece's start and length (the last one, the rest)."""
    return [(start, min(size, total - start)) for start in range(0, total, size)]
