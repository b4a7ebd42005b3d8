from __future__ import annotations

from typing import Any

from pyspark.sql import functions as F
from pyspark.testing import assertDataFrameEqual

from telecom_billing.mediation.numbers import CLAMP, integer, megabytes


def test_integer_texts_cheap_and_exact(frame: Any) -> None:
    df = frame("t string", [("140",), ("-5",), (" 140 ",), ("1.4e2",), ("140.5",), ("1e30",), ("-1e30",),
                            ("0e400",), ("NOT_A_NUMBER",), ("Infinity",), (None,)])
    out = df.select("t", integer(F.col("t")).alias("n")).select("t", "n.*")
    assertDataFrameEqual(out, [
        ("140", 140, True, True), ("-5", -5, True, True), (" 140 ", 140, True, True), ("1.4e2", 140, True, True),
        ("140.5", None, True, False), ("1e30", CLAMP, True, True), ("-1e30", -CLAMP, True, True),
        ("0e400", 0, True, True), ("NOT_A_NUMBER", 0, False, True), ("Infinity", 0, False, True),
        (None, None, None, None),
    ], checkRowOrder=False)


def test_megabytes_round_half_up_to_bytes(frame: Any) -> None:
    # 0.000000476837158203125 MB is exactly half a byte: half-up gives 1.
    df = frame("t string", [("4.58",), ("0.000000476837158203125",), ("0.0000004768371582031249",),
                            ("-1",), ("1e10",)])
    out = df.select("t", megabytes(F.col("t"))["value"].alias("bytes"))
    assertDataFrameEqual(out, [("4.58", 4802478), ("0.000000476837158203125", 1), ("0.0000004768371582031249", 0),
                               ("-1", -1048576), ("1e10", CLAMP)], checkRowOrder=False)
