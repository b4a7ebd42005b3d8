"""Stages `find_rate` and `price`: zone, band, rate, billable units and charge (DESIGN.md section 6)."""

from __future__ import annotations

from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from .. import money
from ..contracts.reasons import Reason
from ..mediation.columns import problem
from .tariff import Tariff, names


def find_rate(df: DataFrame, tariff: Tariff) -> DataFrame:
    """Adds `roaming`, `zone`, `band`, `rate` (the resolved rate struct, or null), `catalog_version`
    and the check `no_rate`. Needs the normalized CDR, `local_weekday` / `local_minute` and `plan_index`."""
    c = F.col
    cat = tariff.catalog
    df = df.withColumn("roaming", c("visited_country").isNotNull() & (c("visited_country") != cat.home_country))
    df = df.withColumns({
        "_zone": tariff.zone_index(c("record_type"), c("direction"), c("other_party"), c("roaming"),
                                   c("visited_country")),
        "_band": tariff.band_index(c("local_weekday"), c("local_minute")),
    })
    position = tariff.rate_position(c("plan_index"), c("record_type"), c("_zone"), c("_band"))
    df = df.withColumns({
        "zone": names(tariff.zones, c("_zone")),
        "band": names(tariff.bands, c("_band")),
        "rate": F.element_at(tariff.rate_table(), position),
        "catalog_version": F.lit(cat.version),
    })
    return df.withColumn(problem(Reason.NO_RATE), c("rate").isNull()).drop("_zone", "_band")


def no_rate_detail() -> F.Column:
    """`plan <id> not in catalog <version>`, or `no rate in plan <id> for <service>/<zone>/<band>`."""
    c = F.col
    return (F.when(c("plan_index").isNull(),
                   F.concat(F.lit("plan "), c("plan_id"), F.lit(" not in catalog "), c("catalog_version")))
            .otherwise(F.concat(F.lit("no rate in plan "), c("plan_id"), F.lit(" for "), c("record_type"),
                                F.lit("/"), F.coalesce(c("zone"), F.lit("-")), F.lit("/"), c("band"))))


def billable_units(quantity: F.Column, first: F.Column, following: F.Column) -> F.Column:
    """DESIGN.md section 6: 0, the first increment, or first + whole following increments."""
    over = quantity - first
    return (F.when(quantity <= 0, F.lit(0).cast("bigint"))
            .when(quantity <= first, first)
            .otherwise(first + F.call_function("div", over + following - 1, following) * following))


def price(df: DataFrame, tariff: Tariff) -> DataFrame:
    """Adds the rated fields of an accepted CDR: `billable_units`, `price`, `per`, `unit_price`,
    `connect_fee`, `charge` (text), `charge_units` (integer of 10^-rounding_decimals), `currency`.
    Null for rejected rows. Needs `decide`."""
    c = F.col
    cat = tariff.catalog
    accepted = c("reason").isNull()
    rate = c("rate")
    df = df.withColumn("billable_units", F.when(accepted, billable_units(c("quantity"), rate["first"], rate["next"])))
    terms = money.Terms(rate["fee_micros"], c("billable_units"), rate["price_micros"], rate["per"])
    units = money.charge_units(terms, cat.rounding_decimals, always_fits=tariff.always_fits)
    df = df.withColumn("charge_units", F.when(accepted, units))
    return df.withColumns({
        "price": F.when(accepted, rate["price"]),
        "per": F.when(accepted, rate["per"]),
        "unit_price": F.when(accepted, rate["unit_price"]),
        "connect_fee": F.when(accepted, rate["connect_fee"]),
        "charge": money.units_text(c("charge_units"), cat.rounding_decimals, exact_long=tariff.always_fits),
        "currency": F.when(accepted, F.lit(cat.currency)),
    })
