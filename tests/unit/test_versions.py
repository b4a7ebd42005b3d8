"""One source of truth for versions: pyproject's pyspark pin equals the connector's Spark version."""

from __future__ import annotations

import re
import tomllib
from importlib.metadata import version

from telecom_billing.infra import versions
from telecom_billing.infra.settings import PROJECT_ROOT


def test_pyspark_pin_matches_connector():
    deps = tomllib.loads((PROJECT_ROOT / "pyproject.toml").read_text())["project"]["dependencies"]
    pin = next(d for d in deps if d.startswith("pyspark=="))
    assert pin == f"pyspark=={versions.SPARK_VERSION}"
    assert version("pyspark") == versions.SPARK_VERSION
    connector = {a: v for _, a, v in versions.CONNECTOR_ARTIFACTS}
    assert connector[f"spark-sql-kafka-0-10_{versions.SCALA_BINARY_VERSION}"] == versions.SPARK_VERSION


def test_kafka_is_4x_and_image_tag_matches():
    assert re.fullmatch(r"4\.\d+\.\d+", versions.KAFKA_VERSION)
    assert versions.KAFKA_IMAGE == f"apache/kafka:{versions.KAFKA_VERSION}"
    assert versions.SPARK_VERSION in versions.SPARK_IMAGE


def test_tools_are_the_broker_release():
    """The perf test `make bench` runs is the same Kafka release as the broker it measures."""
    assert versions.TOOLS_ARTIFACTS == (("org.apache.kafka", "kafka-tools", versions.KAFKA_VERSION),)
