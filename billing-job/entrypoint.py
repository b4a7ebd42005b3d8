"""Container entry point of the billing job: `telecom bill`, once or on a schedule.

With arguments, runs `telecom bill ARGS` once and exits with its status:
`docker compose run --rm billing-job --period 2026-11`.

Without arguments (the service under `docker compose up`), runs `telecom bill --due` every
`BILLING_INTERVAL_SECONDS` (DESIGN.md section 7a): a draft of the open period (and of any period
still inside its grace days), replaced at each run, and the final invoices of every period whose
cut-off has passed and that is not final yet. A final waits for the stream to catch up; when it
does not in time, the next run tries again. Records in flight are normal: the job stays up.
"""

from __future__ import annotations

import os
import sys
import time

from telecom_billing import cli

COMMAND = ("bill",)
USAGE_ERROR = 2


def bill_on_schedule(interval_s: float) -> int:
    while True:
        status = cli.main([*COMMAND, "--due", "--wait", str(min(interval_s, 300.0))])
        if status == USAGE_ERROR:
            return status
        if status != 0:
            print(f"billing-job: run failed (exit {status}); retrying in {interval_s:g} s", file=sys.stderr)
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
    return bill_on_schedule(interval_s)


if __name__ == "__main__":
    raise SystemExit(main())
