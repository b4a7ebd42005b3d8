"""The usage monitor service: the Structured Streaming job from `cdr.rated` to `subscriber.alerts`."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from pathlib import Path

from ..infra.settings import Settings
from ..infra.spark import create_spark
from ..infra.topics import ensure_topics
from ..monitor.stream import MonitorProgress, start_monitor
from ..refdata.catalog import load_catalog
from ..stream import StreamOptions, run_until_stopped

Say = Callable[[str], None]


def run_monitor(settings: Settings, options: StreamOptions, catalog: Path | None = None, say: Say = print) -> None:
    """Create the topics if needed and run the monitor until it stops (`--once`: drained) or is
    stopped (SIGTERM / SIGINT)."""
    reference = load_catalog(catalog or settings.catalog_dir)
    ensure_topics(settings)
    spark = create_spark(dataclasses.replace(settings, driver_memory=settings.stream_driver_memory), "telecom-monitor",
                         ui_port=settings.spark_ui_port)
    listener = MonitorProgress(say)
    spark.streams.addListener(listener)
    checkpoint = str(settings.monitor_checkpoint)
    say(f"monitoring {settings.topic_rated} -> {settings.topic_alerts} "
        f"(catalog {reference.version}, trigger {options.trigger}, checkpoint {checkpoint})")
    try:
        run_until_stopped(start_monitor(spark, settings, reference, options, checkpoint), say)
    finally:
        spark.streams.removeListener(listener)
