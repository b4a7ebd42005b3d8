"""`docker compose up` for real, end to end (`make compose-test`; .ci/run calls it).

Starts a Docker engine when none answers (scripts/docker-engine.sh), gets Compose v2
(scripts/compose.sh), makes the official base images available or builds stand-ins for them when no
registry answers (tests/docker/standins/build.sh, loudly), builds the project's images and checks the
stack from the host, in order:

1. `up -d`: every service starts, topic-init creates the four topics;
2. generated CDRs come out rated on cdr.rated (`telecom tail` on the host port, and Kafka's console
   consumer inside the broker's container);
3. `docker compose restart rating-job` mid-stream;
3a. a roaming data session over the roaming data cap, produced from the host, comes out as its two
   alerts on subscriber.alerts (the usage-monitor service; `telecom tail alerts`, the console consumer);
4. the billing job writes a period folder into ./output whose reconciliation has 0 unexplained;
5. with the producer stopped (a fixed set of CDRs): the stream's output is what `telecom rate` gives
   on the host for the same raw CDRs (read from cdr.raw), nothing lost by the restart; a batch it
   interrupted may be written again (an at-least-once sink), as exact copies that billing counts as
   duplicates; the billing job's invoices equal `telecom bill --rated` on the host, and the billing job
   loaded each one into the postgres service (the same totals, invoice by invoice);
6. `--profile cluster` with SPARK_MASTER=spark://spark-master:7077: the rating job runs on the
   standalone master/worker (an app on the master's /json, rated output);
7. `docker compose down -v` leaves no container, network or volume.

Every wait has a timeout and prints what it waited for and how long. The measurements (timings, image
sizes, peak memory) are printed at the end and written to build/compose-test/measurements.json.

Only `make compose-test` (scripts/compose-test.sh, COMPOSE_TEST=1) collects this module (conftest.py),
so `make test` and `pytest tests/docker` stay static; under it nothing is skipped: any missing piece
(no engine and no root, no Go for Compose, no registry and no debootstrap) is a failure.
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
import re
import shlex
import shutil
import subprocess
import threading
import time
import urllib.request
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any, TypeVar

import psycopg
import pytest
from compose_stack import REPO

from telecom_billing.infra.settings import load_settings

pytestmark = pytest.mark.compose

PROJECT = "telecom-billing"
TOPICS = ("cdr.raw", "cdr.rated", "cdr.rejected", "cdr.parts", "subscriber.alerts")
KAFKA_PORT = int(os.environ.get("KAFKA_HOST_PORT", "9092"))
MASTER_UI = f"http://localhost:{os.environ.get('SPARK_MASTER_UI_HOST_PORT', '8080')}/json"
# The results database the billing job loads into (the postgres service, docs/SQL.md).
POSTGRES_URL = (f"postgresql://telecom:{os.environ.get('POSTGRES_PASSWORD', 'telecom')}"
                f"@127.0.0.1:{os.environ.get('POSTGRES_HOST_PORT', '5432')}/billing")
OUTPUT = REPO / "output"
INVOICES = OUTPUT / "invoices"
WORK = REPO / "build" / "compose-test"
HOST_CA = Path("/etc/ssl/certs/ca-certificates.crt")
# The billing job's interval during the test: a tick every 15 s instead of 5 minutes.
BILLING_INTERVAL_S = 15
# The invoice field that says how a run was made (the job's are drafts, a run from files is final).
RUN_FIELD = "status"

T = TypeVar("T")


def say(message: str) -> None:
    print(f"[compose-test {time.strftime('%H:%M:%S')}] {message}", flush=True)


def run(cmd: list[str], timeout: float, *, check: bool = True, env: dict[str, str] | None = None,
        quiet: bool = False) -> subprocess.CompletedProcess[str]:
    t0 = time.monotonic()
    try:
        proc = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True, timeout=timeout, env=env)
    except subprocess.TimeoutExpired as exc:
        stderr = exc.stderr.decode(errors="replace") if isinstance(exc.stderr, bytes) else exc.stderr or ""
        raise AssertionError(f"timed out after {timeout:.0f}s: {shlex.join(cmd)}\n{stderr}") from None
    if not quiet:
        say(f"{shlex.join(cmd)} -> exit {proc.returncode} in {time.monotonic() - t0:.1f}s")
    if check and proc.returncode != 0:
        raise AssertionError(f"{shlex.join(cmd)} failed (exit {proc.returncode}):\n"
                             f"{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}")
    return proc


def wait_for(what: str, probe: Callable[[], T | None], timeout: float, interval: float = 2.0,
             state: Callable[[], str] = lambda: "") -> tuple[T, float]:
    """Polls `probe` until it returns something truthy; returns it and the seconds waited."""
    say(f"waiting for {what} (timeout {timeout:.0f}s)")
    t0 = time.monotonic()
    while True:
        value = probe()
        waited = time.monotonic() - t0
        if value:
            say(f"  {what}: after {waited:.1f}s")
            return value, waited
        if waited > timeout:
            raise AssertionError(f"timed out after {timeout:.0f}s waiting for {what}\n{state()}")
        time.sleep(interval)


@dataclasses.dataclass
class Stack:
    compose_cmd: list[str]
    env: dict[str, str]
    measurements: dict[str, Any]
    up_at: float = 0.0
    up_wall: float = 0.0
    memory_peak_mib: float = 0.0
    memory_by_container: dict[str, float] = dataclasses.field(default_factory=dict)
    _sampler: threading.Thread | None = None
    _stop_sampling: threading.Event = dataclasses.field(default_factory=threading.Event)

    def compose(self, *args: str, timeout: float = 300, check: bool = True, quiet: bool = False,
                extra_env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
        env = {**self.env, **(extra_env or {})}
        return run([*self.compose_cmd, *args], timeout, check=check, env=env, quiet=quiet)

    def logs(self, *services: str) -> str:
        proc = self.compose("logs", "--no-color", "--tail", "40", *services, timeout=60, check=False, quiet=True)
        return proc.stdout[-6000:]

    def measure(self, name: str, seconds: float) -> None:
        measure(self.measurements, name, seconds)

    # Peak memory: `docker stats --no-stream` every few seconds while the stack runs.
    def start_sampling(self) -> None:
        self._stop_sampling.clear()
        self._sampler = threading.Thread(target=self._sample, daemon=True)
        self._sampler.start()

    def stop_sampling(self) -> None:
        self._stop_sampling.set()
        if self._sampler is not None:
            self._sampler.join(timeout=30)

    def _sample(self) -> None:
        while not self._stop_sampling.is_set():
            proc = run(["docker", "stats", "--no-stream", "--format", "{{.Name}}\t{{.MemUsage}}"], 60,
                       check=False, quiet=True)
            usage = {name: mib(mem.split("/")[0]) for name, _, mem in
                     (line.partition("\t") for line in proc.stdout.splitlines()) if name.startswith(PROJECT)}
            total = sum(usage.values())
            if total > self.memory_peak_mib:
                self.memory_peak_mib, self.memory_by_container = total, usage
            self._stop_sampling.wait(5)


def measure(measurements: dict[str, Any], name: str, seconds: float) -> None:
    measurements.setdefault("seconds", {})[name] = round(seconds, 1)
    say(f"MEASURED {name}: {seconds:.1f}s")


def mib(text: str) -> float:
    match = re.fullmatch(r"\s*([\d.]+)\s*([KMGT]i?B|B)\s*", text)
    if not match:
        return 0.0
    scale = {"B": 1 / 2**20, "KiB": 1 / 1024, "KB": 1 / 1024, "MiB": 1, "MB": 1, "GiB": 1024, "GB": 1024,
             "TiB": 2**20, "TB": 2**20}
    return float(match.group(1)) * scale[match.group(2)]


def script(path: str, timeout: float) -> tuple[str, float]:
    """Runs one of the repository's shell scripts, its stderr shown live; returns stdout and seconds."""
    t0 = time.monotonic()
    say(f"running {path}")
    proc = subprocess.run(["bash", str(REPO / path)], cwd=REPO, stdout=subprocess.PIPE, text=True,
                          timeout=timeout)
    assert proc.returncode == 0, f"{path} failed (exit {proc.returncode})"
    return proc.stdout.strip(), time.monotonic() - t0


