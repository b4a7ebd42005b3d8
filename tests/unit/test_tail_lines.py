"""`telecom tail`'s lines (`tail.render`), no broker: a rated CDR assembled from partial records says
so after its usage (DESIGN.md 7c), a whole one's line is as it always was, and a rejected part shows
its reason and detail. tests/integration/test_tail.py runs the command on a real broker."""

from __future__ import annotations

import json
from typing import Any

import pytest

from telecom_billing.tail import Record, render

WHOLE = {"schema_version": "1.1", "cdr_id": "c-1", "record_type": "voice", "event_time": "2026-10-05T09:15:00.000000Z",
         "msisdn": "212612345678", "zone": "national_mobile", "band": "peak", "quantity": 95, "charge": "1.4250",
         "currency": "MAD", "roaming": False, "rated_at": "2026-11-27T10:00:00.000000Z", "partials": None,
         "incomplete": None, "missing": None, "last_missing": None}
WHOLE_LINE = ("2026-10-05T09:15:00.000000Z 212612345678  voice national_mobile peak             95 s     1.4250 MAD")


def record(value: dict[str, Any], topic: str = "cdr.rated") -> Record:
    return Record(topic, 0, 7, 0, b"212612345678", json.dumps(value).encode())


def assembled(partials: int, missing: list[int], last_missing: bool = False, incomplete: bool = True) -> Record:
    return record({**WHOLE, "cdr_id": "s-1", "quantity": 5400, "partials": partials, "incomplete": incomplete,
                   "missing": missing, "last_missing": last_missing})


def test_whole_cdr_line_is_unchanged() -> None:
    assert render(record(WHOLE), "rated") == WHOLE_LINE
    older = {k: v for k, v in WHOLE.items() if k not in ("partials", "incomplete", "missing", "last_missing")}
    assert render(record(older), "rated") == WHOLE_LINE  # a rated CDR of schema 1.0


@pytest.mark.parametrize(("cdr", "parts"), [
    (assembled(3, [], incomplete=False), "[3 parts]"),
    (assembled(2, [2]), "[2 parts, incomplete: missing 2]"),
    (assembled(1, [1], last_missing=True), "[1 part, incomplete: missing 1, last]"),
    (assembled(2, [], last_missing=True), "[2 parts, incomplete: missing last]"),
    (assembled(2, list(range(3, 40))), "[2 parts, incomplete: missing 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14…]"),
])
def test_assembled_cdr_shows_its_parts_after_the_usage(cdr: Record, parts: str) -> None:
    line = render(cdr, "rated")
    assert line == WHOLE_LINE.replace("          95 s", f"        5400 s {parts}")


def test_rejected_part_shows_its_reason_and_detail() -> None:
    rejection = {"schema_version": "1.1", "reason": "LATE_PARTIAL", "detail": "session closed as s-1 (incomplete)",
                 "raw": '{"session_id":"s-1","sequence":2}', "raw_base64": None, "msisdn": "212612345678",
                 "cdr_id": "p-2", "source": {"topic": "cdr.raw", "partition": 0, "offset": 9},
                 "rejected_at": "2026-11-27T10:00:00.000000Z"}
    line = render(record(rejection, "cdr.rejected"), "rejected")
    assert line.startswith("LATE_PARTIAL         212612345678  session closed as s-1 (incomplete)")
    assert line.endswith('raw={"session_id":"s-1","sequence":2}')
