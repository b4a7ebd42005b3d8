"""The event pool: a fixed set of usage events (service, other party, direction, usage) drawn
once per run in the traffic model's proportions, each kept as the pre-formatted middle of a line.

A CDR line picks one event by index, so the pool is small enough to stay in the CPU caches and a
power of two, so that a masked 16-bit random number indexes it.

Canonical usage over the partials' thresholds never comes whole: a pool event's usage is drawn
below them, and the long calls and data sessions come as parts (`sessions`), which draw their
other party, upload share and duration from the tables the pool keeps. Legacy records have no
parts, so their usage is drawn unbounded.
"""

from __future__ import annotations

import math
import random
import statistics
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TypeVar

from ..contracts.limits import BYTES_PER_MB
from ..contracts.records import SERVICES
from ..errors import UsageError
from ..refdata.catalog import Catalog
from .fields import LEGACY_OTHER_PARTY, LEGACY_SUBSCRIBER
from .traffic import (
    DATA_DOWN_MEDIAN_BYTES,
    DATA_MIN_BYTES,
    DATA_SIGMA,
    DATA_UP_RATIO_MEDIAN,
    DATA_UP_RATIO_SIGMA,
    MO_SHARE,
    ON_NET_SHARE,
    SERVICE_MIX,
    SESSION_MAX_SEC,
    SESSION_MEDIAN_SEC,
    SESSION_SIGMA,
    VOICE_MAX_SEC,
    VOICE_MEDIAN_SEC,
    VOICE_SIGMA,
    WORLD_CODES,
    Traffic,
    random_number,
)

EVENTS = 1 << 13
OTHER_PARTIES = 20_000  # distinct destination numbers per run
_QUANTILES = 1 << 14  # points of each usage distribution table
T = TypeVar("T")


@dataclass(frozen=True)
class EventPool:
    heads: list[str]  # per event: canonical '"record_type":"voice",'; legacy the type
    id_fields: list[str]  # per event, legacy: the name of the subscriber's field
    mids: list[str]  # per event: other party, direction and usage, as they follow the subscriber
    voice: list[int]  # indices of the voice events
    parties: list[str]  # the destination numbers of the run
    up_ratios: list[float]  # distribution table: upload bytes per download byte
    session_seconds: list[int]  # distribution table: the duration of a data session


def sample(rnd: random.Random, table: Sequence[T]) -> T:
    """A random entry of a table (a distribution table: a draw from its distribution)."""
    return table[int(rnd.random() * len(table))]


def draw_events(rnd: random.Random, catalog: Catalog, traffic: Traffic, base: list[str], legacy: bool) -> EventPool:
    """The pool, in the exact service mix; `base` holds the subscribers' numbers (on-net calls)."""
    numbers = _other_parties(rnd, catalog, traffic, base)
    voice_sec = [min(max(1, round(x)), VOICE_MAX_SEC) for x in _lognormal(VOICE_MEDIAN_SEC, VOICE_SIGMA)]
    down = [max(DATA_MIN_BYTES, round(x)) for x in _lognormal(DATA_DOWN_MEDIAN_BYTES, DATA_SIGMA)]
    up_ratio = _lognormal(DATA_UP_RATIO_MEDIAN, DATA_UP_RATIO_SIGMA)
    session = [min(max(1, round(x)), SESSION_MAX_SEC) for x in _lognormal(SESSION_MEDIAN_SEC, SESSION_SIGMA)]
    split = traffic.partials
    most_seconds, most_bytes = (math.inf, math.inf) if legacy else (split.split_after, split.split_bytes)
    # The exact mix: each service its rounded share, the last one the remainder.
    services = [s for s in SERVICES[:-1] for _ in range(round(EVENTS * SERVICE_MIX[s]))]
    services += [SERVICES[-1]] * (EVENTS - len(services))
    rnd.shuffle(services)
    mids = []
    for service in services:
        # Every event draws a party and a direction, data too, so that the draws stay aligned.
        other = numbers[int(rnd.random() * len(numbers))]
        direction = "MO" if rnd.random() < MO_SHARE else "MT"
        if service == "data":
            d, u = _volumes(rnd, down, up_ratio, most_bytes)
            if legacy:
                mb = repr(max(0.01, round(d / BYTES_PER_MB, 2)))
                mid = f', "data_volume_mb": {mb}, "session_duration_sec": {sample(rnd, session)}'
            else:
                mid = f',"bytes_up":{u},"bytes_down":{d}'
        elif legacy:  # the legacy subscriber is always the caller / sender
            mid = f', "{LEGACY_OTHER_PARTY[service]}": "{other}"'
        else:
            mid = f',"other_party":"{other}","direction":"{direction}"'
        if service == "voice":
            seconds = sample(rnd, voice_sec)
            while seconds > most_seconds:
                seconds = sample(rnd, voice_sec)
            mid += f', "duration_sec": {seconds}' if legacy else f',"duration_sec":{seconds}'
        mids.append(mid)
    return EventPool(heads=[s if legacy else f'"record_type":"{s}",' for s in services],
                     id_fields=[LEGACY_SUBSCRIBER[s] for s in services], mids=mids,
                     voice=[i for i, s in enumerate(services) if s == "voice"], parties=numbers,
                     up_ratios=up_ratio, session_seconds=session)


def _volumes(rnd: random.Random, down: list[int], up_ratio: list[float], most: float) -> tuple[int, int]:
    """Download and upload bytes of a data record, together at most `most`."""
    while True:
        d = sample(rnd, down)
        u = max(1, int(d * sample(rnd, up_ratio)))
        if d + u <= most:
            return d, u


def _lognormal(median: float, sigma: float) -> list[float]:
    """Quantiles of a log-normal distribution: indexing with a uniform integer samples it."""
    normal = statistics.NormalDist()
    return [median * math.exp(sigma * normal.inv_cdf((i + 0.5) / _QUANTILES)) for i in range(_QUANTILES)]


def _other_parties(rnd: random.Random, catalog: Catalog, traffic: Traffic, base: list[str]) -> list[str]:
    """Destination numbers that fall in the catalog's zones in the traffic's proportions."""
    named = [p for prefixes in catalog.zones.values() for p in prefixes if p]
    zones: list[tuple[float, list[str]]] = []
    for zone, prefixes in catalog.zones.items():
        heads = [p for p in prefixes if p]
        if "" in prefixes:  # the catch-all: countries that no other prefix claims
            heads += [c for c in WORLD_CODES if not any(c.startswith(p) or p.startswith(c) for p in named)]
        if heads:
            zones.append((traffic.zones[zone], heads))
    if not zones:
        raise UsageError("the catalog has no zone prefixes to call")
    total = sum(w for w, _ in zones)
    cc = catalog.home_country_code
    numbers = [random_number(rnd, rnd.choice(heads), cc)
               for weight, heads in zones for _ in range(round(OTHER_PARTIES * weight / total))]
    own = traffic.subscriber_prefixes
    for i, number in enumerate(numbers):
        if number.startswith(own) and rnd.random() < ON_NET_SHARE:
            numbers[i] = rnd.choice(base)
    rnd.shuffle(numbers)
    return numbers
