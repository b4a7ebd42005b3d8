"""Event times: the hours of a simulated period with their share of the lines, and the live hour.

A line's event time is one of its hour's two prefixes (UTC or local) plus a second of the hour, so
an hour is formatted once, not once per line.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

from ..errors import UsageError
from .options import GeneratorOptions
from .traffic import DIURNAL, WEEKLY


@dataclass
class Slot:
    """One UTC hour: event time prefixes in both spellings, and the local calendar facts."""

    prefixes: tuple[str, str]  # ("2026-10-01T12:", "2026-10-01T13:"): UTC, local
    suffixes: tuple[str, str]  # ("Z", "+01:00")
    day: int  # local date ordinal
    weekday: int
    hour: int
    start: int  # the hour's first second, Unix time
    count: int = 0  # simulated clock: the lines of this hour


def hour_slot(utc_hour: datetime, tz: ZoneInfo) -> Slot:
    local = utc_hour.astimezone(tz)
    offset = local.utcoffset() or timedelta(0)
    minutes = int(offset.total_seconds()) // 60
    sign = "+" if minutes >= 0 else "-"
    suffix = f"{sign}{abs(minutes) // 60:02d}:{abs(minutes) % 60:02d}"
    return Slot((utc_hour.strftime("%Y-%m-%dT%H:"), local.strftime("%Y-%m-%dT%H:")), ("Z", suffix),
                local.date().toordinal(), local.weekday(), local.hour, int(utc_hour.timestamp()))


def day_bounds(ordinal: int, tz: ZoneInfo) -> tuple[int, int]:
    """The first second of a local date and of the next, Unix time."""
    return _midnight(date.fromordinal(ordinal), tz), _midnight(date.fromordinal(ordinal + 1), tz)


def _midnight(day: date, tz: ZoneInfo) -> int:
    return int(datetime(day.year, day.month, day.day, tzinfo=tz).timestamp())


def simulated_slots(options: GeneratorOptions, tz: ZoneInfo, anyone_active: Callable[[int], bool]) -> list[Slot]:
    """Every hour of the period, with `options.count` lines spread by the daily and weekly profile
    over the local dates on which `anyone_active`."""
    start = options.start
    assert start is not None
    begin = datetime.fromtimestamp(_midnight(start, tz), UTC)
    end_day = start + timedelta(days=options.period_days)
    end = datetime.fromtimestamp(_midnight(end_day, tz), UTC)
    slots, hour = [], begin
    while hour < end:
        slots.append(hour_slot(hour, tz))
        hour += timedelta(hours=1)
    someone = {day: anyone_active(day) for day in {s.day for s in slots}}
    weights = [DIURNAL[s.hour] * WEEKLY[s.weekday] * someone[s.day] for s in slots]
    total = sum(weights)
    if total == 0:
        raise UsageError(f"no subscriber is active between {start} and {end_day - timedelta(days=1)}")
    count = options.count or 0
    done, cum = 0, 0.0
    for slot, w in zip(slots, weights, strict=True):
        cum += w
        upto = round(count * cum / total)
        slot.count, done = upto - done, upto
    return slots
