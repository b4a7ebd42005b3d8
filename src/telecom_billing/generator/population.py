"""Who makes the traffic: the subscribers of one run as tables the per-line code only indexes.

Each subscriber holds a run of slots in one weighted table, as many as their activity deserves;
a slot is one place and radio they use, pre-formatted as the subscriber part of a line. A line
picks a slot uniformly, so busy subscribers appear more often at no cost per line. `Days` derives
each local date's version of the table: inactive subscribers' slots go to steady ones, and
travellers on a trip show roaming cells.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date

from ..refdata.subscribers import Subscriber
from .places import CITIES, home_city
from .traffic import (
    DEVICE_MIX,
    TECHNOLOGIES,
    TRAVELLER_SHARE,
    TRIP_BLOCK_DAYS,
    TRIP_CYCLE_BLOCKS,
    Traffic,
    random_number,
)

CELLS_PER_SHARE = 12  # cells per point of population share: ~1,400 cells in all
FAVOURITE_CELLS = 3
ROAMING_CELLS = 20  # per visited country
SLOTS_PER_SUBSCRIBER = 2  # on average: small enough to keep the table in the CPU caches
MIN_SLOTS = 1 << 13
UNKNOWN_NUMBERS = 500
# Activity: heavy-tailed (Pareto) times the plan's activity; the cap keeps one subscriber from
# taking a visible share of a small base.
ACTIVITY_PARETO_ALPHA, ACTIVITY_CAP = 1.6, 60.0


@dataclass(frozen=True)
class Population:
    msisdn: list[str]
    keys: list[bytes]  # each subscriber's Kafka key
    active: list[tuple[int, int]]  # (first, last + 1) local date ordinals
    ranges: list[tuple[int, int]]  # each subscriber's slots in the table
    owner: list[int]  # subscriber of each slot
    parts: list[str]  # per slot: canonical '"msisdn":..,"cell_id":..,"technology":..'; legacy the msisdn
    tails: list[str]  # per slot, legacy only: ', "cell_id": .., "technology": ..}'
    tech: list[tuple[str, str]]  # best and second technology of each subscriber's handset
    traveller: dict[int, tuple[str, int, int]]  # subscriber -> (country, trip block phase, block offset)
    roam_cells: dict[str, tuple[str, ...]]
    volatile: list[int]  # subscribers not active on every day the run may cover
    steady_slots: list[int]  # slots of subscribers active all along and never abroad


@dataclass(frozen=True)
class DayTable:
    """The table of subscriber parts for one local date: only active subscribers, travellers
    abroad with their roaming cells."""

    parts: list[str]
    tails: list[str]
    owners: list[int]  # whose line each slot makes (stand-ins change it)


def draw_population(rnd: random.Random, subscribers: Sequence[Subscriber], traffic: Traffic, legacy: bool,
                    first: int, last: int) -> Population:
    """The tables of a run covering local date ordinals `first` to `last`."""
    city_cells = [tuple(f"{stem}_{i:03d}" for i in range(1, max(2, round(share * CELLS_PER_SHARE)) + 1))
                  for _, _, share, stem in CITIES]
    all_cells = tuple(c for cells in city_cells for c in cells)
    countries, country_weights = list(traffic.countries), list(traffic.countries.values())
    never = date.max.toordinal()
    msisdn = [s.msisdn for s in subscribers]
    active = [(s.activation_date.toordinal(), s.termination_date.toordinal() if s.termination_date else never)
              for s in subscribers]
    weight = [min(rnd.paretovariate(ACTIVITY_PARETO_ALPHA), ACTIVITY_CAP) * traffic.activity(s.plan_id)
              for s in subscribers]
    target = max(MIN_SLOTS, SLOTS_PER_SUBSCRIBER * len(subscribers)) / sum(weight)
    ranges: list[tuple[int, int]] = []
    owner: list[int] = []
    parts: list[str] = []
    tails: list[str] = []
    tech: list[tuple[str, str]] = []
    traveller: dict[int, tuple[str, int, int]] = {}
    for i, s in enumerate(subscribers):
        home = city_cells[home_city(s.address, s.msisdn)]
        favourite = [rnd.choice(home) for _ in range(FAVOURITE_CELLS)]
        best = rnd.choices(range(len(TECHNOLOGIES)), weights=DEVICE_MIX)[0]
        tech.append((TECHNOLOGIES[best], TECHNOLOGIES[max(best - 1, 0)]))
        if countries and rnd.random() < TRAVELLER_SHARE:
            country = rnd.choices(countries, weights=country_weights)[0]
            traveller[i] = (country, rnd.randrange(TRIP_CYCLE_BLOCKS), rnd.randrange(TRIP_BLOCK_DAYS))
        slots = max(1, round(weight[i] * target))
        ranges.append((len(parts), len(parts) + slots))
        owner.extend([i] * slots)
        for _ in range(slots):  # each slot: one place and radio the subscriber uses
            # 80 %: one of the favourite cells (r * 3.75 spreads [0, 0.8) over the three), 15 %: elsewhere
            # in the home city, 5 %: anywhere.
            r = rnd.random()
            cell = favourite[int(r * 3.75)] if r < 0.80 else rnd.choice(home if r < 0.95 else all_cells)
            radio = tech[i][0] if rnd.random() < 0.8 else tech[i][1]
            if legacy:
                parts.append(msisdn[i])
                tails.append(_legacy_tail(rnd, cell, radio))
            else:
                parts.append(f'"msisdn":"{msisdn[i]}","cell_id":"{cell}","technology":"{radio}"')
    volatile = [i for i, (a, b) in enumerate(active) if a > first or b <= last]
    unsteady = set(volatile) | set(traveller)
    return Population(msisdn=msisdn, keys=[m.encode() for m in msisdn], active=active, ranges=ranges, owner=owner,
                      parts=parts, tails=tails, tech=tech, traveller=traveller,
                      roam_cells={c: tuple(f"{c}_ROAM_{n:02d}" for n in range(1, ROAMING_CELLS + 1))
                                  for c in countries},
                      volatile=volatile, steady_slots=[j for j, i in enumerate(owner) if i not in unsteady])


def unknown_numbers(rnd: random.Random, traffic: Traffic, home_country_code: str, base: list[str]) -> list[str]:
    """Valid subscriber numbers of nobody in the base."""
    taken = set(base)
    out: list[str] = []
    while len(out) < UNKNOWN_NUMBERS:
        number = random_number(rnd, rnd.choice(traffic.subscriber_prefixes), home_country_code)
        if number not in taken:
            out.append(number)
    return out


def _legacy_tail(rnd: random.Random, cell: str, radio: str) -> str:
    r = rnd.random()  # like the seed data, a few records lack one of the optional fields
    if r < 0.002:
        return f', "technology": "{radio}"}}'
    if r >= 0.9975:
        return f', "cell_id": "{cell}"}}'
    return f', "cell_id": "{cell}", "technology": "{radio}"}}'


class Days:
    """The day tables of a population, made on demand and kept for the last two dates."""

    def __init__(self, people: Population, rnd: random.Random, legacy: bool) -> None:
        self.people = people
        self.rnd = rnd
        self.legacy = legacy
        self._tables: dict[int, DayTable] = {}
        self._roaming: dict[int, list[str]] = {}
        self._stand_in: dict[int, tuple[list[str], list[str], list[int]]] = {}

    def inactive(self, ordinal: int) -> list[int]:
        """Subscribers who are not active on this local date."""
        p = self.people
        return [i for i in p.volatile if not p.active[i][0] <= ordinal < p.active[i][1]]

    def table(self, ordinal: int) -> DayTable | None:
        """The date's table (None when nobody is active): the slots of inactive subscribers show
        steady ones instead, travellers on a trip show roaming cells (canonical only)."""
        if ordinal in self._tables:
            return self._tables[ordinal]
        p = self.people
        inactive = self.inactive(ordinal)
        if len(inactive) == len(p.msisdn):
            return None
        away = set(inactive)
        abroad = [] if self.legacy else [
            i for i, (_, phase, offset) in p.traveller.items()
            if i not in away and ((ordinal + offset) // TRIP_BLOCK_DAYS) % TRIP_CYCLE_BLOCKS == phase]
        parts, tails, owners = p.parts, p.tails, p.owner
        if abroad or inactive:
            parts, tails, owners = list(parts), list(tails), list(owners)
        for i in abroad:
            a, b = p.ranges[i]
            parts[a:b] = self._roaming_parts(i)
        for i in inactive:
            a, b = p.ranges[i]
            parts[a:b], tails_in, owners[a:b] = self._stand_ins(i, away)
            if tails:
                tails[a:b] = tails_in
        table = DayTable(parts, tails, owners)
        if len(self._tables) >= 2:
            self._tables.clear()
        self._tables[ordinal] = table
        return table

    def _roaming_parts(self, i: int) -> list[str]:
        parts = self._roaming.get(i)
        if parts is None:
            p, rnd = self.people, self.rnd
            country = p.traveller[i][0]
            cells, best = p.roam_cells[country], p.tech[i][0]
            a, b = p.ranges[i]
            parts = [f'"msisdn":"{p.msisdn[i]}","cell_id":"{cells[int(rnd.random() * len(cells))]}",'
                     f'"technology":"{best}","visited_country":"{country}"' for _ in range(a, b)]
            self._roaming[i] = parts
        return parts

    def _stand_ins(self, i: int, away: set[int]) -> tuple[list[str], list[str], list[int]]:
        """Parts of steady subscribers (active all along, never abroad) for an inactive one's slots."""
        p, rnd = self.people, self.rnd
        cached = self._stand_in.get(i)
        if cached is not None:
            return cached
        pool = p.steady_slots
        if not pool:  # a small or unusual base: anyone active today and at home will do
            pool = [j for j, owner in enumerate(p.owner) if owner not in away and owner not in p.traveller]
        if not pool:
            pool = [j for j, owner in enumerate(p.owner) if owner not in away]
        a, b = p.ranges[i]
        picks = [pool[int(rnd.random() * len(pool))] for _ in range(a, b)]
        found = ([p.parts[j] for j in picks], [p.tails[j] for j in picks] if p.tails else [],
                 [p.owner[j] for j in picks])
        if p.steady_slots:
            self._stand_in[i] = found
        return found
