"""Raw-record fields the generator writes and the producer keys by (DESIGN.md sections 2 and 3)."""

from __future__ import annotations

import json

# Legacy records name the subscriber and the other party after the record type.
LEGACY_SUBSCRIBER = {"voice": "caller_id", "sms": "sender_id", "data": "user_id"}
LEGACY_OTHER_PARTY = {"voice": "callee_id", "sms": "receiver_id"}
# The subscriber's field in either format: canonical first, then the legacy ones by record type.
SUBSCRIBER_FIELDS = ("msisdn", *LEGACY_SUBSCRIBER.values())


def subscriber_key(value: bytes) -> bytes | None:
    """The Kafka key of a raw line: the subscriber's MSISDN digits when the line is a JSON object
    that has one, else None."""
    try:
        record = json.loads(value)
    except (ValueError, RecursionError):
        return None
    if not isinstance(record, dict):
        return None
    for name in SUBSCRIBER_FIELDS:
        number = record.get(name)
        if number is None:
            continue
        if isinstance(number, int) and not isinstance(number, bool) and number >= 0:
            return str(number).encode()
        if isinstance(number, str):
            digits = number[1:] if number.startswith("+") else number
            if digits.isascii() and digits.isdigit():
                return digits.encode()
        return None
    return None
