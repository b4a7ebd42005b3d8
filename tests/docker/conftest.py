"""Session fixtures of the Docker checks: the compose project as `docker compose config` resolves it,
and the images' configuration as BuildKit computes it (see compose_stack.py)."""

from __future__ import annotations

import os
import subprocess
from typing import Any

import pytest
from compose_stack import BUILD_TIMEOUT_S, ENV_EXAMPLE, REPO, TOOLS, Tools, config_variants, load_json


@pytest.fixture(scope="session")
def tools() -> Tools:
    proc = subprocess.run(["bash", str(REPO / "scripts" / "docker-check.sh"), "tools"], cwd=REPO,
                          capture_output=True, text=True, timeout=BUILD_TIMEOUT_S)
    assert proc.returncode == 0, f"scripts/docker-check.sh tools failed:\n{proc.stderr}"
    hadolint = sorted(TOOLS.glob("hadolint-*/bin/hadolint"))
    assert hadolint, "hadolint was not installed under .local/tools"
    return Tools(TOOLS / "compose-check", hadolint[-1])


@pytest.fixture(scope="session")
def variants(tools: Tools) -> dict[tuple[str, ...], dict[str, Any]]:
    return config_variants(tools, "--env-file", str(ENV_EXAMPLE))


@pytest.fixture(scope="session")
def project(variants: dict[tuple[str, ...], dict[str, Any]]) -> dict[str, Any]:
    """The project with every profile enabled: every service, as `docker compose config` resolves it."""
    return variants[max(variants, key=len)]


@pytest.fixture(scope="session")
def services(project: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return dict(project["services"])


@pytest.fixture(scope="session")
def images_report(tools: Tools) -> dict[str, Any]:
    """`compose-check images` output, keyed by Dockerfile (problems are asserted by the tests)."""
    proc = tools.run("images", "-C", str(REPO), "--env-file", str(ENV_EXAMPLE))
    return {image["dockerfile"]: image for image in load_json(proc)["images"]}


@pytest.fixture(scope="session")
def image_of(services: dict[str, dict[str, Any]], images_report: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Service name -> the report of the image it builds."""
    return {name: images_report[s["build"]["dockerfile"]] for name, s in services.items() if "build" in s}


# The real `docker compose up` test (it starts an engine and the whole stack) is collected only under
# `make compose-test`, which sets COMPOSE_TEST=1; `make test` and `pytest tests/docker` stay static.
collect_ignore = [] if os.environ.get("COMPOSE_TEST") == "1" else ["test_compose_up.py"]


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "compose: the real `docker compose up` test (make compose-test)")
