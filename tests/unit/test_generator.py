"""The synthetic traffic: determinism, realism, and labels that match the injected defects."""

from __future__ import annotations

import collections
import json
import math
import statistics
from dataclasses import replace
from datetime import UTC, date, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from fixtures import LEGACY_SAMPLE
from reference.rating import active_on, mediate_and_rate
from telecom_billing.cli import main
from telecom_billing.contracts.records import RATED, REJECTED
from telecom_billing.generator import (
    DEFAULT_SEED,
    DEFAULT_SUBSCRIBERS,
    DEFECTS,
    MO_SHARE,
    REFERENCE_MONTH,
    ROAMING_SHARE,
    SERVICE_MIX,
    UTC_SHARE,
    VOICE_MEDIAN_SEC,
    VOICE_SIGMA,
    CdrGenerator,
    GeneratorOptions,
    Label,
    Traffic,
    load_traffic,
    subscriber_key,
)
from telecom_billing.generator.sessions import SESSION_DEFECTS, SPLIT_SESSION
from telecom_billing.generator.subscribers import generate_subscribers
from telecom_billing.infra.settings import load_settings
from telecom_billing.refdata.catalog import Catalog
from telecom_billing.refdata.subscribers import Subscriber, load_subscribers, write_subscribers

REPO = Path(__file__).resolve().parents[2]
CASABLANCA = ZoneInfo("Africa/Casablanca")
# Processing time for the reference mediation: after every simulated event of the reference month.
NOW = datetime(2026, 11, 27, 12, 0)
LEGACY_IDS = ("caller_id", "sender_id", "user_id")


def shipped(catalog: Catalog) -> Traffic:
    """The traffic model committed beside the default catalog."""
    return load_traffic(load_settings().catalog_dir, catalog)


def with_parts(catalog: Catalog, share: float) -> Traffic:
    """The shipped traffic model with another share of partial records."""
    traffic = shipped(catalog)
    return replace(traffic, partials=replace(traffic.partials, share=share))


def generate_with(generator: CdrGenerator) -> tuple[list[str], list[Label]]:
    lines: list[str] = []
    labels: list[Label] = []
    for batch in generator.batches():
        lines += batch.lines
        labels += batch.labels
    return lines, labels


def generate(catalog: Catalog, subscribers: list[Subscriber], traffic: Traffic | None = None,
             **options: object) -> tuple[list[str], list[Label]]:
    return generate_with(CdrGenerator(catalog, subscribers, GeneratorOptions(**options),  # type: ignore[arg-type]
                                      traffic=traffic or shipped(catalog)))


# --------------------------------------------------------------------------- subscriber base


def test_committed_subscriber_base_is_the_default_generation(catalog: Catalog, tmp_path: Path) -> None:
    base = generate_subscribers(catalog, DEFAULT_SUBSCRIBERS, DEFAULT_SEED, traffic=shipped(catalog))
    write_subscribers(tmp_path / "subscribers.csv", base)
    assert (tmp_path / "subscribers.csv").read_bytes() == load_settings().subscribers_file.read_bytes()


def test_subscriber_base_is_realistic(catalog: Catalog) -> None:
    base = generate_subscribers(catalog, 3000, seed=7, traffic=shipped(catalog))
    assert len({s.msisdn for s in base}) == 3000
    assert all(len(s.msisdn) == 12 and s.msisdn[:4] in ("2126", "2127") for s in base)
    plans = collections.Counter(s.plan_id for s in base)
    assert set(plans) == set(catalog.plans)
    assert max(plans.values()) / len(base) < 0.5  # a mix, not one plan
    month_end = REFERENCE_MONTH.replace(month=REFERENCE_MONTH.month + 1)
    joined = sum(REFERENCE_MONTH < s.activation_date < month_end for s in base)
    left = sum(s.termination_date is not None and REFERENCE_MONTH < s.termination_date < month_end for s in base)
    assert 0.01 * len(base) <= joined <= 0.06 * len(base)  # proration of the reference month
    assert 0.01 * len(base) <= left <= 0.06 * len(base)
    assert all(s.termination_date is None or s.termination_date > s.activation_date for s in base)
    assert all(s.name and "," in s.address and s.address.split(", ")[-1][:5].isdigit() for s in base)


def test_subscriber_base_is_deterministic(catalog: Catalog) -> None:
    assert generate_subscribers(catalog, 200, seed=3) == generate_subscribers(catalog, 200, seed=3)
    assert generate_subscribers(catalog, 200, seed=3) != generate_subscribers(catalog, 200, seed=4)


