"""What the generator yields: batches of lines, with the labels of their defects."""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass
from typing import IO, NamedTuple


@dataclass(frozen=True)
class Label:
    """One injected defect: the 0-based output line and what mediation must make of it."""

    line: int
    defect: str
    expected_reason: str | None

    def to_json(self) -> str:
        return json.dumps({"line": self.line, "defect": self.defect, "expected_reason": self.expected_reason})


class Batch(NamedTuple):
    """Consecutive output lines, the labels of their defects and, when asked for, Kafka keys."""

    lines: list[str]
    labels: list[Label]
    keys: list[bytes | None] | None = None


def write_labels(out: IO[str], labels: Iterable[Label]) -> None:
    """Labels as JSON lines (data/README.md, "Labels")."""
    out.write("".join(f"{label.to_json()}\n" for label in labels))
