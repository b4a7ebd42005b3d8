#!/usr/bin/env python3
"""Rated CDRs in bulk into the results database (`telecom load --with-cdrs`, DESIGN.md 7e, docs/SQL.md).

N rated CDRs of one month in a JSONL file (as `telecom rate` writes them) go the way `--with-cdrs`
takes them (`results.cdrs.period_cdrs`: parsed, kept when in the period, each `cdr_id` once) into
PostgreSQL (COPY, a server of the run's own: tests/postgres.py) and into SQLite (executemany in
chunks), each in one transaction. Prints one JSON line: seconds and rows per second for each.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

from postgres import running_server
from telecom_billing.infra.settings import load_settings
from telecom_billing.results.cdrs import CDR_COLUMNS, period_cdrs
from telecom_billing.results.database import connect
from telecom_billing.results.schema import migrate

PERIOD, ZONE = "2026-10", "Africa/Casablanca"


def write_rated(path: Path, count: int) -> None:
    """`count` rated CDRs of October 2026 (local), 10,000 subscribers, one JSON object per line."""
    template = ('{{"schema_version":"1.0","cdr_id":"b-{i:09d}","record_type":"voice",'
                '"event_time":"2026-10-{day:02d}T{hour:02d}:{minute:02d}:{second:02d}.000000Z",'
                '"msisdn":"2126{sub:08d}","other_party":"212611111111","direction":"MO","duration_sec":{q},'
                '"bytes_up":null,"bytes_down":null,"quantity":{q},"cell_id":"RABAT_001","technology":"4G",'
                '"visited_country":null,"roaming":false,"source_format":"canonical","plan_id":"SMART_99",'
                '"zone":"national_mobile","band":"peak","billable_units":{b},"price":"0.50","per":60,'
                '"unit_price":"0.0083333333","connect_fee":"0.00","charge":"{c}","currency":"MAD",'
                '"catalog_version":"2026.11","rated_at":"2026-11-01T00:00:00.000000Z"}}\n')
    with path.open("w", encoding="utf-8", buffering=1 << 20) as out:
        for i in range(count):
            q = 1 + i % 3600
            b = -(-q // 60) * 60
            out.write(template.format(i=i, day=2 + i % 29, hour=i % 24, minute=i % 60, second=(i // 60) % 60,
                                      sub=i % 10_000, q=q, b=b, c=f"{b / 120:.4f}"))


def timed_load(url: str, manifest: dict[str, object]) -> tuple[float, int]:
    db = connect(url)
    try:
        migrate(db)
        started = time.monotonic()
        with db.transaction():
            db.bulk_insert("rated_cdrs", ("period", *CDR_COLUMNS), period_cdrs(load_settings(), manifest))
        seconds = time.monotonic() - started
        rows = db.query("SELECT COUNT(*) FROM rated_cdrs")[0][0]
    finally:
        db.close()
    return seconds, rows


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=10_000_000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-load-") as work:
        rated = Path(work) / "rated.jsonl"
        started = time.monotonic()
        write_rated(rated, args.count)
        print(f"bench_load: {args.count:,} rated CDRs written in {time.monotonic() - started:.0f} s "
              f"({rated.stat().st_size / 2**30:.1f} GiB)", file=sys.stderr, flush=True)
        manifest = {"period": PERIOD, "timezone": ZONE, "input": {"kind": "files", "rated": [str(rated)]}}
        results: dict[str, object] = {"load_cdrs_count": args.count}
        with running_server() as server:
            seconds, rows = timed_load(server.url(), manifest)
        assert rows == args.count, f"PostgreSQL holds {rows} rows, {args.count} were written"
        results.update(load_cdrs_postgres_s=round(seconds, 1), load_cdrs_postgres_per_s=round(rows / seconds))
        seconds, rows = timed_load(str(Path(work) / "bench.sqlite"), manifest)
        assert rows == args.count, f"SQLite holds {rows} rows, {args.count} were written"
        results.update(load_cdrs_sqlite_s=round(seconds, 1), load_cdrs_sqlite_per_s=round(rows / seconds))
    print(json.dumps(results), flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
