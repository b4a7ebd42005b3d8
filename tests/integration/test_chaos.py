"""Chaos: `telecom stream` is killed with SIGKILL mid-run, and the broker stops and restarts under it;
no raw record is lost and none is billed twice.

Both tests replay the same generated month (2026-10, default defect mix: resends, duplicate ids and bad
records included) into a raw topic of their own while the real `telecom stream` runs as a subprocess,
then bill the month from the rated topic with `telecom bill`. The expectation is the file driver on the
same file (`telecom rate`, then `telecom bill --rated`), computed once for the module: the invoices must
be the same records, field for field (no field is run-dependent: `rated_at` never reaches an invoice),
`summary.csv` the same bytes, and the topic run's reconciliation must account for every raw record
(0 unexplained) with the same rated / rejected / duplicate counts as the file run.

The producer is the product's own (`telecom_billing.producer.produce`, keyed like `telecom produce`),
fed paced slices of the file from a thread. `telecom bill` and `telecom rate` run in this process on the
session's Spark; the stream runs in its own process group, so a SIGKILL takes its JVM down with it.
"""

from __future__ import annotations

import csv
import dataclasses
import functools
import json
import os
import random
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from telecom_billing import cli
from telecom_billing.infra.broker import EmbeddedBroker, free_port
from telecom_billing.infra.checkpoint import committed_offsets
from telecom_billing.infra.kafka_batch import topic_offsets
from telecom_billing.infra.settings import Settings, load_settings
from telecom_billing.infra.topics import ensure_topics
from telecom_billing.producer import ProduceStats, produce
from telecom_billing.stream import sessions_checkpoint

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[2]
PERIOD = "2026-10"
SEED = 20261027
CDRS = 20_000
SUBSCRIBERS = 300  # the first N of data/subscribers.csv: a month of invoices stays quick to write
PARTITIONS = 3
SLICE = 100  # lines per paced producer send ...
PACE_S = 3.0  # ... every PACE_S seconds while a part trickles out (a part of 5000 lines lasts 150 s)
WAIT_S = 300.0  # for a stream to start or show a batch, on a loaded machine


# -- the month and its expected bill -------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class Month:
    raw: Path
    subscribers: Path
    lines: list[bytes]


@dataclasses.dataclass(frozen=True)
class Expected:
    invoices: list[dict[str, Any]]
    summary: str
    counts: dict[str, Any]  # `telecom rate`'s reconciliation.json: raw, rated, rejected by reason, duplicate


@pytest.fixture(scope="module")
def month(tmp_path_factory: pytest.TempPathFactory) -> Month:
    """`telecom generate`: CDRS lines of 2026-10 for the first SUBSCRIBERS subscribers, fixed seed, no
    partial record: the sessions the stream still holds at its end would not be billed, where the file
    driver closes them (`test_stream_killed_while_sessions_are_held` kills the stream with parts held)."""
    folder = tmp_path_factory.mktemp("chaos-month")
    subscribers = folder / "subscribers.csv"
    base = (REPO / "data" / "subscribers.csv").read_text(encoding="utf-8").splitlines(keepends=True)
    subscribers.write_text("".join(base[: SUBSCRIBERS + 1]), encoding="utf-8")
    raw = folder / "raw.jsonl"
    done = subprocess.run([sys.executable, "-m", "telecom_billing", "generate", "--count", str(CDRS), "--seed",
                           str(SEED), "--start", f"{PERIOD}-01", "--subscribers-file", str(subscribers), "--out",
                           str(raw), "--parts-share", "0", "--quiet"],
                          capture_output=True, text=True, timeout=300, cwd=REPO, check=False)
    assert done.returncode == 0, done.stderr[-3000:]
    lines = raw.read_bytes().split(b"\n")[:-1]
    assert len(lines) == CDRS
    return Month(raw=raw, subscribers=subscribers, lines=lines)


