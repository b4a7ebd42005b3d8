"""The catalog and subscriber loaders: typed objects, and one clear line for every kind of mistake."""

from __future__ import annotations

import copy
from collections.abc import Callable
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
import yaml

from telecom_billing.contracts.records import SERVICES
from telecom_billing.errors import TelecomError
from telecom_billing.refdata.catalog import ANY, Cap, Catalog, CatalogError, load_catalog
from telecom_billing.refdata.subscribers import (
    Subscriber,
    SubscriberError,
    load_subscribers,
    write_subscribers,
)

REPO = Path(__file__).resolve().parents[2]
DEFAULT_CATALOG = REPO / "data" / "catalog"


def minimal() -> dict[str, Any]:
    return {
        "catalog_version": "t1",
        "currency": "MAD",
        "timezone": "Africa/Casablanca",
        "home_country_code": "212",
        "home_country": "MA",
        "tax_rate": "0.20",
        "rounding_decimals": 4,
        "time_bands": [
            {"name": "peak", "days": ["mon", "tue", "wed", "thu", "fri"], "start": "08:00", "end": "20:00"},
            {"name": "offpeak"},
        ],
        "zones": {"national_mobile": ["2126", "2127"], "rest_of_world": [""]},
        "roaming_zones": {"roam_europe": ["FR"], "roam_world": ["*"]},
        "plans": [
            {
                "id": "P",
                "monthly_fee": "99.00",
                "rates": [
                    {
                        "service": "voice",
                        "zone": "national_mobile",
                        "band": "peak",
                        "price": "0.60",
                        "per": 60,
                        "increments": [60, 60],
                        "connect_fee": "0.10",
                    },
                    {"service": "sms", "zone": "*", "band": "*", "price": "0.25", "per": 1, "increments": [1, 1]},
                ],
                "allowances": [{"name": "m", "service": "voice", "zones": ["national_mobile"], "quantity": 100}],
            }
        ],
    }


def write(tmp_path: Path, document: Any) -> Path:
    path = tmp_path / "catalog.yaml"
    path.write_text(yaml.safe_dump(document, sort_keys=False), encoding="utf-8")
    return path


def load_with(tmp_path: Path, change: Callable[[dict[str, Any]], None]) -> Catalog:
    document = minimal()
    change(document)
    return load_catalog(write(tmp_path, document))


def rate0(d: dict[str, Any]) -> dict[str, Any]:
    return d["plans"][0]["rates"][0]


def band(d: dict[str, Any], i: int) -> dict[str, Any]:
    return d["time_bands"][i]


# -- the default catalog --------------------------------------------------------------------------


def test_default_catalog_loads_with_the_contract_values() -> None:
    catalog = load_catalog(DEFAULT_CATALOG)
    assert catalog.version == "2026.11"
    assert (catalog.currency, catalog.timezone) == ("MAD", "Africa/Casablanca")
    assert (catalog.home_country_code, catalog.home_country) == ("212", "MA")
    assert catalog.tax_rate == Decimal("0.20") and catalog.rounding_decimals == 4
    assert set(catalog.plans) == {"PAYG", "SMART_99", "MAX_199", "BUSINESS_349"}
    assert catalog.plans["PAYG"].monthly_fee == Decimal("0.00")
    assert catalog.plans["SMART_99"].monthly_fee == Decimal("99.00")
    assert [b.name for b in catalog.time_bands][-1] == "offpeak"
    assert catalog.zones["national_mobile"] == ("2126", "2127")
    assert catalog.zones["rest_of_world"] == ("",)
    assert "*" in catalog.roaming_zones["roam_world"]
    assert catalog.zone_names()[-2:] == ("home", "incoming")


def _pick(catalog: Catalog, plan_id: str, service: str, zone: str, band_name: str) -> Any:
    rates = {(r.service, r.zone, r.band): r for r in catalog.plans[plan_id].rates}
    for key in ((service, zone, band_name), (service, zone, ANY), (service, ANY, band_name), (service, ANY, ANY)):
        if key in rates:
            return rates[key]
    return None


