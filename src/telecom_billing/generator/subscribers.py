"""The subscriber base: Moroccan names and addresses, numbers in the subscriber zone, plans in the
traffic's mix, and activations and terminations inside a month so that billing it exercises
proration.

Faker has no Moroccan locale: names come from its Maghreb locale `fr_DZ`, addresses from the
Moroccan cities and streets of `places`.
"""

from __future__ import annotations

import calendar
import random
from datetime import date, timedelta
from typing import Any

from faker import Faker

from ..errors import UsageError
from ..refdata.catalog import Catalog
from ..refdata.subscribers import Subscriber
from .options import DEFAULT_SEED, DEFAULT_SUBSCRIBERS, REFERENCE_MONTH
from .places import CITIES, STREET_NAMES, STREET_TYPES
from .traffic import Traffic, default_traffic, random_number

FIRST_PREFIX_SHARE = 0.75  # of numbers in the subscriber zone's first prefix, the oldest range
JOINED_SHARE = 0.03  # activated during the month
LEFT_SHARE = 0.03  # terminated during the month
CHURNED_SHARE = 0.02  # terminated before the month
TENURE_YEARS = 12
TENURE_SKEW = 1.8  # above 1: more recent activations


def generate_subscribers(catalog: Catalog, count: int = DEFAULT_SUBSCRIBERS, seed: int = DEFAULT_SEED,
                         month: date = REFERENCE_MONTH, traffic: Traffic | None = None) -> list[Subscriber]:
    """A subscriber base of `count`, with activations and terminations inside `month`."""
    if count < 1:
        raise UsageError("the subscriber base needs at least one subscriber")
    if traffic is None:
        traffic = default_traffic(catalog)
    fake = Faker("fr_DZ")
    fake.seed_instance(seed)
    rnd = random.Random(f"subscribers/{seed}")
    plan_ids = list(traffic.plans)
    plan_weights = [use.share for use in traffic.plans.values()]
    prefixes = traffic.subscriber_prefixes
    city_weights = [c[2] for c in CITIES]
    seen: set[str] = set()
    base: list[Subscriber] = []
    while len(base) < count:
        first = rnd.random() < FIRST_PREFIX_SHARE or len(prefixes) == 1
        msisdn = random_number(rnd, prefixes[0] if first else rnd.choice(prefixes[1:]), catalog.home_country_code)
        if msisdn in seen:
            continue
        seen.add(msisdn)
        city = rnd.choices(CITIES, weights=city_weights)[0]
        name = f"{fake.first_name()} {fake.last_name()}"
        activation, termination = _tenure(rnd, month)
        base.append(Subscriber(msisdn=msisdn, name=name, address=_address(rnd, city, fake),
                               plan_id=rnd.choices(plan_ids, weights=plan_weights)[0], activation_date=activation,
                               termination_date=termination))
    return base


def _tenure(rnd: random.Random, month: date) -> tuple[date, date | None]:
    """Activation and termination dates: a few inside `month` (prorated fees), a few churned before."""
    month_end = date(month.year, month.month, calendar.monthrange(month.year, month.month)[1])
    if rnd.random() < JOINED_SHARE:
        activation = month + timedelta(days=rnd.randrange(1, month_end.day))
    else:
        span = (month - date(month.year - TENURE_YEARS, 1, 1)).days
        activation = month - timedelta(days=1 + int(span * rnd.random() ** TENURE_SKEW))
    roll = rnd.random()
    if roll < LEFT_SHARE:
        low = max(activation, month) + timedelta(days=1)
        if low <= month_end:
            return activation, low + timedelta(days=rnd.randrange((month_end - low).days + 1))
    elif roll < LEFT_SHARE + CHURNED_SHARE and (month - activation).days > 60:
        return activation, activation + timedelta(days=rnd.randrange(30, (month - activation).days))
    return activation, None


def _address(rnd: random.Random, city: tuple[str, str, float, str], fake: Any) -> str:
    kind = rnd.choice(STREET_TYPES)
    name = rnd.choice(STREET_NAMES) if rnd.random() < 0.7 else fake.last_name()
    if kind == "Résidence":
        return f"{kind} {name}, Imm. {rnd.randint(1, 40)} Appt {rnd.randint(1, 30)}, {city[1]} {city[0]}"
    return f"{rnd.randint(1, 250)} {kind} {name}, {city[1]} {city[0]}"
