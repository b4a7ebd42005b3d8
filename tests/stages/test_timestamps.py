from __future__ import annotations

from datetime import datetime
from typing import Any

from pyspark.sql import functions as F
from pyspark.testing import assertDataFrameEqual

from telecom_billing.mediation.timestamps import (
    check_event_time,
    check_future,
    clock,
    parse_event_time,
    with_local_time,
)


def test_event_time_cheap_exact_and_invalid(frame: Any) -> None:
    df = frame("event_time_text string", [
        ("2026-10-01T00:00:37+01:00",), ("2026-10-01T00:00:37Z",), ("2026-10-01T00:00:37.1234567-00:30",),
        ("1970-01-01T00:30:00+01:00",), ("2026-02-30T00:00:00Z",), ("2026-10-01T24:00:00Z",),
        ("2026-10-01T00:00:00+18:30",), ("2026-10-01 00:00:00Z",), ("2026-10-01T00:00:00",), (None,),
    ])
    out = df.transform(parse_event_time).transform(check_event_time).select("event_time", "invalid_timestamp")
    assertDataFrameEqual(out, [
        ("2026-09-30T23:00:37.000000Z", False), ("2026-10-01T00:00:37.000000Z", False),
        ("2026-10-01T00:30:37.123456Z", False), (None, True), (None, True), (None, True), (None, True),
        (None, True), (None, True), (None, True),
    ], checkRowOrder=True)


def test_future_check_and_local_time(spark: Any, frame: Any) -> None:
    df = frame("offset bigint, event_ts timestamp", [(0, datetime(2026, 10, 1, 23, 30)),
                                                     (1, datetime(2026, 10, 2, 1, 0, 1)),
                                                     (2, datetime(2026, 10, 2, 1, 0))])
    now = F.lit(datetime(2026, 10, 2, 0, 0)).cast("timestamp")
    out = (df.transform(check_future, clock=clock(spark, now)).transform(with_local_time, timezone="Africa/Casablanca")
           .select("future_timestamp", "processed_at", F.col("local_date").cast("string"), "local_weekday",
                   "local_minute"))
    # Casablanca is UTC+1 in October 2026: 23:30Z is 00:30 on Friday 2 October.
    assertDataFrameEqual(out, [
        (False, "2026-10-02T00:00:00.000000Z", "2026-10-02", 4, 30),
        (True, "2026-10-02T00:00:00.000000Z", "2026-10-02", 4, 120),
        (False, "2026-10-02T00:00:00.000000Z", "2026-10-02", 4, 120),
    ], checkRowOrder=True)
