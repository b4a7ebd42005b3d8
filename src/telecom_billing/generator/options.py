"""What to generate: the run's options and their defaults."""

from __future__ import annotations

import calendar
from dataclasses import dataclass
from datetime import date

from ..contracts.records import FORMATS
from ..errors import UsageError

DEFAULT_SEED = 42
DEFAULT_SUBSCRIBERS = 10_000
DEFAULT_COUNT = 10_000
DEFAULT_DEFECT_RATE = 0.03
# The month in which the committed subscriber base activates and terminates subscribers, and the
# default simulated period: a fixed past month, so output never depends on today's date and no
# simulated event is in the future.
REFERENCE_MONTH = date(2026, 10, 1)
CANONICAL, LEGACY = FORMATS


@dataclass(frozen=True)
class GeneratorOptions:
    """What to generate. Simulated clock when `start` is set, else live (event time = now)."""

    seed: int = DEFAULT_SEED
    count: int | None = DEFAULT_COUNT  # None: endless (live streaming)
    fmt: str = CANONICAL
    start: date | None = REFERENCE_MONTH
    days: int | None = None  # None: to the end of the start's month
    rate: float | None = None  # lines per second; None: as fast as possible
    defects: float = DEFAULT_DEFECT_RATE
    parts_share: float | None = None  # of the lines: partial records (None: the traffic model's, `partials.share`)

    def __post_init__(self) -> None:
        if self.fmt not in FORMATS:
            raise UsageError(f"unknown format {self.fmt!r} (choose from {', '.join(FORMATS)})")
        if self.count is not None and self.count < 0:
            raise UsageError("--count must not be negative")
        if not 0.0 <= self.defects <= 1.0:
            raise UsageError("--defects is a rate between 0 and 1 (e.g. 0.03)")
        if self.parts_share is not None and not 0.0 <= self.parts_share < 1.0:
            raise UsageError("--parts-share is a share from 0 to below 1 (e.g. 0.05)")
        if self.rate is not None and self.rate <= 0:
            raise UsageError("--rate must be positive")
        if self.days is not None and self.days < 1:
            raise UsageError("--days must be at least 1")
        if self.start is None and self.rate is None:
            raise UsageError("the live clock needs --rate (or give --start for a simulated period)")
        if self.start is not None and self.count is None:
            raise UsageError("a simulated period needs --count")

    @property
    def live(self) -> bool:
        return self.start is None

    @property
    def legacy(self) -> bool:
        return self.fmt == LEGACY

    @property
    def period_days(self) -> int:
        if self.start is None:
            return 0
        if self.days is not None:
            return self.days
        return calendar.monthrange(self.start.year, self.start.month)[1] - self.start.day + 1
