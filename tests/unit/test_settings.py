from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from telecom_billing.errors import UsageError
from telecom_billing.infra.kafka_clients import python_client_kwargs, spark_kafka_options
from telecom_billing.infra.settings import Settings, env_name, load_settings


def test_defaults():
    s = load_settings(environ={})
    assert s.bootstrap_servers == "localhost:9092"
    assert (s.topic_raw, s.topic_rated, s.topic_rejected) == ("cdr.raw", "cdr.rated", "cdr.rejected")
    assert s.partitions == 6
    assert s.spark_master.startswith("local")


def test_environment_then_flags():
    env = {"TELECOM_BOOTSTRAP_SERVERS": "k1:9092,k2:9092", "TELECOM_PARTITIONS": "12",
           "TELECOM_OUTPUT_DIR": "/tmp/out"}
    s = load_settings(environ=env)
    assert s.bootstrap_servers == "k1:9092,k2:9092"
    assert s.partitions == 12
    assert s.output_dir == Path("/tmp/out")
    s = load_settings({"bootstrap_servers": "flag:1", "partitions": None}, environ=env)
    assert s.bootstrap_servers == "flag:1" and s.partitions == 12


def test_local_dir_moves_checkpoints():
    s = load_settings(environ={"TELECOM_LOCAL_DIR": "/tmp/elsewhere"})
    assert s.checkpoint_dir == Path("/tmp/elsewhere/checkpoints")
    assert s.jars_dir == Path("/tmp/elsewhere/jars")


def test_bad_integer_is_a_usage_error():
    with pytest.raises(UsageError, match="TELECOM_PARTITIONS"):
        load_settings(environ={"TELECOM_PARTITIONS": "six"})


def test_settings_are_frozen():
    s = load_settings(environ={})
    with pytest.raises(dataclasses.FrozenInstanceError):
        s.partitions = 3  # type: ignore[misc]


def test_every_field_has_an_env_name():
    assert {env_name(f.name) for f in dataclasses.fields(Settings)} >= {
        "TELECOM_BOOTSTRAP_SERVERS", "TELECOM_SPARK_MASTER", "TELECOM_TRIGGER", "TELECOM_CHECKPOINT_DIR"}


def test_security_properties_reach_both_clients():
    s = load_settings(environ={"TELECOM_KAFKA_PROPERTIES":
                               "security.protocol=SASL_SSL, sasl.mechanism=PLAIN,"
                               "sasl.username=alice,sasl.password=secret,"
                               "sasl.jaas.config=org.apache.kafka.common.security.plain.PlainLoginModule"
                               " required username='alice' password='secret';"})
    py = python_client_kwargs(s)
    assert py["security_protocol"] == "SASL_SSL"
    assert py["sasl_mechanism"] == "PLAIN"
    assert (py["sasl_plain_username"], py["sasl_plain_password"]) == ("alice", "secret")
    spark = spark_kafka_options(s)
    assert spark["kafka.security.protocol"] == "SASL_SSL"
    assert spark["kafka.sasl.mechanism"] == "PLAIN"
    assert "PlainLoginModule" in spark["kafka.sasl.jaas.config"]
    assert "kafka.sasl.username" not in spark


def test_tls_properties_reach_both_clients():
    """TLS with a JKS truststore for the JVM (Spark) and the same CA as PEM for kafka-python."""
    s = load_settings(environ={"TELECOM_KAFKA_PROPERTIES":
                               "security.protocol=SSL,ssl.truststore.location=/etc/kafka/trust.jks,"
                               "ssl.truststore.password=changeit,ssl.ca.location=/etc/kafka/ca.pem,"
                               "ssl.certificate.location=/etc/kafka/client.pem,ssl.key.location=/etc/kafka/client.key,"
                               "ssl.key.password=k,ssl.endpoint.identification.algorithm=https"})
    py = python_client_kwargs(s)
    assert py["security_protocol"] == "SSL"
    assert (py["ssl_cafile"], py["ssl_certfile"], py["ssl_keyfile"], py["ssl_password"]) == (
        "/etc/kafka/ca.pem", "/etc/kafka/client.pem", "/etc/kafka/client.key", "k")
    assert py["ssl_check_hostname"] is True
    assert not any("truststore" in k for k in py)
    spark = spark_kafka_options(s)
    assert spark["kafka.security.protocol"] == "SSL"
    assert spark["kafka.ssl.truststore.location"] == "/etc/kafka/trust.jks"
    assert spark["kafka.ssl.truststore.password"] == "changeit"
    assert spark["kafka.ssl.key.password"] == "k"
    assert spark["kafka.ssl.endpoint.identification.algorithm"] == "https"
    assert not any(k.startswith("kafka.ssl.ca.") or "certificate.location" in k for k in spark)


def test_security_property_without_a_python_equivalent_is_a_clear_error():
    s = load_settings(environ={"TELECOM_KAFKA_PROPERTIES": "sasl.oauthbearer.token.endpoint.url=https://idp"})
    with pytest.raises(UsageError, match="no kafka-python equivalent"):
        python_client_kwargs(s)
    assert spark_kafka_options(s)["kafka.sasl.oauthbearer.token.endpoint.url"] == "https://idp"


def test_malformed_kafka_properties():
    with pytest.raises(UsageError, match="key=value"):
        load_settings(environ={"TELECOM_KAFKA_PROPERTIES": "security.protocol"}).kafka_options()
