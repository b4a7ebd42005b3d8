"""The one Spark session factory: local mode by default, the Kafka connector on the classpath."""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING

from pyspark.sql import SparkSession

from . import cds
from .jars import connector_jars
from .settings import Settings

if TYPE_CHECKING:
    from pyspark.sql import SparkSession


def spark_log(settings: Settings, app_name: str) -> Path:
    """Where Spark's own warnings and errors go instead of the console."""
    return settings.local_dir / "logs" / f"{app_name}.log"


def spark_conf(settings: Settings, app_name: str, ui_port: int = 0, cds_dump_to: Path | None = None) -> dict[str, str]:
    """The session's configuration; separate from `create_spark` so it can be inspected and tested.
    `ui_port` 0: no Spark UI. `cds_dump_to`: write the driver's class-data-sharing archive there
    at exit (`infra.cds`); else the archive is used when there is one."""
    jars = connector_jars(settings.jars_dir)
    log_config = resources.files("telecom_billing") / "resources" / "spark-log4j2.properties"
    java_options = (f"-Dderby.system.home={settings.local_dir / 'derby'} -Dlog4j2.configurationFile={log_config} "
                    f"-Dtelecom.spark.log={spark_log(settings, app_name)} {cds.java_options(settings, cds_dump_to)}").strip()
    conf = {
        "spark.app.name": app_name,
        "spark.master": settings.spark_master,
        "spark.jars": ",".join(str(j) for j in jars),
        "spark.sql.session.timeZone": "UTC",
        "spark.sql.shuffle.partitions": str(settings.shuffle_partitions),
        "spark.default.parallelism": str(settings.shuffle_partitions),
        "spark.ui.enabled": "true" if ui_port else "false",
        "spark.ui.showConsoleProgress": "false",
        "spark.driver.memory": settings.driver_memory,
        "spark.sql.streaming.stateStore.providerClass":
            "org.apache.spark.sql.execution.streaming.state.RocksDBStateStoreProvider",
        # A commit writes the batch's changes only (snapshots are made in the background), and a
        # write does not look its key up to keep an exact row count (the metric then reads 0).
        "spark.sql.streaming.stateStore.rocksdb.changelogCheckpointing.enabled": "true",
        "spark.sql.streaming.stateStore.rocksdb.trackTotalNumberOfRows": "false",
        "spark.sql.adaptive.enabled": "true",
        # Exact money: fail loudly instead of silently dropping decimal scale.
        "spark.sql.decimalOperations.allowPrecisionLoss": "false",
        "spark.sql.ansi.enabled": "false",
        "spark.sql.warehouse.dir": str(settings.local_dir / "spark-warehouse"),
        # HotSpot does not compile a method over 8,000 bytes of bytecode. The pipeline's fused stages
        # stay below (tests/stages/test_codegen.py); a plan that does not (the stateless real-time
        # variant fuses mediation into rating) runs that stage operator by operator instead.
        "spark.sql.codegen.hugeMethodLimit": "8000",
        "spark.driver.extraJavaOptions": java_options,
    }
    if ui_port:
        conf["spark.ui.port"] = str(ui_port)
    return conf


def create_spark(settings: Settings, app_name: str = "telecom-billing", ui_port: int = 0,
                 cds_dump_to: Path | None = None) -> SparkSession:
    """A SparkSession for `settings.spark_master` with the connector jars, UTC, few shuffle partitions;
    the Spark UI on `ui_port` (0: none). Says once where Spark's own log goes."""
    os.environ.setdefault("PYSPARK_PYTHON", os.environ.get("PYSPARK_PYTHON", _python()))
    if SparkSession.getActiveSession() is None:
        log = spark_log(settings, app_name)
        log.parent.mkdir(parents=True, exist_ok=True)
        print(f"Spark's own log: {log}", file=sys.stderr, flush=True)
    builder = SparkSession.builder
    for key, value in spark_conf(settings, app_name, ui_port, cds_dump_to).items():
        builder = builder.config(key, value)
    with _output_to(spark_log(settings, app_name)):
        return builder.getOrCreate()


@contextmanager
def _output_to(path: Path) -> Iterator[None]:
    """The JVM starts with its standard output and error appended to Spark's log, ours given back:
    what the JVM prints is its own log's business (the Python driver worker of `transformWithState`
    prints its progress there, through the JVM), and a command prints its own one-line errors."""
    sys.stdout.flush()
    sys.stderr.flush()
    ours = {fd: os.dup(fd) for fd in (1, 2)}
    with open(path, "ab") as log:
        for fd in ours:
            os.dup2(log.fileno(), fd)
    try:
        yield
    finally:
        for fd, saved in ours.items():
            os.dup2(saved, fd)
            os.close(saved)


def _python() -> str:
    return sys.executable
