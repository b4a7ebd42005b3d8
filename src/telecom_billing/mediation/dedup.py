"""Deduplication by `cdr_id` (RULES.md section 11): a later copy of a record that reached this step
is a duplicate, neither rated nor rejected.

The file driver sees a whole input at once (`mark_duplicates`: every later copy, in arrival order);
the stream keeps seen ids for a window of arrival time (`drop_stream_duplicates`, Spark's
`dropDuplicatesWithinWatermark` on the Kafka timestamp). Records of one subscriber share a Kafka
key, hence a partition, so "later" is the partition's offset order.
"""

from __future__ import annotations

from pyspark.sql import Column, DataFrame, Window
from pyspark.sql import functions as F

from ..contracts.reasons import DEDUPLICATED_FROM
from .identify import passed_checks_before


def deduplicated() -> Column:
    """True for a record deduplicated by `cdr_id`: one that passed every check before DEDUPLICATED_FROM."""
    return passed_checks_before(DEDUPLICATED_FROM)


def mark_duplicates(df: DataFrame) -> DataFrame:
    """Adds `duplicate`: a deduplicated record whose `cdr_id` an earlier one (timestamp, partition,
    offset) already had. Needs `identify` and every check before DEDUPLICATED_FROM."""
    order = Window.partitionBy(F.when(deduplicated(), F.col("cdr_id"))).orderBy("timestamp", "partition", "offset")
    copy = F.row_number().over(order)
    return df.withColumn("duplicate", deduplicated() & (copy > 1))


def dedup_key() -> Column:
    """What the stream deduplicates on: the cdr_id of a deduplicated record, else the record's own
    Kafka coordinates (so it never collides). A recycled copy (DESIGN.md 7b: `recycle_run`, the
    `telecom recycle` run that sent it) is a duplicate of the same run's copies of its cdr_id only,
    never of the record it recycles, which may have passed deduplication before it was rejected."""
    by_id = F.concat(F.lit("id:"), F.col("cdr_id"))
    by_run = F.when(F.col("recycle_run").isNotNull(), F.concat(by_id, F.lit("#recycle:"), F.col("recycle_run")))
    return F.when(deduplicated(), F.coalesce(by_run, by_id)).otherwise(
        F.concat_ws(":", F.lit("raw"), F.col("partition"), F.col("offset")))


def drop_stream_duplicates(records: DataFrame, window: str) -> DataFrame:
    """Drops later copies of a `dedup_key` seen within `window` of arrival (Kafka) time."""
    return records.withWatermark("timestamp", window).dropDuplicatesWithinWatermark(["dedup_key"])
