"""The traffic file: what names catalog entries comes from data, checked against the catalog, with
catalog-derived defaults for what it leaves out and one clear line for every mistake."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from telecom_billing.cli import main
from telecom_billing.generator import (
    CdrGenerator,
    GeneratorOptions,
    TrafficError,
    default_traffic,
    load_traffic,
)
from telecom_billing.generator.subscribers import generate_subscribers
from telecom_billing.generator.traffic import (
    DEFAULT_COUNTRY_WEIGHT,
    DEFAULT_FOREIGN_ZONE_WEIGHT,
    DEFAULT_NATIONAL_ZONE_WEIGHT,
    DEFAULT_PARTIALS,
    DEFAULT_PLAN,
    Partials,
    PlanUse,
)
from telecom_billing.infra.settings import load_settings
from telecom_billing.refdata.catalog import Catalog, load_catalog
from telecom_billing.refdata.subscribers import load_subscribers

CATALOG_DIR = load_settings().catalog_dir

# A catalog whose names the code has never seen.
OTHER_CATALOG = """
catalog_version: "x1"
currency: EUR
timezone: Europe/Paris
home_country_code: "33"
home_country: FR
tax_rate: "0.20"
rounding_decimals: 4
time_bands: [{name: all}]
zones:
  abroad: ["4"]
  fixe: ["331", "332"]
  mobile: ["336", "337"]
  monde: [""]
roaming_zones:
  voyage: ["ES", "*"]
plans:
  - {id: ESSENTIEL, monthly_fee: "5.00", rates: [{service: voice, zone: "*", band: "*", price: "0.10", per: 60,
                                                  increments: [1, 1]}]}
  - {id: ILLIMITE, monthly_fee: "20.00", rates: [{service: sms, zone: "*", band: "*", price: "0.10", per: 1,
                                                  increments: [1, 1]}]}
