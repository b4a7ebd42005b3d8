"""Rejection reason codes (DESIGN.md section 4) and the order in which they are checked.

The names are part of the contract: extend, never rename. docs/RULES.md section 1 gives the
precedence; a record gets the first reason of `PRECEDENCE` whose check fails.
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

    @property
    def description(self) -> str:
        return _DESCRIPTIONS[self]


_DESCRIPTIONS: dict[Reason, str] = {
    Reason.MALFORMED_JSON: "the payload is not UTF-8, not JSON, or not a JSON object",
    Reason.UNKNOWN_FORMAT: "a JSON object that is neither a canonical nor a legacy CDR",
    Reason.UNKNOWN_RECORD_TYPE: "record_type is not voice, sms or data",
    Reason.MISSING_FIELD: "a required field is absent, null, or not of a usable type (e.g. not a number)",
    Reason.INVALID_MSISDN: "the subscriber or other-party number does not normalize to E.164 digits",
    Reason.INVALID_TIMESTAMP: "the event time is not ISO-8601 with a UTC offset, or is before 1970",
    Reason.NON_POSITIVE_USAGE: "the call duration or data volume is zero or negative",
    Reason.USAGE_OUT_OF_RANGE: "a voice call over 86,400 s or a data record over 100 GiB",
    Reason.FUTURE_TIMESTAMP: "the event time is more than 1 h after the time of processing",
    Reason.UNKNOWN_SUBSCRIBER: "no subscriber with that MSISDN is active on the event's local date",
    Reason.NO_RATE: "no tariff of the subscriber's plan matches the CDR's service, zone and band",
}

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
    # Deduplication happens here: a later copy of a cdr_id is a duplicate, not a rejection.
    Reason.NO_RATE,
)
