"""Record layouts: the raw fields mediation reads, the rated CDR and the rejection it writes
(docs/RULES.md section 16), in their contractual key order, with Spark types."""

from __future__ import annotations

SERVICES: tuple[str, ...] = ("voice", "sms", "data")
# What happens to a raw record (DESIGN.md section 4): exactly one of these.
RATED, REJECTED, DUPLICATE = "rated", "rejected", "duplicate"
# A part of a partial record (DESIGN.md 7c): merged into an assembled CDR beyond its first part, or
# held in the stream while its session is open.
MERGED, HELD = "merged", "held"
FORMATS: tuple[str, ...] = ("canonical", "legacy")

# The columns of a raw record as Spark's Kafka source gives them (the file driver makes the same).
KAFKA_COLUMNS: tuple[str, ...] = ("value", "topic", "partition", "offset", "timestamp")

# Every field of both raw formats (DESIGN.md section 3); each is read as text (RULES.md section 2).
RAW_FIELDS: tuple[str, ...] = (
    "cdr_id", "record_type", "event_time", "msisdn", "other_party", "direction", "duration_sec",
    "bytes_up", "bytes_down", "cell_id", "technology", "visited_country",
    "timestamp", "caller_id", "callee_id", "sender_id", "receiver_id", "user_id", "data_volume_mb",
    "session_duration_sec",
    "session_id", "sequence", "partial",  # partial records, canonical only (DESIGN.md 7c)
)

RATED_FIELDS: tuple[tuple[str, str], ...] = (
    ("schema_version", "string"),  # contracts/schemas.py
    ("cdr_id", "string"),
    ("record_type", "string"),
    ("event_time", "string"),
    ("msisdn", "string"),
    ("other_party", "string"),
    ("direction", "string"),
    ("duration_sec", "bigint"),
    ("bytes_up", "bigint"),
    ("bytes_down", "bigint"),
    ("quantity", "bigint"),
    ("cell_id", "string"),
    ("technology", "string"),
    ("visited_country", "string"),
    ("roaming", "boolean"),
    ("source_format", "string"),
    ("plan_id", "string"),
    ("zone", "string"),
    ("band", "string"),
    ("billable_units", "bigint"),
    ("price", "string"),
    ("per", "bigint"),
    ("unit_price", "string"),
    ("connect_fee", "string"),
    ("charge", "string"),
    ("currency", "string"),
    ("catalog_version", "string"),
    ("rated_at", "string"),
    # An assembled CDR's (DESIGN.md 7c, RULES.md section 18); null on a whole CDR.
    ("partials", "bigint"),
    ("incomplete", "boolean"),
    ("missing", "array<bigint>"),
    ("last_missing", "boolean"),
)
RATED_NAMES: tuple[str, ...] = tuple(name for name, _ in RATED_FIELDS)

SOURCE_TYPE = "struct<topic: string, partition: int, offset: bigint>"
REJECTED_FIELDS: tuple[tuple[str, str], ...] = (
    ("schema_version", "string"),
    ("reason", "string"),
    ("detail", "string"),
    ("raw", "string"),
    ("raw_base64", "string"),
    ("msisdn", "string"),
    ("cdr_id", "string"),
    ("source", SOURCE_TYPE),
    ("rejected_at", "string"),
)
REJECTED_NAMES: tuple[str, ...] = tuple(name for name, _ in REJECTED_FIELDS)

# UTC instants on rated and rejected records: 2026-10-01T00:00:37.000000Z (RULES.md section 7).
TIME_FORMAT = "yyyy-MM-dd'T'HH:mm:ss.SSSSSS'Z'"
PYTHON_TIME_FORMAT = "%Y-%m-%dT%H:%M:%S.%fZ"  # TIME_FORMAT in Python's words (strftime, strptime)

