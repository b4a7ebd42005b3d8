"""Container entry point of the billing job: `telecom bill`, once or on a schedule.

With arguments, runs `telecom bill ARGS` once and exits with its status:
`docker compose run --rm billing-job --period 2026-11`.

Without arguments (the service under `docker compose up`), bills the current period every
`BILLING_INTERVAL_SECONDS`: the month of "now" in the time zone of the catalog that `telecom bill`
uses by default. The running month is provisional, so each run replaces the last one (`--force`).
A run that fails is retried at the next tick, except a usage error (exit 2), which no retry can fix.
"""

from __future__ import annotations

import os
import sys
import time
from datetime import datetime
from zoneinfo import ZoneInfo

from telecom_billing import cli
from telecom_billing.refdata.catalog import load_catalog
from telecom_billing.errors import TelecomError
from telecom_billing.infra.settings import load_settings

COMMAND = ("bill",)
USAGE_ERROR = 2


def current_period(now: datetime) -> str:
    return now.strftime("%Y-%m")


def bill_on_schedule(interval_s: float, timezone: ZoneInfo) -> int:
    while True:
        period = current_period(datetime.now(timezone))
        status = cli.main([*COMMAND, "--period", period, "--force"])
        if status == USAGE_ERROR:
            return status
        if status != 0:
            print(f"billing-job: period {period} failed (exit {status}); retrying in {interval_s:g} s",
                  file=sys.stderr)
        time.sleep(interval_s)


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if args:
        return cli.main([*COMMAND, *args])
    try:
        interval_s = float(os.environ["BILLING_INTERVAL_SECONDS"])
    except (KeyError, ValueError):
        print("billing-job: error: without arguments, BILLING_INTERVAL_SECONDS must give the seconds "
              "between two runs; or give `telecom bill` arguments, e.g. --period 2026-11", file=sys.stderr)
        return USAGE_ERROR
    try:
        timezone = ZoneInfo(load_catalog(load_settings().catalog_dir).timezone)
    except TelecomError as exc:
        print(f"billing-job: error: {exc}", file=sys.stderr)
        return 1
    return bill_on_schedule(interval_s, timezone)


if __name__ == "__main__":
    raise SystemExit(main())
