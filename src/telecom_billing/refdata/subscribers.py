"""The subscriber base (DESIGN.md section 5): `data/subscribers.csv` read into typed records."""

from __future__ import annotations

import csv
import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date
from itertools import pairwise
from pathlib import Path
from typing import TYPE_CHECKING

from ..errors import TelecomError

if TYPE_CHECKING:
    from pyspark.sql import Column

COLUMNS: tuple[str, ...] = ("msisdn", "name", "address", "plan_id", "activation_date", "termination_date")
_MSISDN = re.compile(r"[1-9][0-9]{7,14}")
_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")


class SubscriberError(TelecomError):
    """The subscriber file is missing or has a bad row; the message names the file and line."""


@dataclass(frozen=True)
class Subscriber:
    msisdn: str
    name: str
    address: str
    plan_id: str
    activation_date: date
    termination_date: date | None = None


def active_on(day: Column, activation: Column, termination: Column) -> Column:
    """Active on local date `day`: activation <= day < termination (a null termination: still active)."""
    return (day >= activation) & (termination.isNull() | (day < termination))


def load_subscribers(path: str | Path) -> list[Subscriber]:
    """Read the CSV; refuse bad rows and numbers with overlapping active periods."""
    path = Path(path)
    try:
        with path.open(newline="", encoding="utf-8") as handle:
            reader = csv.DictReader(handle)
            missing = [c for c in COLUMNS if c not in (reader.fieldnames or [])]
            if missing:
                raise SubscriberError(f"{path}: line 1: missing column(s) {', '.join(missing)}")
            subscribers = []
            for row in reader:
                subscribers.append(_parse_row(row, f"{path}: line {reader.line_num}"))
    except FileNotFoundError:
        raise SubscriberError(f"{path}: subscriber file not found") from None
    except UnicodeDecodeError:
        raise SubscriberError(f"{path}: not UTF-8 text") from None
    except csv.Error as exc:
        raise SubscriberError(f"{path}: not a valid CSV file: {exc}") from None
    _check_overlaps(subscribers, path)
    return subscribers


def write_subscribers(path: str | Path, subscribers: Iterable[Subscriber]) -> None:
    """Write the CSV with a stable column order and `\\n` line endings."""
    with Path(path).open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle, lineterminator="\n")
        writer.writerow(COLUMNS)
        for s in subscribers:
            writer.writerow(
                (
                    s.msisdn,
                    s.name,
                    s.address,
                    s.plan_id,
                    s.activation_date.isoformat(),
                    s.termination_date.isoformat() if s.termination_date else "",
                )
            )


def _parse_row(row: dict[str | None, str | list[str] | None], where: str) -> Subscriber:
    if None in row:
        raise SubscriberError(f"{where}: more values than columns")
    values = {column: row.get(column) for column in COLUMNS}
    if any(values[c] is None for c in COLUMNS if c != "termination_date"):
        raise SubscriberError(f"{where}: fewer values than columns")
    msisdn = str(values["msisdn"]).strip()
    if not _MSISDN.fullmatch(msisdn):
        raise SubscriberError(f"{where}: msisdn must be 8 to 15 E.164 digits without '+', got {msisdn!r}")
    plan_id = str(values["plan_id"]).strip()
    if not plan_id:
        raise SubscriberError(f"{where}: plan_id is empty")
    activation = _parse_date(str(values["activation_date"]), "activation_date", where)
    termination_text = str(values["termination_date"] or "").strip()
    termination = _parse_date(termination_text, "termination_date", where) if termination_text else None
    if termination is not None and termination <= activation:
        raise SubscriberError(f"{where}: termination_date {termination} must be after activation_date {activation}")
    return Subscriber(
        msisdn=msisdn,
        name=str(values["name"]),
        address=str(values["address"]),
        plan_id=plan_id,
        activation_date=activation,
        termination_date=termination,
    )


def _parse_date(text: str, column: str, where: str) -> date:
    text = text.strip()
    try:
        if not _DATE.fullmatch(text):
            raise ValueError
        return date.fromisoformat(text)
    except ValueError:
        raise SubscriberError(f"{where}: {column} must be a date YYYY-MM-DD, got {text!r}") from None


def _check_overlaps(subscribers: list[Subscriber], path: Path) -> None:
    """One MSISDN may be recycled, but never active for two subscribers on the same day."""
    by_msisdn: dict[str, list[Subscriber]] = {}
    for s in subscribers:
        by_msisdn.setdefault(s.msisdn, []).append(s)
    for msisdn, periods in by_msisdn.items():
        periods.sort(key=lambda s: s.activation_date)
        for earlier, later in pairwise(periods):
            if earlier.termination_date is None or earlier.termination_date > later.activation_date:
                raise SubscriberError(
                    f"{path}: msisdn {msisdn} has overlapping active periods "
                    f"(from {earlier.activation_date} and from {later.activation_date})"
                )
