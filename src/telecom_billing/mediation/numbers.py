"""Stage `parse_numbers`: the numeric fields' exact values (RULES.md sections 5 and 8).

A number is a field whose text, trimmed of ASCII whitespace, matches
`[+-]?([0-9]+(\\.[0-9]*)?|\\.[0-9]+)([eE][+-]?[0-9]+)?`; its value is the exact decimal value of that
text, whatever its magnitude. Two paths decide it:

* the cheap one, for nearly every CDR: the text is a plain integer (`try_cast` to bigint, and the
  bigint written back gives the same text), decided without a regular expression;
* the exact one, for the rest (`1.4e2`, `" 140 "`, `"60.00000000001"`, `1e400`, legacy megabytes):
  the text as significant digits and an exponent, interpreted (`columns.let`) for those rows only.

Values are bigints clamped to +-10^18: every usage limit is far below, so a clamped value is
classified exactly like the true one (huge positive: out of range; huge negative: non-positive).
"""

from __future__ import annotations

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F

from ..contracts.limits import BYTES_PER_MB
from .columns import let
from .formats import INTEGER, NUMERIC_ROLES, number_column, text

CLAMP = 10**18
_NUMBER = r"^[+-]?([0-9]+(\.[0-9]*)?|\.[0-9]+)([eE][+-]?[0-9]+)?\z"  # Java: \z is the true end of input
# Exponents beyond this many digits (no line is that long) only count by their sign.
_EXPONENT_DIGITS = 15
# A legacy volume is cut (toward zero) to this many places before the bytes are rounded: every
# half-byte boundary (MB = (2n + 1) / 2^21) has at most 21 places, so the cut never moves a value
# across one and round_half_up(cut * 2^20) is the exact result.
_MB_PLACES = 21
# Volumes of this many integer digits or more are far beyond 100 GiB: classified by their sign.
_MB_DIGITS = 8


def _number(value: Column, is_number: Column, integral: Column) -> Column:
    return F.struct(value.cast("bigint").alias("value"), is_number.alias("is_number"), integral.alias("integral"))


def integer(t: Column) -> Column:
    """struct(`value` (clamped), `is_number`, `integral`) of an integer field's text (null when absent)."""
    v = t.try_cast("bigint")
    clamped = F.when(v > CLAMP, F.lit(CLAMP)).when(v < -CLAMP, F.lit(-CLAMP)).otherwise(v)
    return (F.when(v.cast("string") == t, _number(clamped, F.lit(True), F.lit(True)))
            .when(t.isNotNull(), _exact(t, _integer)))


def megabytes(t: Column) -> Column:
    """struct(`value` (bytes: megabytes * 2^20 rounded half-up, clamped), `is_number`, `integral`)."""
    return F.when(t.isNotNull(), _exact(t, _bytes))


def _exact(x: Column, value_of: object) -> Column:
    """The exact path for one text, with `value_of(shape)` giving the value."""
    trimmed = F.regexp_replace(x, r"^[ \t\r\n]+|[ \t\r\n]+$", "")
    return let(trimmed, lambda t: let(_shape(_parts(t)), lambda n: _number(
        value_of(n), t.rlike(_NUMBER), (n["sig"] == "") | (n["exp"] >= 0))))  # type: ignore[operator]


def _parts(t: Column) -> Column:
    """The pieces of a number's text: sign, integer digits, fraction digits, exponent sign and digits."""
    return F.struct(
        t.startswith("-").alias("negative"),
        F.regexp_extract(t, r"^[+-]?([0-9]*)", 1).alias("whole"),
        F.regexp_extract(t, r"\.([0-9]*)", 1).alias("fraction"),
        F.regexp_extract(t, r"[eE]([+-]?)0*([0-9]*)\z", 1).alias("exp_sign"),
        F.regexp_extract(t, r"[eE]([+-]?)0*([0-9]*)\z", 2).alias("exp_digits"))


def _shape(p: Column) -> Column:
    """The number as `sig * 10^exp`: its significant digits (no leading or trailing zeros; empty for
    zero), the exponent (capped) and the sign."""
    mantissa = F.concat(p["whole"], p["fraction"])
    stripped = F.regexp_replace(mantissa, "0+$", "")
    exponent = (F.when(F.length(p["exp_digits"]) > _EXPONENT_DIGITS,
                       F.when(p["exp_sign"] == "-", -CLAMP).otherwise(CLAMP))
                .otherwise(F.coalesce(F.concat(p["exp_sign"], p["exp_digits"]).try_cast("bigint"), F.lit(0))))
    trailing_zeros = F.length(mantissa) - F.length(stripped)
    return F.struct(
        F.regexp_replace(stripped, "^0+", "").alias("sig"),
        (exponent.cast("bigint") - F.length(p["fraction"]) + trailing_zeros).alias("exp"),
        F.when(p["negative"], F.lit(-1)).otherwise(F.lit(1)).cast("bigint").alias("sign"))


def _integer(n: Column) -> Column:
    magnitude = F.length(n["sig"]) + n["exp"]  # digits before the point
    digits = F.concat(n["sig"], F.repeat(F.lit("0"), n["exp"].cast("int"))).try_cast("bigint")
    return (F.when(n["sig"] == "", F.lit(0).cast("bigint")).when(n["exp"] < 0, F.lit(None).cast("bigint"))
            .when(magnitude > 18, n["sign"] * CLAMP).otherwise(n["sign"] * digits))


def _bytes(n: Column) -> Column:
    """round_half_up(value * 2^20) for megabytes: the value cut toward zero to `_MB_PLACES` places
    first, exactly (for magnitudes below 10^_MB_DIGITS; larger ones only count by their sign)."""
    sig, exp = n["sig"], n["exp"]
    kept = F.length(sig) + exp + _MB_PLACES  # significant digits left after the cut
    digits = F.when(exp >= -_MB_PLACES, sig).otherwise(sig.substr(F.lit(1), kept.cast("int")))
    scale = F.when(exp >= -_MB_PLACES, exp).otherwise(F.lit(-_MB_PLACES))
    literal = F.concat(F.when(n["sign"] < 0, F.lit("-")).otherwise(F.lit("")), digits, F.lit("e"),
                       scale.cast("string"))
    cut = F.when(kept <= 0, F.lit("0")).otherwise(literal).try_cast(f"decimal({_MB_DIGITS + _MB_PLACES},{_MB_PLACES})")
    return (F.when(sig == "", F.lit(0).cast("bigint")).when(F.length(sig) + exp >= _MB_DIGITS, n["sign"] * CLAMP)
            .otherwise(F.round(cut * F.lit(BYTES_PER_MB), 0).cast("bigint")))


def parse_numbers(df: DataFrame) -> DataFrame:
    """Adds `<role>_number` for each numeric role of `formats.LAYOUTS` (null when absent)."""
    return df.withColumns({number_column(role): integer(F.col(text(role))) if kind == INTEGER
                           else megabytes(F.col(text(role))) for role, kind in NUMERIC_ROLES.items()})
