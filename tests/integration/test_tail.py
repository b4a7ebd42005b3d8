"""`telecom tail` on a real broker: readable lines for each topic, filters, follow, any payload."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from kafka import KafkaProducer

from telecom_billing.cli import main
from telecom_billing.generator import subscriber_key

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[2]

RATED = [
    {"cdr_id": "c-1", "record_type": "voice", "event_time": "2026-10-05T09:15:00.000000Z", "msisdn": "212612345678",
     "other_party": "212700000001", "direction": "MO", "duration_sec": 95, "bytes_up": None, "bytes_down": None,
     "quantity": 95, "cell_id": "RABAT_001", "technology": "4G", "visited_country": None, "roaming": False,
     "source_format": "canonical", "plan_id": "SMART_99", "zone": "national_mobile", "band": "peak",
     "billable_units": 95, "price": "0.90", "per": 60, "unit_price": "0.0150000000", "connect_fee": "0.00",
     "charge": "1.4250", "currency": "MAD", "catalog_version": "2026.11", "rated_at": "2026-11-27T10:00:00.000000Z"},
    {"cdr_id": "c-2", "record_type": "data", "event_time": "2026-10-05T21:00:00.000000Z", "msisdn": "212698765432",
     "other_party": None, "direction": None, "duration_sec": None, "bytes_up": 1000, "bytes_down": 5241880,
     "quantity": 5242880, "cell_id": "FR_ROAM_03", "technology": "4G", "visited_country": "FR", "roaming": True,
     "source_format": "canonical", "plan_id": "PAYG", "zone": "roam_europe", "band": "*", "billable_units": 5242880,
     "price": "20.00", "per": 1048576, "unit_price": "0.0000190735", "connect_fee": "0.00", "charge": "100.0000",
     "currency": "MAD", "catalog_version": "2026.11", "rated_at": "2026-11-27T10:00:00.000000Z"},
]
REJECTED = [
    {"reason": "INVALID_MSISDN", "detail": "msisdn: invalid", "raw": '{"msisdn":"invalid_phone"}', "raw_base64": None,
     "msisdn": None, "cdr_id": "x-1", "source": {"topic": "cdr.raw", "partition": 0, "offset": 7},
     "rejected_at": "2026-11-27T10:00:00.000000Z"},
    {"reason": "MALFORMED_JSON", "detail": "not UTF-8", "raw": None, "raw_base64": "//4=", "msisdn": None,
     "cdr_id": None, "source": {"topic": "cdr.raw", "partition": 1, "offset": 9},
     "rejected_at": "2026-11-27T10:00:01.000000Z"},
]
POISON = [b"\xff\xfe\x00garbage", b"not json", b"[1, 2]", b"null", b"", b'{"record_type": {"nested": [1]}}',
          b"x" * 300_000, b'{"charge": 12, "quantity": "lots", "record_type": "data"}', b"line\nbreak"]


def send(bootstrap: str, topic: str, values: list[bytes], keys: list[bytes | None] | None = None) -> None:
    producer = KafkaProducer(bootstrap_servers=bootstrap, acks="all", max_request_size=2_000_000)
    for value, key in zip(values, keys or [subscriber_key(v) for v in values], strict=True):
        producer.send(topic, value=value, key=key, partition=0)
    producer.flush(timeout=30)
    producer.close()


def tail(capsys: pytest.CaptureFixture[str], *args: str) -> list[str]:
    assert main(["tail", *args]) == 0
    return capsys.readouterr().out.splitlines()


def test_tail_shows_produced_raw_records(kafka_bootstrap: str, topic_factory: Callable[..., str],
                                         capsys: pytest.CaptureFixture[str]) -> None:
    topic = topic_factory("cdr.raw", partitions=2)
    assert main(["produce", "--bootstrap-servers", kafka_bootstrap, "--topic", topic, "--count", "40",
                 "--quiet"]) == 0
    capsys.readouterr()
    lines = tail(capsys, topic, "--bootstrap-servers", kafka_bootstrap, "--from-beginning")
    assert len(lines) == 40
    assert all(line.split()[0].startswith(("p0@", "p1@")) for line in lines)
    as_json = tail(capsys, topic, "--bootstrap-servers", kafka_bootstrap, "--from-beginning", "--json")
    records = [json.loads(line) for line in as_json]
    assert len(records) == 40
    for line, record in zip(lines, records, strict=True):
        if isinstance(record, dict) and isinstance(record.get("msisdn"), str):
            assert record["msisdn"] in line and str(record["record_type"]) in line
    newest = tail(capsys, topic, "--bootstrap-servers", kafka_bootstrap)
    assert len(newest) == 10 and set(newest) <= set(lines)
    some = next(r for r in records if isinstance(r, dict) and r.get("msisdn"))
    mine = tail(capsys, topic, "--bootstrap-servers", kafka_bootstrap, "--from-beginning", "--msisdn",
                some["msisdn"], "--json")
    assert mine and all(json.loads(line)["msisdn"] == some["msisdn"] for line in mine)


def test_rated_and_rejected_lines_are_readable(kafka_bootstrap: str, topic_factory: Callable[..., str],
                                               capsys: pytest.CaptureFixture[str],
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    rated, rejected = topic_factory("cdr.rated"), topic_factory("cdr.rejected")
    send(kafka_bootstrap, rated, [json.dumps(r).encode() for r in RATED], [b"212612345678", b"212698765432"])
    send(kafka_bootstrap, rejected, [json.dumps(r).encode() for r in REJECTED], [None, None])
    monkeypatch.setenv("TELECOM_TOPIC_RATED", rated)
    lines = tail(capsys, "rated", "--bootstrap-servers", kafka_bootstrap)
    assert len(lines) == 2
    first, second = lines if lines[0].split()[1] == "212612345678" else lines[::-1]
    for expected in ("2026-10-05T09:15:00", "212612345678", "voice", "national_mobile", "peak", "95 s", "1.4250 MAD"):
        assert expected in first
    for expected in ("data", "roam_europe", "5.0 MiB", "100.0000 MAD", "roaming FR"):
        assert expected in second
    lines = tail(capsys, rejected, "--bootstrap-servers", kafka_bootstrap, "--from-beginning")
    assert len(lines) == 2
    assert lines[0].startswith("INVALID_MSISDN") and 'raw={"msisdn":"invalid_phone"}' in lines[0]
    assert lines[1].startswith("MALFORMED_JSON") and "base64://4=" in lines[1]
    assert [json.loads(x) for x in tail(capsys, rejected, "--bootstrap-servers", kafka_bootstrap,
                                        "--from-beginning", "--json")] == REJECTED
    only = tail(capsys, rated, "--bootstrap-servers", kafka_bootstrap, "--msisdn", "+212698765432", "--json")
    assert [json.loads(x)["cdr_id"] for x in only] == ["c-2"]


@pytest.mark.parametrize("prefix", ["cdr.raw", "cdr.rated", "cdr.rejected"])
def test_no_payload_crashes_tail(kafka_bootstrap: str, topic_factory: Callable[..., str],
                                 capsys: pytest.CaptureFixture[str], prefix: str) -> None:
    topic = topic_factory(prefix, partitions=1)
    send(kafka_bootstrap, topic, POISON, [None] * len(POISON))
    for extra in ([], ["--json"]):
        lines = tail(capsys, topic, "--bootstrap-servers", kafka_bootstrap, "--from-beginning", *extra)
        assert len(lines) == len(POISON)
        assert all(len(line) < 1000 or extra for line in lines)
    as_json = tail(capsys, topic, "--bootstrap-servers", kafka_bootstrap, "--from-beginning", "--json")
    assert all(json.loads(line) is not None or line == "null" for line in as_json)


def test_limit_and_follow(kafka_bootstrap: str, topic_factory: Callable[..., str],
                          capsys: pytest.CaptureFixture[str]) -> None:
    topic = topic_factory("cdr.raw", partitions=1)
    send(kafka_bootstrap, topic, [b'{"msisdn": "212600000001", "n": %d}' % i for i in range(5)])
    assert len(tail(capsys, topic, "--bootstrap-servers", kafka_bootstrap, "--from-beginning", "-n", "3")) == 3
    follower = subprocess.Popen([sys.executable, "-m", "telecom_billing", "tail", topic, "--bootstrap-servers",
                                 kafka_bootstrap, "--follow", "--limit", "8", "--json"],
                                cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        time.sleep(3)
        send(kafka_bootstrap, topic, [b'{"msisdn": "212600000001", "n": %d}' % i for i in range(5, 8)])
        out, err = follower.communicate(timeout=90)
    finally:
        if follower.poll() is None:
            follower.kill()
            follower.wait()
    assert follower.returncode == 0, err
    assert [json.loads(line)["n"] for line in out.splitlines()] == list(range(8))


def test_a_missing_topic_is_one_clear_line(kafka_bootstrap: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["tail", "no.such.topic.here", "--bootstrap-servers", kafka_bootstrap]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert err == ["telecom tail: error: topic no.such.topic.here does not exist "
                   "(create the topics with `telecom topics`)"]