@pytest.fixture(scope="module")
def expected(spark: Any, month: Month, tmp_path_factory: pytest.TempPathFactory) -> Expected:
    """The file driver on the same file: `telecom rate`, then `telecom bill --rated`."""
    return _file_driver(month, tmp_path_factory.mktemp("chaos-expected"))


def _file_driver(month: Month, folder: Path) -> Expected:
    with pytest.MonkeyPatch.context() as env:
        env.setenv("TELECOM_SHUFFLE_PARTITIONS", "2")
        assert cli.main(["rate", "--input", str(month.raw), "--out", str(folder / "rated"), "--subscribers",
                         str(month.subscribers)]) == 0
        assert cli.main(["bill", "--period", PERIOD, "--rated", str(folder / "rated" / "rated.jsonl"),
                         "--subscribers", str(month.subscribers), "--out", str(folder / "bill")]) == 0
    period = folder / "bill" / f"period={PERIOD}"
    counts = json.loads((folder / "rated" / "reconciliation.json").read_text())
    return Expected(invoices=_invoices(period), summary=(period / "summary.csv").read_text(encoding="utf-8"),
                    counts=counts)


def test_the_month_has_the_defect_mix(expected: Expected) -> None:
    """Duplicates and rejections of several kinds are really in the chaos month."""
    assert expected.counts["duplicate"] > 0 and len(expected.counts["rejected_by_reason"]) >= 5


def _invoices(period: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in (period / "invoices.jsonl").read_text(encoding="utf-8").splitlines()]


# -- topics, the stream subprocess and the paced producer ----------------------------------------------


def _pipeline(bootstrap: str, checkpoint: Path) -> Settings:
    """Settings for topics of this test only (created here), `PARTITIONS` partitions each."""
    suffix = uuid.uuid4().hex[:8]
    settings = dataclasses.replace(load_settings(), bootstrap_servers=bootstrap, topic_raw=f"chaos.raw.{suffix}",
                                   topic_rated=f"chaos.rated.{suffix}", topic_rejected=f"chaos.rejected.{suffix}", topic_parts=f"chaos.parts.{suffix}",
                                   partitions=PARTITIONS, checkpoint_dir=checkpoint, shuffle_partitions=2)
    ensure_topics(settings)
    return settings


def _environment(settings: Settings) -> dict[str, str]:
    """What a user exports to point the commands at `settings`."""
    return {**os.environ, "TELECOM_BOOTSTRAP_SERVERS": settings.bootstrap_servers,
            "TELECOM_TOPIC_RAW": settings.topic_raw, "TELECOM_TOPIC_RATED": settings.topic_rated,
            "TELECOM_TOPIC_REJECTED": settings.topic_rejected, "TELECOM_TOPIC_PARTS": settings.topic_parts,
            "TELECOM_PARTITIONS": str(settings.partitions),
            "TELECOM_CHECKPOINT_DIR": str(settings.checkpoint_dir), "TELECOM_SPARK_MASTER": "local[2]",
            "TELECOM_DRIVER_MEMORY": "1g", "TELECOM_SHUFFLE_PARTITIONS": "2", "TELECOM_TRIGGER": "1 second",
            "PYSPARK_PYTHON": sys.executable, "PYTHONUNBUFFERED": "1"}


