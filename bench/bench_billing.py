#!/usr/bin/env python3
"""Billing throughput: `--count` rated CDRs (default 10,000,000) for the default subscriber base, to invoices.

Makes the rated CDRs once with Spark (kept in `build/bench/`, reused while the count, format, seed,
catalog and subscriber base are the same): every subscriber active in the period gets traffic on its
active days, priced with its plan's rates, charges exact as in rating. Then times `telecom bill
--rated` in a fresh process (JVM start included) and prints one JSON line:
`{"billing_cdr_per_s": ..., "cdrs": ..., "seconds": ..., "format": ..., "invoices": ...}`.

`--format parquet` (default) stores the rated CDRs as Parquet with the rated JSON field names (money
as decimal strings), as a data lake would keep `cdr.rated`; `--format jsonl` stores the JSON lines
exactly as they are on the topic (one more parse per record).
"""

from __future__ import annotations

import argparse
import calendar
import dataclasses
import hashlib
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

from telecom_billing.billing.period import Period
from telecom_billing.contracts.limits import UNIT_PRICE_DECIMALS
from telecom_billing.infra.settings import Settings, load_settings
from telecom_billing.refdata.catalog import ANY, Catalog, Rate, load_catalog
from telecom_billing.refdata.subscribers import Subscriber, load_subscribers

REPO = Path(__file__).resolve().parents[1]

# Traffic mix: (service, zone, direction, weight).
MIX = (
    ("voice", "national_mobile", "MO", 0.30), ("voice", "national_fixed", "MO", 0.05),
    ("voice", "europe", "MO", 0.04), ("voice", "maghreb", "MO", 0.01), ("voice", "incoming", "MT", 0.08),
    ("voice", "roam_europe", "MO", 0.01),
    ("sms", "national_mobile", "MO", 0.10), ("sms", "incoming", "MT", 0.04), ("sms", "europe", "MO", 0.01),
    ("data", "home", None, 0.34), ("data", "roam_europe", None, 0.02),
)
OTHER_PARTY = {"national_mobile": "212612345678", "national_fixed": "212522123456", "europe": "33612345678",
               "maghreb": "213551234567", "incoming": "212698765432", "roam_europe": "212611112222"}


def choose_rate(catalog: Catalog, plan_id: str, service: str, zone: str) -> Rate:
    """The plan's rate for the default band (DESIGN.md section 5's order of preference)."""
    band = catalog.time_bands[-1].name
    rates = [r for r in catalog.plans[plan_id].rates if r.service == service]
    for want_zone, want_band in ((zone, band), (zone, ANY), (ANY, band), (ANY, ANY)):
        for rate in rates:
            if (rate.zone, rate.band) == (want_zone, want_band):
                return rate
    raise SystemExit(f"plan {plan_id} has no rate for {service}/{zone}")


