"""Results in SQL (DESIGN.md 7e): the demo's months in its SQLite file and, loaded with `telecom load`,
in a real PostgreSQL server: the same answers to the cent, loads that replace a draft and keep a
final, a load killed mid-way that leaves the previous state, and one-line errors."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from datetime import datetime
from decimal import Decimal
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import psycopg
import pytest

from postgres import Server
from telecom_billing.cli import main
from telecom_billing.infra.broker import free_port
from telecom_billing.results.database import APPLICATION, DEFAULT_FILE, connect
from telecom_billing.results.schema import SCHEMA_VERSION, migrate

pytestmark = pytest.mark.integration

PERIODS = ("2026-10", "2026-11")  # the demo's month and, with --corrections, the next one
TABLES = {"periods": "period", "invoices": "invoice_number", "invoice_lines": "invoice_number, line_no",
          "reconciliation": "period, measure, reason", "adjustments": "note_number",
          "adjustment_lines": "note_number, line_no"}
VIEWS = {"revenue_by_plan": "period, plan_id", "revenue_by_service_zone": "period, service, zone",
         "rejects_by_reason": "period, scope, reason", "late_usage_by_origin": "period, origin_period, service, zone"}


def jsonl(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").split("\n") if line]


def plain(value: Any) -> Any:
    """A value as both databases can be compared on: numbers as exact decimals, dates as text."""
    if isinstance(value, int | Decimal) and not isinstance(value, bool):
        return Decimal(value)
    if isinstance(value, str):
        try:
            return Decimal(value) if value.replace(".", "", 1).lstrip("-").isdigit() else value
        except ArithmeticError:
            return value
    return value if value is None else str(value)


def rows(url: str, sql: str) -> list[tuple[Any, ...]]:
    db = connect(url)
    try:
        return [tuple(plain(v) for v in row) for row in db.query(sql)]
    finally:
        db.close()


def dump(url: str, *, without: tuple[str, ...] = ()) -> dict[str, list[tuple[Any, ...]]]:
    return {t: rows(url, f"SELECT * FROM {t} ORDER BY {order}") for t, order in TABLES.items() if t not in without}


def load(*args: str) -> int:
    return main(["load", *args])


@pytest.fixture(scope="module")
def sqlite_url(demo: dict[str, Any]) -> str:
    return str(demo["out"] / "invoices" / DEFAULT_FILE)


@pytest.fixture(scope="module")
def postgres_url(demo: dict[str, Any], postgres: Server) -> str:
    """The demo's months loaded into PostgreSQL, as a user would with `telecom load --db URL`."""
    for period in PERIODS:
        assert load("--period", period, "--db", postgres.url(), "--invoices", str(demo["out"] / "invoices"),
                    "--rerating", str(demo["out"] / "rerating")) == 0
    return postgres.url()


def test_the_demo_loads_its_months_into_its_sqlite_file(demo: dict[str, Any], sqlite_url: str) -> None:
    assert f"results in SQL:  {sqlite_url}" in demo["stdout"]
    for period in PERIODS:
        folder = demo["out"] / "invoices" / f"period={period}"
        invoices = jsonl(folder / "invoices.jsonl")
        manifest = json.loads((folder / "manifest.json").read_text())
        [(status, count, total)] = rows(sqlite_url, f"SELECT status, invoices, total FROM periods WHERE period = '{period}'")
        assert (status, count, total) == ("final", len(invoices), Decimal(manifest["totals"]["total"]))
        by_plan = rows(sqlite_url, f"SELECT total FROM revenue_by_plan WHERE period = '{period}'")
        assert sum(total for (total,) in by_plan) == sum(Decimal(i["total"]) for i in invoices)  # exact, not a float
        assert rows(sqlite_url, f"SELECT COUNT(*) FROM invoice_lines WHERE period = '{period}'") == [
            (sum(len(i["lines"]) for i in invoices),)]
    notes = [n for f in (demo["out"] / "rerating").glob("period=2026-10/catalog=*/adjustments.jsonl") for n in jsonl(f)]
    assert notes and rows(sqlite_url, "SELECT COUNT(*) FROM adjustments") == [(len(notes),)]
    late = rows(sqlite_url, "SELECT origin_period, SUM(cdrs) FROM late_usage_by_origin GROUP BY origin_period")
    assert late and late[0][0] == "2026-10"
    # The rated CDRs, loaded from the demo's broker while it ran: those October billed, each once.
    october = json.loads((demo["out"] / "invoices" / "period=2026-10" / "reconciliation.json").read_text())
    charges = rows(sqlite_url, "SELECT charge FROM rated_cdrs WHERE period = '2026-10'")
    assert len(charges) == october["rated"]["billed"]
    assert sum(c for (c,) in charges) == Decimal(october["amounts"]["rated_charges"])