@pytest.fixture(scope="module")
def stack() -> Iterator[Stack]:
    t_all = time.monotonic()
    measurements: dict[str, Any] = {}
    _, seconds = script("scripts/docker-engine.sh", 900)
    measure(measurements, "engine_start", seconds)
    compose_line, seconds = script("scripts/compose.sh", 1200)
    measure(measurements, "compose_get", seconds)
    _, seconds = script("tests/docker/standins/build.sh", 1500)
    measure(measurements, "standins_build", seconds)
    env = {**os.environ, "COMPOSE_BAKE": "false", "BILLING_INTERVAL_SECONDS": str(BILLING_INTERVAL_S)}
    # The build's downloads trust what the host trusts (behind a TLS-intercepting proxy, its CA).
    if "EXTRA_CA_CERTS" not in env and HOST_CA.is_file():
        env["EXTRA_CA_CERTS"] = str(HOST_CA)
    env.pop("SPARK_MASTER", None)
    env.pop("COMPOSE_PROFILES", None)
    s = Stack(compose_cmd=shlex.split(compose_line), env=env, measurements=measurements)
    version = s.compose("version", "--short", timeout=60).stdout.strip()
    measurements["compose_version"] = version
    s.compose("--profile", "cluster", "down", "-v", "--remove-orphans", timeout=180)
    # The test owns ./output/invoices (as `make clean` does): a period folder seen later is this run's.
    if INVOICES.exists():
        shutil.rmtree(INVOICES)
    shutil.rmtree(WORK, ignore_errors=True)
    WORK.mkdir(parents=True)
    t0 = time.monotonic()
    s.compose("--progress", "plain", "--profile", "cluster", "build", timeout=1500)
    s.measure("compose_build", time.monotonic() - t0)
    try:
        yield s
    finally:
        s.stop_sampling()
        s.compose("--profile", "cluster", "down", "-v", "--remove-orphans", timeout=300, check=False)
        measure(measurements, "whole_test", time.monotonic() - t_all)
        measurements["peak_memory_mib"] = round(s.memory_peak_mib)
        measurements["peak_memory_by_container_mib"] = {k: round(v) for k, v in s.memory_by_container.items()}
        images = run(["docker", "image", "ls", "--format", "{{.Repository}}:{{.Tag}}\t{{.Size}}"], 60,
                     check=False, quiet=True).stdout
        measurements["image_sizes"] = dict(line.split("\t") for line in images.splitlines() if "\t" in line)
        (WORK / "measurements.json").write_text(json.dumps(measurements, indent=2) + "\n")
        say("MEASUREMENTS " + json.dumps(measurements, indent=2))


