"""Fetch the pinned jars into a git-ignored cache, each with a resolver that knows Maven Central
itself (no repository address is written here):

* `connector`: the four jars Spark needs for Kafka (versions.CONNECTOR_ARTIFACTS), exactly those
  (not transitively), with Apache Ivy, the resolver Spark's own `--packages` uses: its jar ships in
  every Spark (pyspark's `jars/`, the images' /opt/spark/jars), so the Docker images need no Maven.
  Ivy checks each file's published checksums.
* `broker` and `tools`: Apache Kafka (or its tools) and its whole runtime classpath, resolved
  transitively by Maven from a pom generated from versions.BROKER_ARTIFACTS / TOOLS_ARTIFACTS.

A second run finds the cache complete (a stamp file names the pinned versions) and does nothing.
Usage: `python -m telecom_billing.infra.jars {connector,broker,tools,all} [--dest DIR]
[--extra-ca-certs PEM]` (the last for a TLS-intercepting proxy: the PEM's certificates are trusted
by the connector's download on top of the JVM's own).
"""

from __future__ import annotations

import argparse
import hashlib
import shutil
import ssl
import subprocess
import sys
import tempfile
from pathlib import Path

from pyspark.find_spark_home import _find_spark_home

from ..errors import ServiceUnavailable, TelecomError
from . import versions
from .atomic import replacing
from .settings import load_settings

STAMP = ".complete"
# The password of a JDK's `cacerts` (the JDK's documented default) and of the copy made from it.
TRUST_STORE_PASSWORD = "changeit"


def _stamp_text(artifacts: tuple[tuple[str, str, str], ...]) -> str:
    return "\n".join(":".join(a) for a in artifacts) + "\n"


def _is_complete(dest: Path, artifacts: tuple[tuple[str, str, str], ...]) -> bool:
    stamp = dest / STAMP
    return stamp.is_file() and stamp.read_text() == _stamp_text(artifacts)


def java_path() -> str:
    java = shutil.which("java")
    if java is None:
        raise ServiceUnavailable("Java is not installed (java not on PATH); Java 17+ is needed")
    return java


def _ivy_jar() -> Path:
    """The Ivy jar of the Spark that pyspark runs (SPARK_HOME's `jars/`)."""
    found = sorted((Path(_find_spark_home()) / "jars").glob("ivy-*.jar"))
    if not found:
        raise TelecomError("no ivy-*.jar in Spark's jars folder: is pyspark installed whole?")
    return found[-1]


def _ivy_module(artifacts: tuple[tuple[str, str, str], ...]) -> str:
    deps = "\n".join(f'    <dependency org="{g}" name="{a}" rev="{v}" transitive="false" conf="default"/>'
                     for g, a, v in artifacts)
    return f"""<ivy-module version="2.0">
  <info organisation="telecom-billing" module="spark-connector"/>
  <dependencies>
{deps}
  </dependencies>
</ivy-module>
"""


def fetch_connector(dest: Path, extra_ca_certs: Path | None = None) -> list[Path]:
    """Fetch exactly the Spark Kafka connector jars into `dest` with Ivy (idempotent)."""
    artifacts = versions.CONNECTOR_ARTIFACTS
    if _is_complete(dest, artifacts):
        return sorted(dest.glob("*.jar"))
    java = java_path()
    dest.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=dest.parent) as work, replacing(dest) as staging:
        module = Path(work) / "ivy.xml"
        module.write_text(_ivy_module(artifacts))
        trust = trust_options(java, extra_ca_certs, Path(work)) if extra_ca_certs else []
        cmd = [java, *trust, "-jar", str(_ivy_jar()), "-ivy", str(module), "-confs", "default",
               "-cache", str(Path(work) / "cache"), "-retrieve", f"{staging}/[artifact]-[revision].[ext]"]
        proc = subprocess.run(cmd, capture_output=True, text=True)
        jars = sorted(staging.glob("*.jar")) if staging.is_dir() else []
        if proc.returncode != 0 or len(jars) != len(artifacts):
            problems = [ln.strip() for ln in proc.stdout.splitlines() if any(w in ln for w in ("FAILED", "ERROR"))]
            raise TelecomError("Ivy could not fetch the Spark Kafka connector: "
                               + (problems[0] if problems else (proc.stderr.strip().splitlines() or ["no jars"])[-1]))
    (dest / STAMP).write_text(_stamp_text(artifacts))
    return sorted(dest.glob("*.jar"))


def trust_options(java: str, extra_ca_certs: Path, work: Path) -> list[str]:
    """JVM options trusting the JDK's CAs plus those of `extra_ca_certs` (a PEM bundle) that it lacks:
    a copy of the JDK's `cacerts` with them added (keytool, one call per added certificate). None for
    an empty bundle (the build secret's default)."""
    certificates = _pem_certificates(extra_ca_certs)
    if not certificates:
        return []
    keytool = str(Path(java).resolve().parent / "keytool")
    store = work / "truststore.p12"
    shutil.copyfile(Path(java).resolve().parents[1] / "lib" / "security" / "cacerts", store)
    base = [keytool, "-noprompt", "-keystore", str(store), "-storepass", TRUST_STORE_PASSWORD]
    listing = subprocess.run([*base, "-list"], capture_output=True, text=True, check=True).stdout
    known = {line.rsplit(" ", 1)[-1].replace(":", "").lower() for line in listing.splitlines() if "SHA-256" in line}
    for n, pem in enumerate(certificates):
        if hashlib.sha256(ssl.PEM_cert_to_DER_cert(pem)).hexdigest() in known:
            continue
        cert = work / f"extra-{n}.pem"
        cert.write_text(pem)
        subprocess.run([*base, "-importcert", "-alias", f"extra-{n}", "-file", str(cert)],
                       capture_output=True, text=True, check=True)
    return [f"-Djavax.net.ssl.trustStore={store}", f"-Djavax.net.ssl.trustStorePassword={TRUST_STORE_PASSWORD}"]


def _pem_certificates(bundle: Path) -> list[str]:
    end = "-----END CERTIFICATE-----"
    if not bundle.is_file():
        raise TelecomError(f"no such CA bundle: {bundle}")
    blocks = bundle.read_text(encoding="ascii", errors="replace").split(end)
    return [block[block.index("-----BEGIN CERTIFICATE-----"):] + end + "\n"
            for block in blocks if "-----BEGIN CERTIFICATE-----" in block]


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
    java_path()
    dest.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=dest.parent) as work, replacing(dest) as staging:
        pom = Path(work) / "pom.xml"
        pom.write_text(_maven_pom(artifacts))
        cmd = [mvn, "-B", "-q", "--strict-checksums", "-f", str(pom), "dependency:copy-dependencies",
               f"-DoutputDirectory={staging}", "-DincludeScope=runtime"]
        proc = subprocess.run(cmd, capture_output=True, text=True)
        if proc.returncode != 0:
            errors = [ln for ln in proc.stdout.splitlines() if "ERROR" in ln] or proc.stderr.splitlines()
            raise TelecomError(f"Maven could not fetch {what}: " + (errors[0] if errors else "unknown error"))
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
    parser.add_argument("--extra-ca-certs", type=Path, default=None, metavar="PEM",
                        help="certificates the connector's download trusts besides the JVM's (a proxy's CA)")
    args = parser.parse_args(argv)
    root = load_settings().jars_dir
    try:
        if args.what in ("connector", "all"):
            jars = fetch_connector(args.dest or root / "connector", args.extra_ca_certs)
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
