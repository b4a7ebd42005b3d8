"""The usage monitor (DESIGN.md 7d, docs/BILLING.md section 12) on a real broker and real Spark:
against the pure-Python reference, against the billing job's invoices, through a kill -9 and a
replay of `cdr.rated`, across a period change and a final period."""

from __future__ import annotations

import dataclasses
import json
import os
import signal
import subprocess
import sys
import time
import uuid
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from kafka import KafkaConsumer, KafkaProducer

from alert_scenarios import PERIOD, alert_catalog, in_billing_order, month_of_usage
from reference.alerts import alerts as reference_alerts
from reference.billing import MAIN, OTHER, rated_cdr
from schema_check import check_record
from telecom_billing.billing import charges, invoices, job
from telecom_billing.billing.period import Period
from telecom_billing.infra.settings import Settings, load_settings
from telecom_billing.infra.topics import ensure_topics
from telecom_billing.monitor.meter import ALLOWANCE, ROAMING_DATA_CAP, SPENDING_CAP
from telecom_billing.monitor.stream import METRICS, start_monitor
from telecom_billing.refdata.catalog import Catalog
from telecom_billing.stream import StreamOptions

pytestmark = pytest.mark.integration

CATALOG = alert_catalog()
REPO = Path(__file__).resolve().parents[2]


def _settings(bootstrap: str, tmp_path: Path) -> Settings:
    suffix = uuid.uuid4().hex[:8]
    settings = dataclasses.replace(load_settings(), bootstrap_servers=bootstrap, topic_raw=f"raw.{suffix}",
                                   topic_rated=f"rated.{suffix}", topic_rejected=f"rejected.{suffix}",
                                   topic_parts=f"parts.{suffix}", topic_alerts=f"alerts.{suffix}", partitions=2,
                                   checkpoint_dir=tmp_path / "checkpoints")
    ensure_topics(settings)
    return settings


def _produce(settings: Settings, cdrs: list[dict[str, Any] | str]) -> None:
    """Rated CDRs (a string: a payload as it is, not JSON) to the rated topic."""
    producer = KafkaProducer(bootstrap_servers=settings.bootstrap_servers)
    for cdr in cdrs:
        if isinstance(cdr, str):
            producer.send(settings.topic_rated, value=cdr.encode())
            continue
        producer.send(settings.topic_rated, key=cdr["msisdn"].encode(), value=json.dumps(cdr).encode())
    producer.flush()
    producer.close()


def _alerts(settings: Settings, wait_ms: int = 5000) -> list[dict[str, Any]]:
    consumer = KafkaConsumer(settings.topic_alerts, bootstrap_servers=settings.bootstrap_servers,
                             auto_offset_reset="earliest", consumer_timeout_ms=wait_ms, enable_auto_commit=False,
                             group_id=None)
    values = []
    for message in consumer:
        check_record("alert", message.value)  # the published schema (schemas/alert/v1.json)
        alert = json.loads(message.value)
        assert message.key.decode() == alert["msisdn"]
        values.append(alert)
    consumer.close()
    return values


def _monitor_once(spark: Any, settings: Settings, catalog: Catalog = CATALOG) -> dict[str, int]:
    """Drain `cdr.rated` through the monitor; the tally of its last batch."""
    query = start_monitor(spark, settings, catalog, StreamOptions(trigger="once", query_name="monitor-test"),
                          str(settings.monitor_checkpoint))
    try:
        assert query.awaitTermination(300), "the monitor did not drain in time"
        assert query.exception() is None
        progress = query.lastProgress
        row = progress.observedMetrics.get(METRICS) if progress else None
        return row.asDict() if row is not None else {}
    finally:
        query.stop()


def _per_subscriber(alerts: list[dict[str, Any]]) -> dict[str, list[dict[str, Any]]]:
    out: dict[str, list[dict[str, Any]]] = {}
    for alert in alerts:
        out.setdefault(alert["msisdn"], []).append(alert)
    return out


