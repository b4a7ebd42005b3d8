"""DESIGN.md section 7a on the clock: the cut-off (DST-aware), draft or final, `--as-of`, and which
periods a scheduled run bills. Pure Python: no Spark, no broker."""

from __future__ import annotations

import dataclasses
import json
from datetime import UTC, datetime
from pathlib import Path

import pytest

from telecom_billing.billing.live import DRAFT, FINAL, cutoff, parse_as_of, period_end, status_at
from telecom_billing.billing.period import Period
from telecom_billing.errors import UsageError
from telecom_billing.jobs.billing import due_periods
from telecom_billing.refdata.catalog import Catalog


def in_zone(catalog: Catalog, timezone: str, grace_days: int = 3) -> Catalog:
    return dataclasses.replace(catalog, timezone=timezone, grace_days=grace_days)


def test_shipped_catalog_has_three_grace_days(catalog: Catalog) -> None:
    assert catalog.grace_days == 3


@pytest.mark.parametrize(("timezone", "period", "grace", "expected_end", "expected_cutoff"), [
    # Casablanca is UTC+1 in late 2026: the local midnight of Nov 1 and of Nov 4.
    ("Africa/Casablanca", Period(2026, 10), 3, "2026-10-31T23:00:00+00:00", "2026-11-03T23:00:00+00:00"),
    # Paris leaves summer time on Oct 25: the cut-off is in winter time (UTC+1), the end too.
    ("Europe/Paris", Period(2026, 10), 3, "2026-10-31T23:00:00+00:00", "2026-11-03T23:00:00+00:00"),
    # Paris enters summer time on Mar 29: the end of February is UTC+1, March's cut-off UTC+2.
    ("Europe/Paris", Period(2026, 3), 3, "2026-03-31T22:00:00+00:00", "2026-04-03T22:00:00+00:00"),
    # Santiago skips local midnight on 2026-09-06 (00:00 -04 -> 01:00 -03): that day starts at 04:00Z.
    ("America/Santiago", Period(2026, 8), 5, "2026-09-01T04:00:00+00:00", "2026-09-06T04:00:00+00:00"),
    # No grace: the cut-off is the end of the period; December rolls into the next year.
    ("UTC", Period(2026, 12), 0, "2027-01-01T00:00:00+00:00", "2027-01-01T00:00:00+00:00"),
])
def test_end_and_cutoff_are_local_midnights(catalog: Catalog, timezone: str, period: Period, grace: int,
                                            expected_end: str, expected_cutoff: str) -> None:
    zoned = in_zone(catalog, timezone, grace)
    assert period_end(period, zoned).isoformat() == expected_end
    assert cutoff(period, zoned).isoformat() == expected_cutoff


def test_draft_until_the_cutoff_and_final_from_it(catalog: Catalog) -> None:
    zoned = in_zone(catalog, "Africa/Casablanca")
    october = Period(2026, 10)
    assert status_at(october, zoned, parse_as_of("2026-11-04T00:00:00+01:00")) == FINAL
    assert status_at(october, zoned, parse_as_of("2026-11-03T23:59:59+01:00")) == DRAFT
    assert status_at(october, zoned, parse_as_of("2026-10-15T12:00:00Z")) == DRAFT


def test_as_of_needs_an_offset(catalog: Catalog) -> None:
    assert parse_as_of("2026-11-04T00:00:00Z") == datetime(2026, 11, 4, tzinfo=UTC)
    with pytest.raises(UsageError, match="needs a UTC offset"):
        parse_as_of("2026-11-04T00:00:00")
    with pytest.raises(UsageError, match="ISO-8601"):
        parse_as_of("yesterday")
    assert parse_as_of(None).tzinfo is not None


def _final_folder(out: Path, label: str) -> None:
    folder = out / f"period={label}"
    folder.mkdir(parents=True)
    (folder / "manifest.json").write_text(json.dumps({"period": label, "status": "final"}), encoding="utf-8")
    (folder / "_SUCCESS").write_bytes(b"")


def test_due_periods_skip_finals_and_the_future(tmp_path: Path) -> None:
    _final_folder(tmp_path, "2026-09")
    known = [Period(2026, 9), Period(2026, 10), Period(2027, 1)]  # a CDR of the future is not billed yet
    due = due_periods(known, Period(2026, 11), tmp_path)
    assert [p.label for p in due] == ["2026-10", "2026-11"]
