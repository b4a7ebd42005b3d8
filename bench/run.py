#!/usr/bin/env python3
"""`make bench`: every benchmark on the embedded stack, one table, `build/bench/results.json`.

Each benchmark is a script in this folder printing JSON lines (merged); this runner starts them one
after the other (so they do not compete for the 2 cores), merges their numbers, adds the machine,
and prints them beside the goals. `--quick` runs smaller sizes (for a smoke run).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
OUT = REPO / "build" / "bench" / "results.json"
# The Python peer runs the rules of tests/reference/rating.py, imported as `reference.rating`.
BENCH_ENV = dict(os.environ, PYTHONPATH=str(REPO / "tests"))

# (script, full-size arguments, quick arguments)
QUICK_LATENCY = ["--seconds", "15", "--warmup", "10", "--rate", "2000"]
# Real-time mode holds a task per raw partition (6): the stream gets six local slots.
REAL_TIME = ["--trigger", "realtime:5 seconds", "--stream-args=--master local[6]", "--prefix", "latency_rt_"]

# (script, full-size arguments, quick arguments)
BENCHMARKS = [
    ("bench_cold.py", [], ["--count", "20000"]),
    ("bench_generator.py", ["--count", "1000000"], ["--count", "100000", "--repeat", "1"]),
    ("bench_producer.py", ["--count", "200000"], ["--count", "20000", "--repeat", "1"]),
    ("bench_stream.py", ["--count", "2000000"], ["--count", "200000", "--warmup-rows", "100000",
                                                 "--peer-count", "10000"]),
    ("bench_stream.py", ["--count", "1000000", "--parts-share", "0.05", "--suffix", "_parts_5pct", "--rating-only",
                         "--warmup-rows", "500000"],
     ["--count", "100000", "--parts-share", "0.05", "--suffix", "_parts_5pct", "--rating-only",
      "--warmup-rows", "50000"]),
    ("bench_stream.py", ["--count", "1000000", "--subscribers", "1000000", "--suffix", "_1m_subs", "--rating-only",
                         "--warmup-rows", "500000"],
     ["--count", "100000", "--subscribers", "100000", "--suffix", "_1m_subs", "--rating-only",
      "--warmup-rows", "50000"]),
    ("bench_latency.py", [], QUICK_LATENCY),
    ("bench_latency.py", ["--rate", "20000", "--suffix", "_20k"], [*QUICK_LATENCY, "--suffix", "_20k"]),
    ("bench_latency.py", REAL_TIME, [*REAL_TIME, *QUICK_LATENCY]),
    ("bench_latency.py", ["--rate", "2000", "--monitor", "--suffix", "_with_monitor"],
     [*QUICK_LATENCY, "--rate", "1000", "--monitor", "--suffix", "_with_monitor"]),
    ("bench_monitor.py", ["--count", "1000000"], ["--count", "100000", "--warmup-rows", "50000"]),
    ("bench_reconcile.py", ["--count", "1000000"], ["--count", "100000"]),
    ("bench_billing.py", ["--count", "10000000"], ["--count", "500000"]),
    ("bench_load.py", ["--count", "10000000"], ["--count", "200000"]),
]

GOALS = {  # issue 21's (speed, round two) where it set one
    "demo_s": "<= 45 (telecom demo, 100k CDRs)",
    "stream_cold_100k_s": "<= 8 (fresh telecom stream --once, 100k backlog)",
    "generator_cdr_per_s": ">= 300000",
    "producer_cdr_per_s": ">= 30000",
    "kafka_perf_test_rec_per_s": "(the limit for the producer)",
    "stream_rating_cdr_per_s": "(whole drain)",
    "stream_rating_steady_cdr_per_s": "(after the JIT warm-up)",
    "stream_rating_steady_cdr_per_s_1m_subs": "(1,000,000 subscribers)",
    "stream_passthrough_cdr_per_s": "(the limit for the stream)",
    "stream_passthrough_steady_cdr_per_s": "(after the JIT warm-up)",
    "python_peer_cdr_per_s": "(the fair peer)",
    "python_peer_naive_cdr_per_s": "(the earlier peer)",
    "latency_p50_ms": "(at 5,000 CDR/s offered)",
    "latency_p99_ms": "<= 1500",
    "latency_p50_ms_20k": "(at 20,000 CDR/s offered)",
    "latency_p99_ms_20k": "(at 20,000 CDR/s offered)",
    "latency_rt_p50_ms": "(real-time mode, 5,000 CDR/s)",
    "latency_rt_p99_ms": "<= 250 (real-time mode)",
    "file_rating_cdr_per_s": "(telecom rate, JVM start included)",
    "reconcile_cdr_per_s": "(telecom reconcile from the topics, by offsets)",
    "reconcile_deep_cdr_per_s": "(telecom reconcile --deep from the files)",
    "billing_cdr_per_s": ">= 83000 (10M CDRs in <= 120 s)",
    "peak_rss_mb": "<= 3072 (whole local stack)",
    "load_cdrs_postgres_per_s": "(telecom load --with-cdrs: 10M rated CDRs, COPY)",
    "load_cdrs_sqlite_per_s": "(the same into SQLite)",
    "stream_vs_passthrough": ">= 0.35",
    "stream_vs_python_peer": ">= 1.5",
    "billing_vs_passthrough": ">= 1.0",
    "reconcile_vs_file_rating": ">= 5",
    "stream_1m_subs_vs_10k_subs": ">= 0.9",
    "stream_parts_5pct_vs_whole": "near 1 (issue 23: whole records do not pay for partial records)",
    "monitor_cdr_per_s": "(issue 24: the usage monitor draining cdr.rated)",
    "monitor_steady_cdr_per_s": "(after its warm-up)",
    "monitor_alert_p50_ms": "(rated CDR on cdr.rated -> its alert, 2,000 CDR/s offered)",
    "monitor_alert_p99_ms": "(the same)",
    "monitor_vs_stream": "(the monitor keeps up with the stream when >= 1)",
}


# The goals that compare two figures of the same run.
RATIOS = {
    "stream_vs_passthrough": ("stream_rating_cdr_per_s", "stream_passthrough_cdr_per_s"),
    "stream_vs_python_peer": ("stream_rating_cdr_per_s", "python_peer_cdr_per_s"),
    "billing_vs_passthrough": ("billing_cdr_per_s", "stream_passthrough_cdr_per_s"),
    "reconcile_vs_file_rating": ("reconcile_cdr_per_s", "file_rating_cdr_per_s"),
    "stream_1m_subs_vs_10k_subs": ("stream_rating_cdr_per_s_1m_subs", "stream_rating_cdr_per_s"),
    "stream_parts_5pct_vs_whole": ("stream_rating_cdr_per_s_parts_5pct", "stream_rating_cdr_per_s"),
    "monitor_vs_stream": ("monitor_cdr_per_s", "stream_rating_cdr_per_s"),
}


def machine() -> dict[str, object]:
    return {"cpus": os.cpu_count(), "python": platform.python_version(), "platform": platform.platform(),
            "memory_gib": round(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30, 1)}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="smaller sizes, for a smoke run")
    args = parser.parse_args()
    results: dict[str, object] = {}
    failures = []
    for script, full, quick in BENCHMARKS:
        path = REPO / "bench" / script
        if not path.exists():
            continue
        started = time.monotonic()
        print(f"bench: {script} ...", flush=True)
        proc = subprocess.run([sys.executable, str(path), *(quick if args.quick else full)], capture_output=True,
                              text=True, env=BENCH_ENV)
        # A script may print a JSON line per part: what a later part's failure leaves is kept.
        for line in (ln for ln in proc.stdout.splitlines() if ln.startswith("{")):
            found = json.loads(line)
            if "peak_rss_mb" in found:  # several runs measure it: keep the peak
                found["peak_rss_mb"] = max(found["peak_rss_mb"], results.get("peak_rss_mb", 0))
            results.update(found)
        if proc.returncode != 0:
            failures.append(script)
            print(f"bench: {script} failed: {(proc.stderr.strip().splitlines() or ['no output'])[-1]}", flush=True)
            continue
        print(f"bench: {script} done in {time.monotonic() - started:.0f} s", flush=True)
    for name, (numerator, denominator) in RATIOS.items():
        top, bottom = results.get(numerator), results.get(denominator)
        if isinstance(top, int | float) and isinstance(bottom, int | float) and bottom:
            results[name] = round(top / bottom, 3)
    results["machine"] = machine()
    results["quick"] = args.quick
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(json.dumps(results, indent=2) + "\n")
    print(f"\n{'metric':<40}{'measured':>12}  goal")
    for key, goal in GOALS.items():
        value = results.get(key)
        shown = ("n/a" if not isinstance(value, int | float) else f"{value:.3f}" if key in RATIOS
                 else f"{value:,.1f}" if key.endswith("_s") else f"{value:,.0f}")
        print(f"{key:<40}{shown:>12}  {goal}")
    print(f"\nresults: {OUT}")
    return 1 if failures else 0


if __name__ == "__main__":
    raise SystemExit(main())
