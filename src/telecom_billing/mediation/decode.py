"""Stage `decode`: raw bytes -> text -> the raw fields (RULES.md section 2, MALFORMED_JSON).

Every field is read as a string with Spark's JSON reader: a number or boolean arrives as its text,
so one schema serves both formats and `"140"` and `140` are handled alike.
"""

from __future__ import annotations

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F
from pyspark.sql import types as T

from ..contracts.reasons import Reason
from ..contracts.records import RAW_FIELDS
from .columns import problem, raw

_CORRUPT = "_corrupt"
_SCHEMA = T.StructType([T.StructField(f, T.StringType()) for f in (*RAW_FIELDS, _CORRUPT)])
_OPTIONS = {"columnNameOfCorruptRecord": _CORRUPT, "allowNonNumericNumbers": "false", "allowSingleQuotes": "false",
            "mode": "PERMISSIVE"}


def _starts_an_object(text: Column) -> Column:
    """Optional JSON whitespace, then `{`; the regular expression only for the rare leading space."""
    return text.startswith("{") | text.rlike(r"^[ \t\r\n]*\{")


def decode(df: DataFrame) -> DataFrame:
    """Adds `text` (null when the value is not UTF-8), `in_<field>` for every raw field and the check
    `malformed_json`. `value` is kept only where `text` is null: the pipeline carries one copy."""
    utf8 = F.is_valid_utf8("value")
    df = df.withColumns({"_utf8": utf8, "text": F.when(utf8, F.col("value").cast("string"))})
    df = df.withColumn("_json", F.from_json("text", _SCHEMA, _OPTIONS))
    malformed = (~F.col("_utf8") | F.col("_json").isNull() | F.col(f"_json.{_CORRUPT}").isNotNull()
                 | ~_starts_an_object(F.col("text")))
    return df.select(
        *[c for c in df.columns if not c.startswith("_") and c != "value"],
        F.when(~F.col("_utf8"), F.col("value")).alias("value"),
        *[F.col(f"_json.{name}").alias(raw(name)) for name in RAW_FIELDS],
        malformed.alias(problem(Reason.MALFORMED_JSON)),
    )


def malformed_detail() -> Column:
    return F.when(F.col("text").isNull(), F.lit("not UTF-8")).otherwise(F.lit("not a JSON object"))
