"""Recycling chains (DESIGN.md section 7b), as the raw records carry them: a recycled copy names
its chain (the `partition:offset` of the chain's first raw record) in its `recycled_from` Kafka
header and the recycle run that sent it in `recycle_run`. The stream (deduplication), billing's
reconciliation and `telecom recycle` read them here.

The same `partition:offset` names a raw record in the `source` header the stream writes on every
rated and rejected record, and the other parts of an assembled CDR in its `merged` header: the
reconciliation by offsets reads them (`billing.reconcile`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from pyspark.sql import Window
from pyspark.sql import functions as F

if TYPE_CHECKING:
    from pyspark.sql import Column, DataFrame

RECYCLED_FROM = "recycled_from"
RECYCLE_RUN = "recycle_run"
SOURCE = "source"
# On an assembled CDR (DESIGN.md 7c): the raw records of its other parts, `partition:offset` joined by `,`.
MERGED = "merged"


def header(headers: Column, key: str) -> Column:
    """The value of a raw record's Kafka header `key` as text; null when it has none."""
    found = F.filter(headers, lambda h: h["key"] == F.lit(key))
    return F.element_at(found, 1)["value"].cast("string")


def position() -> Column:
    """A raw record's `partition:offset` in `cdr.raw`."""
    return F.concat_ws(":", F.col("partition").cast("string"), F.col("offset").cast("string"))


def parse_position(text: Column) -> tuple[Column, Column]:
    """`position()`'s text read back: the raw record's `partition` (int) and `offset` (bigint)."""
    parts = F.split(text, ":")
    return parts[0].cast("int").alias("partition"), parts[1].cast("bigint").alias("offset")


def first_id(headers: Column | None = None) -> Column:
    """The chain of a raw record: its `recycled_from` header, else its own `partition:offset`."""
    own = position()
    if headers is None:
        return own
    return F.coalesce(header(headers, RECYCLED_FROM), own)


def with_chains(raw: DataFrame) -> DataFrame:
    """Raw Kafka rows (with `headers` when read so) plus `first_id`."""
    return raw.withColumn("first_id", first_id(raw["headers"] if "headers" in raw.columns else None))


def latest_members(members: DataFrame, worse_first: Column | None = None) -> DataFrame:
    """One row per chain: its latest member by arrival (`timestamp`, then `offset`); rows for which
    `worse_first` is true only count when nothing else in the chain does."""
    order = [F.col("timestamp").desc_nulls_last(), F.col("offset").desc()]
    if worse_first is not None:
        order.insert(0, worse_first.asc())
    latest = Window.partitionBy("first_id").orderBy(*order)
    return members.withColumn("_n", F.row_number().over(latest)).where("_n = 1").drop("_n")
