"""Hand-written cases for the pure-Python reference of mediation + rating (docs/RULES.md).

The expected values are worked out by hand from the rules, so the reference, and through the
property tests the Spark pipeline, are checked against the written contract.
"""

from __future__ import annotations

import dataclasses
import json
from collections import Counter
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from fixtures import LEGACY_SAMPLE
from reference.rating import Result, active_on, mediate_and_rate, split_records
from telecom_billing.contracts.reasons import PRECEDENCE, Reason
from telecom_billing.refdata.catalog import Catalog, load_catalog
from telecom_billing.refdata.subscribers import Subscriber

NOW = datetime(2026, 12, 15, tzinfo=UTC)
SUB = "212600000001"  # TEST plan, always active
VOICE_ONLY = "212600000002"
GONE_PLAN = "212600000003"
FROM_DEC = "212600000004"  # activated 2026-12-01
UNTIL_DEC = "212600000005"  # terminated 2026-12-01
FROM_DST = "212600000006"  # activated 2026-02-15, the day Casablanca leaves +01:00 for Ramadan
UNTIL_MAR = "212600000007"  # terminated 2026-03-01

CATALOG_YAML = """
catalog_version: "test-1"
currency: MAD
timezone: Africa/Casablanca
home_country_code: "212"
home_country: MA
tax_rate: "0.20"
rounding_decimals: 4
time_bands:
  - {name: peak, days: [mon, tue, wed, thu, fri], start: "08:00", end: "20:00"}
  - {name: evening, days: [mon, tue, wed, thu, fri], start: "20:00", end: "24:00"}
  - {name: weekend, days: [sat, sun]}
  - {name: offpeak}
zones:
  national_mobile: ["2126", "2127"]
  europe: ["33", "34"]
  france_mobile: ["336"]
  special: ["3361"]
  rest_of_world: [""]
roaming_zones:
  roam_europe: [FR, ES]
  roam_world: ["*"]
plans:
  - id: TEST
    monthly_fee: "10.00"
    rates:
      - {service: voice, zone: national_mobile, band: peak, price: "1.20", per: 60, increments: [60, 30]}
      - {service: voice, zone: national_mobile, band: "*", price: "0.60", per: 60, increments: [60, 30]}
      - {service: voice, zone: "*", band: evening, price: "2.00", per: 60, increments: [1, 1]}
      - {service: voice, zone: "*", band: "*", price: "3.00", per: 60, increments: [1, 1], connect_fee: "0.50"}
      - {service: voice, zone: incoming, band: "*", price: "0.00", per: 60, increments: [1, 1]}
      - {service: voice, zone: roam_europe, band: "*", price: "6.00", per: 60, increments: [60, 60],
         connect_fee: "1.0"}
      - {service: sms, zone: "*", band: "*", price: "0.5", per: 1, increments: [1, 1]}
      - {service: sms, zone: special, band: "*", price: "0.00025", per: 1, increments: [1, 1]}
      - {service: data, zone: home, band: "*", price: "0.05", per: 1048576, increments: [1024, 1024]}
      - {service: data, zone: roam_world, band: "*", price: "50.00", per: 1048576, increments: [10240, 10240]}
  - id: VOICE_ONLY
    monthly_fee: "0.00"
    rates:
      - {service: voice, zone: national_mobile, band: "*", price: "1.00", per: 60, increments: [1, 1]}
"""

RATED_KEYS = [
    "schema_version",
    "cdr_id",
    "record_type",
    "event_time",
    "msisdn",
    "other_party",
    "direction",
    "duration_sec",
    "bytes_up",
    "bytes_down",
    "quantity",
    "cell_id",
    "technology",
    "visited_country",
    "roaming",
    "source_format",
    "plan_id",
    "zone",
    "band",
    "billable_units",
    "price",
    "per",
    "unit_price",
    "connect_fee",
    "charge",
    "currency",
    "catalog_version",
    "partials",
    "incomplete",
    "missing",
    "last_missing",
]


@pytest.fixture(scope="module")
def catalog(tmp_path_factory: pytest.TempPathFactory) -> Catalog:
    folder = tmp_path_factory.mktemp("catalog")
    (folder / "catalog.yaml").write_text(CATALOG_YAML, encoding="utf-8")
    return load_catalog(folder)


SUBSCRIBERS = [
    Subscriber(SUB, "Test", "Rabat", "TEST", date(2020, 1, 1)),
    Subscriber(VOICE_ONLY, "Voice", "Rabat", "VOICE_ONLY", date(2020, 1, 1)),
    Subscriber(GONE_PLAN, "Gone", "Rabat", "GONE", date(2020, 1, 1)),
    Subscriber(FROM_DEC, "New", "Fes", "TEST", date(2026, 12, 1)),
    Subscriber(UNTIL_DEC, "Leaving", "Fes", "TEST", date(2020, 1, 1), date(2026, 12, 1)),
    Subscriber(FROM_DST, "Ramadan", "Tanger", "TEST", date(2026, 2, 15)),
    Subscriber(UNTIL_MAR, "March", "Agadir", "TEST", date(2020, 1, 1), date(2026, 3, 1)),
]

DROP = object()


def voice(**changes: Any) -> dict[str, Any]:
    record: dict[str, Any] = {
        "cdr_id": "c-1",
        "record_type": "voice",
        "event_time": "2026-11-02T10:00:00+01:00",  # Monday 10:00 local: peak
        "msisdn": SUB,
        "other_party": "212611111111",
        "direction": "MO",
        "duration_sec": 60,
        "cell_id": "RABAT_01",
        "technology": "4G",
    }
    return _apply(record, changes)


def sms(**changes: Any) -> dict[str, Any]:
    record = voice(record_type="sms", duration_sec=DROP)
    return _apply(record, changes)


def data(**changes: Any) -> dict[str, Any]:
    record = voice(record_type="data", other_party=DROP, direction=DROP, duration_sec=DROP)
    record.update(bytes_up=1000, bytes_down=500)
    return _apply(record, changes)


def legacy_voice(**changes: Any) -> dict[str, Any]:
    record = {
        "record_type": "voice",
        "timestamp": "2026-11-02T09:00:00Z",
        "caller_id": SUB,
        "callee_id": "212611111111",
        "duration_sec": 61,
        "cell_id": "ALHOCEIMA_01",
        "technology": "3G",
    }
    return _apply(record, changes)