def test_alerts_equal_the_reference(spark: Any, kafka_bootstrap: str, tmp_path: Path) -> None:
    """Random arrival order with copies, and records that cannot be read (not JSON, no charge, a plan
    the catalog does not have): each subscriber's alerts, in order, are the reference's."""
    settings = _settings(kafka_bootstrap, tmp_path)
    _, cdrs = month_of_usage(seed=1)
    unreadable = ["not json {", {**cdrs[0], "cdr_id": "no-charge", "charge": None},
                  {**cdrs[1], "cdr_id": "no-plan", "plan_id": "GONE"}]
    cdrs = [*cdrs[:50], *unreadable, *cdrs[50:]]
    _produce(settings, cdrs)
    tally = _monitor_once(spark, settings)
    expected = reference_alerts(CATALOG, [cdrs])
    assert tally["unreadable"] == expected.unreadable == len(unreadable)
    assert tally["counted"] == expected.counted and tally["duplicates"] == expected.duplicates
    got = _alerts(settings)
    assert _per_subscriber(got) == _per_subscriber(expected.alerts)
    assert {a["kind"] for a in got} == {ALLOWANCE, SPENDING_CAP, ROAMING_DATA_CAP}
    assert expected.duplicates > 0


def test_alerts_are_what_the_invoices_imply(spark: Any, kafka_bootstrap: str, tmp_path: Path) -> None:
    """DESIGN.md 7d "Check": CDRs arriving in (event_time, cdr_id) order alert at p % exactly when the
    final invoice's included units or amounts reach p %."""
    settings = _settings(kafka_bootstrap, tmp_path)
    subscribers, cdrs = month_of_usage(seed=2)
    cdrs = in_billing_order(cdrs)
    _produce(settings, cdrs)
    _monitor_once(spark, settings)
    got = {(a["msisdn"], a["kind"], a["name"], a["percent"]) for a in _alerts(settings)}

    lines = spark.createDataFrame([(json.dumps(c),) for c in cdrs], "value string")
    frames = job.bill(charges.parse_rated(lines), CATALOG, subscribers, Period.parse(PERIOD))
    try:
        billed = invoices.collect(frames, CATALOG, subscribers, Period.parse(PERIOD), "final")
    finally:
        frames.close()
    implied = set()
    for invoice in billed.invoices:
        plan = CATALOG.plans[invoice["plan_id"]]
        used = {a["name"]: a["used"] for a in invoice.get("allowances", [])}
        for allowance in plan.allowances:
            implied |= {(invoice["msisdn"], ALLOWANCE, allowance.name, p) for p in plan.allowance_alerts
                        if 100 * used.get(allowance.name, 0) >= p * allowance.quantity}
        usage = [line for line in invoice["lines"] if line["type"] == "usage"]
        spent = sum((Decimal(line["amount"]) for line in usage), Decimal(0))
        roamed = sum((Decimal(line["amount"]) for line in usage
                      if line["service"] == "data" and line["zone"] in CATALOG.roaming_zones), Decimal(0))
        for kind, cap, amount in ((SPENDING_CAP, plan.spending_cap, spent),
                                  (ROAMING_DATA_CAP, CATALOG.roaming_data_cap, roamed)):
            if cap is not None:
                implied |= {(invoice["msisdn"], kind, kind, p) for p in cap.alerts if 100 * amount >= p * cap.amount}
    assert got == implied
    assert {kind for _, kind, _, _ in got} == {ALLOWANCE, SPENDING_CAP, ROAMING_DATA_CAP}


