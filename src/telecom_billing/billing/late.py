"""Late CDRs in the final run of a later period (DESIGN.md 7a, docs/BILLING.md section 9), in Spark.

A rated CDR is late for the final run of P when its own period is an earlier final one and no final
run has taken in its `cdr.rated` offset yet (the ledger of `live.py`); a copy of a `cdr_id` that a
final already billed is a duplicate. Late CDRs are billed at their rated charge, one `late_usage`
line per subscriber, origin period, service and zone.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from pyspark.sql import Window
from pyspark.sql import functions as F

from .. import money
from ..refdata.catalog import Catalog
from .charges import (
    DUPLICATE,
    NO_SUBSCRIBER,
    OK,
    attach_subscribers,
    billed_amount,
    count_partials,
    money_type,
    sum_partials,
)
from .live import FinalPeriod, taken_in
from .period import Period

if TYPE_CHECKING:
    from pyspark.sql import Column, DataFrame, SparkSession


def is_late(finals: list[FinalPeriod], period: Period) -> Column:
    """A rated CDR (with `partition`, `offset`, `origin_period`) is late for the final run of `period`
    when its own period is an earlier final one and no final run has taken in its offset yet."""
    earlier = sorted({f.period.label for f in finals if (f.period.year, f.period.month) <
                      (period.year, period.month)})
    if not earlier:
        return F.lit(False)
    seen = taken_in(finals)
    beyond = F.lit(True)
    if seen:
        bounds = F.create_map(*[part for p, after in sorted(seen.items()) for part in (F.lit(p), F.lit(after))])
        beyond = F.col("offset") >= F.coalesce(F.element_at(bounds, F.col("partition")), F.lit(0))
    return F.col("origin_period").isin(earlier) & beyond


def billed_ids(spark: SparkSession, finals: list[FinalPeriod]) -> DataFrame | None:
    """The `cdr_id`s every final period billed (usage and late usage), or None when there are none."""
    files = [str(f.billed_cdrs) for f in finals if f.billed_cdrs.is_file()]
    if not files:
        return None
    return spark.read.parquet(*files).select("cdr_id").distinct()


@dataclass
class LateRule:
    """What a final run needs to find late CDRs: the final periods before it, and the `cdr_id`s they billed."""

    finals: list[FinalPeriod]
    billed: DataFrame | None


def late_cdrs(typed: DataFrame, subscribers: DataFrame, rule: LateRule, period: Period, catalog: Catalog) -> DataFrame:
    """The late CDRs for the final run of `period` (`charges.type_rated` rows with `partition` and
    `offset`), each with its subscriber, `origin_period`, `status` and `billed_amount` = its rated
    charge (no allowance applies). A copy of a `cdr_id` billed before, or a later copy of a late one
    (by `rated_at`, then offset), is a `duplicate`, whether or not it has a subscriber."""
    candidates = (typed.where(F.col("event_ts").isNotNull())
                  .withColumn("origin_period", F.date_format("local_date", "yyyy-MM"))
                  .where(is_late(rule.finals, period)))
    if rule.billed is not None:
        candidates = candidates.join(rule.billed.withColumn("_billed", F.lit(True)), "cdr_id", "left")
    else:
        candidates = candidates.withColumn("_billed", F.lit(False))
    first = Window.partitionBy("cdr_id").orderBy(F.col("rated_at").asc_nulls_last(), "partition", "offset")
    copy = F.coalesce(F.col("_billed"), F.lit(False)) | (F.row_number().over(first) > 1)
    cdrs = attach_subscribers(candidates, subscribers)
    cdrs = cdrs.withColumns({"status": F.when(F.col("status").isin(OK, NO_SUBSCRIBER) & copy, F.lit(DUPLICATE))
                                         .otherwise(F.col("status")),
                             "included_units": F.lit(0).cast("bigint")}).drop("_billed")
    return billed_amount(cdrs, catalog.rounding_decimals)


def late_status(cdrs: DataFrame) -> DataFrame:
    """Late CDRs per status, subscriber, origin period, service and zone, with the `PARTIAL_COUNTS`
    (small: cached by the job)."""
    return cdrs.groupBy("status", "sub_id", "origin_period", "service", "zone").agg(
        F.count(F.lit(1)).alias("cdrs"), F.sum("quantity").alias("quantity"),
        F.sum("billable_units").alias("billable_units"), F.sum("billed_amount").alias("billed_amount"),
        *count_partials())


def late_lines(summary: DataFrame) -> DataFrame:
    """One `late_usage` line per subscriber, origin period, service and zone: the rated charges'
    sum rounded half-up to 2 places, like a usage line."""
    return (summary.where(F.col("status") == OK)
            .groupBy("sub_id", "origin_period", "service", "zone")
            .agg(F.sum("quantity").alias("quantity"), F.sum("billable_units").alias("billable_units"),
                 F.sum("cdrs").alias("cdr_count"), F.sum("billed_amount").alias("billed_amount"), *sum_partials())
            .withColumn("amount", money.round_half_up(F.col("billed_amount"), 2).cast(money_type())))
