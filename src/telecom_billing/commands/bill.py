"""`telecom bill`: one billing period, from the `cdr.rated` topic or rated files, to a period folder."""

from __future__ import annotations

import argparse
import time
from collections import defaultdict
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..billing.period import Period
from ..cli_params import (
    CATALOG,
    CHECKPOINT_DIR,
    DEEP,
    FORCE,
    OUT,
    PERIOD,
    RATED,
    RAW,
    REJECTED,
    SUBSCRIBERS,
    add_connection,
)
from ..infra.settings import settings_from_args

if TYPE_CHECKING:
    from collections.abc import Callable

    from pyspark.sql import SparkSession

    from ..billing.invoices import Billed
    from ..infra.settings import Settings
    from ..jobs.billing import BillRequest

NAME = "bill"
HELP = "bill one month: rated CDRs (topic or files) to invoices, report and reconciliation (draft or final)"


def configure(parser: argparse.ArgumentParser) -> None:
    which = parser.add_mutually_exclusive_group(required=True)
    PERIOD.add(which, help="the month to bill, YYYY-MM (in the catalog's time zone)")
    which.add_argument("--due", action="store_true",
                       help="from the topic: draft every open period (the current one, those in their grace) and "
                            "finalise every period past its cut-off that is not final yet")
    OUT.add(parser, help="output folder; the period goes to OUT/period=YYYY-MM (default output/invoices)")
    RATED.add(parser, help="rated CDRs: a JSONL (or Parquet) file or a folder of them; the file is the whole "
                           "truth, the run is final (default: a batch read of the cdr.rated topic)")
    parser.add_argument("--as-of", dest="as_of", default=None,
                        help="the run's clock, ISO-8601 with offset (default now): before the period's cut-off "
                             "(grace_days after its end) the run is a draft, from it on final")
    parser.add_argument("--wait", type=float, default=300.0,
                        help="a final run first waits this many seconds at most for the stream to catch up "
                             "(default 300)")
    add_input_flags(parser)
    parser.add_argument("--no-raw", action="store_true",
                        help="reading the topics: skip the raw side of the reconciliation (cdr.raw, cdr.rejected)")
    FORCE.add(parser, help="replace an existing, different output for the period (even a final one)")
    add_connection(parser, spark=True)


def add_input_flags(parser: argparse.ArgumentParser) -> None:
    """Reference data and the raw side of the reconciliation (`telecom bill` and `telecom reconcile`)."""
    for option in (CATALOG, SUBSCRIBERS, RAW, REJECTED, DEEP, CHECKPOINT_DIR):
        option.add(parser)


def request_from_args(args: argparse.Namespace, period: Period | None, out: Path) -> BillRequest:
    """The request of `telecom bill` and `telecom reconcile` (whose parser sets no `--force`, `--as-of`,
    `--wait` or `--no-raw`: `configure` gives them their defaults)."""
    from ..billing.live import parse_as_of
    from ..errors import UsageError
    from ..jobs.billing import BillRequest

    if args.wait < 0:
        raise UsageError("--wait must not be negative")
    return BillRequest(period=period, out=out, rated=args.rated, raw=args.raw, rejected=args.rejected,
                       no_raw=args.no_raw, catalog=args.catalog, subscribers=args.subscribers, force=args.force,
                       as_of=parse_as_of(args.as_of), wait_s=args.wait, deep=args.deep)


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
    print(f"\nperiod {billed.period.label} ({billed.invoice_status}), amounts in {currency}")
    print(header)
    print("-" * len(header))
    totals = [Decimal(0)] * 4
    for plan in sorted(per_plan):
        values = per_plan[plan]
        totals = [a + b for a, b in zip(totals, values, strict=True)]
        print(f"{plan:<14}{counts[plan]:>10,}" + _amounts(values))
    print("-" * len(header))
    print(f"{'all':<14}{len(billed.invoices):>10,}" + _amounts(totals))
    rated, amounts = report["rated"], report["amounts"]
    print(f"\nCDRs billed {rated['billed']:,}, duplicates dropped {rated['duplicates']:,}, "
          f"unexplained {report['unexplained_total']:,}; rounding drift {amounts['rounding_drift']} "
          f"over {amounts['usage_lines_count']:,} usage lines")
    if report.get("late_billed"):
        late = report["late_billed"]
        print(f"late CDRs of earlier final periods billed {late['billed']:,} ({late['amount']} {currency}), "
              f"late copies dropped {late['duplicates']:,}")
    _print_sessions(billed, report)
    if report["raw"] is not None:
        run = report["raw"]["run"]
        print(f"raw records {run['records']:,}: rated {run['rated']:,}, rejected {run['rejected']:,}, "
              f"duplicate {run['duplicate']:,}, merged {run['merged']:,}, in flight {run['in_flight']:,}, "
              f"held {run['held']:,}, unexplained {run['unexplained']:,}")


