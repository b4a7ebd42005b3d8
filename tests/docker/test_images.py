"""The Dockerfiles: they pass `docker build --check` (BuildKit's linter) and hadolint, every COPY
source is sent in the build context, they share one base, and what they set up (Python, the
connector jars, the user and its folders) matches the code."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import tomllib
from pathlib import Path
from typing import Any

from compose_stack import DOCKERFILES, REPO, Tools, image_env
from packaging.specifiers import SpecifierSet

from telecom_billing.infra import versions
from telecom_billing.infra.settings import load_settings

SHARED_BASE_END = "# ---- end of the shared base"
IMAGE_USER = "185:185"
WRITABLE_ROOT = Path("/var/lib/telecom")


def run_lines(dockerfile: str) -> str:
    """The Dockerfile's text with line continuations joined."""
    return re.sub(r"\\\n\s*", " ", (REPO / dockerfile).read_text())


def test_every_copy_source_is_in_the_build_context(images_report: dict[str, Any]) -> None:
    missing = [f"{name} line {copy['line']}: {source}"
               for name, image in images_report.items() for copy in image["copies"]
               for source, count in zip(copy["sources"], copy["sent_files"], strict=True) if count == 0]
    assert not missing, "COPY sources that are missing or excluded by .dockerignore:\n" + "\n".join(missing)
    for image in images_report.values():
        assert image["copies"], "no COPY found: the report is empty"


def test_build_context_leaves_out_local_state(images_report: dict[str, Any]) -> None:
    for name, image in images_report.items():
        sent = image["context_files"]
        assert sent, name
        heavy = [f for f in sent if f.split("/")[0] in {".venv", ".local", ".git", "output", "tests", "tools"}
                 or "__pycache__" in f]
        assert not heavy, f"{name}: the build context would send {heavy[:5]}"


def test_dockerfiles_pass_docker_build_check(images_report: dict[str, Any]) -> None:
    assert set(images_report) == set(DOCKERFILES)
    for name, image in images_report.items():
        assert image["lint"] == [], f"{name}: {image['lint']}"
        assert not [p for p in image["problems"] if "COPY" not in p], f"{name}: {image['problems']}"
        assert image["config"], f"{name}: BuildKit did not produce an image configuration"


