"""`telecom rerate`: a period's rated CDRs rated again under a new catalog; credit and debit notes for a
final period (DESIGN.md section 7b)."""

from __future__ import annotations

import argparse
import time

from ..cli_params import CATALOG, FORCE, INVOICES, OUT, PERIOD, RATED, SUBSCRIBERS, add_connection
from ..infra.settings import settings_from_args

NAME = "rerate"
HELP = "rerate a period under a new catalog: change list, per-subscriber summary, report; notes when final"


def configure(parser: argparse.ArgumentParser) -> None:
    PERIOD.add(parser, required=True, help="the month, YYYY-MM (in the new catalog's time zone)")
    CATALOG.add(parser, required=True, help="the new tariff catalog (file or folder)")
    RATED.add(parser, help="rated CDRs (JSONL file or folder) instead of the cdr.rated topic")
    SUBSCRIBERS.add(parser, help="subscriber base CSV for the recomputed invoices (default data/subscribers.csv)")
    INVOICES.add(parser, help="the period folders' parent, to find the final period (default output/invoices)")
    OUT.add(parser, help="rerating root; the result goes to OUT/period=P/catalog=V (default output/rerating)")
    FORCE.add(parser, help="replace an existing, different result")
    add_connection(parser, spark=True)


def run(args: argparse.Namespace) -> int:
    from ..billing.period import Period
    from ..errors import UsageError
    from ..infra.spark import create_spark
    from ..jobs.corrections import RerateRequest, rerate_period

    settings = settings_from_args(args)
    if not args.catalog.exists():
        raise UsageError(f"--catalog {args.catalog}: no such file or folder")
    request = RerateRequest(period=Period.parse(args.period), catalog=args.catalog,
                            out=(args.out or settings.rerating_dir).resolve(),
                            invoices=(args.invoices or settings.invoices_dir).resolve(),
                            rated=args.rated, subscribers=args.subscribers, force=args.force)
    begun = time.monotonic()
    result = rerate_period(lambda: create_spark(settings, "telecom-rerate"), settings, request,
                           lambda line: print(line, flush=True))
    print(f"{result.changes:,} of {result.cdrs:,} CDRs change; "
          + (f"{len(result.notes):,} credit/debit notes" if result.final else "the period is not final: no notes"))
    print(f"folder: {result.folder} ({result.what}, {time.monotonic() - begun:.0f} s)")
    return 0
