"""A real single-node Apache Kafka broker (KRaft, combined broker + controller) run from jars.

The broker's home folder holds `server.properties`, the data folder, `broker.log` and `broker.pid`.
`start` formats the storage once, launches `kafka.Kafka` in its own process group, and returns
when the broker answers a metadata request; `stop` ends exactly the process recorded in the pid file.
"""

from __future__ import annotations

import base64
import contextlib
import os
import shutil
import signal
import socket
import subprocess
import time
import uuid
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

from kafka import KafkaAdminClient
from kafka.errors import KafkaError

from ..errors import ServiceUnavailable, TelecomError
from .jars import broker_classpath

READY_TIMEOUT_S = 60.0
STOP_TIMEOUT_S = 30.0


@dataclass(frozen=True)
class EmbeddedBroker:
    """A broker living in `home`, listening on localhost:`port` (controller on `controller_port`)."""

    home: Path
    jars_dir: Path
    port: int = 9092
    controller_port: int = 9093
    heap: str = "1g"

    @property
    def bootstrap_servers(self) -> str:
        return f"localhost:{self.port}"

    @property
    def pid_file(self) -> Path:
        return self.home / "broker.pid"

    @property
    def log_file(self) -> Path:
        return self.home / "broker.log"

    @property
    def data_dir(self) -> Path:
        return self.home / "data"

    def server_properties(self) -> str:
        props = {
            "process.roles": "broker,controller",
            "node.id": "1",
            "controller.quorum.voters": f"1@localhost:{self.controller_port}",
            "listeners": f"PLAINTEXT://localhost:{self.port},CONTROLLER://localhost:{self.controller_port}",
            "advertised.listeners": f"PLAINTEXT://localhost:{self.port}",
            "controller.listener.names": "CONTROLLER",
            "inter.broker.listener.name": "PLAINTEXT",
            "listener.security.protocol.map": "PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT",
            "log.dirs": str(self.data_dir),
            "num.partitions": "6",
            "auto.create.topics.enable": "false",
            # One node: every internal topic has replication factor 1.
            "offsets.topic.replication.factor": "1",
            "offsets.topic.num.partitions": "6",
            "transaction.state.log.replication.factor": "1",
            "transaction.state.log.min.isr": "1",
            "transaction.state.log.num.partitions": "6",
            "share.coordinator.state.topic.replication.factor": "1",
            "share.coordinator.state.topic.min.isr": "1",
            "group.initial.rebalance.delay.ms": "0",
            # Poison records (megabytes long) are rejected with their raw payload, not dropped.
            "message.max.bytes": str(64 * 1024 * 1024),
            "replica.fetch.max.bytes": str(64 * 1024 * 1024),
            "log.retention.check.interval.ms": "300000",
        }
        return "".join(f"{k}={v}\n" for k, v in props.items())

    # -- process control -------------------------------------------------------------------

    def running_pid(self) -> int | None:
        """The pid of this broker when it is running (checked against /proc, not just the file)."""
        try:
            pid = int(self.pid_file.read_text().strip())
        except (FileNotFoundError, ValueError):
            return None
        try:
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
        except OSError:
            return None
        marker = str(self.home / "server.properties").encode()
        return pid if b"kafka.Kafka" in cmdline and marker in cmdline else None

    def _java(self) -> str:
        java_home = os.environ.get("JAVA_HOME")
        candidate = Path(java_home) / "bin" / "java" if java_home else None
        if candidate is not None and candidate.is_file():
            return str(candidate)
        found = shutil.which("java")
        if found is None:
            raise ServiceUnavailable("Java is not installed (no java on PATH, no JAVA_HOME); Java 17+ is needed")
        return found

    def _format_storage(self, java: str, classpath: str, props: Path) -> None:
        if (self.data_dir / "meta.properties").exists():
            return
        cluster_id = _cluster_id()
        proc = subprocess.run(
            [java, "-cp", classpath, *self._log_opts(), "kafka.tools.StorageTool", "format",
             "-t", cluster_id, "-c", str(props)],
            capture_output=True, text=True,
        )
        if proc.returncode != 0:
            lines = (proc.stderr or proc.stdout).strip().splitlines()
            raise TelecomError("cannot format broker storage: " + (lines[-1] if lines else "unknown error"))

    def _log_opts(self) -> list[str]:
        config = resources.files("telecom_billing") / "resources" / "broker-log4j2.properties"
        return [f"-Dlog4j2.configurationFile={config}"]

    def start(self, timeout: float = READY_TIMEOUT_S) -> int:
        """Start the broker and wait until it answers; returns its pid (idempotent)."""
        pid = self.running_pid()
        if pid is not None:
            return pid
        for port in (self.port, self.controller_port):
            if not _port_free(port):
                raise ServiceUnavailable(f"port {port} is already in use (another Kafka?); "
                                         "stop it or choose TELECOM_BROKER_PORT / TELECOM_CONTROLLER_PORT")
        java = self._java()
        classpath = broker_classpath(self.jars_dir)
        self.home.mkdir(parents=True, exist_ok=True)
        props = self.home / "server.properties"
        props.write_text(self.server_properties())
        self._format_storage(java, classpath, props)
        with open(self.log_file, "ab") as log:
            proc = subprocess.Popen(
                [java, f"-Xmx{self.heap}", f"-Xms{self.heap}", "-XX:+UseG1GC", "-XX:MaxGCPauseMillis=20",
                 "-Djava.awt.headless=true", *self._log_opts(), "-cp", classpath, "kafka.Kafka", str(props)],
                stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True,
            )
        self.pid_file.write_text(f"{proc.pid}\n")
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                self.pid_file.unlink(missing_ok=True)
                raise TelecomError(f"the broker exited at start (code {proc.returncode}): "
                                   f"{_last_error(self.log_file)} (log: {self.log_file})")
            if _answers(self.bootstrap_servers):
                return proc.pid
            time.sleep(0.25)
        self.stop()
        raise TelecomError(f"the broker did not answer within {timeout:.0f} s (log: {self.log_file})")

    def stop(self, timeout: float = STOP_TIMEOUT_S) -> bool:
        """Stop this broker (SIGTERM, then SIGKILL after `timeout`); False when it was not running."""
        pid = self.running_pid()
        if pid is None:
            self.pid_file.unlink(missing_ok=True)
            return False
        os.kill(pid, signal.SIGTERM)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and _alive(pid):
            time.sleep(0.2)
        if _alive(pid):
            os.kill(pid, signal.SIGKILL)
            while _alive(pid):
                time.sleep(0.1)
        self.pid_file.unlink(missing_ok=True)
        return True