def legacy_data(**changes: Any) -> dict[str, Any]:
    record = {
        "record_type": "data",
        "timestamp": "2026-11-02T09:00:00Z",
        "user_id": SUB,
        "data_volume_mb": 7.28,
        "session_duration_sec": 524,
        "cell_id": "BNIBOUFRAH_02",
        "technology": "3G",
    }
    return _apply(record, changes)


def _apply(record: dict[str, Any], changes: dict[str, Any]) -> dict[str, Any]:
    for key, value in changes.items():
        if value is DROP:
            record.pop(key, None)
        else:
            record[key] = value
    return record


def encode(record: dict[str, Any] | bytes | str) -> bytes:
    if isinstance(record, bytes):
        return record
    if isinstance(record, str):
        return record.encode("utf-8")
    return json.dumps(record).encode("utf-8")


def run(catalog: Catalog, *records: Any, now: datetime = NOW) -> Result:
    result = mediate_and_rate([encode(r) for r in records], catalog, SUBSCRIBERS, now)
    assert len(result.rated) + len(result.rejected) + result.duplicates == len(records)
    return result


def rated(catalog: Catalog, record: Any, now: datetime = NOW) -> dict[str, Any]:
    result = run(catalog, record, now=now)
    assert result.rejected == [], result.rejected
    (cdr,) = result.rated
    return cdr


def rejected(catalog: Catalog, record: Any, now: datetime = NOW) -> dict[str, Any]:
    result = run(catalog, record, now=now)
    assert result.rated == [], result.rated
    (rejection,) = result.rejected
    return rejection


def reason(catalog: Catalog, record: Any) -> tuple[str, str]:
    rejection = rejected(catalog, record)
    return rejection["reason"], rejection["detail"]


# -- a rated CDR ----------------------------------------------------------------------------------


def test_rated_cdr_has_every_field_in_order(catalog: Catalog) -> None:
    cdr = rated(catalog, voice(duration_sec=61))
    assert list(cdr) == RATED_KEYS
    assert cdr == {
        "schema_version": "1.1",
        "cdr_id": "c-1",
        "record_type": "voice",
        "event_time": "2026-11-02T09:00:00.000000Z",
        "msisdn": SUB,
        "other_party": "212611111111",
        "direction": "MO",
        "duration_sec": 61,
        "bytes_up": None,
        "bytes_down": None,
        "quantity": 61,
        "cell_id": "RABAT_01",
        "technology": "4G",
        "visited_country": None,
        "roaming": False,
        "source_format": "canonical",
        "plan_id": "TEST",
        "zone": "national_mobile",
        "band": "peak",
        "billable_units": 90,
        "price": "1.20",
        "per": 60,
        "unit_price": "0.0200000000",
        "connect_fee": "0.00",
        "charge": "1.8000",
        "currency": "MAD",
        "catalog_version": "test-1",
        "partials": None,  # the four keys of an assembled CDR are null on a whole one (RULES.md section 18)
        "incomplete": None,
        "missing": None,
        "last_missing": None,
    }


def test_data_and_sms_fields(catalog: Catalog) -> None:
    cdr = rated(catalog, data(cell_id=DROP, technology=5))
    assert (cdr["other_party"], cdr["direction"], cdr["duration_sec"]) == (None, None, None)
    assert (cdr["bytes_up"], cdr["bytes_down"], cdr["quantity"]) == (1000, 500, 1500)
    assert (cdr["zone"], cdr["billable_units"]) == ("home", 2048)
    assert (cdr["cell_id"], cdr["technology"]) == (None, "5")  # absent; a JSON number kept as its text
    typed = rated(catalog, data(cell_id=True, technology={"gen": 4.0}))
    assert (typed["cell_id"], typed["technology"]) == ("true", '{"gen":4.0}')
    assert cdr["unit_price"] == "0.0000000477"  # 0.05 / 1048576 = 0.00000004768...
    assert cdr["charge"] == "0.0001"  # 2048 * 0.05 / 1048576 = 0.00009765625
    message = rated(catalog, sms())
    assert (message["quantity"], message["billable_units"], message["duration_sec"]) == (1, 1, None)
    assert (message["price"], message["charge"]) == ("0.50", "0.5000")  # "0.5" in the catalog


@pytest.mark.parametrize(
    ("seconds", "billable"), [(1, 60), (59, 60), (60, 60), (61, 90), (90, 90), (91, 120), (86400, 86400)]
)
def test_increments_first_then_next(catalog: Catalog, seconds: int, billable: int) -> None:
    cdr = rated(catalog, voice(duration_sec=seconds))  # national_mobile peak: [60, 30]
    assert cdr["billable_units"] == billable
    assert cdr["quantity"] == seconds


def test_data_increment_boundaries(catalog: Catalog) -> None:
    assert rated(catalog, data(bytes_up=0, bytes_down=1))["billable_units"] == 1024
    assert rated(catalog, data(bytes_up=1000, bytes_down=24))["billable_units"] == 1024
    assert rated(catalog, data(bytes_up=1000, bytes_down=25))["billable_units"] == 2048


def test_charge_is_exact_then_half_up(catalog: Catalog) -> None:
    # * zone, * band with connect fee: 0.50 + 61 * 3.00 / 60 = 3.55 (Monday peak, Spanish number)
    assert rated(catalog, voice(other_party="34911111111", duration_sec=61))["charge"] == "3.5500"
    # */evening, per second: 7 * 2.00 / 60 = 0.23333... (non-terminating, rounded once)
    evening = voice(other_party="34911111111", duration_sec=7, event_time="2026-11-02T21:00:00+01:00")
    assert rated(catalog, evening)["charge"] == "0.2333"
    # 0.00025 is a tie at 4 places: half-up gives 0.0003 where half-even would give 0.0002
    tie = rated(catalog, sms(other_party="33611111111"))
    assert (tie["zone"], tie["price"], tie["unit_price"], tie["charge"]) == (
        "special",
        "0.00025",
        "0.0002500000",
        "0.0003",
    )


# -- time bands, time zone, local dates ------------------------------------------------------------


def band_at(catalog: Catalog, utc: str) -> str:
    return rated(catalog, voice(event_time=utc))["band"]


