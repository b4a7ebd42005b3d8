"""One typed, frozen settings object, read from `TELECOM_*` variables and flags.

Precedence: command-line flag > `TELECOM_<FIELD>` environment variable > default.
Every field maps to exactly one variable: `bootstrap_servers` <- `TELECOM_BOOTSTRAP_SERVERS`.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
from collections.abc import Mapping
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

from ..errors import UsageError

PROJECT_ROOT = Path(__file__).resolve().parents[3]
ENV_PREFIX = "TELECOM_"


@dataclass(frozen=True)
class Settings:
    """Where things are and how the jobs run. Every field can come from the environment."""

    bootstrap_servers: str = "localhost:9092"
    topic_raw: str = "cdr.raw"
    topic_rated: str = "cdr.rated"
    topic_rejected: str = "cdr.rejected"
    # The stream's own topic of partial records waiting for their session (RULES.md section 18).
    topic_parts: str = "cdr.parts"
    # The usage monitor's alerts (DESIGN.md 7d).
    topic_alerts: str = "subscriber.alerts"
    partitions: int = 6
    # cdr.rated must outlive a billing period and its late corrections: 62 days.
    rated_retention_ms: int = 62 * 24 * 3600 * 1000
    data_dir: Path = PROJECT_ROOT / "data"
    output_dir: Path = PROJECT_ROOT / "output"
    local_dir: Path = PROJECT_ROOT / ".local"
    checkpoint_dir: Path = PROJECT_ROOT / ".local" / "checkpoints"
    spark_master: str = "local[2]"
    trigger: str = "2 seconds"
    # A partial record's session closes this long (event time) after its latest part (DESIGN.md 7c).
    partial_timeout: str = "6 hours"
    shuffle_partitions: int = 4
    driver_memory: str = "4g"
    # The stream holds a micro-batch at a time, not a month: its driver needs less (BENCHMARKS.md, "Memory").
    stream_driver_memory: str = "1536m"
    # The Spark UI of `telecom stream` (the next free port if taken); 0 turns it off.
    spark_ui_port: int = 4040
    broker_port: int = 9092
    controller_port: int = 9093
    # Extra Kafka client properties (SASL / TLS), "key=value,key=value" with Kafka's own names.
    kafka_properties: str = ""
    # The results database (DESIGN.md 7e): a SQLite file or a postgresql:// URL. Set, `telecom bill`
    # loads every period it writes into it; unset, `telecom load` uses billing.sqlite beside the periods.
    db_url: str = ""

    @property
    def jars_dir(self) -> Path:
        return self.local_dir / "jars"

    @property
    def rating_checkpoint(self) -> Path:
        """The rating stream's checkpoint (billing reads it to learn how far the stream got)."""
        return self.checkpoint_dir / "rating"

    @property
    def monitor_checkpoint(self) -> Path:
        """The usage monitor's checkpoint (its state: what each subscriber used in each open period)."""
        return self.checkpoint_dir / "monitor"

    @property
    def invoices_dir(self) -> Path:
        """The period folders' parent (DESIGN.md section 7)."""
        return self.output_dir / "invoices"

    @property
    def rerating_dir(self) -> Path:
        """The rerating folders' parent (DESIGN.md section 7b)."""
        return self.output_dir / "rerating"

    @property
    def catalog_dir(self) -> Path:
        return self.data_dir / "catalog"

    @property
    def subscribers_file(self) -> Path:
        return self.data_dir / "subscribers.csv"

    def kafka_options(self) -> dict[str, str]:
        """`kafka_properties` parsed into a dict of Kafka client property names."""
        out: dict[str, str] = {}
        for item in filter(None, (p.strip() for p in self.kafka_properties.split(","))):
            key, sep, value = item.partition("=")
            if not sep or not key.strip():
                raise UsageError(f"TELECOM_KAFKA_PROPERTIES: expected key=value, got {item!r}")
            out[key.strip()] = value.strip()
        return out


def env_name(field_name: str) -> str:
    return ENV_PREFIX + field_name.upper()


def _convert(name: str, raw: str, kind: Any) -> Any:
    if kind in (int, "int"):
        try:
            return int(raw)
        except ValueError:
            raise UsageError(f"{env_name(name)}: expected an integer, got {raw!r}") from None
    if kind in (Path, "Path"):
        return Path(raw).expanduser().resolve()
    return raw


_UNITS_S = {"second": 1, "minute": 60, "hour": 3600, "day": 86400}


def interval_us(text: str) -> int:
    """Microseconds of an interval written like Spark's: "6 hours", "30 minutes", "1 day"."""
    words = text.split()
    unit = words[-1].rstrip("s") if len(words) == 2 else ""
    if unit not in _UNITS_S or not words[0].isdigit():
        raise UsageError(f"expected an interval like '6 hours' or '30 minutes', got {text!r}")
    return int(words[0]) * _UNITS_S[unit] * 1_000_000


def load_settings(
    overrides: Mapping[str, Any] | None = None, environ: Mapping[str, str] | None = None
) -> Settings:
    """Build settings from the environment, then apply non-None overrides (flags)."""
    environ = os.environ if environ is None else environ
    values: dict[str, Any] = {}
    for f in fields(Settings):
        raw = environ.get(env_name(f.name))
        if raw is not None and raw != "":
            values[f.name] = _convert(f.name, raw, f.type)
    for key, value in (overrides or {}).items():
        if value is not None:
            values[key] = _convert(key, str(value), _field_type(key)) if isinstance(value, str) else value
    settings = Settings(**values)
    if "checkpoint_dir" not in values and "local_dir" in values:
        settings = dataclasses.replace(settings, checkpoint_dir=settings.local_dir / "checkpoints")
    return settings


def _field_type(name: str) -> Any:
    for f in fields(Settings):
        if f.name == name:
            return f.type
    raise KeyError(name)


def settings_from_args(args: argparse.Namespace) -> Settings:
    names = {f.name for f in fields(Settings)}
    return load_settings({k: v for k, v in vars(args).items() if k in names})


__all__ = ["PROJECT_ROOT", "Settings", "env_name", "interval_us", "load_settings", "settings_from_args"]
