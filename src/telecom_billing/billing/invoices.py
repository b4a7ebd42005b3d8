"""The period folder's contents (DESIGN.md section 7): the job's frames collected into invoice
documents, and every file of the folder (`folder.write_period` publishes it atomically). File names
come from invoice numbers (checked against
`INVOICE_NUMBER` by `report.invoice_file`), never from record content. The same input gives the
same bytes: no timestamps, no absolute temporary paths, sorted everything.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import shutil
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pyspark.sql import functions as F

from ..contracts import schemas
from ..contracts.limits import UNEXPLAINED_SAMPLE
from ..errors import TelecomError
from ..infra.atomic import write_json
from ..infra.parquet_footer import canonicalize_parquet_footer
from ..refdata.catalog import Catalog
from ..refdata.subscribers import Subscriber
from . import report
from .charges import DUPLICATE, LINE_COUNTS, NO_SUBSCRIBER, OK, PARTIAL_COUNTS, money_type
from .folder import (
    BILLED_CDRS_FILE,
    HTML_DIR,
    INVOICES_FILE,
    LINES_FILE,
    MANIFEST_FILE,
    RECONCILIATION_FILE,
    SUMMARY_FILE,
    file_checksums,
)
from .live import FINAL
from .period import Period

if TYPE_CHECKING:
    from pyspark.sql import DataFrame

    from .job import BillingFrames

SUMMARY_COLUMNS = ("invoice_number", "msisdn", "name", "plan_id", "period", "active_days", "usage_cdrs",
                   "recurring", "usage", "late_usage", "subtotal", "tax", "total", "currency", "status")
LINE_COLUMNS = (("invoice_number", "string"), ("msisdn", "string"), ("period", "string"), ("line_no", "int"),
                ("type", "string"), ("service", "string"), ("zone", "string"), ("quantity", "bigint"),
                ("billable_units", "bigint"), ("included_units", "bigint"), ("amount", money_type()),
                ("cdr_count", "bigint"), ("origin_period", "string"),
                *((name, "bigint") for name in PARTIAL_COUNTS))
BILLED_CDRS_COLUMNS = ("cdr_id", "origin_period", "type", "partials", "incomplete")


def money(value: Decimal) -> str:
    return f"{value:.2f}"


def dumps(value: Any) -> str:
    """Compact JSON, UTF-8 text (not escaped), keys in the order given."""
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


@dataclass
class Billed:
    """What the Spark job produced, collected to the driver: small, ordered, JSON-ready."""

    period: Period
    catalog: Catalog
    invoices: list[dict[str, Any]]
    hourly: list[dict[str, Any]]
    status: dict[str, dict[str, Any]]
    invoice_status: str  # draft or final (DESIGN.md 7a)
    unexplained: list[dict[str, Any]] = field(default_factory=list)
    late_status: dict[str, dict[str, Any]] = field(default_factory=dict)  # late CDRs per status

    @property
    def lines(self) -> list[dict[str, Any]]:
        return [line for invoice in self.invoices for line in invoice["lines"]]


def collect(frames: BillingFrames, catalog: Catalog, subscribers: Sequence[Subscriber], period: Period,
            invoice_status: str) -> Billed:
    """Run the Spark job's actions and turn the rows into invoice dicts (DESIGN.md section 7 fields)."""
    status = {row["status"]: row.asDict() for row in frames.totals.collect()}
    # As JSON text: much cheaper to bring to Python than nested rows of Decimals; exact (decimals
    # are read back as Decimal).
    fields = ("sub_id", "invoice_number", "active_days", "recurring", "lines", "late_lines", "allowance_used", "usage",
              "late_usage", "subtotal", "tax", "total")
    texts = (frames.invoices.orderBy("msisdn", "activation_date")
             .select(F.to_json(F.struct(*fields)).alias("json")).collect())
    rows = [json.loads(row["json"], parse_float=Decimal) for row in texts]
    invoices = [_invoice(row, catalog, subscribers[row["sub_id"]], period, invoice_status) for row in rows]
    numbers = [i["invoice_number"] for i in invoices]
    if len(set(numbers)) != len(numbers):
        raise TelecomError("two subscribers got the same invoice number hash; this needs a longer hash")
    hourly = [row.asDict() for row in frames.hourly.orderBy("service", "local_hour").collect()]
    unexplained: list[dict[str, Any]] = []
    if any(name not in (OK, DUPLICATE) for name in status):
        # Copies of a CDR of no subscriber are one unexplained CDR (the summary counts it once too).
        copy_key = F.when(F.col("status") == NO_SUBSCRIBER, F.concat_ws("|", "cdr_id", "event_time"))
        sample = (frames.details.where(~F.col("status").isin(OK, DUPLICATE))
                  .withColumn("_copy", F.coalesce(copy_key, F.monotonically_increasing_id().cast("string")))
                  .dropDuplicates(["status", "_copy"])
                  .select("status", "problem", "cdr_id", "msisdn", "event_time")
                  .orderBy("status", "event_time", "cdr_id").limit(UNEXPLAINED_SAMPLE).collect())
        unexplained = [{"kind": "rated", "status": r["status"], "reason": r["problem"], "cdr_id": r["cdr_id"],
                        "msisdn": r["msisdn"], "event_time": r["event_time"]} for r in sample]
    late_status: dict[str, dict[str, Any]] = {}
    if frames.late_summary is not None:
        late_status = {row["status"]: row.asDict() for row in frames.late_summary.groupBy("status").agg(
            F.sum("cdrs").alias("cdrs"), F.sum("billed_amount").alias("billed_amount")).collect()}
    return Billed(period=period, catalog=catalog, invoices=invoices, hourly=hourly, status=status,
                  unexplained=unexplained, invoice_status=invoice_status, late_status=late_status)


