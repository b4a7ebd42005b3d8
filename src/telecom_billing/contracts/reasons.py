"""Rejection reason codes (DESIGN.md section 4) and the one precedence list that decides them.

The names are part of the contract: extend, never rename. A record is rejected with the first
reason of `PRECEDENCE` whose check fails (docs/RULES.md section 1); mediation builds its decision
from this tuple, so reordering it here reorders the code.
"""

from __future__ import annotations

from enum import StrEnum


class Reason(StrEnum):
    """Why a raw CDR was rejected; the value is the code written on `cdr.rejected`."""

    MALFORMED_JSON = "MALFORMED_JSON"
    UNKNOWN_FORMAT = "UNKNOWN_FORMAT"
    UNKNOWN_RECORD_TYPE = "UNKNOWN_RECORD_TYPE"
    MISSING_FIELD = "MISSING_FIELD"
    INVALID_MSISDN = "INVALID_MSISDN"
    INVALID_TIMESTAMP = "INVALID_TIMESTAMP"
    NON_POSITIVE_USAGE = "NON_POSITIVE_USAGE"
    USAGE_OUT_OF_RANGE = "USAGE_OUT_OF_RANGE"
    FUTURE_TIMESTAMP = "FUTURE_TIMESTAMP"
    UNKNOWN_SUBSCRIBER = "UNKNOWN_SUBSCRIBER"
    NO_RATE = "NO_RATE"
    INVALID_PARTIAL = "INVALID_PARTIAL"  # DESIGN.md 7c: a part's own fields, or the part against its session
    LATE_PARTIAL = "LATE_PARTIAL"  # DESIGN.md 7c: a part of a session already assembled


PRECEDENCE: tuple[Reason, ...] = (
    Reason.MALFORMED_JSON,
    Reason.UNKNOWN_FORMAT,
    Reason.UNKNOWN_RECORD_TYPE,
    Reason.MISSING_FIELD,
    Reason.INVALID_MSISDN,
    Reason.INVALID_TIMESTAMP,
    Reason.NON_POSITIVE_USAGE,
    Reason.USAGE_OUT_OF_RANGE,
    Reason.FUTURE_TIMESTAMP,
    Reason.UNKNOWN_SUBSCRIBER,
    Reason.INVALID_PARTIAL,
    Reason.LATE_PARTIAL,
    Reason.NO_RATE,
)

# Deduplication sits between these two checks (RULES.md sections 11 and 18): a record that passed
# every check up to DEDUPLICATED_FROM's predecessor (a part's own INVALID_PARTIAL included) is
# deduplicated by cdr_id, so a later copy of a record rejected NO_RATE is a duplicate too. A part is
# then judged against its session (INVALID_PARTIAL again, LATE_PARTIAL) before NO_RATE.
DEDUPLICATED_FROM = Reason.LATE_PARTIAL
# What a rejection reports (RULES.md section 16): the subscriber MSISDN once the record type is
# known, a canonical cdr_id once the format is, a legacy (derived) cdr_id once its inputs are valid.
MSISDN_KNOWN_FROM = Reason.MISSING_FIELD
CANONICAL_ID_KNOWN_FROM = Reason.UNKNOWN_RECORD_TYPE
LEGACY_ID_KNOWN_FROM = Reason.FUTURE_TIMESTAMP