# --------------------------------------------------------------------------- determinism


def test_same_seed_and_flags_give_identical_output(catalog: Catalog, subscribers: list[Subscriber]) -> None:
    for fmt in ("canonical", "legacy"):
        first = generate(catalog, subscribers, count=3000, fmt=fmt, seed=11)
        assert generate(catalog, subscribers, count=3000, fmt=fmt, seed=11) == first
        assert generate(catalog, subscribers, count=3000, fmt=fmt, seed=12)[0] != first[0]


def test_cli_output_is_byte_identical(tmp_path: Path) -> None:
    for name in ("a", "b"):
        assert main(["generate", "--count", "1500", "--seed", "5", "--out", str(tmp_path / f"{name}.jsonl"),
                     "--quiet"]) == 0
    assert (tmp_path / "a.jsonl").read_bytes() == (tmp_path / "b.jsonl").read_bytes()
    assert (tmp_path / "a.labels.jsonl").read_bytes() == (tmp_path / "b.labels.jsonl").read_bytes()
    assert len((tmp_path / "a.jsonl").read_text().splitlines()) == 1500


def test_cdr_ids_are_unique_and_differ_between_runs(catalog: Catalog, subscribers: list[Subscriber]) -> None:
    lines, _ = generate(catalog, subscribers, count=5000, defects=0)
    ids = [json.loads(line)["cdr_id"] for line in lines]
    assert len(set(ids)) == len(ids)
    other, _ = generate(catalog, subscribers, count=5000, defects=0, start=date(2026, 9, 1))
    assert not set(ids) & {json.loads(line)["cdr_id"] for line in other}


# --------------------------------------------------------------------------- realism


@pytest.fixture(scope="module")
def clean(catalog: Catalog, subscribers: list[Subscriber]) -> list[dict]:
    # The median call of a seed's event pool (4,096 calls) varies by a few per cent between seeds:
    # seed 4's is typical.
    lines, labels = generate(catalog, subscribers, count=40_000, defects=0, seed=4)
    assert {label.defect for label in labels} == {SPLIT_SESSION}  # only the parts of sessions are labelled
    return [json.loads(line) for line in lines]


def whole(records: list[dict]) -> list[dict]:
    """The records that are not parts of a session (their usage comes from the event pool)."""
    return [r for r in records if "session_id" not in r]


def test_service_mix_and_directions(clean: list[dict]) -> None:
    mix = collections.Counter(r["record_type"] for r in clean)
    for service, share in SERVICE_MIX.items():
        assert mix[service] / len(clean) == pytest.approx(share, abs=0.015)
    calls = [r for r in clean if r["record_type"] != "data"]
    assert sum(r["direction"] == "MO" for r in calls) / len(calls) == pytest.approx(MO_SHARE, abs=0.02)
    assert all("direction" not in r and "other_party" not in r for r in clean if r["record_type"] == "data")


def test_durations_and_volumes_are_log_normal(clean: list[dict]) -> None:
    durations = [r["duration_sec"] for r in whole(clean) if r["record_type"] == "voice"]
    assert statistics.median(durations) == pytest.approx(VOICE_MEDIAN_SEC, rel=0.08)
    logs = [math.log(d) for d in durations]
    assert statistics.stdev(logs) == pytest.approx(VOICE_SIGMA, abs=0.1)
    assert 1 <= min(durations) and max(durations) <= 4 * 3600
    volumes = [r["bytes_up"] + r["bytes_down"] for r in whole(clean) if r["record_type"] == "data"]
    assert 1_000_000 < statistics.median(volumes) < 20_000_000
    assert max(volumes) < 100 * 1024**3 and min(volumes) > 0
    assert all(0 < r["bytes_up"] < r["bytes_down"] * 10 for r in whole(clean) if r["record_type"] == "data")


def test_roaming_share_and_countries(clean: list[dict], catalog: Catalog) -> None:
    roaming = [r for r in clean if "visited_country" in r]
    assert len(roaming) / len(clean) == pytest.approx(ROAMING_SHARE, abs=0.015)
    countries = collections.Counter(r["visited_country"] for r in roaming)
    assert catalog.home_country not in countries and len(countries) >= 5
    assert all(r["cell_id"].startswith(f"{r['visited_country']}_ROAM_") for r in roaming)
    # A subscriber is abroad for whole days: never home and away on the same local day.
    places: dict[tuple[str, date], set[bool]] = collections.defaultdict(set)
    for r in clean:
        local = datetime.fromisoformat(r["event_time"]).astimezone(CASABLANCA).date()
        places[(r["msisdn"], local)].add("visited_country" in r)
    assert all(len(p) == 1 for p in places.values())


