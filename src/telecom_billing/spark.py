"""The one Spark session factory: local mode by default, the Kafka connector on the classpath."""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

from .jars import connector_jars
from .settings import Settings

if TYPE_CHECKING:
    from pyspark.sql import SparkSession


def spark_conf(settings: Settings, app_name: str) -> dict[str, str]:
    """The session's configuration; separate from `create_spark` so it can be inspected and tested."""
    jars = connector_jars(settings.jars_dir)
    conf = {
        "spark.app.name": app_name,
        "spark.master": settings.spark_master,
        "spark.jars": ",".join(str(j) for j in jars),
        "spark.sql.session.timeZone": "UTC",
        "spark.sql.shuffle.partitions": str(settings.shuffle_partitions),
        "spark.default.parallelism": str(settings.shuffle_partitions),
        "spark.ui.enabled": "false",
        "spark.ui.showConsoleProgress": "false",
        "spark.driver.memory": settings.driver_memory,
        "spark.sql.streaming.stateStore.providerClass":
            "org.apache.spark.sql.execution.streaming.state.RocksDBStateStoreProvider",
        "spark.sql.adaptive.enabled": "true",
        # Exact money: fail loudly instead of silently dropping decimal scale.
        "spark.sql.decimalOperations.allowPrecisionLoss": "false",
        "spark.sql.ansi.enabled": "false",
        "spark.sql.warehouse.dir": str(settings.local_dir / "spark-warehouse"),
        # HotSpot does not compile a method over 8,000 bytes of bytecode. The pipeline's fused stages
        # stay below (tests/stages/test_codegen.py); a plan that does not (the stateless real-time
        # variant fuses mediation into rating) runs that stage operator by operator instead.
        "spark.sql.codegen.hugeMethodLimit": "8000",
        "spark.driver.extraJavaOptions": f"-Dderby.system.home={settings.local_dir / 'derby'}",
    }
    return conf


def create_spark(settings: Settings, app_name: str = "telecom-billing") -> SparkSession:
    """A SparkSession for `settings.spark_master` with the connector jars, UTC, few shuffle partitions."""
    from pyspark.sql import SparkSession

    os.environ.setdefault("PYSPARK_PYTHON", os.environ.get("PYSPARK_PYTHON", _python()))
    builder = SparkSession.builder
    for key, value in spark_conf(settings, app_name).items():
        builder = builder.config(key, value)
    spark = builder.getOrCreate()
    spark.sparkContext.setLogLevel("WARN")
    return spark


def _python() -> str:
    import sys

    return sys.executable
