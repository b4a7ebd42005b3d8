"""The driver JVM's class-data-sharing archive (`infra/cds.py`, made by `make install` with
`python -m telecom_billing.cds_training`) maps into a Spark driver started the project's way:
with `-Xshare:on` a JVM that cannot map it refuses to start instead of running without it."""

from __future__ import annotations

import os
import subprocess
import sys

from telecom_billing.infra import cds
from telecom_billing.infra.settings import load_settings

SESSION = ("from telecom_billing.infra.settings import load_settings\n"
           "from telecom_billing.infra.spark import create_spark\n"
           "print('rows', create_spark(load_settings(), 'cds-check').range(3).count())\n")


def test_the_archive_maps_into_a_spark_driver() -> None:
    archive = cds.archive_path(load_settings())
    assert archive.is_file(), f"no archive at {archive}: `make install` makes it"
    done = subprocess.run([sys.executable, "-c", SESSION], capture_output=True, text=True, timeout=300,
                          env=dict(os.environ, JAVA_TOOL_OPTIONS="-Xshare:on"))
    assert done.returncode == 0, done.stderr[-2000:]
    assert "rows 3" in done.stdout
