"""Stage `find_subscriber`: the subscriber active on the event's local date (RULES.md section 10)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F

from ..contracts.reasons import Reason
from ..refdata.subscribers import active_on
from .columns import problem

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

    from ..refdata.subscribers import Subscriber

SUBSCRIBER_SCHEMA = "sub_key bigint, plan_id string, plan_index int, activation_date date, termination_date date"


def subscriber_frame(spark: SparkSession, subscribers: Iterable[Subscriber], plans: Sequence[str]) -> DataFrame:
    """The base as the lookup needs it: the MSISDN as a bigint key and the plan's position in `plans`
    (null for a plan the catalog does not have)."""
    index = {plan: i for i, plan in enumerate(plans)}
    rows = [(int(s.msisdn), s.plan_id, index.get(s.plan_id), s.activation_date, s.termination_date)
            for s in subscribers]
    return spark.createDataFrame(rows, SUBSCRIBER_SCHEMA)


def find_subscriber(df: DataFrame, subscribers: DataFrame) -> DataFrame:
    """Adds `plan_id`, `plan_index` and the check `unknown_subscriber` (a broadcast lookup by
    `msisdn_key` and `local_date`; the loader refuses overlapping periods, so at most one matches)."""
    subs = F.broadcast(subscribers)
    active = (df["msisdn_key"] == subs["sub_key"]) & active_on(
        df["local_date"], subs["activation_date"], subs["termination_date"])
    joined = df.join(subs, active, "left")
    return joined.withColumn(problem(Reason.UNKNOWN_SUBSCRIBER), F.col("sub_key").isNull()).drop(
        "sub_key", "activation_date", "termination_date")


def unknown_subscriber_detail() -> Column:
    return F.concat(F.lit("no subscriber "), F.col("msisdn"), F.lit(" active on "),
                    F.date_format("local_date", "yyyy-MM-dd"))
