"""The stream driver: `cdr.raw` -> mediation + rating -> `cdr.rated` + `cdr.rejected`.

One Structured Streaming query with one Kafka sink (each row names its topic), checkpointed, so a
restart resumes where the last committed micro-batch ended. The sink is at-least-once: a batch
that was written but not committed is written again after a crash, and billing deduplicates by
`cdr_id`. Deduplication here keeps seen ids for `dedup_window` of arrival time (RULES.md 11).
"""

from __future__ import annotations

import dataclasses
import signal
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from types import FrameType
from typing import TYPE_CHECKING, Any

from pyspark.sql import DataFrame
from pyspark.sql import functions as F
from pyspark.sql.streaming import StreamingQueryListener

from .contracts.chains import RECYCLE_RUN, header
from .contracts.limits import MAX_RECORD_BYTES
from .contracts.records import KAFKA_COLUMNS, REJECTED
from .errors import TelecomError, UsageError
from .infra.kafka_clients import spark_kafka_options, spark_kafka_source_options
from .infra.settings import Settings
from .infra.topics import ensure_topics, parts_topic
from .mediation.dedup import dedup_key, drop_stream_duplicates
from .mediation.sessions import ASSEMBLED, SessionRules, assemble_sessions, stream_rules
from .output import to_kafka_records
from .pipeline import Reference, mediate, parts_from_json, rate, session_part
from .refdata.catalog import Catalog
from .refdata.subscribers import Subscriber

if TYPE_CHECKING:
    from pyspark.sql import SparkSession
    from pyspark.sql.streaming import StreamingQuery

# How long a stop waits for the batch in flight (docker-compose.yml gives the rating job 40 s to stop).
STOP_WAIT_S = 30.0
NO_DATA_BATCHES = "spark.sql.streaming.noDataMicroBatches.enabled"
# The sessions query's micro-batches (but `--once`): a processing-time `transformWithState` runs a
# batch at every trigger, data or not, so not every 2 s; a session closes at most this much later.
SESSIONS_TRIGGER = "10 seconds"


@dataclass(frozen=True)
class StreamOptions:
    trigger: str = "2 seconds"          # a processing-time interval, "once" (drain and exit) or "realtime:<d>"
    max_offsets_per_trigger: int | None = 500_000
    dedup_window: str = "24 hours"
    starting_offsets: str = "earliest"
    query_name: str = "cdr-rating"

    @property
    def real_time(self) -> bool:
        """Spark's real-time mode: one long-running task per partition, stateless queries only."""
        return self.trigger.startswith("realtime:")


def kafka_reader(spark: SparkSession, settings: Settings, topic: str, options: StreamOptions) -> Any:
    """A Kafka source of `topic` with the stream's options (where to start, how much per batch)."""
    reader = (spark.readStream.format("kafka").options(**spark_kafka_source_options(settings))
              .option("subscribe", topic)
              .option("startingOffsets", options.starting_offsets)
              .option("failOnDataLoss", "true"))
    if options.max_offsets_per_trigger and not options.real_time:  # real-time mode reads without a cap
        reader = reader.option("maxOffsetsPerTrigger", str(options.max_offsets_per_trigger))
    return reader


def rating_query_frame(spark: SparkSession, settings: Settings, ref: Reference, options: StreamOptions) -> DataFrame:
    """The rating query's (topic, key, value, headers) records for the Kafka sink: `cdr.raw` ->
    `cdr.rated`, `cdr.rejected`, and `cdr.parts` for the parts of partial records."""
    # A recycled copy's run (header `recycle_run`) is part of its deduplication key.
    raw = kafka_reader(spark, settings, settings.topic_raw, options).option("includeHeaders", "true").load().select(
        *KAFKA_COLUMNS, header(F.col("headers"), RECYCLE_RUN).alias("recycle_run"))
    now = F.current_timestamp()  # one value per micro-batch
    mediated = mediate(raw, ref, now, carry=("recycle_run",))
    if not options.real_time:  # real-time mode runs stateless queries only: billing drops the copies
        mediated = drop_stream_duplicates(mediated.withColumn("dedup_key", dedup_key()), options.dedup_window)
    return to_kafka_records(rate(mediated, ref), settings.topic_rated, settings.topic_rejected,
                            parts=(settings.topic_parts, session_part()))


