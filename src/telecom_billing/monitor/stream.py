"""The usage monitor's Spark job: `cdr.rated` -> each subscriber's meter -> `subscriber.alerts`.

One Structured Streaming query, checkpointed. Spark's `applyInPandasWithState` keeps, per MSISDN,
the subscriber's open periods (`meter.SubscriberMeter`, saved as JSON) and hands each subscriber's
rated CDRs of a micro-batch to Python at once, over Arrow: one state read and one write per
subscriber and batch. It has no timeout, so no row is ever dropped for being behind the watermark;
the watermark (of `event_time`) is only read, to tell which periods are final (BILLING.md 12).
The sink is at-least-once: a batch re-run after a crash writes its alerts again, the same ones.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import pandas as pd
from pyspark.sql import functions as F
from pyspark.sql.streaming.state import GroupState, GroupStateTimeout

from ..contracts.records import RATED_FIELDS
from ..infra.settings import Settings
from ..refdata.catalog import Catalog
from ..stream import ProgressPrinter, StreamOptions, kafka_reader, start_query
from .meter import ALERT_FIELDS, AlertRules, SubscriberMeter, Tally

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession
    from pyspark.sql.streaming import StreamingQuery

# The rated CDR fields the monitor reads, all as text (numbers too: `int()` of the text is exact).
READ_FIELDS = ("cdr_id", "record_type", "event_time", "msisdn", "zone", "plan_id", "billable_units", "price", "per",
               "connect_fee", "charge", "rated_at")
TALLY_FIELDS = tuple(f.name for f in dataclasses.fields(Tally))
# Per subscriber and batch: its tally (one row, `alert` null), then one row per alert.
OUTPUT_SCHEMA = ", ".join(["msisdn string", "alert string", *(f"{n} long" for n in TALLY_FIELDS)])
STATE_SCHEMA = "periods string"
# The observed metrics of each micro-batch (`StreamingQueryProgress.observedMetrics`).
METRICS = "monitor"
assert set(READ_FIELDS) <= {name for name, _ in RATED_FIELDS}


def alerts_frame(spark: SparkSession, settings: Settings, catalog: Catalog, options: StreamOptions) -> DataFrame:
    """The monitor query's records for the Kafka sink: (topic, key, value) of each alert."""
    schema = ", ".join(f"{name} string" for name in READ_FIELDS)
    # The fields Python reads travel as one short JSON text: Arrow moves one column, not twelve
    # (the monitor's batches take a fifth less time: BENCHMARKS.md).
    rated = (kafka_reader(spark, settings, settings.topic_rated, options).load()
             .select(F.from_json(F.col("value").cast("string"), schema).alias("r"), "partition", "offset")
             .select(F.to_json("r").alias("fields"), F.col("r.msisdn").alias("msisdn"),
                     F.to_timestamp("r.event_time").alias("event_ts"), "partition", "offset")
             .withWatermark("event_ts", "0 seconds"))
    metered = rated.groupBy("msisdn").applyInPandasWithState(
        meter_subscriber(catalog), OUTPUT_SCHEMA, STATE_SCHEMA, "append", GroupStateTimeout.NoTimeout)
    observed = metered.observe(METRICS, *[F.sum(n).alias(n) for n in TALLY_FIELDS],
                               F.count("alert").alias("alerts"))
    return observed.where(F.col("alert").isNotNull()).select(
        F.lit(settings.topic_alerts).alias("topic"), F.col("msisdn").alias("key"), F.col("alert").alias("value"))


def meter_subscriber(catalog: Catalog) -> Callable[[Any, Iterator[pd.DataFrame], GroupState], Iterator[pd.DataFrame]]:
    """The function Spark runs per subscriber and micro-batch: its rated CDRs in arrival order through
    its `SubscriberMeter`."""
    rules = AlertRules(catalog)

    def run(key: Any, frames: Iterator[pd.DataFrame], state: GroupState) -> Iterator[pd.DataFrame]:
        watermark = _watermark(state)
        subscriber = SubscriberMeter.load(rules, state.get[0] if state.exists else None)
        subscriber.forget_final(watermark)
        tally = Tally()
        alerts = [alert for record in in_arrival_order(frames) for alert in subscriber.receive(record, watermark, tally)]
        if subscriber.periods:
            state.update((subscriber.save(),))
        elif state.exists:
            state.remove()
        msisdn = key[0]
        yield pd.DataFrame({
            "msisdn": [msisdn] * (1 + len(alerts)),
            "alert": [None, *(alert_json(a) for a in alerts)],
            **{n: [getattr(tally, n), *([0] * len(alerts))] for n in TALLY_FIELDS},
        })

    return run


def in_arrival_order(frames: Iterator[pd.DataFrame]) -> list[dict[str, Any]]:
    """A subscriber's rated CDRs of the batch (the `READ_FIELDS` present) by (partition, offset).
    Through plain lists: `DataFrame.to_dict("records")` and `sort_values` cost 1.2 ms per subscriber."""
    rows: list[tuple[int, int, str]] = []
    for frame in frames:
        rows += zip(frame["partition"].tolist(), frame["offset"].tolist(), frame["fields"].tolist(), strict=True)
    # A record that is not JSON has no fields: `read_usage` counts it unreadable.
    return [json.loads(fields) if fields is not None else {} for _, _, fields in sorted(rows, key=lambda row: row[:2])]


def alert_json(alert: dict[str, Any]) -> str:
    """An alert as one line of JSON, keys in `ALERT_FIELDS` order."""
    return json.dumps({name: alert[name] for name in ALERT_FIELDS}, separators=(",", ":"), ensure_ascii=False)


def _watermark(state: GroupState) -> datetime | None:
    """The query's watermark (event time of earlier batches); None before there is one."""
    ms = state.getCurrentWatermarkMs()
    return datetime.fromtimestamp(ms / 1000, UTC) if ms > 0 else None


class MonitorProgress(ProgressPrinter):
    """The stream's progress line, with what the batch counted and alerted."""

    def onQueryProgress(self, event: Any) -> None:
        p = event.progress
        if p.numInputRows == 0:
            return
        row = p.observedMetrics.get(METRICS)
        counts = ", ".join(f"{n} {row[n] or 0}" for n in (*TALLY_FIELDS, "alerts")) if row is not None else ""
        self.out(f"batch {p.batchId}: {p.numInputRows} rated CDRs in {p.durationMs.get('triggerExecution', 0)} ms"
                 f" ({counts})")


def start_monitor(spark: SparkSession, settings: Settings, catalog: Catalog, options: StreamOptions,
                  checkpoint: str) -> StreamingQuery:
    return start_query(settings, alerts_frame(spark, settings, catalog, options), options, checkpoint,
                       options.query_name)
