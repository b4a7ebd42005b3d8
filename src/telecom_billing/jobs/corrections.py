"""The corrections services (DESIGN.md section 7b): `rerate_period` and `recycle_rejected`."""

from __future__ import annotations

import csv
import io
import json
import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING, Any
from uuid import uuid4

from pyspark.sql import functions as F

from ..billing import live
from ..billing.charges import rated_files
from ..billing.folder import ADJUSTMENTS_FILE, INVOICES_FILE, MANIFEST_FILE, period_dir, write_folder
from ..billing.invoices import collect, dumps
from ..billing.job import bill
from ..billing.period import Period
from ..contracts import schemas
from ..contracts.chains import RECYCLE_RUN, RECYCLED_FROM
from ..contracts.reasons import Reason
from ..corrections import rerate as rr
from ..corrections.adjustments import notes
from ..corrections.recycle import eligible
from ..corrections.report import render_notes, render_rerate_report
from ..corrections.rerate import as_billing_input, parse_rated_records
from ..errors import UsageError
from ..infra.atomic import write_json
from ..infra.kafka_batch import read_topic, topic_offsets
from ..infra.settings import Settings
from ..mediation.timestamps import local_time
from ..producer import send_with_headers
from ..refdata.catalog import load_catalog
from ..refdata.subscribers import load_subscribers
from .billing import offsets_json, rejected_frame
from .results import load_if_configured

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession

    from ..refdata.catalog import Catalog

Say = Callable[[str], None]
CHANGES_FILE = "changes.jsonl"
SUMMARY_FILE = "summary.csv"
NOTES_DIR = "notes"
SUMMARY_COLUMNS = ("msisdn", "cdrs", "changed", "old", "new", "delta")
_SAFE_NAME = re.compile(r"[A-Za-z0-9_.-]+")


@dataclass(frozen=True)
class RerateRequest:
    period: Period
    catalog: Path  # the new catalog
    out: Path  # rerating root: the result goes to OUT/period=P/catalog=<version>
    invoices: Path  # where the period folders are (to find a final one)
    rated: Path | None = None  # files instead of the topic
    subscribers: Path | None = None
    force: bool = False


@dataclass
class RerateResult:
    folder: Path
    what: str
    changes: int
    cdrs: int
    notes: list[dict[str, Any]]
    final: bool


def rerated_input(spark: SparkSession, settings: Settings, request: RerateRequest,
                  final: live.FinalPeriod | None) -> tuple[DataFrame, dict[str, Any]]:
    """The rated records to rerate, and how to say where they came from: the files, or the topic (up
    to what the final took in, when the period is final)."""
    if request.rated is not None:
        files = rated_files(request.rated)
        if any(f.suffix == ".parquet" for f in files):
            raise UsageError(f"--rated {request.rated}: rerating reads rated JSONL (every field of the record)")
        return (parse_rated_records(spark.read.text([str(f) for f in files])),
                {"kind": "files", "rated": [str(f) for f in files]})
    offsets = live.snapshot_offsets(final.folder)["rated"] if final else topic_offsets(settings, settings.topic_rated)
    frame = read_topic(spark, settings, settings.topic_rated, offsets)
    return (parse_rated_records(frame, keep=("partition", "offset")),
            {"kind": "topics", "rated": {"topic": settings.topic_rated, "offsets": offsets_json(offsets)}})


def _final_folder(request: RerateRequest, settings: Settings) -> live.FinalPeriod | None:
    """The period's final folder, when there is one (billed from the topic, or from files)."""
    folder = period_dir(request.invoices, request.period)
    if live.folder_status(folder) != live.FINAL:
        return None
    found = [f for f in live.final_periods(request.invoices, settings.topic_rated) if f.period == request.period]
    return found[0] if found else live.FinalPeriod(request.period, folder, {})


def _check_currency(rated: DataFrame, catalog: Catalog, period: Period) -> None:
    currencies = sorted(r[0] for r in rated.select("currency").where(F.col("currency").isNotNull())
                        .distinct().collect())
    other = [c for c in currencies if c != catalog.currency]
    if other:
        raise UsageError(f"catalog {catalog.version} is in {catalog.currency}, but {period.label} was rated in "
                         f"{', '.join(other)}: rerating does not convert currencies")