def sessions_query_frame(spark: SparkSession, settings: Settings, ref: Reference, options: StreamOptions,
                         rules: SessionRules) -> DataFrame:
    """The sessions query's records for the Kafka sink: `cdr.parts` -> the sessions' verdicts and
    assembled CDRs -> `cdr.rated`, `cdr.rejected` (RULES.md section 18)."""
    values = kafka_reader(spark, settings, settings.topic_parts, options).load().select("value")
    parts = parts_from_json(values).withWatermark("event_ts", "0 seconds")
    judged = assemble_sessions(parts, rules).where(F.col("part_outcome").isin(ASSEMBLED, REJECTED))
    return to_kafka_records(rate(judged, ref), settings.topic_rated, settings.topic_rejected)


class ProgressPrinter(StreamingQueryListener):
    """One line per micro-batch: rows, rows/s, batch duration."""

    def __init__(self, out: Callable[[str], None]) -> None:
        self.out = out

    def onQueryStarted(self, event: Any) -> None:
        self.out(f"stream started: id {event.id}")

    def onQueryProgress(self, event: Any) -> None:
        p = event.progress
        if p.numInputRows == 0:
            return
        duration = p.durationMs.get("triggerExecution", 0)
        self.out(f"batch {p.batchId}: {p.numInputRows} rows in {duration} ms "
                 f"({p.processedRowsPerSecond:,.0f} rows/s)")

    def onQueryIdle(self, event: Any) -> None:
        pass

    def onQueryTerminated(self, event: Any) -> None:
        self.out("stream stopped" + (f": {event.exception.splitlines()[0]}" if event.exception else ""))


class RatingStream:
    """The stream's two queries: `rating` (`cdr.raw` -> mediation + rating) and `sessions` (the parts
    of partial records, `cdr.parts` -> assembled CDRs).

    A drain-and-exit run (`drain`, `--once`) starts `sessions` once `rating` has drained, so that it
    sees every part `rating` wrote, and stops it after its first batch without input: the batch Spark
    runs for the sessions' due timers, with the watermark the parts moved, which closes the sessions
    that timed out. (A processing-time `transformWithState` asks for another batch every time: Spark
    would never end the run by itself.)"""

    def __init__(self, rating: StreamingQuery, start_sessions: Callable[[], StreamingQuery], drain: bool) -> None:
        self.rating = rating
        self.drain = drain
        self._start_sessions = start_sessions
        self.sessions: StreamingQuery | None = None if drain else start_sessions()

    @property
    def queries(self) -> list[StreamingQuery]:
        return [q for q in (self.rating, self.sessions) if q is not None]

    @property
    def isActive(self) -> bool:  # StreamingQuery's spelling, for code that waits on either
        if self.drain:
            self._drain_step()
        return any(q.isActive for q in self.queries) or (self.sessions is None and self.exception() is None)

    def awaitTermination(self, timeout: float | None = None) -> bool:
        """True once both queries ended (within `timeout` seconds)."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while self.isActive:
            if deadline is not None and time.monotonic() >= deadline:
                return False
            time.sleep(0.1)
        return True

    def exception(self) -> Any:
        return next((q.exception() for q in self.queries if q.exception() is not None), None)

    def stop(self) -> None:
        for query in self.queries:
            query.stop()

    def _drain_step(self) -> None:
        if self.sessions is None:
            if not self.rating.isActive and self.rating.exception() is None:
                self.sessions = self._start_sessions()
            return
        progress = self.sessions.lastProgress
        if self.sessions.isActive and progress is not None and progress["numInputRows"] == 0:
            stop_between_batches(self.sessions)


def start_stream(spark: SparkSession, settings: Settings, catalog: Catalog, subscribers: list[Subscriber],
                 options: StreamOptions, checkpoint: str) -> RatingStream:
    """Start the rating query, and the sessions query beside it (after it for `--once`), each with its
    checkpoint (the sessions' in `<checkpoint>/sessions`). The parts topic between them is the
    stream's own: created here when missing."""
    ensure_topics(settings, [parts_topic(settings)])
    ref = Reference.build(spark, catalog, subscribers)
    rating = start_query(settings, rating_query_frame(spark, settings, ref, options), options, checkpoint, options.query_name)
    drain = options.trigger == "once"
    rules = stream_rules(settings.partial_timeout, drain)
    # Sessions need state: never real-time mode, whose queries are stateless.
    session_options = options if drain else dataclasses.replace(options, trigger=SESSIONS_TRIGGER)

    def start_sessions() -> StreamingQuery:
        frame = sessions_query_frame(spark, settings, ref, session_options, rules)
        return start_query(settings, frame, session_options, sessions_checkpoint(checkpoint),
                      f"{options.query_name}-sessions", no_data_batches=True)

    return RatingStream(rating, start_sessions, drain)


def sessions_checkpoint(checkpoint: str) -> str:
    return str(Path(checkpoint) / "sessions")


def start_query(settings: Settings, frame: DataFrame, options: StreamOptions, checkpoint: str, name: str,
           no_data_batches: bool = False) -> StreamingQuery:
    """Start `frame` (topic, key, value[, headers] records) into a Kafka sink, checkpointed."""
    spark = frame.sparkSession
    writer = (frame.writeStream.format("kafka").options(**spark_kafka_options(settings))
              .option("kafka.compression.type", "lz4")
              .option("kafka.linger.ms", "5")
              .option("kafka.acks", "all")
              # A rejected poison record carries its raw payload: allow large records through.
              .option("kafka.max.request.size", str(MAX_RECORD_BYTES))
              .option("checkpointLocation", checkpoint)
              .queryName(name))
    if options.trigger == "once":
        writer = writer.trigger(availableNow=True)
    elif options.real_time:
        # Real-time mode runs in Update mode only (every output row here is new: same result).
        writer = writer.outputMode("update").trigger(realTime=options.trigger.split(":", 1)[1])  # type: ignore[call-overload]
    else:
        writer = writer.trigger(processingTime=options.trigger)
    before = spark.conf.get(NO_DATA_BATCHES, "true") or "true"
    if options.trigger == "once" and not no_data_batches:
        # A drain-and-exit run skips the empty batch Spark runs after the last one to move the
        # watermark on (about a second): it would only evict deduplication state older than the
        # window, which the next run's first batch does as well. Read once, as the query starts.
        spark.conf.set(NO_DATA_BATCHES, "false")
    try:
        return writer.start()
    except Exception as exc:  # pyspark's analysis errors: report the first line, not a traceback
        raise TelecomError(f"cannot start the stream: {str(exc).splitlines()[0]}") from None
    finally:
        spark.conf.set(NO_DATA_BATCHES, before)


def run_until_stopped(stream: RatingStream | StreamingQuery, out: Callable[[str], None] = print,
                      stop_wait_s: float = STOP_WAIT_S) -> None:
    """Wait for the stream (the rating stream's queries, or one query); SIGTERM / SIGINT stop its
    queries between two micro-batches (`stop_between_batches`)."""
    stop = threading.Event()

    def request_stop(signum: int, _frame: FrameType | None) -> None:
        out(f"signal {signal.Signals(signum).name}: stopping after the batch in flight")
        stop.set()

    previous = {s: signal.signal(s, request_stop) for s in (signal.SIGTERM, signal.SIGINT)}
    try:
        while stream.isActive and stream.exception() is None and not stop.is_set():
            stream.awaitTermination(1)
        for query in stream.queries if isinstance(stream, RatingStream) else [stream]:  # one failed, or a stop
            if query.isActive and not stop_between_batches(query, stop_wait_s) and stop_wait_s > 0:
                out(f"a batch was still running after {stop_wait_s:.0f} s: stopped in it (what it wrote is written "
                    "again at the next start; billing bills a CDR once)")
        error = stream.exception()
        if error is not None:
            raise TelecomError(f"the stream failed: {str(error).splitlines()[0]}")
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler)


