"""Long calls and data sessions as partial records (DESIGN.md 7c): cut at the traffic model's
thresholds, in the share it asks, and each kind of defect of a session with its labels. What
mediation makes of them is checked against the reference in test_generator.py."""

from __future__ import annotations

import collections
import itertools
import json
from dataclasses import dataclass, replace
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from telecom_billing.generator import CdrGenerator, GeneratorOptions, Label, Partials, Traffic, load_traffic
from telecom_billing.generator.defects import DUPLICATE, MERGED
from telecom_billing.generator.sessions import SESSION_DEFECTS, SPLIT_SESSION, session_defect
from telecom_billing.infra.settings import load_settings
from telecom_billing.refdata.catalog import Catalog
from telecom_billing.refdata.subscribers import Subscriber

REPO = Path(__file__).resolve().parents[2]
CASABLANCA = ZoneInfo("Africa/Casablanca")
SHARED_FIELDS = ("msisdn", "record_type", "other_party", "direction", "visited_country")
# Finer than the shipped model, so that a short run has many sessions of many parts.
FINE = Partials(split_after=600, split_bytes=20 * 1024**2, share=0.1)


def traffic_with(catalog: Catalog, partials: Partials) -> Traffic:
    return replace(load_traffic(load_settings().catalog_dir, catalog), partials=partials)


@dataclass
class Line:
    """An output line: its position, record and label."""

    index: int
    record: dict
    label: Label | None


def generate(catalog: Catalog, subscribers: list[Subscriber], partials: Partials, **options: object) -> list[Line]:
    generator = CdrGenerator(catalog, subscribers, GeneratorOptions(**options),  # type: ignore[arg-type]
                             traffic=traffic_with(catalog, partials))
    lines: list[str] = []
    labels: dict[int, Label] = {}
    for batch in generator.batches():
        lines += batch.lines
        labels.update((label.line, label) for label in batch.labels)
    return [Line(i, json.loads(line), labels.get(i)) for i, line in enumerate(lines)
            if i not in labels or labels[i].defect != "malformed_json"]


def sessions(lines: list[Line]) -> dict[str, list[Line]]:
    """The lines of each session, in arrival order."""
    by_id: dict[str, list[Line]] = collections.defaultdict(list)
    for line in lines:
        if "session_id" in line.record:
            by_id[line.record["session_id"]].append(line)
    return by_id


def usage(record: dict) -> int:
    return record["duration_sec"] if record["record_type"] == "voice" else record["bytes_up"] + record["bytes_down"]


def instant(record: dict) -> float:
    return datetime.fromisoformat(record["event_time"]).timestamp()


@pytest.fixture(scope="module")
def fine(catalog: Catalog, subscribers: list[Subscriber]) -> list[Line]:
    """Clean lines with parts at the FINE thresholds."""
    return generate(catalog, subscribers, FINE, count=20_000, defects=0, seed=5)


def test_a_session_is_its_parts_in_sequence_sharing_its_fields(fine: list[Line]) -> None:
    by_id = sessions(fine)
    assert len(by_id) > 500
    for parts in by_id.values():
        records = [line.record for line in parts]
        assert [line.index for line in parts] == list(range(parts[0].index, parts[0].index + len(parts)))  # a run
        assert [r["sequence"] for r in records] == list(range(1, len(records) + 1)) and len(records) >= 2
        assert [r["partial"] for r in records] == ["intermediate"] * (len(records) - 1) + ["last"]
        assert len({tuple(r.get(name) for name in SHARED_FIELDS) for r in records}) == 1
        assert [line.label for line in parts] == [Label(parts[0].index, SPLIT_SESSION, None)] + [
            Label(line.index, SPLIT_SESSION, MERGED) for line in parts[1:]]
    cdr_ids = [line.record["cdr_id"] for line in fine]
    assert len(set(cdr_ids)) == len(cdr_ids) and not set(by_id) & set(cdr_ids)
    assert len({(p[0].record["msisdn"], session_id) for session_id, p in by_id.items()}) == len(by_id)
    assert {p[0].record["record_type"] for p in by_id.values()} == {"voice", "data"}
    assert len({line.record["cell_id"] for p in by_id.values() for line in p}) > len(by_id)  # cells vary