class StreamRun:
    """`telecom stream` as a subprocess leading its own process group (its JVM is in the group)."""

    def __init__(self, settings: Settings, subscribers: Path, log: Path) -> None:
        self.log = log.open("a", encoding="utf-8")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "telecom_billing", "stream", "--subscribers", str(subscribers)],
            env=_environment(settings), cwd=REPO, stdout=subprocess.PIPE, stderr=self.log, text=True,
            start_new_session=True)
        self.started = threading.Event()
        self.batches = 0  # progress lines: micro-batches with rows
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.log.write(f"[stdout {time.strftime('%H:%M:%S')}] {line}")
            self.log.flush()
            if line.startswith("stream started"):
                self.started.set()
            elif line.startswith("batch "):
                self.batches += 1

    def wait_for(self, ready: Callable[[], bool], what: str, timeout: float = WAIT_S) -> None:
        """Wait until `ready()`; fail with the log's tail if the process exits or time runs out."""
        deadline = time.monotonic() + timeout
        while not ready():
            assert self.proc.poll() is None, f"the stream exited ({self.proc.returncode}) before {what}:\n{self.tail()}"
            assert time.monotonic() < deadline, f"no {what} within {timeout:.0f} s:\n{self.tail()}"
            time.sleep(0.2)

    def wait_for_batch(self, after: int = 0) -> None:
        self.wait_for(lambda: self.batches > after, "micro-batch with rows")

    def kill(self) -> int:
        """SIGKILL the whole process group; returns the Python process's return code once it, its JVM and
        every other process it started are gone."""
        assert self.proc.poll() is None, "the stream must be alive when it is killed"
        tree = _descendants(self.proc.pid)
        assert any(b"java" in _cmdline(pid) for pid in tree), "the stream's JVM runs under it"
        os.killpg(self.proc.pid, signal.SIGKILL)
        code = self.proc.wait(timeout=60)
        _wait_gone(tree)
        self.close()
        return code

    def stop(self) -> int:
        """SIGTERM: the stream finishes its batch and exits; returns its return code."""
        tree = _descendants(self.proc.pid)
        self.proc.send_signal(signal.SIGTERM)
        code = self.proc.wait(timeout=180)
        _wait_gone(tree)
        self.close()
        return code

    def close(self) -> None:
        """Leave nothing behind (a no-op once the process group is gone)."""
        if any(pgid == self.proc.pid for _, _, pgid in _processes()):
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(timeout=60)
        self._reader.join(timeout=10)
        self.log.close()

    def tail(self, n: int = 40) -> str:
        self.log.flush()
        return "\n".join(Path(self.log.name).read_text(encoding="utf-8", errors="replace").splitlines()[-n:])


