from __future__ import annotations

from typing import Any

from pyspark.sql import functions as F
from pyspark.testing import assertDataFrameEqual

from telecom_billing.contracts.reasons import Reason
from telecom_billing.mediation.numbers import CLAMP
from telecom_billing.mediation.usage import measure_usage, usage_detail

SCHEMA = "source_format string, record_type string, duration long, up long, down long, volume long"


def test_usage_quantities_and_checks(frame: Any) -> None:
    df = frame(SCHEMA, [
        ("canonical", "voice", 120, None, None, None),
        ("canonical", "voice", 0, None, None, None),
        ("canonical", "voice", 86_401, None, None, None),
        ("canonical", "sms", None, None, None, None),
        ("canonical", "data", None, 10, 20, None),
        ("canonical", "data", None, CLAMP, CLAMP, None),
        ("legacy", "data", -1, None, None, 5),
        ("legacy", "data", 30, None, None, 0),
    ])

    def number(name: str) -> Any:
        return F.struct(F.col(name).alias("value"), F.lit(True).alias("is_number"), F.lit(True).alias("integral"))

    numbers = df.select("source_format", "record_type", number("duration").alias("duration_number"),
                        number("up").alias("bytes_up_number"), number("down").alias("bytes_down_number"),
                        number("volume").alias("volume_number"))
    out = measure_usage(numbers).select(
        "duration_sec", "bytes_up", "bytes_down", "quantity", "non_positive_usage", "usage_out_of_range",
        usage_detail(Reason.NON_POSITIVE_USAGE).alias("low"), usage_detail(Reason.USAGE_OUT_OF_RANGE).alias("high"))
    assertDataFrameEqual(out, [
        (120, None, None, 120, False, False, None, None),
        (0, None, None, 0, True, False, "duration_sec must be positive", None),
        (86_401, None, None, 86_401, False, True, None, "duration_sec over 86400"),
        (None, None, None, 1, False, False, None, None),
        (None, 10, 20, 30, False, False, None, None),
        (None, CLAMP, CLAMP, 2 * CLAMP, False, True, None, "bytes over 107374182400"),
        (-1, 0, 5, 5, True, False, "session_duration_sec must not be negative", None),
        (30, 0, 0, 0, True, False, "bytes must be positive", None),
    ], checkRowOrder=True)
