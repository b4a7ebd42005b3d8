"""Stage `decide` and the words of a rejection, driven by `contracts.reasons.PRECEDENCE`.

Every check is a boolean column named after its reason (`mediation.columns.problem`), written by the
stage that owns it; `decide` takes the first failing one in precedence order. `DETAILS` gives each
reason its words (docs/RULES.md), composed from the record's fields only when a rejection is written.
"""

from __future__ import annotations

from collections.abc import Callable

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F

from .contracts.reasons import PRECEDENCE, Reason
from .mediation import decode, enrich, formats, msisdn, partials, timestamps, usage
from .mediation.columns import problem
from .rating.rate import no_rate_detail

DETAILS: dict[Reason, Callable[[], Column]] = {
    Reason.MALFORMED_JSON: decode.malformed_detail,
    Reason.UNKNOWN_FORMAT: formats.unknown_format_detail,
    Reason.UNKNOWN_RECORD_TYPE: formats.unknown_record_type_detail,
    Reason.MISSING_FIELD: formats.missing_field_detail,
    Reason.INVALID_MSISDN: msisdn.invalid_msisdn_detail,
    Reason.INVALID_TIMESTAMP: timestamps.invalid_timestamp_detail,
    Reason.NON_POSITIVE_USAGE: lambda: usage.usage_detail(Reason.NON_POSITIVE_USAGE),
    Reason.USAGE_OUT_OF_RANGE: lambda: usage.usage_detail(Reason.USAGE_OUT_OF_RANGE),
    Reason.FUTURE_TIMESTAMP: timestamps.future_timestamp_detail,
    Reason.UNKNOWN_SUBSCRIBER: enrich.unknown_subscriber_detail,
    Reason.INVALID_PARTIAL: partials.invalid_partial_detail,
    Reason.LATE_PARTIAL: partials.late_partial_detail,
    Reason.NO_RATE: no_rate_detail,
}


def decide(df: DataFrame) -> DataFrame:
    """Adds `reason`: the first failing check of `PRECEDENCE`, or null for a record that passed."""
    missing = [problem(r) for r in PRECEDENCE if problem(r) not in df.columns]
    if missing:
        raise ValueError(f"no stage wrote the check(s) {', '.join(missing)}")
    reason: Column = F.lit(None).cast("string")
    for r in reversed(PRECEDENCE):
        reason = F.when(F.col(problem(r)), F.lit(r.value)).otherwise(reason)
    return df.withColumn("reason", reason)


def detail() -> Column:
    """The words of the record's `reason` (docs/RULES.md), null for an accepted record."""
    words: Column = F.lit(None).cast("string")
    for r in reversed(PRECEDENCE):
        words = F.when(F.col("reason") == r.value, DETAILS[r]()).otherwise(words)
    return words
