"""The embedded broker's lifecycle and its clear errors."""

from __future__ import annotations

import socket
import subprocess
import sys

import pytest

from telecom_billing.errors import ServiceUnavailable
from telecom_billing.infra.broker import EmbeddedBroker, free_port
from telecom_billing.infra.settings import load_settings

pytestmark = pytest.mark.integration


def test_port_taken_is_a_clear_error(tmp_path):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        port = s.getsockname()[1]
        broker = EmbeddedBroker(home=tmp_path, jars_dir=load_settings().jars_dir, port=port,
                                controller_port=free_port())
        with pytest.raises(ServiceUnavailable, match=f"port {port} is already in use"):
            broker.start()


def test_missing_java_is_a_clear_error(tmp_path, monkeypatch):
    monkeypatch.setenv("PATH", str(tmp_path))
    monkeypatch.delenv("JAVA_HOME", raising=False)
    broker = EmbeddedBroker(home=tmp_path, jars_dir=load_settings().jars_dir, port=free_port(),
                            controller_port=free_port())
    with pytest.raises(ServiceUnavailable, match="Java is not installed"):
        broker.start()


def test_cli_start_status_stop(tmp_path):
    env = {"TELECOM_LOCAL_DIR": str(tmp_path), "TELECOM_BROKER_PORT": str(free_port()),
           "TELECOM_CONTROLLER_PORT": str(free_port()), "PATH": __import__("os").environ["PATH"]}
    env["TELECOM_LOCAL_DIR"] = str(tmp_path)
    # The jars stay in the shared cache; only the broker's home moves.
    (tmp_path / "jars").symlink_to(load_settings().jars_dir)

    def telecom(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "telecom_billing", *args], env=env, capture_output=True,
                              text=True, timeout=120)

    assert telecom("broker", "status").returncode == 3
    started = telecom("broker", "start")
    try:
        assert started.returncode == 0, started.stderr
        assert "broker ready" in started.stdout
        status = telecom("broker", "status")
        assert status.returncode == 0 and "running" in status.stdout
        assert telecom("topics", "create", "--bootstrap-servers",
                       f"localhost:{env['TELECOM_BROKER_PORT']}").returncode == 0
    finally:
        stopped = telecom("broker", "stop")
    assert stopped.returncode == 0 and "stopped" in stopped.stdout
    assert telecom("broker", "status").returncode == 3


def test_unreachable_broker_is_one_line(tmp_path):
    proc = subprocess.run([sys.executable, "-m", "telecom_billing", "topics", "create", "--bootstrap-servers",
                           f"localhost:{free_port()}"], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 1
    assert proc.stderr.strip().count("\n") == 0
    assert "no Kafka broker answers" in proc.stderr
