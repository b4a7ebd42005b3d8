#!/usr/bin/env python3
"""Producer throughput: generated canonical CDRs to a 6-partition topic, every record acknowledged.

Uses the broker at `--bootstrap-servers` (or TELECOM_BOOTSTRAP_SERVERS) when one answers, else
starts an embedded broker in a temporary folder and stops it at the end. The lines are generated
before the clock starts, so the figure is the producer's own: from the first `send` to the last
acknowledgement (`flush`). Prints one JSON line: `producer_cdr_per_s` for the default tuning, and
with `--compare` one `producer_cdr_per_s_<codec>` per codec that kafka-python can use here.
The target is 30,000 CDR/s from one process.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import json
import tempfile
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

from telecom_billing.broker import EmbeddedBroker, free_port
from telecom_billing.catalog import load_catalog
from telecom_billing.errors import ServiceUnavailable
from telecom_billing.generator import CdrGenerator, GeneratorOptions
from telecom_billing.producer import CdrProducer, ProduceStats, Tuning, codecs_available, encoded
from telecom_billing.settings import Settings, load_settings
from telecom_billing.subscribers import load_subscribers
from telecom_billing.topics import TopicSpec, admin_client, ensure_topics


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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=200_000)
    parser.add_argument("--repeat", type=int, default=2)
    parser.add_argument("--bootstrap-servers", default=None)
    parser.add_argument("--compare", action="store_true", help="also measure every available codec")
    args = parser.parse_args()
    settings = load_settings({"bootstrap_servers": args.bootstrap_servers})
    generator = CdrGenerator(load_catalog(settings.catalog_dir), load_subscribers(settings.subscribers_file),
                             GeneratorOptions(count=args.count))
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
    print(json.dumps(result))


if __name__ == "__main__":
    main()