def test_parts_are_cut_at_the_thresholds_and_sum_to_the_usage(fine: list[Line]) -> None:
    limit = {"voice": FINE.split_after, "data": FINE.split_bytes}
    for parts in sessions(fine).values():
        records = [line.record for line in parts]
        threshold = limit[records[0]["record_type"]]
        # Every part but the last carries the threshold, the last the rest: the session's usage,
        # over the threshold, is the sum.
        assert [usage(r) for r in records[:-1]] == [threshold] * (len(records) - 1)
        assert 0 < usage(records[-1]) <= threshold
        assert sum(usage(r) for r in records) > threshold
        if records[0]["record_type"] == "data":
            up, total = sum(r["bytes_up"] for r in records), sum(usage(r) for r in records)
            assert all(r["bytes_up"] >= 0 and r["bytes_down"] >= 0 for r in records)
            assert all(abs(r["bytes_up"] - usage(r) * up / total) < 1 for r in records)  # the session's ratio
    whole = [line.record for line in fine if "session_id" not in line.record and line.record["record_type"] != "sms"]
    assert all(usage(r) <= limit[r["record_type"]] for r in whole)
    assert max(usage(r) for r in whole if r["record_type"] == "voice") > FINE.split_after * 0.8


def test_each_part_starts_where_the_previous_ended_on_the_same_local_date(fine: list[Line]) -> None:
    for parts in sessions(fine).values():
        records = [line.record for line in parts]
        times = [instant(r) for r in records]
        if records[0]["record_type"] == "voice":
            assert [b - a for a, b in itertools.pairwise(times)] == [r["duration_sec"] for r in records[:-1]]
        else:  # the parts of a data session carry no duration: only the order shows
            assert times == sorted(times)
        days = {datetime.fromtimestamp(t, CASABLANCA).date() for t in times}
        assert len(days) == 1 and min(days).month == 10


@pytest.mark.parametrize("share", [0.02, 0.1])
def test_the_share_of_lines_that_are_parts(share: float, catalog: Catalog, subscribers: list[Subscriber]) -> None:
    lines = generate(catalog, subscribers, replace(FINE, share=share), count=30_000, seed=9)
    parts = sum("session_id" in line.record for line in lines)
    assert parts / 30_000 == pytest.approx(share, rel=0.2)


def test_legacy_records_are_never_parts(catalog: Catalog, subscribers: list[Subscriber]) -> None:
    lines = generate(catalog, subscribers, replace(FINE, share=0.5), count=3000, fmt="legacy", defects=0.3)
    assert not any({"session_id", "sequence", "partial"} & set(line.record) for line in lines)
    assert not any(line.label and line.label.defect in (SPLIT_SESSION, *SESSION_DEFECTS) for line in lines)


def test_the_same_seed_gives_the_same_sessions(catalog: Catalog, subscribers: list[Subscriber]) -> None:
    first = generate(catalog, subscribers, FINE, count=5000, defects=0.3, seed=3)
    assert generate(catalog, subscribers, FINE, count=5000, defects=0.3, seed=3) == first
    other = generate(catalog, subscribers, FINE, count=5000, defects=0.3, seed=4)
    assert [line.record for line in other if "session_id" in line.record] != [
        line.record for line in first if "session_id" in line.record]


# --------------------------------------------------------------------------- defects of sessions


@pytest.fixture(scope="module")
def defective(catalog: Catalog, subscribers: list[Subscriber]) -> dict[str, list[list[Line]]]:
    """The sessions of a run with many defects, by label kind."""
    lines = generate(catalog, subscribers, replace(FINE, share=0.2), count=20_000, defects=0.5, seed=12)
    by_kind: dict[str, list[list[Line]]] = collections.defaultdict(list)
    for parts in sessions(lines).values():
        kinds = {line.label.defect for line in parts if line.label}
        assert len(kinds) == 1 and all(line.label for line in parts)
        by_kind[kinds.pop()].append(parts)
    assert set(by_kind) == {SPLIT_SESSION, *SESSION_DEFECTS}
    assert all(len(runs) >= 20 for runs in by_kind.values())
    return by_kind


