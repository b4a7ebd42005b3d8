"""`decide` follows `PRECEDENCE`; `identify` and deduplication know how far a record got."""

from __future__ import annotations

from typing import Any

import pytest
from pyspark.testing import assertDataFrameEqual

from telecom_billing.contracts.reasons import PRECEDENCE, Reason
from telecom_billing.mediation.columns import problem
from telecom_billing.mediation.dedup import dedup_key, mark_duplicates
from telecom_billing.outcome import decide

CHECKS = [problem(r) for r in PRECEDENCE]


def _checks(frame: Any, rows: list[tuple[bool, ...]], extra: str = "", values: list[tuple[Any, ...]] | None = None) -> Any:
    schema = ", ".join(f"{c} boolean" for c in CHECKS) + extra
    return frame(schema, [row + (values[i] if values else ()) for i, row in enumerate(rows)])


def _failing(*reasons: Reason) -> tuple[bool, ...]:
    return tuple(r in reasons for r in PRECEDENCE)


def test_decide_takes_the_first_failing_check_in_precedence_order(frame: Any) -> None:
    rows = [_failing(), _failing(Reason.NO_RATE, Reason.MISSING_FIELD), _failing(Reason.UNKNOWN_SUBSCRIBER),
            *[_failing(r, *PRECEDENCE[i + 1:]) for i, r in enumerate(PRECEDENCE)]]
    out = decide(_checks(frame, rows)).select("reason")
    assertDataFrameEqual(out, [(None,), ("MISSING_FIELD",), ("UNKNOWN_SUBSCRIBER",), *[(r.value,) for r in PRECEDENCE]],
                         checkRowOrder=True)


def test_decide_refuses_a_missing_check(frame: Any) -> None:
    df = _checks(frame, [_failing()]).drop(problem(Reason.NO_RATE))
    with pytest.raises(ValueError, match="no_rate"):
        decide(df)


def test_duplicates_only_among_records_that_reached_deduplication(frame: Any) -> None:
    """A rejected first copy does not make a later valid copy a duplicate (RULES.md section 11)."""
    passed_all = PRECEDENCE.index(Reason.NO_RATE)  # every mediation check passed (identify's count)
    failed_msisdn = PRECEDENCE.index(Reason.INVALID_MSISDN)
    df = frame("checks_passed int, cdr_id string, partition int, offset bigint, timestamp timestamp, "
               "recycle_run string", [
        (failed_msisdn, "a", 0, 1, None, None), (passed_all, "a", 0, 2, None, None),
        (passed_all, "a", 0, 3, None, None), (passed_all, "b", 1, 1, None, None), (passed_all, "b", 1, 2, None, None)])
    out = mark_duplicates(df).select("offset", "cdr_id", "duplicate", dedup_key().alias("key"))
    assertDataFrameEqual(out, [(1, "a", False, "raw:0:1"), (2, "a", False, "id:a"), (3, "a", True, "id:a"),
                               (1, "b", False, "id:b"), (2, "b", True, "id:b")], checkRowOrder=False)


def test_a_recycled_copy_is_a_duplicate_of_its_own_runs_copies_only(frame: Any) -> None:
    """The stream's key for copies sent by `telecom recycle` (RULES.md section 11, BILLING.md 11):
    distinct from the recycled record's, shared by one run's copies of an id."""
    passed_all = PRECEDENCE.index(Reason.NO_RATE)
    df = frame("checks_passed int, cdr_id string, partition int, offset bigint, recycle_run string", [
        (passed_all, "a", 0, 1, None), (passed_all, "a", 0, 7, "run1"), (passed_all, "a", 0, 8, "run1"),
        (passed_all, "a", 0, 9, "run2"), (0, "a", 0, 10, "run3")])
    out = df.select("offset", dedup_key().alias("key"))
    assertDataFrameEqual(out, [(1, "id:a"), (7, "id:a#recycle:run1"), (8, "id:a#recycle:run1"),
                               (9, "id:a#recycle:run2"), (10, "raw:0:10")], checkRowOrder=False)


def test_precedence_covers_every_reason() -> None:
    assert set(PRECEDENCE) == set(Reason) and len(PRECEDENCE) == len(Reason)
