"""The results database's SQL that runs without a server: SQLite's exact money sums, migrations,
the reconciliation as rows (the PostgreSQL side: tests/integration/test_results.py)."""

from __future__ import annotations

import random
import sqlite3
from decimal import Decimal
from pathlib import Path

import pytest

from telecom_billing.errors import UsageError
from telecom_billing.results.database import SQLITE, connect, masked
from telecom_billing.results.load import reconciliation_rows
from telecom_billing.results.schema import SCHEMA_VERSION, migrate, money_sum


@pytest.mark.parametrize("amounts", [
    ["0.10"] * 10 + ["0.20"] * 10,  # 0.1 + 0.2 is not 0.3 in floating point
    ["-0.05"], ["-1.00", "0.95"], ["0.00"], ["12345678901.23", "0.01"],
    [f"{random.Random(seed).randint(-10**9, 10**9) / 100:.2f}" for seed in range(2000)],
])
def test_sqlite_sums_money_exactly(amounts: list[str]) -> None:
    db = sqlite3.connect(":memory:")
    db.execute("CREATE TABLE t (amount TEXT)")
    db.executemany("INSERT INTO t VALUES (?)", [(a,) for a in amounts])
    [(text,)] = db.execute(f"SELECT {money_sum(SQLITE, 'amount')} FROM t").fetchall()
    assert text == f"{sum(Decimal(a) for a in amounts):.2f}"


def test_migrations_run_once_each(tmp_path: Path) -> None:
    db = connect(str(tmp_path / "r.sqlite"))
    assert migrate(db) == list(range(1, SCHEMA_VERSION + 1))
    assert migrate(db) == []
    assert [r[0] for r in db.query("SELECT name FROM sqlite_master WHERE type = 'view' ORDER BY name")] == [
        "late_usage_by_origin", "rejects_by_reason", "revenue_by_plan", "revenue_by_service_zone"]


def test_urls_and_passwords(tmp_path: Path) -> None:
    assert masked("postgresql://u:p@ss@h:5432/d") == "postgresql://u:***@h:5432/d"
    assert connect(f"sqlite:///{tmp_path}/x.sqlite").where == f"{tmp_path}/x.sqlite"
    with pytest.raises(UsageError, match="no folder"):
        connect(str(tmp_path / "missing" / "x.sqlite"))
    with pytest.raises(UsageError, match="expected a SQLite file"):
        connect("mysql://h/d")


def test_the_reconciliation_as_rows() -> None:
    report = {
        "raw": {"run": {"records": 10, "rated": 7, "rejected": 2, "rejected_by_reason": {"MISSING_FIELD": 2},
                        "recycled": {}, "balanced": True},
                "period": {"records": 9, "rejected_by_reason": {}}, "orphans": 0},
        "rated": {"records": 7, "billed": 7},
        "amounts": {"currency": "MAD", "rated_charges": "1.2345", "rounding_drift_within_bound": True},
        "late_billed": {"billed": 1, "amount": "2.00", "by_origin_period": {"2026-09": 1}},
        "invoices": 3, "unexplained_total": 0,
    }
    assert reconciliation_rows(report) == [
        ("raw_run_records", "", 10, None), ("raw_run_rated", "", 7, None), ("raw_run_rejected", "", 2, None),
        ("raw_run_rejected", "MISSING_FIELD", 2, None), ("raw_run_balanced", "", 1, None),
        ("raw_period_records", "", 9, None), ("raw_orphans", "", 0, None),
        ("rated_records", "", 7, None), ("rated_billed", "", 7, None),
        ("amount_rated_charges", "", None, "1.2345"),
        ("late_billed", "", 1, None), ("late_amount", "", None, "2.00"), ("late_by_origin_period", "2026-09", 1, None),
        ("invoices", "", 3, None), ("unexplained_total", "", 0, None)]
