"""The command-line options more than one command takes, each declared once (as dbt-core's
`cli/params.py` does): its flag, destination, type, default and words live here, and a command adds
it with `CATALOG.add(parser)`. Where an option's words depend on the command (what `--out` holds,
whether `--period` is required), the command passes only that: `OUT.add(parser, help=...)`.

Options one command alone takes stay in that command's module. `telecom generate --subscribers N`
(a number of subscribers) is not `SUBSCRIBERS` (a file): it is the generator's own, kept there.
"""

from __future__ import annotations

import argparse
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any


@dataclass(frozen=True)
class Option:
    flags: tuple[str, ...]
    settings: Mapping[str, Any]

    def add(self, parser: argparse.ArgumentParser | Any, **overrides: Any) -> None:
        """Add the option to `parser` (or an argument group), with the command's own words if given."""
        parser.add_argument(*self.flags, **{**self.settings, **overrides})


def _path(flag: str, help_text: str, **more: Any) -> Option:
    """An option naming a file or folder, None when not given (the settings' default applies)."""
    return Option((flag,), {"type": Path, "default": None, "help": help_text, **more})


# -- where the pipeline runs (every command that talks to Kafka; Spark's master where Spark runs) --------

BOOTSTRAP_SERVERS = Option(("--bootstrap-servers",), {
    "dest": "bootstrap_servers", "default": None,
    "help": "Kafka bootstrap servers (env TELECOM_BOOTSTRAP_SERVERS, default localhost:9092)"})
MASTER = Option(("--master",), {
    "dest": "spark_master", "default": None, "help": "Spark master (env TELECOM_SPARK_MASTER, default local[2])"})
CHECKPOINT_DIR = _path("--checkpoint-dir", "the streaming jobs' checkpoints: rating/ and monitor/ in it (env TELECOM_CHECKPOINT_DIR)",
                       dest="checkpoint_dir")


# -- the streaming jobs (`telecom stream`, `telecom monitor`): each gives the topic it reads -------------

ONCE = Option(("--once",), {"action": "store_true", "help": "drain what is in the topic now, then exit"})
TRIGGER = Option(("--trigger",), {"default": None,
                                  "help": "micro-batch interval, e.g. '2 seconds' (env TELECOM_TRIGGER)"})
MAX_OFFSETS_PER_TRIGGER = Option(("--max-offsets-per-trigger",), {
    "type": int, "default": 500_000, "help": "cap on records per micro-batch (default 500000; 0 = no cap)"})
STARTING_OFFSETS = Option(("--starting-offsets",), {
    "default": "earliest", "choices": ["earliest", "latest"],
    "help": "where a new query (no checkpoint yet) starts in the topic it reads"})
UI_PORT = Option(("--ui-port",), {"dest": "spark_ui_port", "type": int, "default": None,
                                  "help": "Spark UI port (env TELECOM_SPARK_UI_PORT, default 4040; 0 = no UI)"})


def add_streaming(parser: argparse.ArgumentParser, topic: str, trigger_help: str | None = None) -> None:
    """The options of a streaming job reading `topic`: `--once`, `--trigger`, the batch cap, the
    checkpoint folder, where a new query starts, the Spark UI port."""
    ONCE.add(parser, help=f"drain what is in {topic} now, then exit")
    TRIGGER.add(parser, **({"help": trigger_help} if trigger_help else {}))
    MAX_OFFSETS_PER_TRIGGER.add(parser)
    CHECKPOINT_DIR.add(parser)
    STARTING_OFFSETS.add(parser, help=f"where a new query (no checkpoint yet) starts in {topic}")
    UI_PORT.add(parser)


def add_connection(parser: argparse.ArgumentParser, *, spark: bool = False) -> None:
    """`--bootstrap-servers`, and `--master` for the commands that run Spark."""
    BOOTSTRAP_SERVERS.add(parser)
    if spark:
        MASTER.add(parser)


# -- reference data and inputs --------------------------------------------------------------------------

PERIOD = Option(("--period",), {"default": None, "help": "the month, YYYY-MM (in the catalog's time zone)"})
CATALOG = _path("--catalog", "tariff catalog file or folder (default data/catalog)")
SUBSCRIBERS = _path("--subscribers", "subscriber base CSV (default data/subscribers.csv)")
RATED = _path("--rated", "rated CDRs: a JSONL (or Parquet) file or a folder of them "
                         "(default: a batch read of the cdr.rated topic)")
RAW = _path("--raw", "raw CDR file for the reconciliation's raw side (with --rated; needs --rejected)")
REJECTED = _path("--rejected", "rejected records file (or the folder with rejected.jsonl) written by "
                               "`telecom rate`")
DEEP = Option(("--deep",), {
    "action": "store_true",
    "help": "reconcile by re-running mediation on every raw record, not by the rated records' source offsets "
            "(the independent check of the stream; slower)"})
DB = Option(("--db",), {
    "dest": "db_url", "default": None,
    "help": "results database: a SQLite file (or sqlite:///PATH) or a postgresql:// URL "
            "(env TELECOM_DB_URL; default billing.sqlite beside the period folders)"})
INVOICES = _path("--invoices", "the period folders' parent, to find final periods (default output/invoices)")

# -- outputs ----------------------------------------------------------------------------------------------

OUT = _path("--out", "output folder")
FORCE = Option(("--force",), {"action": "store_true", "help": "replace an existing, different output"})
LABELS = _path("--labels", "write the generated defects' labels here")
QUIET = Option(("--quiet",), {"action": "store_true", "help": "no progress on stderr"})