def _processes() -> list[tuple[int, int, int]]:
    """(pid, parent pid, process group) of every live (non-zombie) process."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if fields[0] != "Z":
            found.append((int(entry.name), int(fields[1]), int(fields[2])))
    return found


def _descendants(root: int) -> set[int]:
    """`root` and every live process below it (the JVM, and Spark's Python workers in their own group)."""
    children: dict[int, list[int]] = {}
    for pid, parent, _ in _processes():
        children.setdefault(parent, []).append(pid)
    found, todo = set(), [root]
    while todo:
        pid = todo.pop()
        found.add(pid)
        todo.extend(children.get(pid, []))
    return found


def _cmdline(pid: int) -> bytes:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return b""


def _wait_gone(pids: set[int], timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while alive := pids & {pid for pid, _, _ in _processes()}:
        assert time.monotonic() < deadline, f"still running after the stream ended: {sorted(alive)}"
        time.sleep(0.2)


class PacedProducer(threading.Thread):
    """The product's producer sending the file in `parts`, slowly: SLICE lines every PACE_S seconds.
    `release()` lets the next part start and sends what is left of the previous one at once, so the
    producer is still trickling a part when the chaos strikes; `finish()` sends the rest at once."""

    def __init__(self, settings: Settings, lines: list[bytes], parts: int) -> None:
        super().__init__(daemon=True)
        self.settings, self.lines, self.parts = settings, lines, parts
        self.released = 0  # parts allowed to start
        self.queued = 0  # lines handed to the producer so far
        self.trickling = False  # pacing a part (not waiting for one to be released)
        self.cancelled = False
        self.stats: ProduceStats | None = None
        self.error: BaseException | None = None
        self._changed = threading.Condition()

    def release(self, everything: bool = False) -> None:
        with self._changed:
            self.released = self.parts + 1 if everything else self.released + 1
            self._changed.notify_all()

    def cancel(self) -> None:
        """Stop sending (cleanup after a failure)."""
        with self._changed:
            self.cancelled = True
            self._changed.notify_all()

    def _released_beyond(self, parts: int) -> bool:
        return self.released > parts or self.cancelled

    def _batches(self) -> Iterator[tuple[list[bytes], None]]:
        size = -(-len(self.lines) // self.parts)
        for i in range(self.parts):
            part = self.lines[i * size:(i + 1) * size]
            with self._changed:
                if not self._changed.wait_for(functools.partial(self._released_beyond, i), timeout=3 * WAIT_S):
                    raise TimeoutError(f"part {i} of the file was never released")
            for n, start in enumerate(range(0, len(part), SLICE)):
                with self._changed:
                    if n:  # pace, unless the next part has been released
                        self.trickling = self.released == i + 1
                        self._changed.wait_for(functools.partial(self._released_beyond, i + 1), timeout=PACE_S)
                    if self.cancelled:
                        return
                chunk = part[start:start + SLICE]
                yield chunk, None
                self.queued += len(chunk)
            self.trickling = False

    def run(self) -> None:
        try:
            self.stats = produce(self.settings, self.settings.topic_raw, self._batches())
        except BaseException as exc:  # reported by finish()
            self.error = exc

    def finish(self) -> ProduceStats:
        """Send what is left and wait for the last acknowledgement: every line sent, none failed."""
        self.release(everything=True)
        self.join(timeout=3 * WAIT_S)
        assert not self.is_alive(), "the producer did not finish"
        assert self.error is None, f"the producer failed: {self.error!r}"
        assert self.stats is not None
        assert (self.stats.sent, self.stats.failed) == (len(self.lines), 0), self.stats.first_error
        return self.stats


class OutputWatch:
    """How many records the rated and rejected topics hold (the sum of their end offsets)."""

    def __init__(self, settings: Settings) -> None:
        from kafka import KafkaConsumer, TopicPartition

        self.consumer = KafkaConsumer(bootstrap_servers=settings.bootstrap_servers, enable_auto_commit=False)
        self.partitions = [TopicPartition(topic, p) for topic in (settings.topic_rated, settings.topic_rejected)
                           for p in range(settings.partitions)]

    def records(self) -> int:
        return sum(self.consumer.end_offsets(self.partitions).values())

    def more_than(self, count: int) -> bool:
        return self.records() > count

    def close(self) -> None:
        self.consumer.close()


def _caught_up(settings: Settings) -> bool:
    """Both queries committed all there is: the rating query the raw topic, the sessions query the
    parts the rating query wrote (RULES.md section 18)."""
    def ends(topic: str) -> dict[int, int]:
        return {p: after for p, (_, after) in topic_offsets(settings, topic).items() if after}

    raw, parts = ends(settings.topic_raw), ends(settings.topic_parts)
    sessions = committed_offsets(Path(sessions_checkpoint(str(settings.rating_checkpoint))), settings.topic_parts)
    return (committed_offsets(settings.rating_checkpoint, settings.topic_raw) == raw
            and all(sessions.get(p, 0) >= after for p, after in parts.items()))


def _drain_and_stop(run: StreamRun, settings: Settings) -> None:
    """Let `run` process everything in the raw topic (and the parts it routed), then stop it with
    SIGTERM (a clean exit)."""
    run.wait_for(lambda: _caught_up(settings), "commit of the whole raw topic and of every part")
    assert run.stop() == 0, run.tail()


# -- the check shared by both tests ----------------------------------------------------------------------


def _bill_from_topic_equals_expected(settings: Settings, month: Month, expected: Expected, out: Path,
                                     monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    """`telecom bill` from the rated topic (raw side reconciled from the raw and rejected topics) makes
    the same invoices and summary as the file driver, with every raw record explained."""
    for name, value in _environment(settings).items():
        if name.startswith("TELECOM_"):
            monkeypatch.setenv(name, value)
    assert cli.main(["bill", "--period", PERIOD, "--subscribers", str(month.subscribers), "--out", str(out)]) == 0
    period = out / f"period={PERIOD}"
    report = json.loads((period / "reconciliation.json").read_text())
    assert report["unexplained_total"] == 0 and report["unexplained"] == []
    run = report["raw"]["run"]
    assert run["balanced"] and run["unexplained"] == 0 and report["raw"]["orphans"] == 0
    counts = expected.counts
    assert (run["records"], run["rated"], run["rejected"], run["duplicate"]) == (
        counts["raw"], counts["rated"], counts["rejected"], counts["duplicate"]), "every raw record once"
    assert run["rejected_by_reason"] == counts["rejected_by_reason"]
    assert report["rated"]["billed"] == counts["rated"]
    invoices = _invoices(period)
    assert len(invoices) == len(expected.invoices) > 0
    assert invoices == expected.invoices, "the invoices differ from the file driver's"
    assert (period / "summary.csv").read_text(encoding="utf-8") == expected.summary
    # The independent check: mediation re-run on every raw record finds what the offsets said.
    deep = out.parent / "deep"
    assert cli.main(["reconcile", "--period", PERIOD, "--subscribers", str(month.subscribers), "--invoices", str(out),
                     "--out", str(deep), "--deep"]) == 0
    deep_raw = json.loads((deep / "reconciliation.json").read_text())["raw"]
    assert (report["raw"].pop("method"), deep_raw.pop("method")) == ("offsets", "deep")
    assert deep_raw == report["raw"]
    return report


# -- the tests -------------------------------------------------------------------------------------------


def test_stream_killed_three_times_bills_exactly_once(month: Month, expected: Expected, kafka_bootstrap: str,
                                                      tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Three SIGKILLs of the stream's process group, each followed by a restart on the same checkpoint,
    while the producer has not sent the whole file yet; a fourth run drains the raw topic and stops
    cleanly. The first and third kills come at a seeded random moment just after the run began writing
    output (mid-batch: written, not committed, so the batch is replayed and the rated topic holds copies);
    the second just after the run committed a batch (the dedup state it restores next was written by a
    run that was killed). The bill from the rated topic equals the file driver's: the replayed copies are
    not billed twice, and nothing is lost."""
    rnd = random.Random(SEED)
    settings = _pipeline(kafka_bootstrap, tmp_path / "checkpoints")
    producer = PacedProducer(settings, month.lines, parts=4)
    output = OutputWatch(settings)
    kills: list[dict[str, Any]] = []
    runs: list[StreamRun] = []
    try:
        producer.start()
        for after in ("output", "commit", "output"):
            run = StreamRun(settings, month.subscribers, tmp_path / "stream.log")
            runs.append(run)
            run.wait_for(run.started.is_set, "query start")
            producer.release()
            before = output.records()
            if after == "commit":
                run.wait_for_batch()
            else:
                run.wait_for(functools.partial(output.more_than, before), "output records")
            time.sleep(rnd.uniform(0.0, 3.0))
            kill = {"after": after, "queued": producer.queued, "producer_trickling": producer.trickling}
            kill["code"] = run.kill()
            kills.append({**kill, "written": output.records() - before, "committed_batches": run.batches})
        last = StreamRun(settings, month.subscribers, tmp_path / "stream.log")
        runs.append(last)
        last.wait_for(last.started.is_set, "query start")
        producer.release()
        producer.finish()
        _drain_and_stop(last, settings)
    finally:
        output.close()
        producer.cancel()
        for run in runs:
            run.close()

    assert [k["code"] for k in kills] == [-signal.SIGKILL] * 3, "each kill hit a live stream"
    assert all(k["written"] > 0 for k in kills), "each run had written output before its kill"
    assert kills[1]["committed_batches"] >= 1, "the second run had committed a batch before its kill"
    assert all(k["producer_trickling"] and 0 < k["queued"] < len(month.lines) for k in kills), \
        "each kill came while the producer was sending"
    report = _bill_from_topic_equals_expected(settings, month, expected, tmp_path / "bill", monkeypatch)
    print(f"kills: {kills}; rated copies dropped by billing: {report['rated']['duplicates']}")


def test_broker_stopped_and_killed_under_the_stream(month: Month, expected: Expected, tmp_path: Path,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    """A broker of its own, stopped cleanly once and killed with SIGKILL once while the stream runs and
    the producer is sending, each time restarted on the same ports and log folder. The producer rides
    out both outages (every record acknowledged), the one stream run survives them and drains the topic,
    and the bill from the rated topic equals the file driver's."""
    rnd = random.Random(SEED + 1)
    broker = EmbeddedBroker(home=tmp_path / "kafka", jars_dir=load_settings().jars_dir, port=free_port(),
                            controller_port=free_port(), heap="512m")
    broker.start()
    run: StreamRun | None = None
    producer: PacedProducer | None = None
    try:
        settings = _pipeline(broker.bootstrap_servers, tmp_path / "checkpoints")
        producer = PacedProducer(settings, month.lines, parts=3)
        producer.start()
        run = StreamRun(settings, month.subscribers, tmp_path / "stream.log")
        run.wait_for(run.started.is_set, "query start")
        producer.release()
        progress = 0
        for hard in (False, True):
            run.wait_for_batch(after=progress)  # the stream commits batches (again, after a restart)
            time.sleep(rnd.uniform(0.5, 3.0))
            producer.release()  # the rest of the previous part and the start of this one meet the outage
            if hard:
                pid = broker.running_pid()
                assert pid is not None
                os.kill(pid, signal.SIGKILL)
                _, status = os.waitpid(pid, 0)
                assert os.WIFSIGNALED(status) and os.WTERMSIG(status) == signal.SIGKILL
            else:
                assert broker.stop()
            time.sleep(3)
            broker.start()
            progress = run.batches
        producer.finish()
        _drain_and_stop(run, settings)
        report = _bill_from_topic_equals_expected(settings, month, expected, tmp_path / "bill", monkeypatch)
        print(f"stream batches: {run.batches}; rated copies dropped by billing: {report['rated']['duplicates']}")
    finally:
        if producer is not None:
            producer.cancel()
        if run is not None:
            run.close()
        broker.stop()


LATE = 40  # subscribers missing from the base while the month streams, loaded before the recycle


def test_recycle_with_the_stream_killed_bills_once(month: Month, expected: Expected, kafka_bootstrap: str,
                                                   tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The month streams against a base without its last LATE subscribers (their CDRs are rejected
    UNKNOWN_SUBSCRIBER); the base is fixed, the stream restarted on it, the rejects recycled, and the
    stream SIGKILLed while it writes the recycled records, then restarted. The bill equals the file
    driver's on the whole base: every recycled CDR billed once, every raw record counted once."""
    partial = tmp_path / "partial.csv"
    base = month.subscribers.read_text(encoding="utf-8").splitlines(keepends=True)
    partial.write_text("".join(base[:-LATE]), encoding="utf-8")
    settings = _pipeline(kafka_bootstrap, tmp_path / "checkpoints")
    stats = produce(settings, settings.topic_raw, iter([(month.lines, None)]))
    assert (stats.sent, stats.failed) == (len(month.lines), 0)
    output = OutputWatch(settings)
    runs = [StreamRun(settings, partial, tmp_path / "stream.log")]
    try:
        _drain_and_stop(runs[0], settings)
        runs.append(StreamRun(settings, month.subscribers, tmp_path / "stream.log"))
        runs[1].wait_for(runs[1].started.is_set, "query start")
        for name, value in _environment(settings).items():
            if name.startswith("TELECOM_"):
                monkeypatch.setenv(name, value)
        before = output.records()
        assert cli.main(["recycle", "--reason", "UNKNOWN_SUBSCRIBER"]) == 0
        runs[1].wait_for(functools.partial(output.more_than, before), "output records")
        assert runs[1].kill() == -signal.SIGKILL
        assert cli.main(["recycle", "--reason", "UNKNOWN_SUBSCRIBER"]) == 0  # in flight: nothing sent twice
        runs.append(StreamRun(settings, month.subscribers, tmp_path / "stream.log"))
        _drain_and_stop(runs[2], settings)
    finally:
        output.close()
        for run in runs:
            run.close()
    report = _bill_from_topic_equals_expected(settings, month, expected, tmp_path / "bill", monkeypatch)
    assert report["raw"]["run"]["recycled"]["UNKNOWN_SUBSCRIBER"] > expected.counts["rejected_by_reason"].get(
        "UNKNOWN_SUBSCRIBER", 0), "the late subscribers' CDRs were recycled, as were the unknown numbers"



def _active_subscribers(subscribers: Path) -> list[str]:
    """MSISDNs of `subscribers` active for the whole of PERIOD."""
    rows = csv.DictReader(subscribers.open(encoding="utf-8"))
    return [r["msisdn"] for r in rows if r["activation_date"] < f"{PERIOD}-01" and not r["termination_date"]]


def _call_parts(msisdn: str, session: str, start: datetime, lengths: list[int]) -> list[bytes]:
    """A call cut into parts (DESIGN.md 7c), contiguous, in order."""
    lines = []
    for n, seconds in enumerate(lengths, start=1):
        lines.append(json.dumps({
            "cdr_id": f"{session}-{n}", "record_type": "voice", "event_time": start.strftime("%Y-%m-%dT%H:%M:%SZ"),
            "msisdn": msisdn, "other_party": "212612345678", "direction": "MO", "duration_sec": seconds,
            "session_id": session, "sequence": n, "partial": "last" if n == len(lengths) else "intermediate",
        }).encode())
        start += timedelta(seconds=seconds)
    return lines


def test_stream_killed_while_sessions_are_held(month: Month, kafka_bootstrap: str, tmp_path: Path,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    """Partial records: the first parts of 60 calls reach the stream, whose sessions query holds them
    (committed in its state); SIGKILL. The last parts arrive, and a run is killed again mid-way; a last
    run drains. Every call is assembled and billed once: the bill from the topics equals the file
    driver's on the same lines, and the reconciliation accounts for every part."""
    rnd = random.Random(SEED + 2)
    people = _active_subscribers(month.subscribers)
    # Calls starting within two hours: their first parts do not move the watermark 6 h past any of them.
    calls = [_call_parts(rnd.choice(people), f"held-{n}", datetime(2026, 10, 13, 8, tzinfo=UTC)
                         + timedelta(minutes=rnd.randrange(0, 120)), [1800, 1800, rnd.randrange(1, 900)])
             for n in range(60)]
    first, rest = [c[i] for c in calls for i in (0, 1)], [c[2] for c in calls]
    raw = tmp_path / "raw.jsonl"
    raw.write_bytes(b"".join(line + b"\n" for line in [*first, *rest]))
    lines = Month(raw=raw, subscribers=month.subscribers, lines=[*first, *rest])
    expected = _file_driver(lines, tmp_path / "expected")
    assert expected.counts["sessions"] == {"complete": 60, "incomplete": 0}

    settings = _pipeline(kafka_bootstrap, tmp_path / "checkpoints")
    runs = [StreamRun(settings, month.subscribers, tmp_path / "stream.log")]
    try:
        assert produce(settings, settings.topic_raw, iter([(first, None)])).sent == len(first)
        runs[0].wait_for(lambda: _caught_up(settings), "the first parts held")
        assert runs[0].kill() == -signal.SIGKILL
        runs.append(StreamRun(settings, month.subscribers, tmp_path / "stream.log"))
        runs[1].wait_for(runs[1].started.is_set, "query start")
        assert produce(settings, settings.topic_raw, iter([(rest, None)])).sent == len(rest)
        runs[1].wait_for_batch()
        time.sleep(rnd.uniform(0.0, 3.0))
        assert runs[1].kill() == -signal.SIGKILL
        runs.append(StreamRun(settings, month.subscribers, tmp_path / "stream.log"))
        _drain_and_stop(runs[2], settings)
    finally:
        for run in runs:
            run.close()
    report = _bill_from_topic_equals_expected(settings, lines, expected, tmp_path / "bill", monkeypatch)
    assert (report["raw"]["run"]["merged"], report["raw"]["run"]["held"]) == (60 * 2, 0)
