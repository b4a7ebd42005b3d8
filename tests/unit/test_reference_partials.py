"""Hand-written cases for the reference's partial records (DESIGN.md 7c, docs/RULES.md section 18).

The shipped catalog (data/catalog) and subscribers (data/subscribers.csv); the expected values are
worked out by hand from the rules, as in test_reference_rating.py.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from reference.rating import Result, SessionCounts, mediate_and_rate, session_counts
from telecom_billing.contracts.records import DUPLICATE, MERGED, RATED, RATED_NAMES, REJECTED
from telecom_billing.refdata.catalog import Catalog
from telecom_billing.refdata.subscribers import Subscriber

NOW = datetime(2026, 12, 15, tzinfo=UTC)
START = datetime(2026, 11, 2, 9, tzinfo=UTC)  # Monday 10:00 local (+01:00): peak
PAYG = "212645084592"  # PAYG, active since 2020-01-01
OTHER_PAYG = "212669761007"  # PAYG, active since 2016-03-20
LEAVING = "212600155591"  # SMART_99, terminated 2026-09-01
GONE = "212600000099"  # added here, on a plan the catalog does not have
NATIONAL = "212611111111"
EUROPE = "33612345678"
ASSEMBLY_KEYS = ("partials", "incomplete", "missing", "last_missing")
DROP = object()

Run = Callable[..., Result]


def part(n: int, partial: str = "intermediate", **changes: Any) -> dict[str, Any]:
    """Part `n` of the voice call `call-1`: ten minutes each, back to back from START."""
    record = {
        "cdr_id": f"call-1/{n}",
        "record_type": "voice",
        "event_time": utc(START + timedelta(minutes=10 * (n - 1))),
        "msisdn": PAYG,
        "other_party": NATIONAL,
        "direction": "MO",
        "duration_sec": 600,
        "session_id": "call-1",
        "sequence": n,
        "partial": partial,
    }
    return apply(record, changes)


def whole(**changes: Any) -> dict[str, Any]:
    return apply(part(1, cdr_id="whole-1", session_id=DROP, sequence=DROP, partial=DROP), changes)


def data_part(n: int, partial: str = "intermediate", **changes: Any) -> dict[str, Any]:
    record = part(n, partial, record_type="data", other_party=DROP, direction=DROP, duration_sec=DROP)
    return apply(record | {"bytes_up": 1000, "bytes_down": 500}, changes)


def legacy_voice(**changes: Any) -> dict[str, Any]:
    record = {"record_type": "voice", "timestamp": utc(START), "caller_id": PAYG, "callee_id": NATIONAL,
              "duration_sec": 61}
    return apply(record, changes)


def apply(record: dict[str, Any], changes: dict[str, Any]) -> dict[str, Any]:
    record = record | changes
    return {key: value for key, value in record.items() if value is not DROP}


def utc(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def encode(record: dict[str, Any]) -> bytes:
    return json.dumps(record).encode("utf-8")


@pytest.fixture(scope="module")
def run(catalog: Catalog, subscribers: list[Subscriber]) -> Run:
    """Mediate and rate records as one file; every record has exactly one outcome."""
    everyone = [*subscribers, Subscriber(GONE, "Gone", "Rabat", "GONE", date(2020, 1, 1))]

    def run(*records: dict[str, Any]) -> Result:
        result = mediate_and_rate([encode(r) for r in records], catalog, everyone, NOW)
        assert len(result.rated) + len(result.rejected) + result.duplicates + result.merged == len(records)
        assert list(result.outcomes()) == list(range(len(records)))
        return result

    return run


def outcomes(result: Result) -> list[str]:
    return list(result.outcomes().values())


def assembly(cdr: dict[str, Any]) -> tuple[Any, ...]:
    return tuple(cdr[key] for key in ASSEMBLY_KEYS)


def only_rejection(result: Result) -> tuple[str, str]:
    (rejection,) = result.rejected
    return rejection["reason"], rejection["detail"]


# -- complete sessions -----------------------------------------------------------------------------


def test_complete_session_in_order(run: Run) -> None:
    result = run(part(1), part(2), part(3, "last"))
    (cdr,) = result.rated
    assert (cdr["cdr_id"], cdr["event_time"], cdr["duration_sec"], cdr["quantity"]) == (
        "call-1", "2026-11-02T09:00:00.000000Z", 1800, 1800)
    assert (cdr["band"], cdr["billable_units"], cdr["charge"]) == ("peak", 1800, "45.0000")  # 1.50 / min
    assert assembly(cdr) == (3, False, [], False)
    assert outcomes(result) == [RATED, MERGED, MERGED]
    assert (result.rated_offsets, result.merged_offsets) == ([0], [1, 2])
    (assembled,) = result.assembled
    assert (assembled.cdr_id, assembled.offset, assembled.merged_offsets) == ("call-1", 0, (1, 2))
    assert session_counts(result) == SessionCounts(complete=1, incomplete=0)


def test_complete_session_out_of_order_takes_its_first_parts_place(run: Run) -> None:
    in_order = run(part(1), part(2), part(3, "last")).rated[0]
    result = run(part(3, "last"), whole(cdr_id="w-1"), part(1), whole(cdr_id="w-2"), part(2))
    assert [cdr["cdr_id"] for cdr in result.rated] == ["w-1", "call-1", "w-2"]
    assert result.rated_offsets == [1, 2, 3]
    assert outcomes(result) == [MERGED, RATED, RATED, RATED, MERGED]
    assert result.rated[1] == in_order


def test_whole_records_carry_null_assembly_fields(run: Run) -> None:
    result = run(whole(), whole(cdr_id="w-2", duration_sec=0))
    assert [list(cdr) for cdr in result.rated] == [[name for name in RATED_NAMES if name != "rated_at"]]
    assert assembly(result.rated[0]) == (None, None, None, None)
    assert (result.rated[0]["schema_version"], result.rejected[0]["schema_version"]) == ("1.1", "1.1")
    assert (result.assembled, session_counts(result)) == ([], SessionCounts(0, 0))


def test_sessions_are_keyed_by_msisdn_and_session_id(run: Run) -> None:
    result = run(part(1), part(1, msisdn=OTHER_PAYG, cdr_id="o-1"), part(2, "last", msisdn=OTHER_PAYG, cdr_id="o-2"),
                 part(2, "last"))
    assert [(cdr["cdr_id"], cdr["msisdn"], cdr["partials"]) for cdr in result.rated] == [
        ("call-1", PAYG, 2), ("call-1", OTHER_PAYG, 2)]
    assert session_counts(result) == SessionCounts(complete=2, incomplete=0)


# -- duplicates ------------------------------------------------------------------------------------


def test_same_sequence_with_another_cdr_id_is_a_duplicate(run: Run) -> None:
    result = run(part(1), part(1, cdr_id="again", duration_sec=5), part(2, "last"))
    assert outcomes(result) == [RATED, DUPLICATE, MERGED]
    assert result.rated[0]["duration_sec"] == 1200  # the first copy is the one merged


def test_same_cdr_id_is_a_duplicate_before_the_session_sees_it(run: Run) -> None:
    result = run(
        part(1),
        part(1),  # an exact copy
        part(2, "last", cdr_id="call-1/1"),  # part 1's cdr_id: a duplicate, so sequence 2 is not seen
        part(2, "last"),  # hence not a duplicate: it completes the session
        part(2, "last", cdr_id="late-copy"),  # sequence 2 seen: a duplicate, not LATE_PARTIAL
    )
    assert outcomes(result) == [RATED, DUPLICATE, DUPLICATE, MERGED, DUPLICATE]
    assert assembly(result.rated[0]) == (2, False, [], False)


def test_cdr_id_of_a_whole_record_makes_a_part_a_duplicate(run: Run) -> None:
    result = run(whole(cdr_id="call-1/1"), part(1), part(1, cdr_id="new-id"), part(2, "last"))
    assert outcomes(result) == [RATED, DUPLICATE, RATED, MERGED]
    assert result.assembled[0].offset == 2


# -- incomplete sessions (closed at the end of the input) ------------------------------------------


def test_missing_part_closes_incomplete(run: Run) -> None:
    result = run(part(1), part(3, "last"))
    (cdr,) = result.rated
    assert (cdr["cdr_id"], cdr["duration_sec"]) == ("call-1", 1200)
    assert assembly(cdr) == (2, True, [2], False)
    assert outcomes(result) == [RATED, MERGED]
    assert session_counts(result) == SessionCounts(complete=0, incomplete=1)


def test_no_last_part_closes_incomplete_with_last_missing(run: Run) -> None:
    assert assembly(run(part(1), part(2)).rated[0]) == (2, True, [], True)


def test_without_part_1_the_lowest_sequence_is_the_first_part(run: Run) -> None:
    result = run(part(4), part(2))
    (cdr,) = result.rated
    assert cdr["event_time"] == "2026-11-02T09:10:00.000000Z"  # part 2's
    assert assembly(cdr) == (2, True, [1, 3], True)
    assert outcomes(result) == [MERGED, RATED]


# -- after closing ---------------------------------------------------------------------------------


def test_part_after_completion_is_late(run: Run) -> None:
    records = [part(1), part(2, "last"), part(3), part(3, cdr_id="late-again"), part(1, cdr_id="one-again")]
    result = run(*records)
    assert outcomes(result) == [RATED, MERGED, REJECTED, DUPLICATE, DUPLICATE]
    assert result.rejected == [{
        "schema_version": "1.1",
        "reason": "LATE_PARTIAL",
        "detail": "session closed as call-1 (complete)",
        "raw": encode(records[2]).decode(),
        "raw_base64": None,
        "msisdn": PAYG,
        "cdr_id": "call-1/3",
        "source": {"topic": None, "partition": None, "offset": 2},
    }]


def test_a_part_above_the_last_after_completion_is_late(run: Run) -> None:
    result = run(part(1), part(2, "last"), part(7, "last"))
    assert only_rejection(result) == ("LATE_PARTIAL", "session closed as call-1 (complete)")


# -- band, day and period of the first part --------------------------------------------------------


def test_band_of_part_1_applies_across_a_band_boundary(run: Run) -> None:
    # 19:50 local (peak) then 20:00 local (evening), Monday.
    result = run(part(1, event_time="2026-11-02T18:50:00Z"), part(2, "last", event_time="2026-11-02T19:00:00Z"))
    (cdr,) = result.rated
    assert (cdr["band"], cdr["price"], cdr["billable_units"], cdr["charge"]) == ("peak", "1.50", 1200, "30.0000")
    alone = run(part(2, "last", event_time="2026-11-02T19:00:00Z")).rated[0]
    assert (alone["band"], alone["price"]) == ("evening", "1.00")


def test_session_across_midnight_at_a_month_end_belongs_to_part_1s_day(run: Run) -> None:
    # Wednesday 2026-09-30 23:50 local (evening), then Thursday 2026-10-01 00:00 local (offpeak).
    result = run(part(1, event_time="2026-09-30T22:50:00Z"), part(2, "last", event_time="2026-09-30T23:00:00Z"))
    (cdr,) = result.rated
    assert (cdr["event_time"], cdr["band"], cdr["duration_sec"]) == ("2026-09-30T22:50:00.000000Z", "evening", 1200)


def test_each_part_is_mediated_on_its_own_day(run: Run) -> None:
    # Active until 2026-09-01 (exclusive): part 2 starts on that day, local time, and has no subscriber.
    result = run(part(1, msisdn=LEAVING, event_time="2026-08-31T22:50:00Z"),
                 part(2, "last", msisdn=LEAVING, event_time="2026-08-31T23:00:00Z"))
    assert only_rejection(result) == ("UNKNOWN_SUBSCRIBER", "no subscriber 212600155591 active on 2026-09-01")
    (cdr,) = result.rated
    assert (cdr["plan_id"], cdr["event_time"], cdr["band"], cdr["charge"]) == (
        "SMART_99", "2026-08-31T22:50:00.000000Z", "evening", "6.0000")  # 600 s at 0.60 / min
    assert assembly(cdr) == (1, True, [], True)


# -- a part's own checks ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("changes", "detail"),
    [
        ({"sequence": DROP, "partial": DROP}, "sequence: absent"),
        ({"session_id": DROP, "partial": DROP}, "session_id: absent"),
        ({"session_id": DROP, "sequence": DROP}, "session_id: absent"),
        ({"partial": DROP}, "partial: absent"),
        ({"session_id": None}, "session_id: absent"),  # null is absent
        ({"session_id": "", "sequence": DROP}, "sequence: absent"),  # presence of all three first
        ({"session_id": ""}, "session_id: not a non-empty string"),
        ({"session_id": "s" * 129}, "session_id: longer than 128 characters"),
        ({"session_id": "", "sequence": 0, "partial": "first"}, "session_id: not a non-empty string"),
        ({"sequence": "two"}, "sequence: not an integer"),
        ({"sequence": 1.5}, "sequence: not an integer"),
        ({"sequence": True}, "sequence: not an integer"),
        ({"sequence": 0}, "sequence: below 1"),
        ({"sequence": "-3"}, "sequence: below 1"),
        ({"sequence": 1001}, "sequence: above 1000"),
        ({"sequence": "1e400"}, "sequence: above 1000"),
        ({"sequence": 0, "partial": "first"}, "sequence: below 1"),
        ({"partial": "LAST"}, "partial: not intermediate or last"),
        ({"partial": ""}, "partial: not intermediate or last"),
    ],
)
def test_invalid_part_fields(run: Run, changes: dict[str, Any], detail: str) -> None:
    result = run(part(1, **changes))
    assert only_rejection(result) == ("INVALID_PARTIAL", detail)
    assert (result.rejected[0]["msisdn"], result.rejected[0]["cdr_id"]) == (PAYG, "call-1/1")


def test_part_field_edge_values_are_valid(run: Run) -> None:
    long_id = "é" * 128  # characters, not bytes
    result = run(part(1, session_id=long_id, sequence="1"), part(2, "last", session_id=long_id, sequence=2.0),
                 part(1, session_id=7, cdr_id="n-1", partial="last"), part(1000, "last", session_id="x"))
    assert [(cdr["cdr_id"], cdr["partials"]) for cdr in result.rated] == [(long_id, 2), ("7", 1), ("x", 1)]
    assert assembly(result.rated[2]) == (1, True, list(range(1, 1000)), False)


@pytest.mark.parametrize(
    ("record", "code"),
    [
        (part(1, sequence=0, msisdn="212699999999"), "UNKNOWN_SUBSCRIBER"),
        (part(1, sequence=0, duration_sec=0), "NON_POSITIVE_USAGE"),
        (part(1, sequence=0, duration_sec=86401), "USAGE_OUT_OF_RANGE"),
        (part(1, session_id="", event_time="2030-01-01T00:00:00Z"), "FUTURE_TIMESTAMP"),
    ],
)
def test_every_other_mediation_check_runs_first(run: Run, record: dict[str, Any], code: str) -> None:
    assert only_rejection(run(record))[0] == code


def test_own_checks_run_before_cdr_id_deduplication(run: Run) -> None:
    # A copy failing its own checks is rejected, not a duplicate; a rejected part is never seen.
    assert outcomes(run(part(1, "last"), part(1, "last", sequence=0))) == [RATED, REJECTED]
    assert outcomes(run(part(1, "last", sequence=0), whole(cdr_id="call-1/1"))) == [REJECTED, RATED]


def test_legacy_records_with_the_fields_stay_whole(run: Run) -> None:
    result = run(legacy_voice(session_id="call-1", sequence=0, partial="first"),
                 legacy_voice(duration_sec=62, session_id="call-1", sequence=1, partial="last"))
    assert [(cdr["source_format"], cdr["duration_sec"]) for cdr in result.rated] == [("legacy", 61), ("legacy", 62)]
    assert [assembly(cdr) for cdr in result.rated] == [(None, None, None, None)] * 2
    assert result.assembled == []


# -- a part against its session --------------------------------------------------------------------


def test_a_second_last_part(run: Run) -> None:
    result = run(part(1), part(3, "last"), part(2, "last"))
    assert only_rejection(result) == ("INVALID_PARTIAL", "a second last part: sequence 3 already ended the session")
    assert outcomes(result) == [RATED, MERGED, REJECTED]
    assert assembly(result.rated[0]) == (2, True, [2], False)


def test_a_part_above_the_last(run: Run) -> None:
    result = run(part(1), part(4), part(2, "last"))
    assert only_rejection(result) == ("INVALID_PARTIAL", "sequence 4 above the last part's 2")
    assert outcomes(result) == [RATED, REJECTED, MERGED]
    assert assembly(result.rated[0]) == (2, False, [], False)


def test_a_part_above_the_last_of_a_session_left_open(run: Run) -> None:
    result = run(part(2, "last"), part(3))
    assert only_rejection(result) == ("INVALID_PARTIAL", "sequence 3 above the last part's 2")
    assert assembly(result.rated[0]) == (1, True, [1], False)


@pytest.mark.parametrize(
    ("changes", "detail"),
    [
        ({"record_type": "data", "bytes_up": 1, "bytes_down": 1, "direction": "MT"}, "record_type differs from part 1"),
        ({"other_party": "212622222222", "direction": "MT"}, "other_party differs from part 1"),
        ({"direction": "MT"}, "direction differs from part 1"),
        ({"visited_country": "fr"}, "visited_country differs from part 1"),
        ({"visited_country": "MA"}, "visited_country differs from part 1"),  # home, but not absent
    ],
)
def test_a_part_differing_from_part_1(run: Run, changes: dict[str, Any], detail: str) -> None:
    result = run(part(1), part(2, "last", **changes))
    assert only_rejection(result) == ("INVALID_PARTIAL", detail)
    assert assembly(result.rated[0]) == (1, True, [], True)  # the last part was not merged


def test_shared_fields_are_compared_normalized(run: Run) -> None:
    result = run(part(1, visited_country="fr"),
                 part(2, "last", visited_country="FR", other_party="+212 611-111-111"))
    assert result.rejected == []
    assert assembly(result.rated[0]) == (2, False, [], False)


def test_parts_are_judged_again_when_part_1_arrives(run: Run) -> None:
    # Before part 1, part 2 is the first part and part 3 differs from it; part 1 decides in the end.
    result = run(part(2, direction="MT"), part(3, "last"), part(1))
    assert only_rejection(result) == ("INVALID_PARTIAL", "direction differs from part 1")
    assert outcomes(result) == [REJECTED, MERGED, RATED]
    assert assembly(result.rated[0]) == (2, True, [2], False)


# -- rating the assembled CDR ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("parts", "same_whole"),
    [
        (
            [part(1, other_party=EUROPE, duration_sec=70), part(2, "last", other_party=EUROPE, duration_sec=70)],
            whole(other_party=EUROPE, duration_sec=140, cdr_id="call-1"),
        ),
        (
            [data_part(1), data_part(2), data_part(3, "last")],
            data_part(1, bytes_up=3000, bytes_down=1500, cdr_id="call-1", session_id=DROP, sequence=DROP,
                      partial=DROP),
        ),
    ],
    ids=["voice", "data"],
)
def test_connect_fee_and_first_increment_apply_once_to_the_sum(
    run: Run, parts: list[dict[str, Any]], same_whole: dict[str, Any]
) -> None:
    (assembled,) = run(*parts).rated
    (expected,) = run(same_whole).rated
    assert {**assembled, **dict.fromkeys(ASSEMBLY_KEYS)} == expected
    one_by_one = [run(apply(p, {"session_id": DROP, "sequence": DROP, "partial": DROP})).rated[0] for p in parts]
    assert sum(Decimal(cdr["charge"]) for cdr in one_by_one) > Decimal(assembled["charge"])
    assert sum(cdr["billable_units"] for cdr in one_by_one) > assembled["billable_units"]


def test_voice_connect_fee_by_hand(run: Run) -> None:
    (cdr,) = run(part(1, other_party=EUROPE, duration_sec=70), part(2, "last", other_party=EUROPE, duration_sec=70)).rated
    # 140 s in increments [60, 60]: 180 s at 4.50 / min, plus 0.50 once; alone, each part is 120 s and 0.50.
    assert (cdr["zone"], cdr["billable_units"], cdr["connect_fee"], cdr["charge"]) == ("europe", 180, "0.50", "14.0000")


def test_summed_usage_is_not_checked_against_the_record_limit(run: Run) -> None:
    (cdr,) = run(part(1, duration_sec=86400), part(2, "last", duration_sec=86400)).rated
    assert (cdr["duration_sec"], cdr["quantity"]) == (172800, 172800)


def test_no_rate_for_an_assembled_cdr_carries_its_first_part(run: Run) -> None:
    records = [part(2, "last", msisdn=GONE), part(1, msisdn=GONE)]
    result = run(*records)
    assert outcomes(result) == [MERGED, REJECTED]
    (rejection,) = result.rejected
    assert (rejection["reason"], rejection["detail"]) == ("NO_RATE", "plan GONE not in catalog 2026.11")
    assert (rejection["raw"], rejection["source"]["offset"]) == (encode(records[1]).decode(), 1)
    assert (rejection["cdr_id"], rejection["msisdn"]) == ("call-1", GONE)
    assert session_counts(result) == SessionCounts(complete=1, incomplete=0)


# -- any mix of parts ------------------------------------------------------------------------------

PARTS = st.tuples(
    st.sampled_from([1, 2, 3, 4]),
    st.sampled_from(["intermediate", "last"]),
    st.fixed_dictionaries(
        {},
        optional={
            "cdr_id": st.sampled_from(["a", "b", "c"]),
            "msisdn": st.sampled_from([PAYG, OTHER_PAYG, GONE]),
            "session_id": st.sampled_from(["s", "t", DROP]),
            "sequence": st.sampled_from([0, "x", DROP]),
            "direction": st.just("MT"),
            "record_type": st.just("data"),
        },
    ),
)


@settings(max_examples=200, deadline=None)
@given(specs=st.lists(PARTS, max_size=12))
def test_every_part_has_one_outcome(run: Run, specs: list[tuple[int, str, dict[str, Any]]]) -> None:
    result = run(*(part(n, partial, bytes_up=1, bytes_down=1, **changes) for n, partial, changes in specs))
    every = result.outcomes()
    assert result.merged == sum(a.assembly.partials - 1 for a in result.assembled)
    for assembled in result.assembled:
        assert every[assembled.offset] in (RATED, REJECTED)
        assert all(every[offset] == MERGED for offset in assembled.merged_offsets)
    counts = session_counts(result)
    assert counts.complete + counts.incomplete == len(result.assembled)