def test_default_catalog_rates_every_service_zone_and_band_in_every_plan() -> None:
    catalog = load_catalog(DEFAULT_CATALOG)
    missing = [
        (plan_id, service, zone, b.name)
        for plan_id in catalog.plans
        for service in SERVICES
        for zone in catalog.zone_names()
        for b in catalog.time_bands
        if _pick(catalog, plan_id, service, zone, b.name) is None
    ]
    assert missing == []


def test_default_catalog_prices_incoming_national_free_and_incoming_roaming_not() -> None:
    catalog = load_catalog(DEFAULT_CATALOG)
    for plan_id in catalog.plans:
        for service in ("voice", "sms"):
            assert _pick(catalog, plan_id, service, "incoming", "peak").price == 0
            assert _pick(catalog, plan_id, service, "roam_europe", "peak").price > 0
    assert {(r.first_increment, r.next_increment) for r in catalog.plans["PAYG"].rates if r.service == "voice"} == {
        (60, 60)
    }
    assert {
        (r.first_increment, r.next_increment) for r in catalog.plans["BUSINESS_349"].rates if r.service == "voice"
    } == {(1, 1)}


def test_typed_objects(tmp_path: Path) -> None:
    catalog = load_catalog(write(tmp_path, minimal()))
    peak, offpeak = catalog.time_bands
    assert peak.days == frozenset({0, 1, 2, 3, 4}) and (peak.start_minute, peak.end_minute) == (480, 1200)
    assert offpeak.days is None and (offpeak.start_minute, offpeak.end_minute) == (0, 1440)
    voice, sms = catalog.plans["P"].rates
    assert voice.price == Decimal("0.60") and isinstance(voice.price, Decimal)
    assert (voice.per, voice.first_increment, voice.next_increment) == (60, 60, 60)
    assert voice.connect_fee == Decimal("0.10")
    assert sms.connect_fee == Decimal("0.00")  # optional, defaults to zero
    (allowance,) = catalog.plans["P"].allowances
    assert (allowance.name, allowance.zones, allowance.quantity) == ("m", ("national_mobile",), 100)
    assert catalog.zone_names() == (
        "national_mobile",
        "rest_of_world",
        "roam_europe",
        "roam_world",
        "home",
        "incoming",
    )


def test_directory_or_file(tmp_path: Path) -> None:
    write(tmp_path, minimal())
    assert load_catalog(tmp_path) == load_catalog(tmp_path / "catalog.yaml")


def test_end_of_day_band_and_plan_without_allowances(tmp_path: Path) -> None:
    def change(d: dict[str, Any]) -> None:
        d["time_bands"].insert(1, {"name": "late", "start": "22:00", "end": "24:00"})
        del d["plans"][0]["allowances"]

    catalog = load_with(tmp_path, change)
    assert catalog.time_bands[1].end_minute == 1440
    assert catalog.plans["P"].allowances == ()


# -- every validation error -----------------------------------------------------------------------