def change_line(row: dict[str, Any]) -> dict[str, Any]:
    """One line of `changes.jsonl`: what the CDR was and what it is under the new catalog."""
    old, new = row["charge"], row["new_charge"]
    delta = None if new is None or old is None else format(Decimal(new) - Decimal(old), "f")
    return {
        schemas.FIELD: schemas.RERATE_CHANGE, "cdr_id": row["cdr_id"], "msisdn": row["msisdn"], "event_time": row["event_time"],
        "record_type": row["record_type"], "old_charge": old, "new_charge": new, "delta": delta,
        "old_zone": row["zone"], "new_zone": row["new_zone"], "old_band": row["band"], "new_band": row["new_band"],
        "old_price": row["price"], "new_price": row["new_price"], "old_per": row["per"], "new_per": row["new_per"],
        "old_connect_fee": row["connect_fee"], "new_connect_fee": row["new_connect_fee"],
        "old_catalog_version": row["catalog_version"], "new_catalog_version": row["new_catalog_version"],
        "new_reason": row["new_reason"],
    }


def subscriber_summary(rerated: DataFrame, changed: Any) -> list[dict[str, Any]]:
    """Per subscriber: CDRs, CDRs changed, the old and new charges' sums and the delta (exact)."""
    rows = (rerated.groupBy("msisdn").agg(
        F.count(F.lit(1)).alias("cdrs"), F.count(F.when(changed, 1)).alias("changed"),
        F.sum(F.col("charge").cast("decimal(38,10)")).alias("old"),
        F.sum(F.coalesce(F.col("new_charge").cast("decimal(38,10)"), F.lit(0))).alias("new"))
        .orderBy("msisdn").collect())
    return [{"msisdn": r["msisdn"], "cdrs": r["cdrs"], "changed": r["changed"], "old": _plain(r["old"]),
             "new": _plain(r["new"]), "delta": _plain((r["new"] or Decimal(0)) - (r["old"] or Decimal(0)))}
            for r in rows]


def _plain(value: Decimal | None) -> str:
    """An exact sum without the trailing zeros of Spark's wide decimal (but at least 2 places)."""
    value = value or Decimal(0)
    text = format(value.normalize(), "f")
    places = len(text.partition(".")[2])
    return format(value, f".{max(places, 2)}f")


def rerate_period(spark_factory: Callable[[], SparkSession], settings: Settings, request: RerateRequest,
                  say: Say = print) -> RerateResult:
    """Rerate the period under the new catalog and write the change list, the per-subscriber summary,
    the report and, for a final period, the credit and debit notes (atomically, byte-stable)."""
    catalog = load_catalog(request.catalog)
    if not _SAFE_NAME.fullmatch(catalog.version):
        raise UsageError(f"catalog_version {catalog.version!r} cannot name a folder (letters, digits, . _ - only)")
    final = _final_folder(request, settings)
    spark = spark_factory()
    rated, source = rerated_input(spark, settings, request, final)
    period_rated = rr.of_period(rated, catalog, request.period)
    _check_currency(period_rated, catalog, request.period)
    started = time.monotonic()
    say(f"rerating {request.period.label} under catalog {catalog.version} from {_describe(source)}"
        f"{' (final: credit and debit notes)' if final else ''}")
    rerated = rr.rerate(period_rated, catalog).cache()
    try:
        changed = rr.changed(rerated)
        cdrs = rerated.count()
        changes = [change_line(r.asDict()) for r in rerated.where(changed).orderBy("cdr_id").toLocalIterator()]
        summary = subscriber_summary(rerated, changed)
        notes = _notes(rerated, catalog, request, settings, final) if final else []
    finally:
        rerated.unpersist()
    say(f"  {cdrs:,} CDRs, {len(changes):,} changed, {len(notes):,} notes in {time.monotonic() - started:.1f} s")
    target = request.out / f"period={request.period.label}" / f"catalog={catalog.version}"
    manifest = {schemas.FIELD: schemas.RERATE_MANIFEST, "period": request.period.label, "catalog_version": catalog.version, "currency": catalog.currency,
                "input": source, "final": final is not None, "cdrs": cdrs, "changes": len(changes),
                "notes": len(notes)}
    folder, what = write_folder(target, request.force, lambda tmp: _write(tmp, changes, summary, notes, manifest))
    load_if_configured(settings, request.invoices, request.out, request.period, False, say)
    return RerateResult(folder, what, len(changes), cdrs, notes, final is not None)


