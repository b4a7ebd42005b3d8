"""`telecom tail`: pretty-print cdr.raw, cdr.rated or cdr.rejected, optionally live."""

from __future__ import annotations

import argparse
import sys

from ..cli_params import add_connection
from ..errors import UsageError
from ..infra.settings import settings_from_args

NAME = "tail"
HELP = "pretty-print the records of cdr.raw, cdr.rated or cdr.rejected (--follow for live)"
DEFAULT_LAST = 10


def configure(parser: argparse.ArgumentParser) -> None:
    add_connection(parser)
    parser.add_argument("topic", nargs="?", default="rated",
                        help="raw, rated (default), rejected, or a topic name such as cdr.rejected")
    parser.add_argument("--from-beginning", action="store_true",
                        help=f"start at the oldest record (default: the last {DEFAULT_LAST}, or --limit)")
    parser.add_argument("--follow", "-f", action="store_true", help="keep printing new records until Ctrl-C")
    parser.add_argument("--limit", "-n", type=int, default=None, help="print at most N records")
    parser.add_argument("--msisdn", default=None,
                        help="only records of this subscriber (E.164 digits) among those read; "
                             "with --from-beginning the whole topic is searched")
    parser.add_argument("--json", action="store_true",
                        help="print each record value as one JSON line (a payload that is not JSON as a string)")


def _kind_from_name(topic: str) -> str:
    """How to render a topic that is not one of the configured three (e.g. `cdr.rated.test`)."""
    return "rejected" if "rejected" in topic else "rated" if "rated" in topic else "raw"


def run(args: argparse.Namespace) -> int:
    from ..tail import read_records, render, subscriber_of

    settings = settings_from_args(args)
    aliases = {"raw": settings.topic_raw, "rated": settings.topic_rated, "rejected": settings.topic_rejected}
    topic = aliases.get(args.topic, args.topic)
    kind = next((k for k, name in aliases.items() if name == topic), None) or _kind_from_name(topic)
    if args.limit is not None and args.limit < 1:
        raise UsageError("--limit must be at least 1")
    wanted = args.msisdn.lstrip("+") if args.msisdn else None
    records = read_records(settings, topic, from_beginning=args.from_beginning, follow=args.follow,
                           last=args.limit or DEFAULT_LAST, limit=args.limit,
                           matches=(lambda r: subscriber_of(r) == wanted) if wanted else (lambda r: True))
    try:
        for record in records:
            print(render(record, kind, args.json), flush=args.follow)
    except BrokenPipeError:  # `telecom tail | head`: the reader has gone
        sys.stderr.close()
    except KeyboardInterrupt:
        return 130
    finally:
        records.close()  # closes the consumer
    return 0
