"""`telecom tail`: pretty-print cdr.raw, cdr.rated, cdr.rejected or subscriber.alerts, optionally live."""

from __future__ import annotations

import argparse
import sys

from ..cli_params import add_connection
from ..errors import UsageError
from ..infra.settings import Settings, settings_from_args

NAME = "tail"
HELP = "pretty-print the records of cdr.raw, cdr.rated, cdr.rejected or subscriber.alerts (--follow for live)"
DEFAULT_LAST = 10


def configure(parser: argparse.ArgumentParser) -> None:
    add_connection(parser)
    parser.add_argument("topic", nargs="?", default="rated",
                        help="raw, rated (default), rejected, alerts (the usage monitor's subscriber.alerts), "
                             "or a topic name such as cdr.rejected")
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
    """How to render a topic that is not one of the configured four (e.g. `cdr.rated.test`)."""
    if "rejected" in topic:
        return "rejected"
    if "alert" in topic:
        return "alerts"
    return "rated" if "rated" in topic else "raw"


def resolve(settings: Settings, name: str) -> tuple[str, str]:
    """(topic, kind of its records) of the command's argument: an alias (raw, rated, rejected,
    alerts) names the configured topic, any other name is a topic rendered as its name suggests."""
    aliases = {"raw": settings.topic_raw, "rated": settings.topic_rated, "rejected": settings.topic_rejected,
               "alerts": settings.topic_alerts}
    topic = aliases.get(name, name)
    kind = next((k for k, configured in aliases.items() if configured == topic), None) or _kind_from_name(topic)
    return topic, kind


def run(args: argparse.Namespace) -> int:
    from ..tail import read_records, render, subscriber_of

    settings = settings_from_args(args)
    topic, kind = resolve(settings, args.topic)
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
