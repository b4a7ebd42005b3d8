"""`CdrGenerator`: raw CDR lines, canonical or legacy (DESIGN.md section 3), with labelled defects.

A line is one f-string of pieces picked from tables drawn once per run: the event time from its
hour's two prefixes (`clock`) and a second of the hour; the subscriber part (number, cell,
technology) from the day's table (`population`); the service, other party and usage from the
event pool (`events`). The random indices come in bulk from `Random.randbytes` and become pieces
through `map` at C speed, so the per-line cost is one string format. Runs of lines are then
replaced by the parts of long calls and data sessions (`sessions`, canonical only), and a few
other lines by defects (`defects`).
"""

from __future__ import annotations

import hashlib
import random
import time
from array import array
from collections import deque
from collections.abc import Iterator, Sequence
from datetime import UTC, date, datetime, timedelta
from functools import partial
from itertools import repeat
from operator import and_, attrgetter, mod
from typing import Any
from zoneinfo import ZoneInfo

from ..errors import UsageError
from ..refdata.catalog import Catalog
from ..refdata.subscribers import Subscriber
from .batches import Batch, Label
from .clock import Slot, day_bounds, hour_slot, simulated_slots
from .defects import Spoil, draw_defect, lines_until
from .events import EVENTS, draw_events
from .fields import subscriber_key
from .options import GeneratorOptions
from .population import Days, DayTable, draw_population, unknown_numbers
from .sessions import Origin, Sessions
from .traffic import UTC_SHARE, Traffic, default_traffic

_MMSS = [f"{m:02d}:{s:02d}" for m in range(60) for s in range(60)]
_WORD = array("I").itemsize
_UTC_FLAGS = bytes(0 if b < round(UTC_SHARE * 256) else 1 for b in range(256))  # a random byte -> spelling
RECENT_LINES = 256  # clean lines kept for exact re-sends and duplicate ids to copy
LIVE_DAYS = 3  # live clock: the dates a run may cover, from yesterday


