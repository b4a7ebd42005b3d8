"""How far the rating stream got: the source offsets of its last committed micro-batch.

Structured Streaming writes `offsets/<batch>` (the end offsets a batch reads, one JSON document per
source after two header lines) before the batch and `commits/<batch>` after its sink has written.
Every raw record below the offsets of the last committed batch therefore has its outcome on
`cdr.rated` or `cdr.rejected`; the records at or beyond them are in flight.
"""

from __future__ import annotations

import json
from pathlib import Path

from ..errors import TelecomError


def committed_offsets(checkpoint: Path, topic: str) -> dict[int, int]:
    """Partition -> next offset the stream will read, for `topic`, as of its last committed batch;
    empty when the stream has committed no batch yet (or never ran with this checkpoint)."""
    batches = sorted((int(p.name) for p in (checkpoint / "commits").glob("[0-9]*") if p.name.isdigit()),
                     reverse=True)
    for batch in batches:
        offsets = checkpoint / "offsets" / str(batch)
        if offsets.is_file():
            return _topic_offsets(offsets, topic)
    return {}


def _topic_offsets(path: Path, topic: str) -> dict[int, int]:
    try:
        for line in path.read_text(encoding="utf-8").splitlines()[2:]:
            document = json.loads(line) if line.strip().startswith("{") else None
            if isinstance(document, dict) and topic in document:
                return {int(p): int(o) for p, o in document[topic].items()}
    except (OSError, ValueError) as exc:
        raise TelecomError(f"cannot read the stream's checkpoint {path}: {exc}") from None
    return {}


def records_behind(end: dict[int, tuple[int, int]], committed: dict[int, int]) -> int:
    """Raw records below `end` (partition -> (first, next) offsets) the stream has not committed."""
    return sum(max(after - max(committed.get(p, first), first), 0) for p, (first, after) in end.items())
