"""Fuzzing both drivers with over 10,000 bad payloads (`tests/fuzzing.py`, seeded) and a few hundred good ones.

The corpus (random and near-UTF-8 bytes, truncated CDRs, wrong types in every field, huge numbers, strings,
keys and dates, unicode everywhere, MSISDNs with control characters and path segments, duplicate keys, deep
nesting, blank lines, 1-3 MB lines, valid CDRs and their duplicates) is written as one JSONL file and
rated by `telecom rate` (a subprocess), and produced with the project's producer into a fresh raw topic
and drained by the streaming query (in this process). What is proven:

* the file driver exits 0 without a traceback and accounts for every line (rated + rejected + duplicate),
  with known reason codes, and its outcome for every line equals the pure-Python reference's;
* the producer sends every payload, 3 MB ones included, in order; the stream does not fail and every
  produced record comes out rated, rejected or as a duplicate, exactly as the file driver decided.

Outcomes are compared on parsed JSON minus `rated_at` / `rejected_at` (and `source`, which names the topic
in the stream). `now` is the real time for both drivers: the corpus keeps its instants far from it.
"""

from __future__ import annotations

import base64
import dataclasses
import json
import os
import subprocess
import sys
import time
import uuid
from collections import Counter
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from kafka import KafkaConsumer, TopicPartition

from fuzzing import BAD_KINDS, Payload, make_corpus
from reference.rating import Result, mediate_and_rate, split_records
from schema_check import check_record
from telecom_billing.contracts.reasons import Reason
from telecom_billing.infra.topics import TopicSpec, ensure_topics
from telecom_billing.producer import produce
from telecom_billing.refdata.catalog import load_catalog
from telecom_billing.refdata.subscribers import load_subscribers
from telecom_billing.stream import StreamOptions, start_stream

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[2]
DATA = REPO / "data"
SEED = 20261127
BAD = 10_000
REASONS = {str(r) for r in Reason}


def telecom(*args: str, timeout: float = 600) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "TELECOM_SPARK_MASTER": "local[2]", "TELECOM_DRIVER_MEMORY": "1g",
           "PYTHONUNBUFFERED": "1"}
    return subprocess.run([sys.executable, "-m", "telecom_billing", *args], capture_output=True, text=True,
                          timeout=timeout, env=env, cwd=REPO, check=False)


def _corpus() -> list[Payload]:
    return make_corpus(SEED, BAD, split_records((DATA / "sample_cdrs.jsonl").read_bytes()),
                       split_records((DATA / "sample_legacy.jsonl").read_bytes()))


@pytest.fixture(scope="module")
def corpus() -> list[Payload]:
    return _corpus()


@pytest.fixture(scope="module")
def jsonl(corpus: list[Payload]) -> bytes:
    """The input file of `telecom rate`: one payload a line."""
    return b"".join(p.value + b"\n" for p in corpus)


@pytest.fixture(scope="module")
def records(jsonl: bytes, corpus: list[Payload]) -> list[bytes]:
    """The file's records (RULES.md 16: one trailing `\\r` dropped per line); also what is produced."""
    lines = split_records(jsonl)
    assert len(lines) == len(corpus)
    return lines


@pytest.fixture(scope="module")
def now() -> datetime:
    return datetime.now(UTC).replace(microsecond=0)


@pytest.fixture(scope="module")
def expected(records: list[bytes], now: datetime) -> Result:
    return mediate_and_rate(records, load_catalog(DATA / "catalog"), load_subscribers(DATA / "subscribers.csv"), now)


@dataclass(frozen=True)
class FileRun:
    folder: Path
    done: subprocess.CompletedProcess[str]
    report: dict[str, Any]
    rated: list[dict[str, Any]]
    rejected: list[dict[str, Any]]


