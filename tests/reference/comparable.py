"""Which raw payloads the references can be compared on (RULES.md section 2)."""

from __future__ import annotations

import json


class _Incomparable(Exception):
    pass


def _check_float(text: str) -> float:
    value = abs(float(text))
    if sum(c.isdigit() for c in text) in range(990, 1011) or 1e16 <= value < 1e27 or 0 < value < 2.3e-308:
        raise _Incomparable(text)
    return value


def _check_int(text: str) -> int:
    if sum(c.isdigit() for c in text) in range(990, 1011):
        raise _Incomparable(text)
    return 0


_CHECKER = json.JSONDecoder(parse_float=_check_float, parse_int=_check_int)


def comparable(payload: bytes) -> bool:
    """False for the inputs RULES.md section 2 keeps out of comparisons: non-integer JSON numbers
    that Java 17 prints with extra digits, and number literals within 10 digits of Jackson's limit."""
    try:
        text = payload.decode("utf-8")
        start = len(text) - len(text.lstrip(" \t\r\n"))
        _CHECKER.raw_decode(text, start)
    except _Incomparable:
        return False
    except (ValueError, RecursionError):
        return True
    return True


__all__ = ["comparable"]
