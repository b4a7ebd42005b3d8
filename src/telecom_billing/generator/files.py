"""Generated CDRs and their labels written to files."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import IO

from .batches import write_labels
from .cdrs import CdrGenerator


@dataclass
class WriteStats:
    lines: int = 0
    defects: int = 0
    seconds: float = 0.0

    @property
    def rate(self) -> float:
        return self.lines / self.seconds if self.seconds > 0 else 0.0


def write_cdrs(generator: CdrGenerator, out: IO[str], labels: IO[str] | None = None,
               progress: Callable[[WriteStats], None] | None = None, every_s: float = 5.0) -> WriteStats:
    """Write every batch as newline-terminated lines (and labels); `progress` every `every_s`."""
    stats = WriteStats()
    started = last = time.monotonic()
    for lines, batch_labels, _ in generator.batches():
        if lines:
            out.write("\n".join(lines))
            out.write("\n")
        if labels is not None and batch_labels:
            write_labels(labels, batch_labels)
        stats.lines += len(lines)
        stats.defects += len(batch_labels)
        if progress is not None and time.monotonic() - last >= every_s:
            last = time.monotonic()
            stats.seconds = last - started
            progress(stats)
    stats.seconds = time.monotonic() - started
    return stats


def default_labels_path(out: str) -> str:
    """`cdrs.jsonl` -> `cdrs.labels.jsonl`."""
    stem = out[: -len(".jsonl")] if out.endswith(".jsonl") else out
    return f"{stem}.labels.jsonl"
