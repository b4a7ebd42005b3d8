"""`telecom demo`: the whole pipeline on a fresh embedded stack, end to end.

A fresh single-node broker (its own folder under `.local/demo`), the topics, a month of generated
traffic for the default subscriber base produced into `cdr.raw`, the streaming job draining it
into `cdr.rated` / `cdr.rejected`, the usage monitor turning it into alerts on `subscriber.alerts`,
and the billing job turning the month into invoices. The broker
is stopped at the end (unless `--keep-broker`), and the demo says where everything is.
"""

from __future__ import annotations

import argparse
import dataclasses
import shutil
import time
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Any

from ..billing.period import Period
from ..infra.settings import Settings, load_settings

NAME = "demo"
HELP = "run the whole pipeline (generate, produce, stream, monitor, bill) on a fresh embedded broker and local Spark"

DEMO_PERIOD = "2026-10"  # the generator's reference month


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--count", type=int, default=100_000, help="CDRs to generate for the month (default 100000)")
    parser.add_argument("--keep-broker", action="store_true", help="leave the broker running at the end")
    parser.add_argument("--corrections", action="store_true",
                        help="then correct the final month: a price fix rerated (credit notes), and the CDRs of "
                             "subscribers loaded late recycled and billed as late usage on the next final")


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
    from ..generator import GeneratorOptions
    from ..infra.broker import EmbeddedBroker
    from ..infra.spark import create_spark
    from ..infra.topics import ensure_topics
    from ..jobs.billing import BillRequest, bill_period
    from ..jobs.monitor import alerts_by_kind, describe_alerts, run_monitor
    from ..jobs.rating import run_stream
    from ..jobs.traffic import build_generator, produce_generated
    from ..results.database import default_file
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
    out = settings.invoices_dir
    database = default_file(out.resolve())
    database.unlink(missing_ok=True)  # a fresh stack: its results database too
    settings = dataclasses.replace(settings, bootstrap_servers=broker.bootstrap_servers)
    print(f"broker ready: pid {pid}, data in {broker.data_dir}")
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
        _stage(f"monitor: usage alerts (drains {settings.topic_rated} into {settings.topic_alerts}, then stops)")
        run_monitor(settings, StreamOptions(trigger="once", query_name="usage-monitor"), say=say)
        alerts = describe_alerts(alerts_by_kind(settings))
        say(f"alerts on {settings.topic_alerts}: {alerts}")
        _stage(f"bill {DEMO_PERIOD} from {settings.topic_rated} (a closed month: final)")
        # --force: a final folder of an earlier demo came from another (fresh) broker.
        result = bill_period(lambda: create_spark(settings, "telecom-bill"), settings,
                             BillRequest(Period.parse(DEMO_PERIOD), out.resolve(), force=True), say)
        if result.billed is not None and result.report is not None:
            print_summary(result.billed, result.report)
        load_results(settings, out.resolve(), Period.parse(DEMO_PERIOD))
        if args.corrections:
            show_corrections(settings, home, out.resolve())
    finally:
        _stop_spark()  # before the broker: a live session's Kafka clients would retry a gone broker
        if not args.keep_broker:
            broker.stop()
            print("\nbroker stopped")
        else:  # not the `telecom broker` one (its own folder): `telecom broker stop` does not see it
            print(f"\nbroker left running on {broker.bootstrap_servers}, pid {broker.running_pid()} "
                  f"(data in {broker.data_dir}); stop it with: kill {broker.running_pid()}")
    period_dir = out / f"period={DEMO_PERIOD}"
    html = sorted((period_dir / "html").glob("*.html"))
    print(f"\ninvoices:        {period_dir}")
    print(f"report:          {period_dir / 'report.html'}")
    if html:
        print(f"one invoice:     {html[0]}")
    print(f"reconciliation:  {period_dir / 'reconciliation.json'}")
    print(f"usage alerts:    {alerts} on {settings.topic_alerts}  (try: telecom tail alerts --from-beginning)")
    print(f"results in SQL:  {database}  (try: sqlite3 {database} 'SELECT * FROM revenue_by_plan')")
    print(f"demo finished in {time.monotonic() - begun:.0f} s")
    return 0


# -- `--corrections`: DESIGN.md section 7b on the demo's final month ---------------------------------------

FIX_FACTOR = Decimal("0.9")  # the price fix: the first priced rate of the first plan, 10 % cheaper


