#!/usr/bin/env python3
"""Streaming throughput: drain a backlog of generated CDRs from `cdr.raw` through mediation + rating.

Loads `--count` generated CDRs (default 2,000,000, default defect rate) into a fresh raw topic with
a Spark batch write, then measures, on the same data and settings:

* `stream_rating_cdr_per_s`: the rating query (availableNow, `telecom_billing.stream.start_stream` in
  this process, `--max-offsets-per-trigger` per batch), whole drain: rows / summed batch time (the
  query's `triggerExecution`: Kafka read, rating and Kafka write; the JVM and session start are not in
  it, the first batches' code generation and JIT warm-up are);
* `stream_rating_steady_cdr_per_s`: the same, counting only the batches that start after the first
  `--warmup-rows` rows (HotSpot takes about a million rows to compile the generated code on 2 cores);
  null when no batch starts that late;
* `stream_passthrough_cdr_per_s` (`..._steady_...` alike): a Kafka -> Kafka copy with no logic, same
  reader/writer options: the limit for the stream;
* `python_peer_cdr_per_s` and `python_peer_naive_cdr_per_s`: the Python peers on the same backlog
  (`python_peer.py`: confluent-kafka + orjson, one process per core, over the whole backlog; and the
  earlier single kafka-python process on the first `--peer-count` records);
* `peak_rss_mb`: resident memory of this process tree (the driver, Spark's JVM, the embedded broker)
  while rating.

`--subscribers N` rates against a generated base of N subscribers (kept in build/bench/) instead of
data/subscribers.csv, the backlog drawn from that base; `--suffix` is appended to the stream's keys
(`--subscribers 1000000 --suffix _1m_subs --rating-only` gives `stream_rating_cdr_per_s_1m_subs`).
`--rating-only` skips the pass-through and the peers. `--parts-share S` (default 0: whole records
only) makes that share of the backlog partial records (DESIGN.md 7c): the rating query routes them to
the parts topic, and the sessions query's figures follow (`stream_sessions_rows`, `stream_sessions_s`:
its summed batch time, once the rating query has drained).

Uses KAFKA_BOOTSTRAP_SERVERS when set, else an embedded broker on free ports. Prints a JSON line
for Spark's figures, then one for the peers'.
"""

from __future__ import annotations

import argparse
import json
import tempfile
from pathlib import Path

from python_peer import fair_peer, naive_peer, rated_topic, rejected_topic
from rss import RssSampler
from stack import (
    BatchTimes,
    create_topics,
    drain,
    drain_sessions,
    fresh_settings,
    generate_backlog,
    kafka,
    load_into_topic,
    subscriber_base,
)

from telecom_billing.infra.kafka_clients import spark_kafka_options
from telecom_billing.infra.settings import Settings, load_settings
from telecom_billing.refdata.catalog import load_catalog
from telecom_billing.refdata.subscribers import load_subscribers
from telecom_billing.stream import StreamOptions, start_stream


def passthrough(spark, settings: Settings, max_offsets: int, checkpoint: Path) -> BatchTimes:
    """A Kafka -> Kafka copy of the raw topic with the rating query's reader and writer options."""
    options = spark_kafka_options(settings)
    query = (spark.readStream.format("kafka").options(**options).option("subscribe", settings.topic_raw)
             .option("startingOffsets", "earliest").option("failOnDataLoss", "true")
             .option("maxOffsetsPerTrigger", str(max_offsets)).load()
             .select("key", "value").writeStream.format("kafka").options(**options)
             .option("kafka.compression.type", "lz4").option("kafka.linger.ms", "5")
             .option("topic", f"{settings.topic_raw}.copy")
             .option("checkpointLocation", str(checkpoint)).trigger(availableNow=True).start())
    return drain(query)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=2_000_000, help="CDRs in the backlog (default 2,000,000)")
    parser.add_argument("--warmup-rows", type=int, default=1_000_000,
                        help="rows before the steady-state batches (default 1,000,000)")
    parser.add_argument("--max-offsets-per-trigger", type=int, default=250_000)
    parser.add_argument("--subscribers", type=int, default=None,
                        help="a generated base of this many subscribers (default: data/subscribers.csv)")
    parser.add_argument("--suffix", default="", help="appended to the stream's JSON keys")
    parser.add_argument("--rating-only", action="store_true", help="skip the pass-through and the peers")
    parser.add_argument("--parts-share", type=float, default=0.0,
                        help="share of the backlog that is partial records (default 0)")
    parser.add_argument("--peer-count", type=int, default=100_000, help="records for the naive peer")
    parser.add_argument("--peer-processes", type=int, default=None, help="fair peer processes (default: cores)")
    args = parser.parse_args()

    base = load_settings()
    tmp = Path(tempfile.mkdtemp(prefix="bench-stream-"))
    with kafka(tmp / "broker", heap="2g") as broker:
        settings = fresh_settings(base, broker.bootstrap, "bench", tmp)
        subscribers_file = subscriber_base(args.subscribers) if args.subscribers else settings.subscribers_file
        catalog, subscribers = load_catalog(settings.catalog_dir), load_subscribers(subscribers_file)
        create_topics(settings, f"{settings.topic_raw}.copy", rated_topic(settings.topic_raw),
                      rejected_topic(settings.topic_raw))
        backlog = generate_backlog(tmp / "cdrs.jsonl", args.count, "--subscribers-file", str(subscribers_file),
                                   "--parts-share", str(args.parts_share))

        from telecom_billing.infra.spark import create_spark

        spark = create_spark(settings, "bench-stream")
        load_into_topic(spark, settings, backlog)
        sampler = RssSampler()
        sampler.start()
        run = start_stream(spark, settings, catalog, subscribers,
                           StreamOptions(trigger="once", max_offsets_per_trigger=args.max_offsets_per_trigger),
                           str(tmp / "checkpoint-rating"))
        rating = drain(run.rating)
        sessions = drain_sessions(run)
        sampler.halt.set()
        s = args.suffix
        result: dict[str, object] = {
            f"stream_rating_cdr_per_s{s}": rating.rate(),
            f"stream_rating_steady_cdr_per_s{s}": rating.rate(after_rows=args.warmup_rows),
            f"stream_rows{s}": rating.rows,
            f"stream_subscribers{s}": len(subscribers),
            f"stream_sessions_rows{s}": sessions.rows,
            f"stream_sessions_s{s}": round(sessions.seconds, 1),
            f"stream_peak_rss_mb{s}": sampler.peak_mb,
            "peak_rss_mb": sampler.peak_mb,
        }
        if not args.rating_only:
            copy = passthrough(spark, settings, args.max_offsets_per_trigger, tmp / "checkpoint-copy")
            result |= {"stream_passthrough_cdr_per_s": copy.rate(),
                       "stream_passthrough_steady_cdr_per_s": copy.rate(after_rows=args.warmup_rows)}
        spark.stop()
        print(json.dumps(result), flush=True)  # kept by bench/run.py should a peer fail
        if not args.rating_only:
            result = fair_peer(settings, subscribers_file, args.peer_processes)
            result["python_peer_naive_cdr_per_s"] = round(naive_peer(settings, subscribers_file, args.peer_count), 1)
            print(json.dumps(result))


if __name__ == "__main__":
    main()
