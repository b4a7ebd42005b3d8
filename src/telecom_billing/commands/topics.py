"""`telecom topics create|list`: the pipeline's topics."""

from __future__ import annotations

import argparse

from ..cli_params import add_connection
from ..infra.settings import settings_from_args

NAME = "topics"
HELP = "create the pipeline's topics (idempotent) or list them"


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("action", choices=["create", "list"])
    parser.add_argument("--partitions", type=int, default=None,
                        help="partitions per topic (env TELECOM_PARTITIONS, default 6)")
    add_connection(parser)


def run(args: argparse.Namespace) -> int:
    from ..infra.topics import describe_topics, ensure_topics, pipeline_topics

    settings = settings_from_args(args)
    if args.action == "create":
        created = ensure_topics(settings)
        for spec in pipeline_topics(settings):
            state = "created" if spec.name in created else "exists"
            print(f"{spec.name}: {state} ({spec.partitions} partitions{', ' if spec.config else ''}"
                  f"{', '.join(f'{k}={v}' for k, v in spec.config.items())})")
    else:
        names = [s.name for s in pipeline_topics(settings)]
        for name, partitions in sorted(describe_topics(settings, names).items()):
            print(f"{name}: {partitions} partitions")
    return 0