# ---- helpers reading the topics and the output from the host -------------------------------------

def host_settings() -> Any:
    return dataclasses.replace(load_settings(), bootstrap_servers=f"localhost:{KAFKA_PORT}")


def topic_values(topic: str) -> list[bytes]:
    from telecom_billing.tail import read_records

    records = read_records(host_settings(), topic, from_beginning=True, follow=False, last=0, limit=None)
    return [r.value or b"" for r in records]


def rated_records() -> list[dict[str, Any]]:
    return [json.loads(v) for v in topic_values("cdr.rated")]


def rated_ids() -> list[str]:
    return [r["cdr_id"] for r in rated_records()]


def rated_at(record: dict[str, Any]) -> datetime:
    return datetime.fromisoformat(record["rated_at"])


def rejected_sources() -> list[tuple[int, int]]:
    """The `cdr.raw` coordinates of each rejection on `cdr.rejected` (a copy repeats them)."""
    return [(r["source"]["partition"], r["source"]["offset"]) for r in map(json.loads, topic_values("cdr.rejected"))]


def replayed_copies(records: list[dict[str, Any]], key: Callable[[dict[str, Any]], Any],
                    stamp: str) -> dict[Any, list[dict[str, Any]]]:
    """The records written more than once (by key), after checking that each copy is the same record
    but for its processing time `stamp`: Spark's Kafka sink is at-least-once, and a batch the restart
    interrupted is written again (DESIGN.md 7: billing bills such a CDR once)."""
    groups: dict[Any, list[dict[str, Any]]] = {}
    for record in records:
        groups.setdefault(key(record), []).append(record)
    copies = {k: group for k, group in groups.items() if len(group) > 1}
    for k, group in copies.items():
        bodies = {json.dumps({f: v for f, v in r.items() if f != stamp}, sort_keys=True) for r in group}
        assert len(bodies) == 1, f"{k}: copies differ beyond {stamp}: {sorted(bodies)[:2]}"
    return copies


