"""The period folder's layout and its atomic publication (docs/BILLING.md section 6).

Everything is written into a hidden sibling folder and renamed into place at the end, so a reader
sees either no folder, or a whole one. Used for the period folders (`invoices.write_contents`
fills them) and the rerating folders (`jobs/corrections.py`).
"""

from __future__ import annotations

import hashlib
import os
import shutil
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

from ..errors import TelecomError
from .period import Period

INVOICES_FILE = "invoices.jsonl"
SUMMARY_FILE = "summary.csv"
LINES_FILE = "lines.parquet"
MANIFEST_FILE = "manifest.json"
RECONCILIATION_FILE = "reconciliation.json"
SUCCESS_FILE = "_SUCCESS"
BILLED_CDRS_FILE = "billed_cdrs.parquet"  # final periods only
HTML_DIR = "html"
# A rerating folder's (DESIGN.md 7b, jobs/corrections.py); `telecom load` reads the notes.
ADJUSTMENTS_FILE = "adjustments.jsonl"


def period_dir(out: Path, period: Period) -> Path:
    return out / f"period={period.label}"


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def file_checksums(folder: Path) -> dict[str, dict[str, Any]]:
    """Every file under `folder` except the manifest and `_SUCCESS`: relative path -> size and sha256."""
    out: dict[str, dict[str, Any]] = {}
    for path in sorted(p for p in folder.rglob("*") if p.is_file()):
        name = path.relative_to(folder).as_posix()
        if name in (MANIFEST_FILE, SUCCESS_FILE):
            continue
        out[name] = {"bytes": path.stat().st_size, "sha256": sha256_file(path)}
    return out


def write_period(out: Path, period: Period, force: bool, fill: Callable[[Path], None]) -> tuple[Path, str]:
    """Let `fill(folder)` write the period into a temporary sibling folder, add `_SUCCESS`, then move
    it into place.

    Returns the period folder and what happened: `written`, `replaced` (with `force`),
    `confirmed` (with `force`: the data files were already identical, only `manifest.json` is
    replaced, so the folder says which run last confirmed it) or `unchanged` (an identical period
    was already there and is not replaceable; it is left byte for byte as it was).
    """
    return write_folder(period_dir(out, period), force, fill)


def write_folder(final: Path, force: bool, fill: Callable[[Path], None]) -> tuple[Path, str]:
    """`write_period` for any folder: filled in a temporary sibling, `_SUCCESS` added, renamed in."""
    final.parent.mkdir(parents=True, exist_ok=True)
    temporary = final.parent / f".{final.name}.tmp-{uuid.uuid4().hex[:12]}"
    temporary.mkdir()
    try:
        fill(temporary)
        (temporary / SUCCESS_FILE).write_bytes(b"")
        return final, _publish(temporary, final, force)
    finally:
        if temporary.exists():
            shutil.rmtree(temporary)


def _publish(temporary: Path, final: Path, force: bool) -> str:
    if not final.exists():
        try:
            os.rename(temporary, final)
        except OSError as exc:
            raise TelecomError(f"cannot move the new period into {final}: {exc.strerror}") from None
        return "written"
    if _same_output(final, temporary):
        if not force:
            return "unchanged"
        os.replace(temporary / MANIFEST_FILE, final / MANIFEST_FILE)  # one file, atomically
        return "confirmed"
    if not force:
        raise TelecomError(f"{final} already exists with a different output; "
                           "re-run with --force to replace it")
    retired = final.parent / f".{final.name}.old-{uuid.uuid4().hex[:12]}"
    os.rename(final, retired)
    os.rename(temporary, final)
    shutil.rmtree(retired, ignore_errors=True)
    return "replaced"


def _same_output(existing: Path, new: Path) -> bool:
    """Same files with the same bytes, apart from the manifest (which records the input's offsets)."""
    if not (existing / SUCCESS_FILE).is_file():
        return False
    return file_checksums(existing) == file_checksums(new)