@pytest.mark.parametrize(
    ("utc", "band"),
    [
        ("2026-11-02T06:59:59.999999Z", "offpeak"),  # Monday 07:59:59 local (+01:00)
        ("2026-11-02T07:00:00Z", "peak"),  # 08:00 local: start is inclusive
        ("2026-11-02T18:59:59Z", "peak"),
        ("2026-11-02T19:00:00Z", "evening"),  # 20:00 local: peak's end is exclusive
        ("2026-11-02T22:59:59Z", "evening"),  # 23:59:59 local, band ending at "24:00"
        ("2026-11-02T23:00:00Z", "offpeak"),  # Tuesday 00:00 local
        ("2026-11-06T23:00:00Z", "weekend"),  # Saturday 00:00 local
        ("2026-11-08T22:59:59Z", "weekend"),  # Sunday 23:59:59 local
        ("2026-11-08T23:00:00Z", "offpeak"),  # Monday 00:00 local
    ],
)
def test_band_start_inclusive_end_exclusive_in_local_time(catalog: Catalog, utc: str, band: str) -> None:
    assert band_at(catalog, utc) == band


def test_casablanca_ramadan_offset_change_2026(catalog: Catalog) -> None:
    tz = ZoneInfo("Africa/Casablanca")
    # zoneinfo: +01:00 until 2026-02-15T02:00Z, +00:00 (Ramadan) until 2026-03-22T02:00Z, then +01:00.
    assert datetime(2026, 2, 15, 1, 59, 59, tzinfo=UTC).astimezone(tz).utcoffset() == timedelta(hours=1)
    assert datetime(2026, 2, 15, 2, 0, tzinfo=UTC).astimezone(tz).utcoffset() == timedelta(0)
    assert datetime(2026, 3, 22, 1, 59, 59, tzinfo=UTC).astimezone(tz).utcoffset() == timedelta(0)
    assert datetime(2026, 3, 22, 2, 0, tzinfo=UTC).astimezone(tz).utcoffset() == timedelta(hours=1)
    # The same UTC clock time falls in different bands on either side of the change.
    assert band_at(catalog, "2026-02-13T07:30:00Z") == "peak"  # Friday 08:30 local (+01:00)
    assert band_at(catalog, "2026-02-16T07:30:00Z") == "offpeak"  # Monday 07:30 local (+00:00)
    assert band_at(catalog, "2026-02-16T08:00:00Z") == "peak"  # Monday 08:00 local (+00:00)
    assert band_at(catalog, "2026-03-23T07:30:00Z") == "peak"  # Monday 08:30 local (+01:00 again)
    # The local date follows the offset in force: 23:30Z on the eve is already 00:30 on the 15th.
    new = voice(msisdn=FROM_DST, event_time="2026-02-14T23:30:00Z")
    assert rated(catalog, new)["band"] == "weekend"
    assert reason(catalog, voice(msisdn=FROM_DST, event_time="2026-02-14T22:59:59Z")) == (
        "UNKNOWN_SUBSCRIBER",
        f"no subscriber {FROM_DST} active on 2026-02-14",
    )
    # During Ramadan (+00:00) 23:30Z on the last day of February is still February locally.
    late_feb = rated(catalog, voice(msisdn=UNTIL_MAR, event_time="2026-02-28T23:30:00Z"))
    assert late_feb["band"] == "weekend"
    assert reason(catalog, voice(msisdn=UNTIL_MAR, event_time="2026-03-01T00:30:00Z"))[0] == "UNKNOWN_SUBSCRIBER"


def test_cdr_just_after_local_midnight_at_a_month_boundary(catalog: Catalog) -> None:
    # 2026-11-30T23:30Z is Tuesday 2026-12-01 00:30 in Casablanca (+01:00).
    first_of_december = "2026-11-30T23:30:00Z"
    new = rated(catalog, voice(msisdn=FROM_DEC, event_time=first_of_december))
    assert (new["band"], new["event_time"]) == ("offpeak", "2026-11-30T23:30:00.000000Z")
    assert reason(catalog, voice(msisdn=UNTIL_DEC, event_time=first_of_december)) == (
        "UNKNOWN_SUBSCRIBER",
        f"no subscriber {UNTIL_DEC} active on 2026-12-01",
    )
    last_of_november = "2026-11-30T22:59:59Z"  # Monday 23:59:59 local
    assert rated(catalog, voice(msisdn=UNTIL_DEC, event_time=last_of_november))["band"] == "evening"
    assert reason(catalog, voice(msisdn=FROM_DEC, event_time=last_of_november)) == (
        "UNKNOWN_SUBSCRIBER",
        f"no subscriber {FROM_DEC} active on 2026-11-30",
    )


def test_unknown_subscriber_before_activation_after_termination_and_unknown_number(catalog: Catalog) -> None:
    assert reason(catalog, voice(msisdn=FROM_DEC, event_time="2026-11-15T12:00:00Z"))[0] == "UNKNOWN_SUBSCRIBER"
    assert reason(catalog, voice(msisdn=UNTIL_DEC, event_time="2026-12-10T12:00:00Z"))[0] == "UNKNOWN_SUBSCRIBER"
    assert rated(catalog, voice(msisdn=UNTIL_DEC, event_time="2026-11-10T12:00:00Z"))["plan_id"] == "TEST"
    assert reason(catalog, voice(msisdn="212699999999")) == (
        "UNKNOWN_SUBSCRIBER",
        "no subscriber 212699999999 active on 2026-11-02",
    )


def test_active_on_is_activation_inclusive_termination_exclusive() -> None:
    s = Subscriber("212612345678", "n", "a", "PAYG", date(2026, 11, 10), date(2026, 12, 1))
    assert not active_on(s, date(2026, 11, 9))
    assert active_on(s, date(2026, 11, 10))
    assert active_on(s, date(2026, 11, 30))
    assert not active_on(s, date(2026, 12, 1))
    assert active_on(Subscriber("212612345678", "n", "a", "PAYG", date(2026, 11, 10)), date(2099, 1, 1))


# -- zones and rates ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("other_party", "zone"),
    [
        ("33611111111", "special"),  # 3361 beats 336 and 33
        ("33698765432", "france_mobile"),  # 336 beats 33
        ("33123456789", "europe"),
        ("34911111111", "europe"),
        ("4915112345678", "rest_of_world"),  # only the empty prefix matches
        ("212711111111", "national_mobile"),
        ("0611111111", "national_mobile"),  # national trunk prefix -> 212611111111
    ],
)
def test_longest_prefix_wins(catalog: Catalog, other_party: str, zone: str) -> None:
    assert rated(catalog, voice(other_party=other_party))["zone"] == zone


