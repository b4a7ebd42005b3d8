"""Reconciliation (DESIGN.md sections 4 and 7): every record accounted for, every amount explained.

Two halves, one report (`reconciliation.json`, written by `telecom bill` into the period folder and
by `telecom reconcile`):

* **raw side** (when raw records are available): each raw record is `rated` (the rated output
  names it), `rejected` (its source partition/offset is on the rejected output, with the reason
  found there) or `duplicate` (a later raw copy of a rated `cdr_id`); a record with none of these at
  or beyond the stream's committed offsets is `in_flight` (DESIGN.md 7a: the stream has not reached
  it yet); anything else is unexplained. The *classification* comes from what the pipeline actually
  wrote. Mediation is re-run only to learn a raw record's `cdr_id` and event time (legacy ids are
  derived), and only where the outputs do not say them:
  - **by offsets** (the topics: every rated record names its raw record in its `source` header,
    `contracts.chains.SOURCE`): the raw records the rated output names are `rated` by set
    arithmetic on `partition:offset`; mediation runs on the rest only (the rejected, the
    duplicates, the in-flight: a few percent);
  - **deep** (files, rated records without the header, or `telecom reconcile --deep`): mediation
    runs on every raw record and a rated id's first raw record is the rated one. It is the
    independent check: it does not trust the stream's word on which record it rated.
* **billing side**: rated records of the period (with copies), duplicates dropped, CDRs billed, and
  the money trail: rated charges - allowance inclusions = billed amounts (exact, at the rating
  scale), then usage lines (each rounded to 2 places) - billed amounts = the rounding drift, at
  most half a cent per usage line.
"""

from __future__ import annotations

from decimal import Decimal
from typing import TYPE_CHECKING, Any

from pyspark.sql import Window
from pyspark.sql import functions as F

from ..contracts import schemas
from ..contracts.chains import first_id, latest_members, parse_position
from ..contracts.limits import UNEXPLAINED_SAMPLE
from ..contracts.records import HELD, MERGED, RATED, REJECTED
from ..mediation.timestamps import local_time
from ..refdata.catalog import Catalog
from .charges import DUPLICATE, INVALID, NO_SUBSCRIBER, OK, UNREADABLE, typed_rated
from .invoices import Billed, money
from .live import FinalPeriod, taken_in
from .period import Period

if TYPE_CHECKING:
    from pyspark.sql import Column, DataFrame