def topics_in_broker(s: Stack) -> set[str]:
    proc = s.compose("exec", "-T", "kafka", "/opt/kafka/bin/kafka-topics.sh", "--bootstrap-server", "kafka:19092",
                     "--list", timeout=90, check=False, quiet=True)
    return set(proc.stdout.split()) if proc.returncode == 0 else set()


def period_folders() -> list[Path]:
    return sorted(p for p in INVOICES.glob("period=*") if (p / "_SUCCESS").is_file())


def run_started(folder: Path) -> float | None:
    """When the billing run that wrote `folder` began (its `as_of`), or None while it is being swapped."""
    from telecom_billing.billing.folder import MANIFEST_FILE
    from telecom_billing.billing.live import parse_as_of

    try:
        as_of = json.loads((folder / MANIFEST_FILE).read_text())["input"]["as_of"]
    except (OSError, ValueError, KeyError):
        return None
    return parse_as_of(as_of).timestamp()


def raw_side(folder: Path) -> dict[str, Any] | None:
    """The raw side of a period folder's reconciliation (`raw.run`), or None while it is being swapped."""
    try:
        return json.loads((folder / "reconciliation.json").read_text())["raw"]["run"]
    except (OSError, ValueError, KeyError, TypeError):
        return None


def read_whole(folders: list[Path]) -> dict[Path, tuple[set[str], dict[str, Any]]] | None:
    """Each folder's file names and reconciliation, or None if one was being swapped while read."""
    try:
        return {f: ({p.name for p in f.iterdir()}, json.loads((f / "reconciliation.json").read_text()))
                for f in folders}
    except (OSError, ValueError):
        return None


def folders_covering(records: int) -> list[Path] | None:
    """The period folders when every one of them reconciles all `records` raw records: each read, none
    in flight, balanced. What a run covered, not when it started: a run that began before the catch-up
    but found the stream already done is as good."""
    folders = period_folders()
    sides = [raw_side(f) or {} for f in folders]
    whole = [s for s in sides if s.get("records") == records and s.get("in_flight") == 0 and s.get("balanced")]
    return folders if folders and len(whole) == len(folders) else None


def database_totals() -> dict[str, tuple[int, Decimal]] | None:
    """Invoices and total per period in the postgres service, or None while it does not answer."""
    try:
        with psycopg.connect(POSTGRES_URL, connect_timeout=5) as connection:
            rows = connection.execute("SELECT period, invoices, total FROM periods").fetchall()
    except psycopg.Error:
        return None
    return {period: (count, Decimal(total)) for period, count, total in rows}


def folder_totals(folders: list[Path]) -> dict[str, tuple[int, Decimal]] | None:
    """Invoices and total per period folder, or None if one was being swapped while read."""
    try:
        invoices = {f.name.removeprefix("period="): invoices_by_id(f) for f in folders}
    except (OSError, ValueError):
        return None
    return {p: (len(i), sum((Decimal(v["total"]) for v in i.values()), Decimal(0))) for p, i in invoices.items()}


def running_services(s: Stack) -> set[str]:
    proc = s.compose("ps", "--status", "running", "--services", timeout=60, check=False, quiet=True)
    return set(proc.stdout.split())


def telecom(*args: str, timeout: float = 900, quiet: bool = False) -> subprocess.CompletedProcess[str]:
    return run([str(REPO / ".venv" / "bin" / "telecom"), *args], timeout, quiet=quiet)


def invoices_by_id(folder: Path) -> dict[str, dict[str, Any]]:
    """Invoice number -> the invoice without its run field."""
    invoices = [json.loads(line) for line in (folder / "invoices.jsonl").read_text().splitlines() if line]
    return {inv["invoice_number"]: {k: v for k, v in inv.items() if k != RUN_FIELD} for inv in invoices}


# ---- the checks, in order (each builds on the previous one) --------------------------------------

