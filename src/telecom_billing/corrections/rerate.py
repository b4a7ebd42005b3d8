"""Rerating (DESIGN.md section 7b): a period's rated CDRs rated again under another catalog.

A rated CDR carries its normalized fields (RULES.md section 16), so there is no new mediation: the
event's local time under the new catalog's zone, the plan the CDR was rated for, then the same
rating stages as the stream (`rating.rate.find_rate`, `price`) with the new tariff. A CDR the new
catalog has no rate for keeps a null new charge (`NO_RATE` in the change list).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from pyspark.sql import Window
from pyspark.sql import functions as F

from ..billing.charges import RATED_FIELDS as BILLING_FIELDS
from ..contracts.reasons import Reason
from ..contracts.records import RATED_FIELDS
from ..mediation.columns import problem
from ..mediation.timestamps import local_time, with_local_time
from ..rating.rate import find_rate, price
from ..rating.tariff import Tariff
from ..refdata.catalog import Catalog

if TYPE_CHECKING:
    from pyspark.sql import Column, DataFrame

    from ..billing.period import Period

RATED_SCHEMA = ", ".join(f"{name} {kind}" for name, kind in RATED_FIELDS)
# What rerating changes, old and new side by side in the change list.
RATING_FIELDS = ("zone", "band", "price", "per", "connect_fee", "billable_units", "charge", "catalog_version")


def parse_rated_records(lines: DataFrame, keep: tuple[str, ...] = ()) -> DataFrame:
    """Rated CDR JSON documents (column `value`) -> every field of the rated record contract."""
    text = F.col("value").cast("string")
    return (lines.where(F.trim(text) != "").select(F.from_json(text, RATED_SCHEMA).alias("r"), *keep)
            .select("r.*", *keep))


def of_period(rated: DataFrame, catalog: Catalog, period: Period) -> DataFrame:
    """The rated CDRs of `period` (by the event's local date in the catalog's zone), one per `cdr_id`:
    the earliest `rated_at` of copies an at-least-once sink wrote."""
    local_date = F.to_date(local_time(F.to_timestamp("event_time"), catalog.timezone))
    order = [F.col(c).asc_nulls_last() for c in ("rated_at", *[c for c in ("partition", "offset")
                                                                 if c in rated.columns])]
    first = Window.partitionBy("cdr_id").orderBy(*order)
    return (rated.where(local_date.between(F.lit(period.first_day), F.lit(period.last_day))
                        & F.col("cdr_id").isNotNull())
            .withColumn("_n", F.row_number().over(first)).where("_n = 1").drop("_n"))


def rerate(rated: DataFrame, catalog: Catalog) -> DataFrame:
    """Every rated CDR with `new_<field>` for each of `RATING_FIELDS` under `catalog` (its own fields
    stay as they were), and `new_reason` (`NO_RATE` or null)."""
    tariff = Tariff(catalog)
    old = {name: F.col(name).alias(f"_old_{name}") for name in RATING_FIELDS}
    frame = rated.select(*[F.col(c) for c in rated.columns if c not in RATING_FIELDS], *old.values())
    frame = with_local_time(frame.withColumn("event_ts", F.to_timestamp("event_time")), catalog.timezone)
    frame = frame.withColumn("plan_index", _plan_index(F.col("plan_id"), tariff.plans))
    frame = find_rate(frame, tariff)
    frame = frame.withColumn("reason", F.when(F.col(problem(Reason.NO_RATE)), F.lit(Reason.NO_RATE.value)))
    frame = price(frame, tariff).withColumns({
        "billable_units": F.col("billable_units").cast("bigint"), "per": F.col("per").cast("bigint")})
    return frame.select(
        *[c for c in rated.columns if c not in RATING_FIELDS],
        *[F.col(f"_old_{n}").alias(n) for n in RATING_FIELDS],
        *[F.col(n).alias(f"new_{n}") for n in RATING_FIELDS],
        F.col("reason").alias("new_reason"),
    )


def _plan_index(plan_id: Column, plans: tuple[str, ...]) -> Column:
    position = F.array_position(F.array(*[F.lit(p) for p in plans]), plan_id)
    return F.when(position > 0, (position - 1).cast("int"))


def changed(rerated: DataFrame) -> Column:
    """The CDR's charge, zone, band or rate (price, per, connect fee) is not what it was."""
    differs = F.lit(False)
    for name in ("zone", "band", "price", "per", "connect_fee"):
        differs = differs | ~F.col(name).eqNullSafe(F.col(f"new_{name}"))
    return differs | ~F.col("charge").cast("decimal(38,10)").eqNullSafe(F.col("new_charge").cast("decimal(38,10)"))


def as_billing_input(rerated: DataFrame) -> DataFrame:
    """The rerated CDRs as the rated records billing reads (`billing.charges.RATED_FIELDS`), new values."""
    renamed = {n: F.col(f"new_{n}") for n in RATING_FIELDS}
    return rerated.where(F.col("new_reason").isNull()).select(
        *[renamed.get(n, F.col(n)).cast(kind).alias(n) for n, kind in BILLING_FIELDS])