UNEXPLAINED = "unexplained"
IN_FLIGHT = "in_flight"
LATE = "late"
OUTCOME_COLUMNS = ("partition int, offset bigint, outcome string, reason string, cdr_id string, event_time string, "
                   "session_id string")


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
    section: dict[str, Any] = {
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
    if billed.late_status:
        section["late_billed"] = late_billed(billed)
    return section


def late_billed(billed: Billed) -> dict[str, Any]:
    """Late CDRs of earlier final periods this final run found: billed, copies dropped, unexplained."""
    def count(status: str) -> int:
        return int(billed.late_status.get(status, {}).get("cdrs") or 0)

    lines = [line for invoice in billed.invoices for line in invoice["lines"] if line["type"] == "late_usage"]
    by_origin: dict[str, int] = {}
    for line in lines:
        by_origin[line["origin_period"]] = by_origin.get(line["origin_period"], 0) + line["cdr_count"]
    return {
        "billed": count(OK),
        "duplicates": count(DUPLICATE),
        "invalid": count(INVALID),
        "no_subscriber": count(NO_SUBSCRIBER),
        "rated_charges": _places(billed.late_status.get(OK, {}).get("billed_amount"), billed.catalog.rounding_decimals),
        "amount": money(sum((Decimal(line["amount"]) for line in lines), Decimal(0))),
        "lines": len(lines),
        "by_origin_period": dict(sorted(by_origin.items())),
    }


def build_report(billed: Billed, raw: dict[str, Any] | None) -> dict[str, Any]:
    """The whole report; `raw` is `raw_section(...)` or None when no raw records were given."""
    billing = billing_section(billed)
    unexplained = list(billed.unexplained)
    unexplained_total = sum(billing["rated"][k] for k in ("invalid", "no_subscriber", "unreadable"))
    if "late_billed" in billing:
        unexplained_total += billing["late_billed"]["invalid"] + billing["late_billed"]["no_subscriber"]
    if raw is not None:
        unexplained += raw.pop("unexplained_sample")
        unexplained_total += raw["run"][UNEXPLAINED] + raw["orphans"]
    return {
        schemas.FIELD: schemas.RECONCILIATION,
        "period": billed.period.label,
        "status": billed.invoice_status,
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
    """`pipeline.rate_batch(...)`'s frame as `OUTCOME_COLUMNS`: one row per raw record (`session_id`:
    a part's that passed its own checks, else null)."""
    return outcome.select(F.col("partition").cast("int"), F.col("offset").cast("bigint"), "outcome", "reason",
                          "cdr_id", "event_time", "session_id")


def classify_raw(outcomes: DataFrame, rated: DataFrame, rejected: DataFrame,
                 committed: dict[int, int] | None = None, rated_elsewhere: bool = False) -> DataFrame:
    """One row per raw record with its `class` and, for rejections, the reason actually written.

    `outcomes`: `OUTCOME_COLUMNS` (mediation re-run on the raw records); `rated`: the rated output
    (`cdr_id`, `event_time`); `rejected`: the rejected output (`partition`, `offset`, `reason`,
    `cdr_id`). A raw record is rejected when its source is on the rejected output; else rated when its
    `cdr_id` is on the rated output and it is the first raw record with that id; a later one is a
    duplicate. A part of a partial record (DESIGN.md 7c) that mediation merges is merged when its
    session's assembled CDR (`cdr_id` = `session_id`) is on either output, a part mediation finds a
    duplicate is one, and a part of a session on neither output is held (the stream waits for the
    rest of it). Anything else is in flight when at or beyond `committed` (partition -> the
    stream's next offset; None: files, nothing is in flight), else unexplained. `rated_elsewhere`:
    the outcomes are the raw records the rated output does not name (`rated_by_source` has the
    others), so one with a rated id is a copy.
    """
    ids = rated.groupBy("cdr_id").agg(F.min("event_time").alias("rated_event_time"))
    on_output = ids.select("cdr_id").unionByName(rejected.where(F.col("cdr_id").isNotNull()).select("cdr_id"))
    outcomes = outcomes.join(on_output.distinct().select(F.col("cdr_id").alias("session_id"),
                                                         F.lit(True).alias("_closed")), "session_id", "left")
    sources = rejected.select(F.col("partition").alias("_p"), F.col("offset").alias("_o"),
                              F.col("reason").alias("written_reason")).dropDuplicates(["_p", "_o"])
    on_source = F.col("partition").eqNullSafe(F.col("_p")) & (F.col("offset") == F.col("_o"))
    joined = outcomes.join(sources, on_source, "left").join(ids, "cdr_id", "left")
    is_rated = F.col("rated_event_time").isNotNull() & F.col("written_reason").isNull()
    if rated_elsewhere:
        first_rated = F.lit(False)
    else:  # the first raw record of an id that is not on the rejected output is the rated one
        first = Window.partitionBy("cdr_id").orderBy(F.when(is_rated, 0).otherwise(1),
                                                     F.col("partition").asc_nulls_first(), "offset")
        joined = joined.withColumn("_n", F.when(is_rated, F.row_number().over(first)))
        first_rated = is_rated & (F.col("_n") == 1)
    part, closed = F.col("session_id").isNotNull(), F.col("_closed").isNotNull()
    klass = (F.when(F.col("written_reason").isNotNull(), F.lit(REJECTED))
             .when(first_rated, F.lit(RATED))
             .when(is_rated, F.lit(DUPLICATE))
             .when(part & closed & (F.col("outcome") == MERGED), F.lit(MERGED))
             .when(part & (F.col("outcome") == DUPLICATE), F.lit(DUPLICATE))
             .when(_beyond(committed), F.lit(IN_FLIGHT))
             .when(part & ~closed, F.lit(HELD))
             .otherwise(F.lit(UNEXPLAINED)))
    return joined.select(
        "partition", "offset", "cdr_id", klass.alias("class"),
        F.coalesce(F.col("written_reason"), F.when(~is_rated, F.col("reason"))).alias("reason"),
        F.coalesce(F.col("rated_event_time"), F.col("event_time")).alias("event_time"),
        F.col("outcome").alias("mediation_outcome"),
    )


def rated_sources(rated: DataFrame) -> DataFrame:
    """The raw records the rated output names: in its `source` header (`class` rated) and, for an
    assembled CDR, its `merged` header (`class` merged): `partition`, `offset`, `cdr_id`,
    `event_time`, `class`, once each (a rated record the at-least-once sink wrote twice names the
    same raw records). `rated`: the parsed rated records with their `source` and `merged` headers."""
    named = rated.where(F.col("source").isNotNull())
    first = named.select(*parse_position(F.col("source")), "cdr_id", "event_time", F.lit(RATED).alias("class"))
    others = named.where(F.col("merged").isNotNull()).select(
        F.explode(F.split("merged", ",")).alias("_position"), "cdr_id", "event_time").select(
        *parse_position(F.col("_position")), "cdr_id", "event_time", F.lit(MERGED).alias("class"))
    return first.unionByName(others).dropDuplicates(["partition", "offset"])


def rated_by_source(raw: DataFrame, sources: DataFrame) -> DataFrame:
    """`classify_raw`'s rows for the raw records the rated output names: rated or merged, no mediation."""
    return raw.select("partition", "offset").join(sources, ["partition", "offset"]).select(
        "partition", "offset", "cdr_id", "class", F.lit(None).cast("string").alias("reason"),
        "event_time", F.col("class").alias("mediation_outcome"))


def classify_with_orphans(outcomes: DataFrame, keys: DataFrame, rated: DataFrame, rejected: DataFrame,
                          committed: dict[int, int] | None = None,
                          sources: DataFrame | None = None) -> tuple[DataFrame, DataFrame]:
    """Every raw record classified, and the output records no raw record explains. Deep when
    `sources` is None (`outcomes` covers every raw record); by offsets otherwise (`sources`:
    `rated_sources`; `outcomes` covers the raw records they do not name; `keys`: the coordinates of
    every raw record)."""
    classified = classify_raw(outcomes, rated, rejected, committed, rated_elsewhere=sources is not None)
    if sources is None:
        return classified, orphans(outcomes, rated, rejected)
    return (classified.unionByName(rated_by_source(keys, sources)), orphans_by_source(keys, sources, rejected))


def collapse_recycled(classified: DataFrame, chains: DataFrame) -> DataFrame:
    """One row per chain of a raw record and its recycled copies (DESIGN.md 7b, `contracts.chains`):
    the latest member's classification (`rated` when any member was rated), with
    `recycled_reason`, the first member's rejection reason, when the chain has been recycled.
    `chains`: `partition`, `offset`, `timestamp`, `first_id` of every raw record."""
    chain = Window.partitionBy("first_id")
    joined = classified.join(chains, ["partition", "offset"], "left").withColumns({
        "_members": F.count(F.lit(1)).over(chain),
        "_first_reason": F.max(F.when(first_id() == F.col("first_id"), F.col("reason"))).over(chain),
    })
    latest = latest_members(joined, worse_first=F.col("class") != RATED)
    return latest.withColumn("recycled_reason", F.when(F.col("_members") > 1, F.col("_first_reason"))).drop(
        "_members", "_first_reason", "first_id", "timestamp")


def _beyond(committed: dict[int, int] | None) -> Column:
    """The raw record's offset is one the stream has not committed yet."""
    if committed is None:
        return F.lit(False)
    if not committed:
        return F.lit(True)
    reached = F.create_map(*[part for p, o in sorted(committed.items()) for part in (F.lit(p), F.lit(o))])
    return F.coalesce(F.col("offset") >= F.coalesce(F.element_at(reached, F.col("partition")), F.lit(0)), F.lit(True))


def orphans(outcomes: DataFrame, rated: DataFrame, rejected: DataFrame) -> DataFrame:
    """Output records no raw record explains (deep: by `cdr_id`): rated ids no raw record has,
    rejections of no raw record. `outcomes`: every raw record's."""
    raw_ids = outcomes.where(F.col("cdr_id").isNotNull()).select("cdr_id").distinct()
    lonely_rated = rated.select("cdr_id", "event_time").join(raw_ids, "cdr_id", "left_anti").select(
        "cdr_id", "event_time", F.lit(None).cast("int").alias("partition"), F.lit(None).cast("bigint").alias("offset"))
    return _orphans(lonely_rated, outcomes, rejected)


def orphans_by_source(raw: DataFrame, sources: DataFrame, rejected: DataFrame) -> DataFrame:
    """Output records no raw record explains (by offsets): rated records naming no raw record of
    `raw`, rejections of no raw record."""
    lonely_rated = sources.join(raw.select("partition", "offset"), ["partition", "offset"], "left_anti")
    return _orphans(lonely_rated.select("cdr_id", "event_time", F.col("partition").cast("int"),
                                        F.col("offset").cast("bigint")), raw, rejected)


def _orphans(lonely_rated: DataFrame, raw: DataFrame, rejected: DataFrame) -> DataFrame:
    keys = raw.select(F.col("partition").alias("_p"), F.col("offset").alias("_o"))
    on_source = F.col("partition").eqNullSafe(F.col("_p")) & (F.col("offset") == F.col("_o"))
    lonely_rejected = rejected.join(keys, on_source, "left_anti").select(
        F.lit("rejected output without a raw record").alias("reason"), F.lit(None).cast("string").alias("cdr_id"),
        F.lit(None).cast("string").alias("event_time"), "partition", "offset")
    return lonely_rated.select(F.lit("rated output without a raw record").alias("reason"), "cdr_id", "event_time",
                               "partition", "offset").unionByName(lonely_rejected)


def raw_section(classified: DataFrame, lonely: DataFrame, catalog: Catalog, period: Period) -> dict[str, Any]:
    """Counts per class for the whole run and for the period (by the event's local month), rejections
    by reason, and a sample of the unexplained records."""
    local = F.to_date(local_time(F.to_timestamp("event_time"), catalog.timezone))
    in_period = F.coalesce(local.between(F.lit(period.first_day), F.lit(period.last_day)), F.lit(False))
    if "recycled_reason" not in classified.columns:
        classified = classified.withColumn("recycled_reason", F.lit(None).cast("string"))
    rows = (classified.withColumn("in_period", in_period)
            .groupBy("in_period", "class", "reason", "recycled_reason").agg(F.count(F.lit(1)).alias("n")).collect())

    def counts(selected: list[Any]) -> dict[str, Any]:
        by_class = {k: sum(r["n"] for r in selected if r["class"] == k)
                    for k in (RATED, REJECTED, DUPLICATE, MERGED, IN_FLIGHT, HELD, UNEXPLAINED)}
        reasons: dict[str, int] = {}
        for r in selected:
            if r["class"] == REJECTED:
                reasons[r["reason"] or "?"] = reasons.get(r["reason"] or "?", 0) + r["n"]
        recycled: dict[str, int] = {}
        for r in selected:
            if r["recycled_reason"] is not None:
                recycled[r["recycled_reason"]] = recycled.get(r["recycled_reason"], 0) + r["n"]
        total = sum(r["n"] for r in selected)
        return {"records": total, **by_class, "rejected_by_reason": dict(sorted(reasons.items())),
                "recycled": dict(sorted(recycled.items())),
                "balanced": total == sum(by_class[k] for k in (RATED, REJECTED, DUPLICATE, MERGED, IN_FLIGHT, HELD))}

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


# -- late CDRs of a final period --------------------------------------------------------------------------


def late_section(rated: DataFrame, catalog: Catalog, final: FinalPeriod, finals: list[FinalPeriod]) -> dict[str, Any]:
    """The rated CDRs of a final period found beyond the offsets its final took in (`rated`: the whole
    topic with `partition` and `offset`): how many, and which final period billed them (`pending`:
    none yet; `duplicate`: a copy of a CDR billed before)."""
    bounds = taken_in([final])
    reached = F.create_map(*[part for p, o in sorted(bounds.items()) for part in (F.lit(p), F.lit(o))]) \
        if bounds else F.create_map().cast("map<int,bigint>")
    late = (typed_rated(rated, catalog, final.period).where(F.col("event_ts").isNotNull())
            .where(F.col("offset") >= F.coalesce(F.element_at(reached, F.col("partition")), F.lit(0)))
            .select("cdr_id", "partition", "offset"))
    spark = rated.sparkSession
    billed = [spark.read.parquet(str(f.billed_cdrs)).where(F.col("origin_period") == final.period.label)
              .select("cdr_id", F.when(F.col("type") == "usage", F.lit(DUPLICATE))
                      .otherwise(F.lit(f.period.label)).alias("billed_in"))
              for f in finals if f.billed_cdrs.is_file()]
    if billed:
        where = billed[0]
        for other in billed[1:]:
            where = where.unionByName(other)
        late = late.join(where.groupBy("cdr_id").agg(F.min("billed_in").alias("billed_in")), "cdr_id", "left")
    else:
        late = late.withColumn("billed_in", F.lit(None).cast("string"))
    first = Window.partitionBy("cdr_id").orderBy("partition", "offset")
    late = late.withColumn("billed_in", F.when(F.row_number().over(first) > 1, F.lit(DUPLICATE))
                           .otherwise(F.col("billed_in")))
    rows = late.groupBy("billed_in").count().collect()
    counts = {(r["billed_in"] or "pending"): r["count"] for r in rows}
    return {
        "records": sum(counts.values()),
        "billed_in": {k: v for k, v in sorted(counts.items()) if k not in ("pending", DUPLICATE)},
        "duplicates": counts.get(DUPLICATE, 0),
        "pending": counts.get("pending", 0),
    }