def test_up_starts_the_services_and_the_topics(stack: Stack) -> None:
    stack.up_at, stack.up_wall = time.monotonic(), time.time()
    stack.compose("up", "-d", timeout=600)
    stack.measure("up_command", time.monotonic() - stack.up_at)
    stack.start_sampling()
    expected = {"kafka", "postgres", "producer", "rating-job", "usage-monitor", "billing-job"}
    wait_for("kafka, postgres, producer, rating-job, usage-monitor and billing-job running", lambda: expected <= running_services(stack),
             120, state=lambda: stack.logs())
    def topics() -> set[str] | None:
        listed = topics_in_broker(stack)
        return listed if set(TOPICS) <= listed else None

    listed, _ = wait_for(f"the topics {', '.join(TOPICS)} (kafka-topics.sh in the broker's container)",
                         topics, 180, state=lambda: stack.logs("topic-init", "kafka"))
    say(f"topics: {sorted(listed)}")
    exited = stack.compose("ps", "-a", "--format", "{{.Service}} {{.State}} {{.ExitCode}}", timeout=60).stdout
    for init in ("topic-init", "output-init"):
        assert re.search(rf"^{init} exited 0$", exited, re.M), f"{init} did not exit 0:\n{exited}"


def test_cdrs_come_out_rated(stack: Stack) -> None:
    def first_rated() -> str | None:
        proc = telecom("tail", "rated", "--bootstrap-servers", f"localhost:{KAFKA_PORT}", "-n", "1", "--json",
                       timeout=120, quiet=True)
        return proc.stdout.strip() or None

    line, _ = wait_for("the first rated CDR on cdr.rated (telecom tail on the host)", first_rated, 600, 3,
                       state=lambda: stack.logs("rating-job", "producer"))
    stack.measure("up_to_first_rated", time.monotonic() - stack.up_at)
    record = json.loads(line)
    assert record["cdr_id"] and record["charge"] is not None and record["catalog_version"], record
    proc = stack.compose("exec", "-T", "kafka", "/opt/kafka/bin/kafka-console-consumer.sh", "--bootstrap-server",
                         "kafka:19092", "--topic", "cdr.rated", "--from-beginning", "--max-messages", "3",
                         "--timeout-ms", "60000", timeout=120)
    lines = [ln for ln in proc.stdout.splitlines() if ln.startswith("{")]
    assert len(lines) == 3 and all("cdr_id" in json.loads(ln) for ln in lines), proc.stdout + proc.stderr


def test_restart_rating_job_mid_stream(stack: Stack) -> None:
    assert "producer" in running_services(stack), "the producer must still be running: mid-stream"
    t0 = time.monotonic()
    stack.compose("restart", "rating-job", timeout=180)
    restarted = datetime.now(UTC)  # the old job has stopped: a record rated later is the new one's
    stack.measure("restart_rating_job_command", time.monotonic() - t0)
    wait_for("a record rated by the restarted job (rated_at after the restart)",
             lambda: any(rated_at(r) > restarted for r in rated_records()), 600, 5,
             state=lambda: stack.logs("rating-job"))
    stack.measure("restart_to_new_rated", time.monotonic() - t0)