def _notes(rerated: DataFrame, catalog: Catalog, request: RerateRequest, settings: Settings,
           final: live.FinalPeriod) -> list[dict[str, Any]]:
    """The final invoices recomputed under the new catalog (section 7 billing of the rerated CDRs),
    and the notes between them."""
    subscribers = load_subscribers(request.subscribers or settings.subscribers_file)
    frames = bill(as_billing_input(rerated), catalog, subscribers, request.period)
    try:
        recomputed = collect(frames, catalog, subscribers, request.period, live.FINAL).invoices
    finally:
        frames.close()
    finals = [json.loads(line) for line in (final.folder / INVOICES_FILE).read_text(encoding="utf-8").splitlines()]
    return notes(finals, recomputed, catalog, request.period)


def _write(folder: Path, changes: list[dict[str, Any]], summary: list[dict[str, Any]], notes: list[dict[str, Any]],
           manifest: dict[str, Any]) -> None:
    (folder / CHANGES_FILE).write_text("".join(dumps(c) + "\n" for c in changes), encoding="utf-8")
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, SUMMARY_COLUMNS, lineterminator="\n")
    writer.writeheader()
    writer.writerows(summary)
    (folder / SUMMARY_FILE).write_text(buffer.getvalue(), encoding="utf-8")
    if manifest["final"]:
        (folder / ADJUSTMENTS_FILE).write_text("".join(dumps(n) + "\n" for n in notes), encoding="utf-8")
        render_notes(notes, folder / NOTES_DIR)
    render_rerate_report(manifest, changes, summary, notes, folder)
    write_json(folder / MANIFEST_FILE, manifest)


def _describe(source: dict[str, Any]) -> str:
    if source["kind"] == "files":
        return ", ".join(source["rated"])
    return f"topic {source['rated']['topic']}"


# -- recycling -------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class RecycleRequest:
    reason: str
    period: Period | None = None  # only records whose event falls in this month (catalog time zone)
    catalog: Path | None = None


def recycle_rejected(spark_factory: Callable[[], SparkSession], settings: Settings, request: RecycleRequest,
                     say: Say = print) -> int:
    """Send the rejected records of `request.reason` back to `cdr.raw` (their original bytes and key,
    header `recycled_from` = their chain, `recycle_run` = this run); returns how many were sent."""
    if request.reason not in {r.value for r in Reason}:
        raise UsageError(f"--reason {request.reason!r} is not a reason code (one of {', '.join(r.value for r in Reason)})")
    spark = spark_factory()
    raw = read_topic(spark, settings, settings.topic_raw, topic_offsets(settings, settings.topic_raw), headers=True)
    rejected = rejected_frame(read_topic(spark, settings, settings.topic_rejected,
                                         topic_offsets(settings, settings.topic_rejected)))
    chosen = eligible(raw, rejected, request.reason)
    if request.period is not None:
        chosen = chosen.where(_event_month(request, settings) == F.lit(request.period.label))
    rows = chosen.orderBy("partition", "offset").collect()
    run = uuid4().hex.encode()
    sent = send_with_headers(settings, settings.topic_raw,
                             ((r["key"], r["value"], [(RECYCLED_FROM, r["first_id"].encode()), (RECYCLE_RUN, run)])
                              for r in rows))
    scope = f" of {request.period.label}" if request.period else ""
    say(f"recycled {sent:,} {request.reason} record(s){scope} to {settings.topic_raw}")
    return sent


def _event_month(request: RecycleRequest, settings: Settings) -> Any:
    """The local month of a raw record's event time (canonical `event_time`, legacy `timestamp`), read
    from its bytes; null when it has none that parses."""
    timezone = load_catalog(request.catalog or settings.catalog_dir).timezone
    text = F.col("value").cast("string")
    event = F.coalesce(F.get_json_object(text, "$.event_time"), F.get_json_object(text, "$.timestamp"))
    return F.date_format(local_time(F.to_timestamp(event), timezone), "yyyy-MM")
