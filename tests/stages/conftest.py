"""Stage tests: each mediation or rating stage on a handful of rows, no broker (the `spark` fixture
of tests/conftest.py is local Spark only)."""

from __future__ import annotations

from typing import Any

import pytest


@pytest.fixture
def frame(spark: Any) -> Any:
    """`frame("a string, b bigint", [("x", 1), ...])`: a small DataFrame."""

    def make(schema: str, rows: list[tuple[Any, ...]]) -> Any:
        return spark.createDataFrame(rows, schema)

    return make
