"""docker-compose.yml against the code: it validates as `docker compose config` would, every service
command is an entry point that exists and whose flags the real `telecom` parser accepts, its
environment names are settings, and topics, partitions and image tags are the pinned values.

The project is resolved by tools/compose-check (compose-go, the code of `docker compose`); the
images' entry points and environment by BuildKit's Dockerfile frontend (see conftest.py).
"""

from __future__ import annotations

import json
import os
import re
import shlex
import subprocess
import sys
import tomllib
from dataclasses import fields
from pathlib import Path
from typing import Any

import pytest
from compose_stack import COMPOSE_FILE, ENV_EXAMPLE, REPO, Tools, config_variants, image_env

from telecom_billing.cli import build_parser
from telecom_billing.infra import versions
from telecom_billing.infra.settings import ENV_PREFIX, Settings, env_name, load_settings
from telecom_billing.infra.topics import pipeline_topics

DOCS = REPO / "docs" / "docker.md"
TINI = ["/usr/bin/tini", "--"]
VENV_PYTHON = "/opt/venv/bin/python"
SPARK_CLASS = "/opt/spark/bin/spark-class"
# What Spark's launcher (spark-class) reads for the standalone master and worker daemons.
SPARK_DAEMON_ENV = {"SPARK_MASTER_OPTS", "SPARK_WORKER_OPTS", "SPARK_DAEMON_JAVA_OPTS", "SPARK_DAEMON_MEMORY"}
DEFAULT_SERVICES = {"kafka", "topic-init", "output-init", "producer", "rating-job", "usage-monitor", "billing-job",
                    "postgres"}
CLUSTER_SERVICES = {"spark-master", "spark-worker"}
# Services whose process is the project's code (`telecom ...` or one of its thin entry scripts).
PROJECT_CODE_SERVICES = {"topic-init", "producer", "rating-job", "usage-monitor", "billing-job"}

# Runs an entry script with `telecom_billing.cli.main` replaced by a recorder, and prints the
# argv the script hands to `telecom`: proof that the script is a thin entry point, and the
# arguments that the real parser must accept. Nothing else of the script's work is run.
DELEGATION_PROBE = """
import json, runpy, sys
import telecom_billing.cli as cli

class Delegated(BaseException):
    pass

def record(argv=None):
    raise Delegated(list(sys.argv[1:] if argv is None else argv))

cli.main = record
script, *args = sys.argv[1:]
sys.argv = [script, *args]
try:
    runpy.run_path(script, run_name="__main__")
except Delegated as call:
    print(json.dumps(call.args[0]))
    raise SystemExit(0)
raise SystemExit("the script finished without calling telecom_billing.cli.main")
"""


# ---- helpers


def container_argv(service: dict[str, Any], image: dict[str, Any] | None,
                   command: list[str] | None = None) -> list[str]:
    """The process a container runs: Docker's rules for entrypoint and command overrides."""
    command = service.get("command") if command is None else command
    entrypoint = service.get("entrypoint")
    if entrypoint is None:
        config = image["config"] if image else {}
        entrypoint = config.get("Entrypoint") or []
        if command is None:
            command = config.get("Cmd") or []
    argv = [*entrypoint, *(command or [])]
    return argv[len(TINI):] if argv[:len(TINI)] == TINI else argv


def repo_path_of(container_path: str, image: dict[str, Any]) -> Path:
    """The file of the repository that the image's COPY instructions put at `container_path`."""
    for copy in image["copies"]:
        for source in copy["sources"]:
            dest = copy["dest"]
            target = dest + Path(source).name if dest.endswith("/") else dest
            if target == container_path:
                return REPO / source
    raise AssertionError(f"no COPY instruction puts a file at {container_path}")


