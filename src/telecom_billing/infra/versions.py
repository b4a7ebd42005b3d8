"""Pinned versions: the one place that names them.

pyspark on PyPI and Spark's Kafka connector on Maven Central must be the same
release; 4.2.0 is the newest whose connector resolves from Maven Central
(4.2.1 and 4.3.0 are on PyPI, not on Central). The connector's own kafka-clients
(3.9.2) is what spark-sql-kafka-0-10_2.13:4.2.0 declares; the broker is a
separate JVM and runs Kafka 4.1.1 (the same tag as the `apache/kafka` image).
"""

from __future__ import annotations

SPARK_VERSION = "4.2.0"
SCALA_BINARY_VERSION = "2.13"
KAFKA_VERSION = "4.1.1"
CONNECTOR_KAFKA_CLIENTS_VERSION = "3.9.2"
COMMONS_POOL2_VERSION = "2.13.1"
LOG4J_VERSION = "2.25.2"
SLF4J_VERSION = "2.0.17"

KAFKA_IMAGE = f"apache/kafka:{KAFKA_VERSION}"
SPARK_IMAGE = f"apache/spark:{SPARK_VERSION}-scala{SCALA_BINARY_VERSION}-java17-python3-ubuntu"
# The results database of `docker compose` (DESIGN.md 7e): the official image, on the Debian release
# whose own PostgreSQL package the tests run on the host (and the stand-in installs).
POSTGRES_VERSION = "15.18"
POSTGRES_IMAGE = f"postgres:{POSTGRES_VERSION}-bookworm"

# groupId, artifactId, version: the four jars Spark needs to read and write Kafka.
CONNECTOR_ARTIFACTS: tuple[tuple[str, str, str], ...] = (
    ("org.apache.spark", f"spark-sql-kafka-0-10_{SCALA_BINARY_VERSION}", SPARK_VERSION),
    ("org.apache.spark", f"spark-token-provider-kafka-0-10_{SCALA_BINARY_VERSION}", SPARK_VERSION),
    ("org.apache.kafka", "kafka-clients", CONNECTOR_KAFKA_CLIENTS_VERSION),
    ("org.apache.commons", "commons-pool2", COMMONS_POOL2_VERSION),
)

# The broker and its runtime dependencies (resolved transitively), plus a log4j2 binding.
BROKER_ARTIFACTS: tuple[tuple[str, str, str], ...] = (
    ("org.apache.kafka", f"kafka_{SCALA_BINARY_VERSION}", KAFKA_VERSION),
    ("org.slf4j", "slf4j-api", SLF4J_VERSION),
    ("org.apache.logging.log4j", "log4j-slf4j2-impl", LOG4J_VERSION),
    ("org.apache.logging.log4j", "log4j-core", LOG4J_VERSION),
)
# Kafka's tools (ProducerPerformance, for `make bench`), on top of the broker's classpath.
TOOLS_ARTIFACTS: tuple[tuple[str, str, str], ...] = (
    ("org.apache.kafka", "kafka-tools", KAFKA_VERSION),
)
