"""Billing (DESIGN.md section 7, docs/BILLING.md): rated CDRs of one month -> invoices, in Spark.

Every step is a `DataFrame -> DataFrame` function of native Spark expressions; money is
`DecimalType`, and every amount (a CDR's billed amount, a prorated fee, tax) is computed by the one
exact engine of `money.py`, rounded half-up once. The flow:

    parse_rated -> typed_rated -> attach_subscribers -> allowance_candidates -> deduplicate
        -> apply_allowances
        -> summarize (one aggregate: per subscriber, service, zone, allowance, local hour)
        -> usage_lines / allowance_use / hourly_usage / status_totals -> build_invoices

Allowances are consumed in `(event_time, cdr_id)` order per subscriber with running sums over one
window: allowances are grouped in *levels* (an allowance overlapping an earlier one of the same
plan sits one level deeper), and each level is one more running sum on the same sort, because a
CDR only falls through to a deeper allowance once the shallower ones it matches are used up.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from pyspark.sql import Window
from pyspark.sql import functions as F

from .. import money
from ..contracts.limits import MAX_UNITS, MONEY_SCALE
from ..contracts.records import DUPLICATE
from ..contracts.records import RATED_FIELDS as CONTRACT_FIELDS
from ..errors import TelecomError, UsageError
from ..mediation.enrich import unknown_subscriber_detail
from ..mediation.timestamps import local_time
from ..refdata.catalog import Catalog, Plan
from ..refdata.subscribers import Subscriber, active_on
from .period import Period

if TYPE_CHECKING:
    from pyspark.sql import Column, DataFrame, SparkSession

# A CDR's amount and an invoice's amounts stay below 10**14 units of the currency.
AMOUNT_DIGITS = 14
# A rated CDR's price and connect fee: catalog money, at most 6 places and below 10**12.
PRICE_TYPE = f"decimal({12 + MONEY_SCALE},{MONEY_SCALE})"
INVOICE_NUMBER = re.compile(r"INV-[0-9]{6}-[0-9A-F]{10}")

# Status of a rated record in the billing run; only OK is billed, the rest is reported as unexplained.
OK = "ok"
UNREADABLE = "unreadable"  # no usable event_time: it cannot be placed in any period
INVALID = "invalid"  # in the period, but a field billing needs is missing or out of range
NO_SUBSCRIBER = "no_subscriber"  # no subscriber with that msisdn is active on the event's local date
# DUPLICATE (contracts.records): a later copy of a CDR, counted, billed once

# The rated CDR fields billing reads (RULES.md section 16, `contracts.records`); money stays a string until cast.
BILLED_NAMES = ("cdr_id", "record_type", "event_time", "msisdn", "zone", "quantity", "billable_units", "price", "per",
                "connect_fee", "charge", "rated_at", "partials", "incomplete")
RATED_FIELDS: tuple[tuple[str, str], ...] = tuple((n, kind) for n, kind in CONTRACT_FIELDS if n in BILLED_NAMES)
RATED_SCHEMA = ", ".join(f"{name} {kind}" for name, kind in RATED_FIELDS)
# Per line, of its CDRs: how many were assembled from partial records, and how many of those were
# closed incomplete by the timeout (DESIGN.md 7c).
PARTIAL_COUNTS = ("assembled_cdrs", "incomplete_cdrs")
# The counts of an invoice line, in this order: its CDRs, then the `PARTIAL_COUNTS` of them.
LINE_COUNTS = ("cdr_count", *PARTIAL_COUNTS)


# -- rated input -------------------------------------------------------------------------------------


def parse_rated(lines: DataFrame, column: str = "value", keep: Sequence[str] = ()) -> DataFrame:
    """One rated CDR JSON document per row of `column` -> the typed fields billing reads (and the
    columns of `lines` named in `keep`, e.g. the Kafka `partition` and `offset`).

    Blank rows are not records. A row that is not JSON keeps null fields and is reported, never
    dropped.
    """
    text = F.col(column).cast("string")
    # An optimizer fence (a nondeterministic, always-true condition): without it Spark pushes the
    # period filter below this projection and parses every line once more for that filter.
    parsed = F.when(F.spark_partition_id() >= 0, F.from_json(text, RATED_SCHEMA))
    return lines.where(F.trim(text) != "").select(parsed.alias("r"), *keep).select("r.*", *keep)


def typed_rated(rated: DataFrame, catalog: Catalog, period: Period) -> DataFrame:
    """The records of `period` plus the unreadable ones (which belong to no period), typed."""
    in_period = F.col("local_date").between(F.lit(period.first_day), F.lit(period.last_day))
    return type_rated(rated, catalog).where(F.col("event_ts").isNull() | in_period)


def type_rated(rated: DataFrame, catalog: Catalog) -> DataFrame:
    """Typed columns, the local time of the event, and a `status` (`ok` / `unreadable` / `invalid`);
    a Kafka `partition` and `offset` are kept when present."""
    event_ts = F.to_timestamp("event_time")
    local = local_time(event_ts, catalog.timezone)
    typed = rated.select(
        F.col("cdr_id"),
        F.col("record_type").alias("service"),
        event_ts.alias("event_ts"),
        F.col("event_time"),
        F.col("msisdn"),
        F.col("zone"),
        F.col("quantity"),
        F.col("billable_units"),
        *_catalog_money(F.col("price"), "price"),
        F.col("per"),
        *_catalog_money(F.coalesce(F.col("connect_fee"), F.lit("0")), "connect_fee"),
        F.col("charge").cast(amount_type(catalog.rounding_decimals)).alias("charge"),
        F.col("charge").isNotNull().alias("_has_charge"),
        F.col("rated_at"),
        F.col("partials"),
        F.col("incomplete"),
        F.to_date(local).alias("local_date"),
        F.hour(local).alias("local_hour"),
        *[c for c in ("partition", "offset") if c in rated.columns],
    )
    problem = F.when(F.col("event_ts").isNull(), F.lit("event_time: absent or not a timestamp"))
    for name, condition in (
        ("cdr_id", F.col("cdr_id").isNull() | (F.col("cdr_id") == "")),
        ("record_type", ~F.coalesce(F.col("service").isin("voice", "sms", "data"), F.lit(False))),
        ("msisdn", F.col("msisdn").isNull()),
        ("zone", F.col("zone").isNull()),
        ("quantity", F.coalesce(F.col("quantity") < 0, F.lit(True))),
        ("billable_units", F.coalesce(F.col("billable_units") < 0, F.lit(True))),
        ("price", F.coalesce(F.col("price") < 0, F.lit(True)) | F.col("_price_rounded")),
        ("per", F.coalesce((F.col("per") <= 0) | (F.col("per") > MAX_UNITS), F.lit(True))),
        ("connect_fee", F.coalesce(F.col("connect_fee") < 0, F.lit(True)) | F.col("_connect_fee_rounded")),
        ("charge", F.col("_has_charge") & F.col("charge").isNull()),
    ):
        problem = problem.when(condition, F.lit(f"{name}: absent or out of range for catalog {catalog.version}"))
    return (
        typed.withColumn("problem", problem).drop("_has_charge", "_price_rounded", "_connect_fee_rounded")
        .withColumn("status", F.when(F.col("event_ts").isNull(), F.lit(UNREADABLE))
                    .when(F.col("problem").isNotNull(), F.lit(INVALID)).otherwise(F.lit(OK)))
    )


def _catalog_money(text: Column, name: str) -> tuple[Column, Column]:
    """A rated CDR's `price` or `connect_fee` as `PRICE_TYPE`, and `_<name>_rounded`: true when the
    text has more places than catalog money (6), which the cast would round (checked up to 18
    places): such a record is invalid, not billed at a price nobody set. Out of range is null."""
    wide = text.cast(f"decimal(38,{3 * MONEY_SCALE})")
    value = wide.cast(PRICE_TYPE)
    return value.alias(name), F.coalesce(wide != value, F.lit(False)).alias(f"_{name}_rounded")


def _order() -> list[Column]:
    """The per-subscriber order: allowances are consumed by (event_time, cdr_id); copies of one CDR
    then sit side by side, the earliest `rated_at` first (the other fields only make the order total)."""
    return [F.col(c).asc_nulls_last() for c in ("event_ts", "cdr_id", "rated_at", "service", "zone",
                                                 "billable_units", "quantity", "price", "per", "connect_fee",
                                                 "charge")]


def deduplicate(cdrs: DataFrame) -> DataFrame:
    """Status `duplicate` for a later copy of a CDR: the same `cdr_id` and event time as the record
    before it in its subscriber's order (copies from an at-least-once sink agree on both, so they are
    neighbours; the first, earliest `rated_at`, is billed). Needs `sub_id` (`attach_subscribers`)."""
    order = Window.partitionBy("sub_id").orderBy(*_order())
    previous = F.lag(F.struct("cdr_id", "event_ts", "status")).over(order)
    copy = (F.col("status").isin(OK, NO_SUBSCRIBER) & (previous["cdr_id"] == F.col("cdr_id"))
            & (previous["event_ts"] == F.col("event_ts")) & (previous["status"] == F.col("status")))
    return cdrs.withColumn("status", F.when(F.coalesce(copy, F.lit(False)), F.lit(DUPLICATE))
                           .otherwise(F.col("status")))


# -- subscribers ---------------------------------------------------------------------------------------


def subscriber_frame(spark: SparkSession, subscribers: Sequence[Subscriber], catalog: Catalog,
                     period: Period) -> DataFrame:
    """Every subscriber with its active days in the period and recurring fee (those with no active
    day get an invoice only for late usage).

    `sub_id` is the subscriber's position in `subscribers`; the invoice number is a hash of the
    msisdn and activation date, so it never changes when other subscribers are added.
    """
    everyone = [(i, s, _active_days(s, period)) for i, s in enumerate(subscribers)]
    missing = sorted({s.plan_id for _, s, days in everyone if days and s.plan_id not in catalog.plans})
    if missing:
        raise TelecomError(f"subscribers active in {period.label} have plans missing from catalog "
                           f"{catalog.version}: {', '.join(missing)}")
    rows = [(i, s.msisdn, s.name, s.address, s.plan_id, s.activation_date, s.termination_date, days)
            for i, s, days in everyone]
    base = spark.createDataFrame(rows, "sub_id int, msisdn string, name string, address string, plan_id string, "
                                       "activation_date date, termination_date date, active_days int")
    fees = F.create_map(*[part for plan in catalog.plans.values() for part in (
        F.lit(plan.id), F.lit(money.micros(plan.monthly_fee)))])
    subscriber_key = F.concat_ws("|", F.col("msisdn"), F.date_format("activation_date", "yyyy-MM-dd"))
    # A plan missing from the catalog (allowed only with no active day, above) has no fee.
    fee = F.coalesce(F.element_at(fees, F.col("plan_id")), F.lit(0).cast("bigint"))
    prorated = money.Terms(F.lit(0), F.col("active_days"), fee, F.lit(period.days))
    recurring = money.units_decimal(money.charge_units(prorated, 2), 2, AMOUNT_DIGITS + 6)
    return base.withColumns({
        "invoice_number": F.concat(F.lit(f"INV-{period.compact}-"),
                                   F.upper(F.substring(F.sha2(subscriber_key, 256), 1, 10))),
        "recurring": recurring,
    })


def _active_days(subscriber: Subscriber, period: Period) -> int:
    """The days of `period` on which `subscriber` is active (activation <= day < termination)."""
    start = max(subscriber.activation_date, period.first_day)
    end = min(subscriber.termination_date or period.next_first_day, period.next_first_day)
    return max((end - start).days, 0)


def attach_subscribers(cdrs: DataFrame, subscribers: DataFrame) -> DataFrame:
    """Give each `ok` CDR its subscriber (the one with that msisdn active on the event's local date);
    none is status `no_subscriber`."""
    subs = subscribers.select(
        F.col("sub_id"), F.col("msisdn").alias("_msisdn"), F.col("plan_id"),
        F.col("activation_date").alias("_from"), F.col("termination_date").alias("_until"))
    condition = ((F.col("msisdn") == F.col("_msisdn")) & (F.col("status") == OK)
                 & active_on(F.col("local_date"), F.col("_from"), F.col("_until")))
    joined = cdrs.join(F.broadcast(subs), condition, "left")
    return (
        joined.withColumn("status", F.when((F.col("status") == OK) & F.col("sub_id").isNull(),
                                           F.lit(NO_SUBSCRIBER)).otherwise(F.col("status")))
        .withColumn("problem", F.when(F.col("status") == NO_SUBSCRIBER, unknown_subscriber_detail())
                    .otherwise(F.col("problem")))
        .drop("_msisdn", "_from", "_until")
    )


# -- allowances and billed amounts ---------------------------------------------------------------------


@dataclass(frozen=True)
class Allowances:
    """The catalog's allowances numbered across plans (`id`), and their levels: an allowance that
    shares a (service, zone) with an earlier allowance of its plan sits one level deeper."""

    names: tuple[str, ...]
    quantities: tuple[int, ...]
    levels: tuple[int, ...]
    # plan -> service -> zone -> allowance ids a CDR may draw from, in plan order (one per level)
    candidates: dict[str, dict[str, dict[str, tuple[int, ...]]]]
    # plan -> the ids of its allowances, in plan order
    of_plan: dict[str, tuple[int, ...]]

    @classmethod
    def of(cls, catalog: Catalog) -> Allowances:
        names: list[str] = []
        quantities: list[int] = []
        levels: list[int] = []
        candidates: dict[str, dict[str, dict[str, tuple[int, ...]]]] = {}
        of_plan: dict[str, tuple[int, ...]] = {}
        for plan in catalog.plans.values():
            first = len(names)
            of_plan[plan.id] = tuple(range(first, first + len(plan.allowances)))
            for level, allowance in zip(allowance_levels(plan), plan.allowances, strict=True):
                names.append(allowance.name)
                quantities.append(allowance.quantity)
                levels.append(level)
            for offset, allowance in enumerate(plan.allowances):
                for zone in allowance.zones:
                    zones = candidates.setdefault(plan.id, {}).setdefault(allowance.service, {})
                    zones[zone] = (*zones.get(zone, ()), first + offset)
        return cls(tuple(names), tuple(quantities), tuple(levels), candidates, of_plan)

    @property
    def depth(self) -> int:
        return max(self.levels, default=-1) + 1

    def candidate(self, level: int) -> Column:
        """The id of the allowance a CDR may draw from at `level` (null: none), from its `plan_id`,
        `service` and `zone`: a small decision tree, evaluated once per CDR."""
        by_plan = None
        for plan_id, services in sorted(self.candidates.items()):
            by_service = None
            for service, zones in sorted(services.items()):
                by_zone = None
                for zone, ids in sorted(zones.items()):
                    at_level = [i for i in ids if self.levels[i] == level]
                    if at_level:
                        branch = (F.col("zone") == zone, F.lit(at_level[0]))
                        by_zone = F.when(*branch) if by_zone is None else by_zone.when(*branch)
                if by_zone is not None:
                    branch = (F.col("service") == service, by_zone)
                    by_service = F.when(*branch) if by_service is None else by_service.when(*branch)
            if by_service is not None:
                branch = (F.col("plan_id") == plan_id, by_service)
                by_plan = F.when(*branch) if by_plan is None else by_plan.when(*branch)
        return (by_plan if by_plan is not None else F.lit(None)).cast("int")


def allowance_levels(plan: Plan) -> list[int]:
    """Level of each allowance: 0 unless an earlier allowance of the plan shares a (service, zone)
    with it, else one deeper than the deepest such allowance. A CDR's candidate allowances (those
    matching its service and zone) overlap pairwise, so they sit on distinct levels."""
    levels: list[int] = []
    for i, allowance in enumerate(plan.allowances):
        deeper = [levels[j] + 1 for j, earlier in enumerate(plan.allowances[:i])
                  if earlier.service == allowance.service and set(earlier.zones) & set(allowance.zones)]
        levels.append(max(deeper, default=0))
    return levels


def allowance_candidates(cdrs: DataFrame, catalog: Catalog) -> DataFrame:
    """`_a0`, `_a1`, ...: per level, the id of the allowance the CDR may draw from (see
    `Allowances`); computed before the subscriber shuffle so that `plan_id` need not cross it."""
    allowances = Allowances.of(catalog)
    ok = F.col("status") == OK
    return cdrs.withColumns({f"_a{level}": F.when(ok, allowances.candidate(level))
                             for level in range(allowances.depth)}).drop("plan_id")


def apply_allowances(cdrs: DataFrame, catalog: Catalog) -> DataFrame:
    """Add `included_units`, `allowance` (the name drawn from, or null) and `billed_amount`.

    A CDR draws from the first allowance of its plan whose service and zones match and that has
    quantity left: `included = min(remaining, billable_units)`; the billed amount is
    `connect_fee + (billable_units - included) * price / per`, rounded half-up as in rating.
    Needs `allowance_candidates` and `deduplicate` first.
    """
    allowances = Allowances.of(catalog)
    quantities = F.array(*[F.lit(q).cast("bigint") for q in allowances.quantities] or [F.lit(None)])
    names = F.array(*[F.lit(n) for n in allowances.names] or [F.lit(None).cast("string")])
    window = (Window.partitionBy("sub_id").orderBy(*_order())
              .rowsBetween(Window.unboundedPreceding, Window.currentRow))
    billable = F.col("billable_units")
    frame = cdrs.withColumns({"included_units": F.lit(0).cast("bigint"), "_drawn": F.lit(-1)})
    for level in range(allowances.depth):
        candidate = F.col(f"_a{level}")
        eligible = (F.col("status") == OK) & candidate.isNotNull() & (F.col("_drawn") < 0)
        ids = sorted(i for i, at in enumerate(allowances.levels) if at == level)
        # One running sum per allowance of this level: the billable units drawn from it so far.
        frame = frame.withColumns({f"_cum{i}": F.sum(F.when(eligible & (candidate == i), billable).otherwise(0))
                                   .over(window) for i in ids})
        used = F.lit(None).cast("bigint")
        for i in ids:
            used = F.when(candidate == i, F.col(f"_cum{i}") - billable).otherwise(used)
        remaining = F.element_at(quantities, candidate + 1) - used
        draws = F.coalesce(eligible & (remaining > 0), F.lit(False))
        frame = frame.withColumns({
            "included_units": F.when(draws, F.least(billable, remaining)).otherwise(F.col("included_units")),
            "_drawn": F.when(draws, candidate).otherwise(F.col("_drawn")),
        }).drop(*[f"_cum{i}" for i in ids])
    frame = frame.withColumn("allowance", F.when(F.col("_drawn") >= 0, F.element_at(names, F.col("_drawn") + 1)))
    helpers = [c for c in frame.columns if c.startswith("_")]
    return billed_amount(frame.drop(*helpers), catalog.rounding_decimals)


def billed_amount(cdrs: DataFrame, decimals: int) -> DataFrame:
    """`billed_amount`: the rated `charge` when nothing was included, else (or when the rated CDR
    has no charge) `connect_fee + (billable_units - included_units) * price / per`, rounded
    half-up as in rating (`money.charge_units`). `charge` becomes the rated charge, computed the
    same way when absent."""
    ok = F.col("status") == OK
    charge = F.coalesce(F.col("charge"), _amount(F.col("billable_units"), decimals))
    nothing_included = (F.col("included_units") == 0) & F.col("charge").isNotNull()
    return cdrs.withColumns({
        "charge": F.when(ok, charge),
        "billed_amount": F.when(ok, F.when(nothing_included, F.col("charge")).otherwise(
            _amount(F.col("billable_units") - F.col("included_units"), decimals))),
    })


def _amount(units: Column, decimals: int) -> Column:
    """`connect_fee + units * price / per` of the CDR, as `amount_type`."""
    # Exact: PRICE_TYPE has MONEY_SCALE places.
    terms = money.Terms(money.micros_column(F.col("connect_fee")), units, money.micros_column(F.col("price")),
                        F.col("per"))
    return money.units_decimal(money.charge_units(terms, decimals), decimals, AMOUNT_DIGITS + decimals)


def amount_type(decimals: int) -> str:
    """A CDR's amount: `decimals` places (the catalog's rounding), below 10**AMOUNT_DIGITS."""
    return f"decimal({AMOUNT_DIGITS + decimals},{decimals})"


def money_type() -> str:
    """An invoice amount: 2 places."""
    return f"decimal({AMOUNT_DIGITS + 6},2)"


# -- aggregates ----------------------------------------------------------------------------------------


def count_partials() -> list[Column]:
    """The `PARTIAL_COUNTS` of a group of CDRs: an assembled CDR has `partials` (null on a whole
    one), and `incomplete` true when its session was closed by the timeout."""
    assembled = F.col("partials").isNotNull()
    return [F.count(F.when(assembled, F.lit(1))).alias("assembled_cdrs"),
            F.count(F.when(assembled & F.col("incomplete"), F.lit(1))).alias("incomplete_cdrs")]


def sum_partials() -> list[Column]:
    """The `PARTIAL_COUNTS` of groups summed."""
    return [F.sum(name).alias(name) for name in PARTIAL_COUNTS]


def summarize(billed: DataFrame) -> DataFrame:
    """The one aggregate over CDRs everything else is derived from (small enough to cache): per
    status, subscriber, service, zone and allowance, with CDR counts per local hour `h00`..`h23` and
    the `PARTIAL_COUNTS`."""
    hours = [F.count(F.when(F.col("local_hour") == h, F.lit(1))).alias(f"h{h:02d}") for h in range(24)]
    return billed.groupBy("status", "sub_id", "service", "zone", "allowance").agg(
        F.count(F.lit(1)).alias("cdrs"),
        F.sum("quantity").alias("quantity"),
        F.sum("billable_units").alias("billable_units"),
        F.sum("included_units").alias("included_units"),
        F.sum("billed_amount").alias("billed_amount"),
        F.sum("charge").alias("charge"),
        *count_partials(),
        *hours,
    )


def usage_lines(summary: DataFrame) -> DataFrame:
    """One line per subscriber, service and zone; the amount is the sum of the CDRs' billed amounts
    rounded half-up to 2 places."""
    return (
        summary.where(F.col("status") == OK)
        .groupBy("sub_id", "service", "zone")
        .agg(F.sum("quantity").alias("quantity"), F.sum("billable_units").alias("billable_units"),
             F.sum("included_units").alias("included_units"), F.sum("cdrs").alias("cdr_count"),
             F.sum("billed_amount").alias("billed_amount"), *sum_partials())
        .withColumn("amount", money.round_half_up(F.col("billed_amount"), 2).cast(money_type()))
    )


def allowance_use(summary: DataFrame) -> DataFrame:
    return (summary.where((F.col("status") == OK) & F.col("allowance").isNotNull())
            .groupBy("sub_id", "allowance").agg(F.sum("included_units").alias("used")))


def hourly_usage(summary: DataFrame) -> DataFrame:
    """Billed CDRs per service and local hour of day (`service`, `local_hour`, `cdrs`), for the report."""
    per_service = summary.where(F.col("status") == OK).groupBy("service").agg(
        F.array(*[F.sum(f"h{h:02d}") for h in range(24)]).alias("hours"))
    return per_service.select("service", F.posexplode("hours").alias("local_hour", "cdrs"))


def status_totals(summary: DataFrame) -> DataFrame:
    return summary.groupBy("status").agg(
        F.sum("cdrs").alias("cdrs"), F.sum("billed_amount").alias("billed_amount"), F.sum("charge").alias("charge"))


def build_invoices(subscribers: DataFrame, lines: DataFrame, allowances: DataFrame, late: DataFrame | None,
                   catalog: Catalog) -> DataFrame:
    """One row per invoice: subscriber fields, the recurring fee, usage lines sorted by (service, zone),
    late usage lines (DESIGN.md 7a) sorted by (origin period, service, zone), allowance use by name,
    subtotal, tax and total. A subscriber with no active day gets an invoice only for late usage."""
    line = F.struct("service", "zone", "quantity", "billable_units", "included_units", "amount", "cdr_count",
                    *PARTIAL_COUNTS)
    per_sub = lines.groupBy("sub_id").agg(F.sort_array(F.collect_list(line)).alias("lines"),
                                          F.sum("amount").alias("usage"))
    used = allowances.groupBy("sub_id").agg(F.map_from_entries(F.collect_list(F.struct("allowance", "used")))
                                            .alias("allowance_used"))
    tax = money.Terms(F.lit(0), (F.col("subtotal") * 100).cast("bigint"), F.lit(money.micros(catalog.tax_rate)),
                      F.lit(100))  # subtotal_cents * tax_rate / 100
    invoices = subscribers.join(per_sub, "sub_id", "left").join(used, "sub_id", "left")
    if late is None:
        late_type = (f"array<struct<origin_period: string, service: string, zone: string, quantity: bigint, "
                     f"billable_units: bigint, amount: {money_type()}, cdr_count: bigint, assembled_cdrs: bigint, "
                     f"incomplete_cdrs: bigint>>")
        invoices = invoices.withColumns({"late_lines": F.lit(None).cast(late_type),
                                         "late_usage": F.lit(None).cast(money_type())})
    else:
        late_line = F.struct("origin_period", "service", "zone", "quantity", "billable_units", "amount", "cdr_count",
                             *PARTIAL_COUNTS)
        per_sub_late = late.groupBy("sub_id").agg(F.sort_array(F.collect_list(late_line)).alias("late_lines"),
                                                  F.sum("amount").alias("late_usage"))
        invoices = invoices.join(per_sub_late, "sub_id", "left")
    return (
        invoices.where((F.col("active_days") > 0) | F.col("late_usage").isNotNull())
        .withColumn("usage", F.coalesce(F.col("usage"), F.lit(0)).cast(money_type()))
        .withColumn("late_usage", F.coalesce(F.col("late_usage"), F.lit(0)).cast(money_type()))
        .withColumn("subtotal", (F.col("recurring") + F.col("usage") + F.col("late_usage")).cast(money_type()))
        .withColumn("tax", money.units_decimal(money.charge_units(tax, 2), 2, AMOUNT_DIGITS + 6))
        .withColumn("total", (F.col("subtotal") + F.col("tax")).cast(money_type()))
    )


# -- sources -------------------------------------------------------------------------------------------


def rated_files(path: Path) -> list[Path]:
    """`--rated`: a JSONL or Parquet file, or a folder. In a folder, `rated.jsonl` when present (the
    layout `telecom rate --out` writes, next to `rejected.jsonl`), else every `*.jsonl` file, else
    every `*.parquet` file, in name order; hidden and `_`-prefixed files are skipped."""
    if path.is_file():
        return [path]
    if not path.is_dir():
        raise UsageError(f"--rated {path}: no such file or folder")
    if (path / "rated.jsonl").is_file():
        return [path / "rated.jsonl"]
    for pattern in ("*.jsonl", "*.parquet"):
        found = sorted(p for p in path.glob(pattern) if p.is_file() and not p.name.startswith((".", "_")))
        if found:
            return found
    raise UsageError(f"--rated {path}: no rated.jsonl, *.jsonl or *.parquet file in this folder")


def read_rated_files(spark: SparkSession, files: Sequence[Path]) -> DataFrame:
    """The `RATED_FIELDS` columns from JSONL files (one rated CDR per line) or Parquet files (the same
    field names, money as strings)."""
    if all(f.suffix == ".parquet" for f in files):
        frame = spark.read.parquet(*[str(f) for f in files])
        return frame.select(*[(F.col(n) if n in frame.columns else F.lit(None)).cast(kind).alias(n)
                              for n, kind in RATED_FIELDS])
    return parse_rated(spark.read.text([str(f) for f in files]))