def _invoice(row: dict[str, Any], catalog: Catalog, subscriber: Subscriber, period: Period,
             status: str) -> dict[str, Any]:
    plan = catalog.plans.get(subscriber.plan_id)  # None: a plan gone from the catalog, late usage only
    lines: list[dict[str, Any]] = [{
        "type": "recurring", "service": None, "zone": None, "quantity": row["active_days"],
        "billable_units": row["active_days"], "included_units": 0, "amount": money(row["recurring"]),
        **dict.fromkeys(LINE_COUNTS, 0),
    }]
    for line in row.get("lines") or []:
        lines.append({"type": "usage", "service": line["service"], "zone": line["zone"],
                      "quantity": line["quantity"], "billable_units": line["billable_units"],
                      "included_units": line["included_units"], "amount": money(line["amount"]),
                      **_counts(line)})
    for line in row.get("late_lines") or []:
        lines.append({"type": "late_usage", "origin_period": line["origin_period"], "service": line["service"],
                      "zone": line["zone"], "quantity": line["quantity"], "billable_units": line["billable_units"],
                      "included_units": 0, "amount": money(line["amount"]), **_counts(line)})
    used = row.get("allowance_used") or {}
    return {
        schemas.FIELD: schemas.INVOICE,
        "invoice_number": row["invoice_number"],
        "period": period.label,
        "status": status,
        "period_start": period.first_day.isoformat(),
        "period_end": period.last_day.isoformat(),
        "msisdn": subscriber.msisdn,
        "name": subscriber.name,
        "address": subscriber.address,
        "plan_id": subscriber.plan_id,
        "activation_date": subscriber.activation_date.isoformat(),
        "termination_date": subscriber.termination_date.isoformat() if subscriber.termination_date else None,
        "active_days": row["active_days"],
        "days_in_period": period.days,
        "currency": catalog.currency,
        "catalog_version": catalog.version,
        "lines": lines,
        "allowances": [{"name": a.name, "service": a.service, "zones": list(a.zones), "quantity": a.quantity,
                        "used": int(used.get(a.name, 0))} for a in (plan.allowances if plan else ())],
        "recurring": money(row["recurring"]),
        "usage": money(row["usage"]),
        "late_usage": money(row["late_usage"]),
        "subtotal": money(row["subtotal"]),
        "tax_rate": str(catalog.tax_rate),
        "tax": money(row["tax"]),
        "total": money(row["total"]),
    }


def _counts(line: dict[str, Any]) -> dict[str, int]:
    """A collected line's `LINE_COUNTS`."""
    return {name: line[name] for name in LINE_COUNTS}


# -- files ---------------------------------------------------------------------------------------------


def invoices_text(invoices: Iterable[dict[str, Any]]) -> str:
    return "".join(dumps(invoice) + "\n" for invoice in invoices)


def summary_text(invoices: Iterable[dict[str, Any]]) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(SUMMARY_COLUMNS)
    for i in invoices:
        usage_cdrs = sum(line["cdr_count"] for line in i["lines"])
        writer.writerow([i["invoice_number"], i["msisdn"], i["name"], i["plan_id"], i["period"], i["active_days"],
                         usage_cdrs, i["recurring"], i["usage"], i["late_usage"], i["subtotal"], i["tax"], i["total"],
                         i["currency"], i["status"]])
    return buffer.getvalue()


