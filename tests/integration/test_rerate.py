"""Rerating a period under a new catalog (DESIGN.md section 7b) with real Spark, on a generated month:
the same catalog changes nothing; a price fix changes exactly the CDRs it should, by the exact
amounts, and its credit notes equal the pure-Python reference's invoices minus the final ones."""

from __future__ import annotations

import json
from datetime import datetime
from decimal import Decimal
from fractions import Fraction
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
import yaml

from reference.billing import bill_period, half_up
from telecom_billing import cli
from telecom_billing.refdata.catalog import load_catalog
from telecom_billing.refdata.subscribers import load_subscribers

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[2]
PERIOD = "2026-10"
FIXED = {"plan": "PAYG", "service": "voice", "zone": "national_mobile", "band": "peak", "price": "1.35"}


@pytest.fixture(scope="module")
def month(spark: Any, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """2,000 generated CDRs of 2026-10, rated to files and billed from them (a final period)."""
    tmp = tmp_path_factory.mktemp("rerate")
    assert cli.main(["generate", "--count", "2000", "--out", str(tmp / "cdrs.jsonl"), "--quiet"]) == 0
    assert cli.main(["rate", "--input", str(tmp / "cdrs.jsonl"), "--out", str(tmp / "rated"),
                     "--now", "2026-11-05T00:00:00Z"]) == 0
    assert cli.main(["bill", "--period", PERIOD, "--rated", str(tmp / "rated"), "--out", str(tmp / "invoices")]) == 0
    fixed = yaml.safe_load((REPO / "data" / "catalog" / "catalog.yaml").read_text(encoding="utf-8"))
    fixed["catalog_version"] = "2026.11-fix1"
    plan = next(p for p in fixed["plans"] if p["id"] == FIXED["plan"])
    rate = next(r for r in plan["rates"] if (r["service"], r["zone"], r["band"]) == (FIXED["service"], FIXED["zone"],
                                                                                  FIXED["band"]))
    rate["price"] = FIXED["price"]
    (tmp / "fixed").mkdir()
    (tmp / "fixed" / "catalog.yaml").write_text(yaml.safe_dump(fixed, sort_keys=False), encoding="utf-8")
    euros = dict(fixed, catalog_version="2026.11-eur", currency="EUR")
    (tmp / "euros.yaml").write_text(yaml.safe_dump(euros, sort_keys=False), encoding="utf-8")
    return {"tmp": tmp, "rated": tmp / "rated" / "rated.jsonl", "invoices": tmp / "invoices",
            "fixed": tmp / "fixed", "euros": tmp / "euros.yaml"}


def rerate(month: dict[str, Path], catalog: Path, out: str = "rerating") -> int:
    return cli.main(["rerate", "--period", PERIOD, "--catalog", str(catalog), "--rated", str(month["rated"]),
                     "--invoices", str(month["invoices"]), "--out", str(month["tmp"] / out)])


def lines(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def test_the_same_catalog_changes_nothing(month: dict[str, Path]) -> None:
    assert rerate(month, REPO / "data" / "catalog") == 0
    folder = month["tmp"] / "rerating" / f"period={PERIOD}" / "catalog=2026.11"
    assert lines(folder / "changes.jsonl") == [] and lines(folder / "adjustments.jsonl") == []
    summary = (folder / "summary.csv").read_text(encoding="utf-8").splitlines()
    assert len(summary) > 100 and all(Decimal(row.split(",")[-1]) == 0 for row in summary[1:])


def test_a_price_fix_gives_exact_deltas_and_the_reference_notes(month: dict[str, Path]) -> None:
    assert rerate(month, month["fixed"]) == 0
    folder = month["tmp"] / "rerating" / f"period={PERIOD}" / "catalog=2026.11-fix1"
    zone = ZoneInfo(load_catalog(month["fixed"]).timezone)
    rated = [r for r in lines(month["rated"])
             if datetime.fromisoformat(r["event_time"]).astimezone(zone).strftime("%Y-%m") == PERIOD]
    hit = {r["cdr_id"]: r for r in rated if (r["plan_id"], r["record_type"], r["zone"], r["band"])
           == (FIXED["plan"], FIXED["service"], FIXED["zone"], FIXED["band"])}
    expected = {cdr_id: half_up(Fraction(r["billable_units"]) * Fraction(FIXED["price"]) / r["per"], 4)
                for cdr_id, r in hit.items()}
    changes = {c["cdr_id"]: c for c in lines(folder / "changes.jsonl")}
    assert set(changes) == {i for i in hit if expected[i] != Decimal(hit[i]["charge"])} and changes
    for cdr_id, change in changes.items():
        assert Decimal(change["new_charge"]) == expected[cdr_id]
        assert Decimal(change["delta"]) == expected[cdr_id] - Decimal(hit[cdr_id]["charge"])
        assert (change["old_price"], change["new_price"]) == ("1.50", FIXED["price"])

    # The notes: the reference's invoices under the fixed catalog minus the final invoices.
    catalog = load_catalog(month["fixed"])
    subscribers = load_subscribers(REPO / "data" / "subscribers.csv")
    recomputed = [dict(r, charge=str(expected[r["cdr_id"]]), price=FIXED["price"]) if r["cdr_id"] in expected else r
                  for r in rated]
    reference = {i["invoice_number"]: i for i in bill_period(recomputed, catalog, subscribers, PERIOD).invoices}
    finals = {i["invoice_number"]: i for i in lines(month["invoices"] / f"period={PERIOD}" / "invoices.jsonl")}
    owed = {n: Decimal(reference[n]["total"]) - Decimal(f["total"]) for n, f in finals.items()}
    notes = lines(folder / "adjustments.jsonl")
    assert {n["invoice_number"]: Decimal(n["total"]) for n in notes} == {n: d for n, d in owed.items() if d}
    assert all(n["type"] == "credit_note" and n["note_number"].startswith("CN-202610-") for n in notes)
    assert sorted(p.name for p in (folder / "notes").iterdir()) == sorted(f"{n['note_number']}.html" for n in notes)

    # A re-run writes the same bytes; the final invoices never change.
    before = {p: p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}
    invoices = (month["invoices"] / f"period={PERIOD}" / "invoices.jsonl").read_bytes()
    assert rerate(month, month["fixed"], out="rerating") == 0
    assert {p: p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()} == before
    assert (month["invoices"] / f"period={PERIOD}" / "invoices.jsonl").read_bytes() == invoices


@pytest.mark.parametrize(("argv", "message"), [
    (["--period", "2026-13"], "--period must be a month"),
    (["--period", PERIOD, "--catalog", "/nonexistent/catalog"], "no such file or folder"),
])
def test_bad_input_is_one_line(month: dict[str, Path], capsys: Any, argv: list[str], message: str) -> None:
    base = {"--catalog": str(month["fixed"]), "--rated": str(month["rated"])}
    for flag, value in base.items():
        if flag not in argv:
            argv = [*argv, flag, value]
    assert cli.main(["rerate", *argv]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and message in err, err


def test_another_currency_is_refused_in_one_line(month: dict[str, Path], capsys: Any) -> None:
    assert rerate(month, month["euros"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "is in EUR, but 2026-10 was rated in MAD" in err, err
