"""The published schemas (`schemas/`): one per artifact the code versions, each a valid JSON Schema
that accepts what the pipeline writes and refuses what a parser could not rely on."""

from __future__ import annotations

import json
import tempfile
from pathlib import Path

import pytest

from alert_scenarios import alert_catalog, month_of_usage
from reference.billing import rated_cdr
from schema_check import SCHEMAS, VERSIONS, artifact_kind, check_tree, problems, validator
from telecom_billing.contracts import schemas
from telecom_billing.monitor.meter import (
    ALERT_FIELDS,
    ALLOWANCE,
    ROAMING_DATA_CAP,
    SPENDING_CAP,
    AlertRules,
    SubscriberMeter,
    Tally,
)

RATED = {
    "schema_version": "1.1", "cdr_id": "c-1", "record_type": "voice", "event_time": "2026-10-01T08:00:00.000000Z",
    "msisdn": "212600000001", "other_party": "212600000002", "direction": "MO", "duration_sec": 61,
    "bytes_up": None, "bytes_down": None, "quantity": 61, "cell_id": "RABAT_001", "technology": "4G",
    "visited_country": None, "roaming": False, "source_format": "canonical", "plan_id": "SMART_99",
    "zone": "national_mobile", "band": "peak", "billable_units": 120, "price": "0.50", "per": 60,
    "unit_price": "0.0083333333", "connect_fee": "0.10", "charge": "1.1000", "currency": "MAD",
    "catalog_version": "2026.11", "rated_at": "2026-10-01T08:00:02.123456Z",
    "partials": None, "incomplete": None, "missing": None, "last_missing": None,
}
ASSEMBLED = {**RATED, "cdr_id": "S-1", "partials": 3, "incomplete": True, "missing": [2], "last_missing": False}
SUMMARY = {"schema_version": "1.1", "raw": 2, "rated": 2, "rejected": 0, "rejected_by_reason": {}, "duplicate": 0,
           "merged": 0, "sessions": {"complete": 0, "incomplete": 0}, "unexplained": 0, "rated_charge_total": "2.2000",
           "currency": "MAD"}
ALERT = {"schema_version": "1.0", "alert_id": "ALR-40B176D792F22764F9FD", "msisdn": "212600000204", "period": "2026-10",
         "kind": "allowance", "name": "minutes", "percent": 80, "used": "480", "limit": "600", "unit": "seconds",
         "triggered_by": "cdr-1", "event_time": "2026-10-16T10:54:00.000000Z",
         "emitted_at": "2026-11-01T00:00:34.000000Z"}
CAP_ALERT = {**ALERT, "kind": "spending_cap", "name": "spending_cap", "percent": 150, "used": "6.16", "limit": "4.00",
             "unit": "MAD"}


def test_every_versioned_artifact_has_its_schema_and_no_schema_is_orphaned() -> None:
    published = {p.parent.name for p in SCHEMAS.glob("*/v*.json")}
    assert published == set(VERSIONS)
    for name in VERSIONS:
        validator(name)  # a valid Draft 2020-12 schema


def test_every_version_of_the_code_is_checked_against_its_schema() -> None:
    """Each artifact version in contracts/schemas.py (`RATED_CDR`: `rated-cdr`) is in VERSIONS, so a new
    artifact cannot be written without a published schema that the tests check."""
    written = {name.lower().replace("_", "-"): value for name, value in vars(schemas).items()
               if name.isupper() and name != "FIELD" and isinstance(value, str)}
    assert written == VERSIONS


@pytest.mark.parametrize("name", sorted(VERSIONS))
def test_each_schema_asks_for_the_version_field_and_accepts_only_its_major(name: str) -> None:
    schema = json.loads((SCHEMAS / name / f"v{VERSIONS[name].split('.')[0]}.json").read_text())
    assert schema["required"][0] == "schema_version"
    version = validator(name).schema["$defs"]["version"]["pattern"]
    assert version == r"^1\.[0-9]+$"


