"""Session fixtures: one real Kafka broker and one local Spark session for the whole run.

Kafka, in order of preference: `KAFKA_BOOTSTRAP_SERVERS` when set (an existing cluster);
testcontainers' Kafka module when a Docker engine answers; else the embedded broker from the
project's jars, on free ports with its own data folder (started and stopped here).
"""

from __future__ import annotations

import dataclasses
import os
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from telecom_billing.infra.broker import EmbeddedBroker, free_port
from telecom_billing.infra.settings import Settings, load_settings

REPO = Path(__file__).resolve().parents[1]


def _docker_answers() -> bool:
    try:
        import docker

        docker.from_env(timeout=3).ping()
        return True
    except Exception:
        return False


@pytest.fixture(scope="session")
def kafka_bootstrap(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """Bootstrap servers of a real, running Kafka broker."""
    existing = os.environ.get("KAFKA_BOOTSTRAP_SERVERS")
    if existing:
        yield existing
        return
    if _docker_answers():
        from testcontainers.kafka import KafkaContainer

        from telecom_billing.infra.versions import KAFKA_IMAGE

        with KafkaContainer(KAFKA_IMAGE).with_kraft() as container:
            yield container.get_bootstrap_server()
        return
    broker = EmbeddedBroker(home=tmp_path_factory.mktemp("kafka"), jars_dir=load_settings().jars_dir,
                            port=free_port(), controller_port=free_port(), heap="768m")
    broker.start()
    try:
        yield broker.bootstrap_servers
    finally:
        broker.stop()


@pytest.fixture(scope="session")
def base_settings(kafka_bootstrap: str, tmp_path_factory: pytest.TempPathFactory) -> Settings:
    """Settings pointing at the test broker, with output and checkpoints in a temporary folder."""
    tmp = tmp_path_factory.mktemp("telecom")
    return dataclasses.replace(load_settings(), bootstrap_servers=kafka_bootstrap, output_dir=tmp / "output",
                               checkpoint_dir=tmp / "checkpoints", shuffle_partitions=2)


@pytest.fixture
def topic_factory(base_settings: Settings) -> Callable[..., str]:
    """Creates uniquely named topics on the test broker: `topic_factory("raw", partitions=3)`."""
    from telecom_billing.infra.topics import TopicSpec, ensure_topics

    def make(prefix: str = "t", partitions: int = 3) -> str:
        name = f"{prefix}.{uuid.uuid4().hex[:10]}"
        ensure_topics(base_settings, [TopicSpec(name, partitions, {})])
        return name

    return make


@pytest.fixture(scope="session")
def spark(tmp_path_factory: pytest.TempPathFactory) -> Iterator[object]:
    """One local Spark session (local[2], UTC, 2 shuffle partitions, UI off, connector jars)."""
    from telecom_billing.infra.spark import create_spark

    settings = dataclasses.replace(load_settings(), spark_master="local[2]", shuffle_partitions=2,
                                   driver_memory="3g")
    session = create_spark(settings, "telecom-tests")
    try:
        yield session
    finally:
        session.stop()
