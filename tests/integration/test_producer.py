"""`telecom produce` / `kafka-producer.py` against a real broker: every line arrives, keyed."""

from __future__ import annotations

import collections
import dataclasses
import json
import re
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from kafka import KafkaConsumer, TopicPartition
from kafka.partitioner.default import murmur2

from fixtures import LEGACY_SAMPLE
from telecom_billing.cli import main
from telecom_billing.errors import UsageError
from telecom_billing.generator import CdrGenerator, GeneratorOptions, load_traffic, subscriber_key
from telecom_billing.infra.broker import free_port
from telecom_billing.infra.settings import Settings, load_settings
from telecom_billing.producer import Tuning, codecs_available, encoded, produce
from telecom_billing.refdata.catalog import load_catalog
from telecom_billing.refdata.subscribers import load_subscribers

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[2]
SUMMARY = re.compile(r"^sent=(\d+) failed=(\d+) rate=(\d+)/s$")


@dataclasses.dataclass(frozen=True)
class Stored:
    partition: int
    offset: int
    key: bytes | None
    value: bytes


def read_topic(bootstrap: str, topic: str, expected: int, timeout_s: float = 60.0) -> list[Stored]:
    """Every record of the topic, in partition then offset order (waits for `expected` of them)."""
    consumer = KafkaConsumer(bootstrap_servers=bootstrap, group_id=None, enable_auto_commit=False)
    try:
        tps = [TopicPartition(topic, p) for p in sorted(consumer.partitions_for_topic(topic) or ())]
        consumer.assign(tps)
        consumer.seek_to_beginning(*tps)
        records: list[Stored] = []
        deadline = time.monotonic() + timeout_s
        while len(records) < expected and time.monotonic() < deadline:
            for tp, messages in consumer.poll(timeout_ms=500).items():
                records += [Stored(tp.partition, m.offset, m.key, m.value) for m in messages]
        end = sum(consumer.end_offsets(tps).values())
        assert end == len(records), f"{end} records on {topic}, read {len(records)}"
        return sorted(records, key=lambda r: (r.partition, r.offset))
    finally:
        consumer.close(autocommit=False)


def summary(stdout: str) -> tuple[int, int]:
    found = SUMMARY.match(stdout.strip().splitlines()[-1])
    assert found, stdout
    return int(found.group(1)), int(found.group(2))


def test_produce_n_generated_lines_gives_exactly_n_keyed_records(
        kafka_bootstrap: str, topic_factory: Callable[..., str], tmp_path: Path,
        capsys: pytest.CaptureFixture[str]) -> None:
    topic = topic_factory("cdr.raw", partitions=3)
    flags = ["--count", "3000", "--defects", "0.05", "--seed", "9"]
    assert main(["produce", "--bootstrap-servers", kafka_bootstrap, "--topic", topic, "--quiet",
                 "--labels", str(tmp_path / "labels.jsonl"), *flags]) == 0
    assert summary(capsys.readouterr().out) == (3000, 0)

    settings = load_settings()
    catalog = load_catalog(settings.catalog_dir)
    generator = CdrGenerator(catalog, load_subscribers(settings.subscribers_file),
                             GeneratorOptions(count=3000, defects=0.05, seed=9), traffic=load_traffic(settings.catalog_dir, catalog))
    lines, labels = [], []
    for batch in generator.batches():
        lines += [line.encode() for line in batch.lines]
        labels += [label.to_json() for label in batch.labels]
    assert (tmp_path / "labels.jsonl").read_text().splitlines() == labels

    stored = read_topic(kafka_bootstrap, topic, 3000)
    assert collections.Counter(r.value for r in stored) == collections.Counter(lines)
    for r in stored:
        assert r.key == subscriber_key(r.value)
        if r.key is not None:  # the Java client's partition for the key: murmur2
            assert r.partition == (murmur2(r.key) & 0x7FFFFFFF) % 3
    assert sum(r.key is None for r in stored) > 0  # malformed lines went through, unkeyed
    # One subscriber's records keep their order (deduplication relies on it).
    stored_by_key, sent_by_key = collections.defaultdict(list), collections.defaultdict(list)
    for r in stored:
        stored_by_key[r.key].append(r.value)
    for line in lines:
        sent_by_key[subscriber_key(line)].append(line)
    assert all(stored_by_key[key] == values for key, values in sent_by_key.items() if key is not None)