def sequences(parts: list[Line]) -> list[int]:
    return [line.record["sequence"] for line in parts]


def expectations(parts: list[Line]) -> list[str | None]:
    return [line.label.expected_reason for line in parts if line.label]


def first_part_rated(parts: list[Line]) -> bool:
    """The lowest sequence present is labelled rated, every other part of the session merged."""
    first = min(sequences(parts))
    return all(line.label is not None and line.label.expected_reason == (None if line.record["sequence"] == first
                                                                         else MERGED) for line in parts)


def test_a_repeated_part_is_a_duplicate_of_its_sequence(defective: dict[str, list[list[Line]]]) -> None:
    for parts in defective["repeated_part"]:
        seen: dict[int, Line] = {}
        for line in parts:
            original = seen.setdefault(line.record["sequence"], line)
            if original is not line:
                assert line.label is not None and line.label.expected_reason == DUPLICATE
                assert {**line.record, "cdr_id": None} == {**original.record, "cdr_id": None}
        assert sorted(seen) == list(range(1, len(seen) + 1)) and len(parts) == len(seen) + 1
        assert first_part_rated([seen[s] for s in seen])


def test_parts_out_of_order_are_all_there(defective: dict[str, list[list[Line]]]) -> None:
    for parts in defective["parts_out_of_order"]:
        assert sequences(parts) != sorted(sequences(parts)) == list(range(1, len(parts) + 1))
        assert first_part_rated(parts)


def test_a_missing_part_leaves_a_gap_or_no_last_part(defective: dict[str, list[list[Line]]]) -> None:
    gaps = collections.Counter()
    for parts in defective["missing_part"]:
        present = sequences(parts)
        assert present == sorted(present) and first_part_rated(parts)
        last = parts[-1].record["partial"] == "last"
        full = range(1, present[-1] + (1 if last else 2))
        assert len(full) == len(present) + 1 and set(present) < set(full)
        gaps["first" if 1 not in present else "last" if not last else "middle"] += 1
    assert set(gaps) == {"first", "middle", "last"}


def test_a_part_after_closing_follows_every_part(defective: dict[str, list[list[Line]]]) -> None:
    for parts in defective["part_after_close"]:
        *session, late = parts
        assert sequences(session) == list(range(1, len(session) + 1)) and session[-1].record["partial"] == "last"
        assert late.record["sequence"] == len(session) + 1 and late.record["partial"] == "intermediate"
        assert expectations(parts) == [None] + [MERGED] * (len(session) - 1) + ["LATE_PARTIAL"]


def test_an_invalid_part_comes_between_the_first_and_the_last(defective: dict[str, list[list[Line]]]) -> None:
    spoils = collections.Counter()
    for parts in defective["invalid_part"]:
        (bad,) = [line for line in parts if line.label and line.label.expected_reason == "INVALID_PARTIAL"]
        session = [line for line in parts if line is not bad]
        assert sequences(session) == list(range(1, len(session) + 1)) and first_part_rated(session)
        assert session[0].index < bad.index < session[-1].index
        record, last = bad.record, len(session)
        if record["sequence"] == 0:
            spoils["sequence 0"] += 1
        elif record["partial"] not in ("intermediate", "last"):
            spoils["partial"] += 1
        else:
            assert record["sequence"] == last + 1 and record["direction"] != session[0].record["direction"]
            spoils["direction"] += 1
    assert set(spoils) == {"sequence 0", "partial", "direction"}


def test_a_session_defect_kind_is_registered_once() -> None:
    before = dict(SESSION_DEFECTS)
    with pytest.raises(ValueError, match="registered twice"):
        session_defect("missing_part")(lambda rnd, parts: [])
    assert SESSION_DEFECTS == before


def test_the_readme_documents_the_session_labels_in_registry_order() -> None:
    readme = (REPO / "data" / "README.md").read_text(encoding="utf-8")
    section = readme.split("\n### Partial records\n", 1)[1].split("\n#", 1)[0]
    kinds = [row.split("|")[1].strip(" `") for row in section.splitlines() if row.startswith("| `")]
    assert kinds == [SPLIT_SESSION, *SESSION_DEFECTS]