def test_no_matching_prefix_is_no_rate(catalog: Catalog) -> None:
    without_default = dataclasses.replace(
        catalog, zones={k: v for k, v in catalog.zones.items() if k != "rest_of_world"}
    )
    result = mediate_and_rate([encode(voice(other_party="4915112345678"))], without_default, SUBSCRIBERS, NOW)
    assert [(r["reason"], r["detail"]) for r in result.rejected] == [
        ("NO_RATE", "no rate in plan TEST for voice/-/peak")
    ]


@pytest.mark.parametrize(
    ("record", "zone", "price", "charge"),
    [
        (voice(), "national_mobile", "1.20", "1.2000"),  # exact zone, exact band
        (voice(event_time="2026-11-02T21:00:00+01:00"), "national_mobile", "0.60", "0.6000"),  # zone, "*" band
        (voice(other_party="34911111111", event_time="2026-11-02T21:00:00+01:00"), "europe", "2.00", "2.0000"),
        (voice(other_party="34911111111"), "europe", "3.00", "3.5000"),  # "*" and "*"
    ],
)
def test_rate_precedence(catalog: Catalog, record: dict[str, Any], zone: str, price: str, charge: str) -> None:
    cdr = rated(catalog, record)
    assert (cdr["zone"], cdr["price"], cdr["charge"]) == (zone, price, charge)


def test_roaming_versus_home(catalog: Catalog) -> None:
    abroad = rated(catalog, voice(visited_country="fr"))
    assert (abroad["visited_country"], abroad["roaming"], abroad["zone"]) == ("FR", True, "roam_europe")
    assert (abroad["connect_fee"], abroad["charge"]) == ("1.00", "7.0000")  # "1.0" + 60 s at 6.00 / min
    at_home = rated(catalog, voice(visited_country="MA"))
    assert (at_home["visited_country"], at_home["roaming"], at_home["zone"]) == ("MA", False, "national_mobile")
    assert rated(catalog, voice(visited_country="ma"))["roaming"] is False
    assert rated(catalog, voice(visited_country=""))["visited_country"] is None
    numeric = rated(catalog, voice(visited_country=212))  # a JSON number is read as its text
    assert (numeric["visited_country"], numeric["roaming"], numeric["zone"]) == ("212", True, "roam_world")
    boolean = rated(catalog, voice(visited_country=True))  # "true", upper-cased: roaming
    assert (boolean["visited_country"], boolean["roaming"]) == ("TRUE", True)
    elsewhere = rated(catalog, voice(visited_country="US"))
    assert (elsewhere["zone"], elsewhere["charge"]) == ("roam_world", "3.5000")  # falls back to "*"/"*"
    data_abroad = rated(catalog, data(visited_country="US", bytes_up=0, bytes_down=1))
    assert (data_abroad["zone"], data_abroad["billable_units"], data_abroad["charge"]) == (
        "roam_world",
        10240,
        "0.4883",  # 10240 * 50.00 / 1048576 = 0.48828125
    )
    assert reason(catalog, data(visited_country="ES")) == ("NO_RATE", "no rate in plan TEST for data/roam_europe/peak")


def test_incoming_calls_are_rated_free_at_home_and_priced_roaming(catalog: Catalog) -> None:
    home = rated(catalog, voice(direction="MT", other_party="34911111111", duration_sec=300))
    assert (home["direction"], home["zone"], home["charge"], home["billable_units"]) == (
        "MT",
        "incoming",
        "0.0000",
        300,
    )
    roaming = rated(catalog, voice(direction="MT", visited_country="ES"))
    assert (roaming["zone"], roaming["charge"]) == ("roam_europe", "7.0000")
    assert rated(catalog, sms(direction="MT"))["zone"] == "incoming"


def test_no_rate(catalog: Catalog) -> None:
    assert reason(catalog, voice(msisdn=GONE_PLAN)) == ("NO_RATE", "plan GONE not in catalog test-1")
    assert reason(catalog, sms(msisdn=VOICE_ONLY)) == (
        "NO_RATE",
        "no rate in plan VOICE_ONLY for sms/national_mobile/peak",
    )
    no_rate = rejected(catalog, voice(msisdn=GONE_PLAN))
    assert (no_rate["msisdn"], no_rate["cdr_id"]) == (GONE_PLAN, "c-1")


# -- normalization ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("msisdn", "other_party", "expected_other"),
    [
        ("+212 600-000.001", "+33 (6) 11 11 11 11", "33611111111"),
        ("00212600000001", "0033611111111", "33611111111"),
        ("0600000001", "0611111111", "212611111111"),
        (212600000001, 212611111111, "212611111111"),  # JSON integers
        (-212600000001, -212611111111, "212611111111"),  # JSON integers: their text, whose "-" is removed
        (2126.00000001, 2126.11111111, "212611111111"),  # JSON fractions: Java's text, whose "." is removed
        ("212600000001", "(0)611111111", "212611111111"),
        ("\t212600000001 ", "336111111", "336111111"),  # 9 digits is E.164-long enough
    ],
)
def test_msisdn_normalization(catalog: Catalog, msisdn: Any, other_party: Any, expected_other: str) -> None:
    cdr = rated(catalog, voice(msisdn=msisdn, other_party=other_party))
    assert (cdr["msisdn"], cdr["other_party"]) == (SUB, expected_other)


@pytest.mark.parametrize(
    "bad",
    [
        "invalid_phone",
        "",
        "2126000",  # 7 digits
        "2126000000011234",  # 16 digits
        "+0600000001",
        "000212600000001",  # 00 is dropped once; 0212... is not E.164
        "212 600 000 00١",  # Arabic-Indic digit
        "212600000001x",
        212600000001.0,  # its text is 2.12600000001E11
        True,
        ["212600000001"],
    ],
)
def test_invalid_msisdn(catalog: Catalog, bad: Any) -> None:
    assert reason(catalog, voice(msisdn=bad)) == ("INVALID_MSISDN", "msisdn: invalid")
    assert reason(catalog, voice(other_party=bad)) == ("INVALID_MSISDN", "other_party: invalid")


@pytest.mark.parametrize(
    ("event_time", "normalized"),
    [
        ("2026-11-02T10:00:00.1234567+05:30", "2026-11-02T04:30:00.123456Z"),  # truncated, not rounded
        ("2026-11-02T04:30:00.9999999Z", "2026-11-02T04:30:00.999999Z"),
        ("2026-11-02T04:30:00.5Z", "2026-11-02T04:30:00.500000Z"),
        ("2026-11-01T23:30:00-05:00", "2026-11-02T04:30:00.000000Z"),
        ("2026-11-02T04:30:00-00:00", "2026-11-02T04:30:00.000000Z"),
        ("2026-11-02T22:30:00-18:00", "2026-11-03T16:30:00.000000Z"),
    ],
)
def test_timestamps_are_normalized_to_utc(catalog: Catalog, event_time: str, normalized: str) -> None:
    assert rated(catalog, voice(event_time=event_time))["event_time"] == normalized


