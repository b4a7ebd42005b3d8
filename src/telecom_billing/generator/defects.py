"""Defects: one registered function per kind, with its weight and what mediation must make of it.

A defect spoils one clean line. `@defect` registers a function that returns the spoiled line;
`@field_defect` one that edits the parsed record in place (the registry parses and re-serializes
in the format's spacing). Each function handles both formats.

`DEFECTS` keeps the registration order, and a seeded draw over it picks each defect's kind: a new
kind goes at the end of this file, or every seed's output changes.
"""

from __future__ import annotations

import json
import math
import random
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

from ..contracts import records
from ..contracts.limits import BYTES_PER_MB, FUTURE_TOLERANCE_SECONDS, MAX_DATA_BYTES, MAX_VOICE_SECONDS
from ..contracts.reasons import Reason
from .fields import LEGACY_SUBSCRIBER

# A duplicate is an outcome, not a rejection reason; labels spell it like a reason code, and the
# outcome of a part merged into an assembled CDR beyond its first part (DESIGN.md 7c) too.
DUPLICATE = records.DUPLICATE.upper()
MERGED = records.MERGED.upper()
# When no clean line has been seen yet, a defect that copies one injects this kind instead.
NOTHING_TO_COPY = "malformed_json"
INVALID_NUMBERS = ("invalid_phone", "2126123", "21261234567890123", "+212 6XX-XXX-XXX", "n/a", "UNKNOWN")
FAR_FUTURE_YEAR = "2099"
NEVER = 1 << 62  # a line number no run reaches
# Live clock: ahead by well over the tolerance, so that no processing delay makes the time current.
LIVE_AHEAD_SECONDS = (2 * FUTURE_TOLERANCE_SECONDS, 72 * 3600)
# Required fields of a canonical record (docs/RULES.md section 5), in mediation's check order.
CANONICAL_REQUIRED = {
    "voice": ("cdr_id", "event_time", "msisdn", "direction", "other_party", "duration_sec", "record_type"),
    "sms": ("cdr_id", "event_time", "msisdn", "direction", "other_party", "record_type"),
    "data": ("cdr_id", "event_time", "msisdn", "bytes_up", "bytes_down", "record_type"),
}
# Legacy: only the gaps the seed sample shows. Per type, the field that goes missing and (not for
# an SMS) the usage field that turns null instead, on the toss of a coin.
LEGACY_GAPS = {
    "voice": ("callee_id", "duration_sec"),
    "sms": ("receiver_id",),
    "data": ("session_duration_sec", "data_volume_mb"),
}
USAGE_FIELDS = ("duration_sec", "bytes_up", "bytes_down", "data_volume_mb")


@dataclass(slots=True)
class Spoil:
    """A clean line about to be spoiled, and what a defect may draw on (made per defect: kept light)."""

    line: str
    rnd: random.Random
    legacy: bool
    recent: Sequence[str]  # recent clean lines: what duplicates copy
    unknown: Sequence[str]  # valid numbers of nobody in the base
    tz: ZoneInfo
    now: int | None  # live clock: the batch's second; None on the simulated clock
    as_call: Callable[[], str]  # the line's subscriber and time in a voice call instead

    def subscriber_field(self, record: dict[str, Any]) -> str:
        return LEGACY_SUBSCRIBER[record["record_type"]] if self.legacy else "msisdn"


@dataclass(frozen=True)
class Defect:
    kind: str
    weight: float  # relative frequency among defects
    expect: str | None  # the reason mediation must give, DUPLICATE, or None: accepted and rated
    spoil: Callable[[Spoil], str]
    copies: bool  # copies a recent clean line, so needs one


DEFECTS: dict[str, Defect] = {}
_CUMULATIVE_WEIGHTS: list[float] = []  # in registration order, for the draw


def defect(kind: str, *, weight: float, expect: str | None,
           copies: bool = False) -> Callable[[Callable[[Spoil], str]], Callable[[Spoil], str]]:
    """Registers a function that returns the spoiled line."""

    def register(spoil: Callable[[Spoil], str]) -> Callable[[Spoil], str]:
        if kind in DEFECTS:
            raise ValueError(f"defect kind {kind!r} is registered twice")
        DEFECTS[kind] = Defect(kind, weight, expect, spoil, copies)
        _CUMULATIVE_WEIGHTS.append(weight + (_CUMULATIVE_WEIGHTS[-1] if _CUMULATIVE_WEIGHTS else 0))
        return spoil

    return register


Edit = Callable[[Spoil, dict[str, Any]], None]


def field_defect(kind: str, *, weight: float, expect: str | None, usage: bool = False) -> Callable[[Edit], Edit]:
    """Registers a function that edits the record's fields; with `usage`, it needs a usage field,
    which an SMS lacks, so an SMS line becomes a call first."""

    def register(edit: Edit) -> Edit:
        def spoil(s: Spoil) -> str:
            record = json.loads(s.line)
            if usage and record["record_type"] == "sms":
                record = json.loads(s.as_call())
            edit(s, record)
            return json.dumps(record) if s.legacy else json.dumps(record, separators=(",", ":"))

        defect(kind, weight=weight, expect=expect)(spoil)
        return edit

    return register


def lines_until(rnd: random.Random, rate: float) -> int:
    """Lines before the next one due something that each line is due with probability `rate`
    (geometric); with a rate of 0, more than any run has, without a draw."""
    if rate <= 0:
        return NEVER
    if rate >= 1:
        return 0
    return int(math.log(1.0 - rnd.random()) / math.log(1.0 - rate))