def test_postgresql_gives_the_same_answers_to_the_cent(sqlite_url: str, postgres_url: str) -> None:
    assert dump(postgres_url, without=("periods",)) == dump(sqlite_url, without=("periods",))
    period_columns = "SELECT period, status, catalog_version, currency, invoices, subtotal, tax, total FROM periods"
    assert rows(postgres_url, period_columns + " ORDER BY period") == rows(sqlite_url, period_columns + " ORDER BY period")
    for view, order in VIEWS.items():
        answer = rows(postgres_url, f"SELECT * FROM {view} ORDER BY {order}")
        assert answer and answer == rows(sqlite_url, f"SELECT * FROM {view} ORDER BY {order}"), view
    sql_rejects = dict(rows(postgres_url, "SELECT reason, count FROM rejects_by_reason "
                                          "WHERE period = '2026-10' AND scope = 'raw_run_rejected'"))
    folder_rejects = json.loads((Path(sqlite_url).parent / "period=2026-10" / "reconciliation.json").read_text())
    assert sql_rejects == {k: Decimal(v) for k, v in folder_rejects["raw"]["run"]["rejected_by_reason"].items()}


@pytest.fixture(scope="module")
def billed_from_files(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A month generated, rated by `telecom rate` and billed by `telecom bill --rated` (no topic)."""
    home = tmp_path_factory.mktemp("from-files")
    raw, rated = home / "raw.jsonl", home / "rated"
    assert main(["generate", "--count", "3000", "--out", str(raw), "--quiet"]) == 0
    assert main(["rate", "--input", str(raw), "--out", str(rated), "--now", "2026-11-01T00:00:00Z"]) == 0
    assert main(["bill", "--period", "2026-10", "--rated", str(rated / "rated.jsonl"), "--out",
                 str(home / "invoices")]) == 0
    return home


def test_rated_cdrs_go_in_bulk_the_same_into_both(billed_from_files: Path, postgres: Server) -> None:
    invoices, sqlite_url = billed_from_files / "invoices", str(billed_from_files / "cdrs.sqlite")
    postgres_url = postgres.new_database("from_files")
    for url in (sqlite_url, postgres_url):
        assert load("--period", "2026-10", "--db", url, "--invoices", str(invoices), "--with-cdrs", "--force") == 0
    rated = jsonl(billed_from_files / "rated" / "rated.jsonl")
    zone = ZoneInfo(json.loads((invoices / "period=2026-10" / "manifest.json").read_text())["timezone"])
    october = {r["cdr_id"] for r in rated
               if datetime.fromisoformat(r["event_time"]).astimezone(zone).strftime("%Y-%m") == "2026-10"}
    query = "SELECT cdr_id, msisdn, quantity, charge, roaming FROM rated_cdrs WHERE period = '2026-10' ORDER BY cdr_id"
    in_postgres = rows(postgres_url, query)
    assert {r[0] for r in in_postgres} == october
    assert [r[:4] for r in in_postgres] == [r[:4] for r in rows(sqlite_url, query)]
    assert {r[4] for r in in_postgres} <= {"True", "False"}  # a boolean in PostgreSQL


def test_a_final_period_is_left_as_it_is(demo: dict[str, Any], postgres_url: str) -> None:
    before = dump(postgres_url)
    args = ("--period", "2026-10", "--db", postgres_url, "--invoices", str(demo["out"] / "invoices"),
            "--rerating", str(demo["out"] / "rerating"))
    assert load(*args) == 0
    assert dump(postgres_url) == before  # `loaded_at` included
    assert load(*args, "--force") == 0  # replaced: the same rows, a new `loaded_at`
    assert dump(postgres_url, without=("periods",)) == {k: v for k, v in before.items() if k != "periods"}
    assert rows(postgres_url, "SELECT loaded_at FROM periods WHERE period = '2026-10'") != [
        r[-1:] for r in before["periods"] if r[0] == "2026-10"]


def _as_draft(final: Path, invoices_dir: Path, drop: int = 0) -> None:
    """A copy of a final period folder that says draft (and has `drop` invoices fewer)."""
    folder = invoices_dir / final.name
    shutil.rmtree(folder, ignore_errors=True)
    shutil.copytree(final, folder)
    manifest = json.loads((folder / "manifest.json").read_text())
    (folder / "manifest.json").write_text(json.dumps({**manifest, "status": "draft"}))
    invoices = [{**i, "status": "draft"} for i in jsonl(folder / "invoices.jsonl")]
    (folder / "invoices.jsonl").write_text("".join(json.dumps(i) + "\n" for i in invoices[drop:]))


def test_a_draft_is_replaced_and_a_final_replaces_it(demo: dict[str, Any], tmp_path: Path) -> None:
    final, url = demo["out"] / "invoices" / "period=2026-10", str(tmp_path / "results.sqlite")
    drafts = tmp_path / "drafts"
    base = ("--period", "2026-10", "--db", url, "--rerating", str(tmp_path / "none"))
    _as_draft(final, drafts)
    assert load(*base, "--invoices", str(drafts)) == 0
    count = rows(url, "SELECT COUNT(*) FROM invoices")[0][0]
    _as_draft(final, drafts, drop=3)
    assert load(*base, "--invoices", str(drafts)) == 0
    assert rows(url, "SELECT COUNT(*), MIN(status) FROM invoices") == [(count - 3, "draft")]
    assert load(*base, "--invoices", str(final.parent)) == 0
    assert rows(url, "SELECT COUNT(*), MIN(status) FROM invoices") == [(count, "final")]


def test_a_load_killed_mid_way_leaves_the_previous_state(demo: dict[str, Any], postgres: Server) -> None:
    url = postgres.new_database("killed")
    invoices = demo["out"] / "invoices"
    db = connect(url)
    migrate(db)
    db.close()
    before = dump(url)
    env = {**os.environ, "TELECOM_DB_URL": url}
    loader = subprocess.Popen([sys.executable, "-m", "telecom_billing", "load", "--period", "2026-10",
                               "--invoices", str(invoices)], env=env, stdout=subprocess.DEVNULL)
    watcher = psycopg.connect(url, autocommit=True)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and loader.poll() is None:
        writing = watcher.execute("SELECT count(*) FROM pg_stat_activity WHERE application_name = %s "
                                  "AND xact_start IS NOT NULL AND query ILIKE 'INSERT%%'", (APPLICATION,)).fetchone()
        if writing and writing[0]:
            loader.send_signal(signal.SIGKILL)
            break
        time.sleep(0.005)
    assert loader.wait(30) == -signal.SIGKILL, "the load ended before it could be killed mid-way"
    while watcher.execute("SELECT count(*) FROM pg_stat_activity WHERE application_name = %s",
                          (APPLICATION,)).fetchone() != (0,) and time.monotonic() < deadline:
        time.sleep(0.05)  # the server sees the connection closed and rolls its transaction back
    watcher.close()
    assert dump(url) == before
    assert load("--period", "2026-10", "--db", url, "--invoices", str(invoices)) == 0
    assert rows(url, "SELECT COUNT(*) FROM periods") == [(1,)]


def test_a_database_made_by_an_older_version_is_brought_up_to_date(demo: dict[str, Any], tmp_path: Path) -> None:
    url = str(tmp_path / "old.sqlite")
    db = connect(url)
    assert migrate(db, up_to=SCHEMA_VERSION - 1) == list(range(1, SCHEMA_VERSION))
    db.close()
    assert load("--period", "2026-10", "--db", url, "--invoices", str(demo["out"] / "invoices")) == 0
    assert rows(url, "SELECT MAX(version) FROM schema_migrations") == [(SCHEMA_VERSION,)]
    assert rows(url, "SELECT COUNT(*) FROM revenue_by_plan") != [(0,)]


def test_bad_input_is_one_line(demo: dict[str, Any], postgres: Server, tmp_path: Path,
                               capsys: pytest.CaptureFixture[str]) -> None:
    invoices = demo["out"] / "invoices"
    unpublished = tmp_path / "invoices" / "period=2026-10"
    unpublished.mkdir(parents=True)
    cases = [
        (("--period", "2031-01", "--invoices", str(invoices)), 2, "no period folder"),
        (("--period", "2026-13", "--invoices", str(invoices)), 2, "2026-13"),
        (("--period", "2026-10", "--invoices", str(tmp_path / "invoices")), 1, "has no _SUCCESS"),
        (("--period", "2026-10", "--invoices", str(invoices), "--db", f"postgresql://telecom:x@127.0.0.1:{free_port()}/b"),
         1, "cannot connect to postgresql://telecom:***@127.0.0.1"),
        (("--period", "2026-10", "--invoices", str(invoices), "--db", postgres.url(password="wrong")),
         1, "password authentication failed"),
        (("--period", "2026-10", "--invoices", str(invoices), "--db", "mysql://x/y"), 2, "expected a SQLite file"),
    ]
    for args, code, words in cases:
        assert load(*args) == code, args
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and words in err and "wrong" not in err.replace("--db", ""), err
    assert not (tmp_path / "invoices" / DEFAULT_FILE).exists(), "a refused load made a database"
