"""The usage monitor service: the Structured Streaming job from `cdr.rated` to `subscriber.alerts`."""

from __future__ import annotations

import dataclasses
import json
from collections import Counter
from collections.abc import Callable
from pathlib import Path

from ..infra.settings import Settings
from ..infra.spark import create_spark
from ..infra.topics import ensure_topics
from ..monitor.meter import ALERT_KINDS
from ..monitor.stream import MonitorProgress, start_monitor
from ..refdata.catalog import load_catalog
from ..stream import StreamOptions, run_until_stopped
from ..tail import read_records

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


def alerts_by_kind(settings: Settings) -> Counter[str]:
    """The alerts on `subscriber.alerts` now, counted by kind (a payload that is not an alert: `unreadable`)."""
    counts: Counter[str] = Counter()
    for record in read_records(settings, settings.topic_alerts, from_beginning=True, follow=False, last=0, limit=None):
        try:
            kind = json.loads(record.value or b"")["kind"]
        except (ValueError, TypeError, KeyError):
            kind = "unreadable"
        counts[kind if kind in ALERT_KINDS else "unreadable"] += 1
    return counts


def describe_alerts(counts: Counter[str]) -> str:
    """"1,234 (allowance 900, spending_cap 300, roaming_data_cap 34)"."""
    kinds = ", ".join(f"{kind} {counts[kind]:,}" for kind in (*ALERT_KINDS, "unreadable") if counts[kind])
    return f"{sum(counts.values()):,}" + (f" ({kinds})" if kinds else "")
