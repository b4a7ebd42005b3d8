"""Column names and helpers the stages share.

Raw fields arrive as `in_<field>`. Each check writes a boolean column named after its reason
(`problem`): true when the record fails it. The words of a rejection (`outcome.detail`) are only
composed for rejected records, when the rejection is written.
"""

from __future__ import annotations

from collections.abc import Callable

from pyspark.sql import Column
from pyspark.sql import functions as F

from ..contracts.reasons import Reason


def raw(field: str) -> str:
    """The column holding raw field `field` as read from the JSON object."""
    return f"in_{field}"


def problem(reason: Reason) -> str:
    """The boolean column of a check: `invalid_msisdn` is true for a record with an invalid MSISDN."""
    return reason.value.lower()


def failed(reason: Reason) -> Column:
    """The check of `reason` as a non-null boolean."""
    return F.coalesce(F.col(problem(reason)), F.lit(False))


def let(value: Column, body: Callable[[Column], Column]) -> Column:
    """`body(v)` with `value` evaluated once, for the exact paths of rare inputs.

    A one-element `transform` binds `value` to the lambda's variable (a Column reused inside an
    expression is evaluated at each use). Higher-order functions are interpreted, not generated:
    the exact paths add no code to the fused stages' Java methods, the projection holding them is
    compiled on its own, and CASE WHEN runs them only for the rows that need them.
    """
    return F.transform(F.array(value), body)[0]


def rarely(expr: Column) -> Column:
    """`expr`, interpreted (see `let`): for what only rare records need, such as a rejection's words."""
    return let(F.lit(0), lambda _: expr)
