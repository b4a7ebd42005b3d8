#!/usr/bin/env python3
"""`python main.py`: the whole pipeline on a fresh embedded stack, what `make demo` runs (`telecom demo`),
with the same flags (`python main.py --count 20000 --corrections`). All logic is in the package."""

import sys

from telecom_billing.cli import main

if __name__ == "__main__":
    raise SystemExit(main(["demo", *sys.argv[1:]]))
