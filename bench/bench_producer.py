#!/usr/bin/env python3
"""Producer throughput: generated canonical CDRs to a 6-partition topic, every record acknowledged.

Uses the broker at `--bootstrap-servers` (or TELECOM_BOOTSTRAP_SERVERS) when one answers, else
starts an embedded broker in a temporary folder and stops it at the end. The lines are generated
before the clock starts, so the figure is the producer's own: from the first `send` to the last
acknowledgement (`flush`). Prints one JSON line: `producer_cdr_per_s` for the default tuning, with
`--compare` one `producer_cdr_per_s_<codec>` per codec that kafka-python can use here, and
`kafka_perf_test_rec_per_s`: Kafka's own `ProducerPerformance` (Java, from the Kafka tools jars) on the
same broker, sending the same generated lines (`--payload-file`) with the same producer settings (acks=all,
idempotence, codec, batch size, linger): the limit a Python producer can be held against.
The target is 30,000 CDR/s from one process.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import json
import re
import subprocess
import tempfile
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

from telecom_billing.errors import ServiceUnavailable
from telecom_billing.generator import CdrGenerator, GeneratorOptions, load_traffic
from telecom_billing.infra.broker import EmbeddedBroker, free_port
from telecom_billing.infra.jars import tools_classpath
from telecom_billing.infra.settings import Settings, load_settings
from telecom_billing.infra.topics import TopicSpec, admin_client, ensure_topics
from telecom_billing.producer import CdrProducer, ProduceStats, Tuning, codecs_available, encoded
from telecom_billing.refdata.catalog import load_catalog
from telecom_billing.refdata.subscribers import load_subscribers


@contextlib.contextmanager
def broker(settings: Settings) -> Iterator[Settings]:
    try:
        admin_client(settings, timeout_s=5).close()
        yield settings
        return
    except ServiceUnavailable:
        pass
    with tempfile.TemporaryDirectory() as home:
        embedded = EmbeddedBroker(home=Path(home), jars_dir=settings.jars_dir, port=free_port(),
                                  controller_port=free_port(), heap="768m")
        embedded.start()
        try:
            yield dataclasses.replace(settings, bootstrap_servers=embedded.bootstrap_servers)
        finally:
            embedded.stop()


def run_once(settings: Settings, batches: list, tuning: Tuning) -> float:
    topic = f"bench.raw.{uuid.uuid4().hex[:8]}"
    ensure_topics(settings, [TopicSpec(topic, 6, {})])
    producer = CdrProducer(settings, topic, tuning)
    stats = ProduceStats()
    try:
        producer.send_all(batches, stats, lambda: False)
    finally:
        producer.close()
        admin = admin_client(settings)
        try:
            admin.delete_topics([topic])
        finally:
            admin.close()
    if stats.failed:
        raise SystemExit(f"{stats.failed} records failed: {stats.first_error}")
    return stats.sent / stats.seconds


def kafka_perf_test(settings: Settings, batches: list, tuning: Tuning) -> float:
    """Kafka's ProducerPerformance on the same lines and producer settings; records/s it reports."""
    topic = f"bench.perf.{uuid.uuid4().hex[:8]}"
    ensure_topics(settings, [TopicSpec(topic, 6, {})])
    count = sum(len(lines) for lines, _keys in batches)
    with tempfile.TemporaryDirectory() as work:
        payloads = Path(work) / "payloads.txt"
        payloads.write_bytes(b"\n".join(line for lines, _keys in batches for line in lines if line.strip()))
        props = [f"bootstrap.servers={settings.bootstrap_servers}", "acks=all", "enable.idempotence=true",
                 "max.in.flight.requests.per.connection=5", f"compression.type={tuning.compression}",
                 f"batch.size={tuning.batch_size}", f"linger.ms={tuning.linger_ms}"]
        proc = subprocess.run(["java", "-Xmx1g", "-cp", tools_classpath(settings.jars_dir),
                               "org.apache.kafka.tools.ProducerPerformance", "--topic", topic,
                               "--num-records", str(count), "--throughput", "-1", "--payload-file", str(payloads),
                               "--producer-props", *props], capture_output=True, text=True, timeout=600)
    summary = [ln for ln in proc.stdout.splitlines() if re.match(r"\d+ records sent, [\d.]+ records/sec", ln)]
    if proc.returncode != 0 or not summary:
        raise SystemExit(f"ProducerPerformance failed: {(proc.stderr.strip().splitlines() or ['no output'])[-1]}")
    return float(re.findall(r"([\d.]+) records/sec", summary[-1])[0])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=200_000)
    parser.add_argument("--repeat", type=int, default=2)
    parser.add_argument("--bootstrap-servers", default=None)
    parser.add_argument("--compare", action="store_true", help="also measure every available codec")
    args = parser.parse_args()
    settings = load_settings({"bootstrap_servers": args.bootstrap_servers})
    catalog = load_catalog(settings.catalog_dir)
    generator = CdrGenerator(catalog, load_subscribers(settings.subscribers_file),
                             GeneratorOptions(count=args.count),
                             traffic=load_traffic(settings.catalog_dir, catalog))
    batches = list(encoded(generator.batches(keyed=True)))
    tunings = {"": Tuning()}
    if args.compare:
        tunings |= {f"_{codec}": Tuning(compression=codec) for codec, ok in codecs_available().items() if ok}
    result = {}
    with broker(settings) as live:
        for suffix, tuning in tunings.items():
            result[f"producer_cdr_per_s{suffix}"] = round(max(run_once(live, batches, tuning)
                                                              for _ in range(args.repeat)), 1)
            time.sleep(1)
        result["kafka_perf_test_rec_per_s"] = round(max(kafka_perf_test(live, batches, Tuning())
                                                       for _ in range(args.repeat)), 1)
    print(json.dumps(result))


if __name__ == "__main__":
    main()