def test_destinations_fall_in_catalog_zones(clean: list[dict], catalog: Catalog) -> None:
    prefixes = sorted(((p, zone) for zone, ps in catalog.zones.items() for p in ps), key=lambda x: -len(x[0]))

    def zone(number: str) -> str:
        return next(z for p, z in prefixes if number.startswith(p))

    zones = collections.Counter(zone(r["other_party"]) for r in clean if r["record_type"] != "data")
    total = sum(zones.values())
    national = (zones["national_mobile"] + zones["national_fixed"]) / total
    assert 0.75 <= national <= 0.9
    assert {"europe", "north_america", "maghreb", "gulf", "rest_of_world"} <= set(zones)
    assert all(len(r["other_party"]) in (11, 12) and r["other_party"].isdigit() for r in clean if "other_party" in r)


def test_diurnal_and_weekly_profile(clean: list[dict]) -> None:
    local = [datetime.fromisoformat(r["event_time"]).astimezone(CASABLANCA) for r in clean]
    hours = collections.Counter(t.hour for t in local)
    assert hours[4] * 5 < hours[20]  # nights are quiet
    weekdays = collections.Counter(t.weekday() for t in local)
    days = collections.Counter(t.weekday() for t in {t.date() for t in local})
    per_day = {d: weekdays[d] / days[d] for d in days}
    assert per_day[6] < per_day[1]  # Sunday quieter than Tuesday
    assert all(t.date().month == REFERENCE_MONTH.month for t in local)


def test_event_times_mix_utc_and_casablanca_offsets(clean: list[dict]) -> None:
    utc = sum(r["event_time"].endswith("Z") for r in clean) / len(clean)
    assert utc == pytest.approx(UTC_SHARE, abs=0.02)
    offsets = {r["event_time"][-6:] for r in clean if not r["event_time"].endswith("Z")}
    assert offsets <= {"+01:00", "+00:00"}