def make_rated(spark, catalog: Catalog, subscribers: list[Subscriber], period: Period, count: int, seed: int,
               fmt: str, target: Path) -> None:
    from pyspark.sql import functions as F

    from telecom_billing import money
    from telecom_billing.rating.rate import billable_units

    active = []
    for s in subscribers:
        first = max(s.activation_date, period.first_day)
        end = min(s.termination_date or period.next_first_day, period.next_first_day)
        if end > first:
            active.append((len(active), s.msisdn, s.plan_id, (first - period.first_day).days, (end - first).days))
    subs = spark.createDataFrame(active, "sub int, msisdn string, plan_id string, first_day int, days int")

    rates = []
    for plan_id in sorted({a[2] for a in active}):
        for service, zone, _, _ in MIX:
            r = choose_rate(catalog, plan_id, service, zone)
            rates += [F.lit(f"{plan_id}|{service}|{zone}"), F.struct(
                F.lit(money.micros(r.price)).cast("bigint").alias("price"), F.lit(r.per).cast("bigint").alias("per"),
                F.lit(r.first_increment).cast("bigint").alias("first"),
                F.lit(r.next_increment).cast("bigint").alias("next"),
                F.lit(money.micros(r.connect_fee)).cast("bigint").alias("fee"),
                F.lit(money.catalog_text(r.price)).alias("price_text"),
                F.lit(money.catalog_text(r.connect_fee)).alias("fee_text"),
                F.lit(money.ratio_text(r.price, r.per, UNIT_PRICE_DECIMALS)).alias("unit_price"))]
    rate_map = F.create_map(*rates)

    def uniform(salt: int):
        return F.pmod(F.xxhash64(F.col("id"), F.lit(seed), F.lit(salt)), F.lit(1_000_000)) / F.lit(1_000_000)

    pick = None
    total = 0.0
    weights = sum(m[3] for m in MIX)
    for index, (_, _, _, weight) in enumerate(MIX):
        total += weight / weights
        pick = F.when(uniform(2) < total, F.lit(index)) if pick is None else pick.when(uniform(2) < total,
                                                                                           F.lit(index))
    mix = F.array(*[F.struct(F.lit(s).alias("service"), F.lit(z).alias("zone"), F.lit(d).alias("direction"),
                             F.lit(OTHER_PARTY.get(z)).alias("other_party")) for s, z, d, _ in MIX])
    rows = (spark.range(count)
            .withColumn("sub", F.pmod(F.xxhash64("id", F.lit(seed), F.lit(1)), F.lit(len(active))).cast("int"))
            .join(F.broadcast(subs), "sub")
            .withColumn("m", F.element_at(mix, pick.otherwise(F.lit(len(MIX) - 1)) + 1)))
    # A local wall-clock time of an active day (as a UTC-session timestamp), then to UTC.
    local = F.timestamp_seconds(F.lit(calendar.timegm(period.first_day.timetuple()))
                                + (F.col("first_day") + F.floor(uniform(3) * F.col("days"))) * 86400
                                + F.floor(uniform(4) * 86400))
    event = F.to_utc_timestamp(local, catalog.timezone)
    service = F.col("m.service")
    quantity = (F.when(service == "voice", 1 + F.floor(F.pow(uniform(5), 2) * 1800))
                .when(service == "sms", F.lit(1))
                .otherwise(1 + F.floor(F.pow(uniform(6), 3) * 60_000_000))).cast("bigint")
    rate = F.element_at(rate_map, F.concat_ws("|", "plan_id", "m.service", "m.zone"))
    rows = rows.select("*", event.alias("ts"), quantity.alias("quantity"), rate.alias("r"))
    billable = billable_units(F.col("quantity"), F.col("r.first"), F.col("r.next"))
    rows = rows.withColumn("billable_units", billable)
    charge = money.charge_units(money.Terms(F.col("r.fee"), F.col("billable_units"), F.col("r.price"), F.col("r.per")),
                                catalog.rounding_decimals)
    is_data = service == "data"
    stamp = "yyyy-MM-dd'T'HH:mm:ss.SSSSSS'Z'"
    rated = rows.select(
        F.concat(F.lit(f"b{seed}-"), F.col("id").cast("string")).alias("cdr_id"),
        service.alias("record_type"), F.date_format("ts", stamp).alias("event_time"), "msisdn",
        F.col("m.other_party").alias("other_party"), F.col("m.direction").alias("direction"),
        F.when(service == "voice", F.col("quantity")).alias("duration_sec"),
        F.when(is_data, F.floor(F.col("quantity") / 10)).cast("bigint").alias("bytes_up"),
        F.when(is_data, F.col("quantity") - F.floor(F.col("quantity") / 10)).cast("bigint").alias("bytes_down"),
        "quantity", F.lit("CASABLANCA_001").alias("cell_id"), F.lit("4G").alias("technology"),
        F.when(F.col("m.zone").startswith("roam_"), F.lit("FR")).alias("visited_country"),
        F.col("m.zone").startswith("roam_").alias("roaming"), F.lit("canonical").alias("source_format"),
        "plan_id", F.col("m.zone").alias("zone"), F.lit(catalog.time_bands[-1].name).alias("band"),
        "billable_units", F.col("r.price_text").alias("price"), F.col("r.per").alias("per"),
        F.col("r.unit_price").alias("unit_price"),
        F.col("r.fee_text").alias("connect_fee"),
        money.units_text(charge, catalog.rounding_decimals, exact_long=False).alias("charge"), F.lit(catalog.currency).alias("currency"),
        F.lit(catalog.version).alias("catalog_version"), F.lit("2026-11-01T00:00:00.000000Z").alias("rated_at"),
    )
    parts = target.with_name(target.name + ".parts")
    shutil.rmtree(parts, ignore_errors=True)
    if fmt == "parquet":
        rated.write.parquet(str(parts))
    else:
        rated.select(F.to_json(F.struct(*rated.columns), {"ignoreNullFields": "false"}).alias("value")) \
            .write.text(str(parts))
    suffix = ".parquet" if fmt == "parquet" else ".jsonl"
    shutil.rmtree(target, ignore_errors=True)
    target.mkdir(parents=True)
    for n, part in enumerate(sorted(parts.glob("part-*"))):
        part.rename(target / f"rated-{n:05d}{suffix}")
    shutil.rmtree(parts)


