"""Stages `parse_event_time`, `check_event_time`, `check_future` and `with_local_time`
(RULES.md sections 7, 9, 14).

An event time must match `YYYY-MM-DDTHH:MM:SS[.f+](Z|+HH:MM|-HH:MM)` exactly, be a real date and
time with an offset of at most 18:00, and fall in [1970, 10000) once in UTC. Cheap path: the
common shapes without a fraction (`...:SSZ`, `...:SS+HH:MM`) in years 1971 to 9998 (always in
range, whatever the offset), checked character by character at fixed positions, the wall clock
parsed by Spark's own cast (which refuses impossible dates and times); the exact path (fractions,
edge years, anything odd) takes the text apart with a regular expression.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F

from ..contracts.limits import FUTURE_TOLERANCE_SECONDS
from ..contracts.reasons import Reason
from ..contracts.records import TIME_FORMAT
from .columns import let, problem
from .formats import field_name, text

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

# The separators of `YYYY-MM-DDTHH:MM:SS` at their 1-based positions.
_SEPARATORS = {5: "-", 8: "-", 11: "T", 14: ":", 17: ":"}
_TIMESTAMP = (r"^([0-9]{4})-([0-9]{2})-([0-9]{2})T([0-9]{2}):([0-9]{2}):([0-9]{2})(\.([0-9]+))?"
              r"(Z|([+-])([0-9]{2}):([0-9]{2}))\z")
_FIRST, _END = "1970-01-01 00:00:00", "10000-01-01 00:00:00"


def _char(t: Column, position: int) -> Column:
    return F.substring(t, position, 1)


def _digit(t: Column, position: int) -> Column:
    return _char(t, position).between("0", "9")


def _cheap_instant(t: Column) -> Column:
    """`YYYY-MM-DDTHH:MM:SSZ` or `...SS+HH:MM` / `...SS-HH:MM` (offset at most 18:00) in years 1971
    to 9998: the wall clock cast as UTC (its digits and ranges are checked by the cast), minus the
    offset. Null otherwise."""
    length = F.length(t)
    shape = F.substring(t, 1, 4).between("1971", "9998")
    for position, separator in _SEPARATORS.items():
        shape = shape & (_char(t, position) == separator)
    hours, minutes = F.substring(t, 21, 2).cast("int"), F.substring(t, 24, 2).cast("int")
    offset_ok = (_digit(t, 21) & _digit(t, 22) & (_char(t, 23) == ":") & _digit(t, 24) & _digit(t, 25)
                 & (minutes <= 59) & ((hours < 18) | ((hours == 18) & (minutes == 0))))
    utc = (length == 20) & (_char(t, 20) == "Z")
    zoned = (length == 25) & _char(t, 20).isin("+", "-") & offset_ok
    sign = F.when(_char(t, 20) == "-", F.lit(-1)).otherwise(F.lit(1))
    offset_seconds = F.when(utc, F.lit(0)).otherwise(sign * (hours * 3600 + minutes * 60)).cast("bigint")
    wall = F.substring(t, 1, 19).cast("timestamp")  # no zone in the text: the session's, UTC
    return F.when(shape & (utc | zoned), F.timestamp_seconds(F.unix_seconds(wall) - offset_seconds))


def _exact_instant(t: Column) -> Column:
    """The wall-clock fields as if in UTC, minus the offset: no time-zone lookup. The regular
    expression fixes every position up to the seconds, so the parts are plain substrings."""
    def num(pos: int, length: int) -> Column:
        return F.substring(t, pos, length).cast("int")

    hour, minute, second = num(12, 2), num(15, 2), num(18, 2)
    utc = t.endswith("Z")
    offset = F.substring(t, -6, 6)
    offset_h, offset_m = F.substring(offset, 2, 2).cast("int"), F.substring(offset, 5, 2).cast("int")
    offset_ok = utc | ((offset_m <= 59) & ((offset_h < 18) | ((offset_h == 18) & (offset_m == 0))))
    valid = t.rlike(_TIMESTAMP) & offset_ok & (hour <= 23) & (minute <= 59) & (second <= 59)
    fraction = F.rpad(F.substring(F.regexp_extract(t, r"\.([0-9]+)", 1), 1, 6), 6, "0")
    seconds = F.concat(F.substring(t, 18, 2), F.lit("."), fraction).cast("decimal(8,6)")
    sign = F.when(F.substring(offset, 1, 1) == "-", F.lit(-1)).otherwise(F.lit(1))
    offset_us = F.when(utc, F.lit(0)).otherwise(sign * (offset_h * 3600 + offset_m * 60)).cast("bigint") * 1_000_000
    # make_timestamp gives null for an impossible date (Feb 30) with ANSI mode off.
    wall = F.make_timestamp(num(1, 4), num(6, 2), num(9, 2), hour, minute, seconds, F.lit("UTC"))
    found = F.when(valid, F.timestamp_micros(F.unix_micros(wall) - offset_us))
    return let(found, lambda ts: F.when((ts >= F.lit(_FIRST).cast("timestamp")) & (ts < F.lit(_END).cast("timestamp")),
                                         ts))


def instant(t: Column) -> Column:
    """The UTC instant of an event-time text (fraction truncated to microseconds), or null."""
    return F.coalesce(_cheap_instant(t), F.when(t.isNotNull(), let(t, _exact_instant)))


def parse_event_time(df: DataFrame) -> DataFrame:
    """Adds `event_ts`: the event's UTC instant, or null."""
    return df.withColumn("event_ts", instant(F.col(text("event_time"))))


