#!/usr/bin/env python3
"""Generator throughput: canonical CDRs with the default defect rate written to a file.

Prints one JSON line: `generator_cdr_per_s` (best of `--repeat` runs, steady state: from the
first line to the last byte written, the one-time set-up excluded) and `generator_setup_s`
(catalog, subscriber base and pools). The target is 300,000 CDR/s on the project machine.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

from telecom_billing.generator import CdrGenerator, GeneratorOptions, load_traffic, write_cdrs
from telecom_billing.infra.settings import load_settings
from telecom_billing.refdata.catalog import load_catalog
from telecom_billing.refdata.subscribers import load_subscribers


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--format", dest="fmt", default="canonical", choices=("canonical", "legacy"))
    args = parser.parse_args()
    settings = load_settings()
    best, setup = 0.0, float("inf")
    with tempfile.TemporaryDirectory() as tmp:
        for run in range(args.repeat):
            started = time.perf_counter()
            catalog = load_catalog(settings.catalog_dir)
            generator = CdrGenerator(catalog, load_subscribers(settings.subscribers_file),
                                     GeneratorOptions(count=args.count, fmt=args.fmt, seed=run),
                                     traffic=load_traffic(settings.catalog_dir, catalog))
            setup = min(setup, time.perf_counter() - started)
            with (Path(tmp) / "cdrs.jsonl").open("w", encoding="utf-8") as out, \
                    (Path(tmp) / "labels.jsonl").open("w", encoding="utf-8") as labels:
                stats = write_cdrs(generator, out, labels)
            best = max(best, stats.lines / stats.seconds)
    print(json.dumps({"generator_cdr_per_s": round(best, 1), "generator_setup_s": round(setup, 3)}))


if __name__ == "__main__":
    main()