class CdrGenerator:
    """Raw CDR lines with labelled defects, deterministic for a seed on the simulated clock.

    `traffic` is the catalog's traffic model (`load_traffic`); without it, the catalog's defaults.
    """

    def __init__(self, catalog: Catalog, subscribers: Sequence[Subscriber], options: GeneratorOptions,
                 clock: Any = time, traffic: Traffic | None = None) -> None:
        if not subscribers:
            raise UsageError("the subscriber base is empty")
        self.catalog = catalog
        self.subscribers = list(subscribers)
        self.options = options
        self.clock = clock
        self.traffic = default_traffic(catalog) if traffic is None else traffic
        self.legacy = options.legacy
        self.tz = ZoneInfo(catalog.timezone)
        self.rnd = random.Random(f"cdrs/{options.seed}/{options.fmt}")
        self.tag = self._run_tag()
        # The draw order below is part of every seed's output.
        self.people = draw_population(self.rnd, self.subscribers, self.traffic, self.legacy, *self._covered_dates())
        self.events = draw_events(self.rnd, catalog, self.traffic, self.people.msisdn, self.legacy)
        self.unknown = unknown_numbers(self.rnd, self.traffic, catalog.home_country_code, self.people.msisdn)
        self.days = Days(self.people, self.rnd, self.legacy)
        self.emitted = 0
        self._next_defect = lines_until(self.rnd, self.options.defects)
        self.sessions = Sessions(self.rnd, self.traffic.partials, self.events, self.tz, self.tag, options)
        self._recent: deque[str] = deque(maxlen=RECENT_LINES)
        # Clean legacy lines of the current hour (simulated) or second (live), kept distinct.
        self._twin_scope: tuple[str, int | None] | None = None
        self._twin_seen: set[str] = set()

    def _run_tag(self) -> str:
        """The cdr_id prefix: differs between runs of other flags (simulated) or start times (live)."""
        o = self.options
        if o.live:
            basis = f"live/{o.seed}/{o.fmt}/{self.clock.time_ns()}"
        else:
            basis = f"sim/{o.seed}/{o.fmt}/{o.start}/{o.period_days}/{o.count}/{o.defects}/{len(self.subscribers)}"
        return hashlib.sha256(basis.encode()).hexdigest()[:8]

    def _covered_dates(self) -> tuple[int, int]:
        """The first and last local date ordinals the run may cover."""
        o = self.options
        if o.start is not None:
            return o.start.toordinal(), o.start.toordinal() + o.period_days
        first = (datetime.fromtimestamp(self.clock.time(), self.tz).date() - timedelta(days=1)).toordinal()
        return first, first + LIVE_DAYS

    def _anyone_active(self, ordinal: int) -> bool:
        return len(self.days.inactive(ordinal)) < len(self.people.msisdn)

    # ---- batches of lines

    def batches(self, keyed: bool = False) -> Iterator[Batch]:
        """Lines (without newline) and the labels of their defects, a batch at a time; with
        `keyed`, also each line's Kafka key (what `subscriber_key` reads from it)."""
        o = self.options
        if o.live:
            yield from self._live_batches(keyed)
            return
        started = self.clock.monotonic()
        for slot in simulated_slots(o, self.tz, self._anyone_active):
            if slot.count:
                seconds = sorted(map(mod, array("I", self.rnd.randbytes(_WORD * slot.count)), repeat(3600)))
                batch = self._batch(slot, seconds, keyed)
                if o.rate is None:
                    yield batch
                else:
                    yield from self._paced(batch, started)

    def _paced(self, batch: Batch, started: float) -> Iterator[Batch]:
        rate = self.options.rate
        assert rate is not None
        step = max(1, int(rate / 20))
        first = self.emitted - len(batch.lines)
        for i in range(0, len(batch.lines), step):
            due = started + (first + i) / rate
            wait = due - self.clock.monotonic()
            if wait > 0:
                self.clock.sleep(wait)
            lo = first + i
            yield Batch(batch.lines[i:i + step], [lb for lb in batch.labels if lo <= lb.line < lo + step],
                        None if batch.keys is None else batch.keys[i:i + step])

    def _live_batches(self, keyed: bool) -> Iterator[Batch]:
        rate = self.options.rate
        assert rate is not None
        count = self.options.count
        started = self.clock.monotonic()
        slot: Slot | None = None
        while count is None or self.emitted < count:
            due = int((self.clock.monotonic() - started) * rate) + 1
            if count is not None:
                due = min(due, count)
            k = due - self.emitted
            if k <= 0:
                self.clock.sleep(min(0.05, 1.0 / rate))
                continue
            now = int(self.clock.time())
            hour = datetime.fromtimestamp(now - now % 3600, UTC)
            if slot is None or slot.prefixes[0] != hour.strftime("%Y-%m-%dT%H:"):
                slot = hour_slot(hour, self.tz)
            yield self._batch(slot, [now % 3600] * k, keyed, now=now)

    def _batch(self, slot: Slot, seconds: list[int], keyed: bool, now: int | None = None) -> Batch:
        day = self.days.table(slot.day)
        if day is None:
            raise UsageError(f"no subscriber is active on {date.fromordinal(slot.day)}")
        k, e, rnd = len(seconds), self.events, self.rnd
        who = list(map(mod, array("I", rnd.randbytes(_WORD * k)), repeat(len(day.parts))))
        what = list(map(and_, array("H", rnd.randbytes(2 * k)), repeat(EVENTS - 1)))
        mmss = list(map(_MMSS.__getitem__, seconds))
        parts = map(day.parts.__getitem__, who)
        heads, mids = map(e.heads.__getitem__, what), map(e.mids.__getitem__, what)
        if self.legacy:
            stamp = slot.prefixes[0]
            lines = [f'{{"record_type": "{head}", "timestamp": "{stamp}{ms}Z", "{key}": "{part}"{mid}{tail}'
                     for head, ms, key, part, mid, tail in zip(heads, mmss, map(e.id_fields.__getitem__, what), parts,
                                                               mids, map(day.tails.__getitem__, who), strict=True)]
            self._separate_legacy_twins(lines, slot, mmss, who, day, now)
        else:
            tag, spelling = self.tag, rnd.randbytes(k).translate(_UTC_FLAGS)
            lines = [f'{{"cdr_id":"{tag}-{n:09d}",{head}"event_time":"{pre}{ms}{suf}",{part}{mid}}}'
                     for n, head, pre, ms, suf, part, mid in zip(
                         range(self.emitted, self.emitted + k), heads, map(slot.prefixes.__getitem__, spelling),
                         mmss, map(slot.suffixes.__getitem__, spelling), parts, mids, strict=True)]
        owners = map(day.owners.__getitem__, who)
        keys: list[bytes | None] | None = list(map(self.people.keys.__getitem__, owners)) if keyed else None
        first = self.emitted
        self.emitted += k
        part_lines, part_labels = self.sessions.place(lines, keys, first,
                                                      partial(self._origin, slot, seconds, who, day, now))
        labels = self._inject(lines, keys, slot, mmss, who, day, first, now, part_lines)
        if part_labels:
            labels = sorted(labels + part_labels, key=attrgetter("line"))
        return Batch(lines, labels, keys)

    def _origin(self, slot: Slot, seconds: list[int], who: list[int], day: DayTable, now: int | None,
                j: int) -> Origin:
        """Where a session due at line `j` of a batch may go (`sessions`)."""
        owner = day.owners[who[j]]
        a, b = self.people.ranges[owner]
        earliest, midnight = day_bounds(slot.day, self.tz)
        return Origin(time=slot.start + seconds[j], earliest=earliest, latest=midnight if now is None else now,
                      places=day.parts[a:b], key=self.people.keys[owner])

    def _line(self, n: int, slot: Slot, mmss: str, part: int, what: int, day: DayTable, utc: bool) -> str:
        """One line the slow way (the same text as `_batch` builds), for the rare line built twice."""
        e = self.events
        head, mid, subscriber = e.heads[what], e.mids[what], day.parts[part]
        if self.legacy:
            return (f'{{"record_type": "{head}", "timestamp": "{slot.prefixes[0]}{mmss}Z", '
                    f'"{e.id_fields[what]}": "{subscriber}"{mid}{day.tails[part]}')
        i = 0 if utc else 1
        return (f'{{"cdr_id":"{self.tag}-{n:09d}",{head}"event_time":"{slot.prefixes[i]}{mmss}{slot.suffixes[i]}",'
                f'{subscriber}{mid}}}')

    def _as_call(self, n: int, slot: Slot, mmss: str, part: int, day: DayTable) -> str:
        """Line `n` as a voice call: for a usage defect that lands on an SMS."""
        what = self.rnd.choice(self.events.voice)
        return self._line(n, slot, mmss, part, what, day, self.rnd.random() < UTC_SHARE)

    def _separate_legacy_twins(self, lines: list[str], slot: Slot, mmss: list[str], who: list[int], day: DayTable,
                               now: int | None) -> None:
        """Legacy ids derive from content: two identical clean lines would collapse as duplicates."""
        scope = (slot.prefixes[0], now)
        if scope != self._twin_scope:
            self._twin_scope, self._twin_seen = scope, set()
        seen = self._twin_seen
        fresh = set(lines)
        if len(fresh) == len(lines) and fresh.isdisjoint(seen):
            seen |= fresh
            return
        for j, line in enumerate(lines):
            while line in seen:
                line = self._line(0, slot, mmss[j], who[j], int(self.rnd.random() * EVENTS), day, True)
            lines[j] = line
            seen.add(line)

    # ---- defects

    def _inject(self, lines: list[str], keys: list[bytes | None] | None, slot: Slot, mmss: list[str],
                who: list[int], day: DayTable, first: int, now: int | None, part_lines: set[int]) -> list[Label]:
        """Replace the batch's lines that are due a defect (a defect due on a part goes to the next
        line: the batch indices `part_lines`); remember the clean whole lines."""
        end = first + len(lines)
        labels: list[Label] = []
        previous = 0
        while self._next_defect < end:
            n = self._next_defect
            j = n - first
            if j in part_lines:
                self._next_defect += 1
                continue
            self._remember(lines, previous, j, part_lines)
            previous = j + 1
            chosen = draw_defect(self.rnd, can_copy=bool(self._recent))
            as_call = partial(self._as_call, n, slot, mmss[j], who[j], day)
            lines[j] = chosen.spoil(Spoil(lines[j], self.rnd, self.legacy, self._recent, self.unknown, self.tz, now,
                                          as_call))
            if keys is not None:
                keys[j] = subscriber_key(lines[j].encode())
            labels.append(Label(n, chosen.kind, chosen.expect))
            self._next_defect = n + 1 + lines_until(self.rnd, self.options.defects)
        self._remember(lines, previous, len(lines), part_lines)
        return labels

    def _remember(self, lines: list[str], lo: int, hi: int, part_lines: set[int]) -> None:
        """Keep the clean whole lines of lines[lo:hi] (the last RECENT_LINES) for duplicates to copy:
        a copy of a part could be rejected rather than a duplicate (an invalid part)."""
        lo = max(lo, hi - RECENT_LINES)
        if any(lo <= i < hi for i in part_lines):
            self._recent.extend(lines[i] for i in range(lo, hi) if i not in part_lines)
        else:
            self._recent.extend(lines[lo:hi])
