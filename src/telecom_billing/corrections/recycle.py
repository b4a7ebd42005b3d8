"""Recycling (DESIGN.md section 7b): rejected records sent back to `cdr.raw` once the reference data
that rejected them is fixed. The chains they form, and the headers that name them, are part of the
raw record's contract (`contracts/chains.py`: read by the stream, reconciliation and this module).

A raw record and its recycled copies form one *chain*, named by the `partition:offset` of its first
raw record: a recycled copy carries it in its `recycled_from` Kafka header. A chain's outcome is its
latest member's (arrival order), so a record rejected and then recycled counts once.

Each `telecom recycle` run also names itself in the `recycle_run` header of the copies it sends: the
stream deduplicates a recycled copy against the copies of the same run only, never against the
record it recycles (`mediation.dedup.dedup_key`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from pyspark.sql import functions as F

from ..contracts.chains import latest_members, with_chains

if TYPE_CHECKING:
    from pyspark.sql import DataFrame


def eligible(raw: DataFrame, rejected: DataFrame, reason: str) -> DataFrame:
    """The chains to recycle for `reason`: those whose latest member was rejected with it (`key`,
    `value`, `first_id` of that member). A chain whose latest copy is rated, in flight or rejected
    for another reason is left alone, so recycling twice sends nothing twice."""
    reasons = rejected.select(F.col("partition").alias("_p"), F.col("offset").alias("_o"),
                              F.col("reason").alias("rejected_for")).dropDuplicates(["_p", "_o"])
    members = with_chains(raw).join(reasons, (F.col("partition") == F.col("_p")) & (F.col("offset") == F.col("_o")),
                                    "left")
    return latest_members(members).where(F.col("rejected_for") == reason).select(
        "key", "value", "first_id", "partition", "offset")