def telecom_argv(service_name: str, argv: list[str], image: dict[str, Any],
                 environment: dict[str, str]) -> list[str]:
    """The `telecom` arguments that a container's process amounts to."""
    if argv and argv[0] == "telecom":
        scripts = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["scripts"]
        assert scripts.get("telecom") == "telecom_billing.cli:main"
        return argv[1:]
    assert argv[:1] == [VENV_PYTHON] and len(argv) > 1, f"{service_name}: unknown entry point {argv}"
    script = repo_path_of(argv[1], image)
    assert script.is_file(), f"{service_name}: entry script {script.relative_to(REPO)} does not exist"
    proc = subprocess.run([sys.executable, "-c", DELEGATION_PROBE, str(script), *argv[2:]],
                          capture_output=True, text=True, timeout=60, cwd=REPO,
                          env={**_environ_without_settings(), **environment})
    assert proc.returncode == 0, f"{service_name}: {script.relative_to(REPO)} {argv[2:]}:\n{proc.stderr}"
    return list(json.loads(proc.stdout.strip().splitlines()[-1]))


def _environ_without_settings() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if not k.startswith(ENV_PREFIX)}


def assert_parses(what: str, argv: list[str], capsys: pytest.CaptureFixture[str]) -> Any:
    try:
        return build_parser().parse_args(argv)
    except SystemExit:
        raise AssertionError(f"{what}: `telecom {shlex.join(argv)}` is rejected by the CLI:\n"
                             f"{capsys.readouterr().err}") from None


def service_environment(service: dict[str, Any]) -> dict[str, str]:
    return {k: v for k, v in (service.get("environment") or {}).items() if v is not None}


def settings_of(service: dict[str, Any], image: dict[str, Any]) -> Settings:
    """The settings the code sees in that container (image ENV, then the service's environment)."""
    return load_settings(environ={**image_env(image), **service_environment(service)})