def lines_frame(frames: BillingFrames, period: Period) -> DataFrame:
    """All invoice lines, flat, from the Spark invoice frame (the same values as `invoices.jsonl`)."""
    base = [F.col("invoice_number"), F.col("msisdn"), F.lit(period.label).alias("period")]
    recurring = frames.invoices.select(
        *base, F.lit(0).alias("line_no"), F.lit("recurring").alias("type"), F.lit(None).cast("string").alias("service"),
        F.lit(None).cast("string").alias("zone"), F.col("active_days").cast("bigint").alias("quantity"),
        F.col("active_days").cast("bigint").alias("billable_units"), F.lit(0).cast("bigint").alias("included_units"),
        F.col("recurring").alias("amount"), *[F.lit(0).cast("bigint").alias(name) for name in LINE_COUNTS],
        F.lit(None).cast("string").alias("origin_period"))
    usage = frames.invoices.select(*base, F.posexplode("lines").alias("n", "line")).select(
        "invoice_number", "msisdn", "period", (F.col("n") + 1).alias("line_no"), F.lit("usage").alias("type"),
        *[F.col(f"line.{c}").alias(c) for c in ("service", "zone", "quantity", "billable_units", "included_units",
                                                 "amount", *LINE_COUNTS)],
        F.lit(None).cast("string").alias("origin_period"))
    usage_count = F.coalesce(F.size("lines"), F.lit(0))
    late = frames.invoices.select(*base, usage_count.alias("_usage"), F.posexplode("late_lines").alias("n", "line"))
    late = late.select(
        "invoice_number", "msisdn", "period", (F.col("_usage") + F.col("n") + 1).alias("line_no"),
        F.lit("late_usage").alias("type"),
        *[F.col(f"line.{c}").alias(c) for c in ("service", "zone", "quantity", "billable_units")],
        F.lit(0).cast("bigint").alias("included_units"), F.col("line.amount").alias("amount"),
        *[F.col(f"line.{c}").alias(c) for c in LINE_COUNTS], F.col("line.origin_period").alias("origin_period"))
    return recurring.unionByName(usage).unionByName(late).select(*[F.col(c).cast(t) for c, t in LINE_COLUMNS])


def write_parquet_file(rows: DataFrame, target: Path, order: Sequence[str]) -> None:
    """One byte-stable Parquet file (Spark writes a folder of parts: one part is kept), rows in `order`."""
    parts = target.parent / f".{target.name}.parts"
    frame = rows.repartition(1).sortWithinPartitions(*order)
    frame.write.mode("overwrite").option("compression", "snappy").parquet(str(parts))
    files = sorted(parts.glob("part-*.parquet"))
    if len(files) != 1:
        raise TelecomError(f"expected one Parquet part for {target.name}, Spark wrote {len(files)}")
    files[0].replace(target)
    shutil.rmtree(parts)
    canonicalize_parquet_footer(target)


def manifest(billed: Billed, reconciliation: dict[str, Any], source: dict[str, Any],
             files: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """Counts, totals, the input read, and checksums: one per file, one for all of `html/` (the sha256
    of its sorted `name sha256` lines)."""
    invoices = billed.invoices
    html = {name: f for name, f in files.items() if name.startswith(f"{HTML_DIR}/")}
    listing = "".join(f"{name} {f['sha256']}\n" for name, f in sorted(html.items()))
    checksums = {name: f for name, f in files.items() if name not in html}
    checksums[f"{HTML_DIR}/"] = {"files": len(html), "bytes": sum(f["bytes"] for f in html.values()),
                                 "sha256": hashlib.sha256(listing.encode()).hexdigest()}
    total = {key: money(sum((Decimal(i[key]) for i in invoices), Decimal(0)))
             for key in ("recurring", "usage", "subtotal", "tax", "total")}
    return {
        schemas.FIELD: schemas.MANIFEST,
        "period": billed.period.label,
        "status": billed.invoice_status,
        "catalog_version": billed.catalog.version,
        "currency": billed.catalog.currency,
        "timezone": billed.catalog.timezone,
        "input": source,
        "counts": {
            "invoices": len(invoices),
            "lines": sum(len(i["lines"]) for i in invoices),
            "usage_cdrs": reconciliation["rated"]["billed"],
            "duplicates": reconciliation["rated"]["duplicates"],
            "unexplained": reconciliation["unexplained_total"],
        },
        "totals": total,
        "files": dict(sorted(checksums.items())),
    }


def writes_ledger(status: str, source: dict[str, Any]) -> bool:
    """A final billed from the topic lists the CDRs it billed (`billed_cdrs.parquet`)."""
    return status == FINAL and source["kind"] == "topics"


def write_contents(folder: Path, billed: Billed, frames: BillingFrames, reconciliation: dict[str, Any],
                   source: dict[str, Any]) -> None:
    """Every file of the period folder but `_SUCCESS`; the manifest last, with the others' checksums.
    A final period billed from the topic also lists the `cdr_id`s it billed: the ledger later finals
    read (a final from files is the whole truth and takes part in no ledger)."""
    (folder / INVOICES_FILE).write_text(invoices_text(billed.invoices), encoding="utf-8")
    (folder / SUMMARY_FILE).write_text(summary_text(billed.invoices), encoding="utf-8")
    write_parquet_file(lines_frame(frames, billed.period), folder / LINES_FILE, ("invoice_number", "line_no"))
    if writes_ledger(billed.invoice_status, source):
        write_parquet_file(frames.billed_cdrs.select(*BILLED_CDRS_COLUMNS), folder / BILLED_CDRS_FILE,
                           BILLED_CDRS_COLUMNS)
    report.render_invoices(billed.invoices, folder / HTML_DIR)
    write_json(folder / RECONCILIATION_FILE, reconciliation)
    report.render_report(billed.invoices, billed.hourly, reconciliation, folder, HTML_DIR)
    write_json(folder / MANIFEST_FILE, manifest(billed, reconciliation, source, file_checksums(folder)))
