"""`telecom load`: a period folder (and the period's rerating notes) into the results database, in one
transaction (DESIGN.md 7e, docs/SQL.md).

The folder stays the source of truth; the database is its projection. A draft's rows are replaced
by each load. A final period already loaded as final is left as it is, row for row (its
`loaded_at` included), unless `force`; its notes are loaded again, since a rerating adds notes to a
final month without changing its invoices.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from ..billing.folder import (
    ADJUSTMENTS_FILE,
    INVOICES_FILE,
    MANIFEST_FILE,
    RECONCILIATION_FILE,
    SUCCESS_FILE,
    period_dir,
)
from ..billing.live import FINAL
from ..billing.period import Period
from ..errors import TelecomError, UsageError
from .cdrs import CDR_COLUMNS
from .database import Database
from .schema import migrate

PERIOD_COLUMNS = ("period", "status", "catalog_version", "currency", "invoices", "subtotal", "tax", "total",
                  "loaded_at")
INVOICE_COLUMNS = ("invoice_number", "period", "status", "period_start", "period_end", "msisdn", "name", "address",
                   "plan_id", "activation_date", "termination_date", "active_days", "days_in_period", "currency",
                   "catalog_version", "recurring", "usage", "late_usage", "subtotal", "tax_rate", "tax", "total")
LINE_COLUMNS = ("type", "service", "zone", "quantity", "billable_units", "included_units", "amount", "cdr_count",
                "origin_period", "assembled_cdrs", "incomplete_cdrs")
# What an invoice 1.0's lines lack: it was written before partial records, none of its CDRs assembled.
LINE_DEFAULTS = {"assembled_cdrs": 0, "incomplete_cdrs": 0}
NOTE_COLUMNS = ("note_number", "period", "type", "invoice_number", "msisdn", "name", "address", "plan_id", "currency",
                "final_catalog_version", "catalog_version", "subtotal", "tax_rate", "tax", "total", "final_total",
                "new_total")
NOTE_LINE_COLUMNS = ("type", "service", "zone", "final_amount", "new_amount", "amount")


@dataclass(frozen=True)
class LoadReport:
    period: str
    status: str
    what: str  # loaded, replaced, or kept (a final already loaded)
    invoices: int
    lines: int
    notes: int
    where: str
    cdrs: int | None = None  # rated CDRs loaded (`with_cdrs`)

    def summary(self) -> str:
        if self.what == "kept":
            return (f"period {self.period} is final and already loaded: left as it is "
                    f"({self.notes:,} notes loaded) in {self.where}")
        cdrs = "" if self.cdrs is None else f", {self.cdrs:,} rated CDRs"
        return (f"period {self.period} ({self.status}) {self.what}: {self.invoices:,} invoices, {self.lines:,} lines, "
                f"{self.notes:,} notes{cdrs} in {self.where}")


def load_period(db: Database, folder: Path, rerating_dir: Path, period: Period, force: bool = False,
                cdrs: Callable[[dict[str, Any]], Iterable[Sequence[Any]]] | None = None) -> LoadReport:
    """Load `period` from its published `folder` (`published_folder`) and its notes under `rerating_dir`;
    with `cdrs` (the manifest -> rows of `rated_cdrs`), its rated CDRs too (replaced at every load)."""
    manifest = _json(folder / MANIFEST_FILE)
    invoices = list(_jsonl(folder / INVOICES_FILE))
    notes = [n for f in sorted((rerating_dir / f"period={period.label}").glob(f"catalog=*/{ADJUSTMENTS_FILE}"))
             if (f.parent / SUCCESS_FILE).is_file() for n in _jsonl(f)]
    migrate(db)
    with db.transaction():
        before = db.query("SELECT status FROM periods WHERE period = ?", (period.label,))
        kept = bool(before) and before[0][0] == FINAL and manifest["status"] == FINAL and not force
        if not kept:
            _delete_period(db, period.label)
            _insert_period(db, manifest, invoices, _json(folder / RECONCILIATION_FILE))
        _replace_notes(db, period.label, notes)
        loaded = None if cdrs is None else _replace_cdrs(db, period.label, cdrs(manifest))
    what = "kept" if kept else ("replaced" if before else "loaded")
    return LoadReport(period.label, manifest["status"], what, len(invoices),
                      sum(len(i["lines"]) for i in invoices), len(notes), db.where, loaded)


def _replace_cdrs(db: Database, period: str, rows: Iterable[Sequence[Any]]) -> int:
    db.execute("DELETE FROM rated_cdrs WHERE period = ?", (period,))
    counted = _Counted(rows)
    db.bulk_insert("rated_cdrs", ("period", *CDR_COLUMNS), counted)
    return counted.n


class _Counted:
    """An iterable that counts what it yields (rows stream into the database; nothing is held)."""

    def __init__(self, rows: Iterable[Sequence[Any]]) -> None:
        self.rows, self.n = rows, 0

    def __iter__(self) -> Iterator[Sequence[Any]]:
        for row in self.rows:
            self.n += 1
            yield row


def published_folder(invoices_dir: Path, period: Period) -> Path:
    folder = period_dir(invoices_dir, period)
    if not folder.is_dir():
        raise UsageError(f"no period folder {folder}: bill {period.label} first (telecom bill --period {period.label})")
    if not (folder / SUCCESS_FILE).is_file():
        raise TelecomError(f"{folder} has no {SUCCESS_FILE}: it is not a published period folder")
    return folder


def _json(path: Path) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise TelecomError(f"{path}: cannot read it: {exc}") from None


def _jsonl(path: Path) -> Iterator[dict[str, Any]]:
    try:
        with path.open(encoding="utf-8") as handle:
            yield from (json.loads(line) for line in handle if line.strip())
    except (OSError, ValueError) as exc:
        raise TelecomError(f"{path}: cannot read it: {exc}") from None


def _delete_period(db: Database, period: str) -> None:
    for table in ("invoice_lines", "invoices", "reconciliation"):
        db.execute(f"DELETE FROM {table} WHERE period = ?", (period,))
    db.execute("DELETE FROM periods WHERE period = ?", (period,))


def _insert_period(db: Database, manifest: dict[str, Any], invoices: list[dict[str, Any]],
                   reconciliation: dict[str, Any]) -> None:
    totals, period = manifest["totals"], manifest["period"]
    loaded_at = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    db.insert_many("periods", PERIOD_COLUMNS,
                   [(period, manifest["status"], manifest["catalog_version"], manifest["currency"],
                     manifest["counts"]["invoices"], totals["subtotal"], totals["tax"], totals["total"], loaded_at)])
    db.insert_many("invoices", INVOICE_COLUMNS, [[i[c] for c in INVOICE_COLUMNS] for i in invoices])
    db.insert_many("invoice_lines", ("invoice_number", "line_no", "period", *LINE_COLUMNS),
                   [(i["invoice_number"], n, period, *({**LINE_DEFAULTS, **line}.get(c) for c in LINE_COLUMNS))
                    for i in invoices for n, line in enumerate(i["lines"])])
    db.insert_many("reconciliation", ("period", "measure", "reason", "count", "amount"),
                   [(period, *row) for row in reconciliation_rows(reconciliation)])


def _replace_notes(db: Database, period: str, notes: list[dict[str, Any]]) -> None:
    db.execute("DELETE FROM adjustment_lines WHERE note_number IN "
               "(SELECT note_number FROM adjustments WHERE period = ?)", (period,))
    db.execute("DELETE FROM adjustments WHERE period = ?", (period,))
    db.insert_many("adjustments", NOTE_COLUMNS, [[n[c] for c in NOTE_COLUMNS] for n in notes])
    db.insert_many("adjustment_lines", ("note_number", "line_no", *NOTE_LINE_COLUMNS),
                   [(n["note_number"], i, *(line.get(c) for c in NOTE_LINE_COLUMNS))
                    for n in notes for i, line in enumerate(n["lines"])])


def reconciliation_rows(report: dict[str, Any]) -> list[tuple[str, str, int | None, str | None]]:
    """reconciliation.json as (measure, reason, count, amount) rows: a count per measure, one row per
    reason code of the rejected and recycled counts (`reason` is '' elsewhere; for late usage it is
    the origin period), and the money trail as amounts."""
    rows: list[tuple[str, str, int | None, str | None]] = []
    raw = report.get("raw") or {}
    for scope in ("run", "period") if raw else ():
        for key, value in raw[scope].items():
            if isinstance(value, dict):
                rows += [(f"raw_{scope}_{key.removesuffix('_by_reason')}", reason, count, None)
                         for reason, count in sorted(value.items())]
            else:
                rows.append((f"raw_{scope}_{key}", "", int(value), None))
    if raw:
        rows.append(("raw_orphans", "", raw["orphans"], None))
    rows += [(f"rated_{key}", "", value, None) for key, value in report["rated"].items()]
    rows += [(f"amount_{key}", "", None, value) for key, value in report["amounts"].items()
             if isinstance(value, str) and key != "currency"]
    late = report.get("late_billed") or {}
    rows += [(f"late_{key}", "", value, None) for key, value in late.items() if isinstance(value, int)]
    rows += [(f"late_{key}", "", None, value) for key, value in late.items() if isinstance(value, str)]
    rows += [("late_by_origin_period", origin, count, None)
             for origin, count in sorted(late.get("by_origin_period", {}).items())]
    rows += [("invoices", "", report["invoices"], None), ("unexplained_total", "", report["unexplained_total"], None)]
    return rows
