"""`telecom stream`: the Structured Streaming mediation + rating job."""

from __future__ import annotations

import argparse

from ..cli_params import CATALOG, SUBSCRIBERS, add_connection, add_streaming
from ..infra.settings import settings_from_args

NAME = "stream"
HELP = "run the streaming job: cdr.raw -> mediation + rating -> cdr.rated / cdr.rejected"


def configure(parser: argparse.ArgumentParser) -> None:
    add_streaming(parser, "cdr.raw", trigger_help="micro-batch interval, e.g. '2 seconds' (env TELECOM_TRIGGER), "
                                                  "or 'realtime:5 seconds'")
    parser.add_argument("--dedup-window", default="24 hours",
                        help="how long seen cdr_ids are kept, in arrival time (default '24 hours')")
    CATALOG.add(parser)
    SUBSCRIBERS.add(parser)
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
