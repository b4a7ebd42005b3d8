"""Mediation and rating as DataFrame -> DataFrame functions (docs/RULES.md), one code path, two drivers.

`mediate` parses, normalizes, validates and enriches raw Kafka-shaped rows (`value` binary, `topic`,
`partition`, `offset`, `timestamp`); `rate` resolves zone, band and rate and computes the charge in
exact integer arithmetic. Deduplication is the only step that differs between the drivers:
`rate_batch` ranks copies of a `cdr_id` by arrival, the stream drops them with Spark's
`dropDuplicatesWithinWatermark` on arrival time (see `stream.py`).

Every rule that is data (zones, roaming zones, time bands, rates) comes from the catalog and is
compiled into literal maps and CASE expressions once per job: native Spark expressions, no UDF.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from decimal import ROUND_HALF_UP, Decimal, localcontext
from typing import TYPE_CHECKING

from pyspark.sql import Column, DataFrame, Window
from pyspark.sql import functions as F
from pyspark.sql import types as T

from .catalog import ANY, HOME_ZONE, INCOMING_ZONE, Catalog, Rate
from .reasons import Reason
from .subscribers import Subscriber

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

# --- input --------------------------------------------------------------------------------------

RAW_FIELDS = (
    "cdr_id", "record_type", "event_time", "msisdn", "other_party", "direction", "duration_sec",
    "bytes_up", "bytes_down", "cell_id", "technology", "visited_country",
    "timestamp", "caller_id", "callee_id", "sender_id", "receiver_id", "user_id", "data_volume_mb",
    "session_duration_sec",
)
CORRUPT = "_corrupt"
# Every field is read as a string: Spark's JSON reader gives a number or boolean as its text, so one
# schema serves both formats and numeric strings ("140") and numbers (140) are handled alike.
RAW_SCHEMA = T.StructType([T.StructField(f, T.StringType()) for f in (*RAW_FIELDS, CORRUPT)])
JSON_OPTIONS = {"columnNameOfCorruptRecord": CORRUPT, "allowNonNumericNumbers": "false", "allowSingleQuotes": "false",
                "mode": "PERMISSIVE"}

SERVICES = ("voice", "sms", "data")
KAFKA_COLUMNS = ("value", "topic", "partition", "offset", "timestamp")

TIME_FORMAT = "yyyy-MM-dd'T'HH:mm:ss.SSSSSS'Z'"
MAX_VOICE_SECONDS = 86_400
MAX_DATA_BYTES = 107_374_182_400
BYTES_PER_MB = 1_048_576
FUTURE_TOLERANCE = "INTERVAL 1 HOUR"
PRICE_SCALE = 6  # catalog money has at most 6 decimal places (catalog validation)
UNIT_PRICE_DECIMALS = 10

# Java regexes: `\z` is the true end of input (`$` would also match before a final newline).
_NUMBER = r"^[+-]?([0-9]+(\.[0-9]*)?|\.[0-9]+)([eE][+-]?[0-9]+)?\z"
_TIMESTAMP = (r"^([0-9]{4})-([0-9]{2})-([0-9]{2})T([0-9]{2}):([0-9]{2}):([0-9]{2})(\.([0-9]+))?"
              r"(Z|([+-])([0-9]{2}):([0-9]{2}))\z")
_ASCII_LOWER = "abcdefghijklmnopqrstuvwxyz"

RATED_FIELDS = (
    "cdr_id", "record_type", "event_time", "msisdn", "other_party", "direction", "duration_sec",
    "bytes_up", "bytes_down", "quantity", "cell_id", "technology", "visited_country", "roaming",
    "source_format", "plan_id", "zone", "band", "billable_units", "price", "per", "unit_price",
    "connect_fee", "charge", "currency", "catalog_version", "rated_at",
)
REJECTED_FIELDS = ("reason", "detail", "raw", "raw_base64", "msisdn", "cdr_id", "source", "rejected_at")


@dataclass(frozen=True)
class Reference:
    """Reference data a job rates against: the catalog, the subscriber base and the resolved rates."""

    catalog: Catalog
    subscribers: DataFrame
    rates: DataFrame


def subscribers_frame(spark: SparkSession, subscribers: Iterable[Subscriber]) -> DataFrame:
    rows = [(s.msisdn, s.plan_id, s.activation_date, s.termination_date) for s in subscribers]
    schema = "sub_msisdn string, plan_id string, activation_date date, termination_date date"
    return spark.createDataFrame(rows, schema)


def reference(spark: SparkSession, catalog: Catalog, subscribers: Iterable[Subscriber]) -> Reference:
    return Reference(catalog, subscribers_frame(spark, subscribers), rates_frame(spark, catalog))


def resolved_rates(cat: Catalog) -> dict[str, Rate]:
    """`plan|service|zone|band` -> the rate DESIGN.md's precedence picks, for every combination.

    Precedence is applied once here, so rating needs one hash lookup per CDR (a broadcast join).
    """
    bands = [b.name for b in cat.time_bands]
    out: dict[str, Rate] = {}
    for plan in cat.plans.values():
        by_key = {(r.service, r.zone, r.band): r for r in plan.rates}
        for service in SERVICES:
            for zone in cat.zone_names():
                for band in bands:
                    for z, b in ((zone, band), (zone, ANY), (ANY, band), (ANY, ANY)):
                        found = by_key.get((service, z, b))
                        if found is not None:
                            out[f"{plan.id}|{service}|{zone}|{band}"] = found
                            break
    return out


def rates_frame(spark: SparkSession, cat: Catalog) -> DataFrame:
    rows = [
        (key, r.price, r.per, r.first_increment, r.next_increment, r.connect_fee, _money_text(r.price),
         _money_text(r.connect_fee), _ratio_text(r.price, r.per, UNIT_PRICE_DECIMALS))
        for key, r in resolved_rates(cat).items()
    ]
    schema = ("rate_key string, price decimal(15,6), per bigint, first bigint, next bigint, fee decimal(15,6), "
              "price_text string, fee_text string, unit_price string")
    return spark.createDataFrame(rows, schema)


def _ratio_text(value: Decimal, per: int, places: int) -> str:
    """value / per rounded half-up to `places`, as plain text (exact Decimal arithmetic)."""
    with localcontext() as ctx:
        ctx.prec = 60
        return f"{(value / per).quantize(Decimal(1).scaleb(-places), rounding=ROUND_HALF_UP):f}"


# --- small column helpers -----------------------------------------------------------------------

def _trim(c: Column) -> Column:
    return F.regexp_replace(c, r"^[ \t\r\n]+|[ \t\r\n]+$", "")


def _first_problem(checks: list[tuple[Column, Column]]) -> Column:
    """The message of the first check whose condition holds (null when none does)."""
    expr: Column | None = None
    for condition, message in reversed(checks):
        expr = F.when(condition, message) if expr is None else F.when(condition, message).otherwise(expr)
    return expr if expr is not None else F.lit(None)


def _lit_str(text: str) -> Column:
    return F.lit(text).cast("string")


def _format_time(ts: Column) -> Column:
    return F.date_format(ts, TIME_FORMAT)


# --- parsing and normalization ------------------------------------------------------------------

def _with_msisdns(df: DataFrame, home_cc: str, **sources: str) -> DataFrame:
    """Add each `name=source_column` as E.164 digits, or null when it cannot be one (RULES.md 6)."""
    c = F.col
    df = _stage(df, **{f"_{n}_clean": F.regexp_replace(c(src), r"[ \t\-.()]", "") for n, src in sources.items()})

    def e164(s: Column) -> Column:
        return (F.when(s.startswith("+"), F.substring(s, 2, 1 << 20))
                .when(s.startswith("00"), F.substring(s, 3, 1 << 20))
                .when(s.startswith("0"), F.concat(F.lit(home_cc), F.substring(s, 2, 1 << 20)))
                .otherwise(s))

    df = _stage(df, **{f"_{n}_e164": e164(c(f"_{n}_clean")) for n in sources})
    return _stage(df, **{n: F.when(c(f"_{n}_e164").rlike(r"^[1-9][0-9]{7,14}\z"), c(f"_{n}_e164"))
                         for n in sources})


def _with_timestamp(df: DataFrame, name: str, source: str) -> DataFrame:
    """Add `name`: the instant of an ISO-8601 text with offset (fraction truncated to µs), else null.

    The regex fixes every position up to the seconds, so the parts are plain substrings.
    """
    c = F.col
    text = c(source)

    def num(pos: int, length: int) -> Column:
        return F.substring(text, pos, length).cast("int")

    hour, minute, second = num(12, 2), num(15, 2), num(18, 2)
    utc = text.endswith("Z")
    offset = F.substring(text, -6, 6)
    offset_h, offset_m = F.substring(offset, 2, 2).cast("int"), F.substring(offset, 5, 2).cast("int")
    offset_ok = utc | ((offset_m <= 59) & ((offset_h < 18) | ((offset_h == 18) & (offset_m == 0))))
    df = _stage(df, _ts_ok=text.rlike(_TIMESTAMP) & offset_ok & (hour <= 23) & (minute <= 59) & (second <= 59))
    fraction = F.rpad(F.substring(F.regexp_extract(text, r"\.([0-9]+)", 1), 1, 6), 6, "0")
    seconds = F.concat(F.substring(text, 18, 2), F.lit("."), fraction).cast("decimal(8,6)")
    sign = F.when(F.substring(offset, 1, 1) == "-", F.lit(-1)).otherwise(F.lit(1))
    offset_us = F.when(utc, F.lit(0)).otherwise(sign * (offset_h * 3600 + offset_m * 60)).cast("bigint") * 1_000_000
    # The wall-clock fields as if in UTC, minus the offset: no time-zone lookup per record.
    # make_timestamp gives null for an impossible date (Feb 30) with ANSI mode off.
    wall = F.make_timestamp(num(1, 4), num(6, 2), num(9, 2), hour, minute, seconds, F.lit("UTC"))
    df = _stage(df, _ts_instant=F.when(c("_ts_ok"), F.timestamp_micros(F.unix_micros(wall) - offset_us)))
    instant = c("_ts_instant")
    in_range = (instant >= F.lit("1970-01-01 00:00:00").cast("timestamp")) & (
        instant < F.lit("10000-01-01 00:00:00").cast("timestamp"))
    return _stage(df, **{name: F.when(in_range, instant)})


def _stage(df: DataFrame, **columns: Column) -> DataFrame:
    """Add columns in their own projection, so later expressions refer to them by name.

    Spark inlines a Column object wherever it is used; building each step on named columns keeps
    the plan (and its generated code) linear in the number of rules instead of exponential.
    """
    return df.select("*", *[col.alias(name) for name, col in columns.items()])


_NUMERIC_FIELDS = {"dur": "duration_sec", "up": "bytes_up", "down": "bytes_down", "mb": "data_volume_mb",
                   "sess": "session_duration_sec"}
# Exponents beyond this (no line is that long) only count by their sign.
_EXPONENT_CAP = 10**16
# A legacy volume is cut (toward zero) to this many places before the bytes are rounded: every
# half-byte boundary (MB = (2n + 1) / 2^21) has at most 21 places, so the cut never moves a value
# across one and round_half_up(cut * 2^20) is the exact result (RULES.md section 8).
_MB_PLACES = 21


def _number_shape(t: Column) -> dict[str, Column]:
    """A number's text (RULES.md section 5) as `digits * 10^exp`, exactly: `_sig` its significant
    digits (no leading or trailing zeros; empty for zero) and `_exp` the exponent (capped)."""
    mantissa = F.concat(F.regexp_extract(t, r"^[+-]?([0-9]*)", 1), F.regexp_extract(t, r"\.([0-9]*)", 1))
    fraction_len = F.length(F.regexp_extract(t, r"\.([0-9]*)", 1))
    exp_sign = F.regexp_extract(t, r"[eE]([+-]?)0*([0-9]*)\z", 1)
    exp_digits = F.regexp_extract(t, r"[eE]([+-]?)0*([0-9]*)\z", 2)
    exponent = (F.when(F.length(exp_digits) > 15, F.when(exp_sign == "-", -_EXPONENT_CAP).otherwise(_EXPONENT_CAP))
                .otherwise(F.coalesce(F.concat(exp_sign, exp_digits).cast("bigint"), F.lit(0))))
    trailing_zeros = F.length(mantissa) - F.length(F.regexp_replace(mantissa, "0+$", ""))
    return {
        "sig": F.regexp_replace(F.regexp_replace(mantissa, "^0+", ""), "0+$", ""),
        "exp": exponent.cast("bigint") - fraction_len + trailing_zeros,
    }


def _cut_decimal(t: Column, sig: Column, exp: Column, places: int) -> Column:
    """The number cut toward zero to `places` decimals as decimal(38, places); null when too large."""
    kept = F.length(sig) + exp + places  # significant digits left after the cut
    digits = F.when(exp >= -places, sig).otherwise(sig.substr(F.lit(1), kept.cast("int")))
    scale = F.when(exp >= -places, exp).otherwise(F.lit(-places))
    text = F.concat(F.when(t.startswith("-"), "-").otherwise(""), digits, F.lit("e"), scale.cast("string"))
    return (F.when((sig == "") | (kept <= 0), F.lit(0))
            .when(F.length(sig) + exp > 38 - places, F.lit(None))
            .otherwise(text).cast(f"decimal(38,{places})"))


def mediate(raw: DataFrame, ref: Reference, now: Column) -> DataFrame:
    """Parse, detect the format, normalize, validate and enrich every raw row (no deduplication).

    Returns one row per input row with `reason` / `detail` (null when the row passed every check),
    the normalized CDR fields, `plan_id`, and the source columns.
    """
    cat = ref.catalog
    c = F.col
    df = raw.select(*KAFKA_COLUMNS)
    df = _stage(df, _utf8=F.is_valid_utf8(c("value")))
    df = _stage(df, _text=F.when(c("_utf8"), c("value").cast("string")))
    df = _stage(df, _obj=c("_text").rlike(r"^[ \t\r\n]*\{"), j=F.from_json(c("_text"), RAW_SCHEMA, JSON_OPTIONS))
    df = df.select(*KAFKA_COLUMNS, "_utf8", "_text", "_obj", c("j").isNull().alias("_json_null"),
                   *[c("j").getField(f).alias(f"f_{f}") for f in (*RAW_FIELDS, CORRUPT)])

    def f(name: str) -> Column:
        return c(f"f_{name}")

    df = _stage(df, _fmt=F.when(f("cdr_id").isNotNull() | f("event_time").isNotNull(), "canonical")
                .when(f("timestamp").isNotNull(), "legacy"))
    canonical, legacy = c("_fmt") == "canonical", c("_fmt") == "legacy"
    rt = f("record_type")
    is_voice, is_sms, is_data = rt == "voice", rt == "sms", rt == "data"
    # One view of both formats; the input's own field names travel for the details.
    df = _stage(
        df,
        _sub_name=(F.when(canonical, "msisdn").when(is_voice, "caller_id").when(is_sms, "sender_id")
                   .when(is_data, "user_id")),
        _op_name=F.when(canonical, "other_party").when(is_voice, "callee_id").when(is_sms, "receiver_id"),
        _ts_name=F.when(canonical, "event_time").otherwise("timestamp"),
        _sub_raw=(F.when(canonical, f("msisdn")).when(is_voice, f("caller_id")).when(is_sms, f("sender_id"))
                  .when(is_data, f("user_id"))),
        _op_raw=(F.when(canonical & (is_voice | is_sms), f("other_party")).when(legacy & is_voice, f("callee_id"))
                 .when(legacy & is_sms, f("receiver_id"))),
        _ts_raw=F.when(canonical, f("event_time")).otherwise(f("timestamp")),
        **{f"_{k}_t": _trim(f(v)) for k, v in _NUMERIC_FIELDS.items()},
    )
    numeric: dict[str, Column] = {}
    for k in _NUMERIC_FIELDS:
        t = c(f"_{k}_t")
        numeric.update({f"_{k}_num": t.rlike(_NUMBER), f"_{k}_dbl": t.cast("double")})
        numeric.update({f"_{k}_{part}": col for part, col in _number_shape(t).items()})
    df = _stage(df, **numeric)
    # Integral exactly (not after a cast that rounds to some scale): zero, or no digit below 10^0.
    # Values come from the exact shape too (a cast of the text gives null for "0e400").
    df = _stage(df, **{f"_{k}_int": (c(f"_{k}_sig") == "") | (c(f"_{k}_exp") >= 0) for k in _NUMERIC_FIELDS},
                **{f"_{k}_dec": _cut_decimal(c(f"_{k}_t"), c(f"_{k}_sig"), c(f"_{k}_exp"), 10)
                   for k in _NUMERIC_FIELDS},
                _mb_cut=_cut_decimal(c("_mb_t"), c("_mb_sig"), c("_mb_exp"), _MB_PLACES))

    def absent(name: str) -> tuple[Column, Column]:
        return f(name).isNull(), _lit_str(f"{name}: absent")

    def number(key: str, integer: bool) -> list[tuple[Column, Column]]:
        name = _NUMERIC_FIELDS[key]
        checks = [absent(name), (~c(f"_{key}_num"), _lit_str(f"{name}: not a number"))]
        if integer:
            checks.append((~c(f"_{key}_int"), _lit_str(f"{name}: not an integer")))
        return checks

    cdr_id = [absent("cdr_id"), (f("cdr_id") == "", _lit_str("cdr_id: not a non-empty string"))]
    direction = [absent("direction"), (~f("direction").isin("MO", "MT"), _lit_str("direction: not MO or MT"))]
    required = {
        ("canonical", "voice"): [*cdr_id, absent("event_time"), absent("msisdn"), *direction, absent("other_party"),
                                 *number("dur", True)],
        ("canonical", "sms"): [*cdr_id, absent("event_time"), absent("msisdn"), *direction, absent("other_party")],
        ("canonical", "data"): [*cdr_id, absent("event_time"), absent("msisdn"), *number("up", True),
                                *number("down", True)],
        ("legacy", "voice"): [absent("timestamp"), absent("caller_id"), absent("callee_id"), *number("dur", True)],
        ("legacy", "sms"): [absent("timestamp"), absent("sender_id"), absent("receiver_id")],
        ("legacy", "data"): [absent("timestamp"), absent("user_id"), *number("mb", False), *number("sess", True)],
    }
    missing: Column = F.lit(None).cast("string")
    for (fmt_name, type_name), checks in required.items():
        missing = F.when((c("_fmt") == fmt_name) & (rt == type_name), _first_problem(checks)).otherwise(missing)

    df = _with_msisdns(df, cat.home_country_code, msisdn="_sub_raw", other_party="_op_raw")
    df = _with_timestamp(df, "_event_ts", "_ts_raw")
    df = _stage(
        df, _missing=missing,
        _legacy_down=F.round(c("_mb_cut") * F.lit(BYTES_PER_MB), 0),
    )
    # Range checks use doubles (exact for every integer they can accept); values use decimals.
    df = _stage(
        df,
        _up_v=F.when(canonical, c("_up_dbl")).otherwise(F.lit(0.0)),
        _down_v=F.when(canonical, c("_down_dbl")).otherwise(
            F.coalesce(c("_legacy_down").cast("double"), F.round(c("_mb_dbl") * BYTES_PER_MB, 0))),
    )
    total = c("_up_v") + c("_down_v")
    df = _stage(
        df,
        _non_positive=(
            F.when(is_voice & (c("_dur_dbl") <= 0), _lit_str("duration_sec must be positive"))
            .when(is_data & ((c("_up_v") < 0) | (c("_down_v") < 0) | (total <= 0)),
                  _lit_str("bytes must be positive"))
            .when(is_data & legacy & (c("_sess_dbl") < 0), _lit_str("session_duration_sec must not be negative"))),
        _out_of_range=(
            F.when(is_voice & (c("_dur_dbl") > MAX_VOICE_SECONDS), _lit_str(f"duration_sec over {MAX_VOICE_SECONDS}"))
            .when(is_data & (total > MAX_DATA_BYTES), _lit_str(f"bytes over {MAX_DATA_BYTES}"))
            .when(is_data & legacy & (c("_sess_dbl") > MAX_VOICE_SECONDS),
                  _lit_str(f"session_duration_sec over {MAX_VOICE_SECONDS}"))),
        _future=c("_event_ts") > now + F.expr(FUTURE_TOLERANCE),
    )

    def reject(code: Reason, detail: Column) -> Column:
        return F.struct(_lit_str(code).alias("r"), detail.alias("d"))

    df = _stage(df, _rej=(
        F.when(~c("_utf8"), reject(Reason.MALFORMED_JSON, _lit_str("not UTF-8")))
        .when(c("_json_null") | f(CORRUPT).isNotNull() | ~c("_obj"),
              reject(Reason.MALFORMED_JSON, _lit_str("not a JSON object")))
        .when(c("_fmt").isNull(), reject(Reason.UNKNOWN_FORMAT, _lit_str("neither canonical nor legacy")))
        .when(rt.isNull(), reject(Reason.MISSING_FIELD, _lit_str("record_type: absent")))
        .when(~rt.isin("voice", "sms", "data"),
              reject(Reason.UNKNOWN_RECORD_TYPE, _lit_str("record_type is not voice, sms or data")))
        .when(c("_missing").isNotNull(), reject(Reason.MISSING_FIELD, c("_missing")))
        .when(c("msisdn").isNull(), reject(Reason.INVALID_MSISDN, F.concat(c("_sub_name"), F.lit(": invalid"))))
        .when(c("_op_raw").isNotNull() & c("other_party").isNull(),
              reject(Reason.INVALID_MSISDN, F.concat(c("_op_name"), F.lit(": invalid"))))
        .when(c("_event_ts").isNull(),
              reject(Reason.INVALID_TIMESTAMP, F.concat(c("_ts_name"), F.lit(": invalid timestamp"))))
        .when(c("_non_positive").isNotNull(), reject(Reason.NON_POSITIVE_USAGE, c("_non_positive")))
        .when(c("_out_of_range").isNotNull(), reject(Reason.USAGE_OUT_OF_RANGE, c("_out_of_range")))
        .when(c("_future"), reject(Reason.FUTURE_TIMESTAMP,
                                   _lit_str("event_time more than 1 h after processing time")))
    ))
    df = _stage(
        df,
        record_type=rt,
        direction=F.when(is_voice | is_sms, F.when(canonical, f("direction")).otherwise(F.lit("MO"))),
        duration_sec=F.when(is_voice, c("_dur_dec")).when(is_data & legacy, c("_sess_dec")).cast("bigint"),
        bytes_up=F.when(is_data, F.when(canonical, c("_up_dec")).otherwise(F.lit(0))).cast("bigint"),
        bytes_down=F.when(is_data, F.when(canonical, c("_down_dec")).otherwise(c("_legacy_down"))).cast("bigint"),
        cell_id=f("cell_id"), technology=f("technology"),
        visited_country=F.when(canonical & (f("visited_country") != ""),
                               F.translate(f("visited_country"), _ASCII_LOWER, _ASCII_LOWER.upper())),
        source_format=c("_fmt"),
        event_time=_format_time(c("_event_ts")),
        _local_date=F.to_date(F.from_utc_timestamp(c("_event_ts"), cat.timezone)),
        _code=c("_rej.r"),
    )
    # Legacy ids are derived from the normalized content (RULES.md section 12).
    legacy_key = F.concat_ws("|", *[F.coalesce(c(x).cast("string"), F.lit("")) for x in (
        "record_type", "event_time", "msisdn", "other_party", "duration_sec", "bytes_down", "cell_id", "technology")])
    early = F.coalesce(c("_code").isin(Reason.MALFORMED_JSON, Reason.UNKNOWN_FORMAT), F.lit(False))
    # The subscriber MSISDN is known on rejections once the record type is (RULES.md section 16).
    type_unknown = F.coalesce(c("_code").isin(Reason.MALFORMED_JSON, Reason.UNKNOWN_FORMAT,
                                              Reason.UNKNOWN_RECORD_TYPE) | (c("_rej.d") == "record_type: absent"),
                              F.lit(False))
    df = _stage(
        df,
        cdr_id=(F.when(canonical, F.when(~early & (f("cdr_id") != ""), f("cdr_id")))
                .when(c("_code").isNull() | (c("_code") == Reason.FUTURE_TIMESTAMP),
                      F.concat(F.lit("L"), F.substring(F.sha2(legacy_key, 256), 1, 31)))),
        _known_msisdn=F.when(~type_unknown, c("msisdn")),
    )

    # Enrichment: the subscriber active on the event's local date (broadcast: the base is small).
    subs = F.broadcast(ref.subscribers)
    joined = df.join(
        subs,
        (df["msisdn"] == subs["sub_msisdn"]) & (df["_local_date"] >= subs["activation_date"])
        & (subs["termination_date"].isNull() | (df["_local_date"] < subs["termination_date"])),
        "left",
    )
    unknown = reject(Reason.UNKNOWN_SUBSCRIBER, F.concat(
        F.lit("no subscriber "), c("msisdn"), F.lit(" active on "), F.date_format(c("_local_date"), "yyyy-MM-dd")))
    rej = F.when(c("_rej").isNull() & c("sub_msisdn").isNull(), unknown).otherwise(c("_rej"))
    return joined.select(
        *KAFKA_COLUMNS, "_utf8", "_text", "cdr_id", "record_type", "event_time", "_event_ts", "msisdn",
        "other_party", "direction", "duration_sec", "bytes_up", "bytes_down", "cell_id", "technology",
        "visited_country", "source_format", "plan_id", "_local_date", "_known_msisdn",
        rej.getField("r").alias("reason"), rej.getField("d").alias("detail"),
    )


# --- rating -------------------------------------------------------------------------------------

def _map_literal(pairs: Iterable[tuple[str, Column]]) -> Column:
    items: list[Column] = []
    for key, value in pairs:
        items.extend((F.lit(key), value))
    return F.create_map(*items)


def _money_text(value: Decimal) -> str:
    """The catalog value with at least 2 and at most its significant fraction digits (RULES.md 16)."""
    places = max(2, -value.normalize().as_tuple().exponent) if value != value.to_integral() else 2
    return f"{value:.{places}f}"


def _zone_expr(cat: Catalog, record_type: Column, direction: Column, other_party: Column,
               roaming: Column, visited: Column) -> Column:
    roam_pairs = [(country, F.lit(zone)) for zone, countries in cat.roaming_zones.items() for country in countries]
    roam_map = _map_literal(roam_pairs) if roam_pairs else None
    prefix_pairs = [(prefix, F.lit(zone)) for zone, prefixes in cat.zones.items() for prefix in prefixes]
    lengths = sorted({len(p) for p, _ in prefix_pairs}, reverse=True)
    if prefix_pairs:
        prefix_map = _map_literal(prefix_pairs)
        longest = F.coalesce(*[F.element_at(prefix_map, F.substring(other_party, 1, n)) if n else
                               F.element_at(prefix_map, F.lit("")) for n in lengths])
    else:
        longest = F.lit(None).cast("string")
    roaming_zone = (F.coalesce(F.element_at(roam_map, visited), F.element_at(roam_map, F.lit(ANY)))
                    if roam_map is not None else F.lit(None).cast("string"))
    return (F.when(roaming, roaming_zone)
            .when(record_type == "data", F.lit(HOME_ZONE))
            .when(direction == "MT", F.lit(INCOMING_ZONE))
            .otherwise(longest))


def _band_expr(cat: Catalog, weekday: Column, minute: Column) -> Column:
    """The first band (catalog order) whose days and [start, end) contain the local time."""
    expr: Column | None = None
    for band in reversed(cat.time_bands):
        cond = (minute >= band.start_minute) & (minute < band.end_minute)
        if band.days is not None:
            cond = cond & weekday.isin(*sorted(band.days))
        expr = F.when(cond, band.name) if expr is None else F.when(cond, band.name).otherwise(expr)
    return expr if expr is not None else F.lit(None).cast("string")


def round_half_up_ratio(numerator: Column, denominator: Column, decimals: int) -> Column:
    """numerator / denominator (non-negative integers, denominator < 10^19) rounded half-up to
    `decimals`, exactly.

    With n = a * q + r (0 <= r < q): a * 10^d + floor((2 * r * 10^d + q) / (2 * q)), each floor division
    made exact by subtracting the remainder first: no intermediate scale, so no double rounding. Every
    quotient divides by a decimal(19,0), which Spark types as decimal(38,9) (29 integer digits): a
    decimal(38,0) divisor would leave only 20, too few for large charges at 10 places.
    """
    n = numerator.cast("decimal(38,0)")
    q = denominator.cast("decimal(19,0)")
    r = (n % q).cast("decimal(19,0)")
    whole = ((n - r) / q).cast("decimal(38,0)")
    x = (F.lit(2) * r * F.lit(10**decimals).cast(f"decimal({decimals + 1},0)")).cast("decimal(38,0)") + q
    y = (F.lit(2) * q).cast("decimal(19,0)")
    fraction = ((x - x % y) / y).cast("decimal(38,0)")
    units = whole * F.lit(10**decimals).cast(f"decimal({decimals + 1},0)") + fraction
    step = F.lit(f"{Decimal(1).scaleb(-decimals):f}").cast(f"decimal({decimals + 1},{decimals})")
    return (units * step).cast(f"decimal(38,{decimals})")


def exact_charge(connect_fee: Column, units: Column, price: Column, per: Column, decimals: int) -> Column:
    """connect_fee + units * price / per, rounded half-up to `decimals` (prices have <= 6 places)."""
    to_int = F.lit(10 ** PRICE_SCALE).cast("decimal(38,0)")
    fee_i = (connect_fee * to_int).cast("decimal(38,0)")
    price_i = (price * to_int).cast("decimal(38,0)")
    per_i = per.cast("decimal(38,0)")
    numerator = fee_i * per_i + units.cast("decimal(38,0)") * price_i
    return round_half_up_ratio(numerator, per_i * to_int, decimals)


def billable_units(quantity: Column, first: Column, nxt: Column) -> Column:
    """DESIGN.md section 6: 0, the first increment, or first + whole next increments."""
    return (F.when(quantity <= 0, F.lit(0).cast("bigint"))
            .when(quantity <= first, first)
            .otherwise(first + F.ceil((quantity - first) / nxt).cast("bigint") * nxt))


def rate(mediated: DataFrame, ref: Reference, now: Column) -> DataFrame:
    """Zone, band, rate and charge for rows without a rejection; NO_RATE where none applies."""
    cat = ref.catalog
    c = F.col
    df = _stage(
        mediated,
        roaming=c("visited_country").isNotNull() & (c("visited_country") != cat.home_country),
        quantity=(F.when(c("record_type") == "voice", c("duration_sec"))
                  .when(c("record_type") == "sms", F.lit(1).cast("bigint"))
                  .otherwise(c("bytes_up") + c("bytes_down"))),
        _local_ts=F.from_utc_timestamp(c("_event_ts"), cat.timezone),
    )
    df = _stage(
        df,
        zone=_zone_expr(cat, c("record_type"), c("direction"), c("other_party"), c("roaming"), c("visited_country")),
        _weekday=(F.dayofweek(c("_local_ts")) + 5) % 7,  # Monday = 0
        _minute=F.hour(c("_local_ts")) * 60 + F.minute(c("_local_ts")),
    )
    df = _stage(df, band=_band_expr(cat, c("_weekday"), c("_minute")))
    key = F.when(c("reason").isNull() & c("zone").isNotNull(),
                 F.concat_ws("|", c("plan_id"), c("record_type"), c("zone"), c("band")))
    df = _stage(df, _rate_key=key)
    rates = F.broadcast(ref.rates)
    df = df.join(rates, df["_rate_key"] == rates["rate_key"], "left").select(
        *df.columns, F.when(rates["rate_key"].isNotNull(), F.struct(*[rates[n] for n in rates.columns]))
        .alias("_rate"))
    plan_known = c("plan_id").isin(*cat.plans) if cat.plans else F.lit(False)
    no_rate_detail = (
        F.when(~plan_known, F.concat(F.lit("plan "), c("plan_id"), F.lit(f" not in catalog {cat.version}")))
        .otherwise(F.concat(F.lit("no rate in plan "), c("plan_id"), F.lit(" for "), c("record_type"), F.lit("/"),
                            F.coalesce(c("zone"), F.lit("-")), F.lit("/"), c("band"))))
    is_no_rate = c("reason").isNull() & c("_rate").isNull()
    df = _stage(
        df,
        _reason=F.when(is_no_rate, _lit_str(Reason.NO_RATE)).otherwise(c("reason")),
        _detail=F.when(is_no_rate, no_rate_detail).otherwise(c("detail")),
        billable_units=billable_units(c("quantity"), c("_rate.first"), c("_rate.next")),
        price=c("_rate.price_text"), per=c("_rate.per"), connect_fee=c("_rate.fee_text"),
        unit_price=c("_rate.unit_price"),
        currency=F.lit(cat.currency), catalog_version=F.lit(cat.version), rated_at=_format_time(now),
    )
    df = _stage(df, _charge=exact_charge(c("_rate.fee"), c("billable_units"), c("_rate.price"), c("_rate.per"),
                                         cat.rounding_decimals))
    return df.drop("reason", "detail").withColumnsRenamed({"_reason": "reason", "_detail": "detail"}).withColumns({
        "charge": decimal_text(c("_charge"), cat.rounding_decimals),
    })


def decimal_text(value: Column, decimals: int) -> Column:
    """A non-negative decimal as plain text with exactly `decimals` places (never an exponent:
    "0.0000000477"). Whole and fraction parts are written separately: value * 10^decimals would
    overflow decimal(38, decimals) for values of 10^(38 - 2 * decimals) and more."""
    value = F.round(value, decimals)  # a no-op on a decimal(p, decimals)
    whole = F.floor(value).cast("decimal(38,0)")
    if decimals == 0:
        return whole.cast("string")
    fraction = ((value - whole) * F.lit(10**decimals).cast(f"decimal({decimals + 1},0)")).cast("decimal(38,0)")
    return F.concat(whole.cast("string"), F.lit("."), F.lpad(fraction.cast("string"), decimals, "0"))


# --- output -------------------------------------------------------------------------------------

def rated_json(df: DataFrame) -> Column:
    return F.to_json(F.struct(*[F.col(f) for f in RATED_FIELDS]), {"ignoreNullFields": "false"})


def rejected_json(df: DataFrame, now: Column) -> Column:
    c = F.col
    source = F.struct(c("topic").alias("topic"), c("partition").alias("partition"), c("offset").alias("offset"))
    return F.to_json(F.struct(
        c("reason").alias("reason"), c("detail").alias("detail"),
        # Spark's base64 breaks lines every 76 characters (MIME); RULES.md asks for one standard string.
        c("_text").alias("raw"), F.when(~c("_utf8"), F.regexp_replace(F.base64(c("value")), r"[\r\n]", ""))
        .alias("raw_base64"),
        c("_known_msisdn").alias("msisdn"), c("cdr_id").alias("cdr_id"), source.alias("source"),
        _format_time(now).alias("rejected_at"),
    ), {"ignoreNullFields": "false"})


def to_kafka_records(rated: DataFrame, now: Column, topic_rated: str, topic_rejected: str) -> DataFrame:
    """(topic, key, value) rows for Spark's Kafka sink: rated rows and rejections in one frame."""
    c = F.col
    is_rejected = c("reason").isNotNull()
    return rated.select(
        F.when(is_rejected, F.lit(topic_rejected)).otherwise(F.lit(topic_rated)).alias("topic"),
        F.when(is_rejected, c("_known_msisdn")).otherwise(c("msisdn")).cast("binary").alias("key"),
        F.when(is_rejected, rejected_json(rated, now)).otherwise(rated_json(rated)).alias("value"),
    )


