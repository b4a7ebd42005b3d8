"""`telecom demo`: the whole pipeline on a fresh embedded stack, end to end.

A fresh single-node broker (its own folder under `.local/demo`), the topics, a month of generated
traffic for the default subscriber base produced into `cdr.raw`, the streaming job draining it
into `cdr.rated` / `cdr.rejected`, and the billing job turning the month into invoices. The broker
is stopped at the end (unless `--keep-broker`), and the demo says where everything is.
"""

from __future__ import annotations

import argparse
import dataclasses
import shutil
import time

from ..infra.broker import EmbeddedBroker
from ..infra.settings import Settings, load_settings
from ..infra.topics import ensure_topics

NAME = "demo"
HELP = "run the whole pipeline (generate, produce, stream, bill) on a fresh embedded broker and local Spark"

DEMO_PERIOD = "2026-10"  # the generator's reference month


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--count", type=int, default=100_000, help="CDRs to generate for the month (default 100000)")
    parser.add_argument("--keep-broker", action="store_true", help="leave the broker running at the end")


def _stage(title: str) -> float:
    print(f"\n== {title}", flush=True)
    return time.monotonic()


def _stop_spark() -> None:
    """Stops the Spark session the stages ran in (they share this process), if any."""
    from pyspark.sql import SparkSession

    session = SparkSession.getActiveSession()
    if session is not None:
        session.stop()


def say(line: str) -> None:
    print(line, flush=True)


def run(args: argparse.Namespace) -> int:
    from ..billing.charges import Period
    from ..generator import GeneratorOptions
    from ..infra.spark import create_spark
    from ..jobs.billing import BillRequest, bill_period
    from ..jobs.rating import run_stream
    from ..jobs.traffic import build_generator, produce_generated
    from ..stream import StreamOptions
    from .bill import print_summary

    base = load_settings()
    home = base.local_dir / "demo"
    settings: Settings = dataclasses.replace(base, checkpoint_dir=home / "checkpoints")
    begun = _stage(f"fresh embedded broker on localhost:{settings.broker_port}")
    broker = EmbeddedBroker(home=home / "broker", jars_dir=settings.jars_dir, port=settings.broker_port,
                            controller_port=settings.controller_port)
    broker.stop()
    shutil.rmtree(home, ignore_errors=True)
    pid = broker.start()
    settings = dataclasses.replace(settings, bootstrap_servers=broker.bootstrap_servers)
    print(f"broker ready: pid {pid}, data in {broker.data_dir}")
    out = settings.output_dir / "invoices"
    try:
        started = _stage("topics")
        ensure_topics(settings)
        print(f"{settings.topic_raw}, {settings.topic_rated}, {settings.topic_rejected} "
              f"({time.monotonic() - started:.1f} s)")
        _stage(f"generate + produce {args.count:,} CDRs of {DEMO_PERIOD} into {settings.topic_raw}")
        stats = produce_generated(settings, build_generator(settings, GeneratorOptions(count=args.count)))
        say(stats.summary())
        _stage("stream: mediation + rating (drains cdr.raw, then stops)")
        run_stream(settings, StreamOptions(trigger="once"), say=say)
        _stage(f"bill {DEMO_PERIOD} from {settings.topic_rated} (a closed month: final)")
        # --force: a final folder of an earlier demo came from another (fresh) broker.
        result = bill_period(lambda: create_spark(settings, "telecom-bill"), settings,
                             BillRequest(Period.parse(DEMO_PERIOD), out.resolve(), force=True), say)
        if result.billed is not None and result.report is not None:
            print_summary(result.billed, result.report)
    finally:
        _stop_spark()  # before the broker: a live session's Kafka clients would retry a gone broker
        if not args.keep_broker:
            broker.stop()
            print("\nbroker stopped")
    period_dir = out / f"period={DEMO_PERIOD}"
    html = sorted((period_dir / "html").glob("*.html"))
    print(f"\ninvoices:        {period_dir}")
    print(f"report:          {period_dir / 'report.html'}")
    if html:
        print(f"one invoice:     {html[0]}")
    print(f"reconciliation:  {period_dir / 'reconciliation.json'}")
    print(f"demo finished in {time.monotonic() - begun:.0f} s")
    return 0