@pytest.mark.parametrize(
    "event_time",
    [
        "2026-11-02T10:00:00",  # no offset
        "2026-11-02 10:00:00Z",
        "2026-11-02T10:00:00z",
        "2026-11-02t10:00:00Z",
        "2026-11-02T10:00:00+0100",
        "2026-11-02T10:00:00+19:00",
        "2026-11-02T10:00:00+01:60",
        "2026-02-30T10:00:00Z",
        "2026-11-02T24:00:00Z",
        "2026-11-02T10:00:60Z",
        "2026-11-02T10:00Z",
        "2026-11-02T10:00:00Z\n",
        "1969-12-31T23:59:59.999999Z",
        "1970-01-01T00:30:00+01:00",
        "0001-01-01T00:00:00Z",
        "2026-11-02",
        "",
        1762077600,
        True,
    ],
)
def test_invalid_timestamps(catalog: Catalog, event_time: Any) -> None:
    assert reason(catalog, voice(event_time=event_time)) == ("INVALID_TIMESTAMP", "event_time: invalid timestamp")


def test_epoch_is_the_earliest_valid_time(catalog: Catalog) -> None:
    result = run(catalog, voice(event_time="1970-01-01T00:00:00Z"))
    assert [r["reason"] for r in result.rejected] == ["UNKNOWN_SUBSCRIBER"]


@pytest.mark.parametrize(
    ("value", "expected"), [(" 140 ", 140), ("140", 140), ("1.4e2", 140), (140.0, 140), ("+140", 140), ("140.", 140)]
)
def test_numeric_strings_and_integral_numbers(catalog: Catalog, value: Any, expected: int) -> None:
    assert rated(catalog, voice(duration_sec=value))["duration_sec"] == expected


def test_future_timestamp_boundary(catalog: Catalog) -> None:
    limit = NOW + timedelta(hours=1)
    assert rated(catalog, voice(event_time=limit.strftime("%Y-%m-%dT%H:%M:%S.%fZ")))["plan_id"] == "TEST"
    later = (limit + timedelta(microseconds=1)).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    assert reason(catalog, voice(event_time=later)) == (
        "FUTURE_TIMESTAMP",
        "event_time more than 1 h after processing time",
    )


def test_usage_limits(catalog: Catalog) -> None:
    assert rated(catalog, voice(duration_sec=86400))["duration_sec"] == 86400
    assert rated(catalog, data(bytes_up=7374182400, bytes_down=100000000000))["quantity"] == 107374182400
    assert reason(catalog, data(bytes_up=7374182401, bytes_down=100000000000)) == (
        "USAGE_OUT_OF_RANGE",
        "bytes over 107374182400",
    )
    assert reason(catalog, voice(duration_sec=1e30))[0] == "USAGE_OUT_OF_RANGE"
    assert reason(catalog, voice(duration_sec="-1e400"))[0] == "NON_POSITIVE_USAGE"
    assert reason(catalog, data(bytes_up="1e999999999999999999999"))[0] == "USAGE_OUT_OF_RANGE"
    assert reason(catalog, data(bytes_up=0, bytes_down=0)) == ("NON_POSITIVE_USAGE", "bytes must be positive")
    assert reason(catalog, data(bytes_up=-1, bytes_down=100))[0] == "NON_POSITIVE_USAGE"


# -- every reason code ----------------------------------------------------------------------------

