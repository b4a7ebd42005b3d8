"""`telecom bill`: one billing period, from the `cdr.rated` topic or rated files, to a period folder."""

from __future__ import annotations

import argparse
import time
from collections import defaultdict
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..infra.settings import Settings, add_common_flags, settings_from_args

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession

    from ..billing.charges import BillingFrames
    from ..billing.invoices import Billed
    from ..refdata.catalog import Catalog
    from ..refdata.subscribers import Subscriber

NAME = "bill"
HELP = "bill one month: rated CDRs (topic or files) to invoices, report and reconciliation"


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--period", required=True, help="the month to bill, YYYY-MM (in the catalog's time zone)")
    parser.add_argument("--out", type=Path, default=None,
                        help="output folder; the period goes to OUT/period=YYYY-MM (default output/invoices)")
    parser.add_argument("--rated", type=Path, default=None,
                        help="rated CDRs: a JSONL (or Parquet) file or a folder of them "
                             "(default: a batch read of the whole cdr.rated topic)")
    add_input_flags(parser)
    parser.add_argument("--force", action="store_true", help="replace an existing, different output for the period")
    add_common_flags(parser, spark=True)


def add_input_flags(parser: argparse.ArgumentParser, skippable_raw: bool = True) -> None:
    """Reference data and the raw side of the reconciliation (shared with `telecom reconcile`)."""
    parser.add_argument("--catalog", type=Path, default=None, help="tariff catalog file or folder (default data/catalog)")
    parser.add_argument("--subscribers", type=Path, default=None,
                        help="subscriber base CSV (default data/subscribers.csv)")
    parser.add_argument("--raw", type=Path, default=None,
                        help="raw CDR file for the reconciliation's raw side (with --rated; needs --rejected)")
    parser.add_argument("--rejected", type=Path, default=None,
                        help="rejected records file (or the folder with rejected.jsonl) written by `telecom rate`")
    if skippable_raw:
        parser.add_argument("--no-raw", action="store_true",
                            help="reading the topics: skip the raw side of the reconciliation (cdr.raw, cdr.rejected)")
    else:
        parser.set_defaults(no_raw=False)


@dataclass
class Inputs:
    """Where the rated (and optionally raw and rejected) records come from, and how to say so."""

    rated: DataFrame
    source: dict[str, Any]
    raw: DataFrame | None = None
    rejected: DataFrame | None = None


def _step(message: str) -> float:
    print(message, flush=True)
    return time.monotonic()


def resolve_inputs(spark: SparkSession, settings: Settings, args: argparse.Namespace) -> Inputs:
    """Read the rated input (and the raw side when asked for) as DataFrames; fail early and clearly."""
    from pyspark.sql import functions as F

    from ..billing import charges as billing
    from ..errors import UsageError
    from ..pipeline import file_frame

    if args.rated is not None:
        files = billing.rated_files(args.rated)
        source: dict[str, Any] = {"kind": "files", "rated": [str(f) for f in files]}
        inputs = Inputs(rated=billing.read_rated_files(spark, files), source=source)
        if (args.raw is None) != (args.rejected is None):
            raise UsageError("--raw and --rejected go together (the raw side needs both)")
        if args.raw is not None:
            if not args.raw.is_file():
                raise UsageError(f"--raw {args.raw}: no such file")
            rejected = [args.rejected if args.rejected.is_file() else args.rejected / "rejected.jsonl"]
            if not rejected[0].is_file():
                raise UsageError(f"--rejected {args.rejected}: no such file (or folder with rejected.jsonl)")
            source.update(raw=str(args.raw), rejected=[str(f) for f in rejected])
            inputs.raw = file_frame(spark, str(args.raw))
            inputs.rejected = _rejected_frame(spark.read.text([str(f) for f in rejected]).select(
                F.col("value").alias("value")))
        return inputs
    if args.raw is not None or args.rejected is not None:
        raise UsageError("--raw and --rejected read files: give the rated records with --rated too")
    offsets = billing.topic_offsets(settings, settings.topic_rated)
    source = {"kind": "topics", "bootstrap_servers": settings.bootstrap_servers,
              "rated": {"topic": settings.topic_rated, "offsets": _offsets_json(offsets)}}
    rated = billing.read_topic(spark, settings, settings.topic_rated, offsets)
    inputs = Inputs(rated=billing.parse_rated(rated), source=source)
    if not args.no_raw:
        raw_offsets = billing.topic_offsets(settings, settings.topic_raw)
        rejected_offsets = billing.topic_offsets(settings, settings.topic_rejected)
        source["raw"] = {"topic": settings.topic_raw, "offsets": _offsets_json(raw_offsets)}
        source["rejected"] = {"topic": settings.topic_rejected, "offsets": _offsets_json(rejected_offsets)}
        inputs.raw = billing.read_topic(spark, settings, settings.topic_raw, raw_offsets).select(
            "value", "topic", "partition", "offset", "timestamp")
        inputs.rejected = _rejected_frame(
            billing.read_topic(spark, settings, settings.topic_rejected, rejected_offsets))
    return inputs


def _offsets_json(offsets: dict[int, tuple[int, int]]) -> dict[str, list[int]]:
    return {str(p): [first, after] for p, (first, after) in sorted(offsets.items())}


def _rejected_frame(lines: DataFrame) -> DataFrame:
    """Rejected records (RULES.md section 16) -> `partition`, `offset`, `reason`."""
    from pyspark.sql import functions as F

    schema = "reason string, source struct<topic: string, partition: int, offset: bigint>"
    parsed = lines.select(F.from_json(F.col("value").cast("string"), schema).alias("r"))
    return parsed.select(F.col("r.source.partition").alias("partition"), F.col("r.source.offset").alias("offset"),
                         F.col("r.reason").alias("reason"))


def raw_side(spark: SparkSession, inputs: Inputs, catalog: Catalog, subscribers: list[Subscriber],
             period: Any) -> dict[str, Any] | None:
    """The reconciliation's raw side, when raw records were given."""
    if inputs.raw is None or inputs.rejected is None:
        return None
    from ..billing import reconcile
    from ..pipeline import rate_batch

    outcomes = reconcile.outcomes_from_rating(rate_batch(spark, inputs.raw, catalog, subscribers,
                                                         datetime.now(UTC))).cache()
    rated_ids = inputs.rated.select("cdr_id", "event_time").where("cdr_id IS NOT NULL")
    try:
        classified = reconcile.classify_raw(outcomes, rated_ids, inputs.rejected)
        lonely = reconcile.orphans(outcomes, rated_ids, inputs.rejected)
        return reconcile.raw_section(classified, lonely, catalog, period)
    finally:
        outcomes.unpersist()


def bill_and_report(spark: SparkSession, settings: Settings,
                    args: argparse.Namespace) -> tuple[Billed, dict[str, Any], Inputs, BillingFrames]:
    """Load the reference data, run the billing job and the reconciliation; nothing is written.
    The frames keep a cached summary: `close()` them when done."""
    from ..billing import charges as billing
    from ..billing import reconcile
    from ..billing.invoices import collect
    from ..refdata.catalog import load_catalog
    from ..refdata.subscribers import load_subscribers

    period = billing.Period.parse(args.period)
    catalog = load_catalog(args.catalog or settings.catalog_dir)
    subscribers = load_subscribers(args.subscribers or settings.subscribers_file)
    inputs = resolve_inputs(spark, settings, args)
    started = _step(f"billing {period.label} ({catalog.timezone}) for {len(subscribers):,} subscribers "
                    f"from {_describe(inputs.source)}")
    frames = billing.bill(inputs.rated, catalog, subscribers, period)
    try:
        billed = collect(frames, catalog, subscribers, period)
        print(f"  {len(billed.invoices):,} invoices in {time.monotonic() - started:.1f} s", flush=True)
        raw = None
        if inputs.raw is not None:
            started = _step("reconciling raw records against the rated and rejected outputs")
            raw = raw_side(spark, inputs, catalog, subscribers, period)
            print(f"  done in {time.monotonic() - started:.1f} s", flush=True)
    except BaseException:
        frames.close()
        raise
    return billed, reconcile.build_report(billed, raw), inputs, frames


def _describe(source: dict[str, Any]) -> str:
    if source["kind"] == "files":
        files = source["rated"]
        return files[0] if len(files) == 1 else f"{len(files)} files"
    return f"topic {source['rated']['topic']} at {source['bootstrap_servers']}"


def print_summary(billed: Billed, report: dict[str, Any]) -> None:
    """A short table: invoices and money per plan, then the reconciliation's headline."""
    per_plan: dict[str, list[Decimal]] = defaultdict(lambda: [Decimal(0)] * 4)
    counts: dict[str, int] = defaultdict(int)
    for invoice in billed.invoices:
        counts[invoice["plan_id"]] += 1
        for i, key in enumerate(("recurring", "usage", "tax", "total")):
            per_plan[invoice["plan_id"]][i] += Decimal(invoice[key])
    currency = billed.catalog.currency
    header = f"{'plan':<14}{'invoices':>10}{'recurring':>16}{'usage':>16}{'tax':>14}{'total':>16}"
    print(f"\nperiod {billed.period.label}, amounts in {currency}")
    print(header)
    print("-" * len(header))
    totals = [Decimal(0)] * 4
    for plan in sorted(per_plan):
        values = per_plan[plan]
        totals = [a + b for a, b in zip(totals, values, strict=True)]
        print(f"{plan:<14}{counts[plan]:>10,}" + "".join(f"{v:>{w},.2f}" for v, w in zip(values, (16, 16, 14, 16),
                                                                                       strict=True)))
    print("-" * len(header))
    print(f"{'all':<14}{len(billed.invoices):>10,}" + "".join(f"{v:>{w},.2f}" for v, w in zip(totals, (16, 16, 14, 16),
                                                                                         strict=True)))
    rated, amounts = report["rated"], report["amounts"]
    print(f"\nCDRs billed {rated['billed']:,}, duplicates dropped {rated['duplicates']:,}, "
          f"unexplained {report['unexplained_total']:,}; rounding drift {amounts['rounding_drift']} "
          f"over {amounts['usage_lines_count']:,} usage lines")
    if report["raw"] is not None:
        run = report["raw"]["run"]
        print(f"raw records {run['records']:,}: rated {run['rated']:,}, rejected {run['rejected']:,}, "
              f"duplicate {run['duplicate']:,}, unexplained {run['unexplained']:,}")


def run(args: argparse.Namespace) -> int:
    from ..billing import invoices, reconcile
    from ..billing.charges import Period
    from ..infra.spark import create_spark

    settings = settings_from_args(args)
    period = Period.parse(args.period)
    out = (args.out or settings.output_dir / "invoices").resolve()
    begun = time.monotonic()
    spark = create_spark(settings, "telecom-bill")
    billed, report, inputs, frames = bill_and_report(spark, settings, args)
    started = _step(f"writing {invoices.period_dir(out, period)}")
    try:
        lines = invoices.lines_frame(frames, period)
        folder, what = invoices.write_period(
            out, period, args.force, lambda tmp: invoices.write_contents(tmp, billed, lines, report, inputs.source))
    finally:
        frames.close()
    print(f"  {what} in {time.monotonic() - started:.1f} s", flush=True)
    print_summary(billed, report)
    print(f"\nperiod folder: {folder}")
    if billed.invoices:
        from ..billing.report import invoice_file

        print(f"an invoice:    {folder / invoices.HTML_DIR / invoice_file(billed.invoices[0])}")
    print(f"report:        {folder / 'report.html'}")
    print(f"billed in {time.monotonic() - begun:.0f} s")
    if not reconcile.report_ok(report):
        print(f"warning: {report['unexplained_total']} unexplained record(s), see "
              f"{folder / invoices.RECONCILIATION_FILE}")
        return 1
    return 0
