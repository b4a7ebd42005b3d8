"""`telecom monitor`: the usage monitor, cdr.rated -> subscriber.alerts (DESIGN.md 7d)."""

from __future__ import annotations

import argparse

from ..cli_params import CATALOG, add_connection, add_streaming
from ..errors import UsageError
from ..infra.settings import settings_from_args

NAME = "monitor"
HELP = "run the usage monitor: cdr.rated -> allowance and spending-cap alerts on subscriber.alerts"


def configure(parser: argparse.ArgumentParser) -> None:
    add_streaming(parser, "cdr.rated")
    CATALOG.add(parser)
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
