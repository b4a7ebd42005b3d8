"""Fetch the pinned jars from Maven Central into a git-ignored cache.

* `connector`: the four jars Spark needs for Kafka (versions.CONNECTOR_ARTIFACTS), downloaded
  directly and checked against Maven Central's SHA-1 files (no Maven needed, so the Docker images
  can use this too).
* `broker`: Apache Kafka and its whole runtime classpath, resolved transitively by Maven from a pom
  generated from versions.BROKER_ARTIFACTS.

A second run finds the cache complete (a stamp file names the pinned versions) and does nothing.
Usage: `python -m telecom_billing.infra.jars {connector,broker,all} [--dest DIR]`.
"""

from __future__ import annotations

import argparse
import hashlib
import shutil
import subprocess
import sys
import tempfile
import urllib.error
import urllib.request
from pathlib import Path

from ..errors import ServiceUnavailable, TelecomError
from . import versions
from .settings import load_settings

MAVEN_CENTRAL = "https://repo1.maven.org/maven2"
STAMP = ".complete"


def _stamp_text(artifacts: tuple[tuple[str, str, str], ...]) -> str:
    return "\n".join(":".join(a) for a in artifacts) + "\n"


def _is_complete(dest: Path, artifacts: tuple[tuple[str, str, str], ...]) -> bool:
    stamp = dest / STAMP
    return stamp.is_file() and stamp.read_text() == _stamp_text(artifacts)


def _download(url: str) -> bytes:
    try:
        with urllib.request.urlopen(url, timeout=60) as response:
            return bytes(response.read())
    except (urllib.error.URLError, TimeoutError) as exc:
        raise ServiceUnavailable(f"cannot download {url}: {exc}") from None


def fetch_connector(dest: Path) -> list[Path]:
    """Download the Spark Kafka connector jars into `dest` (idempotent)."""
    artifacts = versions.CONNECTOR_ARTIFACTS
    if _is_complete(dest, artifacts):
        return sorted(dest.glob("*.jar"))
    dest.mkdir(parents=True, exist_ok=True)
    for group, artifact, version in artifacts:
        name = f"{artifact}-{version}.jar"
        base = f"{MAVEN_CENTRAL}/{group.replace('.', '/')}/{artifact}/{version}/{name}"
        data = _download(base)
        expected = _download(base + ".sha1").decode().split()[0].strip()
        actual = hashlib.sha1(data).hexdigest()
        if actual != expected:
            raise TelecomError(f"checksum mismatch for {name}: {actual} != {expected}")
        tmp = dest / (name + ".part")
        tmp.write_bytes(data)
        tmp.replace(dest / name)
    (dest / STAMP).write_text(_stamp_text(artifacts))
    return sorted(dest.glob("*.jar"))


def _maven_pom(artifacts: tuple[tuple[str, str, str], ...]) -> str:
    deps = "\n".join(
        f"    <dependency><groupId>{g}</groupId><artifactId>{a}</artifactId><version>{v}</version></dependency>"
        for g, a, v in artifacts
    )
    return f"""<project xmlns="http://maven.apache.org/POM/4.0.0">
  <modelVersion>4.0.0</modelVersion>
  <groupId>telecom-billing</groupId>
  <artifactId>embedded-broker</artifactId>
  <version>1</version>
  <packaging>pom</packaging>
  <dependencies>
{deps}
  </dependencies>
</project>
"""


def fetch_broker(dest: Path) -> list[Path]:
    """Resolve Kafka's runtime classpath with Maven into `dest` (idempotent)."""
    return _fetch_with_maven(dest, versions.BROKER_ARTIFACTS, "the Kafka broker jars")


def fetch_tools(dest: Path) -> list[Path]:
    """Kafka's command-line tools (the producer perf test used by `make bench`) into `dest`."""
    return _fetch_with_maven(dest, versions.TOOLS_ARTIFACTS, "the Kafka tools jars")


def _fetch_with_maven(dest: Path, artifacts: tuple[tuple[str, str, str], ...], what: str) -> list[Path]:
    if _is_complete(dest, artifacts):
        return sorted(dest.glob("*.jar"))
    mvn = shutil.which("mvn")
    if mvn is None:
        raise ServiceUnavailable("Maven (mvn) is not installed; it is needed once to fetch " + what)
    if shutil.which("java") is None:
        raise ServiceUnavailable("Java is not installed (java not on PATH); Java 17+ is needed")
    if dest.exists():
        shutil.rmtree(dest)
    dest.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=dest.parent) as work:
        pom = Path(work) / "pom.xml"
        pom.write_text(_maven_pom(artifacts))
        staging = Path(work) / "jars"
        cmd = [mvn, "-B", "-q", "-f", str(pom), "dependency:copy-dependencies",
               f"-DoutputDirectory={staging}", "-DincludeScope=runtime"]
        proc = subprocess.run(cmd, capture_output=True, text=True)
        if proc.returncode != 0:
            errors = [ln for ln in proc.stdout.splitlines() if "ERROR" in ln] or proc.stderr.splitlines()
            raise TelecomError(f"Maven could not fetch {what}: " + (errors[0] if errors else "unknown error"))
        staging.replace(dest)
    (dest / STAMP).write_text(_stamp_text(artifacts))
    return sorted(dest.glob("*.jar"))


def connector_jars(jars_dir: Path) -> list[Path]:
    """The connector jars, fetched on first use."""
    return fetch_connector(jars_dir / "connector")


def broker_classpath(jars_dir: Path) -> str:
    """The broker's classpath, fetched on first use."""
    return str(fetch_broker(jars_dir / "broker")[0].parent / "*")


def tools_classpath(jars_dir: Path) -> str:
    """Kafka's tools with their own runtime classpath (self-contained), fetched on first use."""
    return str(fetch_tools(jars_dir / "tools")[0].parent / "*")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m telecom_billing.infra.jars", description=__doc__)
    parser.add_argument("what", choices=["connector", "broker", "tools", "all"])
    parser.add_argument("--dest", type=Path, default=None,
                        help="target folder (default: <local dir>/jars/<what>)")
    args = parser.parse_args(argv)
    root = load_settings().jars_dir
    try:
        if args.what in ("connector", "all"):
            jars = fetch_connector(args.dest or root / "connector")
            print(f"connector: {len(jars)} jars in {jars[0].parent}")
        if args.what in ("broker", "all"):
            jars = fetch_broker(args.dest or root / "broker")
            print(f"broker: {len(jars)} jars in {jars[0].parent}")
        if args.what == "tools":
            jars = fetch_tools(args.dest or root / "tools")
            print(f"tools: {len(jars)} jars in {jars[0].parent}")
    except TelecomError as exc:
        print(f"jars: error: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