def _read_jsonl(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").split("\n") if line]


@pytest.fixture(scope="module")
def file_run(tmp_path_factory: pytest.TempPathFactory, jsonl: bytes, now: datetime) -> FileRun:
    folder = tmp_path_factory.mktemp("fuzz")
    source = folder / "fuzz.jsonl"
    source.write_bytes(jsonl)
    out = folder / "out"
    done = telecom("rate", "--input", str(source), "--out", str(out), "--catalog", str(DATA / "catalog"),
                   "--subscribers", str(DATA / "subscribers.csv"), "--now", now.isoformat())
    assert done.returncode == 0, done.stderr[-3000:]
    return FileRun(folder, done, json.loads((out / "reconciliation.json").read_text()), _read_jsonl(out / "rated.jsonl"),
                   _read_jsonl(out / "rejected.jsonl"))


def without(record: dict[str, Any], *keys: str) -> dict[str, Any]:
    return {k: v for k, v in record.items() if k not in keys}


def _show(records: list[bytes], offset: int) -> str:
    return f"line {offset}: {records[offset][:200]!r}"


def _first_differences(records: list[bytes], expected: dict[int, Any], actual: dict[int, Any], limit: int = 5) -> str:
    """Readable differences between two `offset -> record` maps (expected first)."""
    found = []
    for offset in sorted(expected.keys() | actual.keys()):
        want, got = expected.get(offset), actual.get(offset)
        if want != got:
            if isinstance(want, dict) and isinstance(got, dict):
                fields = {k: (want.get(k), got.get(k)) for k in want.keys() | got.keys() if want.get(k) != got.get(k)}
                found.append(f"{_show(records, offset)}\n    differing fields (expected, actual): {fields}")
            else:
                found.append(f"{_show(records, offset)}\n    expected {str(want)[:300]}\n    actual {str(got)[:300]}")
            if len(found) >= limit:
                break
    return "\n".join(found)


def test_corpus_is_seeded_and_mixes_every_kind(corpus: list[Payload], records: list[bytes]) -> None:
    """The corpus is the same for the same seed, holds >= 10,000 bad payloads of every kind, a few hundred
    valid CDRs with their duplicates and 3-5 lines of 1-3 MB, and no line break inside a payload."""
    assert [p.value for p in _corpus()] == [p.value for p in corpus]
    kinds = Counter(p.kind for p in corpus)
    assert sum(kinds[k] for k in BAD_KINDS) >= 10_000
    assert all(kinds[k] >= 250 for k in BAD_KINDS), kinds
    assert kinds["valid"] >= 200 and kinds["repeat"] > 0 and kinds["respelled"] > 0, kinds
    sizes = [len(p.value) for p in corpus if p.kind == "megabyte"]
    assert 3 <= len(sizes) <= 5 and all(1_000_000 <= s <= 3_000_000 for s in sizes), sizes
    assert sum(1 for r in records if not r.strip(b" \t\r")) >= 100  # empty and whitespace-only lines
    assert not any(b"\n" in r for r in records)


def test_rate_cli_exits_cleanly_and_accounts_for_every_line(file_run: FileRun, corpus: list[Payload],
                                                           records: list[bytes]) -> None:
    """Exit 0, no traceback, raw = rated + rejected + duplicate with nothing unexplained, known reason codes,
    blank lines and non-UTF-8 lines rejected as RULES.md sections 2 and 16 say, the megabyte lines handled."""
    assert "Traceback" not in file_run.done.stderr, file_run.done.stderr[-3000:]
    assert "unexplained 0" in file_run.done.stdout
    # No file name comes from record content (MSISDNs like "../../etc/passwd" are in the input).
    written = sorted(str(p.relative_to(file_run.folder)) for p in file_run.folder.rglob("*"))
    assert written == ["fuzz.jsonl", "out", "out/rated.jsonl", "out/reconciliation.json", "out/rejected.jsonl"]
    report = file_run.report
    assert report["raw"] == len(records)
    assert report["unexplained"] == 0
    assert report["rated"] + report["rejected"] + report["duplicate"] + report["merged"] == len(records)
    assert (report["rated"], report["rejected"]) == (len(file_run.rated), len(file_run.rejected))
    assert report["rejected_by_reason"] == dict(Counter(r["reason"] for r in file_run.rejected))
    assert set(report["rejected_by_reason"]) <= REASONS
    # Each line has at most one outcome, and rejections point at their own line.
    offsets = [r["source"]["offset"] for r in file_run.rejected]
    assert offsets == sorted(set(offsets))
    by_offset = {r["source"]["offset"]: r for r in file_run.rejected}
    for offset, rejection in by_offset.items():
        assert rejection["source"] == {"topic": None, "partition": None, "offset": offset}
        if rejection["raw"] is None:
            assert base64.b64decode(rejection["raw_base64"]) == records[offset], _show(records, offset)
        else:
            assert rejection["raw"].encode("utf-8") == records[offset], _show(records, offset)
    for offset, line in enumerate(records):
        try:
            line.decode("utf-8")
        except UnicodeDecodeError:  # RULES.md 2: strict UTF-8, no replacement
            assert (by_offset[offset]["reason"], by_offset[offset]["detail"]) == ("MALFORMED_JSON", "not UTF-8")
            continue
        if not line.strip(b" \t\r"):  # RULES.md 16: an empty or blank line is a record, not JSON
            assert (by_offset[offset]["reason"], by_offset[offset]["detail"]) == ("MALFORMED_JSON",
                                                                                  "not a JSON object")
    # The megabyte lines: two rated, three rejected, none lost.
    huge = [offset for offset, p in enumerate(corpus) if p.kind == "megabyte"]
    assert {"fz-mb-padded", "fz-mb-cell"} <= {r["cdr_id"] for r in file_run.rated}
    outcomes = sorted((by_offset[o]["reason"], by_offset[o]["detail"]) for o in huge if o in by_offset)
    assert outcomes == [("MALFORMED_JSON", "not UTF-8"), ("MALFORMED_JSON", "not a JSON object"),
                        ("MISSING_FIELD", "duration_sec: not a number")]


def test_rate_cli_equals_the_reference_line_for_line(file_run: FileRun, expected: Result, records: list[bytes],
                                                     now: datetime) -> None:
    """Every line's outcome (rated with its charge and every other field, rejected with its reason, detail,
    raw payload, MSISDN and cdr_id, or a duplicate) is the reference's."""
    stamp = now.strftime("%Y-%m-%dT%H:%M:%S.000000Z")
    assert {r["rated_at"] for r in file_run.rated} | {r["rejected_at"] for r in file_run.rejected} == {stamp}
    want_rejected = {r["source"]["offset"]: r for r in expected.rejected}
    got_rejected = {r["source"]["offset"]: without(r, "rejected_at") for r in file_run.rejected}
    assert got_rejected == want_rejected, _first_differences(records, want_rejected, got_rejected)
    # rated.jsonl is in line order, so its n-th record is the reference's n-th rated line.
    assert len(file_run.rated) == len(expected.rated)
    want_rated = dict(zip(expected.rated_offsets, expected.rated, strict=True))
    got_rated = dict(zip(expected.rated_offsets, (without(r, "rated_at") for r in file_run.rated), strict=True))
    assert got_rated == want_rated, _first_differences(records, want_rated, got_rated)
    assert file_run.report["duplicate"] == expected.duplicates
    # The corpus reaches every stage: many lines rated, rejections of (almost) every reason.
    assert len(file_run.rated) >= 1_000
    assert len(file_run.report["rejected_by_reason"]) >= 9, file_run.report["rejected_by_reason"]


# --- the stream -----------------------------------------------------------------------------------------


@pytest.fixture
def stream_settings(base_settings: Any, tmp_path: Path) -> Any:
    """Fresh topics; the raw one has a single partition, so its offsets are the file's line numbers and
    "earlier" (deduplication) means the same thing for both drivers."""
    suffix = uuid.uuid4().hex[:8]
    settings = dataclasses.replace(base_settings, topic_raw=f"fuzz.raw.{suffix}", topic_rated=f"fuzz.rated.{suffix}",
                                   topic_rejected=f"fuzz.rejected.{suffix}", topic_parts=f"fuzz.parts.{suffix}", partitions=1,
                                   checkpoint_dir=tmp_path / "checkpoints")
    ensure_topics(settings, [TopicSpec(t, 1, {}) for t in
                             (settings.topic_raw, settings.topic_rated, settings.topic_rejected)])
    return settings


def _consume(settings: Any, topic: str) -> list[Any]:
    consumer = KafkaConsumer(bootstrap_servers=settings.bootstrap_servers, enable_auto_commit=False,
                             fetch_max_bytes=64 * 1024 * 1024, max_partition_fetch_bytes=64 * 1024 * 1024)
    partitions = [TopicPartition(topic, p) for p in sorted(consumer.partitions_for_topic(topic) or [])]
    consumer.assign(partitions)
    consumer.seek_to_beginning()
    end = consumer.end_offsets(partitions)
    found: list[Any] = []
    deadline = time.monotonic() + 120
    while any(consumer.position(tp) < end[tp] for tp in partitions) and time.monotonic() < deadline:
        for batch in consumer.poll(timeout_ms=1000).values():
            found.extend(batch)
    consumer.close()
    return found


def test_stream_equals_the_file_driver(spark: Any, stream_settings: Any, records: list[bytes], file_run: FileRun,
                                       tmp_path: Path) -> None:
    """The project's producer sends every payload in order; the streaming query drains them without failing;
    produced = rated + rejected + duplicate, and the rated and rejected records are the file driver's."""
    chunks = [(records[i:i + 2000], None) for i in range(0, len(records), 2000)]
    stats = produce(stream_settings, stream_settings.topic_raw, chunks)
    assert (stats.sent, stats.failed) == (len(records), 0), stats.first_error
    raw = _consume(stream_settings, stream_settings.topic_raw)
    assert [r.offset for r in raw] == list(range(len(records)))
    assert [r.value for r in raw] == records

    catalog, subscribers = load_catalog(DATA / "catalog"), load_subscribers(DATA / "subscribers.csv")
    query = start_stream(spark, stream_settings, catalog, subscribers,
                         StreamOptions(trigger="once", max_offsets_per_trigger=6000), str(tmp_path / "checkpoint"))
    try:
        assert query.awaitTermination(600), "the stream did not drain the raw topic in time"
        assert query.exception() is None
    finally:
        query.stop()

    rated = _consume(stream_settings, stream_settings.topic_rated)
    rejected = _consume(stream_settings, stream_settings.topic_rejected)
    assert len(rated) + len(rejected) + file_run.report["duplicate"] + file_run.report["merged"] == len(records)
    for record in rated:
        check_record("rated-cdr", record.value)
    for record in rejected:  # whatever the fuzzer sent, the rejection is a valid record
        check_record("rejected-cdr", record.value)
    rejected_values = [json.loads(r.value) for r in rejected]
    assert {r["reason"] for r in rejected_values} <= REASONS
    for record, value in zip(rejected, rejected_values, strict=True):
        assert record.key == (value["msisdn"].encode() if value["msisdn"] is not None else None)
        assert value["source"] == {"topic": stream_settings.topic_raw, "partition": 0,
                                   "offset": value["source"]["offset"]}
    got_rejected = {r["source"]["offset"]: without(r, "rejected_at", "source") for r in rejected_values}
    assert len(got_rejected) == len(rejected), "a raw record was rejected twice"
    want_rejected = {r["source"]["offset"]: without(r, "rejected_at", "source") for r in file_run.rejected}
    assert got_rejected == want_rejected, _first_differences(records, want_rejected, got_rejected)

    rated_values = [json.loads(r.value) for r in rated]
    assert all(r.key == v["msisdn"].encode() for r, v in zip(rated, rated_values, strict=True))
    got_rated = {v["cdr_id"]: without(v, "rated_at") for v in rated_values}
    assert len(got_rated) == len(rated), "a cdr_id was rated twice"
    want_rated = {v["cdr_id"]: without(v, "rated_at") for v in file_run.rated}
    missing, extra = want_rated.keys() - got_rated.keys(), got_rated.keys() - want_rated.keys()
    assert not missing and not extra, f"rated only by the file driver: {sorted(missing)[:5]}; only by the " \
                                      f"stream: {sorted(extra)[:5]}"
    differing = [k for k in want_rated if want_rated[k] != got_rated[k]]
    assert not differing, [(want_rated[k], got_rated[k]) for k in differing[:3]]