REASON_CASES: list[tuple[str, Any, str, str]] = [
    ("not utf-8", b"\xff\xfe{}", "MALFORMED_JSON", "not UTF-8"),
    ("not json", b"{not json", "MALFORMED_JSON", "not a JSON object"),
    ("empty", b"", "MALFORMED_JSON", "not a JSON object"),
    ("blank", b" \t\r\n ", "MALFORMED_JSON", "not a JSON object"),
    ("NaN literal", b'{"cdr_id":"x","duration_sec":NaN}', "MALFORMED_JSON", "not a JSON object"),
    ("BOM", "\ufeff" + json.dumps(voice()), "MALFORMED_JSON", "not a JSON object"),
    ("broken first value", b'{"cdr_id":"x",} {"cdr_id":"y"}', "MALFORMED_JSON", "not a JSON object"),
    ("lone surrogate", b'{"cdr_id":"\\ud800x"}', "MISSING_FIELD", "record_type: absent"),  # parsed, as "?x"
    ("array", b"[1, 2]", "MALFORMED_JSON", "not a JSON object"),
    ("string", b'"voice"', "MALFORMED_JSON", "not a JSON object"),
    ("no format keys", {"record_type": "voice", "msisdn": SUB}, "UNKNOWN_FORMAT", "neither canonical nor legacy"),
    ("null format keys", {"cdr_id": None, "timestamp": None}, "UNKNOWN_FORMAT", "neither canonical nor legacy"),
    ("unknown type", voice(record_type="mms"), "UNKNOWN_RECORD_TYPE", "record_type is not voice, sms or data"),
    ("type case", voice(record_type="Voice"), "UNKNOWN_RECORD_TYPE", "record_type is not voice, sms or data"),
    ("type number", voice(record_type=1), "UNKNOWN_RECORD_TYPE", "record_type is not voice, sms or data"),
    ("type absent", voice(record_type=DROP), "MISSING_FIELD", "record_type: absent"),
    ("duration absent", voice(duration_sec=DROP), "MISSING_FIELD", "duration_sec: absent"),
    ("duration null", voice(duration_sec=None), "MISSING_FIELD", "duration_sec: absent"),
    ("not a number", voice(duration_sec="NOT_A_NUMBER"), "MISSING_FIELD", "duration_sec: not a number"),
    ("boolean", voice(duration_sec=True), "MISSING_FIELD", "duration_sec: not a number"),
    ("object", voice(duration_sec={"s": 60}), "MISSING_FIELD", "duration_sec: not a number"),
    ("NaN string", voice(duration_sec="NaN"), "MISSING_FIELD", "duration_sec: not a number"),
    ("fraction", voice(duration_sec=60.5), "MISSING_FIELD", "duration_sec: not an integer"),
    ("fraction string", voice(duration_sec="60.5"), "MISSING_FIELD", "duration_sec: not an integer"),
    ("direction", voice(direction="OUT"), "MISSING_FIELD", "direction: not MO or MT"),
    ("cdr_id empty", voice(cdr_id=""), "MISSING_FIELD", "cdr_id: not a non-empty string"),
    ("msisdn absent", voice(msisdn=DROP), "MISSING_FIELD", "msisdn: absent"),
    ("sms party absent", sms(other_party=None), "MISSING_FIELD", "other_party: absent"),
    ("bytes_down absent", data(bytes_down=DROP), "MISSING_FIELD", "bytes_down: absent"),
    ("first field first", voice(cdr_id="", duration_sec=DROP), "MISSING_FIELD", "cdr_id: not a non-empty string"),
    ("legacy session absent", legacy_data(session_duration_sec=DROP), "MISSING_FIELD", "session_duration_sec: absent"),
    ("legacy volume text", legacy_data(data_volume_mb="lots"), "MISSING_FIELD", "data_volume_mb: not a number"),
    ("invalid msisdn", voice(msisdn="invalid_phone"), "INVALID_MSISDN", "msisdn: invalid"),
    ("legacy caller", legacy_voice(caller_id="invalid_phone"), "INVALID_MSISDN", "caller_id: invalid"),
    ("legacy callee", legacy_voice(callee_id="12"), "INVALID_MSISDN", "callee_id: invalid"),
    ("naive time", voice(event_time="2026-11-02T10:00:00"), "INVALID_TIMESTAMP", "event_time: invalid timestamp"),
    (
        "legacy naive time",
        legacy_voice(timestamp="2026-11-02T09:00:00"),
        "INVALID_TIMESTAMP",
        "timestamp: invalid timestamp",
    ),
    ("zero duration", voice(duration_sec=0), "NON_POSITIVE_USAGE", "duration_sec must be positive"),
    ("negative text", voice(duration_sec="-5"), "NON_POSITIVE_USAGE", "duration_sec must be positive"),
    ("legacy negative mb", legacy_data(data_volume_mb=-1.5), "NON_POSITIVE_USAGE", "bytes must be positive"),
    ("legacy tiny mb", legacy_data(data_volume_mb=1e-7), "NON_POSITIVE_USAGE", "bytes must be positive"),
    (
        "legacy negative session",
        legacy_data(session_duration_sec=-1),
        "NON_POSITIVE_USAGE",
        "session_duration_sec must not be negative",
    ),
    ("long call", voice(duration_sec=86401), "USAGE_OUT_OF_RANGE", "duration_sec over 86400"),
    (
        "legacy long session",
        legacy_data(session_duration_sec=86401),
        "USAGE_OUT_OF_RANGE",
        "session_duration_sec over 86400",
    ),
    ("legacy huge volume", legacy_data(data_volume_mb=102401), "USAGE_OUT_OF_RANGE", "bytes over 107374182400"),
    (
        "future",
        voice(event_time="2026-12-15T01:00:00.000001Z"),
        "FUTURE_TIMESTAMP",
        "event_time more than 1 h after processing time",
    ),
    (
        "unknown subscriber",
        voice(msisdn="212699999999"),
        "UNKNOWN_SUBSCRIBER",
        "no subscriber 212699999999 active on 2026-11-02",
    ),
    ("no rate", voice(msisdn=GONE_PLAN), "NO_RATE", "plan GONE not in catalog test-1"),
    ("part without sequence", voice(session_id="s-1", partial="last"), "INVALID_PARTIAL", "sequence: absent"),
]


@pytest.mark.parametrize(
    ("record", "code", "detail"), [(r, c, d) for _, r, c, d in REASON_CASES], ids=[n for n, *_ in REASON_CASES]
)
def test_every_reason_code(catalog: Catalog, record: Any, code: str, detail: str) -> None:
    assert reason(catalog, record) == (code, detail)


def test_the_cases_cover_every_reason_code() -> None:
    # LATE_PARTIAL needs a session closed before the part: tests/unit/test_reference_partials.py.
    assert {code for _, _, code, _ in REASON_CASES} | {Reason.LATE_PARTIAL} == {str(r) for r in Reason}
    assert set(PRECEDENCE) == set(Reason)


@pytest.mark.parametrize(
    ("record", "code"),
    [
        (voice(record_type="fax", duration_sec=DROP), "UNKNOWN_RECORD_TYPE"),
        (voice(duration_sec=DROP, msisdn="bad"), "MISSING_FIELD"),
        (voice(msisdn="bad", event_time="yesterday"), "INVALID_MSISDN"),
        (voice(event_time="yesterday", duration_sec=-1), "INVALID_TIMESTAMP"),
        (voice(duration_sec=-1, event_time="2030-01-01T00:00:00Z"), "NON_POSITIVE_USAGE"),
        (voice(duration_sec=90000, event_time="2030-01-01T00:00:00Z"), "USAGE_OUT_OF_RANGE"),
        (voice(msisdn="212699999999", event_time="2030-01-01T00:00:00Z"), "FUTURE_TIMESTAMP"),
        (voice(msisdn="212699999999", cdr_id="c-2"), "UNKNOWN_SUBSCRIBER"),
    ],
)
def test_precedence_picks_the_first_failing_check(catalog: Catalog, record: dict[str, Any], code: str) -> None:
    assert reason(catalog, record)[0] == code


def test_rejection_record_fields(catalog: Catalog) -> None:
    payloads = [b"\xff\x00garbage", encode(voice(duration_sec=DROP)), encode(voice(record_type="fax"))]
    result = mediate_and_rate(payloads, catalog, SUBSCRIBERS, NOW, topic="cdr.raw", partition=3)
    binary, missing, unknown_type = result.rejected
    assert list(binary) == ["schema_version", "reason", "detail", "raw", "raw_base64", "msisdn", "cdr_id", "source"]
    assert (binary["raw"], binary["raw_base64"]) == (None, "/wBnYXJiYWdl")
    assert binary["source"] == {"topic": "cdr.raw", "partition": 3, "offset": 0}
    assert (binary["msisdn"], binary["cdr_id"]) == (None, None)
    assert missing["raw"] == payloads[1].decode() and missing["raw_base64"] is None
    assert (missing["msisdn"], missing["cdr_id"], missing["source"]["offset"]) == (SUB, "c-1", 1)
    assert (unknown_type["msisdn"], unknown_type["cdr_id"]) == (None, "c-1")  # type unknown: no msisdn field
    legacy_bad = rejected(catalog, legacy_voice(duration_sec=-3))
    assert (legacy_bad["msisdn"], legacy_bad["cdr_id"]) == (SUB, None)  # legacy id only from FUTURE on
    legacy_future = rejected(catalog, legacy_voice(timestamp="2027-01-01T00:00:00Z"))
    assert legacy_future["reason"] == "FUTURE_TIMESTAMP" and legacy_future["cdr_id"].startswith("L")