ERRORS: list[tuple[str, Callable[[dict[str, Any]], None], str]] = [
    ("missing top key", lambda d: d.pop("currency"), "top level: missing key 'currency'"),
    ("unknown top key", lambda d: d.update(colour="red"), "unknown key 'colour'"),
    ("version not a string", lambda d: d.update(catalog_version=2026.11), "catalog_version"),
    ("bad timezone", lambda d: d.update(timezone="Mars/Olympus"), "unknown IANA time zone"),
    ("bad home country code", lambda d: d.update(home_country_code=212), "home_country_code"),
    ("bad home country", lambda d: d.update(home_country="Morocco"), "home_country"),
    ("tax as YAML float", lambda d: d.update(tax_rate=0.2), "tax_rate: must be a decimal string"),
    ("tax above one", lambda d: d.update(tax_rate="1.5"), "tax_rate: must be between 0 and 1"),
    ("rounding not int", lambda d: d.update(rounding_decimals="4"), "rounding_decimals"),
    ("price as YAML float", lambda d: rate0(d).update(price=0.6), "money is never a float"),
    ("price as YAML int", lambda d: rate0(d).update(price=1), "rates[0].price: must be a decimal string"),
    ("malformed price", lambda d: rate0(d).update(price="0,60"), "rates[0].price"),
    ("negative price", lambda d: rate0(d).update(price="-0.60"), "rates[0].price"),
    ("malformed connect fee", lambda d: rate0(d).update(connect_fee="free"), "rates[0].connect_fee"),
    ("malformed monthly fee", lambda d: d["plans"][0].update(monthly_fee=99.0), "plans[P].monthly_fee"),
    ("zero per", lambda d: rate0(d).update(per=0), "rates[0].per: must be a positive integer"),
    ("negative per", lambda d: rate0(d).update(per=-60), "rates[0].per"),
    ("huge per", lambda d: rate0(d).update(per=10**12 + 1), "rates[0].per: must be at most 1000000000000"),
    ("huge increment", lambda d: rate0(d).update(increments=[1, 10**13]), "rates[0].increments"),
    ("one increment", lambda d: rate0(d).update(increments=[60]), "rates[0].increments"),
    ("zero increment", lambda d: rate0(d).update(increments=[60, 0]), "rates[0].increments"),
    ("fractional increment", lambda d: rate0(d).update(increments=[60, 1.5]), "rates[0].increments"),
    ("unknown service", lambda d: rate0(d).update(service="mms"), "unknown service 'mms'"),
    ("star service", lambda d: rate0(d).update(service="*"), "unknown service '*'"),
    ("unknown rate zone", lambda d: rate0(d).update(zone="mars"), "rates[0].zone: unknown zone 'mars'"),
    ("unknown rate band", lambda d: rate0(d).update(band="night"), "rates[0].band: unknown band 'night'"),
    (
        "unknown allowance zone",
        lambda d: d["plans"][0]["allowances"][0].update(zones=["mars"]),
        "allowances[m].zones: unknown zone 'mars'",
    ),
    (
        "allowance quantity",
        lambda d: d["plans"][0]["allowances"][0].update(quantity=0),
        "allowances[m].quantity",
    ),
    (
        "allowance service",
        lambda d: d["plans"][0]["allowances"][0].update(service="fax"),
        "unknown service 'fax'",
    ),
    (
        "duplicate allowance",
        lambda d: d["plans"][0]["allowances"].append(copy.deepcopy(d["plans"][0]["allowances"][0])),
        "duplicate allowance name",
    ),
    ("plan without rates", lambda d: d["plans"][0].update(rates=[]), "plans[P].rates: a plan needs at least one rate"),
    ("plan rates missing", lambda d: d["plans"][0].pop("rates"), "plans[0]: missing key 'rates'"),
    ("duplicate plan", lambda d: d["plans"].append(copy.deepcopy(d["plans"][0])), "plans[P]: duplicate plan id"),
    (
        "duplicate rate",
        lambda d: d["plans"][0]["rates"].append(copy.deepcopy(rate0(d))),
        "a second rate for voice/national_mobile/peak",
    ),
    ("unknown rate key", lambda d: rate0(d).update(connectfee="0.10"), "unknown key 'connectfee'"),
    ("unknown day", lambda d: band(d, 0).update(days=["monday"]), "unknown day 'monday'"),
    ("day twice", lambda d: band(d, 0).update(days=["mon", "mon"]), "day 'mon' listed twice"),
    ("empty days", lambda d: band(d, 0).update(days=[]), "must not be empty"),
    ("bad HH:MM", lambda d: band(d, 0).update(start="8h00"), 'time_bands[peak].start: must be a quoted "HH:MM"'),
    ("hour 25", lambda d: band(d, 0).update(end="25:00"), "time_bands[peak].end: must be between"),
    ("24:00 as start", lambda d: band(d, 0).update(start="24:00"), "time_bands[peak].start: must be between"),
    ("unquoted time", lambda d: band(d, 0).update(start=480), 'must be a quoted "HH:MM" string'),
    ("start after end", lambda d: band(d, 0).update(start="20:00", end="08:00"), "must be before end"),
    ("start equals end", lambda d: band(d, 0).update(start="08:00", end="08:00"), "must be before end"),
    ("only start", lambda d: band(d, 0).pop("end"), "give both start and end"),
    (
        "shadowed band",
        lambda d: d["time_bands"].insert(
            1, {"name": "lunch", "days": ["mon", "tue"], "start": "12:00", "end": "14:00"}
        ),
        "time_bands[lunch]: can never match",
    ),
    (
        "band after an every-day band",
        lambda d: d["time_bands"].insert(1, {"name": "all"}),
        "time_bands[offpeak]: can never match",
    ),
    ("missing default band", lambda d: d["time_bands"].pop(), "the last band must be the default band"),
    (
        "last band with days",
        lambda d: d["time_bands"].__setitem__(1, {"name": "weekend", "days": ["sat", "sun"]}),
        "the last band must be the default band",
    ),
    ("duplicate band", lambda d: band(d, 1).update(name="peak"), "duplicate band name"),
    ("no bands", lambda d: d.update(time_bands=[]), "time_bands: must list at least the default band"),
    (
        "duplicate prefix",
        lambda d: d["zones"].update(fixed=["2126"]),
        "zones.fixed: prefix '2126' is already in zone national_mobile",
    ),
    ("non-digit prefix", lambda d: d["zones"].update(fixed=["+33"]), "zones.fixed: prefixes must be quoted digit"),
    ("numeric prefix", lambda d: d["zones"].update(fixed=[33]), "zones.fixed: prefixes must be quoted digit"),
    ("reserved zone name", lambda d: d["zones"].update(home=["2125"]), "zone name 'home' is reserved"),
    (
        "zone name twice",
        lambda d: d["roaming_zones"].update(national_mobile=["ES"]),
        "zone name 'national_mobile' is used twice",
    ),
    (
        "country twice",
        lambda d: d["roaming_zones"].update(roam_other=["FR"]),
        "country 'FR' is already in zone roam_europe",
    ),
    ("bad country", lambda d: d["roaming_zones"].update(roam_other=["fra"]), "countries must be quoted ISO codes"),
    (
        "YAML 1.1 boolean country (unquoted NO)",
        lambda d: d["roaming_zones"].update(roam_other=[False]),
        "got the boolean False",
    ),
    ("empty zone", lambda d: d["zones"].update(fixed=[]), "zones.fixed: has no prefixes"),
    ("negative grace days", lambda d: d.update(grace_days=-1), "grace_days: must be an integer from 0 to 366"),
    ("grace days as text", lambda d: d.update(grace_days="3"), "grace_days: must be an integer from 0 to 366"),
    # usage alerts (DESIGN.md 7d, BILLING.md section 12)
    ("thresholds not a mapping", lambda d: d["plans"][0].update(thresholds=[80]), "plans[P].thresholds: must be a mapping"),
    ("unknown threshold key", lambda d: d["plans"][0].update(thresholds={"roaming_cap": {}}), "unknown key 'roaming_cap'"),
    ("percent zero", lambda d: d["plans"][0].update(thresholds={"allowance_alerts": [0, 100]}),
     "plans[P].thresholds.allowance_alerts: percentages must be whole numbers from 1 to 1000, got the YAML number 0"),
    ("percent as text", lambda d: d["plans"][0].update(thresholds={"allowance_alerts": ["80%"]}),
     "whole numbers from 1 to 1000, got '80%'"),
    ("percent as float", lambda d: d["plans"][0].update(thresholds={"allowance_alerts": [80.5]}),
     "got the YAML number 80.5"),
    ("percent twice", lambda d: d["plans"][0].update(thresholds={"allowance_alerts": [80, 80]}),
     "a percentage is listed twice"),
    ("cap as float", lambda d: d["plans"][0].update(thresholds={"spending_cap": {"amount": 300.0}}),
     "plans[P].thresholds.spending_cap.amount: must be a decimal string"),
    ("cap zero", lambda d: d["plans"][0].update(thresholds={"spending_cap": {"amount": "0.00"}}),
     "spending_cap.amount: must be above zero"),
    ("cap without amount", lambda d: d["plans"][0].update(thresholds={"spending_cap": {"alerts": [80]}}),
     "spending_cap: missing key 'amount'"),
    ("roaming cap percent", lambda d: d.update(roaming_data_cap={"amount": "500.00", "alerts": [1001]}),
     "roaming_data_cap.alerts: percentages must be whole numbers from 1 to 1000, got the YAML number 1001"),
    ("roaming cap not a mapping", lambda d: d.update(roaming_data_cap="500.00"), "roaming_data_cap: must be a mapping"),
]