def test_usage_monitor_alerts_on_subscriber_alerts(stack: Stack) -> None:
    """One 20 MiB data session roaming in the US (roam_world, 40 MAD per MiB on SMART_99: 800 MAD) takes a
    subscriber over 80 % and 100 % of the catalog's 500 MAD roaming data cap: the usage monitor writes
    both alerts, whatever the producer's traffic did before."""
    from kafka import KafkaProducer

    from telecom_billing.refdata.catalog import load_catalog
    from telecom_billing.refdata.subscribers import load_subscribers

    today = datetime.now(UTC).date()
    subscriber = next(s for s in load_subscribers(REPO / "data" / "subscribers.csv") if s.plan_id == "SMART_99"
                      and s.activation_date < today and s.termination_date is None)
    cdr_id = f"compose-roaming-{int(time.time())}"
    session = {"cdr_id": cdr_id, "record_type": "data", "event_time": datetime.now(UTC).isoformat(),
               "msisdn": subscriber.msisdn, "bytes_up": 2 * 2**20, "bytes_down": 18 * 2**20, "cell_id": "US-1",
               "technology": "4G", "visited_country": "US"}
    producer = KafkaProducer(bootstrap_servers=f"localhost:{KAFKA_PORT}")
    producer.send("cdr.raw", key=subscriber.msisdn.encode(), value=json.dumps(session).encode())
    producer.flush()
    producer.close()
    t0 = time.monotonic()

    cap = load_catalog(REPO / "data" / "catalog").roaming_data_cap
    assert cap is not None

    def its_alerts() -> list[dict[str, Any]] | None:
        """The subscriber's roaming data cap alerts (the producer's traffic may have raised the first)."""
        alerts = [json.loads(v) for v in topic_values("subscriber.alerts")]
        mine = [a for a in alerts if a["msisdn"] == subscriber.msisdn and a["kind"] == "roaming_data_cap"]
        return mine if {a["percent"] for a in mine} >= set(cap.alerts) else None

    alerts, _ = wait_for(f"the roaming data cap alerts of {subscriber.msisdn} on subscriber.alerts", its_alerts,
                         600, 3, state=lambda: stack.logs("usage-monitor", "rating-job"))
    stack.measure("raw_session_to_alert", time.monotonic() - t0)
    last = max(alerts, key=lambda a: a["percent"])
    assert last["triggered_by"] == cdr_id and last["limit"] == f"{cap.amount:.2f}", alerts
    shown = telecom("tail", "alerts", "--bootstrap-servers", f"localhost:{KAFKA_PORT}", "--from-beginning",
                    "--msisdn", subscriber.msisdn, timeout=120, quiet=True).stdout
    assert f"roaming_data_cap: {last['used']} of {last['limit']}" in shown, shown
    proc = stack.compose("exec", "-T", "kafka", "/opt/kafka/bin/kafka-console-consumer.sh", "--bootstrap-server",
                         "kafka:19092", "--topic", "subscriber.alerts", "--from-beginning", "--max-messages", "1",
                         "--timeout-ms", "60000", timeout=120)
    lines = [ln for ln in proc.stdout.splitlines() if ln.startswith("{")]
    assert len(lines) == 1 and json.loads(lines[0])["alert_id"].startswith("ALR-"), proc.stdout + proc.stderr


def test_billing_job_writes_a_reconciled_period(stack: Stack) -> None:
    folders, _ = wait_for("a period folder in ./output/invoices", period_folders, 900, 3,
                          state=lambda: stack.logs("billing-job"))
    # When it was written (the wait above may have begun after that): its _SUCCESS file's time.
    stack.measure("up_to_first_invoice_folder",
                  min((f / "_SUCCESS").stat().st_mtime for f in folders) - stack.up_wall)
    # Read as a whole: a draft's next run may swap a folder while it is read (then it is read again).
    readable, _ = wait_for("the period folders read whole", lambda: read_whole(folders), 60, 1)
    for folder, (names, recon) in readable.items():
        missing = {"invoices.jsonl", "summary.csv", "manifest.json", "reconciliation.json"} - names
        assert not missing, f"{folder}: {sorted(missing)} missing"
        assert recon["unexplained_total"] == 0, f"{folder}: {recon.get('unexplained')}"


