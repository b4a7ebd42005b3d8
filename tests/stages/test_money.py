"""The exact money engine (`telecom_billing.money`) against Python's Decimal, on both of its paths."""

from __future__ import annotations

import random
from decimal import Decimal
from typing import Any

import pytest

from telecom_billing import money

DECIMALS = (0, 2, 4, 6, 10)


def _cases(seed: int, count: int) -> list[tuple[Decimal, int, Decimal, int]]:
    rng = random.Random(seed)

    def amount() -> Decimal:
        digits = rng.choice((1, 2, 3, 9))
        return Decimal(rng.randrange(0, 10**digits * money.MICROS)) / money.MICROS

    cases = [
        (Decimal("0.25"), 61, Decimal("0.60"), 60, ),              # ordinary voice
        (Decimal("0"), 107_374_182_400 + 10_239, Decimal("50.00"), 1_048_576),  # 100 GiB roaming data
        (Decimal("0"), 1, Decimal("0.000001"), 2),                 # an exact tie at 6+ places
        (Decimal("999999999.999999"), 10**12, Decimal("999999999.999999"), 1),  # beyond longs
        (Decimal("0"), 2**62, Decimal("0.000001"), 10**12),
        (Decimal("0"), 0, Decimal("5"), 7),
    ]
    for _ in range(count):
        per = rng.choice((1, 2, 3, 7, 60, 1024, 1_048_576, 10**9, 10**12, rng.randrange(1, 10**6)))
        units = rng.choice((0, 1, per, per + 1, rng.randrange(0, 10**6), rng.randrange(0, 2**40),
                            rng.randrange(0, 2**62)))
        cases.append((amount(), units, amount(), per))
    return cases


@pytest.mark.parametrize("decimals", DECIMALS)
def test_charge_units_is_exact_on_both_paths(spark: Any, decimals: int) -> None:
    from pyspark.sql import functions as F

    cases = _cases(decimals, 300)
    rows = [(i, money.micros(fee), units, money.micros(price), per) for i, (fee, units, price, per) in enumerate(cases)]
    df = spark.createDataFrame(rows, "i int, fee long, units long, price long, per long")
    terms = money.Terms(F.col("fee"), F.col("units"), F.col("price"), F.col("per"))
    got = {r["i"]: r["u"] for r in df.select("i", money.charge_units(terms, decimals).alias("u")).collect()}
    longs = [i for i, (fee, units, price, per) in enumerate(cases)
             if money.fits_in_longs(money.micros(fee), units, money.micros(price), per, decimals)]
    only_longs = df.where(F.col("i").isin(longs)).select(
        "i", money.charge_units(terms, decimals, always_fits=True).alias("u"),
        money.units_text(money.charge_units(terms, decimals, always_fits=True), decimals).alias("text"))
    fast = {r["i"]: (r["u"], r["text"]) for r in only_longs.collect()}
    assert 0 < len(longs) < len(cases)  # both paths are exercised
    for i, (fee, units, price, per) in enumerate(cases):
        expected = money.charge(fee, units, price, per, decimals)
        scaled = int(money.plain(expected, decimals).replace(".", ""))
        if got[i] is not None:  # beyond decimal(38,0): no such amount is ever billed
            assert int(got[i]) == scaled, (fee, units, price, per, decimals)
        if i in fast:
            assert fast[i] == (scaled, money.plain(expected, decimals)), (fee, units, price, per, decimals)


def test_units_decimal_keeps_every_digit(spark: Any) -> None:
    from pyspark.sql import functions as F

    df = spark.createDataFrame([(123456789012345,), (5,)], "u long")
    values = [r[0] for r in df.select(money.units_decimal(F.col("u"), 4, 20)).collect()]
    assert values == [Decimal("12345678901.2345"), Decimal("0.0005")]


def test_python_helpers() -> None:
    assert money.catalog_text(Decimal("0.6")) == "0.60"
    assert money.catalog_text(Decimal("0.125")) == "0.125"
    assert money.catalog_text(Decimal("1")) == "1.00"
    assert money.ratio_text(Decimal("0.60"), 60, 10) == "0.0100000000"
    assert money.micros(Decimal("1.000001")) == 1_000_001
    with pytest.raises(ValueError):
        money.micros(Decimal("0.0000001"))
