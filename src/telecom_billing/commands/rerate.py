"""`telecom rerate`: a period's rated CDRs rated again under a new catalog; credit and debit notes for a
final period (DESIGN.md section 7b)."""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from ..infra.settings import add_common_flags, settings_from_args

NAME = "rerate"
HELP = "rerate a period under a new catalog: change list, per-subscriber summary, report; notes when final"


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--period", required=True, help="the month, YYYY-MM (in the new catalog's time zone)")
    parser.add_argument("--catalog", type=Path, required=True, help="the new tariff catalog (file or folder)")
    parser.add_argument("--rated", type=Path, default=None,
                        help="rated CDRs (JSONL file or folder) instead of the cdr.rated topic")
    parser.add_argument("--subscribers", type=Path, default=None,
                        help="subscriber base CSV for the recomputed invoices (default data/subscribers.csv)")
    parser.add_argument("--invoices", type=Path, default=None,
                        help="the period folders' parent, to find the final period (default output/invoices)")
    parser.add_argument("--out", type=Path, default=None,
                        help="rerating root; the result goes to OUT/period=P/catalog=V (default output/rerating)")
    parser.add_argument("--force", action="store_true", help="replace an existing, different result")
    add_common_flags(parser, spark=True)


def run(args: argparse.Namespace) -> int:
    from ..billing.period import Period
    from ..errors import UsageError
    from ..infra.spark import create_spark
    from ..jobs.corrections import RerateRequest, rerate_period

    settings = settings_from_args(args)
    if not args.catalog.exists():
        raise UsageError(f"--catalog {args.catalog}: no such file or folder")
    request = RerateRequest(period=Period.parse(args.period), catalog=args.catalog,
                            out=(args.out or settings.output_dir / "rerating").resolve(),
                            invoices=(args.invoices or settings.output_dir / "invoices").resolve(),
                            rated=args.rated, subscribers=args.subscribers, force=args.force)
    begun = time.monotonic()
    result = rerate_period(lambda: create_spark(settings, "telecom-rerate"), settings, request,
                           lambda line: print(line, flush=True))
    print(f"{result.changes:,} of {result.cdrs:,} CDRs change; "
          + (f"{len(result.notes):,} credit/debit notes" if result.final else "the period is not final: no notes"))
    print(f"folder: {result.folder} ({result.what}, {time.monotonic() - begun:.0f} s)")
    return 0
