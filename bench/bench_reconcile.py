#!/usr/bin/env python3
"""Rating a file and reconciling: `telecom rate`, then `telecom reconcile` of the same raw records
from the files (deep) and, once `telecom stream --once` has rated them from a topic, by offsets.

Generates `--count` CDRs (default 1,000,000, default defect rate, period 2026-10). Each figure is raw
records / wall seconds of the command, JVM start included, as a user sees it:

* `file_rating_cdr_per_s`: `telecom rate --input` (the file driver);
* `reconcile_deep_cdr_per_s`: `telecom reconcile --raw --rated --rejected` on its files: mediation
  re-run on every raw record (files carry no `source` header);
* `reconcile_cdr_per_s`: `telecom reconcile` from the topics after the stream drained them: the
  rated raw records accounted for by offsets, mediation re-run on the rest only (the goal: 5x file
  rating).

Uses KAFKA_BOOTSTRAP_SERVERS when set, else an embedded broker on free ports. Prints one JSON line.
"""

from __future__ import annotations

import argparse
import json
import tempfile
from pathlib import Path

from stack import create_topics, fresh_settings, generate_backlog, kafka, load_into_topic, telecom, telecom_env, timed

from telecom_billing.infra.settings import load_settings

PERIOD = "2026-10"
NOW = "2026-11-02T00:00:00Z"  # after the period: no record is in the future


def from_topics(raw: Path, tmp: Path) -> float:
    """Seconds of `telecom reconcile` by offsets, after `telecom stream --once` rated `raw` from a topic."""
    from telecom_billing.infra.spark import create_spark

    with kafka(tmp / "broker", heap="2g") as broker:
        settings = fresh_settings(load_settings(), broker.bootstrap, "reconcile", tmp)
        create_topics(settings)
        spark = create_spark(settings, "bench-reconcile-load")
        load_into_topic(spark, settings, raw)
        spark.stop()
        env = telecom_env(settings)
        telecom("stream", "--once", env=env)
        return timed("reconcile", "--period", PERIOD, "--invoices", str(tmp / "invoices"),
                     "--out", str(tmp / "reconciliation-topics"), env=env)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=1_000_000, help="raw CDRs (default 1,000,000)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-reconcile-") as name:
        tmp = Path(name)
        raw = generate_backlog(tmp / "raw.jsonl", args.count)
        rating_s = timed("rate", "--input", str(raw), "--out", str(tmp / "rated"), "--now", NOW)
        deep_s = timed("reconcile", "--period", PERIOD, "--raw", str(raw), "--rated", str(tmp / "rated" / "rated.jsonl"),
                       "--rejected", str(tmp / "rated" / "rejected.jsonl"), "--out", str(tmp / "reconciliation"))
        offsets_s = from_topics(raw, tmp)
    print(json.dumps({"file_rating_cdr_per_s": round(args.count / rating_s, 1),
                      "reconcile_deep_cdr_per_s": round(args.count / deep_s, 1),
                      "reconcile_cdr_per_s": round(args.count / offsets_s, 1)}))


if __name__ == "__main__":
    main()