"""


@pytest.fixture(scope="module")
def catalog() -> Catalog:
    return load_catalog(CATALOG_DIR)


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    """A catalog folder holding a copy of the default catalog and no traffic file."""
    shutil.copy(CATALOG_DIR / "catalog.yaml", tmp_path / "catalog.yaml")
    return tmp_path


def test_the_shipped_file_weighs_every_plan_zone_and_country(catalog: Catalog) -> None:
    traffic = load_traffic(CATALOG_DIR, catalog)
    assert list(traffic.plans) == list(catalog.plans) and list(traffic.zones) == list(catalog.zones)
    assert traffic.plans["SMART_99"] == PlanUse(share=0.38, activity=1.0)
    assert traffic.zones["national_mobile"] == 0.70
    assert traffic.subscriber_prefixes == catalog.zones["national_mobile"]
    assert traffic.countries["FR"] == 12.0 and catalog.home_country not in traffic.countries
    assert traffic.partials == Partials(split_after=1800, split_bytes=100 * 1024**2, share=0.02)
    assert load_traffic(CATALOG_DIR / "catalog.yaml", catalog) == traffic  # the catalog file or its folder


def test_without_a_file_the_defaults_come_from_the_catalog(folder: Path, catalog: Catalog) -> None:
    traffic = load_traffic(folder, catalog)
    assert traffic == default_traffic(catalog)
    assert set(traffic.plans.values()) == {DEFAULT_PLAN}
    assert traffic.subscriber_prefixes == catalog.zones["national_mobile"]  # the first national zone
    assert traffic.zones["national_fixed"] == DEFAULT_NATIONAL_ZONE_WEIGHT
    assert traffic.zones["europe"] == traffic.zones["rest_of_world"] == DEFAULT_FOREIGN_ZONE_WEIGHT
    assert set(traffic.countries.values()) == {DEFAULT_COUNTRY_WEIGHT}
    assert traffic.partials == DEFAULT_PARTIALS


def test_the_file_names_some_entries_and_the_rest_default(folder: Path, catalog: Catalog) -> None:
    (folder / "traffic.yaml").write_text("subscriber_zone: national_fixed\nplans: {PAYG: {activity: 3}}\n"
                                         "zones: {gulf: 5}\npartials: {share: 0}\n", encoding="utf-8")
    traffic = load_traffic(folder, catalog)
    assert traffic.subscriber_prefixes == catalog.zones["national_fixed"]
    assert traffic.plans["PAYG"] == PlanUse(share=DEFAULT_PLAN.share, activity=3.0)
    assert traffic.plans["MAX_199"] == DEFAULT_PLAN
    assert traffic.zones["gulf"] == 5.0 and traffic.zones["europe"] == DEFAULT_FOREIGN_ZONE_WEIGHT
    assert traffic.activity("NOT_IN_THE_CATALOG") == DEFAULT_PLAN.activity
    assert traffic.partials == Partials(DEFAULT_PARTIALS.split_after, DEFAULT_PARTIALS.split_bytes, share=0.0)


def test_an_empty_file_means_every_default(folder: Path, catalog: Catalog) -> None:
    (folder / "traffic.yaml").write_text("# nothing to say\n", encoding="utf-8")
    assert load_traffic(folder, catalog) == default_traffic(catalog)


def test_any_catalog_works_without_naming_it_in_code(tmp_path: Path) -> None:
    (tmp_path / "catalog.yaml").write_text(OTHER_CATALOG, encoding="utf-8")
    catalog = load_catalog(tmp_path)
    traffic = load_traffic(tmp_path, catalog)
    assert traffic.subscriber_prefixes == ("331", "332")  # the first zone of national prefixes
    assert traffic.zones["mobile"] == DEFAULT_NATIONAL_ZONE_WEIGHT and traffic.zones["abroad"] < traffic.zones["mobile"]
    assert "ES" in traffic.countries and "US" in traffic.countries and "FR" not in traffic.countries
    base = generate_subscribers(catalog, 50, traffic=traffic)
    assert {s.plan_id for s in base} == {"ESSENTIEL", "ILLIMITE"} and all(s.msisdn.startswith("33") for s in base)
    lines = [line for batch in CdrGenerator(catalog, base, GeneratorOptions(count=200), traffic=traffic).batches()
             for line in batch.lines]
    assert len(lines) == 200


@pytest.mark.parametrize(("text", "problem"), [
    ("- a list\n", "top level: must be a mapping, got ['a list']"),
    ("colour: red\n", "top level: unknown key 'colour' (expected subscriber_zone, plans, zones, visited_countries, "
                     "partials)"),
    ("plans: [PAYG]\n", "plans: must be a mapping, got ['PAYG']"),
    ("plans: {GOLD: {share: 1}}\n", "plans.GOLD: not a plan of the catalog (PAYG, SMART_99, MAX_199, BUSINESS_349)"),
    ("plans: {PAYG: 0.3}\n", "plans.PAYG: must be a mapping, got 0.3"),
    ("plans: {PAYG: {weight: 1}}\n", "plans.PAYG: unknown key 'weight' (expected share, activity)"),
    ("plans: {PAYG: {share: 0}}\n", "plans.PAYG.share: must be a positive number, got 0"),
    ("plans: {PAYG: {activity: yes}}\n", "plans.PAYG.activity: must be a positive number, got True"),
    ("zones: {europe: .inf}\n", "zones.europe: must be a positive number, got inf"),
    ("zones: {europe: '0.1'}\n", "zones.europe: must be a positive number, got '0.1'"),
    ("zones: {home: 1}\n", "zones.home: not a prefix zone of the catalog"),
    ("subscriber_zone: europe\n", "subscriber_zone: must be a national zone of the catalog (prefixes starting with "
                                  "212: national_mobile, national_fixed), got 'europe'"),
    ("visited_countries: {MA: 2}\n", "visited_countries.MA: not a country its roaming zones let travellers visit"),
    ("plans: {PAYG: {share: 1}\nzones: x\n", "line 2: "),
    ("partials: 1800\n", "partials: must be a mapping, got 1800"),
    ("partials:\n", "partials: must be a mapping, got None"),
    ("partials: {split_every: 60}\n", "partials: unknown key 'split_every' (expected split_after, split_bytes, share)"),
    ("partials: {split_after: 59}\n", "partials.split_after: must be a whole number of seconds from 60 to 14399, got 59"),
    ("partials: {split_after: 14400}\n", "partials.split_after: must be a whole number of seconds from 60 to 14399, "
                                         "got 14400"),
    ("partials: {split_after: 1800.0}\n", "partials.split_after: must be a whole number of seconds from 60 to 14399, "
                                          "got 1800.0"),
    ("partials: {split_after: yes}\n", "partials.split_after: must be a whole number of seconds from 60 to 14399, "
                                       "got True"),
    ("partials: {split_bytes: 1000}\n", "partials.split_bytes: must be a whole number of bytes from 1048576 to "
                                        "107374182400, got 1000"),
    ("partials: {split_bytes: '100 MiB'}\n", "partials.split_bytes: must be a whole number of bytes from 1048576 to "
                                             "107374182400, got '100 MiB'"),
    ("partials: {share: 1}\n", "partials.share: must be a number from 0 to below 1, got 1"),
    ("partials: {share: -0.01}\n", "partials.share: must be a number from 0 to below 1, got -0.01"),
    ("partials: {share: .nan}\n", "partials.share: must be a number from 0 to below 1, got nan"),
    ("partials: {share: 5%}\n", "partials.share: must be a number from 0 to below 1, got '5%'"),
])
def test_a_bad_file_is_one_line_naming_the_file_and_the_entry(
        folder: Path, catalog: Catalog, text: str, problem: str) -> None:
    path = folder / "traffic.yaml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(TrafficError) as caught:
        load_traffic(folder, catalog)
    message = str(caught.value)
    assert message.startswith(f"{path}: {problem}") and "\n" not in message


def test_the_cli_reports_a_bad_traffic_file_in_one_line(folder: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (folder / "traffic.yaml").write_text("plans: {GOLD: {share: 1}}\n", encoding="utf-8")
    assert main(["generate", "--catalog", str(folder), "--count", "10", "--quiet"]) == 1
    errors = capsys.readouterr().err.strip().splitlines()
    assert errors == [f"telecom generate: error: {folder / 'traffic.yaml'}: plans.GOLD: not a plan of the catalog "
                      "(PAYG, SMART_99, MAX_199, BUSINESS_349)"]


def test_the_cli_uses_the_traffic_beside_the_catalog(folder: Path, tmp_path: Path) -> None:
    out = tmp_path / "base.csv"
    (folder / "traffic.yaml").write_text("plans: {PAYG: {share: 1000}}\n", encoding="utf-8")
    assert main(["generate", "--subscribers-only", "--subscribers", "200", "--catalog", str(folder),
                 "--out", str(out), "--quiet"]) == 0
    plans = [s.plan_id for s in load_subscribers(out)]
    assert plans.count("PAYG") > 0.9 * len(plans)
