"""`telecom recycle`: rejected records sent back to `cdr.raw` after a reference-data fix (DESIGN.md 7b)."""

from __future__ import annotations

import argparse

from ..cli_params import CATALOG, PERIOD, add_connection
from ..infra.settings import settings_from_args

NAME = "recycle"
HELP = "send the rejected records of one reason back to cdr.raw (e.g. UNKNOWN_SUBSCRIBER after a base fix)"


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--reason", required=True, help="the reason code, e.g. UNKNOWN_SUBSCRIBER")
    PERIOD.add(parser, help="only records whose event falls in this month, YYYY-MM")
    CATALOG.add(parser, help="catalog (its time zone places events in months)")
    add_connection(parser, spark=True)


def run(args: argparse.Namespace) -> int:
    from ..billing.period import Period
    from ..infra.spark import create_spark
    from ..jobs.corrections import RecycleRequest, recycle_rejected

    settings = settings_from_args(args)
    request = RecycleRequest(reason=args.reason, period=Period.parse(args.period) if args.period else None,
                             catalog=args.catalog)
    recycle_rejected(lambda: create_spark(settings, "telecom-recycle"), settings, request,
                     lambda line: print(line, flush=True))
    return 0