def check_event_time(df: DataFrame) -> DataFrame:
    """Adds `event_time` (the normalized text) and the check `invalid_timestamp`."""
    return df.withColumns({"event_time": F.date_format("event_ts", TIME_FORMAT),
                           problem(Reason.INVALID_TIMESTAMP): F.col("event_ts").isNull()})


def invalid_timestamp_detail() -> Column:
    return F.concat(field_name("event_time"), F.lit(": invalid timestamp"))


def clock(spark: SparkSession, now: Column) -> DataFrame:
    """One row: the processing time `processed_at` (RULES.md section 16's format) and the instant
    `future_after` (µs) beyond which an event is in the future.

    Joined to the records as data, because a timestamp literal is written into the generated Java
    code: the stream's `now`, new at every micro-batch, would make every batch compile (and warm up)
    the stages' code anew. Here only this one-row projection changes.
    """
    return spark.range(0, 1, numPartitions=1).select(
        F.date_format(now, TIME_FORMAT).alias("processed_at"),
        (F.unix_micros(now) + FUTURE_TOLERANCE_SECONDS * 1_000_000).alias("future_after"),
        # 0 (the range has one partition), but no literal the optimizer would fold into the join
        F.spark_partition_id().cast("bigint").alias("_clock_key"))


def check_future(df: DataFrame, clock: DataFrame) -> DataFrame:
    """Adds `processed_at` and the check `future_timestamp`: the event more than the tolerance after
    the processing time (`clock`). Every record has its Kafka `offset`, which the join uses."""
    # An equi-join on a key every record has (`offset * 0`, offsets are never null): a broadcast hash
    # join, which real-time mode accepts (a cross join is a nested loop join, which it refuses).
    df = df.join(F.broadcast(clock), (F.col("offset") * 0) == clock["_clock_key"])
    return df.withColumn(problem(Reason.FUTURE_TIMESTAMP), F.unix_micros("event_ts") > F.col("future_after")).drop(
        "future_after", "_clock_key")


def future_timestamp_detail() -> Column:
    return F.lit("event_time more than 1 h after processing time")


def local_time(instant: Column, timezone: str) -> Column:
    """The wall-clock time in `timezone` (IANA rules of the JVM) of a UTC `instant`."""
    return F.from_utc_timestamp(instant, timezone)


def with_local_time(df: DataFrame, timezone: str) -> DataFrame:
    """Adds the event's local `local_date`, `local_weekday` (Monday = 0) and `local_minute` of day in
    `timezone` (`local_time`)."""
    df = df.withColumn("_local", local_time(F.col("event_ts"), timezone))
    return df.withColumns({
        "local_date": F.to_date("_local"),
        "local_weekday": (F.dayofweek("_local") + 5) % 7,
        "local_minute": F.hour("_local") * 60 + F.minute("_local"),
    }).drop("_local")
