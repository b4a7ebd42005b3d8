"""Stage `measure_usage`: the normalized usage and its checks (RULES.md sections 8 and 12).

voice: `duration_sec`; sms: quantity 1; data: `bytes_up` + `bytes_down`, where a legacy record
has `bytes_up = 0` and `bytes_down` from its megabytes, and its session duration as `duration_sec`.
"""

from __future__ import annotations

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F

from ..contracts.limits import MAX_DATA_BYTES, MAX_VOICE_SECONDS
from ..contracts.reasons import Reason
from .columns import problem
from .formats import CANONICAL, LEGACY, number_column


def _conditions(reason: Reason) -> list[tuple[Column, str]]:
    """The usage checks of `reason` in order, each with its words (values clamped: sums never overflow)."""
    c = F.col
    voice, data = c("record_type") == "voice", c("record_type") == "data"
    legacy_data = data & (c("source_format") == LEGACY)
    total, session = c("bytes_up") + c("bytes_down"), c("duration_sec")
    if reason == Reason.NON_POSITIVE_USAGE:
        return [(voice & (c("duration_sec") <= 0), "duration_sec must be positive"),
                (data & ((c("bytes_up") < 0) | (c("bytes_down") < 0) | (total <= 0)), "bytes must be positive"),
                (legacy_data & (session < 0), "session_duration_sec must not be negative")]
    return [(voice & (c("duration_sec") > MAX_VOICE_SECONDS), f"duration_sec over {MAX_VOICE_SECONDS}"),
            (data & (total > MAX_DATA_BYTES), f"bytes over {MAX_DATA_BYTES}"),
            (legacy_data & (session > MAX_VOICE_SECONDS), f"session_duration_sec over {MAX_VOICE_SECONDS}")]


def measure_usage(df: DataFrame) -> DataFrame:
    """Adds `duration_sec`, `bytes_up`, `bytes_down`, `quantity` and the checks `non_positive_usage`
    and `usage_out_of_range`. Needs `parse_numbers`."""
    c = F.col
    data, canonical = c("record_type") == "data", c("source_format") == CANONICAL
    df = df.withColumns({
        "duration_sec": c(number_column("duration"))["value"],
        "bytes_up": F.when(data, F.when(canonical, c(number_column("bytes_up"))["value"]).otherwise(F.lit(0))),
        "bytes_down": F.when(data, F.when(canonical, c(number_column("bytes_down"))["value"])
                             .otherwise(c(number_column("volume"))["value"])),
    })
    checks = {reason: _conditions(reason) for reason in (Reason.NON_POSITIVE_USAGE, Reason.USAGE_OUT_OF_RANGE)}
    return df.withColumns({
        "quantity": F.when(c("record_type") == "voice", c("duration_sec"))
        .when(c("record_type") == "sms", F.lit(1).cast("bigint"))
        .when(data, c("bytes_up") + c("bytes_down")),
        **{problem(reason): _any([condition for condition, _ in conditions]) for reason, conditions in checks.items()},
    })


def _any(conditions: list[Column]) -> Column:
    found = conditions[0]
    for more in conditions[1:]:
        found = found | more
    return F.coalesce(found, F.lit(False))


def usage_detail(reason: Reason) -> Column:
    """The words of the first failing check of `reason`."""
    detail: Column = F.lit(None).cast("string")
    for condition, words in reversed(_conditions(reason)):
        detail = F.when(condition, F.lit(words)).otherwise(detail)
    return detail
