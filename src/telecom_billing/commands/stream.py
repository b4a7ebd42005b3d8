"""`telecom stream`: the Structured Streaming mediation + rating job."""

from __future__ import annotations

import argparse

from ..cli_params import CATALOG, CHECKPOINT_DIR, SUBSCRIBERS, add_connection
from ..infra.settings import settings_from_args

NAME = "stream"
HELP = "run the streaming job: cdr.raw -> mediation + rating -> cdr.rated / cdr.rejected"


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--once", action="store_true", help="drain what is in cdr.raw now, then exit")
    parser.add_argument("--trigger", default=None,
                        help="micro-batch interval, e.g. '2 seconds' (env TELECOM_TRIGGER), or 'realtime:5 seconds'")
    parser.add_argument("--max-offsets-per-trigger", type=int, default=500_000,
                        help="cap on records per micro-batch (default 500000; 0 = no cap)")
    parser.add_argument("--dedup-window", default="24 hours",
                        help="how long seen cdr_ids are kept, in arrival time (default '24 hours')")
    CHECKPOINT_DIR.add(parser)
    parser.add_argument("--starting-offsets", default="earliest", choices=["earliest", "latest"],
                        help="where a new query (no checkpoint yet) starts in cdr.raw")
    CATALOG.add(parser)
    SUBSCRIBERS.add(parser)
    parser.add_argument("--ui-port", dest="spark_ui_port", type=int, default=None,
                        help="Spark UI port (env TELECOM_SPARK_UI_PORT, default 4040; 0 = no UI)")
    add_connection(parser, spark=True)


def run(args: argparse.Namespace) -> int:
    from ..jobs.rating import run_stream
    from ..stream import StreamOptions, validate_trigger

    settings = settings_from_args(args)
    trigger = "once" if args.once else validate_trigger(args.trigger or settings.trigger)
    options = StreamOptions(trigger=trigger, max_offsets_per_trigger=args.max_offsets_per_trigger or None,
                            dedup_window=args.dedup_window, starting_offsets=args.starting_offsets)
    run_stream(settings, options, args.catalog, args.subscribers, lambda line: print(line, flush=True))
    return 0