@dataclass(frozen=True)
class RatingResult:
    """The three outcomes of a batch: every raw row is in exactly one of them."""

    rated: DataFrame
    rejected: DataFrame
    duplicates: DataFrame


def deduplicate_batch(mediated: DataFrame) -> tuple[DataFrame, DataFrame]:
    """Split accepted rows into (first copies, later copies) of each cdr_id, in arrival order."""
    c = F.col
    accepted = mediated.where(c("reason").isNull())
    order = Window.partitionBy("cdr_id").orderBy("timestamp", "partition", "offset")
    ranked = accepted.withColumn("_copy", F.row_number().over(order))
    return ranked.where(c("_copy") == 1).drop("_copy"), ranked.where(c("_copy") > 1).drop("_copy")


def rate_batch(spark: SparkSession, raw: DataFrame, catalog: Catalog, subscribers: Iterable[Subscriber],
               now: datetime) -> RatingResult:
    """Mediate, deduplicate and rate a static DataFrame of raw records (file driver, reconciliation)."""
    ref = reference(spark, catalog, subscribers)
    now_col = F.lit(now).cast("timestamp")
    mediated = mediate(raw, ref, now_col)
    first, later = deduplicate_batch(mediated)
    rated_all = rate(first, ref, now_col)
    early_rejects = rate(mediated.where(F.col("reason").isNotNull()), ref, now_col)
    outcome = rated_all.unionByName(early_rejects)
    return RatingResult(
        rated=outcome.where(F.col("reason").isNull()),
        rejected=outcome.where(F.col("reason").isNotNull()),
        duplicates=later,
    )


