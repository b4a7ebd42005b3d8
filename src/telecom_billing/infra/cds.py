"""Class data sharing for the driver JVM: the classes Spark loads at every start, archived once.

A Spark driver loads some 15,000 classes before its first job; parsing and verifying them is about
a third of a session's start (BENCHMARKS.md, "Cold start"). HotSpot can map them from an archive
instead (JDK 13+ dynamic archives, `-XX:ArchiveClassesAtExit` / `-XX:SharedArchiveFile`).
`python -m telecom_billing.cds_training` (run by `make install`) makes the archive;
`spark.spark_conf` gives every later driver `-XX:SharedArchiveFile` when it exists.

The archive belongs to one JVM build and one classpath: it is named after the Spark version, and
a JVM that finds it does not match (another Java) runs without it (HotSpot's default
`-Xshare:auto`), silently. Executors on a cluster start their own JVMs: this is the driver's only.
"""

from __future__ import annotations

from pathlib import Path

from pyspark import __version__ as spark_version

from .settings import Settings

# HotSpot reports each class it cannot archive (signed jars, old class files): thousands of lines.
QUIET = "-Xlog:cds=off -Xlog:cds+dynamic=off"


def archive_path(settings: Settings) -> Path:
    return settings.local_dir / "cds" / f"driver-spark-{spark_version}.jsa"


def java_options(settings: Settings, dump_to: Path | None = None) -> str:
    """The driver's class-data-sharing options: write the archive at exit to `dump_to`, else use it
    when it exists, else none."""
    if dump_to is not None:
        return f"-XX:ArchiveClassesAtExit={dump_to} {QUIET}"
    archive = archive_path(settings)
    return f"-XX:SharedArchiveFile={archive} {QUIET}" if archive.is_file() else ""
