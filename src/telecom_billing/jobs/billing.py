"""The billing service: one period from the topics or from files to a period folder (DESIGN.md
sections 7 and 7a), and its reconciliation.

`bill_period` decides draft or final from the request's clock, waits for the stream before a final,
reads exactly the offsets it records, bills (late CDRs included on a final) and publishes the folder
atomically. `reconcile_period` runs the same job and returns only the report.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

from pyspark.sql import functions as F

from ..billing import charges, invoices, job, late, live, reconcile
from ..billing.folder import period_dir, write_period
from ..billing.period import Period
from ..contracts.chains import MERGED, SOURCE, first_id, header, with_chains
from ..errors import TelecomError, UsageError
from ..infra.checkpoint import committed_offsets, records_behind
from ..infra.kafka_batch import read_topic, topic_offsets
from ..infra.settings import Settings
from ..mediation.timestamps import local_time
from ..pipeline import file_frame, rate_batch
from ..refdata.catalog import load_catalog
from ..refdata.subscribers import load_subscribers
from .results import load_if_configured

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession

    from ..billing.invoices import Billed
    from ..billing.job import BillingFrames
    from ..refdata.catalog import Catalog
    from ..refdata.subscribers import Subscriber

Say = Callable[[str], None]
WAIT_POLL_S = 1.0


@dataclass(frozen=True)
class BillRequest:
    """What to bill and from where (None: the settings' default)."""

    period: Period | None  # None: every period that is due (`bill --due` names no period)
    out: Path
    rated: Path | None = None  # files instead of the topic
    raw: Path | None = None
    rejected: Path | None = None
    no_raw: bool = False  # from the topics: skip the raw side of the reconciliation
    catalog: Path | None = None
    subscribers: Path | None = None
    force: bool = False
    as_of: datetime = field(default_factory=lambda: datetime.now(UTC))
    wait_s: float = 300.0
    deep: bool = False  # reconcile by mediating every raw record, not by the rated records' sources

    @property
    def from_topics(self) -> bool:
        return self.rated is None

    @property
    def the_period(self) -> Period:
        """The one period billed; a request for every due period has none."""
        if self.period is None:
            raise UsageError("this run bills one period: give --period YYYY-MM")
        return self.period


@dataclass
class Inputs:
    """Where the rated (and optionally raw and rejected) records come from, and how to say so."""

    rated: DataFrame
    source: dict[str, Any]
    raw: DataFrame | None = None
    rejected: DataFrame | None = None
    committed: dict[int, int] | None = None  # the stream's progress on cdr.raw (topics only)


@dataclass
class BillResult:
    folder: Path
    what: str  # written, replaced, confirmed, unchanged, or kept (a final period is never rewritten)
    status: str
    billed: Billed | None = None
    report: dict[str, Any] | None = None


# -- inputs --------------------------------------------------------------------------------------------


def file_inputs(spark: SparkSession, request: BillRequest) -> Inputs:
    """`--rated FILE` (and `--raw`/`--rejected` for the raw side): the files are the whole truth."""
    assert request.rated is not None
    files = charges.rated_files(request.rated)
    source: dict[str, Any] = {"kind": "files", "rated": [str(f) for f in files]}
    inputs = Inputs(rated=charges.read_rated_files(spark, files), source=source)
    if (request.raw is None) != (request.rejected is None):
        raise UsageError("--raw and --rejected go together (the raw side needs both)")
    if request.raw is None or request.rejected is None:
        return inputs
    if not request.raw.is_file():
        raise UsageError(f"--raw {request.raw}: no such file")
    rejected = request.rejected if request.rejected.is_file() else request.rejected / "rejected.jsonl"
    if not rejected.is_file():
        raise UsageError(f"--rejected {request.rejected}: no such file (or folder with rejected.jsonl)")
    source.update(raw=str(request.raw), rejected=[str(rejected)])
    inputs.raw = file_frame(spark, str(request.raw))
    inputs.rejected = rejected_frame(spark.read.text(str(rejected)).select(F.col("value")))
    return inputs


def topic_inputs(spark: SparkSession, settings: Settings, request: BillRequest,
                 raw_offsets: dict[int, tuple[int, int]] | None = None,
                 rated_offsets: dict[int, tuple[int, int]] | None = None) -> Inputs:
    """Batch reads of the topics at offsets taken now (or given: a final's snapshot). The stream's
    progress is read first, so every raw record it has committed has its outcome in what is read."""
    if request.raw is not None or request.rejected is not None:
        raise UsageError("--raw and --rejected read files: give the rated records with --rated too")
    committed = committed_offsets(settings.rating_checkpoint, settings.topic_raw)
    rated_offsets = rated_offsets or topic_offsets(settings, settings.topic_rated)
    source: dict[str, Any] = {"kind": "topics", "bootstrap_servers": settings.bootstrap_servers,
                              "rated": {"topic": settings.topic_rated, "offsets": offsets_json(rated_offsets)}}
    rated = read_topic(spark, settings, settings.topic_rated, rated_offsets, headers=not request.deep)
    keep: tuple[str, ...] = ("partition", "offset")
    if not request.deep:  # the raw records each names: the reconciliation's offsets (`reconcile.rated_sources`)
        rated = rated.withColumns({"source": header(rated["headers"], SOURCE),
                                   "merged": header(rated["headers"], MERGED)})
        keep = (*keep, "source", "merged")
    inputs = Inputs(rated=charges.parse_rated(rated, keep=keep), source=source, committed=committed)
    if request.no_raw:
        return inputs
    raw_offsets = raw_offsets or topic_offsets(settings, settings.topic_raw)
    rejected_offsets = topic_offsets(settings, settings.topic_rejected)
    source["raw"] = {"topic": settings.topic_raw, "offsets": offsets_json(raw_offsets)}
    source["rejected"] = {"topic": settings.topic_rejected, "offsets": offsets_json(rejected_offsets)}
    raw = with_chains(read_topic(spark, settings, settings.topic_raw, raw_offsets, headers=True))
    inputs.raw = raw.select("value", "topic", "partition", "offset", "timestamp", "first_id")
    inputs.rejected = rejected_frame(read_topic(spark, settings, settings.topic_rejected, rejected_offsets))
    return inputs


def offsets_json(offsets: dict[int, tuple[int, int]]) -> dict[str, list[int]]:
    return {str(p): [first, after] for p, (first, after) in sorted(offsets.items())}


def rejected_frame(lines: DataFrame) -> DataFrame:
    """Rejected records (RULES.md section 16) -> `partition`, `offset`, `reason`, `cdr_id`."""
    schema = "reason string, cdr_id string, source struct<topic: string, partition: int, offset: bigint>"
    parsed = lines.select(F.from_json(F.col("value").cast("string"), schema).alias("r"))
    return parsed.select(F.col("r.source.partition").alias("partition"), F.col("r.source.offset").alias("offset"),
                         F.col("r.reason").alias("reason"), F.col("r.cdr_id").alias("cdr_id"))


# -- waiting for the stream ------------------------------------------------------------------------------


def wait_for_stream(settings: Settings, wait_s: float, say: Say) -> dict[int, tuple[int, int]]:
    """Snapshot `cdr.raw`'s end offsets and wait (at most `wait_s`) until the stream has committed
    every record below them; returns the snapshot, or fails in one line."""
    snapshot = topic_offsets(settings, settings.topic_raw)
    started = time.monotonic()
    behind = records_behind(snapshot, committed_offsets(settings.rating_checkpoint, settings.topic_raw))
    if behind:
        say(f"  waiting for the stream: {behind:,} raw records behind (at most {wait_s:g} s)")
    while behind:
        if time.monotonic() - started >= wait_s:
            raise TelecomError(f"the stream is {behind:,} records behind {settings.topic_raw} after {wait_s:g} s "
                               f"(checkpoint {settings.rating_checkpoint}); nothing written - is `telecom stream` "
                               "running?")
        time.sleep(WAIT_POLL_S)
        behind = records_behind(snapshot, committed_offsets(settings.rating_checkpoint, settings.topic_raw))
    if time.monotonic() - started >= WAIT_POLL_S:
        say(f"  the stream caught up in {time.monotonic() - started:.0f} s")
    return snapshot


# -- the job ---------------------------------------------------------------------------------------------


@dataclass
class Reference:
    catalog: Catalog
    subscribers: list[Subscriber]


def load_reference(settings: Settings, request: BillRequest) -> Reference:
    return Reference(load_catalog(request.catalog or settings.catalog_dir),
                     load_subscribers(request.subscribers or settings.subscribers_file))


def raw_side(spark: SparkSession, inputs: Inputs, reference: Reference, period: Period) -> dict[str, Any] | None:
    """The reconciliation's raw side, when raw records were given: by offsets when the rated records
    name their raw records, else deep (`billing.reconcile`). Each input is read once (cached: by
    offsets, the raw records' coordinates and only the unnamed ones' bytes)."""
    if inputs.raw is None or inputs.rejected is None:
        return None

    cached: list[DataFrame] = []

    def once(frame: DataFrame) -> DataFrame:
        cached.append(frame.cache())
        return frame

    try:
        rated = once(inputs.rated.where("cdr_id IS NOT NULL").select(
            "cdr_id", "event_time", *[c for c in ("source", "merged") if c in inputs.rated.columns]))
        by_offsets = "source" in rated.columns and not rated.where("source IS NULL").limit(1).count()
        rejected, rated_ids = once(inputs.rejected), rated.select("cdr_id", "event_time")
        sources = once(reconcile.rated_sources(rated)) if by_offsets else None
        keys, unnamed = _keys_and_unnamed(inputs.raw, sources, once)
        outcomes = once(reconcile.outcomes_from_rating(
            rate_batch(spark, unnamed, reference.catalog, reference.subscribers, datetime.now(UTC))))
        classified, lonely = reconcile.classify_with_orphans(outcomes, keys, rated_ids, rejected, inputs.committed,
                                                             sources)
        if "first_id" in keys.columns and _has_recycled(keys):
            classified = reconcile.collapse_recycled(classified, keys)
        section = reconcile.raw_section(once(classified), once(lonely), reference.catalog, period)
        return {"method": "offsets" if sources is not None else "deep", **section}
    finally:
        for frame in cached:
            frame.unpersist()


def _keys_and_unnamed(raw: DataFrame, sources: DataFrame | None,
                      once: Callable[[DataFrame], DataFrame]) -> tuple[DataFrame, DataFrame]:
    """The coordinates of every raw record (with its chain, `first_id`, from the topics), and the raw
    records mediation must see again: those no rated record names (`sources`), or all (deep). By
    offsets, one cached read keeps the coordinates and only the unnamed records' bytes."""
    key_columns = ["partition", "offset", *(["timestamp", "first_id"] if "first_id" in raw.columns else [])]
    if sources is None:
        return once(raw.select(*key_columns)), raw
    named = sources.select("partition", "offset", F.lit(True).alias("_named"))
    marked = once(raw.join(named, ["partition", "offset"], "left")
                  .withColumn("value", F.when(F.col("_named").isNull(), F.col("value"))))
    return marked.select(*key_columns), marked.where("_named IS NULL")


def _has_recycled(chains: DataFrame) -> bool:
    """Any raw record recycled? (Collapsing chains costs a shuffle of every raw record; skip it when none is.)"""
    return bool(chains.where(chains["first_id"] != first_id()).limit(1).count())


@dataclass
class Run:
    """One billing run's results, before anything is written; `close()` releases the cached frames."""

    billed: Billed
    report: dict[str, Any]
    inputs: Inputs
    frames: BillingFrames
    status: str

    def close(self) -> None:
        self.frames.close()


def run_billing(spark: SparkSession, inputs: Inputs, reference: Reference, period: Period, status: str,
                finals: list[live.FinalPeriod], say: Say) -> Run:
    """Bill (late CDRs of earlier finals included when `finals` is given) and reconcile; nothing written."""
    started = _step(say, f"billing {period.label} ({status}, {reference.catalog.timezone}) for "
                         f"{len(reference.subscribers):,} subscribers from {_describe(inputs.source)}")
    late_rule = late.LateRule(finals, late.billed_ids(spark, finals)) if finals else None
    frames = job.bill(inputs.rated, reference.catalog, reference.subscribers, period, late_rule,
                      ledger=invoices.writes_ledger(status, inputs.source))
    try:
        billed = invoices.collect(frames, reference.catalog, reference.subscribers, period, status)
        say(f"  {len(billed.invoices):,} invoices in {time.monotonic() - started:.1f} s")
        raw = None
        if inputs.raw is not None:
            started = _step(say, "reconciling raw records against the rated and rejected outputs")
            raw = raw_side(spark, inputs, reference, period)
            say(f"  done in {time.monotonic() - started:.1f} s")
    except BaseException:
        frames.close()
        raise
    return Run(billed, reconcile.build_report(billed, raw), inputs, frames, status)


def bill_period(spark_factory: Callable[[], SparkSession], settings: Settings, request: BillRequest,
                say: Say = print) -> BillResult:
    """Bill one period and publish its folder (or leave a final one as it is)."""
    reference = load_reference(settings, request)
    period = request.the_period
    folder = period_dir(request.out, period)
    existing = live.folder_status(folder)
    if not request.from_topics:
        status = live.FINAL
    else:
        status = live.status_at(period, reference.catalog, request.as_of)
        if existing == live.FINAL and not request.force:
            return BillResult(folder, "kept", live.FINAL)
    replaceable = request.force or existing == live.DRAFT  # a draft is always replaced by the next run
    spark = spark_factory()
    finals: list[live.FinalPeriod] = []
    if not request.from_topics:
        inputs = file_inputs(spark, request)
    elif status == live.FINAL:
        say(f"final {period.label}: cut-off {live.instant_text(live.cutoff(period, reference.catalog))} has passed "
            f"(as of {live.instant_text(request.as_of)})")
        raw_snapshot = wait_for_stream(settings, request.wait_s, say)
        finals = [f for f in live.final_periods(request.out, settings.topic_rated) if f.period != period]
        inputs = topic_inputs(spark, settings, request, raw_offsets=raw_snapshot)
    else:
        inputs = topic_inputs(spark, settings, request)
    inputs.source["status"] = status
    if request.from_topics:  # the clock decided draft or final (files are final whatever the clock)
        inputs.source.update(as_of=live.instant_text(request.as_of),
                             cutoff=live.instant_text(live.cutoff(period, reference.catalog)))
    run = run_billing(spark, inputs, reference, period, status, finals, say)
    started = _step(say, f"writing {folder}")
    try:
        folder, what = write_period(
            request.out, period, replaceable,
            lambda tmp: invoices.write_contents(tmp, run.billed, run.frames, run.report, inputs.source))
    finally:
        run.close()
    say(f"  {what} in {time.monotonic() - started:.1f} s")
    load_if_configured(settings, request.out, settings.rerating_dir, period, request.force, say)
    return BillResult(folder, what, status, run.billed, run.report)


def reconcile_period(spark: SparkSession, settings: Settings, request: BillRequest, say: Say = print) -> dict[str, Any]:
    """The reconciliation of one period (`request.out`: the invoices folder). For a final period billed
    from the topic it covers what the final took in, and counts the period's late CDRs with the
    period that billed them."""
    reference = load_reference(settings, request)
    period = request.the_period
    final = None
    if request.from_topics:
        final = next((f for f in live.final_periods(request.out, settings.topic_rated)
                      if f.period == period), None)
    if final is None:
        inputs = file_inputs(spark, request) if not request.from_topics else topic_inputs(spark, settings, request)
        run = run_billing(spark, inputs, reference, period, live.FINAL, [], say)
        run.close()
        return run.report
    snapshot = live.snapshot_offsets(final.folder)
    inputs = topic_inputs(spark, settings, request, raw_offsets=snapshot.get("raw"),
                          rated_offsets=snapshot["rated"])
    run = run_billing(spark, inputs, reference, period, live.FINAL, [], say)
    run.close()
    everything = topic_inputs(spark, settings, BillRequest(period, request.out, no_raw=True))
    later = live.final_periods(request.out, settings.topic_rated)
    run.report["late"] = reconcile.late_section(everything.rated, reference.catalog, final, later)
    return run.report


def _step(say: Say, message: str) -> float:
    say(message)
    return time.monotonic()


def _describe(source: dict[str, Any]) -> str:
    if source["kind"] == "files":
        files = source["rated"]
        return files[0] if len(files) == 1 else f"{len(files)} files"
    return f"topic {source['rated']['topic']} at {source['bootstrap_servers']}"


# -- every period that is due ----------------------------------------------------------------------------


def periods_on_topic(spark: SparkSession, settings: Settings, timezone: str) -> list[Period]:
    """The months (local to `timezone`) of the rated CDRs on `cdr.rated` now."""
    rated = charges.parse_rated(read_topic(spark, settings, settings.topic_rated,
                                           topic_offsets(settings, settings.topic_rated)))
    month = F.date_format(local_time(F.to_timestamp("event_time"), timezone), "yyyy-MM")
    labels = [row[0] for row in rated.select(month.alias("m")).where("m IS NOT NULL").distinct().collect()]
    return sorted((Period.parse(label) for label in labels), key=lambda p: (p.year, p.month))


def due_periods(known: list[Period], current: Period, out: Path) -> list[Period]:
    """The periods a scheduled run bills: every known period not final yet (a draft inside its grace,
    a final after it) and the current one; in period order."""
    candidates = sorted({*known, current}, key=lambda p: (p.year, p.month))
    return [p for p in candidates if live.folder_status(period_dir(out, p)) != live.FINAL
            and (p.year, p.month) <= (current.year, current.month)]


def bill_due(spark_factory: Callable[[], SparkSession], settings: Settings, request: BillRequest,
             say: Say = print) -> list[BillResult | TelecomError]:
    """`bill --due`: drafts of the open periods and finals of the closed ones not final yet, each on its
    own; a period that fails (e.g. the stream is behind) does not stop the others."""
    reference = load_reference(settings, request)
    local_now = request.as_of.astimezone(ZoneInfo(reference.catalog.timezone))
    current = Period(local_now.year, local_now.month)
    known = periods_on_topic(spark_factory(), settings, reference.catalog.timezone)
    results: list[BillResult | TelecomError] = []
    for period in due_periods(known, current, request.out):
        try:
            results.append(bill_period(spark_factory, settings, dataclasses.replace(request, period=period), say))
        except TelecomError as exc:
            say(f"period {period.label}: {exc}")
            results.append(exc)
    return results
