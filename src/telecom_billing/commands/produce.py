"""`telecom produce`: generated traffic or a JSONL file (either format) to the raw topic."""

from __future__ import annotations

import argparse
import contextlib
import signal
import sys
from pathlib import Path

from ..cli_params import LABELS, QUIET, add_connection
from ..errors import UsageError
from ..generator import DEFAULT_COUNT
from ..infra.kafka_clients import DEFAULT_BATCH_SIZE, DEFAULT_COMPRESSION, DEFAULT_LINGER_MS
from ..infra.settings import settings_from_args
from .generate import add_generator_flags, generator_from_args

NAME = "produce"
HELP = "send CDRs to Kafka: from the generator (--count/--rate/--duration) or replay a file (--file)"


def configure(parser: argparse.ArgumentParser) -> None:
    add_connection(parser)
    parser.add_argument("--topic", default=None, help="topic (default: the raw topic, env TELECOM_TOPIC_RAW)")
    parser.add_argument("--file", default=None,
                        help="replay this JSONL file (`-`: stdin), each line sent as-is, instead of generating")
    parser.add_argument("--duration", type=float, default=None, help="stop after this many seconds")
    LABELS.add(parser)
    add_generator_flags(parser, streaming=True)
    tune = parser.add_argument_group("producer tuning")
    tune.add_argument("--compression", default=DEFAULT_COMPRESSION,
                      help=f"none, gzip, lz4, zstd or snappy (default {DEFAULT_COMPRESSION})")
    tune.add_argument("--batch-size", type=int, default=DEFAULT_BATCH_SIZE,
                      help=f"bytes per partition batch (default {DEFAULT_BATCH_SIZE})")
    tune.add_argument("--linger-ms", type=int, default=DEFAULT_LINGER_MS,
                      help=f"wait this long to fill a batch (default {DEFAULT_LINGER_MS})")
    QUIET.add(parser)


def run(args: argparse.Namespace) -> int:
    from ..producer import ProduceStats, Tuning, encoded, file_batches, limited, produce

    settings = settings_from_args(args)
    topic = args.topic or settings.topic_raw
    if args.duration is not None and args.duration <= 0:
        raise UsageError("--duration must be positive")
    if args.batch_size < 1 or args.linger_ms < 0:
        raise UsageError("--batch-size must be positive and --linger-ms not negative")
    tuning = Tuning(compression=args.compression, batch_size=args.batch_size, linger_ms=args.linger_ms)
    tuning.kwargs()  # refuse a codec without its package before touching the broker

    with contextlib.ExitStack() as stack:
        if args.file is not None:
            if args.labels is not None:
                raise UsageError("--labels is for generated traffic, not --file")
            if args.file != "-" and not Path(args.file).is_file():
                raise UsageError(f"{args.file}: no such file")
            batches = file_batches(args.file)
            source = args.file
        else:
            live = args.rate is not None and args.start is None
            if args.count is None and not live:  # a simulated period is always a finite count
                args.count = DEFAULT_COUNT
            generator = generator_from_args(args, settings)
            labels = stack.enter_context(args.labels.open("w", encoding="utf-8")) if args.labels else None
            batches = encoded(generator.batches(keyed=True), labels)
            source = f"generator ({generator.options.fmt}, {'live' if generator.options.live else 'simulated'})"

        def progress(stats: ProduceStats) -> None:
            print(f"produce: queued={stats.queued} sent={stats.sent} failed={stats.failed} "
                  f"rate={stats.rate:.0f}/s", file=sys.stderr, flush=True)

        if not args.quiet:
            print(f"producing to {topic} at {settings.bootstrap_servers} from {source}", file=sys.stderr)
        stats = produce(settings, topic, limited(batches, args.duration), tuning,
                        None if args.quiet else progress)
    if stats.interrupted:
        print(f"produce: stopped by {stats.interrupted}, flushed", file=sys.stderr)
    if stats.failed:
        print(f"produce: {stats.failed} records failed, first error: {stats.first_error}", file=sys.stderr)
    print(stats.summary(), flush=True)
    if stats.interrupted:
        return 128 + signal.Signals[stats.interrupted].value
    return 1 if stats.failed else 0
