"""The reference's partial records (DESIGN.md 7c, docs/RULES.md section 18): sessions of parts, judged,
assembled and closed with the file driver's semantics, written from the rules text alone.

A part reaches a session once it passed every mediation check, its own checks (`rating.py`, a stage of
mediation) and deduplication by `cdr_id`. Here: deduplication by `(msisdn, session_id, sequence)`, the
judgement of the held parts against their session, closing (at once when complete, as incomplete at the end
of the input) and `LATE_PARTIAL` for a part of a closed session. A closed session is remembered for the
whole input, as every `cdr_id` is (the file driver sees a whole file at once, RULES.md section 11).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

T = TypeVar("T")

PART_FIELDS: tuple[str, ...] = ("session_id", "sequence", "partial")
# The fields a part shares with its session's first part, in the order they are compared.
SHARED_FIELDS: tuple[str, ...] = ("record_type", "other_party", "direction", "visited_country")
PARTIAL_KINDS: tuple[str, ...] = ("intermediate", "last")

# A session's key: (normalized msisdn, session_id).
SessionKey = tuple[str, str]


@dataclass(frozen=True)
class PartFields:
    """A part's own fields, once they passed its own checks."""

    session_id: str
    sequence: int
    last: bool


@dataclass(frozen=True)
class Assembly:
    """What a rated CDR says of its assembly; every field None on a whole CDR."""

    partials: int | None = None
    incomplete: bool | None = None
    missing: tuple[int, ...] | None = None
    last_missing: bool | None = None

    def fields(self) -> dict[str, Any]:
        """The four keys that follow `rated_at` on a rated CDR (RULES.md section 18)."""
        return {
            "partials": self.partials,
            "incomplete": self.incomplete,
            "missing": None if self.missing is None else list(self.missing),
            "last_missing": self.last_missing,
        }


WHOLE = Assembly()


@dataclass(frozen=True, eq=False)
class Part(Generic[T]):
    """A part held by its session: its own fields, its shared fields' normalized values (SHARED_FIELDS
    order), and the caller's record."""

    fields: PartFields
    shared: tuple[str | None, ...]
    record: T

    @property
    def sequence(self) -> int:
        return self.fields.sequence


@dataclass(frozen=True)
class Closing(Generic[T]):
    """A session as it closed: its first part, the other parts merged into the assembled CDR (arrival order)
    and the parts rejected `INVALID_PARTIAL` against it, with their details."""

    session_id: str
    first: Part[T]
    others: tuple[Part[T], ...]
    rejected: tuple[tuple[Part[T], str], ...]
    assembly: Assembly

    @property
    def merged(self) -> tuple[Part[T], ...]:
        return (self.first, *self.others)

    @property
    def state(self) -> str:
        return "incomplete" if self.assembly.incomplete else "complete"


class Sessions(Generic[T]):
    """The sessions of one input, in arrival order."""

    def __init__(self) -> None:
        self._seen: dict[SessionKey, set[int]] = {}
        self._held: dict[SessionKey, list[Part[T]]] = {}
        self._closed: dict[SessionKey, Closing[T]] = {}

    def repeats(self, key: SessionKey, sequence: int) -> bool:
        """True when this sequence of the session was seen before (the part is a duplicate); else it is seen
        from now on, whatever becomes of the part."""
        seen = self._seen.setdefault(key, set())
        if sequence in seen:
            return True
        seen.add(sequence)
        return False

    def closed_as(self, key: SessionKey) -> str | None:
        """`<cdr_id> (complete|incomplete)` for a closed session (a new part of it is LATE_PARTIAL), else None."""
        closing = self._closed.get(key)
        return None if closing is None else f"{closing.session_id} ({closing.state})"

    def hold(self, key: SessionKey, part: Part[T]) -> Closing[T] | None:
        """Hold a part of an open session; the session's closing when it is now complete."""
        held = self._held.setdefault(key, [])
        held.append(part)
        judgement = _Judgement.of(held)
        if not judgement.complete:
            return None
        return self._close(key, judgement, incomplete=False)

    def close_open(self) -> list[Closing[T]]:
        """Close every session still open as incomplete (the end of the input), in order of first arrival."""
        return [self._close(key, _Judgement.of(held), incomplete=True) for key, held in list(self._held.items())]

    def _close(self, key: SessionKey, judgement: _Judgement[T], incomplete: bool) -> Closing[T]:
        del self._held[key]
        closing = judgement.closing(key[1], incomplete)
        self._closed[key] = closing
        return closing


@dataclass(frozen=True)
class _Judgement(Generic[T]):
    """The held parts of a session judged in arrival order: which merge, which are rejected and why."""

    last: Part[T] | None
    first: Part[T]
    merged: tuple[Part[T], ...]
    rejected: tuple[tuple[Part[T], str], ...]

    @classmethod
    def of(cls, held: Sequence[Part[T]]) -> _Judgement[T]:
        last = next((part for part in held if part.fields.last), None)
        against_last = [(part, _against_last(part, last)) for part in held]
        first = min((part for part, detail in against_last if detail is None), key=lambda part: part.sequence)
        merged: list[Part[T]] = []
        rejected: list[tuple[Part[T], str]] = []
        for part, detail in against_last:
            detail = detail or _against_first(part, first)
            if detail is None:
                merged.append(part)
            else:
                rejected.append((part, detail))
        return cls(last, first, tuple(merged), tuple(rejected))

    @property
    def last_merged(self) -> bool:
        return any(part is self.last for part in self.merged)

    @property
    def complete(self) -> bool:
        """The last part (sequence N) and parts 1..N merge (merged sequences are distinct and at most N)."""
        return self.last is not None and self.last_merged and len(self.merged) == self.last.sequence

    def closing(self, session_id: str, incomplete: bool) -> Closing[T]:
        merged_sequences = {part.sequence for part in self.merged}
        missing = tuple(s for s in range(1, max(merged_sequences) + 1) if s not in merged_sequences)
        assembly = Assembly(len(self.merged), incomplete, missing, not self.last_merged)
        others = tuple(part for part in self.merged if part is not self.first)
        return Closing(session_id, self.first, others, self.rejected, assembly)


def _against_last(part: Part[Any], last: Part[Any] | None) -> str | None:
    """Why a part cannot belong to a session that its `last` part ends, if it cannot."""
    if last is None or part is last:
        return None
    if part.fields.last:
        return f"a second last part: sequence {last.sequence} already ended the session"
    if part.sequence > last.sequence:
        return f"sequence {part.sequence} above the last part's {last.sequence}"
    return None


def _against_first(part: Part[Any], first: Part[Any]) -> str | None:
    """The first shared field in which a part differs from its session's first part, if any."""
    for name, value, first_value in zip(SHARED_FIELDS, part.shared, first.shared, strict=True):
        if value != first_value:
            return f"{name} differs from part {first.sequence}"
    return None


__all__ = [
    "PARTIAL_KINDS",
    "PART_FIELDS",
    "SHARED_FIELDS",
    "WHOLE",
    "Assembly",
    "Closing",
    "Part",
    "PartFields",
    "SessionKey",
    "Sessions",
]
