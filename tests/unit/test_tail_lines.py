"""`telecom tail`'s lines (`tail.render`), no broker: a rated CDR assembled from partial records says
so after its usage (DESIGN.md 7c), a whole one's line is as it always was, a rejected part shows
its reason and detail, and a usage alert (DESIGN.md 7d) what was reached, by whom and by which CDR.
tests/integration/test_tail.py runs the command on a real broker."""

from __future__ import annotations

import json
from typing import Any

import pytest

from telecom_billing.commands.tail import resolve
from telecom_billing.infra.settings import Settings
from telecom_billing.tail import Record, render, subscriber_of

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


ALERT = {"schema_version": "1.0", "alert_id": "ALR-40B176D792F22764F9FD", "msisdn": "212612345678", "period": "2026-10",
         "kind": "allowance", "name": "minutes", "percent": 80, "used": "480", "limit": "600", "unit": "seconds",
         "triggered_by": "c-1", "event_time": "2026-10-05T09:15:00.000000Z", "emitted_at": "2026-11-27T10:00:00.000000Z"}


@pytest.mark.parametrize(("alert", "line"), [
    (ALERT, "2026-10-05T09:15:00.000000Z 212612345678  2026-10   80% allowance minutes: 480 of 600 seconds (by c-1)"),
    ({**ALERT, "kind": "spending_cap", "name": "spending_cap", "percent": 150, "used": "6.16", "limit": "4.00",
      "unit": "MAD", "triggered_by": "c-2"},
     "2026-10-05T09:15:00.000000Z 212612345678  2026-10  150% spending_cap: 6.16 of 4.00 MAD (by c-2)"),
    ({**ALERT, "kind": "roaming_data_cap", "name": "roaming_data_cap", "percent": 1000, "used": "5000.00",
      "limit": "500.00", "unit": "MAD"},
     "2026-10-05T09:15:00.000000Z 212612345678  2026-10 1000% roaming_data_cap: 5000.00 of 500.00 MAD (by c-1)"),
])
def test_alert_line_says_what_was_reached_by_whom_and_by_which_cdr(alert: dict[str, Any], line: str) -> None:
    assert render(record(alert, "subscriber.alerts"), "alerts") == line


@pytest.mark.parametrize(("value", "line"), [
    (b"\xff\xfe garbage\nmore", "p0@7       (not a JSON object)       212612345678  -     \\xff\\xfe garbage\\nmore"),
    (b"[1, 2]", "p0@7       (not a JSON object)       212612345678  -     [1, 2]"),
    (b"{}", "-                           -             -          -% -: - of - - (by -)"),
    (json.dumps({"kind": {"nested": [1]}, "name": "a\nb", "percent": None, "used": 1.5}).encode(),
     "-                           -             -          -% {'nested': [1]} a\\nb: 1.5 of - - (by -)"),
])
def test_malformed_alert_payload_is_shown_escaped_on_one_line(value: bytes, line: str) -> None:
    assert render(Record("subscriber.alerts", 0, 7, 0, b"212612345678", value), "alerts") == line


def test_alert_as_json_and_its_subscriber() -> None:
    alert = Record("subscriber.alerts", 0, 7, 0, None, json.dumps(ALERT).encode())
    assert json.loads(render(alert, "alerts", as_json=True)) == ALERT
    assert subscriber_of(alert) == "212612345678"  # --msisdn, when a record has no key


@pytest.mark.parametrize(("settings", "name", "resolved"), [
    (Settings(), "alerts", ("subscriber.alerts", "alerts")),
    (Settings(), "subscriber.alerts", ("subscriber.alerts", "alerts")),
    (Settings(topic_alerts="alerts.test"), "alerts", ("alerts.test", "alerts")),  # TELECOM_TOPIC_ALERTS
    (Settings(topic_alerts="monitor.out"), "monitor.out", ("monitor.out", "alerts")),
    (Settings(), "alerts.a1b2c3", ("alerts.a1b2c3", "alerts")),  # not configured: by its name
    (Settings(), "rated", ("cdr.rated", "rated")),
    (Settings(), "cdr.rejected", ("cdr.rejected", "rejected")),
    (Settings(), "cdr.rated.test", ("cdr.rated.test", "rated")),
    (Settings(), "raw", ("cdr.raw", "raw")),
    (Settings(), "other", ("other", "raw")),
])
def test_topic_alias_or_name_resolves_to_its_topic_and_kind(settings: Settings, name: str,
                                                            resolved: tuple[str, str]) -> None:
    assert resolve(settings, name) == resolved
