"""Session fixtures: one real Kafka broker and one local Spark session for the whole run.

Kafka, in order of preference: `KAFKA_BOOTSTRAP_SERVERS` when set (an existing cluster); when a
Docker engine answers, a container of the same Kafka image as docker-compose.yml (`apache/kafka`,
versions.KAFKA_IMAGE: present locally, pulled, or the stand-in of tests/docker/standins) started by
testcontainers; else the embedded broker from the project's jars, on free ports with its own data
folder (started and stopped here). KAFKA_TEST_CONTAINER=required makes the container path mandatory
(`make compose-test` runs a few broker tests so, once the engine and the image are there).
"""

from __future__ import annotations

import dataclasses
import os
import subprocess
import sys
import uuid
import warnings
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from postgres import Server, running_server
from schema_check import check_tree
from telecom_billing.infra.broker import EmbeddedBroker, free_port
from telecom_billing.infra.settings import Settings, env_name, load_settings

REPO = Path(__file__).resolve().parents[1]


def _docker_answers() -> bool:
    try:
        import docker

        docker.from_env(timeout=3).ping()
        return True
    except Exception:
        return False


# The same broker settings as docker-compose.yml's kafka service (the official image's KAFKA_*
# contract): single-node KRaft, one listener for the host on a fixed free port (advertised as such),
# one for the broker itself, and the embedded broker's 64 MiB message limits.
KAFKA_CONTAINER_ENV = {
    "KAFKA_NODE_ID": "1",
    "KAFKA_PROCESS_ROLES": "broker,controller",
    "CLUSTER_ID": "Z5djd2AZQV6ci9K5R4CL8Q",
    "KAFKA_CONTROLLER_QUORUM_VOTERS": "1@localhost:9093",
    "KAFKA_CONTROLLER_LISTENER_NAMES": "CONTROLLER",
    "KAFKA_LISTENERS": "INTERNAL://:19092,EXTERNAL://:9092,CONTROLLER://:9093",
    "KAFKA_LISTENER_SECURITY_PROTOCOL_MAP": "INTERNAL:PLAINTEXT,EXTERNAL:PLAINTEXT,CONTROLLER:PLAINTEXT",
    "KAFKA_INTER_BROKER_LISTENER_NAME": "INTERNAL",
    "KAFKA_OFFSETS_TOPIC_REPLICATION_FACTOR": "1",
    "KAFKA_TRANSACTION_STATE_LOG_REPLICATION_FACTOR": "1",
    "KAFKA_TRANSACTION_STATE_LOG_MIN_ISR": "1",
    "KAFKA_SHARE_COORDINATOR_STATE_TOPIC_REPLICATION_FACTOR": "1",
    "KAFKA_SHARE_COORDINATOR_STATE_TOPIC_MIN_ISR": "1",
    "KAFKA_GROUP_INITIAL_REBALANCE_DELAY_MS": "0",
    "KAFKA_LOG_DIRS": "/var/lib/kafka/data",
    "KAFKA_MESSAGE_MAX_BYTES": "67108864",
    "KAFKA_REPLICA_FETCH_MAX_BYTES": "67108864",
    "KAFKA_HEAP_OPTS": "-Xms768m -Xmx768m",
}
KAFKA_START_TIMEOUT_S = 120


class _KafkaContainer:
    """A testcontainers container of the compose file's Kafka image, on a fixed free host port.

    (testcontainers' own KafkaContainer drives Confluent images only: its KRaft start script is
    Confluent's; the official apache/kafka image is configured by its KAFKA_* environment.)
    """

    def __init__(self, image: str) -> None:
        from testcontainers.core.container import DockerContainer
        from testcontainers.core.wait_strategies import LogMessageWaitStrategy

        self.host_port = free_port()
        self.container = (
            DockerContainer(image)
            .with_envs(**KAFKA_CONTAINER_ENV,
                       KAFKA_ADVERTISED_LISTENERS=f"INTERNAL://localhost:19092,EXTERNAL://localhost:{self.host_port}")
            .with_bind_ports(9092, self.host_port)
            .waiting_for(LogMessageWaitStrategy(r"Kafka Server started").with_startup_timeout(KAFKA_START_TIMEOUT_S))
        )

    def __enter__(self) -> _KafkaContainer:
        self.container.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.container.stop()


