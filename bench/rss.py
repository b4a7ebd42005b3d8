"""Peak resident memory of process trees (by default this benchmark and everything it started), from /proc."""

from __future__ import annotations

import os
import threading
from pathlib import Path


def tree_rss_bytes(*roots: int) -> int:
    """Resident memory of `roots` and all their descendants (from /proc)."""
    children: dict[int, list[int]] = {}
    rss: dict[int, int] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            pages = int((entry / "statm").read_text().split()[1])
        except (OSError, IndexError, ValueError):
            continue
        pid = int(entry.name)
        children.setdefault(int(fields[1]), []).append(pid)
        rss[pid] = pages * os.sysconf("SC_PAGE_SIZE")
    total, todo = 0, list(roots)
    while todo:
        pid = todo.pop()
        total += rss.get(pid, 0)
        todo.extend(children.get(pid, []))
    return total


class RssSampler(threading.Thread):
    """Samples the summed resident memory of the trees rooted at `roots` (default: this process)
    every 0.5 s; `peak` is the highest sum seen."""

    def __init__(self, *roots: int) -> None:
        super().__init__(daemon=True)
        self.roots = roots or (os.getpid(),)
        self.peak = 0
        self.halt = threading.Event()

    def run(self) -> None:
        while not self.halt.is_set():
            self.peak = max(self.peak, tree_rss_bytes(*self.roots))
            self.halt.wait(0.5)

    @property
    def peak_mb(self) -> float:
        return round(self.peak / 2**20, 1)
