"""Rated CDRs for the usage monitor's tests (DESIGN.md 7d): a small catalog with low thresholds, so
that a few hundred CDRs cross every kind of alert, and seeded random months of rated CDRs."""

from __future__ import annotations

import random
import tempfile
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

from reference.billing import TEST_CATALOG, rated_cdr, subscriber
from telecom_billing.refdata.catalog import Catalog, load_catalog
from telecom_billing.refdata.subscribers import Subscriber

PERIOD = "2026-10"
# (service, zone, price, per, connect_fee)
PRICES = [
    ("voice", "national_mobile", "0.60", 60, "0.00"),
    ("voice", "national_fixed", "1.20", 60, "0.50"),
    ("voice", "europe", "1.20", 60, "0.50"),
    ("sms", "national_mobile", "0.0017", 1, "0.00"),
    ("sms", "europe", "0.005", 1, "0.00"),
    ("data", "home", "0.05", 1048576, "0.00"),
    ("data", "roam_world", "1.2", 1048576, "0.00"),
]
PLANS = ("BUNDLE", "OVERLAP", "PAYG")


def _with_thresholds(text: str) -> str:
    caps = {"99.00": '"6.00", alerts: [80, 100]', "10.00": '"4.00", alerts: [50, 100, 150]',
            "0.00": '"9.00", alerts: [80, 100]'}
    for fee, cap in caps.items():
        text = text.replace(f'    monthly_fee: "{fee}"\n', f'    monthly_fee: "{fee}"\n    thresholds: '
                            f'{{allowance_alerts: [50, 80, 100], spending_cap: {{amount: {cap}}}}}\n')
    return text.replace('roaming_zones:\n', 'roaming_data_cap: {amount: "3.00", alerts: [80, 100]}\nroaming_zones:\n')


# The billing tests' hand catalog with alerts at 50, 80 and 100 % of every allowance, a spending cap
# per plan (but TINY) and a roaming data cap, low enough to be reached by a few hundred CDRs.
ALERT_CATALOG = _with_thresholds(TEST_CATALOG)


def alert_catalog(folder: Path | None = None) -> Catalog:
    """`ALERT_CATALOG` through the real loader, written to `folder/catalog.yaml` when given (for a
    `telecom monitor` process), else to a temporary folder."""
    if folder is not None:
        folder.mkdir(parents=True, exist_ok=True)
        (folder / "catalog.yaml").write_text(ALERT_CATALOG, encoding="utf-8")
        return load_catalog(folder)
    with tempfile.TemporaryDirectory() as temporary:
        return alert_catalog(Path(temporary))


def month_of_usage(seed: int, count: int = 400, subscribers: int = 6,
                   first: date = date(2026, 10, 1), days: int = 31) -> tuple[list[Subscriber], list[dict[str, Any]]]:
    """Subscribers and `count` rated CDRs over `days` days from `first` (local month October 2026 by
    default), in random arrival order, about one in ten written twice (an at-least-once sink)."""
    rng = random.Random(seed)
    base = [subscriber(f"2126000002{n:02d}", PLANS[n % len(PLANS)], name=f"Subscriber {n}")
            for n in range(subscribers)]
    cdrs: list[dict[str, Any]] = []
    for n in range(count):
        owner = rng.choice(base)
        service, zone, price, per, fee = rng.choice(PRICES)
        quantity = {"voice": rng.randint(1, 400), "sms": 1, "data": rng.randint(1, 600_000)}[service]
        billable = quantity + rng.randint(0, 59) * (service == "voice")
        instant = datetime(first.year, first.month, first.day, 1) + timedelta(minutes=rng.randrange(days * 1440 - 120))
        cdr = rated_cdr(f"cdr-{seed}-{n:04d}", instant.strftime("%Y-%m-%dT%H:%M:%SZ"), msisdn=owner.msisdn,
                        service=service, zone=zone, quantity=quantity, billable=billable, price=price, per=per,
                        connect_fee=fee, rated_at=f"2026-11-01T00:00:{n % 60:02d}.000000Z")
        cdr["plan_id"] = owner.plan_id
        cdrs.append(cdr)
        if rng.randrange(10) == 0:
            cdrs.append({**cdr, "rated_at": "2026-11-02T00:00:00.000000Z"})
    rng.shuffle(cdrs)
    return base, cdrs


def in_billing_order(cdrs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """DESIGN.md 7d's "Check" order: `(event_time, cdr_id)`."""
    return sorted(cdrs, key=lambda c: (c["event_time"], c["cdr_id"]))
