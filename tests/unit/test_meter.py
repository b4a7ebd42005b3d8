"""`monitor.meter` (the monitor's rules, plain Python) against the pure-Python reference, without
Spark: random months of rated CDRs in random micro-batches, so that periods change and become final."""

from __future__ import annotations

import itertools
from datetime import UTC, date, datetime
from typing import Any

import pytest

from alert_scenarios import alert_catalog, month_of_usage
from reference.alerts import alerts as reference_alerts
from telecom_billing.monitor.meter import AlertRules, SubscriberMeter, Tally

CATALOG = alert_catalog()


def meter_batches(batches: list[list[dict[str, Any]]]) -> tuple[list[dict[str, Any]], Tally]:
    """What the Spark job does with each micro-batch, without Spark: each subscriber's CDRs in order
    through its meter, saved and loaded between batches, with the watermark of the batches before."""
    rules, states, tally, alerts = AlertRules(CATALOG), {}, Tally(), []
    watermark: datetime | None = None
    for batch in batches:
        for msisdn in dict.fromkeys(c["msisdn"] for c in batch):
            subscriber = SubscriberMeter.load(rules, states.get(msisdn))
            subscriber.forget_final(watermark)
            for cdr in (c for c in batch if c["msisdn"] == msisdn):
                alerts += subscriber.receive(cdr, watermark, tally)
            states[msisdn] = subscriber.save()
        latest = max(datetime.fromisoformat(c["event_time"]).astimezone(UTC) for c in batch)
        watermark = latest if watermark is None else max(watermark, latest)
    return alerts, tally


def per_subscriber(alerts: list[dict[str, Any]]) -> dict[str, list[dict[str, Any]]]:
    out: dict[str, list[dict[str, Any]]] = {}
    for alert in alerts:
        out.setdefault(alert["msisdn"], []).append(alert)
    return out


@pytest.mark.parametrize("seed", range(8))
def test_meter_equals_the_reference(seed: int) -> None:
    # Two months and a few days: October's CDRs of the last batches are late once November 4 is seen.
    _, cdrs = month_of_usage(seed, count=600, first=date(2026, 10, 1), days=66)
    cdrs.sort(key=lambda c: c["event_time"][:10])  # roughly in time, in random batches, with stragglers
    stragglers = cdrs[::15]
    cdrs = [c for c in cdrs if all(c is not s for s in stragglers)] + stragglers
    cut = sorted({0, len(cdrs), *((seed * 37 + n * 91) % len(cdrs) for n in range(6))})
    batches = [cdrs[a:b] for a, b in itertools.pairwise(cut) if b > a]
    alerts, tally = meter_batches(batches)
    expected = reference_alerts(CATALOG, batches)
    assert per_subscriber(alerts) == per_subscriber(expected.alerts)  # no order across subscribers
    assert expected.late > 0 and expected.duplicates > 0
    assert (tally.counted, tally.duplicates, tally.late, tally.unreadable) == (
        expected.counted, expected.duplicates, expected.late, expected.unreadable)
