"""`telecom reconcile`: account for every raw record and every amount of one billing period."""

from __future__ import annotations

import argparse
import time

from ..billing.period import Period
from ..cli_params import INVOICES, OUT, PERIOD, RATED, add_connection
from ..infra.settings import settings_from_args
from .bill import add_input_flags, request_from_args

NAME = "reconcile"
HELP = "reconcile a period: raw = rated + rejected + duplicate, rated charges vs invoice lines"


def configure(parser: argparse.ArgumentParser) -> None:
    PERIOD.add(parser, required=True)
    RATED.add(parser, help="rated CDRs file or folder (with --raw and --rejected; default: the topics)")
    add_input_flags(parser)
    OUT.add(parser, help="folder for reconciliation.json (default output/reconciliation/period=YYYY-MM)")
    INVOICES.add(parser)
    add_connection(parser, spark=True)
    # What `telecom bill` asks and reconciling does not: a reconciliation writes no invoices, reads
    # the whole raw side, and takes a final period's offsets from its manifest.
    parser.set_defaults(no_raw=False, force=False, as_of=None, wait=0.0)


def run(args: argparse.Namespace) -> int:
    from ..billing import reconcile
    from ..errors import UsageError
    from ..infra.atomic import write_json
    from ..infra.spark import create_spark
    from ..jobs.billing import reconcile_period

    settings = settings_from_args(args)
    period = Period.parse(args.period)
    request = request_from_args(args, period, (args.invoices or settings.invoices_dir).resolve())
    if args.rated is not None and args.raw is None:
        raise UsageError("reconciling files needs the raw records too: --raw FILE --rejected PATH")
    out = (args.out or settings.output_dir / "reconciliation" / f"period={period.label}").resolve()
    begun = time.monotonic()
    spark = create_spark(settings, "telecom-reconcile")
    report = reconcile_period(spark, settings, request, lambda line: print(line, flush=True))
    target = out / "reconciliation.json"
    write_json(target, report)

    raw, rated, amounts = report["raw"], report["rated"], report["amounts"]
    for scope in ("run", "period"):
        counts = raw[scope]
        reasons = ", ".join(f"{k} {v:,}" for k, v in counts["rejected_by_reason"].items()) or "none"
        print(f"{scope:>6}: raw {counts['records']:,} = rated {counts['rated']:,} + rejected {counts['rejected']:,} "
              f"+ duplicate {counts['duplicate']:,} + merged {counts['merged']:,} + in flight {counts['in_flight']:,} "
              f"+ held {counts['held']:,} "
              f"(+ unexplained {counts['unexplained']:,}); rejected: {reasons}")
    print(f"rated records of {period.label}: {rated['records']:,}, duplicates {rated['duplicates']:,}, "
          f"billed {rated['billed']:,}")
    print(f"rated charges {amounts['rated_charges']} - included {amounts['allowance_inclusions']} = billed "
          f"{amounts['billed_amounts']}; usage lines {amounts['usage_lines']} (rounding drift "
          f"{amounts['rounding_drift']}, bound {amounts['rounding_drift_bound']}) {amounts['currency']}")
    if report.get("late"):
        late = report["late"]
        billed_in = ", ".join(f"{n:,} in {p}" for p, n in late["billed_in"].items()) or "none billed yet"
        print(f"late CDRs (after the final of {period.label}): {late['records']:,}: {billed_in}, "
              f"waiting for a final {late['pending']:,}")
    print(f"unexplained records: {report['unexplained_total']:,}")
    print(f"written {target} in {time.monotonic() - begun:.0f} s")
    return 0 if reconcile.report_ok(report) else 1