# -- legacy records --------------------------------------------------------------------------------


def test_legacy_voice_mapping_and_derived_id(catalog: Catalog) -> None:
    cdr = rated(catalog, legacy_voice(duration_sec="61"))
    assert (cdr["msisdn"], cdr["other_party"], cdr["direction"], cdr["source_format"]) == (
        SUB,
        "212611111111",
        "MO",
        "legacy",
    )
    assert (cdr["visited_country"], cdr["roaming"]) == (None, False)
    # "L" + sha256("voice|2026-11-02T09:00:00.000000Z|212600000001|212611111111|61||ALHOCEIMA_01|3G")[:31]
    assert cdr["cdr_id"] == "Lecc8e258eeb7105ab49bdd7d4bdea92"
    assert len(cdr["cdr_id"]) == 32
    # The id is built from normalized content: the same call written differently is the same CDR.
    same = legacy_voice(caller_id="0600000001", duration_sec=61.0, timestamp="2026-11-02T10:00:00+01:00")
    assert rated(catalog, same)["cdr_id"] == cdr["cdr_id"]
    # Absent optional fields are empty in the id.
    bare = rated(catalog, legacy_voice(cell_id=DROP, technology=None))
    # "L" + sha256("voice|2026-11-02T09:00:00.000000Z|212600000001|212611111111|61|||")[:31]
    assert bare["cdr_id"] == "L11b4efcc14266fb54a419da8fb0dff7"


def test_legacy_data_volume_to_bytes(catalog: Catalog) -> None:
    cdr = rated(catalog, legacy_data())
    assert (cdr["bytes_up"], cdr["bytes_down"], cdr["quantity"]) == (0, 7633633, 7633633)  # 7.28 MiB
    assert (cdr["duration_sec"], cdr["other_party"], cdr["direction"]) == (524, None, None)
    # "L" + sha256("data|2026-11-02T09:00:00.000000Z|212600000001||524|7633633|BNIBOUFRAH_02|3G")[:31]
    assert cdr["cdr_id"] == "L0d27e154db017f43aa5be47aaa66e8d"
    # Exactly half a byte rounds up; the literal is used exactly, never through a binary float.
    assert rated(catalog, legacy_data(data_volume_mb="0.000000476837158203125"))["bytes_down"] == 1
    assert rated(catalog, legacy_data(data_volume_mb=" 1.5 "))["bytes_down"] == 1572864
    assert rated(catalog, legacy_data(session_duration_sec=0))["duration_sec"] == 0


def test_legacy_sms(catalog: Catalog) -> None:
    record = {"record_type": "sms", "timestamp": "2026-11-02T09:00:00Z", "sender_id": SUB, "receiver_id": SUB}
    cdr = rated(catalog, record)
    assert (cdr["other_party"], cdr["zone"], cdr["cell_id"], cdr["charge"]) == (SUB, "national_mobile", None, "0.5000")


def test_canonical_wins_when_both_formats_are_present(catalog: Catalog) -> None:
    assert reason(catalog, legacy_voice(cdr_id="x")) == ("MISSING_FIELD", "event_time: absent")


# -- deduplication ---------------------------------------------------------------------------------


def test_later_copies_are_duplicates(catalog: Catalog) -> None:
    result = run(catalog, voice(), voice(duration_sec=999), legacy_voice(), legacy_voice(), voice(cdr_id="c-2"))
    assert [c["cdr_id"][:1] for c in result.rated] == ["c", "L", "c"]
    assert result.rated[0]["duration_sec"] == 60  # the first copy is the one rated
    assert result.duplicates == 2


def test_rejected_first_copy_does_not_make_a_duplicate(catalog: Catalog) -> None:
    result = run(catalog, voice(event_time="garbage"), voice(msisdn="212699999999"), voice())
    assert [r["reason"] for r in result.rejected] == ["INVALID_TIMESTAMP", "UNKNOWN_SUBSCRIBER"]
    assert len(result.rated) == 1 and result.duplicates == 0


def test_copies_of_a_no_rate_record_are_duplicates(catalog: Catalog) -> None:
    result = run(catalog, voice(msisdn=GONE_PLAN), voice(msisdn=GONE_PLAN))
    assert [r["reason"] for r in result.rejected] == ["NO_RATE"]
    assert result.duplicates == 1


def test_dedup_window_on_arrival_time(catalog: Catalog) -> None:
    t0 = datetime(2026, 11, 2, 12, tzinfo=UTC)
    payload = encode(voice())
    arrivals = [t0, t0 + timedelta(hours=23), t0 + timedelta(hours=25), t0 + timedelta(hours=26)]
    result = mediate_and_rate([(payload, t) for t in arrivals], catalog, SUBSCRIBERS, NOW)
    assert (len(result.rated), result.duplicates) == (2, 2)


# -- files, poison and robustness ------------------------------------------------------------------


def test_split_records() -> None:
    assert split_records(b"a\nb\r\n\nc") == [b"a", b"b", b"", b"c"]
    assert split_records(b"a\n") == [b"a"]
    assert split_records(b"") == []
    assert split_records(b"\n") == [b""]


def test_poison_messages_are_rejections(catalog: Catalog) -> None:
    huge = b'{"cdr_id":"' + b"x" * 3_000_000 + b'","record_type":"voice"}'
    assert reason(catalog, huge) == ("MISSING_FIELD", "event_time: absent")
    deep_ok = json.dumps(voice()).replace('"cell_id"', '"nested":' + "[" * 999 + "]" * 999 + ',"cell_id"')
    assert rated(catalog, deep_ok)["cdr_id"] == "c-1"  # the object plus 999 arrays: depth 1000
    too_deep = deep_ok.replace("[" * 999, "[" * 1000).replace("]" * 999, "]" * 1000)
    assert reason(catalog, too_deep) == ("MALFORMED_JSON", "not a JSON object")
    very_deep = b'{"a":' + b"[" * 200_000 + b"]" * 200_000 + b"}"
    assert reason(catalog, very_deep) == ("MALFORMED_JSON", "not a JSON object")
    assert reason(catalog, b'{"a":' * 50_000)[0] == "MALFORMED_JSON"
    huge_int = json.dumps(voice(duration_sec=DROP))[:-1] + ', "duration_sec": 1'
    # An integer literal of up to 1000 digits is read (and is out of range); one more digit is a read limit.
    assert reason(catalog, huge_int + "0" * 999 + "}") == ("USAGE_OUT_OF_RANGE", "duration_sec over 86400")
    assert reason(catalog, huge_int + "0" * 1000 + "}") == ("MALFORMED_JSON", "not a JSON object")
    assert reason(catalog, huge_int + "0" * 10_000 + "}") == ("MALFORMED_JSON", "not a JSON object")