def test_alert_thresholds_default_to_80_and_100_percent(tmp_path: Path) -> None:
    """DESIGN.md 7d: `allowance_alerts` is [80, 100] unless said; no cap unless said; a cap's alerts
    default to [80, 100]; an empty list alerts nothing."""
    plain = load_with(tmp_path, lambda d: None)
    plan = next(iter(plain.plans.values()))
    assert (plan.allowance_alerts, plan.spending_cap, plain.roaming_data_cap) == ((80, 100), None, None)
    capped = load_with(tmp_path, lambda d: (d["plans"][0].update(thresholds={
        "allowance_alerts": [], "spending_cap": {"amount": "300.00"}}), d.update(roaming_data_cap={
            "amount": "500.5", "alerts": [100, 50]})))
    plan = next(iter(capped.plans.values()))
    assert (plan.allowance_alerts, plan.spending_cap) == ((), Cap(Decimal("300.00"), (80, 100)))
    assert capped.roaming_data_cap == Cap(Decimal("500.5"), (50, 100))


@pytest.mark.parametrize(("change", "expected"), [(c, e) for _, c, e in ERRORS], ids=[n for n, _, _ in ERRORS])
def test_invalid_catalog_is_refused_with_one_line_naming_file_and_entry(
    tmp_path: Path, change: Callable[[dict[str, Any]], None], expected: str
) -> None:
    with pytest.raises(CatalogError) as caught:
        load_with(tmp_path, change)
    message = str(caught.value)
    assert expected in message
    assert message.startswith(str(tmp_path / "catalog.yaml") + ": ")
    assert "\n" not in message
    assert isinstance(caught.value, TelecomError)


