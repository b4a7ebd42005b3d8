#!/usr/bin/env python3
"""Entry point of the streaming rating job: the same as `telecom stream` (all logic is in the package)."""

import sys

from telecom_billing.cli import main

if __name__ == "__main__":
    raise SystemExit(main(["stream", *sys.argv[1:]]))