def cached_rated(settings: Settings, period: Period, count: int, fmt: str, seed: int, work: Path) -> Path:
    """`count` rated CDRs of `period` for the default catalog and subscriber base, in `fmt`, made once
    (`make_rated`) and kept in `work` while the inputs are the same."""
    catalog = load_catalog(settings.catalog_dir)
    subscribers = load_subscribers(settings.subscribers_file)
    fingerprint = hashlib.sha256(
        (settings.catalog_dir / "catalog.yaml").read_bytes() + settings.subscribers_file.read_bytes()
        + f"{count}|{fmt}|{seed}|{period.label}".encode()).hexdigest()[:12]
    data = work / f"rated-{fmt}-{count}"
    marker = data / "_FINGERPRINT"
    if not marker.is_file() or marker.read_text() != fingerprint:
        from telecom_billing.infra.spark import create_spark

        started = time.monotonic()
        spark = create_spark(dataclasses.replace(settings, shuffle_partitions=8), "bench-billing-data")
        try:
            make_rated(spark, catalog, subscribers, period, count, seed, fmt, data)
        finally:
            spark.stop()
        marker.write_text(fingerprint)
        print(f"made {count:,} rated CDRs ({fmt}) in {time.monotonic() - started:.0f} s: {data}",
              file=sys.stderr, flush=True)
    return data


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=10_000_000, help="rated CDRs (default 10,000,000)")
    parser.add_argument("--format", choices=("parquet", "jsonl"), default="parquet")
    parser.add_argument("--period", default="2026-10")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--work", type=Path, default=REPO / "build" / "bench")
    args = parser.parse_args()

    settings = load_settings()
    data = cached_rated(settings, Period.parse(args.period), args.count, args.format, args.seed, args.work)
    out = args.work / "invoices"
    command = [sys.executable, "-m", "telecom_billing.cli", "bill", "--period", args.period, "--rated", str(data),
               "--out", str(out), "--force"]
    started = time.monotonic()
    done = subprocess.run(command, cwd=REPO, env=os.environ.copy(), stdout=subprocess.PIPE, text=True)
    seconds = time.monotonic() - started
    print(done.stdout, file=sys.stderr)
    if done.returncode != 0:
        print(f"telecom bill failed with exit status {done.returncode}", file=sys.stderr)
        return done.returncode
    manifest = json.loads((out / f"period={args.period}" / "manifest.json").read_text())
    print(json.dumps({"billing_cdr_per_s": round(args.count / seconds), "cdrs": args.count,
                      "seconds": round(seconds, 1), "format": args.format,
                      "invoices": manifest["counts"]["invoices"], "usage_cdrs": manifest["counts"]["usage_cdrs"]}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
