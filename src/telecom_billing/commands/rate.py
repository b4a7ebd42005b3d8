"""`telecom rate`: mediation + rating of a JSONL file, the same transformation as the stream."""

from __future__ import annotations

import argparse
import time
from datetime import UTC, datetime
from pathlib import Path

from ..cli_params import CATALOG, OUT, SUBSCRIBERS, add_connection
from ..errors import UsageError
from ..infra.settings import settings_from_args

NAME = "rate"
HELP = "rate a JSONL file of raw CDRs (canonical or legacy) into rated.jsonl, rejected.jsonl, reconciliation.json"


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--input", required=True, type=Path, help="raw CDRs, one JSON record per line")
    OUT.add(parser, required=True)
    CATALOG.add(parser)
    SUBSCRIBERS.add(parser)
    parser.add_argument("--now", default=None,
                        help="processing time for FUTURE_TIMESTAMP and rated_at, ISO-8601 (default: now)")
    add_connection(parser, spark=True)


def parse_now(text: str | None) -> datetime:
    if text is None:
        return datetime.now(UTC)
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise UsageError(f"--now: not an ISO-8601 time: {text!r}") from None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def run(args: argparse.Namespace) -> int:
    from ..ratefile import rate_file

    settings = settings_from_args(args)
    started = time.monotonic()
    report = rate_file(settings, args.input, args.out, args.catalog or settings.catalog_dir,
                       args.subscribers or settings.subscribers_file, parse_now(args.now))
    elapsed = time.monotonic() - started
    reasons = ", ".join(f"{k} {v}" for k, v in sorted(report.rejected_by_reason.items())) or "none"
    print(f"raw {report.raw}  rated {report.rated}  rejected {report.rejected} ({reasons})  "
          f"duplicate {report.duplicate}  merged {report.merged}  unexplained {report.unexplained}")
    if report.merged or any(report.sessions.values()):
        print(f"partial records: sessions assembled {report.sessions['complete']} complete, "
              f"{report.sessions['incomplete']} incomplete")
    print(f"charges {report.charge_total} {report.currency}; {report.raw / elapsed:,.0f} records/s; "
          f"output in {args.out}")
    return 0 if report.unexplained == 0 else 1