def test_killed_monitor_and_replayed_topic_change_no_alert(spark: Any, kafka_bootstrap: str, tmp_path: Path) -> None:
    """`telecom monitor` killed with SIGKILL mid-stream, restarted, then all of `cdr.rated` written
    again: every alert the reference expects is there, none other, and the copies of an alert (the
    sink is at-least-once) are identical."""
    settings = _settings(kafka_bootstrap, tmp_path)
    _, cdrs = month_of_usage(seed=3)
    half = len(cdrs) // 2
    _produce(settings, cdrs[:half])
    environment = {**os.environ, "TELECOM_BOOTSTRAP_SERVERS": settings.bootstrap_servers,
                   "TELECOM_TOPIC_RATED": settings.topic_rated, "TELECOM_TOPIC_ALERTS": settings.topic_alerts,
                   "TELECOM_PARTITIONS": "2", "TELECOM_CHECKPOINT_DIR": str(settings.checkpoint_dir),
                   "TELECOM_SPARK_MASTER": "local[2]", "TELECOM_SHUFFLE_PARTITIONS": "2", "TELECOM_SPARK_UI_PORT": "0",
                   "PYSPARK_PYTHON": sys.executable, "PYTHONUNBUFFERED": "1"}
    command = [sys.executable, "-m", "telecom_billing", "monitor", "--catalog", str(tmp_path / "catalog")]
    alert_catalog(tmp_path / "catalog")
    with (tmp_path / "monitor.log").open("w") as log:
        monitor = subprocess.Popen([*command, "--trigger", "1 second", "--max-offsets-per-trigger", "20"],
                                   env=environment, cwd=REPO, stdout=log, stderr=subprocess.STDOUT,
                                   start_new_session=True)
        try:
            deadline = time.monotonic() + 180
            while len(_alerts(settings, wait_ms=300)) < 5 and monitor.poll() is None and time.monotonic() < deadline:
                time.sleep(1)
            assert monitor.poll() is None, (tmp_path / "monitor.log").read_text()[-2000:]
        finally:
            os.killpg(monitor.pid, signal.SIGKILL)
            monitor.wait()
    assert len(_alerts(settings)) < len(reference_alerts(CATALOG, [cdrs[:half]]).alerts), "killed too late"
    _produce(settings, cdrs[half:])
    subprocess.run([*command, "--once"], env=environment, cwd=REPO, check=True, capture_output=True, timeout=300)
    _produce(settings, cdrs)  # a replay of cdr.rated
    subprocess.run([*command, "--once"], env=environment, cwd=REPO, check=True, capture_output=True, timeout=300)

    copies: dict[str, list[dict[str, Any]]] = {}
    for alert in _alerts(settings):
        copies.setdefault(alert["alert_id"], []).append(alert)
    expected = {a["alert_id"]: a for a in reference_alerts(CATALOG, [cdrs]).alerts}
    assert set(copies) == set(expected)
    for alert_id, written in copies.items():
        assert all(copy == expected[alert_id] for copy in written), alert_id


def _voice(cdr_id: str, event_time: str, seconds: int, msisdn: str = MAIN) -> dict[str, Any]:
    return {**rated_cdr(cdr_id, event_time, msisdn=msisdn, quantity=seconds), "plan_id": "BUNDLE"}


def test_a_new_period_starts_from_zero_and_a_final_one_alerts_no_more(spark: Any, kafka_bootstrap: str,
                                                                      tmp_path: Path) -> None:
    """BUNDLE's 600 s of national minutes, alerts at 50, 80 and 100 %: October reaches 80 %; November
    starts from zero; once the monitor has seen November 4 (October's cut-off, grace_days 3), a late
    October CDR that would reach 100 % alerts nothing."""
    settings = _settings(kafka_bootstrap, tmp_path)
    _produce(settings, [_voice("oct-1", "2026-10-10T10:00:00Z", 480), _voice("nov-1", "2026-11-02T10:00:00Z", 120)])
    _monitor_once(spark, settings)
    assert [(a["period"], a["percent"], a["used"]) for a in _alerts(settings)] == [("2026-10", 50, "480"),
                                                                               ("2026-10", 80, "480")]
    _produce(settings, [_voice("nov-2", "2026-11-05T10:00:00Z", 200), _voice("other", "2026-11-05T10:00:00Z", 1,
                                                                             msisdn=OTHER)])
    _monitor_once(spark, settings)
    _produce(settings, [_voice("oct-late", "2026-10-31T10:00:00Z", 300)])
    tally = _monitor_once(spark, settings)
    assert [(a["period"], a["percent"], a["used"]) for a in _alerts(settings)][2:] == [("2026-11", 50, "320")]
    assert tally["late"] == 1
