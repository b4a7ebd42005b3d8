"""Reconciliation (DESIGN.md sections 4 and 7): every record accounted for, every amount explained.

Two halves, one report (`reconciliation.json`, written by `telecom bill` into the period folder and
by `telecom reconcile`):

* **raw side** (when raw records are available): each raw record is `rated` (its `cdr_id` is on
  the rated output), `rejected` (its source partition/offset is on the rejected output, with the
  reason found there) or `duplicate` (a later raw copy of a rated `cdr_id`); anything else is
  unexplained. Mediation is re-run only to learn each raw record's `cdr_id` and event time
  (legacy ids are derived); the *classification* comes from what the pipeline actually wrote.
* **billing side**: rated records of the period (with copies), duplicates dropped, CDRs billed, and
  the money trail: rated charges - allowance inclusions = billed amounts (exact, at the rating
  scale), then usage lines (each rounded to 2 places) - billed amounts = the rounding drift, at
  most half a cent per usage line.
"""

from __future__ import annotations

from decimal import Decimal
from typing import TYPE_CHECKING, Any

from ..contracts.limits import UNEXPLAINED_SAMPLE
from ..contracts.records import RATED, REJECTED
from ..refdata.catalog import Catalog
from .charges import DUPLICATE, INVALID, NO_SUBSCRIBER, OK, UNREADABLE, Period
from .invoices import Billed, money

if TYPE_CHECKING:
    from pyspark.sql import DataFrame

UNEXPLAINED = "unexplained"
OUTCOME_COLUMNS = "partition int, offset bigint, outcome string, reason string, cdr_id string, event_time string"


def _places(value: Decimal | None, places: int) -> str:
    return f"{(value or Decimal(0)):.{places}f}"


def billing_section(billed: Billed) -> dict[str, Any]:
    """Counts and amounts of the period's rated CDRs against its invoices."""
    rounding = billed.catalog.rounding_decimals
    ok = billed.status.get(OK, {})
    charges = ok.get("charge") or Decimal(0)
    amounts = ok.get("billed_amount") or Decimal(0)
    lines = [line for line in billed.lines if line["type"] == "usage"]
    usage = sum((Decimal(line["amount"]) for line in lines), Decimal(0))
    drift = usage - amounts
    bound = Decimal("0.005") * len(lines)

    def invoice_sum(key: str) -> str:
        return money(sum((Decimal(i[key]) for i in billed.invoices), Decimal(0)))

    def count(status: str, key: str = "cdrs") -> int:
        return int(billed.status.get(status, {}).get(key) or 0)

    duplicates = count(DUPLICATE)
    return {
        "rated": {
            "records": count(OK) + count(INVALID) + count(NO_SUBSCRIBER) + duplicates,
            "duplicates": duplicates,
            "billed": count(OK),
            "invalid": count(INVALID),
            "no_subscriber": count(NO_SUBSCRIBER),
            "unreadable": count(UNREADABLE),
        },
        "amounts": {
            "currency": billed.catalog.currency,
            "rated_charges": _places(charges, rounding),
            "allowance_inclusions": _places(charges - amounts, rounding),
            "billed_amounts": _places(amounts, rounding),
            "usage_lines": money(usage),
            "usage_lines_count": len(lines),
            "rounding_drift": _places(drift, rounding),
            "rounding_drift_bound": _places(bound, 3),
            "rounding_drift_within_bound": abs(drift) <= bound,
            "recurring": invoice_sum("recurring"),
            "subtotal": invoice_sum("subtotal"),
            "tax": invoice_sum("tax"),
            "total": invoice_sum("total"),
        },
        "invoices": len(billed.invoices),
    }


def build_report(billed: Billed, raw: dict[str, Any] | None) -> dict[str, Any]:
    """The whole report; `raw` is `raw_section(...)` or None when no raw records were given."""
    billing = billing_section(billed)
    unexplained = list(billed.unexplained)
    unexplained_total = sum(billing["rated"][k] for k in ("invalid", "no_subscriber", "unreadable"))
    if raw is not None:
        unexplained += raw.pop("unexplained_sample")
        unexplained_total += raw["run"][UNEXPLAINED] + raw["orphans"]
    return {
        "period": billed.period.label,
        "timezone": billed.catalog.timezone,
        "catalog_version": billed.catalog.version,
        "raw": raw,
        **billing,
        "unexplained_total": unexplained_total,
        "unexplained": unexplained[:UNEXPLAINED_SAMPLE],
    }


def report_ok(report: dict[str, Any]) -> bool:
    return report["unexplained_total"] == 0 and report["amounts"]["rounding_drift_within_bound"]


# -- raw side ------------------------------------------------------------------------------------------


def outcomes_from_rating(outcome: DataFrame) -> DataFrame:
    """`pipeline.rate_batch(...)`'s frame as `OUTCOME_COLUMNS`: one row per raw record."""
    from pyspark.sql import functions as F

    return outcome.select(F.col("partition").cast("int"), F.col("offset").cast("bigint"), "outcome", "reason",
                          "cdr_id", "event_time")


