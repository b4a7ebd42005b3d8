#!/usr/bin/env python3
"""Usage monitor throughput: `--count` rated CDRs (default 1,000,000) of the default subscriber base on
`cdr.rated`, drained by the monitor (`telecom monitor --once`'s query, in this process).

The rated CDRs are `bench_billing`'s (made once with Spark, kept in `build/bench/`), written to a fresh
rated topic keyed by MSISDN. Prints one JSON line: `monitor_cdr_per_s` (the whole drain, summed batch
time), `monitor_steady_cdr_per_s` (batches after `--warmup-rows`), what it counted and the alerts it
wrote (its observed metrics), and the per-batch breakdown of its first and last batch (`durationMs`).
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

from bench_billing import cached_rated
from stack import WORK, create_topics, drain, fresh_settings, kafka, load_into_topic

from telecom_billing.billing.period import Period
from telecom_billing.infra.settings import load_settings
from telecom_billing.monitor.stream import METRICS, TALLY_FIELDS, start_monitor
from telecom_billing.refdata.catalog import load_catalog
from telecom_billing.stream import StreamOptions


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=1_000_000, help="rated CDRs (default 1,000,000)")
    parser.add_argument("--warmup-rows", type=int, default=250_000, help="rows before the steady batches")
    parser.add_argument("--max-offsets-per-trigger", type=int, default=100_000)
    args = parser.parse_args()

    base = load_settings()
    data = cached_rated(base, Period.parse("2026-10"), args.count, "jsonl", 7, WORK)
    tmp = Path(tempfile.mkdtemp(prefix="bench-monitor-"))
    with kafka(tmp / "broker", heap="1g") as broker:
        settings = fresh_settings(base, broker.bootstrap, "mon", tmp)
        create_topics(settings)

        from telecom_billing.infra.spark import create_spark

        spark = create_spark(settings, "bench-monitor")
        load_into_topic(spark, settings, data, settings.topic_rated)
        query = start_monitor(spark, settings, load_catalog(settings.catalog_dir),
                              StreamOptions(trigger="once", max_offsets_per_trigger=args.max_offsets_per_trigger,
                                            query_name="bench-monitor"), str(tmp / "checkpoint-monitor"))
        times = drain(query)
        tally = {name: 0 for name in (*TALLY_FIELDS, "alerts")}
        for progress in query.recentProgress:
            row = progress.observedMetrics.get(METRICS)
            for name in tally:
                tally[name] += int(row[name] or 0) if row is not None else 0
        breakdown = [dict(p.durationMs) for p in (query.recentProgress[0], query.recentProgress[-1])]
        spark.stop()
    print(f"batches (rows, ms): {times.batches}", file=sys.stderr)
    print(json.dumps({"monitor_cdr_per_s": times.rate(), "monitor_steady_cdr_per_s": times.rate(args.warmup_rows),
                      "monitor_rows": times.rows, "monitor_batches": len(times.batches),
                      **{f"monitor_{name}": value for name, value in tally.items()},
                      "monitor_first_last_batch_ms": breakdown}))


if __name__ == "__main__":
    main()