def stop_between_batches(query: StreamingQuery, wait_s: float = STOP_WAIT_S, poll_s: float = 0.01) -> bool:
    """Stop the query where no micro-batch is writing. Spark's `stop()` interrupts a batch in flight:
    the checkpoint has not committed it, so the next start runs it again, and whatever it had already
    written to Kafka is written twice (the sink is at-least-once). So wait, at most `wait_s`, until no
    trigger is active, or until the batch in flight has committed (a new `lastProgress`: the next one
    is then only planning, milliseconds old), and stop there. Returns False when the wait ran out and
    a batch was interrupted."""
    def last_batch() -> int:
        progress = query.lastProgress
        return int(progress["batchId"]) if progress else -1

    in_flight_after = last_batch()
    deadline = time.monotonic() + wait_s
    between = False
    while query.isActive and not between and time.monotonic() < deadline:
        between = not query.status["isTriggerActive"] or last_batch() != in_flight_after
        if not between:
            time.sleep(poll_s)
    query.stop()
    return between


def validate_trigger(text: str) -> str:
    if text == "once" or text.startswith("realtime:"):
        return text
    if not text.split() or not text.split()[0].isdigit():
        raise UsageError(f"--trigger: expected an interval like '2 seconds', 'once' or 'realtime:5 seconds', got {text!r}")
    return text


__all__ = [
    "ProgressPrinter",
    "RatingStream",
    "StreamOptions",
    "rating_query_frame",
    "run_until_stopped",
    "sessions_query_frame",
    "start_stream",
    "stop_between_batches",
    "validate_trigger",
]
