"""`telecom rate` (the file driver) on the seed's legacy sample: exact accounting, every record equal to
the pure-Python reference, and the reason mix explained record kind by record kind.

The command runs as a subprocess, as a user runs it; its Spark session is its own (local[2]).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections import Counter
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from fixtures import LEGACY_SAMPLE
from reference.rating import mediate_and_rate, split_records
from telecom_billing.refdata.catalog import load_catalog
from telecom_billing.refdata.subscribers import Subscriber, write_subscribers

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[2]
CATALOG = REPO / "data" / "catalog"
NOW = "2025-04-22T00:00:00Z"  # after the sample's last record (2025-04-21T22:00:05Z): nothing is in the future
PLANS = ("PAYG", "SMART_99", "MAX_199", "BUSINESS_349")
SUBSCRIBER_FIELDS = ("caller_id", "sender_id", "user_id")


def telecom(*args: str, timeout: float = 600) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "TELECOM_SPARK_MASTER": "local[2]", "TELECOM_DRIVER_MEMORY": "1g",
           "PYTHONUNBUFFERED": "1"}
    return subprocess.run([sys.executable, "-m", "telecom_billing", *args], capture_output=True, text=True,
                          timeout=timeout, env=env, cwd=REPO, check=False)


@pytest.fixture(scope="module")
def seed_lines() -> list[bytes]:
    lines = split_records(LEGACY_SAMPLE.read_bytes())
    assert len(lines) == 10_283
    return lines


@pytest.fixture(scope="module")
def seed_subscribers(seed_lines: list[bytes]) -> list[Subscriber]:
    """Every subscriber number of the sample (all digits), active from 2025-01-01, plans in turn."""
    numbers = sorted({v for line in seed_lines for k, v in json.loads(line).items()
                      if k in SUBSCRIBER_FIELDS and isinstance(v, str) and v.isdigit()})
    return [Subscriber(n, "Seed", "Al Hoceima", PLANS[i % len(PLANS)], date(2025, 1, 1))
            for i, n in enumerate(numbers)]


@pytest.fixture(scope="module")
def rate_run(tmp_path_factory: pytest.TempPathFactory, seed_subscribers: list[Subscriber]) -> Path:
    folder = tmp_path_factory.mktemp("rate")
    write_subscribers(folder / "subscribers.csv", seed_subscribers)
    out = folder / "out"
    done = telecom("rate", "--input", str(LEGACY_SAMPLE), "--out", str(out), "--catalog", str(CATALOG),
                   "--subscribers", str(folder / "subscribers.csv"), "--now", NOW)
    assert done.returncode == 0, done.stderr[-3000:]
    assert "unexplained 0" in done.stdout
    return out


def without(record: dict[str, Any], key: str) -> dict[str, Any]:
    return {k: v for k, v in record.items() if k != key}


def test_accounting_is_exact_and_the_reason_mix_is_explained(rate_run: Path, seed_lines: list[bytes]) -> None:
    report = json.loads((rate_run / "reconciliation.json").read_text())
    assert report["raw"] == 10_283
    assert report["unexplained"] == 0
    assert report["raw"] == report["rated"] + report["rejected"] + report["duplicate"] + report["merged"]
    assert report["rejected"] == sum(report["rejected_by_reason"].values())
    # The sample's own defects, counted by hand from the raw lines below:
    assert report["rejected_by_reason"] == {
        # 60 + 8 + 35 records whose caller_id / sender_id / user_id is the string "invalid_phone".
        "INVALID_MSISDN": 103,
        # 60 calls with "duration_sec": null, 17 calls without callee_id, 4 SMS without receiver_id,
        # 31 data records with "data_volume_mb": null and 9 without session_duration_sec.
        "MISSING_FIELD": 121,
        # 58 calls with a duration <= 0 and 23 data records with a volume <= 0 MB.
        "NON_POSITIVE_USAGE": 81,
        # 5 calls longer than 86,400 s.
        "USAGE_OUT_OF_RANGE": 5,
    }
    # 299 lines repeat an earlier line exactly; 14 of them repeat a line that was rejected (a rejected
    # first copy makes no duplicate), so 285 are duplicates: the legacy id is derived from content.
    assert report["duplicate"] == 285
    assert report["rated"] == 10_283 - 310 - 285 == 9_688
    assert report["currency"] == "MAD"

    records = [json.loads(line) for line in seed_lines]

    def count(test: Any) -> int:
        return sum(1 for r in records if test(r))

    assert count(lambda r: "invalid_phone" in (r.get("caller_id"), r.get("sender_id"), r.get("user_id"))) == 103
    assert count(lambda r: r["record_type"] == "voice" and r.get("duration_sec") is None) == 60
    assert count(lambda r: r["record_type"] == "voice" and "callee_id" not in r) == 17
    assert count(lambda r: r["record_type"] == "sms" and "receiver_id" not in r) == 4
    assert count(lambda r: r["record_type"] == "data" and r.get("data_volume_mb") is None) == 31
    assert count(lambda r: r["record_type"] == "data" and "session_duration_sec" not in r) == 9
    assert count(lambda r: isinstance(r.get("duration_sec"), int) and r["duration_sec"] <= 0) == 58
    assert count(lambda r: isinstance(r.get("data_volume_mb"), float) and r["data_volume_mb"] <= 0) == 23
    assert count(lambda r: isinstance(r.get("duration_sec"), int) and r["duration_sec"] > 86_400) == 5
    assert len(seed_lines) - len(set(seed_lines)) == 299


def test_outputs_equal_the_reference_record_for_record(
    rate_run: Path, seed_lines: list[bytes], seed_subscribers: list[Subscriber]
) -> None:
    now = datetime(2025, 4, 22, tzinfo=UTC)
    expected = mediate_and_rate(seed_lines, load_catalog(CATALOG), seed_subscribers, now)
    rated = [json.loads(line) for line in (rate_run / "rated.jsonl").read_text(encoding="utf-8").splitlines()]
    rejected = [json.loads(line) for line in (rate_run / "rejected.jsonl").read_text(encoding="utf-8").splitlines()]
    assert {r["rated_at"] for r in rated} == {r["rejected_at"] for r in rejected} == {"2025-04-22T00:00:00.000000Z"}
    assert [without(r, "rated_at") for r in rated] == expected.rated  # in line order
    assert [without(r, "rejected_at") for r in rejected] == expected.rejected
    assert [r["source"]["offset"] for r in rejected] == [r["source"]["offset"] for r in expected.rejected]
    # The duplicates are exactly the repeats of lines whose first copy was accepted.
    rejected_lines = {r["source"]["offset"] for r in expected.rejected}
    first: dict[bytes, int] = {}
    repeats = []
    for offset, line in enumerate(seed_lines):
        if line in first and first[line] not in rejected_lines:
            repeats.append(offset)
        first.setdefault(line, offset)
    assert repeats == expected.duplicate_offsets and len(repeats) == 285
    assert Counter(r["source_format"] for r in rated) == {"legacy": 9_688}
    report = json.loads((rate_run / "reconciliation.json").read_text())
    assert report["rated_charge_total"] == f"{sum((Decimal(r['charge']) for r in rated), Decimal(0))}"


def test_missing_input_is_one_line_and_exit_2(tmp_path: Path) -> None:
    done = telecom("rate", "--input", str(tmp_path / "nope.jsonl"), "--out", str(tmp_path / "out"), timeout=120)
    assert done.returncode == 2
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and "nope.jsonl" in lines[0], done.stderr
    assert "Traceback" not in done.stderr
    assert not (tmp_path / "out").exists()