def classify_raw(outcomes: DataFrame, rated: DataFrame, rejected: DataFrame) -> DataFrame:
    """One row per raw record with its `class` and, for rejections, the reason actually written.

    `outcomes`: `OUTCOME_COLUMNS` (mediation re-run on the raw records); `rated`: the rated output
    (`cdr_id`, `event_time`); `rejected`: the rejected output (`partition`, `offset`, `reason`).
    A raw record is rejected when its source is on the rejected output; else rated when its
    `cdr_id` is on the rated output and it is the first raw record with that id; a later one is a
    duplicate; anything else is unexplained.
    """
    from pyspark.sql import Window
    from pyspark.sql import functions as F

    ids = rated.groupBy("cdr_id").agg(F.min("event_time").alias("rated_event_time"))
    sources = rejected.select(F.col("partition").alias("_p"), F.col("offset").alias("_o"),
                              F.col("reason").alias("written_reason")).dropDuplicates(["_p", "_o"])
    on_source = F.col("partition").eqNullSafe(F.col("_p")) & (F.col("offset") == F.col("_o"))
    joined = outcomes.join(sources, on_source, "left").join(ids, "cdr_id", "left")
    is_rated = F.col("rated_event_time").isNotNull() & F.col("written_reason").isNull()
    # The first raw record of an id that is not on the rejected output is the rated one.
    first = Window.partitionBy("cdr_id").orderBy(F.when(is_rated, 0).otherwise(1),
                                                 F.col("partition").asc_nulls_first(), "offset")
    ranked = joined.withColumn("_n", F.when(is_rated, F.row_number().over(first)))
    klass = (F.when(F.col("written_reason").isNotNull(), F.lit(REJECTED))
             .when(is_rated & (F.col("_n") == 1), F.lit(RATED))
             .when(is_rated, F.lit(DUPLICATE))
             .otherwise(F.lit(UNEXPLAINED)))
    return ranked.select(
        "partition", "offset", "cdr_id", klass.alias("class"),
        F.coalesce(F.col("written_reason"), F.when(~is_rated, F.col("reason"))).alias("reason"),
        F.coalesce(F.col("rated_event_time"), F.col("event_time")).alias("event_time"),
        F.col("outcome").alias("mediation_outcome"),
    )


def orphans(outcomes: DataFrame, rated: DataFrame, rejected: DataFrame) -> DataFrame:
    """Output records no raw record explains: rated ids no raw record has, rejections of no raw record."""
    from pyspark.sql import functions as F

    raw_ids = outcomes.where(F.col("cdr_id").isNotNull()).select("cdr_id").distinct()
    lonely_rated = rated.select("cdr_id", "event_time").join(raw_ids, "cdr_id", "left_anti").select(
        F.lit("rated output without a raw record").alias("reason"), "cdr_id", "event_time",
        F.lit(None).cast("int").alias("partition"), F.lit(None).cast("bigint").alias("offset"))
    keys = outcomes.select(F.col("partition").alias("_p"), F.col("offset").alias("_o"))
    on_source = F.col("partition").eqNullSafe(F.col("_p")) & (F.col("offset") == F.col("_o"))
    lonely_rejected = rejected.join(keys, on_source, "left_anti").select(
        F.lit("rejected output without a raw record").alias("reason"), F.lit(None).cast("string").alias("cdr_id"),
        F.lit(None).cast("string").alias("event_time"), "partition", "offset")
    return lonely_rated.unionByName(lonely_rejected)


def raw_section(classified: DataFrame, lonely: DataFrame, catalog: Catalog, period: Period) -> dict[str, Any]:
    """Counts per class for the whole run and for the period (by the event's local month), rejections
    by reason, and a sample of the unexplained records."""
    from pyspark.sql import functions as F

    local = F.to_date(F.from_utc_timestamp(F.to_timestamp("event_time"), catalog.timezone))
    in_period = F.coalesce(local.between(F.lit(period.first_day), F.lit(period.last_day)), F.lit(False))
    rows = (classified.withColumn("in_period", in_period)
            .groupBy("in_period", "class", "reason").agg(F.count(F.lit(1)).alias("n")).collect())

    def counts(selected: list[Any]) -> dict[str, Any]:
        by_class = {k: sum(r["n"] for r in selected if r["class"] == k) for k in (RATED, REJECTED, DUPLICATE,
                                                                                 UNEXPLAINED)}
        reasons: dict[str, int] = {}
        for r in selected:
            if r["class"] == REJECTED:
                reasons[r["reason"] or "?"] = reasons.get(r["reason"] or "?", 0) + r["n"]
        total = sum(r["n"] for r in selected)
        return {"records": total, **by_class, "rejected_by_reason": dict(sorted(reasons.items())),
                "balanced": total == by_class[RATED] + by_class[REJECTED] + by_class[DUPLICATE]}

    sample = (classified.where(F.col("class") == UNEXPLAINED)
              .orderBy(F.col("partition").asc_nulls_first(), "offset").limit(UNEXPLAINED_SAMPLE).collect())
    lonely_rows = lonely.orderBy("reason", "cdr_id", "partition", "offset").limit(UNEXPLAINED_SAMPLE).collect()
    unexplained = [{"kind": "raw", "partition": r["partition"], "offset": r["offset"], "cdr_id": r["cdr_id"],
                    "reason": f"mediation says {r['mediation_outcome']}, but it is on neither output"}
                   for r in sample]
    unexplained += [{"kind": "output", "partition": r["partition"], "offset": r["offset"], "cdr_id": r["cdr_id"],
                     "reason": r["reason"]} for r in lonely_rows]
    return {
        "run": counts(rows),
        "period": counts([r for r in rows if r["in_period"]]),
        "orphans": lonely.count(),
        "unexplained_sample": unexplained,
    }
