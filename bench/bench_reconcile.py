#!/usr/bin/env python3
"""Rating a file and reconciling it: `telecom rate` and `telecom reconcile` on the same raw records.

Generates `--count` CDRs (default 1,000,000, default defect rate, period 2026-10), rates them with
the file driver (`telecom rate --input`), then reconciles the period from the files (`telecom
reconcile --raw --rated --rejected`, which re-runs mediation over the raw records to account for
each one). Each figure is raw records / wall seconds of the command, JVM start included, as a user
sees it:

* `file_rating_cdr_per_s`: `telecom rate`;
* `reconcile_cdr_per_s`: `telecom reconcile` (the goal: no slower than rating);
* `reconcile_vs_rating`: their ratio.

Prints one JSON line.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

from stack import generate_backlog, telecom

PERIOD = "2026-10"
NOW = "2026-11-02T00:00:00Z"  # after the period: no record is in the future


def timed(*args: str) -> float:
    started = time.monotonic()
    telecom(*args)
    return time.monotonic() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=1_000_000, help="raw CDRs (default 1,000,000)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-reconcile-") as name:
        tmp = Path(name)
        raw = generate_backlog(tmp / "raw.jsonl", args.count)
        rating_s = timed("rate", "--input", str(raw), "--out", str(tmp / "rated"), "--now", NOW)
        reconcile_s = timed("reconcile", "--period", PERIOD, "--raw", str(raw),
                            "--rated", str(tmp / "rated" / "rated.jsonl"),
                            "--rejected", str(tmp / "rated" / "rejected.jsonl"), "--out", str(tmp / "reconciliation"))
    rating, reconciling = args.count / rating_s, args.count / reconcile_s
    print(json.dumps({"file_rating_cdr_per_s": round(rating, 1), "reconcile_cdr_per_s": round(reconciling, 1),
                      "reconcile_vs_rating": round(reconciling / rating, 3)}))


if __name__ == "__main__":
    main()
