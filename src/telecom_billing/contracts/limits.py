"""The numeric limits of the contract (DESIGN.md sections 3-6 and docs/RULES.md)."""

from __future__ import annotations

MAX_VOICE_SECONDS = 86_400          # USAGE_OUT_OF_RANGE above (voice duration, legacy session duration)
MAX_DATA_BYTES = 100 * 1024**3      # USAGE_OUT_OF_RANGE above (data record total)
BYTES_PER_MB = 1_048_576            # legacy data_volume_mb
FUTURE_TOLERANCE_SECONDS = 3_600    # FUTURE_TIMESTAMP: event_time more than this after processing
MONEY_SCALE = 6                     # catalog money has at most 6 decimal places
MAX_UNITS = 10**12                  # catalog `per` and increments are at most this
UNIT_PRICE_DECIMALS = 10            # `unit_price` on a rated CDR
MAX_RECORD_BYTES = 64 * 1024 * 1024  # largest Kafka record (broker, producers, the rating sink)
UNEXPLAINED_SAMPLE = 100            # unexplained records listed in a reconciliation report
MAX_PARTS = 1_000                   # INVALID_PARTIAL above: the highest sequence of a partial record
MAX_SESSION_ID_CHARS = 128          # INVALID_PARTIAL above: a partial record's session_id