def _kafka_container() -> _KafkaContainer | None:
    """The container, or None (with a warning) when the image is neither present nor pullable."""
    from testcontainers.core.config import testcontainers_config

    import docker
    from telecom_billing.infra.versions import KAFKA_IMAGE

    # The reaper (Ryuk) is one more image to pull; the fixture stops its container itself.
    testcontainers_config.ryuk_disabled = True
    client = docker.from_env(timeout=30)
    try:
        client.images.get(KAFKA_IMAGE)
    except docker.errors.ImageNotFound:
        try:
            client.images.pull(KAFKA_IMAGE)
        except docker.errors.APIError as exc:
            warnings.warn(f"a Docker engine answers but {KAFKA_IMAGE} is neither present nor pullable ({exc}); "
                          "using the embedded broker (tests/docker/standins/build.sh builds a stand-in)",
                          stacklevel=2)
            return None
    return _KafkaContainer(KAFKA_IMAGE)


@pytest.fixture(scope="session")
def kafka_bootstrap(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """Bootstrap servers of a real, running Kafka broker."""
    existing = os.environ.get("KAFKA_BOOTSTRAP_SERVERS")
    if existing:
        yield existing
        return
    if _docker_answers():
        container = _kafka_container()
        if container is not None:
            with container:
                yield f"localhost:{container.host_port}"
            return
    if os.environ.get("KAFKA_TEST_CONTAINER") == "required":  # scripts/compose-test.sh: no fallback
        pytest.fail("KAFKA_TEST_CONTAINER=required, but no Docker engine answers or the Kafka image is missing")
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


@pytest.fixture(scope="session", autouse=True)
def artifacts_follow_their_schemas(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """After the last test: every manifest, reconciliation, invoice, rerating file and rated or
    rejected file any test wrote under the session's temporary folders is valid against its
    published schema (tests/schema_check.py). A failure shows as an error at teardown."""
    yield
    files, problems = check_tree(tmp_path_factory.getbasetemp())
    assert not problems, f"{len(problems)} schema problem(s) in {files} artifact files:\n" + "\n".join(problems[:20])


DEMO_COUNT = 6_000
DEMO_TIMEOUT_S = 900


@pytest.fixture(scope="session")
def demo(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """`python main.py --count 6000 --corrections` in folders of its own, with its own broker: the
    demo's October final, rerated, and November final with late usage, as a user gets them."""
    home = tmp_path_factory.mktemp("demo")
    local, out = home / "local", home / "output"
    local.mkdir()
    (local / "jars").symlink_to(load_settings().jars_dir.resolve(), target_is_directory=True)
    env = {k: v for k, v in os.environ.items() if not k.startswith("TELECOM_") and k != "KAFKA_BOOTSTRAP_SERVERS"}
    env.update({env_name("local_dir"): str(local), env_name("output_dir"): str(out),
                env_name("broker_port"): str(free_port()), env_name("controller_port"): str(free_port())})
    proc = subprocess.run([sys.executable, str(REPO / "main.py"), "--count", str(DEMO_COUNT), "--corrections"],
                          env=env, capture_output=True, text=True, timeout=DEMO_TIMEOUT_S)
    assert proc.returncode == 0, f"python main.py failed:\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}"
    return {"out": out, "stdout": proc.stdout, "count": DEMO_COUNT}


@pytest.fixture(scope="session")
def postgres() -> Iterator[Server]:
    """A PostgreSQL server of the session's own (tests/postgres.py)."""
    with running_server() as server:
        yield server