def show_corrections(settings: Settings, home: Path, out: Path) -> None:
    """A price fix rerated (change list, credit notes), then a subscriber base fixed with the numbers
    that were rejected as unknown: their CDRs recycled, rated, and billed as late usage on the next
    month's final invoices."""
    from ..billing.live import cutoff
    from ..infra.spark import create_spark
    from ..jobs.billing import BillRequest, bill_period
    from ..jobs.corrections import RecycleRequest, RerateRequest, recycle_rejected, rerate_period
    from ..jobs.rating import run_stream
    from ..refdata.catalog import load_catalog
    from ..stream import StreamOptions

    period, spark = Period.parse(DEMO_PERIOD), lambda: create_spark(settings, "telecom-corrections")
    fixed = _fixed_catalog(settings.catalog_dir, home / "catalog-fix")
    _stage(f"corrections 1: rerate {DEMO_PERIOD} under catalog {load_catalog(fixed).version} (a price fix)")
    rerated = rerate_period(spark, settings, RerateRequest(period, fixed, settings.rerating_dir, out,
                                                           force=True), say)
    say(f"{rerated.changes:,} CDRs change; {len(rerated.notes):,} credit/debit notes in {rerated.folder}")
    base, joiners = _base_with_late_joiners(spark(), settings, home / "subscribers.csv")
    _stage(f"corrections 2: {joiners} subscribers loaded late ({base}): recycle their rejected CDRs")
    recycle_rejected(spark, settings, RecycleRequest("UNKNOWN_SUBSCRIBER", period), say)
    run_stream(settings, StreamOptions(trigger="once"), subscribers=base, say=say)
    following = Period(period.next_first_day.year, period.next_first_day.month)
    as_of = cutoff(following, load_catalog(settings.catalog_dir))
    _stage(f"bill {following.label} as of its cut-off: the recycled CDRs of {DEMO_PERIOD} are late usage")
    result = bill_period(spark, settings, BillRequest(following, out, subscribers=base, force=True,
                                                      as_of=as_of), say)
    late = (result.report or {}).get("late_billed", {})
    say(f"{late.get('billed', 0):,} late CDRs of {DEMO_PERIOD} billed on {following.label}'s final invoices "
        f"({late.get('amount', '0.00')}), in {result.folder}")
    for month in (period, following):  # October's credit notes, November's invoices
        load_results(settings, out, month)


def load_results(settings: Settings, out: Path, period: Period) -> None:
    """The period into the SQLite file beside the period folders, its rated CDRs too (read from the
    demo's broker, still running), replacing what an earlier demo left there."""
    from ..jobs.results import load_into_database

    _stage(f"load {period.label} into SQL (docs/SQL.md)")
    say(load_into_database(settings, out, settings.rerating_dir, period, force=True,
                           with_cdrs=True).summary())


def _fixed_catalog(catalog_dir: Path, target: Path) -> Path:
    """A copy of the catalog with a new version and the first priced rate of the first plan cheaper."""
    import yaml

    document = yaml.safe_load((catalog_dir / "catalog.yaml").read_text(encoding="utf-8"))
    document["catalog_version"] = f"{document['catalog_version']}-fix1"
    rate = next(r for r in document["plans"][0]["rates"] if Decimal(r["price"]) > 0)
    rate["price"] = str((Decimal(rate["price"]) * FIX_FACTOR).quantize(Decimal("0.000001")).normalize())
    target.mkdir(parents=True, exist_ok=True)
    (target / "catalog.yaml").write_text(yaml.safe_dump(document, sort_keys=False), encoding="utf-8")
    return target


def _base_with_late_joiners(spark: Any, settings: Settings, target: Path) -> tuple[Path, int]:
    """The subscriber base plus, on the first plan since 2020, every number rejected as unknown that the
    base does not have at all (a number it has was rejected outside its subscriber's dates)."""
    from pyspark.sql import functions as F

    from ..infra.kafka_batch import read_topic, topic_offsets
    from ..refdata.catalog import load_catalog
    from ..refdata.subscribers import Subscriber, load_subscribers, write_subscribers

    rejected = read_topic(spark, settings, settings.topic_rejected, topic_offsets(settings, settings.topic_rejected))
    fields = F.from_json(F.col("value").cast("string"), "reason string, msisdn string")
    numbers = sorted(r[0] for r in rejected.select(fields.alias("r")).where(
        "r.reason = 'UNKNOWN_SUBSCRIBER' AND r.msisdn IS NOT NULL").select("r.msisdn").distinct().collect())
    plan = next(iter(load_catalog(settings.catalog_dir).plans))
    known = load_subscribers(settings.subscribers_file)
    taken = {s.msisdn for s in known}
    joiners = [Subscriber(n, f"Late Joiner {i + 1}", "Loaded late", plan, date(2020, 1, 1))
               for i, n in enumerate(n for n in numbers if n not in taken)]
    write_subscribers(target, [*known, *joiners])
    return target, len(joiners)
