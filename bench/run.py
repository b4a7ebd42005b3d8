#!/usr/bin/env python3
"""`make bench`: every benchmark on the embedded stack, one table, `build/bench/results.json`.

Each benchmark is a script in this folder printing one JSON line; this runner starts them one
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

# (script, full-size arguments, quick arguments)
BENCHMARKS = [
    ("bench_generator.py", ["--count", "1000000"], ["--count", "100000", "--repeat", "1"]),
    ("bench_producer.py", ["--count", "200000"], ["--count", "20000", "--repeat", "1"]),
    ("bench_stream.py", ["--count", "1000000", "--peer-count", "100000"], ["--count", "100000", "--peer-count", "10000"]),
    ("bench_latency.py", [], ["--seconds", "15", "--warmup", "10", "--rate", "2000"]),
    ("bench_latency.py", ["--trigger", "realtime:5 seconds", "--prefix", "latency_rt_"],
     ["--trigger", "realtime:5 seconds", "--prefix", "latency_rt_", "--seconds", "15", "--warmup", "10",
      "--rate", "2000"]),
    ("bench_billing.py", ["--count", "10000000"], ["--count", "500000"]),
]

GOALS = {
    "generator_cdr_per_s": ">= 300000",
    "producer_cdr_per_s": ">= 30000",
    "kafka_perf_test_rec_per_s": "(the limit for the producer)",
    "stream_rating_cdr_per_s": ">= 100000 and >= 50 % of pass-through",
    "stream_passthrough_cdr_per_s": "(the limit for the stream)",
    "python_peer_cdr_per_s": "(slower than the stream)",
    "latency_p50_ms": "(at 5,000 CDR/s offered)",
    "latency_p99_ms": "<= 2000",
    "latency_rt_p99_ms": "<= 250 (real-time mode)",
    "billing_cdr_per_s": ">= 83000 (10M CDRs in <= 120 s)",
    "peak_rss_mb": "(whole local stack, stream run)",
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
                              text=True)
        lines = [ln for ln in proc.stdout.splitlines() if ln.startswith("{")]
        if proc.returncode != 0 or not lines:
            failures.append(script)
            print(f"bench: {script} failed: {(proc.stderr.strip().splitlines() or ['no output'])[-1]}", flush=True)
            continue
        found = json.loads(lines[-1])
        if "peak_rss_mb" in found:  # several runs measure it: keep the peak
            found["peak_rss_mb"] = max(found["peak_rss_mb"], results.get("peak_rss_mb", 0))
        results.update(found)
        print(f"bench: {script} done in {time.monotonic() - started:.0f} s", flush=True)
    stream, copy = results.get("stream_rating_cdr_per_s"), results.get("stream_passthrough_cdr_per_s")
    if isinstance(stream, int | float) and isinstance(copy, int | float) and copy:
        results["stream_vs_passthrough"] = round(stream / copy, 3)
    results["machine"] = machine()
    results["quick"] = args.quick
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(json.dumps(results, indent=2) + "\n")
    print(f"\n{'metric':<32}{'measured':>16}  goal")
    for key, goal in GOALS.items():
        value = results.get(key)
        shown = f"{value:,.0f}" if isinstance(value, int | float) else "n/a"
        print(f"{key:<32}{shown:>16}  {goal}")
    print(f"\nresults: {OUT}")
    return 1 if failures else 0


if __name__ == "__main__":
    raise SystemExit(main())
