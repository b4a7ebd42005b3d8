"""`telecom load`: a billing period's folder into the results database (SQLite or PostgreSQL)."""

from __future__ import annotations

import argparse
from pathlib import Path

from ..billing.period import Period
from ..cli_params import DB, FORCE, INVOICES, PERIOD, add_connection
from ..infra.settings import settings_from_args

NAME = "load"
HELP = "load a billed period (invoices, lines, reconciliation, rerating notes) into SQLite or PostgreSQL"


def configure(parser: argparse.ArgumentParser) -> None:
    PERIOD.add(parser, required=True)
    DB.add(parser)
    INVOICES.add(parser, help="the period folders' parent (default output/invoices)")
    parser.add_argument("--rerating", type=Path, default=None,
                        help="the rerating folders' parent, for the period's notes (default output/rerating)")
    FORCE.add(parser, help="reload a final period already loaded as final")
    parser.add_argument("--with-cdrs", action="store_true",
                        help="also the period's rated CDRs (table rated_cdrs), read from what it was billed from: "
                             "the cdr.rated offsets in its manifest (the broker must run) or its rated files")
    add_connection(parser)


def run(args: argparse.Namespace) -> int:
    from ..jobs.results import load_into_database

    settings = settings_from_args(args)
    invoices_dir = (args.invoices or settings.invoices_dir).resolve()
    rerating_dir = (args.rerating or settings.rerating_dir).resolve()
    report = load_into_database(settings, invoices_dir, rerating_dir, Period.parse(args.period), force=args.force,
                                with_cdrs=args.with_cdrs)
    print(report.summary())
    return 0
