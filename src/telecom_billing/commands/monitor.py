"""`telecom monitor`: the usage monitor, cdr.rated -> subscriber.alerts (DESIGN.md 7d)."""

from __future__ import annotations

import argparse

from ..cli_params import CATALOG, CHECKPOINT_DIR, add_connection
from ..errors import UsageError
from ..infra.settings import settings_from_args

NAME = "monitor"
HELP = "run the usage monitor: cdr.rated -> allowance and spending-cap alerts on subscriber.alerts"


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--once", action="store_true", help="meter what is in cdr.rated now, then exit")
    parser.add_argument("--trigger", default=None,
                        help="micro-batch interval, e.g. '2 seconds' (env TELECOM_TRIGGER)")
    parser.add_argument("--max-offsets-per-trigger", type=int, default=500_000,
                        help="cap on rated CDRs per micro-batch (default 500000; 0 = no cap)")
    CHECKPOINT_DIR.add(parser)
    parser.add_argument("--starting-offsets", default="earliest", choices=["earliest", "latest"],
                        help="where a new monitor (no checkpoint yet) starts in cdr.rated")
    CATALOG.add(parser)
    parser.add_argument("--ui-port", dest="spark_ui_port", type=int, default=None,
                        help="Spark UI port (env TELECOM_SPARK_UI_PORT, default 4040; 0 = no UI)")
    add_connection(parser, spark=True)


def run(args: argparse.Namespace) -> int:
    from ..jobs.monitor import run_monitor
    from ..stream import StreamOptions, validate_trigger

    settings = settings_from_args(args)
    trigger = "once" if args.once else validate_trigger(args.trigger or settings.trigger)
    if trigger.startswith("realtime:"):
        raise UsageError("--trigger: the monitor keeps state per subscriber: real-time mode runs stateless queries only")
    options = StreamOptions(trigger=trigger, max_offsets_per_trigger=args.max_offsets_per_trigger or None,
                            starting_offsets=args.starting_offsets, query_name="usage-monitor")
    run_monitor(settings, options, args.catalog, lambda line: print(line, flush=True))
    return 0
