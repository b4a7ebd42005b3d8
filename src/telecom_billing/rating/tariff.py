"""The catalog compiled once per job into what rating evaluates per CDR (DESIGN.md sections 5-6).

Zones, roaming zones and time bands become CASE expressions over integer indexes; the rate of
every (plan, service, zone, band) is resolved once by DESIGN.md's precedence into one array
literal, so a CDR finds its rate with one index computation and no join or string key.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

from pyspark.sql import Column
from pyspark.sql import functions as F

from .. import money
from ..contracts.limits import MAX_DATA_BYTES, MAX_VOICE_SECONDS, UNIT_PRICE_DECIMALS
from ..contracts.records import SERVICES
from ..refdata.catalog import ANY, Catalog, Rate

RATE_FIELDS = ("price_micros", "per", "first", "next", "fee_micros", "price", "connect_fee", "unit_price")
# The largest quantity a CDR that passed mediation can have, per service (RULES.md section 8).
MAX_QUANTITY = {"voice": MAX_VOICE_SECONDS, "sms": 1, "data": MAX_DATA_BYTES}


def resolve(plan_rates: tuple[Rate, ...], service: str, zone: str, band: str) -> Rate | None:
    """The plan's rate for a CDR: exact zone and band, then exact zone and any band, then any zone
    and exact band, then any and any (DESIGN.md section 5)."""
    by_key = {(r.service, r.zone, r.band): r for r in plan_rates}
    for z, b in ((zone, band), (zone, ANY), (ANY, band), (ANY, ANY)):
        found = by_key.get((service, z, b))
        if found is not None:
            return found
    return None


def max_billable(rate: Rate) -> int:
    """The most billable units any CDR rated at `rate` can have (increments applied)."""
    quantity = MAX_QUANTITY[rate.service]
    return max(rate.first_increment, quantity + rate.next_increment)


@dataclass(frozen=True)
class Tariff:
    catalog: Catalog

    @cached_property
    def plans(self) -> tuple[str, ...]:
        return tuple(self.catalog.plans)

    @cached_property
    def zones(self) -> tuple[str, ...]:
        return self.catalog.zone_names()

    @cached_property
    def bands(self) -> tuple[str, ...]:
        return tuple(b.name for b in self.catalog.time_bands)

    @cached_property
    def always_fits(self) -> bool:
        """Every charge of this catalog can be computed in 64-bit longs (`money.fits_in_longs`)."""
        return all(money.fits_in_longs(money.micros(r.connect_fee), max_billable(r), money.micros(r.price), r.per,
                                       self.catalog.rounding_decimals)
                   for plan in self.catalog.plans.values() for r in plan.rates)

    def rate_table(self) -> Column:
        """An array literal: the resolved rate (or null) of every (plan, service, zone, band), at
        `rate_position`. Written as one SQL expression: built from Column calls, its hundreds of
        cells would cost tens of thousands of Py4J round trips (seconds) at every query start."""
        cat = self.catalog
        cells = []
        for plan in self.plans:
            for service in SERVICES:
                for zone in self.zones:
                    for band in self.bands:
                        rate = resolve(cat.plans[plan].rates, service, zone, band)
                        cells.append(_rate_sql(rate) if rate else "NULL")
        return F.expr(f"CAST(array({', '.join(cells)}) AS array<{_RATE_TYPE}>)")

    def rate_position(self, plan_index: Column, service: Column, zone_index: Column, band_index: Column) -> Column:
        """1-based position in `rate_table` (null when a part is unknown)."""
        service_index = _index_of(service, SERVICES)
        cell = ((plan_index * len(SERVICES) + service_index) * len(self.zones) + zone_index) * len(self.bands)
        return cell + band_index + 1

    def zone_index(self, record_type: Column, direction: Column, other_party: Column, roaming: Column,
                   visited: Column) -> Column:
        """The CDR's zone (RULES.md section 13) as an index into `zones`, or null: the roaming zone of
        the visited country for every service; else data -> home, incoming -> incoming, outgoing ->
        the zone of the longest prefix of the other party."""
        cat = self.catalog
        roaming_zone: Column = F.lit(None).cast("int")
        for name, countries in reversed(list(cat.roaming_zones.items())):  # "*" comes last
            if ANY in countries:
                roaming_zone = F.lit(self.zones.index(name))
        for name, countries in cat.roaming_zones.items():
            listed = [c for c in countries if c != ANY]
            if listed:
                roaming_zone = F.when(visited.isin(*listed), F.lit(self.zones.index(name))).otherwise(roaming_zone)
        # One literal map per prefix length, longest first: the first hit is the longest prefix.
        by_length: dict[int, dict[str, int]] = {}
        for name, prefixes in cat.zones.items():
            for prefix in prefixes:
                by_length.setdefault(len(prefix), {})[prefix] = self.zones.index(name)
        lookups = [F.element_at(F.create_map(*[F.lit(v) for pair in sorted(by_length[n].items()) for v in pair]),
                                F.substring(other_party, 1, n) if n else F.lit(""))
                   for n in sorted(by_length, reverse=True)]
        prefix_zone = F.coalesce(*lookups) if lookups else F.lit(None).cast("int")
        return (F.when(roaming, roaming_zone)
                .when(record_type == "data", F.lit(self.zones.index("home")))
                .when(direction == "MT", F.lit(self.zones.index("incoming")))
                .otherwise(prefix_zone))

    def band_index(self, weekday: Column, minute: Column) -> Column:
        """The first band (catalog order) whose days and [start, end) contain the local time."""
        expr: Column = F.lit(None).cast("int")
        for index in reversed(range(len(self.catalog.time_bands))):
            band = self.catalog.time_bands[index]
            condition = (minute >= band.start_minute) & (minute < band.end_minute)
            if band.days is not None:
                condition = condition & weekday.isin(*sorted(band.days))
            expr = F.when(condition, F.lit(index)).otherwise(expr)
        return expr


_RATE_TYPE = ("struct<price_micros: bigint, per: bigint, first: bigint, next: bigint, fee_micros: bigint, "
              "price: string, connect_fee: string, unit_price: string>")


def _rate_sql(rate: Rate) -> str:
    """One rate as a SQL `named_struct` of `_RATE_TYPE`'s fields (bigint and string literals)."""
    values: tuple[int | str, ...] = (
        money.micros(rate.price), rate.per, rate.first_increment, rate.next_increment, money.micros(rate.connect_fee),
        money.catalog_text(rate.price), money.catalog_text(rate.connect_fee),
        money.ratio_text(rate.price, rate.per, UNIT_PRICE_DECIMALS))
    fields = (f"'{name}', {_sql_literal(value)}" for name, value in zip(RATE_FIELDS, values, strict=True))
    return f"named_struct({', '.join(fields)})"


def _sql_literal(value: int | str) -> str:
    return f"{value}L" if isinstance(value, int) else "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"


def _index_of(value: Column, names: tuple[str, ...]) -> Column:
    expr: Column = F.lit(None).cast("int")
    for index in reversed(range(len(names))):
        expr = F.when(value == names[index], F.lit(index)).otherwise(expr)
    return expr


def names(indexes: tuple[str, ...], index: Column) -> Column:
    """The name at a 0-based index column (null for null)."""
    return F.element_at(F.array(*[F.lit(n) for n in indexes]), index + 1)