def test_dockerfiles_pass_hadolint(tools: Tools) -> None:
    proc = subprocess.run([str(tools.hadolint), "--no-color", "--config", str(REPO / ".hadolint.yaml"),
                           *DOCKERFILES], cwd=REPO, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_linters_catch_a_bad_dockerfile(tools: Tools, tmp_path: Path) -> None:
    (tmp_path / "Dockerfile").write_text("from alpine:3.20 as Build\nCOPY missing.txt /x\nCMD echo hi\n")
    (tmp_path / "docker-compose.yml").write_text("services:\n  app:\n    build: .\n")
    bases = tmp_path / "bases.json"
    bases.write_text(json.dumps({"alpine:3.20": {"source": "test", "config": {"config": {}}}}))
    proc = tools.run("images", "-C", str(tmp_path), "--base-images", str(bases))
    assert proc.returncode != 0
    for finding in ("StageNameCasing", "JSONArgsRecommended", "COPY missing.txt selects no file"):
        assert finding in proc.stderr
    proc = subprocess.run([str(tools.hadolint), "--no-color", "--config", str(REPO / ".hadolint.yaml"),
                           str(tmp_path / "Dockerfile")], capture_output=True, text=True, timeout=120)
    assert proc.returncode != 0 and "DL3025" in proc.stdout


def test_images_share_one_base() -> None:
    bases = {name: (REPO / name).read_text().partition(SHARED_BASE_END) for name in DOCKERFILES}
    for name, (_, marker, _) in bases.items():
        assert marker, f"{name} has no '{SHARED_BASE_END}' line"
    assert len({base for base, _, _ in bases.values()}) == 1, "the shared base differs between Dockerfiles"
    for name, (_, _, tail) in bases.items():
        assert re.fullmatch(r"\s*(LABEL [^\n]*(\\\n[^\n]*)*\n)?ENTRYPOINT [^\n]*\n", tail), (
            f"{name}: only LABEL and ENTRYPOINT may follow the shared base")


def test_images_run_the_project_python(images_report: dict[str, Any]) -> None:
    text = run_lines(DOCKERFILES[0])
    minor = re.search(r"python3\.(\d+) -m venv /opt/venv", text)
    assert minor, "the Dockerfile does not create /opt/venv"
    required = SpecifierSet(tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["requires-python"])
    assert f"3.{minor.group(1)}" in required
    assert f"3.{minor.group(1)}" == f"{sys.version_info.major}.{sys.version_info.minor}", (
        "the images and the development environment run different Python versions")
    # pyspark is the base image's own (one copy of Spark), checked against the pinned version at build.
    assert "!= 'pyspark'" in text
    assert "pyspark.__version__ == versions.SPARK_VERSION" in text
    for image in images_report.values():
        env = image_env(image)
        assert env["PYSPARK_PYTHON"] == env["PYSPARK_DRIVER_PYTHON"] == "/opt/venv/bin/python"
        assert env["PATH"].startswith("/opt/venv/bin:")
        assert image["config"]["Entrypoint"][2] == "/opt/venv/bin/python"


def test_connector_jars_are_baked_where_the_session_finds_them(images_report: dict[str, Any]) -> None:
    for name, image in images_report.items():
        settings = load_settings(environ=image_env(image))
        jars_dir = settings.jars_dir
        text = run_lines(name)
        assert "python -m telecom_billing.infra.jars connector --dest " in text, name
        assert re.search(r"cp -r \S+/connector " + re.escape(f"{jars_dir}/"), text), (
            f"{name}: the jars are not copied to {jars_dir}/connector")
    proc = subprocess.run([sys.executable, "-m", "telecom_billing.infra.jars", "--help"], capture_output=True,
                          text=True, timeout=60)
    assert proc.returncode == 0 and "connector" in proc.stdout and "--dest" in proc.stdout
    assert len(versions.CONNECTOR_ARTIFACTS) == 4


def test_images_run_as_185_and_own_what_they_write(images_report: dict[str, Any]) -> None:
    for name, image in images_report.items():
        config = image["config"]
        assert config["User"] == IMAGE_USER, name
        settings = load_settings(environ=image_env(image))
        for folder in (settings.local_dir, settings.checkpoint_dir, settings.output_dir, Path(config["WorkingDir"]),
                       Path(image_env(image)["HOME"])):
            assert folder.is_relative_to(WRITABLE_ROOT), f"{name}: {folder} is not under {WRITABLE_ROOT}"
        assert f"chown -R {IMAGE_USER} {WRITABLE_ROOT}" in run_lines(name)
        assert settings.catalog_dir.is_relative_to("/opt/telecom/data")
        assert config["StopSignal"] == "SIGINT", "the CLI turns SIGINT into a clean stop"
        assert config["Entrypoint"][:2] == ["/usr/bin/tini", "--"], "PID 1 must forward signals"


def test_builds_work_offline_and_behind_a_tls_intercepting_proxy() -> None:
    """No `# syntax=` line (it pulls a frontend image; the built-in frontend has RUN --mount), and every
    step that downloads (pip from PyPI, the jars with Ivy from Maven Central) trusts the optional extra CA bundle,
    the build secret extra_ca_certs (docker-compose.yml, docs/docker.md)."""
    for name in DOCKERFILES:
        text = (REPO / name).read_text()
        assert not re.search(r"^#\s*syntax\s*=", text, re.M | re.I), f"{name}: a `# syntax=` line pulls an image"
        downloads = [run for run in re.split(r"\n(?=[A-Z]+ )", run_lines(name))
                     if run.startswith("RUN ") and ("pip install" in run or "telecom_billing.infra.jars" in run)]
        assert len(downloads) == 3, f"{name}: expected the two pip installs and the jar download, got {downloads}"
        for run in downloads:
            assert "--mount=type=secret,id=extra_ca_certs" in run, f"{name}: no CA secret for: {run[:120]}"
            tool_use = "PIP_CERT=/tmp/ca.pem pip install" if "pip install" in run else \
                "--extra-ca-certs /run/secrets/extra_ca_certs"
            assert tool_use in run, f"{name}: the bundle does not reach the download: {run[:160]}"
