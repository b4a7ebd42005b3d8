"""The rated CDRs of a period for `telecom load --with-cdrs`: read from what the period was billed from
(the `cdr.rated` offsets or the rated JSONL files its manifest names), kept when their event falls in
the period (in the catalog's time zone, as billing decides), each `cdr_id` once (the first read)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from ..contracts.records import RATED_FIELDS
from ..contracts.schemas import FIELD
from ..errors import TelecomError
from ..infra.kafka_batch import read_values
from ..infra.settings import Settings

CDR_COLUMNS: tuple[str, ...] = tuple(name for name, _ in RATED_FIELDS if name != FIELD)
# Added by rated-cdr 1.1 (partial records): absent from a 1.0 record, which is whole.
_ADDED = {"partials", "incomplete", "missing", "last_missing"}
_MISSING = CDR_COLUMNS.index("missing")


def period_cdrs(settings: Settings, manifest: dict[str, Any]) -> Iterator[tuple[Any, ...]]:
    """Rows of `CDR_COLUMNS` (with the period first) of the CDRs `manifest`'s period billed from."""
    period, zone, seen = manifest["period"], ZoneInfo(manifest["timezone"]), set()
    for value in _values(settings, manifest["input"]):
        try:
            record = json.loads(value)
            fields = _columns(record)
            month = datetime.fromisoformat(record["event_time"]).astimezone(zone).strftime("%Y-%m")
        except (ValueError, TypeError, KeyError):
            continue  # not a rated CDR: billing reported it (reconciliation.json), it billed nothing
        if month != period or record["cdr_id"] in seen:
            continue
        seen.add(record["cdr_id"])
        yield (period, *fields)


def _columns(record: dict[str, Any]) -> tuple[Any, ...]:
    """The record's `CDR_COLUMNS` (`missing` as text: its sequences joined by `,`); KeyError or
    TypeError for what is not a rated CDR (its first column, `cdr_id`, is looked up first)."""
    values = [record.get(c) if c in _ADDED else record[c] for c in CDR_COLUMNS]
    missing = values[_MISSING]
    if missing is not None:
        values[_MISSING] = ",".join(str(s) for s in missing)
    return tuple(values)


def _values(settings: Settings, source: dict[str, Any]) -> Iterator[bytes | str]:
    if source["kind"] == "topics":
        rated = source["rated"]
        return read_values(settings, rated["topic"], {int(p): (r[0], r[1]) for p, r in rated["offsets"].items()})
    return (line for name in source["rated"] for line in _jsonl_lines(Path(name)))


def _jsonl_lines(path: Path) -> Iterator[str]:
    if path.suffix == ".parquet":
        raise TelecomError(f"--with-cdrs reads rated CDRs from JSONL files or the topic, not Parquet ({path})")
    try:
        with path.open(encoding="utf-8") as handle:
            yield from (line for line in handle if line.strip())
    except OSError as exc:
        raise TelecomError(f"{path}: cannot read the rated CDRs the period was billed from: {exc}") from None
