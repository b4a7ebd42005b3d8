"""Loading billing periods into the results database: what `telecom load`, `telecom bill` (with
`TELECOM_DB_URL`) and the demo call."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from ..billing.folder import SUCCESS_FILE, period_dir
from ..billing.period import Period
from ..infra.settings import Settings
from ..results.cdrs import period_cdrs
from ..results.database import connect, default_file
from ..results.load import LoadReport, load_period, published_folder


def load_into_database(settings: Settings, invoices_dir: Path, rerating_dir: Path, period: Period,
                       force: bool = False, with_cdrs: bool = False) -> LoadReport:
    """Load `period` into `settings.db_url`, or the SQLite file beside the period folders; with
    `with_cdrs`, its rated CDRs too, read from what it was billed from (the topic or the files)."""
    folder = published_folder(invoices_dir, period)  # before connecting: a refused load makes no database
    db = connect(settings.db_url or str(default_file(invoices_dir)))
    cdrs = (lambda manifest: period_cdrs(settings, manifest)) if with_cdrs else None
    try:
        return load_period(db, folder, rerating_dir, period, force, cdrs)
    finally:
        db.close()


def load_if_configured(settings: Settings, invoices_dir: Path, rerating_dir: Path, period: Period, force: bool,
                       say: Callable[[str], None]) -> LoadReport | None:
    """After a billing or rerating run: the period into `TELECOM_DB_URL` when one is set (and the
    period has a published folder: rerating a month never billed leaves nothing to load)."""
    if not settings.db_url or not (period_dir(invoices_dir, period) / SUCCESS_FILE).is_file():
        return None
    report = load_into_database(settings, invoices_dir, rerating_dir, period, force)
    say(f"  {report.summary()}")
    return report
