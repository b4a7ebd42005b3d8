"""Recycling (DESIGN.md section 7b): rejected records sent back to `cdr.raw` once the reference data
that rejected them is fixed, and the chains they form.

A raw record and its recycled copies form one *chain*, named by the `partition:offset` of its first
raw record: a recycled copy carries it in its `recycled_from` Kafka header. A chain's outcome is its
latest member's (arrival order), so a record rejected and then recycled counts once.

Each `telecom recycle` run also names itself in the `recycle_run` header of the copies it sends: the
stream deduplicates a recycled copy against the copies of the same run only, never against the
record it recycles (`mediation.dedup.dedup_key`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from pyspark.sql import Column, DataFrame

RECYCLED_FROM = "recycled_from"
RECYCLE_RUN = "recycle_run"


def header(headers: Column, key: str) -> Column:
    """The value of a raw record's Kafka header `key` as text; null when it has none."""
    from pyspark.sql import functions as F

    found = F.filter(headers, lambda h: h["key"] == F.lit(key))
    return F.element_at(found, 1)["value"].cast("string")


def first_id(headers: Column | None = None) -> Column:
    """The chain of a raw record: its `recycled_from` header, else its own `partition:offset`."""
    from pyspark.sql import functions as F

    own = F.concat_ws(":", F.col("partition").cast("string"), F.col("offset").cast("string"))
    if headers is None:
        return own
    return F.coalesce(header(headers, RECYCLED_FROM), own)


def with_chains(raw: DataFrame) -> DataFrame:
    """Raw Kafka rows (with `headers` when read so) plus `first_id`."""
    return raw.withColumn("first_id", first_id(raw["headers"] if "headers" in raw.columns else None))


def latest_members(members: DataFrame, worse_first: Column | None = None) -> DataFrame:
    """One row per chain: its latest member by arrival (`timestamp`, then `offset`); rows for which
    `worse_first` is true only count when nothing else in the chain does."""
    from pyspark.sql import Window
    from pyspark.sql import functions as F

    order = [F.col("timestamp").desc_nulls_last(), F.col("offset").desc()]
    if worse_first is not None:
        order.insert(0, worse_first.asc())
    latest = Window.partitionBy("first_id").orderBy(*order)
    return members.withColumn("_n", F.row_number().over(latest)).where("_n = 1").drop("_n")


def eligible(raw: DataFrame, rejected: DataFrame, reason: str) -> DataFrame:
    """The chains to recycle for `reason`: those whose latest member was rejected with it (`key`,
    `value`, `first_id` of that member). A chain whose latest copy is rated, in flight or rejected
    for another reason is left alone, so recycling twice sends nothing twice."""
    from pyspark.sql import functions as F

    reasons = rejected.select(F.col("partition").alias("_p"), F.col("offset").alias("_o"),
                              F.col("reason").alias("rejected_for")).dropDuplicates(["_p", "_o"])
    members = with_chains(raw).join(reasons, (F.col("partition") == F.col("_p")) & (F.col("offset") == F.col("_o")),
                                    "left")
    return latest_members(members).where(F.col("rejected_for") == reason).select(
        "key", "value", "first_id", "partition", "offset")
