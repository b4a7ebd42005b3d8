"""Kafka client settings shared by kafka-python clients and Spark's connector.

Security and other client properties are given once, with Kafka's own (Java) names, in
`TELECOM_KAFKA_PROPERTIES` ("security.protocol=SASL_SSL,sasl.mechanism=PLAIN,..."). Spark's
connector takes them as `kafka.<name>` options; kafka-python takes them as keyword arguments,
mapped below.
"""

from __future__ import annotations

from typing import Any

from ..errors import UsageError
from .settings import Settings

# The Python producer's defaults: what the producer benchmark settled on (bench/bench_producer.py,
# BENCHMARKS.md). Here, not in producer.py, because `telecom produce --help` shows them without
# importing kafka-python.
DEFAULT_COMPRESSION = "gzip"
DEFAULT_BATCH_SIZE = 512 * 1024
DEFAULT_LINGER_MS = 20

# Java client property -> kafka-python keyword argument.
_PYTHON_NAMES = {
    "security.protocol": "security_protocol",
    "sasl.mechanism": "sasl_mechanism",
    "sasl.username": "sasl_plain_username",
    "sasl.password": "sasl_plain_password",
    "sasl.kerberos.service.name": "sasl_kerberos_service_name",
    "ssl.ca.location": "ssl_cafile",
    "ssl.certificate.location": "ssl_certfile",
    "ssl.key.location": "ssl_keyfile",
    "ssl.key.password": "ssl_password",
    "ssl.endpoint.identification.algorithm": "ssl_check_hostname",
    "client.id": "client_id",
    "request.timeout.ms": "request_timeout_ms",
}

# Properties that only the JVM clients understand (kafka-python takes sasl.username / sasl.password).
_JAVA_ONLY = {"sasl.jaas.config", "ssl.truststore.location", "ssl.truststore.password", "ssl.truststore.type",
              "ssl.keystore.location", "ssl.keystore.password", "ssl.keystore.type", "ssl.enabled.protocols",
              "ssl.protocol", "sasl.login.callback.handler.class"}

# Properties that only the Python clients understand (no Java equivalent is passed to Spark).
_PYTHON_ONLY = {"sasl.username", "sasl.password", "ssl.ca.location", "ssl.certificate.location",
                "ssl.key.location"}


def python_client_kwargs(settings: Settings) -> dict[str, Any]:
    """kafka-python keyword arguments: bootstrap servers plus the mapped client properties."""
    kwargs: dict[str, Any] = {"bootstrap_servers": settings.bootstrap_servers.split(",")}
    for key, value in settings.kafka_options().items():
        name = _PYTHON_NAMES.get(key)
        if key in _JAVA_ONLY:
            continue
        if name is None:
            if key.startswith(("ssl.", "sasl.", "security.")):
                raise UsageError(f"TELECOM_KAFKA_PROPERTIES: {key} has no kafka-python equivalent")
            continue
        if name == "ssl_check_hostname":
            kwargs[name] = value.lower() == "https"
        elif name == "request_timeout_ms":
            kwargs[name] = int(value)
        else:
            kwargs[name] = value
    return kwargs


# How long the broker may hold a fetch that has no data yet. Spark's reader reads a range of offsets
# up to the partition's end, so each task's last fetch finds nothing and waits this long: Kafka's
# default (500 ms) added half a second to every task of every batch read and micro-batch
# (BENCHMARKS.md, "Kafka reads").
FETCH_MAX_WAIT_MS = 5


def spark_kafka_source_options(settings: Settings) -> dict[str, str]:
    """Options for Spark's Kafka source: `spark_kafka_options` and the consumer's fetch wait."""
    return {"kafka.fetch.max.wait.ms": str(FETCH_MAX_WAIT_MS), **spark_kafka_options(settings)}


def spark_kafka_options(settings: Settings) -> dict[str, str]:
    """Options for Spark's Kafka source and sink (`kafka.`-prefixed Java client properties)."""
    options = {"kafka.bootstrap.servers": settings.bootstrap_servers}
    for key, value in settings.kafka_options().items():
        if key in _PYTHON_ONLY:
            continue
        options[f"kafka.{key}"] = value
    return options