def test_stack_equals_rate_and_bill_on_the_host(stack: Stack) -> None:
    """A fixed set of CDRs: the stream's output is `telecom rate`'s, the job's invoices `telecom bill`'s."""
    stack.compose("stop", "producer", timeout=120)
    raw = topic_values("cdr.raw")
    assert raw and topic_values("cdr.raw") == raw, "cdr.raw still grows with the producer stopped"
    raw_file = WORK / "raw.jsonl"
    raw_file.write_bytes(b"".join(v + b"\n" for v in raw))
    say(f"{len(raw)} raw CDRs on cdr.raw, written to {raw_file}")
    host = WORK / "host-rated"
    telecom("rate", "--input", str(raw_file), "--out", str(host))
    host_rated, host_rejected = held_sessions_left_out(host)

    # Distinct ids and sources: a copy written again after the restart must not count as progress.
    def caught_up() -> bool:
        return set(rated_ids()) >= set(host_rated) and len(set(rejected_sources())) >= host_rejected

    wait_for(f"the stream to catch up ({len(host_rated)} rated, {host_rejected} rejected)", caught_up, 600, 5,
             state=lambda: f"rated {len(set(rated_ids()))}, rejected {len(set(rejected_sources()))}\n"
                           + stack.logs("rating-job"))
    time.sleep(10)  # one more trigger: anything beyond the expected records would show now
    records = rated_records()
    ids = sorted({r["cdr_id"] for r in records})
    assert ids == sorted(host_rated), (
        f"rated in the stack {len(ids)}, on the host {len(host_rated)}; missing "
        f"{sorted(set(host_rated) - set(ids))[:5]}, extra {sorted(set(ids) - set(host_rated))[:5]}")
    copies = replayed_copies(records, lambda r: r["cdr_id"], "rated_at")
    extra_rated = sum(len(group) - 1 for group in copies.values())
    rejections = [json.loads(v) for v in topic_values("cdr.rejected")]
    rejected_copies = replayed_copies(rejections, lambda r: (r["source"]["partition"], r["source"]["offset"]),
                                      "rejected_at")
    rejected = len(rejections) - sum(len(group) - 1 for group in rejected_copies.values())
    assert rejected == host_rejected, f"rejected in the stack {rejected}, on the host {host_rejected}"
    stack.measurements["copies_written_again_after_the_restart"] = {"rated": extra_rated,
                                                                    "rejected": len(rejections) - rejected}
    say(f"raw {len(raw)} = rated {len(ids)} + rejected {rejected} + {len(raw) - len(ids) - rejected} duplicates,"
        f" parts merged and parts held, as on the host; written again after the restart:"
        f" {extra_rated} rated, {len(rejections) - rejected} rejected (at-least-once sink, exact copies)")

    caught_up_at = math.ceil(time.time())  # a run's clock (`as_of`) is written to the second
    folders, _ = wait_for(f"every period folder reconciling the whole caught-up cdr.raw ({len(raw)} records read,"
                          " none in flight, balanced), whichever run wrote it",
                          lambda: folders_covering(len(raw)), BILLING_INTERVAL_S * 4 + 600, 3,
                          state=lambda: stack.logs("billing-job"))
    # A draft says how fresh it is: a run that finds the same data rewrites only its manifest's clock.
    wait_for("every period folder confirmed by a billing run started after the catch-up (manifest as_of)",
             lambda: all((run_started(f) or 0) >= caught_up_at for f in folders), BILLING_INTERVAL_S * 4 + 600, 3,
             state=lambda: stack.logs("billing-job"))
    # The job loads each run into the postgres service right after writing the folder.
    wait_for("the postgres service holding what every period folder holds (invoices, total)",
             lambda: (database_totals() or None) == folder_totals(folders) or None, BILLING_INTERVAL_S * 4 + 120, 3,
             state=lambda: f"database {database_totals()}, folders {folder_totals(folders)}\n"
                           + stack.logs("billing-job", "postgres"))
    # Its next ticks would rewrite the manifests while they are compared (same data, a new clock).
    stack.compose("stop", "billing-job", timeout=120)
    dropped = 0  # copies billing counted as duplicates, over every period
    for folder in folders:
        period = folder.name.removeprefix("period=")
        recon = json.loads((folder / "reconciliation.json").read_text())
        assert recon["unexplained_total"] == 0, f"{folder}: {recon.get('unexplained')}"
        dropped += recon["rated"]["duplicates"]
        host_out = WORK / "host-invoices"
        telecom("bill", "--period", period, "--rated", str(host / "streamed.jsonl"), "--raw", str(raw_file),
                "--rejected", str(host), "--out", str(host_out))
        ours, theirs = invoices_by_id(folder), invoices_by_id(host_out / folder.name)
        assert ours.keys() == theirs.keys(), f"{period}: invoices differ in number: {len(ours)} vs {len(theirs)}"
        different = [k for k in ours if ours[k] != theirs[k]]
        assert not different, (f"{period}: {len(different)} invoices differ from the host's, e.g. "
                               f"{json.dumps(ours[different[0]])[:1500]}\nvs\n{json.dumps(theirs[different[0]])[:1500]}")
        with psycopg.connect(POSTGRES_URL) as connection:
            in_sql = dict(connection.execute("SELECT invoice_number, total FROM invoices WHERE period = %s",
                                             (period,)).fetchall())
        assert in_sql == {k: Decimal(v["total"]) for k, v in ours.items()}, f"{period}: SQL differs from invoices.jsonl"
        say(f"period {period}: {len(ours)} invoices, equal to `telecom rate` + `telecom bill --rated` on the host"
            f" and, invoice by invoice, to the postgres service; reconciliation 0 unexplained")
    assert dropped == extra_rated, f"billing counted {dropped} copies as duplicates, cdr.rated has {extra_rated}"


