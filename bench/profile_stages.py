#!/usr/bin/env python3
"""Where the time goes: CPU per CDR of mediation + rating, stage by stage, and the JIT's view of it.

Generates `--count` CDRs (default 300,000, default defect rate), caches them as Kafka-shaped rows in
local Spark, warms the JIT on the whole pipeline, then runs every prefix of the stage list
(`pipeline.mediation_stages`, the shuffle deduplication needs, `pipeline.rating_stages`, the Kafka
record serialization) into Spark's `noop` sink, as a hash of all the prefix's columns (so every
column is computed once, and nothing more), and reports the Spark JVM's CPU time per row for each
prefix and what each stage adds. No Kafka and no state store: the stream adds reading,
deduplication's state and writing (`bench_stream.py`).

Also prints the largest generated method of every whole-stage-codegen subtree of the full plan:
HotSpot does not compile methods over 8,000 bytes of bytecode.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import tempfile
import time
from pathlib import Path

from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from telecom_billing.generator import CdrGenerator, GeneratorOptions, load_traffic, write_cdrs
from telecom_billing.infra.settings import load_settings
from telecom_billing.infra.spark import create_spark
from telecom_billing.mediation.timestamps import clock
from telecom_billing.output import to_kafka_records
from telecom_billing.pipeline import MEDIATED_COLUMNS, Reference, mediation_stages, rating_stages
from telecom_billing.refdata.catalog import load_catalog
from telecom_billing.refdata.subscribers import load_subscribers

HUGE_METHOD = 8000


def jvm_cpu_seconds() -> float:
    """CPU time (user + system) of the local Spark JVM(s) started by pyspark."""
    total = 0.0
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            if b"pyspark-shell" not in (entry / "cmdline").read_bytes():
                continue
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    return total


def cpu_per_row(frame: DataFrame, rows: int, repeat: int) -> float:
    """The lowest JVM CPU microseconds per row over `repeat` runs into the noop sink."""
    best = float("inf")
    for _ in range(repeat):
        before = jvm_cpu_seconds()
        frame.write.format("noop").mode("overwrite").save()
        best = min(best, (jvm_cpu_seconds() - before) / rows * 1e6)
    return best


def method_sizes(spark, frame: DataFrame) -> list[int]:
    """maxMethodCodeSize of each whole-stage-codegen subtree (adaptive execution off: final plan)."""
    spark.conf.set("spark.sql.adaptive.enabled", "false")
    try:
        text = spark._jvm.PythonSQLUtils.explainString(frame._jdf.queryExecution(), "codegen")
    finally:
        spark.conf.set("spark.sql.adaptive.enabled", "true")
    return [int(size) for size in re.findall(r"maxMethodCodeSize:(\d+)", text)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=300_000)
    parser.add_argument("--warmup", type=int, default=6, help="full-pipeline runs before measuring")
    parser.add_argument("--repeat", type=int, default=3, help="runs per prefix (the lowest counts)")
    args = parser.parse_args()

    settings = load_settings()
    catalog = load_catalog(settings.catalog_dir)
    subscribers = load_subscribers(settings.subscribers_file)
    with tempfile.TemporaryDirectory(prefix="profile-") as tmp:
        cdrs = Path(tmp) / "cdrs.jsonl"
        with cdrs.open("w", encoding="utf-8") as out, (Path(tmp) / "labels.jsonl").open("w") as labels:
            write_cdrs(CdrGenerator(catalog, subscribers, GeneratorOptions(count=args.count),
                                   traffic=load_traffic(settings.catalog_dir, catalog)), out, labels)
        spark = create_spark(settings, "profile-stages")
        raw = (spark.read.text(str(cdrs))
               .select(F.col("value").cast("binary").alias("value"), F.lit("cdr.raw").alias("topic"),
                       (F.monotonically_increasing_id() % 6).cast("int").alias("partition"),
                       F.monotonically_increasing_id().alias("offset"), F.current_timestamp().alias("timestamp"))
               .repartition(2).cache())
        rows = raw.count()
        ref = Reference.build(spark, catalog, subscribers)
        stages = [*mediation_stages(ref, clock(spark, F.current_timestamp())),
                  ("shuffle", lambda df: df.select(*MEDIATED_COLUMNS).repartition(2, "cdr_id")),
                  *rating_stages(ref),
                  ("to_kafka_records", lambda df: to_kafka_records(df, "rated", "rejected"))]
        frames = [("scan", raw)]
        for name, stage in stages:
            frames.append((name, frames[-1][1].transform(stage)))
        full = frames[-1][1]
        prefixes = [(name, frame.select(F.xxhash64(*frame.columns).alias("digest"))) for name, frame in frames]
        started = time.monotonic()
        for _ in range(args.warmup):
            full.write.format("noop").mode("overwrite").save()
        warm = time.monotonic() - started
        results, previous = [], 0.0
        for name, frame in prefixes:
            micros = cpu_per_row(frame, rows, args.repeat)
            results.append({"stage": name, "cumulative_us": round(micros, 1), "adds_us": round(micros - previous, 1)})
            previous = micros
        sizes = method_sizes(spark, full)
        spark.stop()
    print(f"{rows:,} CDRs, JIT warm-up {args.warmup} runs in {warm:.0f} s; JVM CPU per CDR (lowest of {args.repeat}):")
    print(f"{'stage':<20}{'cumulative µs':>15}{'adds µs':>10}")
    for r in results:
        print(f"{r['stage']:<20}{r['cumulative_us']:>15.1f}{r['adds_us']:>10.1f}")
    print(f"largest generated method per codegen stage (bytes): {sizes}; over {HUGE_METHOD}: "
          f"{sum(size > HUGE_METHOD for size in sizes)}")
    print(json.dumps({"profile_stages": results, "profile_cpu_us_per_cdr": results[-1]["cumulative_us"],
                      "profile_method_sizes": sizes}))


if __name__ == "__main__":
    main()
