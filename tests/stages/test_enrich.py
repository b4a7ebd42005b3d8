from __future__ import annotations

from datetime import date
from typing import Any

from pyspark.sql import functions as F
from pyspark.testing import assertDataFrameEqual

from telecom_billing.mediation.enrich import find_subscriber, subscriber_frame, unknown_subscriber_detail
from telecom_billing.refdata.subscribers import Subscriber


def test_subscriber_active_on_the_local_date(spark: Any, frame: Any) -> None:
    base = [Subscriber("212600000001", "A", "x", "SMART", date(2026, 10, 5), date(2026, 10, 20)),
            Subscriber("212600000001", "B", "y", "GONE", date(2026, 10, 20)),
            Subscriber("212600000002", "C", "z", "PAYG", date(2026, 1, 1))]
    subs = subscriber_frame(spark, base, ("PAYG", "SMART"))
    cdrs = frame("msisdn string, local_date date", [
        ("212600000001", date(2026, 10, 4)), ("212600000001", date(2026, 10, 5)),
        ("212600000001", date(2026, 10, 19)), ("212600000001", date(2026, 10, 20)),
        ("212600000002", date(2026, 12, 31)), ("212699999999", date(2026, 10, 1)), (None, None)])
    out = (find_subscriber(cdrs.withColumn("msisdn_key", F.col("msisdn").cast("bigint")), subs)
           .select("msisdn", "plan_id", "plan_index", "unknown_subscriber", unknown_subscriber_detail().alias("words")))
    assertDataFrameEqual(out, [
        ("212600000001", None, None, True, "no subscriber 212600000001 active on 2026-10-04"),
        ("212600000001", "SMART", 1, False, "no subscriber 212600000001 active on 2026-10-05"),
        ("212600000001", "SMART", 1, False, "no subscriber 212600000001 active on 2026-10-19"),
        ("212600000001", "GONE", None, False, "no subscriber 212600000001 active on 2026-10-20"),
        ("212600000002", "PAYG", 0, False, "no subscriber 212600000002 active on 2026-12-31"),
        ("212699999999", None, None, True, "no subscriber 212699999999 active on 2026-10-01"),
        (None, None, None, True, None),
    ], checkRowOrder=False)
