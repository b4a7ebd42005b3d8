"""The README's first command, `telecom demo` (as `python main.py`), with its corrections step, run as
a user runs it: a subprocess with its own embedded broker, on a smaller month, in folders of the
test's own (the `demo` fixture, tests/conftest.py, shared with test_results.py).

What it must show: October billed final and reconciled; a price fix rerated into credit notes only
(the fix lowers a price); the numbers rejected as unknown loaded late, their CDRs recycled, rated
and billed once as late usage on November's final invoices.
"""

from __future__ import annotations

import json
import re
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

pytestmark = pytest.mark.integration


def period_folder(out: Path, period: str) -> Path:
    return out / "invoices" / f"period={period}"


def read_json(path: Path) -> Any:
    return json.loads(path.read_text(encoding="utf-8"))


def read_jsonl(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def test_the_demo_bills_its_month_final_and_reconciled(demo: dict[str, Any]) -> None:
    october = period_folder(demo["out"], "2026-10")
    assert (october / "_SUCCESS").is_file() and read_json(october / "manifest.json")["status"] == "final"
    raw = read_json(october / "reconciliation.json")["raw"]["run"]
    assert raw["balanced"] and raw["unexplained"] == 0 and raw["records"] == demo["count"]
    assert raw["rated"] > 0.9 * demo["count"], "the generator's default defect rate is a few per cent"
    assert "broker stopped" in demo["stdout"] and "demo finished in" in demo["stdout"]


def test_the_price_fix_gives_credit_notes_only(demo: dict[str, Any]) -> None:
    folders = sorted((demo["out"] / "rerating" / "period=2026-10").glob("catalog=*"))
    assert [f.name for f in folders] == ["catalog=2026.11-fix1"]
    changes = read_jsonl(folders[0] / "changes.jsonl")
    notes = read_jsonl(folders[0] / "adjustments.jsonl")
    assert changes and notes, "the fixed rate is the first plan's first priced one: the month uses it"
    assert all(Decimal(c["new_charge"]) < Decimal(c["old_charge"]) for c in changes)
    assert all(n["type"] == "credit_note" and Decimal(n["total"]) < 0 for n in notes)
    assert all(re.fullmatch(r"CN-202610-[0-9A-F]{10}", n["note_number"]) for n in notes)
    said = re.search(r"([\d,]+) CDRs change; ([\d,]+) credit/debit notes", demo["stdout"])
    assert said and (int(said[1].replace(",", "")), int(said[2].replace(",", ""))) == (len(changes), len(notes))


def test_recycled_cdrs_are_billed_once_as_late_usage(demo: dict[str, Any]) -> None:
    recycled = re.search(r"recycled ([\d,]+) UNKNOWN_SUBSCRIBER record\(s\) of 2026-10", demo["stdout"])
    assert recycled and int(recycled[1].replace(",", "")) > 0
    november = period_folder(demo["out"], "2026-11")
    assert read_json(november / "manifest.json")["status"] == "final"
    late_lines = [line for invoice in read_jsonl(november / "invoices.jsonl") for line in invoice["lines"]
                  if line["type"] == "late_usage"]
    assert {line["origin_period"] for line in late_lines} == {"2026-10"}
    late = read_json(november / "reconciliation.json")["late_billed"]
    assert late["billed"] == sum(line["cdr_count"] for line in late_lines) <= int(recycled[1].replace(",", ""))
    assert (late["duplicates"], late["invalid"], late["no_subscriber"]) == (0, 0, 0)
    # October's final invoices were not touched by the corrections.
    assert read_json(period_folder(demo["out"], "2026-10") / "manifest.json")["status"] == "final"


def test_the_demo_counts_its_usage_alerts_by_kind(demo: dict[str, Any]) -> None:
    """The usage monitor runs over the demo's month: its alerts, counted by kind in the summary."""
    said = re.search(r"^usage alerts: +([\d,]+) \(([^)]*)\) on subscriber\.alerts", demo["stdout"], re.M)
    assert said, demo["stdout"][-2000:]
    total = int(said[1].replace(",", ""))
    by_kind = {kind: int(count.replace(",", "")) for kind, count in (part.split() for part in said[2].split(", "))}
    assert total > 0 and sum(by_kind.values()) == total
    assert set(by_kind) <= {"allowance", "spending_cap", "roaming_data_cap"}
    assert "spending_cap" in by_kind, "PAYG's 150 MAD cap is reached by some subscribers of any month"
