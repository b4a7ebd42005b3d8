"""The compiled catalog (zones, bands, rate precedence), the charge and the output records."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml
from pyspark.sql import functions as F
from pyspark.testing import assertDataFrameEqual

from telecom_billing.contracts.reasons import PRECEDENCE, Reason
from telecom_billing.mediation.columns import problem
from telecom_billing.outcome import decide
from telecom_billing.output import rated_json, rejected_json
from telecom_billing.rating.rate import find_rate, no_rate_detail, price
from telecom_billing.rating.tariff import Tariff
from telecom_billing.refdata.catalog import Catalog, load_catalog

CATALOG = {
    "catalog_version": "t-1", "currency": "MAD", "timezone": "Africa/Casablanca", "home_country_code": "212",
    "home_country": "MA", "tax_rate": "0.20", "rounding_decimals": 4,
    "time_bands": [{"name": "peak", "days": ["mon", "tue", "wed", "thu", "fri"], "start": "08:00", "end": "20:00"},
                   {"name": "offpeak"}],
    "zones": {"national": ["2126", "2127"], "france": ["33"], "world": [""]},
    "roaming_zones": {"roam_eu": ["FR"], "roam_world": ["*"]},
    "plans": [{"id": "P", "monthly_fee": "10.00", "rates": [
        {"service": "voice", "zone": "national", "band": "peak", "price": "0.60", "per": 60, "increments": [60, 1],
         "connect_fee": "0.10"},
        {"service": "voice", "zone": "*", "band": "*", "price": "2.00", "per": 60, "increments": [60, 60]},
        {"service": "data", "zone": "home", "band": "*", "price": "0.05", "per": 1048576, "increments": [1024, 1024]},
        {"service": "sms", "zone": "roam_eu", "band": "*", "price": "0.333333", "per": 1, "increments": [1, 1]},
    ]}],
}
SCHEMA = ("record_type string, direction string, other_party string, visited_country string, local_weekday int, "
          "local_minute int, plan_id string, plan_index int, quantity bigint")


@pytest.fixture(scope="module")
def tariff(tmp_path_factory: pytest.TempPathFactory) -> Tariff:
    folder = tmp_path_factory.mktemp("catalog")
    (folder / "catalog.yaml").write_text(yaml.safe_dump(CATALOG))
    catalog: Catalog = load_catalog(folder)
    return Tariff(catalog)


def test_zone_band_and_rate_precedence(frame: Any, tariff: Tariff) -> None:
    df = frame(SCHEMA, [
        ("voice", "MO", "212612345678", None, 0, 8 * 60, "P", 0, 61),     # national peak: exact rate
        ("voice", "MO", "212612345678", None, 5, 8 * 60, "P", 0, 61),     # Saturday: offpeak -> "*"/"*"
        ("voice", "MO", "33612345678", None, 0, 600, "P", 0, 1),          # longest prefix 33
        ("voice", "MO", "441234567", None, 0, 600, "P", 0, 1),            # "" prefix: world
        ("voice", "MT", "33612345678", None, 0, 600, "P", 0, 1),          # incoming
        ("sms", "MO", "212612345678", "FR", 0, 600, "P", 0, 1),           # roaming in FR
        ("sms", "MO", "212612345678", "US", 0, 600, "P", 0, 1),           # roam_world: no sms rate
        ("data", None, None, None, 0, 600, "P", 0, 1025),                 # home data
        ("voice", "MO", "212612345678", None, 0, 600, "GHOST", None, 60),  # plan not in catalog
    ])
    rated = find_rate(df, tariff)
    out = rated.select("zone", "band", "roaming", F.col("rate.price").alias("price"), "no_rate",
                       F.when(F.col("no_rate"), no_rate_detail()).alias("words"))
    assertDataFrameEqual(out, [
        ("national", "peak", False, "0.60", False, None),
        ("national", "offpeak", False, "2.00", False, None),
        ("france", "peak", False, "2.00", False, None),
        ("world", "peak", False, "2.00", False, None),
        ("incoming", "peak", False, "2.00", False, None),
        ("roam_eu", "peak", True, "0.333333", False, None),
        ("roam_world", "peak", True, None, True, "no rate in plan P for sms/roam_world/peak"),
        ("home", "peak", False, "0.05", False, None),
        ("national", "peak", False, None, True, "plan GHOST not in catalog t-1"),
    ], checkRowOrder=True)


def test_price_and_output_records(frame: Any, tariff: Tariff) -> None:
    df = frame(SCHEMA, [("voice", "MO", "212612345678", None, 0, 8 * 60, "P", 0, 61),
                        ("sms", "MO", "212612345678", "FR", 0, 600, "P", 0, 1),
                        ("data", None, None, None, 0, 600, "P", 0, 1025)])
    checks = {problem(r): F.lit(False) for r in PRECEDENCE if r != Reason.NO_RATE}
    rated = find_rate(df.withColumns(checks), tariff).transform(decide).transform(price, tariff=tariff)
    out = rated.select("billable_units", "unit_price", "connect_fee", "charge")
    # 0.10 + 61 * 0.60 / 60; 1 * 0.333333 rounds to 4 places; 2048 bytes * 0.05 / 1048576 = 0.0000976...
    assertDataFrameEqual(out, [(61, "0.0100000000", "0.10", "0.7100"), (1, "0.3333330000", "0.00", "0.3333"),
                               (2048, "0.0000000477", "0.00", "0.0001")], checkRowOrder=True)


def test_rated_and_rejected_json(spark: Any, tariff: Tariff) -> None:
    from datetime import UTC, date, datetime

    from telecom_billing.contracts.records import RATED_NAMES, REJECTED_NAMES
    from telecom_billing.pipeline import rate_batch
    from telecom_billing.refdata.subscribers import Subscriber

    voice = {"cdr_id": "c1", "record_type": "voice", "event_time": "2026-10-05T09:00:00Z", "msisdn": "212600000001",
             "other_party": "212612345678", "direction": "MO", "duration_sec": 61}
    payloads = [json.dumps(voice).encode(), json.dumps({**voice, "cdr_id": "c2", "event_time": "2099-01-01T00:00:00Z"})
                .encode(), b"\xff" * 60]
    raw = spark.createDataFrame([(p, "raw", 1, i, None) for i, p in enumerate(payloads)],
                                "value binary, topic string, partition int, offset bigint, timestamp timestamp")
    subscribers = [Subscriber("212600000001", "A", "x", "P", date(2026, 1, 1))]
    outcome = rate_batch(spark, raw, tariff.catalog, subscribers, datetime(2026, 10, 6, tzinfo=UTC)).cache()
    rated = json.loads(outcome.where("outcome = 'rated'").select(rated_json()).first()[0])
    assert list(rated) == list(RATED_NAMES)
    assert (rated["charge"], rated["rated_at"]) == ("0.7100", "2026-10-06T00:00:00.000000Z")
    rejected = [json.loads(r[0]) for r in
                outcome.where("outcome = 'rejected'").orderBy("offset").select(rejected_json()).collect()]
    assert [list(r) for r in rejected] == [list(REJECTED_NAMES)] * 2
    assert (rejected[0]["reason"], rejected[0]["detail"], rejected[0]["cdr_id"]) == (
        "FUTURE_TIMESTAMP", "event_time more than 1 h after processing time", "c2")
    assert rejected[1]["raw"] is None and rejected[1]["raw_base64"] == "/" * 80  # one line, no MIME breaks
    assert rejected[1]["source"] == {"topic": "raw", "partition": 1, "offset": 2}


def test_extreme_prices_take_the_exact_decimal_path(frame: Any, tmp_path: Path) -> None:
    doc = json.loads(json.dumps(CATALOG))
    doc["plans"][0]["rates"][2]["price"] = "999999999.999999"  # data at ~10^9 per MB: beyond 64-bit longs
    (tmp_path / "catalog.yaml").write_text(yaml.safe_dump(doc))
    tariff = Tariff(load_catalog(tmp_path))
    assert not tariff.always_fits
    df = frame(SCHEMA, [("data", None, None, None, 0, 600, "P", 0, 107_374_182_400)])
    checks = {problem(r): F.lit(False) for r in PRECEDENCE if r != Reason.NO_RATE}
    rated = find_rate(df.withColumns(checks), tariff).transform(decide).transform(price, tariff=tariff)
    # 100 GiB = 102400 MB exactly, at 999999999.999999 per MB.
    assert rated.select("charge").first()[0] == "102399999999999.8976"
