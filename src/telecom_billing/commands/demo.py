"""`telecom demo`: the whole pipeline on the embedded stack, end to end.

Starts the embedded broker (unless one already answers at the bootstrap servers), creates the
topics, runs every stage, stops the broker it started, and says where the output is.
"""

from __future__ import annotations

import argparse
import time

from ..settings import Settings, load_settings
from ..topics import ensure_topics
from .broker import broker_for

NAME = "demo"
HELP = "run the whole pipeline on the embedded Kafka broker and local Spark"


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--keep-broker", action="store_true", help="leave the broker running at the end")


def _stage(title: str) -> float:
    print(f"\n== {title}", flush=True)
    return time.monotonic()


def run_stages(settings: Settings) -> None:
    started = _stage("topics")
    ensure_topics(settings)
    print(f"topics ready in {time.monotonic() - started:.1f} s: "
          f"{settings.topic_raw}, {settings.topic_rated}, {settings.topic_rejected}")


def run(args: argparse.Namespace) -> int:
    settings = load_settings()
    broker = broker_for(settings)
    begun = _stage(f"broker ({settings.bootstrap_servers})")
    owned = broker.running_pid() is None
    pid = broker.start()
    print(f"broker {'started' if owned else 'already running'}: pid {pid}")
    try:
        run_stages(settings)
    finally:
        if owned and not args.keep_broker:
            broker.stop()
            print("\nbroker stopped")
    print(f"demo finished in {time.monotonic() - begun:.0f} s")
    return 0
