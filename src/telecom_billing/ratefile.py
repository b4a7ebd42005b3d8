"""The file driver: `telecom rate` runs the streaming job's transformation on a JSONL file."""

from __future__ import annotations

import shutil
import tempfile
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

from pyspark.sql import functions as F

from . import money
from .contracts import schemas
from .contracts.records import DUPLICATE, MERGED, RATED, REJECTED
from .errors import UsageError
from .infra.atomic import replacing, write_json
from .infra.settings import Settings
from .infra.spark import create_spark
from .output import rated_json, rejected_json
from .pipeline import file_frame, rate_batch, session_counts
from .refdata.catalog import load_catalog
from .refdata.subscribers import load_subscribers


@dataclass(frozen=True)
class RateFileReport:
    raw: int
    rated: int
    rejected_by_reason: dict[str, int]
    duplicate: int
    merged: int
    # Assembled CDRs of partial records (DESIGN.md 7c): "complete" and "incomplete" sessions.
    sessions: dict[str, int]
    charge_total: Decimal
    currency: str

    @property
    def rejected(self) -> int:
        return sum(self.rejected_by_reason.values())

    @property
    def unexplained(self) -> int:
        return self.raw - self.rated - self.rejected - self.duplicate - self.merged

    def as_json(self) -> dict[str, Any]:
        return {
            schemas.FIELD: schemas.RATE_SUMMARY,
            "raw": self.raw,
            "rated": self.rated,
            "rejected": self.rejected,
            "rejected_by_reason": dict(sorted(self.rejected_by_reason.items())),
            "duplicate": self.duplicate,
            "merged": self.merged,
            "sessions": self.sessions,
            "unexplained": self.unexplained,
            "rated_charge_total": f"{self.charge_total}",
            "currency": self.currency,
        }


def _write_single_text(df: Any, target: Path) -> None:
    """Write a one-column string DataFrame (already ordered) as one text file, atomically."""
    with tempfile.TemporaryDirectory(dir=target.parent, prefix=".spark-") as tmp:
        out = Path(tmp) / "out"
        df.coalesce(1).write.option("lineSep", "\n").text(str(out))
        parts = sorted(out.glob("part-*"))
        with replacing(target) as staging, open(staging, "wb") as sink:
            for part in parts:
                with open(part, "rb") as source:
                    shutil.copyfileobj(source, sink)


def rate_file(settings: Settings, input_path: Path, out_dir: Path, catalog_path: Path, subscribers_path: Path,
              now: datetime) -> RateFileReport:
    if not input_path.exists():
        raise UsageError(f"input not found: {input_path}")
    catalog = load_catalog(catalog_path)
    subscribers = load_subscribers(subscribers_path)
    out_dir.mkdir(parents=True, exist_ok=True)
    spark = create_spark(settings, "telecom-rate")
    raw = file_frame(spark, str(input_path)).persist()
    outcome = rate_batch(spark, raw, catalog, subscribers, now).persist()
    rated = outcome.where(F.col("outcome") == RATED)
    rejected = outcome.where(F.col("outcome") == REJECTED)
    _write_single_text(rated.orderBy("offset").select(rated_json().alias("value")), out_dir / "rated.jsonl")
    _write_single_text(rejected.orderBy("offset").select(rejected_json().alias("value")), out_dir / "rejected.jsonl")
    by_reason = {r["reason"]: r["count"] for r in rejected.groupBy("reason").count().collect()}
    charges = money.units_decimal(F.col("charge_units"), catalog.rounding_decimals)
    totals = rated.agg(F.count(F.lit(1)).alias("n"), F.sum(charges).alias("charge")).collect()[0]
    counts = {r["outcome"]: r["count"] for r in outcome.groupBy("outcome").count().collect()}
    report = RateFileReport(
        raw=raw.count(), rated=int(totals["n"]), rejected_by_reason=by_reason,
        duplicate=counts.get(DUPLICATE, 0), merged=counts.get(MERGED, 0), sessions=session_counts(outcome),
        charge_total=(totals["charge"] or Decimal(0)).quantize(Decimal(1).scaleb(-catalog.rounding_decimals)),
        currency=catalog.currency,
    )
    write_json(out_dir / "reconciliation.json", report.as_json())
    outcome.unpersist()
    raw.unpersist()
    return report