def file_frame(spark: SparkSession, path: str) -> DataFrame:
    """A JSONL file (or folder) as Kafka-shaped rows: one record per `\\n`-separated line.

    Spark's text source keeps each line's bytes as they are (invalid UTF-8 included), so the line
    is re-read as binary. `offset` is the 0-based line number across the input in file order.
    """
    lines = spark.read.option("lineSep", "\n").text(path)
    raw = F.col("value").cast("binary")
    value = F.when(F.substring(raw, -1, 1) == F.lit(b"\r"), raw.substr(F.lit(1), F.length(raw) - 1)).otherwise(raw)
    df = lines.select(value.alias("value"), F.spark_partition_id().alias("_pid"),
                      F.monotonically_increasing_id().alias("_mid"))
    counts = sorted(df.groupBy("_pid").count().collect())
    starts, total = {}, 0
    for row in counts:
        starts[row["_pid"]] = total
        total += row["count"]
    start_map = _map_literal([(str(p), F.lit(o).cast("bigint")) for p, o in starts.items()]) if starts else None
    first = F.element_at(start_map, F.col("_pid").cast("string")) if start_map is not None else F.lit(0)
    offset = first + F.col("_mid") - F.shiftleft(F.col("_pid").cast("bigint"), 33)
    return df.select("value", F.lit(None).cast("string").alias("topic"), F.lit(None).cast("int").alias("partition"),
                     offset.alias("offset"), F.lit(None).cast("timestamp").alias("timestamp"))
