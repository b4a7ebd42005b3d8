"""Stages `normalize_msisdns` and `check_msisdns`: subscriber and other party to E.164 digits
(RULES.md section 6).

Cheap path: a text that is already 8 to 15 digits without a leading zero is its own E.164 form
(decided by `try_cast`, no regular expression). The exact path removes spaces, tabs, `-`, `.`,
`(`, `)`, then drops a leading `+` or `00`, or replaces a single leading `0` by the home country
code, and checks the result is 8 to 15 ASCII digits not starting with 0.
"""

from __future__ import annotations

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F

from ..contracts.reasons import Reason
from .columns import let, problem
from .formats import field_name, text

_SHORTEST, _LONGEST = 10**7, 10**15  # 8 to 15 digits


def e164(t: Column, home_country_code: str) -> Column:
    """The E.164 digits of a number's text, or null when it cannot be one."""
    v = t.try_cast("bigint")
    already = (v >= _SHORTEST) & (v < _LONGEST) & (v.cast("string") == t)
    return F.when(already, t).when(t.isNotNull(), _exact_e164(t, home_country_code))


def _exact_e164(t: Column, home_country_code: str) -> Column:
    def candidate(cleaned: Column) -> Column:
        rest = F.lit(1 << 20)
        return (F.when(cleaned.startswith("+"), cleaned.substr(F.lit(2), rest))
                .when(cleaned.startswith("00"), cleaned.substr(F.lit(3), rest))
                .when(cleaned.startswith("0"), F.concat(F.lit(home_country_code), cleaned.substr(F.lit(2), rest)))
                .otherwise(cleaned))

    found = let(F.regexp_replace(t, r"[ \t\-.()]", ""), candidate)
    return let(found, lambda digits: F.when(digits.rlike(r"^[1-9][0-9]{7,14}\z"), digits))


def normalize_msisdns(df: DataFrame, home_country_code: str) -> DataFrame:
    """Adds `msisdn` and `other_party` (null when invalid or absent)."""
    return df.withColumns({"msisdn": e164(F.col(text("subscriber")), home_country_code),
                           "other_party": e164(F.col(text("other_party")), home_country_code)})


def check_msisdns(df: DataFrame) -> DataFrame:
    """Adds `msisdn_key` (the subscriber's digits as a bigint, for the lookup) and the check
    `invalid_msisdn`. Needs `normalize_msisdns`."""
    invalid = F.col("msisdn").isNull() | (F.col(text("other_party")).isNotNull() & F.col("other_party").isNull())
    return df.withColumns({"msisdn_key": F.col("msisdn").cast("bigint"), problem(Reason.INVALID_MSISDN): invalid})


def invalid_msisdn_detail() -> Column:
    role = F.when(F.col("msisdn").isNull(), field_name("subscriber")).otherwise(field_name("other_party"))
    return F.concat(role, F.lit(": invalid"))
