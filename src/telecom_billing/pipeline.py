"""Mediation + rating as one chain of named stages: one code path, two drivers (DESIGN.md section 1).

    mediate: decode -> detect_format -> parse_numbers -> check_required -> measure_usage
             -> normalize_msisdns -> parse_event_time -> check_msisdns -> check_event_time
             -> check_future -> with_local_time -> find_subscriber -> check_partial -> identify
    (deduplication: the stream drops copies within its window, `stream.py`; the file driver and the
     reconciliation rank copies over the whole input, `rate_batch`)
    rate:    find_rate -> decide -> price

Deduplication sits between the halves as it sits between the checks (RULES.md section 1), and its
shuffle carries only `MEDIATED_COLUMNS`: the narrow normalized CDR and the raw text.

The order is also the generated code's: the exact paths for odd values are interpreted
(`mediation.columns.let`), so the projection holding them is compiled on its own, and cuts the
fused code around it. `from_json`, the numbers' exact path, the MSISDNs' and event time's (one
projection for both), deduplication's shuffle and the output's rejections cut the chain into fused
stages that each stay below HotSpot's 8,000-byte limit (tests/stages/test_codegen.py).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime
from functools import partial
from typing import TYPE_CHECKING

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F

from .contracts.reasons import PRECEDENCE, Reason
from .contracts.records import DUPLICATE, KAFKA_COLUMNS, MERGED, RATED, REJECTED
from .mediation.columns import problem
from .mediation.decode import decode
from .mediation.dedup import deduplicated, mark_duplicates
from .mediation.enrich import find_subscriber, subscriber_frame
from .mediation.formats import check_required, detect_format
from .mediation.identify import identify
from .mediation.msisdn import check_msisdns, normalize_msisdns
from .mediation.numbers import parse_numbers
from .mediation.partials import SESSION_COLUMNS, check_partial
from .mediation.sessions import ASSEMBLED, FILE_RULES, SessionRules, assemble_sessions
from .mediation.timestamps import check_event_time, check_future, clock, parse_event_time, with_local_time
from .mediation.usage import measure_usage
from .outcome import decide
from .rating.rate import find_rate, price
from .rating.tariff import Tariff
from .refdata.catalog import Catalog
from .refdata.subscribers import Subscriber

if TYPE_CHECKING:
    from pyspark.sql import SparkSession


@dataclass(frozen=True)
class Reference:
    """What a job rates against: the compiled catalog and the subscriber lookup."""

    tariff: Tariff
    subscribers: DataFrame

    @property
    def catalog(self) -> Catalog:
        return self.tariff.catalog

    @classmethod
    def build(cls, spark: SparkSession, catalog: Catalog, subscribers: Iterable[Subscriber]) -> Reference:
        tariff = Tariff(catalog)
        return cls(tariff, subscriber_frame(spark, subscribers, tariff.plans))


# What rating and the output need from mediation (and what deduplication's shuffle carries).
MEDIATED_COLUMNS = (
    "value", "topic", "partition", "offset", "timestamp", "text", "cdr_id", "known_msisdn", "source_format",
    "record_type", "layout", "field_states", "event_time", "msisdn", "other_party", "direction", "duration_sec",
    "bytes_up", "bytes_down", "quantity", "cell_id", "technology", "visited_country", "plan_id", "plan_index",
    "local_date", "local_weekday", "local_minute", "processed_at", "checks_passed",
    "part", "session_id", "sequence", "partial", "partial_state", *SESSION_COLUMNS,
    *[problem(r) for r in PRECEDENCE if r != Reason.NO_RATE],
)


# What a part carries on `cdr.parts` from the rating query to the sessions query (stream.py): what
# its session, rating and the output need. The rest of `MEDIATED_COLUMNS` is known for a part that got
# there: it passed every check of mediation (`parts_from_json`).
PART_SCHEMA = (
    "text string, topic string, partition int, offset bigint, timestamp timestamp, cdr_id string, "
    "known_msisdn string, source_format string, record_type string, layout int, field_states bigint, "
    "event_time string, msisdn string, other_party string, direction string, duration_sec bigint, bytes_up bigint, "
    "bytes_down bigint, quantity bigint, cell_id string, technology string, visited_country string, plan_id string, "
    "plan_index int, local_date date, local_weekday int, local_minute int, processed_at string, checks_passed int, "
    "session_id string, sequence bigint, partial string"
)
PART_COLUMNS = tuple(field.split()[0] for field in PART_SCHEMA.split(", "))

Stage = Callable[[DataFrame], DataFrame]


def mediation_stages(ref: Reference, clock: DataFrame) -> list[tuple[str, Stage]]:
    """The mediation stages in order, bound to the reference data and the processing time
    (`mediation.timestamps.clock`)."""
    cat = ref.catalog
    return [
        ("decode", decode),
        ("detect_format", detect_format),
        ("parse_numbers", parse_numbers),
        ("check_required", check_required),
        ("measure_usage", measure_usage),
        ("normalize_msisdns", partial(normalize_msisdns, home_country_code=cat.home_country_code)),
        ("parse_event_time", parse_event_time),
        ("check_msisdns", check_msisdns),
        ("check_event_time", check_event_time),
        ("check_future", partial(check_future, clock=clock)),
        ("with_local_time", partial(with_local_time, timezone=cat.timezone)),
        ("find_subscriber", partial(find_subscriber, subscribers=ref.subscribers)),
        ("check_partial", check_partial),
        ("identify", identify),
    ]


def rating_stages(ref: Reference) -> list[tuple[str, Stage]]:
    return [
        ("find_rate", partial(find_rate, tariff=ref.tariff)),
        ("decide", decide),
        ("price", partial(price, tariff=ref.tariff)),
    ]


def mediate(raw: DataFrame, ref: Reference, now: Column, carry: tuple[str, ...] = ()) -> DataFrame:
    """Raw rows (`KAFKA_COLUMNS`) -> `MEDIATED_COLUMNS`: normalized, checked, enriched, identified.
    `carry`: more columns of `raw`, passed through unchanged."""
    mediated = raw.select(*KAFKA_COLUMNS, *carry)
    for _, stage in mediation_stages(ref, clock(raw.sparkSession, now)):
        mediated = mediated.transform(stage)
    return mediated.select(*MEDIATED_COLUMNS, *carry)


def rate(mediated: DataFrame, ref: Reference) -> DataFrame:
    """Mediated rows -> their outcome: `reason` / `detail` for a rejection, the rated fields otherwise."""
    for _, stage in rating_stages(ref):
        mediated = mediated.transform(stage)
    return mediated


def session_part() -> Column:
    """A part that passed every check of mediation, its own included: it goes to its session once
    deduplication by `cdr_id` has let it through (the stream drops the copies, `rate_batch` marks them)."""
    return F.col("part") & deduplicated()


def to_sessions() -> Column:
    """`session_part` and not a copy: its session judges it (`rate_batch`)."""
    return session_part() & ~F.col("duplicate")


def judge_parts(ranked: DataFrame, rules: SessionRules) -> DataFrame:
    """`mark_duplicates`' rows -> the same, each part replaced by its session's verdict
    (`part_outcome`, `mediation.sessions`; null for the rest). Whole records go around the sessions."""
    parts = ranked.where(to_sessions()).drop("duplicate")
    rest = ranked.where(~to_sessions()).withColumn("part_outcome", F.lit(None).cast("string"))
    judged = assemble_sessions(parts, rules).withColumn("duplicate", F.col("part_outcome") == DUPLICATE)
    return rest.unionByName(judged)


def rate_batch(spark: SparkSession, raw: DataFrame, catalog: Catalog, subscribers: Iterable[Subscriber],
               now: datetime) -> DataFrame:
    """Mediate, deduplicate, assemble and rate a static frame of raw records (file driver,
    reconciliation): every raw row with its `outcome`, "rated", "rejected", "duplicate" or "merged"
    (a part beyond the first of an assembled CDR; the first carries the assembled CDR).

    Consumers that split the outcomes cache the frame first: a filter on `reason` would be pushed
    into the rating stages and evaluate the decision twice in one fused method.
    """
    ref = Reference.build(spark, catalog, subscribers)
    ranked = mediate(raw, ref, F.lit(now).cast("timestamp")).transform(mark_duplicates)
    judged = judge_parts(ranked, FILE_RULES)
    outcome = (F.when(F.col("duplicate"), F.lit(DUPLICATE)).when(F.col("part_outcome") == MERGED, F.lit(MERGED))
               .when(F.col("reason").isNull(), F.lit(RATED)).otherwise(F.lit(REJECTED)))
    return rate(judged, ref).withColumn("outcome", outcome)


def parts_from_json(values: DataFrame) -> DataFrame:
    """`cdr.parts` records (`value`) -> `MEDIATED_COLUMNS` (every check passed) and `event_ts`, the
    column of the sessions' watermark."""
    parts = values.select(F.from_json(F.col("value").cast("string"), PART_SCHEMA).alias("p")).select("p.*")
    passed = {problem(r): F.lit(False) for r in PRECEDENCE if r != Reason.NO_RATE}
    return parts.withColumns({
        "value": F.lit(None).cast("binary"), "part": F.lit(True), "partial_state": F.lit(0), **passed,
        **{name: F.lit(None).cast(kind) for name, kind in SESSION_COLUMNS.items()},
    }).select(*MEDIATED_COLUMNS, F.to_timestamp("event_time").alias("event_ts"))


