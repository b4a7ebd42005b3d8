"""Stage `identify`: a record's `cdr_id` and the MSISDN its rejection reports (RULES.md sections 12, 16)."""

from __future__ import annotations

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F

from ..contracts.reasons import (
    CANONICAL_ID_KNOWN_FROM,
    DEDUPLICATED_FROM,
    LEGACY_ID_KNOWN_FROM,
    MSISDN_KNOWN_FROM,
    PRECEDENCE,
    Reason,
)
from .columns import failed, problem, raw
from .formats import CANONICAL, LEGACY

# The normalized values a legacy cdr_id is derived from (RULES.md section 12), in order.
LEGACY_ID_FIELDS = ("record_type", "event_time", "msisdn", "other_party", "duration_sec", "bytes_down", "cell_id",
                    "technology")


def passed_checks_before(reason: Reason) -> Column:
    """True for a record that no check before `reason` (in `PRECEDENCE`) rejects. Needs `identify`."""
    return F.col("checks_passed") >= PRECEDENCE.index(reason)


def _checks_passed() -> Column:
    """How many of the checks in `PRECEDENCE` the record passed before the first it fails (only
    the checks present: rating's come later)."""
    count: Column = F.lit(len(PRECEDENCE))
    for index in reversed(range(len(PRECEDENCE))):
        if problem(PRECEDENCE[index]) in _mediation_checks():
            count = F.when(failed(PRECEDENCE[index]), F.lit(index)).otherwise(count)
    return count


def _mediation_checks() -> set[str]:
    return {problem(r) for r in PRECEDENCE[:PRECEDENCE.index(DEDUPLICATED_FROM)]}


def legacy_cdr_id() -> Column:
    """`L` + 31 hex digits of sha256 over the normalized content (RULES.md section 12)."""
    key = F.concat_ws("|", *[F.coalesce(F.col(name).cast("string"), F.lit("")) for name in LEGACY_ID_FIELDS])
    return F.concat(F.lit("L"), F.substring(F.sha2(key, 256), 1, 31))


def identify(df: DataFrame) -> DataFrame:
    """Adds `checks_passed` (how far the record got through mediation's checks), `cdr_id` (the
    canonical one, or the derived legacy one) and `known_msisdn`, as far as the record got
    (RULES.md section 16)."""
    df = df.withColumn("checks_passed", _checks_passed())
    fmt = F.col("source_format")
    cdr_id = (F.when((fmt == CANONICAL) & passed_checks_before(CANONICAL_ID_KNOWN_FROM)
                     & (F.col(raw("cdr_id")) != ""), F.col(raw("cdr_id")))
              .when((fmt == LEGACY) & passed_checks_before(LEGACY_ID_KNOWN_FROM), legacy_cdr_id()))
    type_known = passed_checks_before(MSISDN_KNOWN_FROM) & F.col("record_type").isNotNull()
    return df.withColumns({"cdr_id": cdr_id, "known_msisdn": F.when(type_known, F.col("msisdn"))})
