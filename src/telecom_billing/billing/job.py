"""The billing job in Spark (docs/BILLING.md sections 3 to 5 and 9): `bill` chains the steps of
`charges` (and, in a final run from the topic, the late rules of `late`) into the frames of one
period's invoices, `BillingFrames`, which `invoices.collect` turns into invoice documents.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from pyspark.sql import functions as F

from ..refdata.catalog import Catalog
from ..refdata.subscribers import Subscriber
from .charges import (
    OK,
    allowance_candidates,
    allowance_use,
    apply_allowances,
    attach_subscribers,
    build_invoices,
    deduplicate,
    hourly_usage,
    status_totals,
    subscriber_frame,
    summarize,
    type_rated,
    typed_rated,
    usage_lines,
)
from .late import LateRule, late_cdrs, late_lines, late_status
from .period import Period

if TYPE_CHECKING:
    from pyspark.sql import Column, DataFrame


@dataclass
class BillingFrames:
    """The job's outputs as Spark frames; `summary` is cached and must be released with `close()`."""

    summary: DataFrame
    invoices: DataFrame
    hourly: DataFrame
    totals: DataFrame
    details: DataFrame  # every record of the run with its status (but `duplicate`): to list the unexplained
    billed_cdrs: DataFrame  # every CDR billed (usage and late usage): `ledger_rows`
    late_summary: DataFrame | None = None  # late CDRs per status, subscriber, origin period, service, zone
    kept: tuple[DataFrame, ...] = ()  # more cached frames to release

    def close(self) -> None:
        for frame in (self.summary, self.late_summary, *self.kept):
            if frame is not None:
                frame.unpersist()


def bill(rated: DataFrame, catalog: Catalog, subscribers: Sequence[Subscriber], period: Period,
         late: LateRule | None = None, ledger: bool = False) -> BillingFrames:
    """Rated CDRs (the columns of `RATED_FIELDS`) -> the frames of the period's invoices; with a
    `late` rule (a final run from the topic), the late CDRs of earlier final periods too. `ledger`:
    `billed_cdrs` will be written (a final from the topic), so each CDR's billing is kept (cached)
    for it instead of being computed again."""
    spark = rated.sparkSession
    subs = subscriber_frame(spark, subscribers, catalog, period)
    typed = type_rated(rated, catalog)
    cdrs = allowance_candidates(attach_subscribers(typed_rated(rated, catalog, period), subs), catalog)
    # Only what the subscriber window needs crosses its shuffle: every status but `duplicate` is
    # known before it, so the unexplained records are listed from `cdrs`.
    lean = cdrs.drop("local_date", "event_time", "msisdn", "problem")
    billed = apply_allowances(deduplicate(lean), catalog)
    if ledger:
        billed = billed.cache()
    summary = summarize(billed).cache()
    billed_cdrs = ledger_rows(billed, F.lit(period.label), "usage")
    late_summary = lines_late = None
    if late is not None:
        late_rows = late_cdrs(typed, subs, late, period, catalog)
        late_summary = late_status(late_rows).cache()
        lines_late = late_lines(late_summary)
        billed_cdrs = billed_cdrs.unionByName(ledger_rows(late_rows, F.col("origin_period"), "late_usage"))
    invoices = build_invoices(subs, usage_lines(summary), allowance_use(summary), lines_late, catalog)
    return BillingFrames(summary=summary, invoices=invoices, hourly=hourly_usage(summary),
                         totals=status_totals(summary), details=cdrs, billed_cdrs=billed_cdrs,
                         late_summary=late_summary, kept=(billed,) if ledger else ())


def ledger_rows(cdrs: DataFrame, origin_period: Column, line_type: str) -> DataFrame:
    """The `ok` CDRs of `cdrs` as `billed_cdrs.parquet` lists them: `cdr_id`, `origin_period`, the
    line `type` they are billed on, and an assembled CDR's `partials` and `incomplete` (null on a
    whole one, as on the rated CDR)."""
    return cdrs.where(F.col("status") == OK).select(
        "cdr_id", origin_period.alias("origin_period"), F.lit(line_type).alias("type"), "partials", "incomplete")
