"""Billing a live system (DESIGN.md section 7a, docs/BILLING.md "Drafts, finals and late CDRs").

A bill run has a clock, its `as_of` instant. Before the period's cut-off it writes a draft; from
the cut-off on, a final. The final periods already written form the ledger a final run reads: the
`cdr.rated` offsets each final took in tell which rated CDRs of a final period are *late* (found
beyond them), and each final's `billed_cdrs.parquet` tells which `cdr_id`s were billed already
(the Spark side of that rule is `late.py`).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

from ..errors import UsageError
from ..refdata.catalog import Catalog
from .folder import BILLED_CDRS_FILE, MANIFEST_FILE, SUCCESS_FILE
from .period import Period

DRAFT = "draft"
FINAL = "final"


def start_of_local_day(day: date, timezone: str) -> datetime:
    """The first instant of local day `day` (DST-aware: where midnight is skipped, the day starts at
    the end of the gap), in UTC."""
    midnight = datetime(day.year, day.month, day.day, tzinfo=ZoneInfo(timezone))
    return midnight.astimezone(UTC)


def period_end(period: Period, catalog: Catalog) -> datetime:
    """E: the first instant of the next month in the catalog's time zone."""
    return start_of_local_day(period.next_first_day, catalog.timezone)


def cutoff(period: Period, catalog: Catalog) -> datetime:
    """C: the start of the local day `grace_days` calendar days after E."""
    return start_of_local_day(period.next_first_day + timedelta(days=catalog.grace_days), catalog.timezone)


def parse_as_of(text: str | None) -> datetime:
    """`--as-of`: an ISO-8601 instant with its UTC offset (`Z` allowed); None is now."""
    if text is None:
        return datetime.now(UTC)
    try:
        instant = datetime.fromisoformat(text)
    except ValueError:
        raise UsageError(f"--as-of must be an ISO-8601 instant such as 2026-12-04T00:00:00+01:00, got {text!r}") \
            from None
    if instant.tzinfo is None:
        raise UsageError(f"--as-of needs a UTC offset (e.g. {text}Z or {text}+01:00), got {text!r}")
    return instant.astimezone(UTC)


def status_at(period: Period, catalog: Catalog, as_of: datetime) -> str:
    return FINAL if as_of >= cutoff(period, catalog) else DRAFT


def instant_text(instant: datetime) -> str:
    return instant.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


# -- the ledger of final periods ---------------------------------------------------------------------


@dataclass(frozen=True)
class FinalPeriod:
    """A final period folder billed from the topic: the `cdr.rated` offsets its run took in."""

    period: Period
    folder: Path
    rated_offsets: dict[int, int]  # partition -> the first offset beyond its snapshot

    @property
    def billed_cdrs(self) -> Path:
        return self.folder / BILLED_CDRS_FILE


def folder_status(folder: Path) -> str | None:
    """The status in a published period folder's manifest (None: no such folder)."""
    manifest = folder / MANIFEST_FILE
    if not (folder / SUCCESS_FILE).is_file() or not manifest.is_file():
        return None
    return str(json.loads(manifest.read_text(encoding="utf-8")).get("status", FINAL))


def final_periods(out: Path, rated_topic: str) -> list[FinalPeriod]:
    """The final periods under `out` that were billed from `rated_topic`, in period order."""
    finals = []
    for manifest in sorted(out.glob("period=*/" + MANIFEST_FILE)):
        folder = manifest.parent
        if folder_status(folder) != FINAL:
            continue
        document = json.loads(manifest.read_text(encoding="utf-8"))
        source = document.get("input", {})
        if source.get("kind") != "topics" or source.get("rated", {}).get("topic") != rated_topic:
            continue
        offsets = {int(p): after for p, (_, after) in source["rated"]["offsets"].items()}
        finals.append(FinalPeriod(Period.parse(document["period"]), folder, offsets))
    return finals


def snapshot_offsets(folder: Path) -> dict[str, dict[int, tuple[int, int]]]:
    """The topic offsets a period folder's run read (`rated`, and `raw`/`rejected` when it read them)."""
    source = json.loads((folder / MANIFEST_FILE).read_text(encoding="utf-8")).get("input", {})
    return {name: {int(p): (first, after) for p, (first, after) in source[name]["offsets"].items()}
            for name in ("rated", "raw", "rejected") if isinstance(source.get(name), dict)}


def taken_in(finals: list[FinalPeriod]) -> dict[int, int]:
    """Per partition of `cdr.rated`, the offset below which every record was seen by a final run."""
    high: dict[int, int] = {}
    for final in finals:
        for partition, after in final.rated_offsets.items():
            high[partition] = max(high.get(partition, 0), after)
    return high
