from __future__ import annotations

from typing import Any

from pyspark.sql import functions as F
from pyspark.testing import assertDataFrameEqual

from telecom_billing.contracts.records import RAW_FIELDS
from telecom_billing.mediation.columns import raw
from telecom_billing.mediation.formats import check_required, detect_format, missing_field_detail

SCHEMA = ", ".join(f"{raw(f)} string" for f in RAW_FIELDS)


def _records(frame: Any, records: list[dict[str, str | None]]) -> Any:
    return frame(SCHEMA, [tuple(r.get(f) for f in RAW_FIELDS) for r in records])


def test_detect_format_unifies_both_layouts(frame: Any) -> None:
    df = _records(frame, [
        {"cdr_id": "c1", "record_type": "voice", "msisdn": "212600000001", "other_party": "33612345678",
         "direction": "MT", "duration_sec": "60", "visited_country": "fr"},
        {"timestamp": "2026-10-01T00:00:00Z", "record_type": "sms", "sender_id": "0600000001",
         "receiver_id": "0600000002"},
        {"timestamp": "2026-10-01T00:00:00Z", "record_type": "data", "user_id": "212600000003",
         "data_volume_mb": "4.5", "session_duration_sec": "30"},
        {"record_type": "voice"},
        {"cdr_id": "c5", "record_type": "fax"},
    ])
    out = detect_format(df).select("source_format", "subscriber_text", "other_party_text", "duration_text",
                                   "volume_text", "direction", "visited_country", "unknown_format",
                                   "unknown_record_type")
    assertDataFrameEqual(out, [
        ("canonical", "212600000001", "33612345678", "60", None, "MT", "FR", False, False),
        ("legacy", "0600000001", "0600000002", None, None, "MO", None, False, False),
        ("legacy", "212600000003", None, "30", "4.5", None, None, False, False),
        (None, None, None, None, None, None, None, True, False),
        ("canonical", None, None, None, None, None, None, False, True),
    ], checkRowOrder=True)


def test_check_required_names_the_first_bad_field(frame: Any) -> None:
    df = _records(frame, [
        {"cdr_id": "c1", "event_time": "t", "record_type": "voice", "msisdn": "1", "other_party": "2",
         "direction": "MO", "duration_sec": "60"},
        {"cdr_id": "", "event_time": "t", "record_type": "voice", "msisdn": "1"},
        {"cdr_id": "c3", "event_time": "t", "record_type": "voice", "msisdn": "1", "direction": "IN"},
        {"cdr_id": "c4", "event_time": "t", "record_type": "data", "msisdn": "1", "bytes_up": "1.5",
         "bytes_down": "x"},
        {"timestamp": "t", "record_type": "data", "user_id": "1", "data_volume_mb": "NaN"},
        {"cdr_id": "c6", "event_time": "t"},
    ])
    number = F.struct(F.lit(None).cast("bigint").alias("value"), F.lit(True).alias("is_number"),
                      F.lit(True).alias("integral"))
    bad_up = F.struct(F.lit(1).cast("bigint").alias("value"), F.lit(True).alias("is_number"),
                      F.lit(False).alias("integral"))
    not_number = F.struct(F.lit(None).cast("bigint").alias("value"), F.lit(False).alias("is_number"),
                          F.lit(False).alias("integral"))
    detected = detect_format(df)
    # What `parse_numbers` would give for these texts.
    numbers = detected.withColumns({
        "duration_number": F.when(F.col("duration_text").isNotNull(), number),
        "bytes_up_number": F.when(F.col("bytes_up_text").isNotNull(), bad_up),
        "bytes_down_number": F.when(F.col("bytes_down_text").isNotNull(), not_number),
        "volume_number": F.when(F.col("volume_text").isNotNull(), not_number),
    })
    out = check_required(numbers).select("missing_field", missing_field_detail().alias("words"))
    assertDataFrameEqual(out, [
        (False, None),
        (True, "cdr_id: not a non-empty string"),
        (True, "direction: not MO or MT"),
        (True, "bytes_up: not an integer"),
        (True, "data_volume_mb: not a number"),
        (True, "record_type: absent"),
    ], checkRowOrder=True)