def test_fields_are_read_as_text(catalog: Catalog) -> None:
    assert rated(catalog, voice(cdr_id=7))["cdr_id"] == "7"  # a JSON number is accepted as its text
    assert rated(catalog, voice(cdr_id={"a": 1, "b": [1.5, True]}))["cdr_id"] == '{"a":1,"b":[1.5,true]}'
    assert rated(catalog, voice(cdr_id=1e30))["cdr_id"] == "1.0E30"
    # Unpaired surrogate escapes become "?" per unit; a valid pair is its one character.
    assert rated(catalog, voice(cdr_id="\ud800x"))["cdr_id"] == "?x"
    assert rated(catalog, voice(cdr_id="\udc00\ud800"))["cdr_id"] == "??"
    assert rated(catalog, voice(cdr_id="\ud83d\ude00"))["cdr_id"] == "\U0001f600"
    assert rejected(catalog, b'{"cdr_id":"\\ud800x"}')["cdr_id"] == "?x"
    # Whatever follows the first JSON value is ignored.
    assert rated(catalog, json.dumps(voice()) + "} trailing {broken")["cdr_id"] == "c-1"


def test_duplicate_keys_last_wins(catalog: Catalog) -> None:
    text = json.dumps(voice())[:-1] + ', "duration_sec": 120}'
    assert rated(catalog, text)["duration_sec"] == 120


FIELDS = [
    "cdr_id",
    "record_type",
    "event_time",
    "timestamp",
    "msisdn",
    "other_party",
    "direction",
    "duration_sec",
    "bytes_up",
    "bytes_down",
    "caller_id",
    "callee_id",
    "user_id",
    "data_volume_mb",
    "session_duration_sec",
    "visited_country",
    "cell_id",
]
VALUES = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(10**20), max_value=10**20),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(max_size=20),
    st.sampled_from(["voice", "sms", "data", "MO", "MT", SUB, "2026-11-02T10:00:00Z", "FR", "60", "1e999"]),
    st.lists(st.integers(), max_size=3),
)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(records=st.lists(st.dictionaries(st.sampled_from(FIELDS), VALUES), max_size=5), noise=st.binary(max_size=60))
def test_never_raises_and_accounts_for_every_record(
    catalog: Catalog, records: list[dict[str, Any]], noise: bytes
) -> None:
    payloads = [json.dumps(r).encode() for r in records] + [noise, noise[: len(noise) // 2]]
    result = mediate_and_rate(payloads, catalog, SUBSCRIBERS, NOW)
    assert len(result.rated) + len(result.rejected) + result.duplicates == len(payloads)
    for cdr in result.rated:
        assert list(cdr) == RATED_KEYS
        json.dumps(cdr).encode("utf-8")
    for rejection in result.rejected:
        assert rejection["reason"] in {str(r) for r in Reason}
        json.dumps(rejection, ensure_ascii=False).encode("utf-8")


# -- the legacy seed sample ------------------------------------------------------------------------


@pytest.fixture(scope="module")
def seed_lines() -> list[bytes]:
    return split_records(LEGACY_SAMPLE.read_bytes())


def seed_subscribers(lines: list[bytes]) -> list[Subscriber]:
    numbers = set()
    for line in lines:
        record = json.loads(line)
        for key in ("caller_id", "sender_id", "user_id"):
            value = record.get(key)
            if isinstance(value, str) and value.isdigit():
                numbers.add(value)
    return [Subscriber(n, "Seed", "Al Hoceima", "TEST", date(2025, 1, 1)) for n in sorted(numbers)]


def test_seed_sample_accounts_for_every_record(catalog: Catalog, seed_lines: list[bytes]) -> None:
    assert len(seed_lines) == 10_283
    now = datetime(2025, 4, 22, tzinfo=UTC)
    result = mediate_and_rate(seed_lines, catalog, seed_subscribers(seed_lines), now)
    assert len(result.rated) + len(result.rejected) + result.duplicates == len(seed_lines)
    reasons = Counter(r["reason"] for r in result.rejected)
    assert set(reasons) == {
        "MISSING_FIELD",
        "INVALID_MSISDN",
        "NON_POSITIVE_USAGE",
        "USAGE_OUT_OF_RANGE",
    }
    assert reasons["INVALID_MSISDN"] == sum(b"invalid_phone" in line for line in seed_lines)
    # Exact repeats of an accepted line are the duplicates (the legacy id is content-derived).
    rejected_offsets = {r["source"]["offset"] for r in result.rejected}
    first_seen: dict[bytes, int] = {}
    expected_duplicates = 0
    for offset, line in enumerate(seed_lines):
        if line in first_seen and first_seen[line] not in rejected_offsets:
            expected_duplicates += 1
        first_seen.setdefault(line, offset)
    assert result.duplicates == expected_duplicates > 0
    assert {c["source_format"] for c in result.rated} == {"legacy"}
    first = result.rated[0]
    # "L" + sha256("data|2025-04-20T22:00:09.000000Z|212662663966||524|7633633|BNIBOUFRAH_02|3G")[:31]
    assert first["cdr_id"] == "L83510a927f2e3085dbd8b09a18a94de"
    assert (first["band"], first["zone"]) == ("weekend", "home")  # Sunday 23:00 local (+01:00)


def test_seed_numeric_strings_are_numbers(catalog: Catalog, seed_lines: list[bytes]) -> None:
    quoted = [line for line in seed_lines if b'"duration_sec": "' in line][:5]
    assert quoted
    result = mediate_and_rate(quoted, catalog, seed_subscribers(seed_lines), datetime(2025, 4, 22, tzinfo=UTC))
    for line, cdr in zip(quoted, result.rated, strict=True):
        assert cdr["duration_sec"] == int(json.loads(line)["duration_sec"])