def session_counts(outcome: DataFrame) -> dict[str, int]:
    """`rate_batch`'s assembled CDRs (rated or rejected): how many sessions were complete, incomplete."""
    rows = outcome.where(F.col("part_outcome") == ASSEMBLED).groupBy("incomplete").count().collect()
    by_state = {bool(r["incomplete"]): r["count"] for r in rows}
    return {"complete": by_state.get(False, 0), "incomplete": by_state.get(True, 0)}


def file_frame(spark: SparkSession, path: str) -> DataFrame:
    """A JSONL file (or folder) as Kafka-shaped rows: one record per `\\n`-separated line.

    Spark's text source keeps each line's bytes as they are (invalid UTF-8 included), so the line
    is re-read as binary. `offset` is the 0-based line number across the input in file order.
    """
    lines = spark.read.option("lineSep", "\n").text(path)
    raw = F.col("value").cast("binary")
    value = F.when(F.substring(raw, -1, 1) == F.lit(b"\r"), raw.substr(F.lit(1), F.length(raw) - 1)).otherwise(raw)
    df = lines.select(value.alias("value"), F.spark_partition_id().alias("_pid"),
                      F.monotonically_increasing_id().alias("_mid"))
    counts = sorted(df.groupBy("_pid").count().collect())
    starts, total = {}, 0
    for row in counts:
        starts[row["_pid"]] = total
        total += row["count"]
    first = F.lit(0).cast("bigint")
    for pid, start in starts.items():
        first = F.when(F.col("_pid") == pid, F.lit(start).cast("bigint")).otherwise(first)
    offset = first + F.col("_mid") - F.shiftleft(F.col("_pid").cast("bigint"), 33)
    return df.select("value", F.lit(None).cast("string").alias("topic"), F.lit(None).cast("int").alias("partition"),
                     offset.alias("offset"), F.lit(None).cast("timestamp").alias("timestamp"))