# The words of a rejection a session decides when it closes (RULES.md section 18).
_SESSION_VERDICTS = ("a second last part:", " above the last part's ", " differs from part ")


def held_sessions_left_out(host: Path) -> tuple[list[str], int]:
    """`telecom rate`'s output in `host` as the stream has it: the file driver closes every session
    still open at the end of its input (incomplete), where the stream holds them until the watermark
    is 6 h of event time past them, which minutes of live traffic never reach. Their assembled CDRs
    and the rejections their closing decides are left out; `host/streamed.jsonl` is the rated rest.
    Returns the rated cdr_ids and the number of rejections."""
    rated = [json.loads(ln) for ln in (host / "rated.jsonl").read_text().splitlines() if ln]
    held = {r["cdr_id"] for r in rated if r.get("incomplete")}
    streamed = [r for r in rated if r["cdr_id"] not in held]
    (host / "streamed.jsonl").write_text("".join(json.dumps(r) + "\n" for r in streamed))
    rejections = [json.loads(ln) for ln in (host / "rejected.jsonl").read_text().splitlines() if ln]

    def decided_at_closing(r: dict[str, Any]) -> bool:
        return (r["reason"] == "INVALID_PARTIAL" and any(words in r["detail"] for words in _SESSION_VERDICTS)
                and json.loads(r["raw"]).get("session_id") in held)

    return [r["cdr_id"] for r in streamed], sum(1 for r in rejections if not decided_at_closing(r))


def test_cluster_profile_runs_the_rating_job_on_spark_master(stack: Stack) -> None:
    stack.stop_sampling()
    stack.compose("down", "-v", timeout=300)
    cluster = {"SPARK_MASTER": "spark://spark-master:7077", "COMPOSE_PROFILES": "cluster"}
    t0 = time.monotonic()
    stack.compose("up", "-d", timeout=600, extra_env=cluster)
    stack.start_sampling()

    def master_apps() -> list[dict[str, Any]] | None:
        try:
            with urllib.request.urlopen(MASTER_UI, timeout=5) as response:
                state = json.load(response)
        except OSError:
            return None
        workers = [w for w in state.get("workers", []) if w.get("state") == "ALIVE"]
        apps = state.get("activeapps", [])
        stream = [a for a in apps if a.get("name") == "telecom-stream" and a.get("cores", 0) > 0]
        return apps if workers and stream else None

    apps, _ = wait_for("an alive worker and the rating job (telecom-stream) running with cores on the Spark master"
                       " (/json)", master_apps, 600, 3,
                       state=lambda: stack.logs("spark-master", "spark-worker", "rating-job"))
    say(f"applications on the master: {[(a.get('name'), a.get('cores'), a.get('state')) for a in apps]}")
    stack.measure("cluster_up_to_app_on_master", time.monotonic() - t0)
    wait_for("rated CDRs from the cluster", lambda: len(topic_values("cdr.rated")) > 0, 900, 5,
             state=lambda: stack.logs("rating-job", "spark-worker"))
    stack.measure("cluster_up_to_first_rated", time.monotonic() - t0)


def test_down_leaves_nothing_running(stack: Stack) -> None:
    stack.stop_sampling()
    stack.compose("--profile", "cluster", "down", "-v", "--remove-orphans", timeout=300)
    label = f"label=com.docker.compose.project={PROJECT}"
    containers = run(["docker", "ps", "-aq", "--filter", label], 60).stdout.split()
    volumes = run(["docker", "volume", "ls", "-q", "--filter", label], 60).stdout.split()
    networks = run(["docker", "network", "ls", "-q", "--filter", label], 60).stdout.split()
    assert not containers and not volumes and not networks, (containers, volumes, networks)