def test_missing_file_and_bad_yaml(tmp_path: Path) -> None:
    with pytest.raises(CatalogError, match="catalog file not found"):
        load_catalog(tmp_path)
    (tmp_path / "catalog.yaml").write_text("plans: [\n  {id: x\n", encoding="utf-8")
    with pytest.raises(CatalogError, match=r"catalog\.yaml: line \d+: ") as caught:
        load_catalog(tmp_path)
    assert "\n" not in str(caught.value)
    (tmp_path / "catalog.yaml").write_text("- just a list\n", encoding="utf-8")
    with pytest.raises(CatalogError, match="top level: must be a mapping"):
        load_catalog(tmp_path)


def test_unquoted_yaml_time_is_refused_not_misread(tmp_path: Path) -> None:
    # YAML 1.1 reads an unquoted 20:00 as the sexagesimal integer 1200.
    text = write(tmp_path, minimal()).read_text(encoding="utf-8").replace("'20:00'", "20:00")
    (tmp_path / "catalog.yaml").write_text(text, encoding="utf-8")
    with pytest.raises(
        CatalogError, match=r'time_bands\[peak\]\.end: must be a quoted "HH:MM" string, got the YAML number 1200'
    ):
        load_catalog(tmp_path)


# -- subscribers ----------------------------------------------------------------------------------