def test_file_replay_reaches_the_topic_byte_for_byte(
        kafka_bootstrap: str, topic_factory: Callable[..., str], tmp_path: Path,
        capsys: pytest.CaptureFixture[str]) -> None:
    topic = topic_factory("cdr.raw", partitions=1)
    legacy = LEGACY_SAMPLE.read_bytes().split(b"\n")[:300]
    sample = (REPO / "data" / "sample_cdrs.jsonl").read_bytes().split(b"\n")[:300]
    odd = [b"not json at all", b"", b'{"msisdn": "+212612345678", "x": 1}', b"\xff\xfe{\"broken\"", b'{"a":1}\r',
           b"[1, 2, 3]", b'{"caller_id": 212612345679}', b"x" * 200_000, "{\"name\": \"Tétouan\"}".encode()]
    lines = [line for line in legacy + sample if line] + odd
    path = tmp_path / "replay.jsonl"
    path.write_bytes(b"\n".join(lines) + b"\n")

    assert main(["produce", "--bootstrap-servers", kafka_bootstrap, "--topic", topic, "--file", str(path),
                 "--quiet"]) == 0
    assert summary(capsys.readouterr().out) == (len(lines), 0)
    stored = read_topic(kafka_bootstrap, topic, len(lines))
    assert [r.value for r in stored] == lines
    assert [r.key for r in stored][-9:] == [None, None, b"212612345678", None, None, None, b"212612345679",
                                            None, None]
    assert all(r.key == subscriber_key(r.value) for r in stored)


def test_the_entry_point_script_produces(kafka_bootstrap: str, topic_factory: Callable[..., str]) -> None:
    topic = topic_factory("cdr.raw", partitions=2)
    done = subprocess.run([sys.executable, str(REPO / "kafka-producer.py"), "--bootstrap-servers", kafka_bootstrap,
                           "--topic", topic, "--count", "500", "--format", "legacy"],
                          cwd=REPO, capture_output=True, text=True, timeout=180)
    assert done.returncode == 0, done.stderr
    assert summary(done.stdout) == (500, 0)
    assert len(read_topic(kafka_bootstrap, topic, 500)) == 500


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_a_signal_flushes_and_reports(kafka_bootstrap: str, topic_factory: Callable[..., str],
                                      sig: signal.Signals) -> None:
    topic = topic_factory("cdr.raw", partitions=2)
    process = subprocess.Popen([sys.executable, "-m", "telecom_billing", "produce", "--bootstrap-servers",
                                kafka_bootstrap, "--topic", topic, "--rate", "300"],
                               cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:  # wait until records flow
            consumer = KafkaConsumer(bootstrap_servers=kafka_bootstrap)
            tps = [TopicPartition(topic, p) for p in (0, 1)]
            flowing = sum(consumer.end_offsets(tps).values()) > 100
            consumer.close()
            if flowing:
                break
            time.sleep(1)
        process.send_signal(sig)
        out, err = process.communicate(timeout=90)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    assert process.returncode == 128 + sig.value, err
    assert f"stopped by {sig.name}, flushed" in err
    sent, failed = summary(out)
    assert failed == 0 and sent > 100
    assert len(read_topic(kafka_bootstrap, topic, sent)) == sent


def test_an_unreachable_broker_is_one_clear_line_after_a_bounded_wait(capsys: pytest.CaptureFixture[str]) -> None:
    started = time.monotonic()
    code = main(["produce", "--bootstrap-servers", f"localhost:{free_port()}", "--count", "10", "--quiet"])
    elapsed = time.monotonic() - started
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 1
    assert len(err) == 1 and err[0].startswith("telecom produce: error: no Kafka broker answers at localhost:")
    assert 5 < elapsed < 25


@pytest.mark.parametrize("codec", [c for c, ok in codecs_available().items() if ok])
def test_every_available_codec_delivers(base_settings: Settings, topic_factory: Callable[..., str],
                                        codec: str) -> None:
    topic = topic_factory("cdr.raw", partitions=2)
    settings = dataclasses.replace(base_settings, topic_raw=topic)
    catalog = load_catalog(settings.catalog_dir)
    generator = CdrGenerator(catalog, load_subscribers(settings.subscribers_file),
                             GeneratorOptions(count=2000, seed=1), traffic=load_traffic(settings.catalog_dir, catalog))
    stats = produce(settings, topic, encoded(generator.batches(keyed=True)), Tuning(compression=codec))
    assert (stats.sent, stats.failed) == (2000, 0)
    stored = read_topic(settings.bootstrap_servers, topic, 2000)
    assert all(json.loads(r.value) for r in stored if r.value.endswith(b"}") and r.key is not None)


def test_the_codec_check_names_a_missing_package() -> None:
    for codec, installed in codecs_available().items():
        if installed:
            assert Tuning(compression=codec).kwargs()["compression_type"] == (None if codec == "none" else codec)
        else:
            with pytest.raises(UsageError, match=f"{codec} compression needs the Python package"):
                Tuning(compression=codec).kwargs()
    with pytest.raises(UsageError, match="unknown compression"):
        Tuning(compression="brotli").kwargs()
