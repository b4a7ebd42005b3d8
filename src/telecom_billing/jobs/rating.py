"""The rating service: the Structured Streaming job from `cdr.raw` to `cdr.rated` / `cdr.rejected`."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from pathlib import Path

from ..infra.settings import Settings
from ..infra.spark import create_spark
from ..infra.topics import ensure_topics
from ..refdata.catalog import load_catalog
from ..refdata.subscribers import load_subscribers
from ..stream import STOP_WAIT_S, ProgressPrinter, StreamOptions, run_until_stopped, start_stream

Say = Callable[[str], None]


def run_stream(settings: Settings, options: StreamOptions, catalog: Path | None = None,
               subscribers: Path | None = None, say: Say = print) -> None:
    """Create the topics if needed and run the streaming query until it stops (`--once`: drained) or
    is stopped (SIGTERM / SIGINT). The Spark session stays up for whoever runs next in this process."""
    reference = load_catalog(catalog or settings.catalog_dir)
    base = load_subscribers(subscribers or settings.subscribers_file)
    ensure_topics(settings)
    spark = create_spark(dataclasses.replace(settings, driver_memory=settings.stream_driver_memory), "telecom-stream",
                         ui_port=settings.spark_ui_port)
    if spark.sparkContext.uiWebUrl:
        say(f"Spark UI: {spark.sparkContext.uiWebUrl}")
    listener = ProgressPrinter(say)
    spark.streams.addListener(listener)
    checkpoint = str(settings.rating_checkpoint)
    say(f"rating {settings.topic_raw} -> {settings.topic_rated} / {settings.topic_rejected}, "
        f"partial records through {settings.topic_parts} "
        f"(catalog {reference.version}, {len(base)} subscribers, trigger {options.trigger}, checkpoint {checkpoint})")
    try:
        # Real-time mode's batches run for minutes by design: it stops at once (at-least-once either way).
        run_until_stopped(start_stream(spark, settings, reference, base, options, checkpoint), say,
                          stop_wait_s=0 if options.real_time else STOP_WAIT_S)
    finally:
        spark.streams.removeListener(listener)