def draw_defect(rnd: random.Random, can_copy: bool) -> Defect:
    """A defect at random by weight, one that can apply."""
    chosen = rnd.choices(list(DEFECTS.values()), cum_weights=_CUMULATIVE_WEIGHTS)[0]
    return chosen if can_copy or not chosen.copies else DEFECTS[NOTHING_TO_COPY]


@defect("exact_resend", weight=12, expect=DUPLICATE, copies=True)
def exact_resend(s: Spoil) -> str:
    """A byte-identical copy of a recent clean line."""
    return s.rnd.choice(s.recent)


@defect("duplicate_id", weight=10, expect=DUPLICATE, copies=True)
def duplicate_id(s: Spoil) -> str:
    """A recent clean line's event sent again: other key order and, canonical, the other time spelling."""
    record = json.loads(s.rnd.choice(s.recent))
    if s.legacy:
        items = list(record.items())
        while list(dict(items)) == list(record):
            s.rnd.shuffle(items)
        return json.dumps(dict(items))
    instant = datetime.fromisoformat(record["event_time"])
    if record["event_time"].endswith("Z"):
        record["event_time"] = instant.astimezone(s.tz).isoformat()
    else:
        record["event_time"] = instant.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    return json.dumps(dict(sorted(record.items())), separators=(",", ":"))


@defect("malformed_json", weight=10, expect=Reason.MALFORMED_JSON)
def malformed_json(s: Spoil) -> str:
    """A truncated line, or the values joined with '|'."""
    if s.rnd.random() < 0.8:
        return s.line[: s.rnd.randrange(1, len(s.line) - 1)]
    return "|".join(str(v) for v in json.loads(s.line).values())


@field_defect("missing_field", weight=12, expect=Reason.MISSING_FIELD)
def missing_field(s: Spoil, record: dict[str, Any]) -> None:
    """A required field absent or null."""
    if s.legacy:
        absent, *nulled = LEGACY_GAPS[record["record_type"]]
        if nulled and s.rnd.random() >= 0.5:
            record[nulled[0]] = None
        else:
            del record[absent]
        return
    name = s.rnd.choice(CANONICAL_REQUIRED[record["record_type"]])
    if s.rnd.random() < 0.6:
        del record[name]
    else:
        record[name] = None


@field_defect("invalid_msisdn", weight=10, expect=Reason.INVALID_MSISDN)
def invalid_msisdn(s: Spoil, record: dict[str, Any]) -> None:
    """The subscriber (canonical: one time in five, the other party) is not a number."""
    if s.legacy:  # the seed data's only spelling
        record[s.subscriber_field(record)] = INVALID_NUMBERS[0]
        return
    name = "other_party" if "other_party" in record and s.rnd.random() < 0.2 else "msisdn"
    record[name] = s.rnd.choice(INVALID_NUMBERS)


@field_defect("non_positive_usage", weight=10, expect=Reason.NON_POSITIVE_USAGE, usage=True)
def non_positive_usage(s: Spoil, record: dict[str, Any]) -> None:
    """Zero or negative duration or volume."""
    rnd = s.rnd
    if record["record_type"] == "voice":
        record["duration_sec"] = -rnd.randrange(0, 600)
    elif s.legacy:
        record["data_volume_mb"] = -round(rnd.uniform(0.0, 500.0), 2)
    else:
        record["bytes_up"] = -rnd.randrange(0, 5000)
        record["bytes_down"] = -rnd.randrange(0, 50000) if rnd.random() < 0.5 else 0


@field_defect("over_long_usage", weight=6, expect=Reason.USAGE_OUT_OF_RANGE, usage=True)
def over_long_usage(s: Spoil, record: dict[str, Any]) -> None:
    """A call or a data record over the limit, by up to about four times."""
    rnd = s.rnd
    if record["record_type"] == "voice":
        record["duration_sec"] = rnd.randrange(MAX_VOICE_SECONDS + 1, 5 * MAX_VOICE_SECONDS)
    elif s.legacy:
        record["data_volume_mb"] = round(rnd.uniform(MAX_DATA_BYTES / BYTES_PER_MB + 0.01, 400_000.0), 2)
    else:
        record["bytes_down"] = rnd.randrange(MAX_DATA_BYTES + 1, 4 * MAX_DATA_BYTES)


@field_defect("future_timestamp", weight=7, expect=Reason.FUTURE_TIMESTAMP)
def future_timestamp(s: Spoil, record: dict[str, Any]) -> None:
    """The event time in FAR_FUTURE_YEAR (simulated clock) or hours ahead of now (live clock)."""
    name = "timestamp" if s.legacy else "event_time"
    if s.now is None:  # far enough ahead to be future whenever the line is processed
        record[name] = (FAR_FUTURE_YEAR + record[name][4:]).replace("-02-29T", "-02-28T")
    else:
        ahead = s.now + s.rnd.randrange(*LIVE_AHEAD_SECONDS)
        record[name] = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(ahead))


@field_defect("unknown_subscriber", weight=10, expect=Reason.UNKNOWN_SUBSCRIBER)
def unknown_subscriber(s: Spoil, record: dict[str, Any]) -> None:
    """A valid number that is nobody's in the base."""
    record[s.subscriber_field(record)] = s.rnd.choice(s.unknown)


@field_defect("numbers_as_strings", weight=13, expect=None, usage=True)
def numbers_as_strings(s: Spoil, record: dict[str, Any]) -> None:
    """Usage numbers written as JSON strings ("140"), which mediation reads as numbers."""
    for name in USAGE_FIELDS:
        if name in record:
            record[name] = str(record[name])