def _print_sessions(billed: Billed, report: dict[str, Any]) -> None:
    """Partial records (DESIGN.md 7c): the sessions billed, complete and incomplete, and their parts."""
    lines = [line for invoice in billed.invoices for line in invoice["lines"]]
    assembled = sum(line.get("assembled_cdrs", 0) for line in lines)
    incomplete = sum(line.get("incomplete_cdrs", 0) for line in lines)
    run = (report["raw"] or {}).get("run", {})
    if not (assembled or run.get("merged") or run.get("held")):
        return
    parts = f"; parts merged {run['merged']:,}, held {run['held']:,}" if run else ""
    print(f"sessions assembled from partial records and billed {assembled:,}: complete {assembled - incomplete:,}, "
          f"incomplete {incomplete:,}{parts}")


def _amounts(values: list[Decimal]) -> str:
    return "".join(f"{v:>{w},.2f}" for v, w in zip(values, (16, 16, 14, 16), strict=True))


def bill_due(session: Callable[[], SparkSession], settings: Settings, request: BillRequest) -> int:
    """`--due`: one line per period; exit 0 even when a final must wait for the stream (the next run retries)."""
    from ..errors import UsageError
    from ..jobs import billing

    if request.rated is not None:
        raise UsageError("--due bills from the topic: it does not take --rated")
    for result in billing.bill_due(session, settings, request, lambda line: print(line, flush=True)):
        if isinstance(result, Exception):
            continue
        state = "left as it is" if result.billed is None else result.what
        print(f"period {result.folder.name.removeprefix('period=')}: {result.status}, {state} ({result.folder})",
              flush=True)
    return 0


def run(args: argparse.Namespace) -> int:
    from ..billing import invoices, reconcile
    from ..infra.spark import create_spark
    from ..jobs.billing import bill_period

    settings = settings_from_args(args)
    period = None if args.due else Period.parse(args.period)  # `--due`: every period that is due
    request = request_from_args(args, period, (args.out or settings.invoices_dir).resolve())
    begun = time.monotonic()
    session = lambda: create_spark(settings, "telecom-bill")  # noqa: E731 - started only when needed
    if args.due:
        return bill_due(session, settings, request)
    result = bill_period(session, settings, request, lambda line: print(line, flush=True))
    if result.billed is None or result.report is None:
        print(f"period {request.the_period.label} is final: {result.folder} is left as it is")
        return 0
    print_summary(result.billed, result.report)
    folder = result.folder
    print(f"\nperiod folder: {folder} ({result.status})")
    if result.billed.invoices:
        from ..billing.report import invoice_file

        print(f"an invoice:    {folder / invoices.HTML_DIR / invoice_file(result.billed.invoices[0])}")
    print(f"report:        {folder / 'report.html'}")
    print(f"billed in {time.monotonic() - begun:.0f} s")
    if not reconcile.report_ok(result.report):
        print(f"warning: {result.report['unexplained_total']} unexplained record(s), see "
              f"{folder / invoices.RECONCILIATION_FILE}")
        return 1
    return 0
