"""Atomic writes of one file or one folder: written under a hidden name beside the target (the same
file system), then renamed onto it, so a reader finds the old content or the new, never a part.

The period and rerating folders have their own publication (`billing/folder.py`): it also compares
a new folder with the one in place and keeps a final period as it is.
"""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any


@contextmanager
def replacing(target: Path) -> Iterator[Path]:
    """A staging path beside `target` to write a file or a folder at; renamed onto `target` when the
    block ends (a folder already there is removed first), deleted if the block raises."""
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = target.with_name(f".{target.name}.{os.getpid()}.partial")
    try:
        yield staging
        if target.is_dir() and staging.is_dir():
            shutil.rmtree(target)
        os.replace(staging, target)
    finally:
        if staging.is_dir():
            shutil.rmtree(staging)
        else:
            staging.unlink(missing_ok=True)


def write_json(target: Path, value: Any) -> None:
    """`value` as indented UTF-8 JSON with a final newline, atomically."""
    with replacing(target) as staging:
        staging.write_text(json.dumps(value, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
