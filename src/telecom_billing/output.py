"""Stage `to_kafka_records` and the JSON of rated and rejected records (RULES.md section 16): what
the pipeline writes once `outcome.decide` has ruled on each record (beside `outcome.py`, which it reads)."""

from __future__ import annotations

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F

from .contracts import schemas
from .contracts.chains import MERGED, SOURCE, position
from .contracts.records import RATED_NAMES
from .mediation.columns import rarely
from .outcome import detail
from .pipeline import PART_COLUMNS

_JSON = {"ignoreNullFields": "false"}


def rated_json() -> Column:
    """A rated CDR, keys in contract order, nulls written."""
    fields = {name: F.col(name) for name in RATED_NAMES}
    fields["rated_at"] = F.col("processed_at")
    fields[schemas.FIELD] = F.lit(schemas.RATED_CDR)
    return F.to_json(F.struct(*[column.alias(name) for name, column in fields.items()]), _JSON)


def rejected_json() -> Column:
    """A rejection: reason, detail, the raw payload (text, or base64 when not UTF-8), what is known
    of the record, its source coordinates and the processing time."""
    c = F.col
    source = F.struct(c("topic").alias("topic"), c("partition").alias("partition"), c("offset").alias("offset"))
    # Spark's base64 breaks lines every 76 characters (MIME); RULES.md asks for one standard string.
    raw_base64 = F.when(c("text").isNull(), F.regexp_replace(F.base64(c("value")), r"[\r\n]", ""))
    return F.to_json(F.struct(
        F.lit(schemas.REJECTED_CDR).alias(schemas.FIELD), c("reason").alias("reason"), detail().alias("detail"), c("text").alias("raw"), raw_base64.alias("raw_base64"),
        c("known_msisdn").alias("msisdn"), c("cdr_id").alias("cdr_id"), source.alias("source"),
        c("processed_at").alias("rejected_at"),
    ), _JSON)


def parts_json() -> Column:
    """A part as the rating query writes it on `cdr.parts` (`pipeline.parts_from_json` reads it)."""
    return F.to_json(F.struct(*PART_COLUMNS))


def _headers() -> Column:
    """Header `source`: the raw record (`partition:offset`); and `merged` on an assembled CDR."""
    def pair(key: str, value: Column) -> Column:
        return F.struct(F.lit(key).alias("key"), value.cast("binary").alias("value"))

    source = pair(SOURCE, position())
    return F.when(F.col("merged") != "", F.array(source, pair(MERGED, F.col("merged")))).otherwise(F.array(source))


def to_kafka_records(df: DataFrame, topic_rated: str, topic_rejected: str,
                     parts: tuple[str, Column] | None = None) -> DataFrame:
    """(topic, key, value, headers) rows for Spark's Kafka sink: rated rows and rejections in one
    frame, each naming its topic, and its raw record in header `source` (`partition:offset`).
    `parts`: a topic and which rows go there as parts waiting for their session (`pipeline.parts_json`)."""
    rejected = F.col("reason").isNotNull()
    to = F.when(rejected, F.lit(topic_rejected)).otherwise(F.lit(topic_rated))
    value = F.when(rejected, rarely(rejected_json())).otherwise(rated_json())
    if parts is not None:
        topic, is_part = parts
        to = F.when(is_part, F.lit(topic)).otherwise(to)
        value = F.when(is_part, parts_json()).otherwise(value)
    # The destination gets its name last: the rejection's `source` names the raw record's topic.
    return df.select(
        to.alias("_to"),
        F.when(rejected, F.col("known_msisdn")).otherwise(F.col("msisdn")).cast("binary").alias("key"),
        value.alias("value"),
        _headers().alias("headers"),
    ).withColumnRenamed("_to", "topic")