def test_activity_is_heavy_tailed_and_only_from_active_subscribers(
        clean: list[dict], subscribers: list[Subscriber]) -> None:
    per_subscriber = collections.Counter(r["msisdn"] for r in clean)
    top = sum(n for _, n in per_subscriber.most_common(len(per_subscriber) // 10))
    assert top / len(clean) > 0.3  # the busiest tenth makes far more than a tenth of the traffic
    by_msisdn = {s.msisdn: s for s in subscribers}
    for r in clean:
        day = datetime.fromisoformat(r["event_time"]).astimezone(CASABLANCA).date()
        assert active_on(by_msisdn[r["msisdn"]], day)


# --------------------------------------------------------------------------- defects and labels


def _outcomes(lines: list[str], catalog: Catalog, subscribers: list[Subscriber]) -> tuple[list[str | None], set[str]]:
    """Each line's outcome by the reference, spelled as labels spell it (the rejection's reason,
    DUPLICATE, MERGED, or None: rated, alone or as the first part of an assembled CDR), and the ids
    of the CDRs assembled incomplete."""
    result = mediate_and_rate([line.encode() for line in lines], catalog, subscribers, now=NOW)
    reasons = {r["source"]["offset"]: r["reason"] for r in result.rejected}
    outcomes = result.outcomes()
    spelled = [reasons[i] if outcomes[i] == REJECTED else None if outcomes[i] == RATED else outcomes[i].upper()
               for i in range(len(lines))]
    return spelled, {a.cdr_id for a in result.assembled if a.assembly.incomplete}


def _expected(lines: list[str], labels: list[Label]) -> list[str | None]:
    """Each line's outcome as the labels say (an unlabelled line is rated)."""
    expected = {label.line: label.expected_reason for label in labels}
    return [expected.get(i) for i in range(len(lines))]


def _missing_part_sessions(lines: list[str], labels: list[Label]) -> set[str]:
    return {json.loads(lines[label.line])["session_id"] for label in labels if label.defect == "missing_part"}


@pytest.mark.parametrize("fmt", ["canonical", "legacy"])
def test_every_label_matches_a_real_defect_and_vice_versa(
        fmt: str, catalog: Catalog, subscribers: list[Subscriber]) -> None:
    lines, labels = generate(catalog, subscribers, with_parts(catalog, 0.1), count=12_000, fmt=fmt, defects=0.08,
                             seed=21)
    kinds = collections.Counter(label.defect for label in labels)
    runs = {SPLIT_SESSION, *SESSION_DEFECTS} if fmt == "canonical" else set()  # legacy records are never parts
    assert set(kinds) == set(DEFECTS) | runs
    assert sum(kinds[kind] for kind in DEFECTS) / len(lines) == pytest.approx(0.08, abs=0.015)
    assert [label.line for label in labels] == sorted({label.line for label in labels})

    # Each line's outcome is the label's: rejections with that very reason, the later copies
    # duplicates, the parts merged into an assembled CDR merged, everything else (numbers as
    # strings and assembled CDRs included) rated; the sessions missing a part close incomplete.
    outcomes, incomplete = _outcomes(lines, catalog, subscribers)
    assert outcomes == _expected(lines, labels)
    assert incomplete == _missing_part_sessions(lines, labels)


def test_labels_describe_the_lines(catalog: Catalog, subscribers: list[Subscriber]) -> None:
    lines, labels = generate(catalog, subscribers, count=6000, defects=0.1, seed=8)
    base = {s.msisdn for s in subscribers}
    first_copy: dict[str, str] = {}
    labelled = {label.line: label for label in labels}
    for line, i in zip(lines, range(len(lines)), strict=True):
        label = labelled.get(i)
        if label is not None and label.defect == "malformed_json":
            with pytest.raises(ValueError):
                json.loads(line)
            continue
        record = json.loads(line)
        if label is None:
            assert record["msisdn"] in base and record["event_time"] < "2099"
            first_copy[record["cdr_id"]] = line
        elif label.defect in ("exact_resend", "duplicate_id"):
            original = first_copy[record["cdr_id"]]
            assert (line == original) == (label.defect == "exact_resend")
            assert json.loads(original).keys() == record.keys()
        elif label.defect == "future_timestamp":
            assert record["event_time"].startswith("2099-")
        elif label.defect == "unknown_subscriber":
            assert record["msisdn"] not in base
        elif label.defect == "numbers_as_strings":
            assert any(isinstance(record.get(k), str) for k in ("duration_sec", "bytes_up", "bytes_down"))


def test_defects_zero_means_clean(catalog: Catalog, subscribers: list[Subscriber]) -> None:
    lines, labels = generate(catalog, subscribers, count=4000, defects=0, seed=2)
    assert {label.defect for label in labels} == {SPLIT_SESSION}
    outcomes, incomplete = _outcomes(lines, catalog, subscribers)
    assert outcomes == _expected(lines, labels) and set(outcomes) == {None, "MERGED"} and not incomplete


# --------------------------------------------------------------------------- legacy format


def _key_sets(lines: list[str]) -> collections.Counter[frozenset[str]]:
    sets: collections.Counter[frozenset[str]] = collections.Counter()
    for line in lines:
        try:
            record = json.loads(line)
        except ValueError:
            continue
        sets[frozenset(record)] += 1
    return sets


def test_legacy_output_has_the_seed_key_sets(catalog: Catalog, subscribers: list[Subscriber]) -> None:
    seed = _key_sets(LEGACY_SAMPLE.read_text(encoding="utf-8").splitlines())
    lines, _ = generate(catalog, subscribers, count=20_000, fmt="legacy", defects=0.05, seed=4)
    ours = _key_sets(lines)
    assert set(ours) <= set(seed)
    main_sets = {s for s, n in seed.items() if n > 500}
    assert main_sets <= set(ours) and len(main_sets) == 3
    assert sum(ours[s] for s in main_sets) / len(lines) > 0.95


def test_legacy_values_look_like_the_seed(catalog: Catalog, subscribers: list[Subscriber]) -> None:
    lines, _ = generate(catalog, subscribers, count=3000, fmt="legacy", defects=0)
    records = [json.loads(line) for line in lines]
    assert all(line.startswith('{"record_type": "') for line in lines)  # the seed's spacing and order
    assert all(r["timestamp"].endswith("Z") and len(r["timestamp"]) == 20 for r in records)
    assert all(isinstance(r["data_volume_mb"], float) for r in records if r["record_type"] == "data")
    assert all(isinstance(r["duration_sec"], int) for r in records if r["record_type"] == "voice")
    assert all(sum(k in r for k in LEGACY_IDS) == 1 for r in records)


# --------------------------------------------------------------------------- clock and keys


class FakeClock:
    """Wall clock under test control: sleeping advances it."""

    def __init__(self, now: float) -> None:
        self.now, self.mono = now, 0.0

    def time(self) -> float:
        return self.now

    def time_ns(self) -> int:
        return int(self.now * 1e9)

    def monotonic(self) -> float:
        return self.mono

    def sleep(self, seconds: float) -> None:
        self.now += seconds
        self.mono += seconds


def test_live_clock_stamps_events_now_at_the_rate(catalog: Catalog, subscribers: list[Subscriber]) -> None:
    start = datetime(2026, 11, 20, 10, 0, tzinfo=UTC).timestamp()
    clock = FakeClock(start)
    options = GeneratorOptions(count=500, start=None, rate=100.0, defects=0)
    stamps = []
    for batch in CdrGenerator(catalog, subscribers, options, clock=clock, traffic=shipped(catalog)).batches():
        stamps += [datetime.fromisoformat(json.loads(line)["event_time"]).timestamp() for line in batch.lines]
    assert len(stamps) == 500
    assert stamps[0] == start and 4 <= max(stamps) - start <= 5  # whole seconds
    assert clock.mono == pytest.approx(5.0, abs=0.2)  # 500 lines at 100/s


def test_live_future_timestamps_are_hours_ahead(catalog: Catalog, subscribers: list[Subscriber]) -> None:
    clock = FakeClock(datetime(2026, 11, 20, 10, 0, tzinfo=UTC).timestamp())
    now = clock.now
    lines, labels = generate_with(CdrGenerator(catalog, subscribers, GeneratorOptions(
        count=3000, start=None, rate=1e5, defects=0.2, seed=3), clock=clock, traffic=shipped(catalog)))
    future = [json.loads(lines[label.line]) for label in labels if label.defect == "future_timestamp"]
    assert future
    for record in future:
        ahead = datetime.fromisoformat(record["event_time"]).timestamp() - now
        assert 3600 < ahead < 73 * 3600


@pytest.mark.parametrize("local", ["11:00", "00:10"])
def test_live_sessions_end_by_now_within_the_local_date(
        local: str, catalog: Catalog, subscribers: list[Subscriber]) -> None:
    """Nothing in the future, nothing on the eve (ten minutes after midnight only short sessions fit)."""
    midnight = datetime(2026, 11, 20, tzinfo=CASABLANCA)
    hours, minutes = map(int, local.split(":"))
    clock = FakeClock(midnight.timestamp() + 3600 * hours + 60 * minutes)
    generator = CdrGenerator(catalog, subscribers, GeneratorOptions(count=3000, start=None, rate=1e5, defects=0.2),
                             clock=clock, traffic=with_parts(catalog, 0.2))
    lines, _ = generate_with(generator)
    parts = [json.loads(line) for line in lines if '"session_id"' in line]
    assert len(parts) > 100
    assert all(midnight.timestamp() <= datetime.fromisoformat(r["event_time"]).timestamp() <= clock.now for r in parts)


def test_keyed_batches_carry_what_the_producer_would_read(
        catalog: Catalog, subscribers: list[Subscriber]) -> None:
    for fmt in ("canonical", "legacy"):
        generator = CdrGenerator(catalog, subscribers, GeneratorOptions(count=4000, fmt=fmt, defects=0.1),
                                 traffic=with_parts(catalog, 0.1))
        for batch in generator.batches(keyed=True):
            assert batch.keys == [subscriber_key(line.encode()) for line in batch.lines]


def test_bad_options_are_usage_errors(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["generate", "--defects", "1.5", "--count", "1"]) == 2
    assert main(["generate", "--rate", "10", "--days", "2"]) == 2
    assert main(["generate", "--subscribers-file", "/nonexistent.csv", "--count", "1"]) == 2
    errors = capsys.readouterr().err.strip().splitlines()
    assert len(errors) == 3 and all(e.startswith("telecom generate: error:") for e in errors)


def test_subscribers_only_writes_a_loadable_base(tmp_path: Path) -> None:
    out = tmp_path / "base.csv"
    assert main(["generate", "--subscribers-only", "--subscribers", "250", "--out", str(out), "--quiet"]) == 0
    base = load_subscribers(out)
    assert len(base) == 250
    assert main(["generate", "--subscribers-file", str(out), "--count", "400", "--out",
                 str(tmp_path / "c.jsonl"), "--quiet"]) == 0
    numbers = {json.loads(line).get("msisdn") for line in (tmp_path / "c.jsonl").read_text().splitlines()
               if line.startswith("{") and line.endswith("}")}
    assert len(numbers & {s.msisdn for s in base}) > 50
