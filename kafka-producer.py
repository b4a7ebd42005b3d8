#!/usr/bin/env python3
"""Stream CDRs to Kafka's raw topic: the `telecom produce` command (see `--help`)."""

import sys

from telecom_billing.cli import main

if __name__ == "__main__":
    raise SystemExit(main(["produce", *sys.argv[1:]]))
