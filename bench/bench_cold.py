#!/usr/bin/env python3
"""What a new user waits for: the demo, and a fresh stream over a backlog.

Each figure is the wall time of a `telecom` command as its own process, from start to exit (JVM and
session start included):

* `demo_s`: `telecom demo` (100,000 CDRs: a fresh broker, generate + produce, the stream, the
  final bill with its reconciliation, the folder written), its broker on free ports, output to a
  temporary folder;
* `stream_cold_100k_s`: `telecom stream --once` over a backlog of `--count` (100,000) generated CDRs
  in a fresh raw topic, with a fresh checkpoint.

Uses KAFKA_BOOTSTRAP_SERVERS when set, else an embedded broker on free ports. Prints one JSON line.
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
from pathlib import Path

from stack import create_topics, fresh_settings, generate_backlog, kafka, load_into_topic, telecom_env, timed

from telecom_billing.infra.broker import free_port
from telecom_billing.infra.settings import load_settings


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=100_000, help="CDRs in the demo and the backlog")
    args = parser.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="bench-cold-"))
    demo_env = dict(os.environ, TELECOM_OUTPUT_DIR=str(tmp / "demo"), TELECOM_BROKER_PORT=str(free_port()),
                    TELECOM_CONTROLLER_PORT=str(free_port()))
    result: dict[str, object] = {"demo_s": round(timed("demo", "--count", str(args.count), env=demo_env), 1)}
    with kafka(tmp / "broker") as broker:
        settings = fresh_settings(load_settings(), broker.bootstrap, "cold", tmp)
        create_topics(settings)
        backlog = generate_backlog(tmp / "cdrs.jsonl", args.count)
        from telecom_billing.infra.spark import create_spark

        spark = create_spark(settings, "bench-cold-load")
        load_into_topic(spark, settings, backlog)
        spark.stop()
        result["stream_cold_100k_s"] = round(timed("stream", "--once", env=telecom_env(settings)), 1)
    print(json.dumps(result))


if __name__ == "__main__":
    main()
