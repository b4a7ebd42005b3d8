"""`python -m telecom_billing.cds_training`: make the driver JVM's class-data-sharing archive
(`infra.cds`), as `make install` does.

A child process runs a small month through the file driver and billing (the classes every job
loads) in a session started with `-XX:ArchiveClassesAtExit` on a temporary name; once its JVM has
exited, the archive is renamed into place.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
from pathlib import Path

from . import cli
from .infra.atomic import replacing
from .infra.cds import archive_path
from .infra.settings import Settings, load_settings
from .infra.spark import create_spark

TRAINING_CDRS = 3_000


def make_archive(settings: Settings) -> Path:
    """Run the training job in a child process and put its archive in place (replacing an old one)."""
    target = archive_path(settings)
    with replacing(target) as partial:
        child = [sys.executable, "-m", "telecom_billing.cds_training", "--dump-to", str(partial)]
        done = subprocess.run(child, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, check=False)
        if done.returncode != 0 or not partial.is_file():
            last = (done.stderr.strip().splitlines() or ["no output"])[-1]
            raise SystemExit(f"error: the class-data-sharing archive was not made ({last})")
    return target


def train(settings: Settings, dump_to: Path) -> None:
    """A small month, generated, rated by the file driver and billed, in a session that archives
    its classes at exit."""
    spark = create_spark(settings, "telecom-cds", cds_dump_to=dump_to)
    jvm = spark.sparkContext._gateway.proc  # type: ignore[union-attr]  # the driver JVM (spark-class execs java)
    with tempfile.TemporaryDirectory(prefix="telecom-cds-") as tmp:
        raw, rated, out = Path(tmp) / "raw.jsonl", Path(tmp) / "rated", Path(tmp) / "invoices"
        steps = (["generate", "--count", str(TRAINING_CDRS), "--out", str(raw), "--quiet"],
                 ["rate", "--input", str(raw), "--out", str(rated)],
                 ["bill", "--period", "2026-10", "--rated", str(rated / "rated.jsonl"), "--raw", str(raw),
                  "--rejected", str(rated), "--out", str(out)])
        for step in steps:
            if cli.main(step) not in (0, 1):  # 1: a reconciliation with unexplained records is still a run
                raise SystemExit(f"error: training step {step[0]} failed")
    # The JVM writes the archive as it exits, after its Python has gone: stop it here and wait, so
    # that the archive is whole when this process ends.
    spark.stop()
    jvm.stdin.close()
    if jvm.wait(timeout=300) != 0:
        raise SystemExit(f"error: the driver JVM exited with status {jvm.returncode} while writing the archive")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m telecom_billing.cds_training", description=__doc__)
    parser.add_argument("--force", action="store_true", help="make the archive again")
    parser.add_argument("--dump-to", type=Path, default=None, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    settings = load_settings()
    if args.dump_to is not None:
        train(settings, args.dump_to)
        return 0
    if archive_path(settings).is_file() and not args.force:
        print(f"class-data-sharing archive: {archive_path(settings)} (made before; --force makes it again)")
        return 0
    print(f"class-data-sharing archive: {make_archive(settings)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
