from __future__ import annotations

from typing import Any

from pyspark.testing import assertDataFrameEqual

from telecom_billing.mediation.decode import decode, malformed_detail

KAFKA = "value binary, topic string, partition int, offset bigint, timestamp timestamp"


def test_decode_reads_fields_as_text_and_flags_malformed(frame: Any) -> None:
    raw = frame(KAFKA, [
        (b'{"cdr_id":"a-1","duration_sec":140,"cell_id":true}', "t", 0, 1, None),
        (b' \n{"timestamp":"2026-10-01T00:00:00Z"} trailing', "t", 0, 2, None),
        (b"\xff\xfe{}", "t", 0, 3, None),
        (b"[1, 2]", "t", 0, 4, None),
        (b'{"cdr_id": "unterminated', "t", 0, 5, None),
    ])
    out = decode(raw).select("offset", "in_cdr_id", "in_duration_sec", "in_cell_id", "in_timestamp",
                             "malformed_json", "value", malformed_detail().alias("words"))
    assertDataFrameEqual(out, [
        (1, "a-1", "140", "true", None, False, None, "not a JSON object"),
        (2, None, None, None, "2026-10-01T00:00:00Z", False, None, "not a JSON object"),
        (3, None, None, None, None, True, bytearray(b"\xff\xfe{}"), "not UTF-8"),
        (4, None, None, None, None, True, None, "not a JSON object"),
        (5, None, None, None, None, True, None, "not a JSON object"),
    ], checkRowOrder=False)