HEADER = "msisdn,name,address,plan_id,activation_date,termination_date\n"


def test_subscribers_round_trip(tmp_path: Path) -> None:
    subscribers = [
        Subscriber("212612345678", "Amina El Idrissi", "12, Rue Hassan II, Rabat", "SMART_99", date(2026, 1, 5)),
        Subscriber("212700000001", 'Karim "K" Alaoui', "Casablanca", "PAYG", date(2025, 3, 1), date(2026, 11, 16)),
    ]
    path = tmp_path / "subscribers.csv"
    write_subscribers(path, subscribers)
    text = path.read_bytes().decode("utf-8")
    assert text.startswith(HEADER) and "\r" not in text
    assert text.splitlines()[2].endswith(",PAYG,2025-03-01,2026-11-16")
    assert text.splitlines()[1].endswith(",SMART_99,2026-01-05,")
    assert load_subscribers(path) == subscribers


SUBSCRIBER_ERRORS = [
    ("212612345678,n,a,PAYG,2026-13-01,\n", "line 2: activation_date must be a date YYYY-MM-DD"),
    ("212612345678,n,a,PAYG,01/11/2026,\n", "line 2: activation_date"),
    ("212612345678,n,a,PAYG,2026-11-01,tomorrow\n", "line 2: termination_date"),
    ("212612345678,n,a,PAYG,2026-11-01,2026-11-01\n", "line 2: termination_date 2026-11-01 must be after"),
    ("+212612345678,n,a,PAYG,2026-11-01,\n", "line 2: msisdn must be 8 to 15 E.164 digits"),
    ("0612345678,n,a,PAYG,2026-11-01,\n", "line 2: msisdn"),
    ("212612345678,n,a,,2026-11-01,\n", "line 2: plan_id is empty"),
    ("212612345678,n,a,PAYG,2026-11-01,,extra\n", "line 2: more values than columns"),
    ("212612345678,n,a\n", "line 2: fewer values than columns"),
    (
        "212612345678,n,a,PAYG,2026-01-01,2026-06-01\n212612345678,m,b,PAYG,2026-05-01,\n",
        "msisdn 212612345678 has overlapping active periods",
    ),
    ("212612345678,n,a,PAYG,2026-01-01,\n212612345678,m,b,PAYG,2026-05-01,\n", "overlapping active periods"),
]


@pytest.mark.parametrize(("rows", "expected"), SUBSCRIBER_ERRORS)
def test_bad_subscriber_rows_are_refused_with_file_and_line(tmp_path: Path, rows: str, expected: str) -> None:
    path = tmp_path / "subscribers.csv"
    path.write_text(HEADER + rows, encoding="utf-8")
    with pytest.raises(SubscriberError) as caught:
        load_subscribers(path)
    assert expected in str(caught.value)
    assert str(caught.value).startswith(str(path))
    assert "\n" not in str(caught.value)


def test_recycled_number_without_overlap_and_missing_inputs(tmp_path: Path) -> None:
    path = tmp_path / "subscribers.csv"
    path.write_text(
        HEADER + "212612345678,n,a,PAYG,2026-01-01,2026-06-01\n212612345678,m,b,MAX_199,2026-06-01,\n",
        encoding="utf-8",
    )
    first, second = load_subscribers(path)
    assert (first.plan_id, second.plan_id) == ("PAYG", "MAX_199")
    with pytest.raises(SubscriberError, match="subscriber file not found"):
        load_subscribers(tmp_path / "absent.csv")
    path.write_text("msisdn,name\n", encoding="utf-8")
    with pytest.raises(SubscriberError, match="missing column"):
        load_subscribers(path)
