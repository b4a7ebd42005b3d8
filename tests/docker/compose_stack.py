"""Helpers of the Docker checks: run tools/compose-check (compose-go and BuildKit, built from their
Go modules by scripts/docker-check.sh), since no Docker engine runs here.

(A module of its own, not conftest.py, so that the test modules can import it.)"""

from __future__ import annotations

import json
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[2]
COMPOSE_FILE = REPO / "docker-compose.yml"
ENV_EXAMPLE = REPO / ".env.example"
DOCKERFILES = ("rating-job/Dockerfile", "billing-job/Dockerfile", "producer/Dockerfile")
TOOLS = REPO / ".local" / "tools"
# Building compose-check the first time on a new machine fetches Go modules and compiles BuildKit.
BUILD_TIMEOUT_S = 800
RUN_TIMEOUT_S = 120


@dataclass(frozen=True)
class Tools:
    compose_check: Path
    hadolint: Path

    def run(self, *args: str, cwd: Path = REPO) -> subprocess.CompletedProcess[str]:
        return subprocess.run([str(self.compose_check), *args], cwd=cwd, capture_output=True, text=True,
                              timeout=RUN_TIMEOUT_S)


def load_json(proc: subprocess.CompletedProcess[str]) -> Any:
    assert proc.stdout, f"compose-check printed nothing (exit {proc.returncode}):\n{proc.stderr}"
    return json.loads(proc.stdout)


def config_variants(tools: Tools, *args: str) -> dict[tuple[str, ...], dict[str, Any]]:
    """`compose-check config` output: the resolved project for each set of enabled profiles."""
    proc = tools.run("config", "-C", str(REPO), *args)
    assert proc.returncode == 0, f"docker-compose.yml does not validate:\n{proc.stderr}"
    return {tuple(v["profiles"]): v["project"] for v in load_json(proc)["variants"]}


def image_env(image: dict[str, Any]) -> dict[str, str]:
    """The environment of an image, from its report."""
    return dict(item.split("=", 1) for item in image["config"]["Env"])
