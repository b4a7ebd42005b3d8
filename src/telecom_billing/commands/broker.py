"""`telecom broker start|stop|status`: the embedded single-node Kafka broker."""

from __future__ import annotations

import argparse
import time
from typing import TYPE_CHECKING

from ..infra.settings import Settings, load_settings

if TYPE_CHECKING:
    from ..infra.broker import EmbeddedBroker

NAME = "broker"
HELP = "start, stop or check the embedded Kafka broker (KRaft, single node, from jars)"


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("action", choices=["start", "stop", "status"])
    parser.add_argument("--port", dest="broker_port", type=int, default=None,
                        help="client port (env TELECOM_BROKER_PORT, default 9092)")
    parser.add_argument("--controller-port", dest="controller_port", type=int, default=None,
                        help="controller port (env TELECOM_CONTROLLER_PORT, default 9093)")


def broker_for(settings: Settings) -> EmbeddedBroker:
    from ..infra.broker import EmbeddedBroker

    return EmbeddedBroker(home=settings.local_dir / "broker", jars_dir=settings.jars_dir,
                          port=settings.broker_port, controller_port=settings.controller_port)


def run(args: argparse.Namespace) -> int:
    settings = load_settings({"broker_port": args.broker_port, "controller_port": args.controller_port})
    broker = broker_for(settings)
    if args.action == "start":
        already = broker.running_pid()
        started = time.monotonic()
        pid = broker.start()
        if already:
            print(f"broker already running: pid {pid}, {broker.bootstrap_servers}")
        else:
            print(f"broker ready in {time.monotonic() - started:.1f} s: pid {pid}, {broker.bootstrap_servers}, "
                  f"log {broker.log_file}")
    elif args.action == "stop":
        print("broker stopped" if broker.stop() else "broker was not running")
    else:
        running = broker.running_pid()
        if running is None:
            print("broker not running")
            return 3
        print(f"broker running: pid {running}, {broker.bootstrap_servers}, data {broker.data_dir}")
    return 0