def depends(service: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return dict(service.get("depends_on") or {})


# ---- the compose file itself


def test_compose_file_validates_for_every_profile(variants: dict[tuple[str, ...], dict[str, Any]]) -> None:
    assert set(variants) == {(), ("cluster",)}
    assert set(variants[()]["services"]) == DEFAULT_SERVICES
    assert set(variants[("cluster",)]["services"]) == DEFAULT_SERVICES | CLUSTER_SERVICES


def test_env_example_lists_every_variable_with_the_compose_default(
        tools: Tools, variants: dict[tuple[str, ...], dict[str, Any]]) -> None:
    compose = re.sub(r"^\s*#.*$", "", COMPOSE_FILE.read_text(), flags=re.M)
    used = set(re.findall(r"\$\{([A-Z0-9_]+)", compose))
    listed = dict(re.findall(r"^([A-Z0-9_]+)=(.*)$", ENV_EXAMPLE.read_text(), flags=re.M))
    assert used == set(listed), "variables of docker-compose.yml and .env.example differ"
    for name in used:
        assert re.search(r"\$\{" + name + r":-", compose), f"${{{name}}} has no default"
    # Same resolved project with .env.example and with no env file at all: its values are the defaults.
    defaults = config_variants(tools, "--no-env-file")
    assert set(defaults) == set(variants)
    for profiles, project in variants.items():
        for name, service in project["services"].items():
            assert defaults[profiles]["services"][name] == service, (
                f"{name}: .env.example and the defaults in docker-compose.yml resolve differently")
        assert defaults[profiles] == project


def test_compose_check_fails_on_a_broken_file(tools: Tools, tmp_path: Path) -> None:
    (tmp_path / "docker-compose.yml").write_text(
        "services:\n  app:\n    image: example/app:${APP_TAG}\n    depends_on: [db]\n")
    proc = tools.run("config", "-C", str(tmp_path))
    assert proc.returncode != 0
    assert "depends on undefined service" in proc.stderr
    (tmp_path / "docker-compose.yml").write_text("services:\n  app:\n    image: example/app:${APP_TAG}\n")
    proc = tools.run("config", "-C", str(tmp_path))
    assert proc.returncode != 0
    assert '"APP_TAG" variable is not set' in proc.stderr


# ---- commands


def test_every_service_command_is_an_entry_point_whose_flags_parse(
        services: dict[str, dict[str, Any]], image_of: dict[str, dict[str, Any]],
        capsys: pytest.CaptureFixture[str]) -> None:
    checked = set()
    for name, service in sorted(services.items()):
        if name not in image_of:
            continue
        argv = container_argv(service, image_of[name])
        if argv[:1] in ([SPARK_CLASS], ["chown"]):
            continue  # Spark's own daemons and the ownership fix: test_cluster_profile, test_paths
        args = telecom_argv(name, argv, image_of[name], service_environment(service))
        assert_parses(name, args, capsys)
        checked.add(name)
    assert checked == PROJECT_CODE_SERVICES


def test_entry_points_map_to_their_subcommands(services: dict[str, dict[str, Any]],
                                               image_of: dict[str, dict[str, Any]]) -> None:
    expected = {"topic-init": ["topics", "create"], "producer": ["produce"], "rating-job": ["stream"],
                "usage-monitor": ["monitor"], "billing-job": ["bill"]}
    for name, prefix in expected.items():
        service = services[name]
        args = telecom_argv(name, container_argv(service, image_of[name]), image_of[name],
                            service_environment(service))
        assert args[:len(prefix)] == prefix, f"{name} runs `telecom {shlex.join(args)}`"


def test_on_demand_billing_run_parses(services: dict[str, dict[str, Any]],
                                      image_of: dict[str, dict[str, Any]],
                                      capsys: pytest.CaptureFixture[str]) -> None:
    service, image = services["billing-job"], image_of["billing-job"]
    argv = container_argv(service, image, command=["--period", "2026-11"])
    args = telecom_argv("billing-job", argv, image, service_environment(service))
    assert args == ["bill", "--period", "2026-11"]
    assert_parses("docker compose run --rm billing-job --period 2026-11", args, capsys)


# ---- environment and settings


def test_environment_names_are_settings(services: dict[str, dict[str, Any]],
                                        image_of: dict[str, dict[str, Any]]) -> None:
    known = {env_name(f.name) for f in fields(Settings)}
    for name, image in image_of.items():
        service = services[name]
        for var in [*image_env(image), *service_environment(service)]:
            if var.startswith(ENV_PREFIX):
                assert var in known, f"{name}: {var} is not a field of telecom_billing.infra.settings.Settings"
        settings_of(service, image)  # the values convert (integers are integers, ...)
        argv = container_argv(service, image)
        script = repo_path_of(argv[1], image) if argv[:1] == [VENV_PYTHON] else None
        for var in service_environment(service):
            if not var.startswith(ENV_PREFIX):
                if argv[:1] == [SPARK_CLASS]:  # a Spark daemon: the variables its launcher reads
                    assert var in SPARK_DAEMON_ENV, f"{name}: {var} is not read by Spark's launcher"
                    continue
                assert script is not None and var in script.read_text(), (
                    f"{name}: {var} is read by no entry point")


def test_app_containers_reach_the_broker_on_its_internal_listener(
        services: dict[str, dict[str, Any]], image_of: dict[str, dict[str, Any]]) -> None:
    listeners = dict(item.split("://", 1) for item in
                     services["kafka"]["environment"]["KAFKA_ADVERTISED_LISTENERS"].split(","))
    internal = listeners[services["kafka"]["environment"]["KAFKA_INTER_BROKER_LISTENER_NAME"]]
    for name in PROJECT_CODE_SERVICES:
        assert settings_of(services[name], image_of[name]).bootstrap_servers == internal, name
        assert depends(services[name]), f"{name} starts before the broker is ready"


def test_topics_are_those_of_telecom_topics_create(services: dict[str, dict[str, Any]],
                                                  image_of: dict[str, dict[str, Any]]) -> None:
    defaults = Settings()
    expected = pipeline_topics(defaults)
    assert [t.name for t in expected] == [defaults.topic_raw, defaults.topic_rated, defaults.topic_rejected,
                                          defaults.topic_parts, defaults.topic_alerts]
    for name in PROJECT_CODE_SERVICES:
        settings = settings_of(services[name], image_of[name])
        assert pipeline_topics(settings) == expected, f"{name} sees other topics, partitions or retention"
        assert settings.partitions == defaults.partitions
        assert settings.rated_retention_ms == defaults.rated_retention_ms
    # Only topic-init creates topics: a client writing first must not auto-create them (1 partition).
    assert services["kafka"]["environment"]["KAFKA_AUTO_CREATE_TOPICS_ENABLE"] == "false"


# ---- images and broker


def test_image_tags_are_the_pinned_versions(services: dict[str, dict[str, Any]],
                                            image_of: dict[str, dict[str, Any]]) -> None:
    assert services["kafka"]["image"] == versions.KAFKA_IMAGE
    assert services["postgres"]["image"] == versions.POSTGRES_IMAGE
    for name, service in services.items():
        if "build" not in service:
            repository, _, tag = service["image"].rpartition(":")
            assert repository and tag and tag != "latest", f"{name}: image {service['image']} is not pinned"
    for name, image in image_of.items():
        assert image["base_images"] == [versions.SPARK_IMAGE], name
    assert versions.SPARK_IMAGE.startswith(f"apache/spark:{versions.SPARK_VERSION}-scala{versions.SCALA_BINARY_VERSION}-")
    assert "-java17-python3-" in versions.SPARK_IMAGE
    bases = json.loads((REPO / "tools" / "compose-check" / "base-images.json").read_text())
    assert set(bases) == {versions.SPARK_IMAGE}


def test_kafka_is_a_single_kraft_node(services: dict[str, dict[str, Any]]) -> None:
    kafka = services["kafka"]
    env = kafka["environment"]
    assert env["KAFKA_PROCESS_ROLES"] == "broker,controller"
    replication = {k: v for k, v in env.items() if "REPLICATION_FACTOR" in k}
    assert replication and set(replication.values()) == {"1"}
    assert "kafka-broker-api-versions.sh" in " ".join(kafka["healthcheck"]["test"])
    [volume] = kafka["volumes"]
    assert volume["type"] == "volume" and volume["target"] == env["KAFKA_LOG_DIRS"]
    listeners = dict(item.split("://", 1) for item in env["KAFKA_ADVERTISED_LISTENERS"].split(","))
    external_port = int(dict(item.split("://:", 1) for item in env["KAFKA_LISTENERS"].split(","))["EXTERNAL"])
    [port] = kafka["ports"]
    assert port["target"] == external_port
    assert listeners["EXTERNAL"] == f"localhost:{port['published']}"
    assert port["host_ip"] == "127.0.0.1"
    assert Settings().bootstrap_servers == listeners["EXTERNAL"], "local clients' default is the published port"


def test_kafka_accepts_the_records_the_pipeline_sends(services: dict[str, dict[str, Any]]) -> None:
    """A megabyte-long poison line must reach cdr.raw and be rejected there: the compose broker takes
    what the producer and the stream's sink may send, as the embedded broker does."""
    from telecom_billing.contracts.limits import MAX_RECORD_BYTES

    env = services["kafka"]["environment"]
    assert int(env["KAFKA_MESSAGE_MAX_BYTES"]) >= MAX_RECORD_BYTES
    assert int(env["KAFKA_REPLICA_FETCH_MAX_BYTES"]) >= int(env["KAFKA_MESSAGE_MAX_BYTES"])


def test_services_start_in_order(services: dict[str, dict[str, Any]]) -> None:
    assert depends(services["topic-init"])["kafka"]["condition"] == "service_healthy"
    for name in ("producer", "rating-job", "billing-job"):
        assert depends(services[name])["topic-init"]["condition"] == "service_completed_successfully", name
    assert depends(services["billing-job"])["output-init"]["condition"] == "service_completed_successfully"
    assert depends(services["billing-job"])["postgres"]["condition"] == "service_healthy"
    assert services["postgres"]["healthcheck"]["test"]
    assert depends(services["spark-worker"])["spark-master"]["condition"] == "service_healthy"
    assert services["spark-master"]["healthcheck"]["test"]
    for name in ("rating-job", "billing-job"):
        worker = depends(services[name])["spark-worker"]
        assert worker["required"] is False, f"{name} must start without the cluster profile"


def test_the_billing_job_loads_into_the_postgres_service(services: dict[str, dict[str, Any]],
                                                         image_of: dict[str, dict[str, Any]]) -> None:
    env = services["postgres"]["environment"]
    url = settings_of(services["billing-job"], image_of["billing-job"]).db_url
    assert url == (f"postgresql://{env['POSTGRES_USER']}:{env['POSTGRES_PASSWORD']}@postgres:5432/"
                   f"{env['POSTGRES_DB']}")
    assert {m["target"] for m in services["postgres"]["volumes"]} == {"/var/lib/postgresql/data"}


def test_paths_volumes_and_ownership(services: dict[str, dict[str, Any]],
                                     image_of: dict[str, dict[str, Any]]) -> None:
    def mounts(name: str) -> dict[str, dict[str, Any]]:
        return {m["target"]: m for m in services[name].get("volumes", [])}

    rating = settings_of(services["rating-job"], image_of["rating-job"])
    billing = settings_of(services["billing-job"], image_of["billing-job"])
    checkpoints = mounts("rating-job")[str(rating.checkpoint_dir)]
    assert checkpoints["type"] == "volume"
    output = mounts("billing-job")[str(billing.output_dir)]
    assert output["type"] == "bind" and Path(output["source"]) == REPO / "output"
    # The cluster's executors write the same checkpoints and invoices as the drivers.
    assert mounts("spark-worker")[str(rating.checkpoint_dir)]["source"] == checkpoints["source"]
    assert mounts("spark-worker")[str(billing.output_dir)]["source"] == output["source"]
    # output-init gives the bind mount to the images' user, who writes the invoices.
    user = image_of["billing-job"]["config"]["User"]
    assert user == "185:185"
    assert services["output-init"]["user"] == "root"
    assert container_argv(services["output-init"], image_of["output-init"]) == ["chown", user, str(billing.output_dir)]
    assert mounts("output-init")[str(billing.output_dir)]["source"] == output["source"]


def test_cluster_profile_submits_the_jobs_to_the_standalone_master(
        tools: Tools, image_of: dict[str, dict[str, Any]], tmp_path: Path) -> None:
    match = re.search(r"SPARK_MASTER=(spark://\S+)", DOCS.read_text())
    assert match, "docs/docker.md does not say which SPARK_MASTER the cluster profile needs"
    env_file = tmp_path / "cluster.env"
    env_file.write_text(ENV_EXAMPLE.read_text() + f"\nSPARK_MASTER={match.group(1)}\n")
    [cluster] = config_variants(tools, "--env-file", str(env_file), "--profile", "cluster").values()
    services = cluster["services"]
    master = container_argv(services["spark-master"], image_of["spark-master"])
    worker = container_argv(services["spark-worker"], image_of["spark-worker"])
    assert master[:2] == [SPARK_CLASS, "org.apache.spark.deploy.master.Master"]
    assert worker[:2] == [SPARK_CLASS, "org.apache.spark.deploy.worker.Worker"]
    host, port = master[master.index("--host") + 1], master[master.index("--port") + 1]
    url = f"spark://{host}:{port}"
    assert host == services["spark-master"]["hostname"]
    assert worker[2] == url
    assert match.group(1) == url
    # The stream never ends: apps must not take every core by default, or a billing run waits forever.
    assert "-Dspark.deploy.defaultCores=1" in services["spark-master"]["environment"]["SPARK_MASTER_OPTS"]
    for name in ("rating-job", "billing-job"):
        assert settings_of(services[name], image_of[name]).spark_master == url, name
        # Executors connect back to the driver by its host name.
        assert services[name]["hostname"] == name


# ---- the walkthrough


def test_walkthrough_commands_match_the_stack(services: dict[str, dict[str, Any]],
                                              image_of: dict[str, dict[str, Any]],
                                              capsys: pytest.CaptureFixture[str]) -> None:
    text = DOCS.read_text()
    env = services["kafka"]["environment"]
    advertised = {item.split("://", 1)[1] for item in env["KAFKA_ADVERTISED_LISTENERS"].split(",")}
    consumers = re.findall(r"docker compose exec kafka (/opt/kafka/bin/kafka-console-consumer\.sh.*)", text)
    assert consumers, "docs/docker.md shows no kafka-console-consumer.sh command"
    for line in consumers:
        words = shlex.split(line.rstrip("\\ "))
        assert words[words.index("--bootstrap-server") + 1] in advertised, line
        assert words[words.index("--topic") + 1] in {Settings().topic_rated, Settings().topic_rejected,
                                                     Settings().topic_alerts}, line
    tails = re.findall(r"^\s*telecom (tail.*)$", text, flags=re.M)
    assert tails, "docs/docker.md shows no `telecom tail` command"
    for line in tails:
        args = shlex.split(line)
        namespace = assert_parses(line, args, capsys)
        bootstrap = getattr(namespace, "bootstrap_servers", None) or Settings().bootstrap_servers
        assert bootstrap in advertised, line
    runs = re.findall(r"docker compose (?:--profile \S+ )*run --rm (?:--\S+ )*(\S+)(.*)$", text, flags=re.M)
    assert runs, "docs/docker.md shows no `docker compose run` command"
    for name, rest in runs:
        service, image = services[name], image_of[name]
        args = telecom_argv(name, container_argv(service, image, command=shlex.split(rest)), image,
                            service_environment(service))
        assert_parses(f"docker compose run --rm {name}{rest}", args, capsys)
    for promise in ("docker compose up", "./output", "--profile cluster", Settings().topic_rated):
        assert promise in text, f"docs/docker.md does not mention {promise}"


def test_every_image_build_gets_the_extra_ca_secret(services: dict[str, dict[str, Any]],
                                                     project: dict[str, Any]) -> None:
    """The build secret extra_ca_certs (a PEM bundle for a TLS-intercepting proxy) reaches every build;
    by default it is the repository's empty file, so nothing changes (docs/docker.md)."""
    built = {name: s["build"] for name, s in services.items() if "build" in s}
    assert built
    for name, build in built.items():
        assert [secret["source"] for secret in build.get("secrets", [])] == ["extra_ca_certs"], name
    default = Path(project["secrets"]["extra_ca_certs"]["file"])
    assert default == REPO / "build-secrets" / "extra-ca-certs.pem"
    assert default.is_file() and default.read_bytes() == b"", "the default bundle must be an empty file"
    assert "EXTRA_CA_CERTS" in DOCS.read_text()


def test_the_stream_gets_time_to_finish_its_batch_in_flight(services: dict[str, dict[str, Any]]) -> None:
    """`docker compose stop` sends SIGINT, then SIGKILL after the grace period: it must outlast the
    stream's own wait for the batch in flight (telecom_billing.stream.STOP_WAIT_S), or a stop would
    kill the batch that the wait protects."""
    from telecom_billing.stream import STOP_WAIT_S

    grace = services["rating-job"].get("stop_grace_period")
    assert grace is not None, "rating-job: no stop_grace_period (Docker's default is 10 s)"
    duration = re.fullmatch(r"(\d+)(s?)", str(grace))  # `docker compose config`: "40s" (JSON: nanoseconds)
    assert duration, grace
    seconds = int(duration.group(1)) / (1 if duration.group(2) else 1e9)
    assert seconds > STOP_WAIT_S, (seconds, STOP_WAIT_S)
