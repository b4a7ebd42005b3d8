"""`telecom generate`: synthetic CDRs with labelled defects, or the Faker subscriber base."""

from __future__ import annotations

import argparse
import contextlib
import sys
from collections.abc import Iterator
from datetime import date
from pathlib import Path
from typing import IO

from ..cli_params import CATALOG, LABELS, OUT, QUIET
from ..contracts.records import FORMATS
from ..errors import UsageError
from ..generator import (
    DEFAULT_COUNT,
    DEFAULT_DEFECT_RATE,
    DEFAULT_SEED,
    DEFAULT_SUBSCRIBERS,
    REFERENCE_MONTH,
    CdrGenerator,
    GeneratorOptions,
    WriteStats,
    default_labels_path,
    write_cdrs,
)
from ..infra.settings import Settings, load_settings

NAME = "generate"
HELP = "generate realistic CDRs (canonical or legacy) with labelled defects, or the subscriber base"


def _day(text: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a date YYYY-MM-DD, got {text!r}") from None


def add_generator_flags(parser: argparse.ArgumentParser, *, streaming: bool = False) -> None:
    """The flags that shape generated traffic (shared with `telecom produce`, which `streaming`)."""
    g = parser.add_argument_group("generated traffic")
    g.add_argument("--count", type=int, default=None if streaming else DEFAULT_COUNT,
                   help=f"number of lines (default {DEFAULT_COUNT:,}" + (", endless with the live clock)"
                                                                           if streaming else ")"))
    g.add_argument("--seed", type=int, default=DEFAULT_SEED, help=f"random seed (default {DEFAULT_SEED})")
    g.add_argument("--format", dest="fmt", choices=FORMATS, default="canonical",
                   help="canonical (default) or legacy (the seed project's format)")
    g.add_argument("--start", type=_day, default=None,
                   help=f"simulated clock: first local day of the period (default {REFERENCE_MONTH}, "
                        "unless --rate alone asks for the live clock)")
    g.add_argument("--days", type=int, default=None,
                   help="length of the simulated period in days (default: to the end of the start's month)")
    g.add_argument("--rate", type=float, default=None,
                   help="lines per second; alone it selects the live clock (event time = now)")
    g.add_argument("--defects", type=float, default=DEFAULT_DEFECT_RATE,
                   help=f"share of lines with an injected, labelled defect (default {DEFAULT_DEFECT_RATE}; 0: none)")
    g.add_argument("--parts-share", type=float, default=None,
                   help="share of lines that are partial records of long calls and data sessions "
                        "(default: the traffic model's partials.share; 0: none)")
    CATALOG.add(g, help="tariff catalog, with its traffic model traffic.yaml beside it (default data/catalog)")
    g.add_argument("--subscribers-file", type=Path, default=None,
                   help="subscriber base to draw from (default data/subscribers.csv)")
    g.add_argument("--subscribers", type=int, default=None,
                   help="draw CDRs from the first N subscribers of the file" + ("" if streaming else
                        f"; with --subscribers-only, the size of the base to create (default {DEFAULT_SUBSCRIBERS:,})"))


def options_from_args(args: argparse.Namespace) -> GeneratorOptions:
    live = args.rate is not None and args.start is None
    if live and args.days is not None:
        raise UsageError("--days needs --start (the live clock has no period)")
    return GeneratorOptions(seed=args.seed, count=args.count, fmt=args.fmt,
                            start=None if live else (args.start or REFERENCE_MONTH), days=args.days,
                            rate=args.rate, defects=args.defects, parts_share=args.parts_share)


def generator_from_args(args: argparse.Namespace, settings: Settings) -> CdrGenerator:
    """The generator the flags name (catalog, its traffic, subscriber base, options)."""
    from ..jobs.traffic import build_generator

    return build_generator(settings, options_from_args(args), args.catalog, args.subscribers_file, args.subscribers)


def configure(parser: argparse.ArgumentParser) -> None:
    add_generator_flags(parser)
    OUT.add(parser, help="output file (default stdout; with --subscribers-only: data/subscribers.csv)")
    LABELS.add(parser, help="defect labels file (default: next to --out as NAME.labels.jsonl)")
    parser.add_argument("--subscribers-only", action="store_true",
                        help="write the Faker subscriber base (CSV) instead of CDRs")
    QUIET.add(parser, help="no progress or summary on stderr")


@contextlib.contextmanager
def _opened(path: Path | None) -> Iterator[IO[str]]:
    if path is None:
        yield sys.stdout
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", encoding="utf-8", newline="\n") as handle:
        yield handle


def _write_base(args: argparse.Namespace, settings: Settings) -> int:
    from ..generator.subscribers import generate_subscribers
    from ..jobs.traffic import catalog_and_traffic
    from ..refdata.subscribers import write_subscribers

    catalog, traffic = catalog_and_traffic(args.catalog or settings.catalog_dir)
    out = args.out or settings.subscribers_file
    base = generate_subscribers(catalog, args.subscribers or DEFAULT_SUBSCRIBERS, args.seed, traffic=traffic)
    out.parent.mkdir(parents=True, exist_ok=True)
    write_subscribers(out, base)
    if not args.quiet:
        print(f"wrote {len(base)} subscribers to {out}", file=sys.stderr)
    return 0


def run(args: argparse.Namespace) -> int:
    settings = load_settings()
    if args.subscribers_only:
        return _write_base(args, settings)
    generator = generator_from_args(args, settings)
    labels_path = args.labels
    if labels_path is None and args.out is not None and generator.options.defects > 0:
        labels_path = Path(default_labels_path(str(args.out)))

    def progress(stats: WriteStats) -> None:
        print(f"generate: {stats.lines:,} lines, {stats.rate:,.0f}/s", file=sys.stderr, flush=True)

    with _opened(args.out) as out, contextlib.ExitStack() as stack:
        labels = stack.enter_context(_opened(labels_path)) if labels_path is not None else None
        try:
            stats = write_cdrs(generator, out, labels, None if args.quiet else progress)
        except BrokenPipeError:  # `telecom generate | head`: the reader has gone, not an error
            sys.stderr.close()
            return 0
    if not args.quiet:
        where = args.out or "stdout"
        labelled = f", {stats.defects:,} defects labelled in {labels_path}" if labels_path else ""
        print(f"generated {stats.lines:,} {generator.options.fmt} CDRs to {where}{labelled} "
              f"in {stats.seconds:.2f} s ({stats.rate:,.0f}/s)", file=sys.stderr)
    return 0