def test_a_rated_record_validates() -> None:
    assert problems("rated-cdr", RATED) == []
    assert problems("rated-cdr", ASSEMBLED) == []
    assert problems("rated-cdr", {**ASSEMBLED, "missing": ["2"]}) != []


@pytest.mark.parametrize(("change", "expected"), [
    ({"charge": 1.1}, "charge: 1.1 is not of type 'string'"),  # money is never a JSON number
    ({"charge": "1,10"}, "charge: '1,10' does not match"),
    ({"event_time": "2026-10-01 08:00:00"}, "event_time: '2026-10-01 08:00:00' does not match"),
    ({"record_type": "fax"}, "record_type: 'fax' is not one of"),
    ({"schema_version": "2.0"}, "schema_version: '2.0' does not match"),
])
def test_what_a_parser_could_not_rely_on_is_refused(change: dict[str, object], expected: str) -> None:
    found = problems("rated-cdr", {**RATED, **change})
    assert any(p.startswith(expected) for p in found), found


def test_a_field_added_by_a_minor_version_is_accepted() -> None:
    assert problems("rated-cdr", {**RATED, "carrier": "x"}) == []


def test_a_missing_field_is_named() -> None:
    record = {k: v for k, v in RATED.items() if k != "charge"}
    assert problems("rated-cdr", record) == ["(top): 'charge' is a required property"]


def test_artifacts_are_found_by_name_and_place(tmp_path: Path) -> None:
    period = tmp_path / "invoices" / "period=2026-10"
    rerating = tmp_path / "rerating" / "period=2026-10" / "catalog=2026.12"
    rate = tmp_path / "rate"
    for folder in (period, rerating, rate):
        folder.mkdir(parents=True)
    for folder, data in ((period, "invoices.jsonl"), (rerating, "changes.jsonl")):
        assert artifact_kind(folder / "manifest.json") is None  # not published: a test's stand-in
        (folder / data).write_text("")
        (folder / "_SUCCESS").write_text("")
    assert artifact_kind(period / "manifest.json") == "manifest"
    assert artifact_kind(period / "invoices.jsonl") == "invoice"
    assert artifact_kind(rerating / "manifest.json") == "rerate-manifest"
    assert artifact_kind(period / "reconciliation.json") == "reconciliation"
    assert artifact_kind(period / "summary.csv") is None
    assert artifact_kind(rate / "rated.jsonl") is None  # a test's input of rated records
    (rate / "rated.jsonl").write_text(json.dumps(RATED) + "\n")
    (rate / "reconciliation.json").write_text("{}")
    assert artifact_kind(rate / "reconciliation.json") == "rate-summary"
    assert artifact_kind(rate / "rated.jsonl") == "rated-cdr"
    (rate / "reconciliation.json").unlink()  # not a valid summary: the session's own check would find it


def test_check_tree_reports_each_bad_line_and_skips_hidden_folders() -> None:
    # Not in tmp_path: the session's own check (conftest.py) would find the bad line too.
    with tempfile.TemporaryDirectory() as name:
        root = Path(name)
        bad = {**RATED, "charge": "1.10 MAD"}
        odd = {**RATED, "cell_id": "CELL\u2028\x85\x1c"}  # written as they are; not line ends in JSONL
        lines = [json.dumps(odd, ensure_ascii=False), json.dumps(bad)]
        (root / "rated.jsonl").write_text("\n".join(lines) + "\n", encoding="utf-8")
        (root / "reconciliation.json").write_text(json.dumps(SUMMARY))
        (root / ".period=2026-10.tmp-1").mkdir()
        (root / ".period=2026-10.tmp-1" / "rated.jsonl").write_text("{}\n")
        files, found = check_tree(root)
    assert files == 2
    assert found == [f"{root / 'rated.jsonl'}:2: charge: '1.10 MAD' does not match '^-?[0-9]+(\\\\.[0-9]+)?$'"]