def _cluster_id() -> str:
    """A random Kafka cluster id (base64url of a UUID, as Kafka's `Uuid.randomUuid`); like Kafka, never one
    that starts with '-', which the storage tool's argument parser would take for an option."""
    while True:
        cluster_id = base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("=")
        if not cluster_id.startswith("-"):
            return cluster_id


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # A zombie child of ours counts as gone.
    try:
        state = Path(f"/proc/{pid}/stat").read_text().split(")")[-1].split()[0]
    except OSError:
        return False
    if state == "Z":
        with contextlib.suppress(ChildProcessError):
            os.waitpid(pid, os.WNOHANG)
        return False
    return True


def _port_free(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def _answers(bootstrap: str) -> bool:
    """True when the broker completes a metadata round trip."""
    host, _, port = bootstrap.rpartition(":")
    try:
        socket.create_connection((host, int(port)), timeout=1).close()
    except OSError:
        return False
    try:
        admin = KafkaAdminClient(bootstrap_servers=bootstrap, request_timeout_ms=3000,
                                 client_id="telecom-ready-check")
    except (KafkaError, OSError, ValueError):
        return False
    try:
        admin.list_topics()
        return True
    except (KafkaError, OSError):
        return False
    finally:
        admin.close()


def _last_error(log_file: Path) -> str:
    try:
        lines = log_file.read_text(errors="replace").splitlines()
    except OSError:
        return "no log"
    for line in reversed(lines):
        if " ERROR " in line or "Exception" in line:
            return line.strip()[:300]
    return lines[-1].strip()[:300] if lines else "no log output"


def free_port() -> int:
    """A TCP port that is free right now on localhost."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])