def test_the_alerts_the_monitor_builds_validate_in_the_schemas_key_order() -> None:
    """`monitor.meter` against schemas/alert/v1.json: a month of usage crossing every kind of threshold
    (so the code and the schema cannot drift), and a CDR without `rated_at` (`emitted_at` null)."""
    rules = AlertRules(alert_catalog())
    meters: dict[str, SubscriberMeter] = {}
    alerts = []
    _, cdrs = month_of_usage(1)
    bare = {k: v for k, v in rated_cdr("no-rated-at", "2026-10-03T10:00:00Z", quantity=600).items() if k != "rated_at"}
    for cdr in [*cdrs, bare]:
        alerts += meters.setdefault(cdr["msisdn"], SubscriberMeter(rules, {})).receive(cdr, None, Tally())
    assert {a["kind"] for a in alerts} == {ALLOWANCE, SPENDING_CAP, ROAMING_DATA_CAP}
    assert {a["unit"] for a in alerts} == {"seconds", "messages", "bytes", "MAD"}
    assert any(a["emitted_at"] is None for a in alerts)
    assert list(ALERT_FIELDS) == validator("alert").schema["required"]
    for alert in alerts:
        assert list(alert) == list(ALERT_FIELDS)
        assert problems("alert", alert) == [], alert


def test_an_alert_of_each_kind_validates() -> None:
    assert problems("alert", ALERT) == []
    assert problems("alert", {**ALERT, "emitted_at": None}) == []
    assert problems("alert", CAP_ALERT) == []
    assert problems("alert", {**CAP_ALERT, "kind": "roaming_data_cap", "name": "roaming_data_cap"}) == []
    assert problems("alert", {**ALERT, "percent": 1000, "carrier": "x"}) == []  # a field added by a minor version


@pytest.mark.parametrize(("alert", "expected"), [
    ({**ALERT, "percent": 0}, "percent: 0 is less than the minimum of 1"),
    ({**ALERT, "percent": 1001}, "percent: 1001 is greater than the maximum of 1000"),
    ({**ALERT, "percent": "80"}, "percent: '80' is not of type 'integer'"),
    ({**ALERT, "used": 480}, "used: 480 is not of type 'string'"),  # never a JSON number
    ({**ALERT, "used": "480.00"}, "used: '480.00' does not match"),  # an allowance counts whole units
    ({**ALERT, "unit": "MAD"}, "unit: 'MAD' is not one of"),
    ({**CAP_ALERT, "limit": "4"}, "limit: '4' does not match"),  # money has 2 places
    ({**CAP_ALERT, "used": "-1.00"}, "used: '-1.00' does not match"),
    ({**CAP_ALERT, "unit": "seconds"}, "unit: 'seconds' should not be valid"),
    ({**CAP_ALERT, "name": "monthly_cap"}, "name: 'spending_cap' was expected"),
    ({**ALERT, "kind": "budget"}, "kind: 'budget' is not one of"),
    ({**ALERT, "alert_id": "ALR-40b176d792f22764f9fd"}, "alert_id: 'ALR-40b176d792f22764f9fd' does not match"),
    ({**ALERT, "msisdn": "+212600000204"}, "msisdn: '+212600000204' does not match"),
    ({**ALERT, "period": "2026-13"}, "period: '2026-13' does not match"),
    ({**ALERT, "event_time": "2026-10-16T11:54:00+01:00"}, "event_time: '2026-10-16T11:54:00+01:00' does not match"),
    ({**ALERT, "emitted_at": "2026-11-01"}, "emitted_at: '2026-11-01' is not valid under any of the given schemas"),
    ({**ALERT, "name": ""}, "name: '' should be non-empty"),
    ({**ALERT, "schema_version": "2.0"}, "schema_version: '2.0' does not match"),
    ({k: v for k, v in ALERT.items() if k != "emitted_at"}, "(top): 'emitted_at' is a required property"),
])
def test_an_alert_a_reader_could_not_rely_on_is_refused(alert: dict[str, object], expected: str) -> None:
    found = problems("alert", alert)
    assert any(p.startswith(expected) for p in found), found
