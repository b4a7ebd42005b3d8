"""Exact money: one engine for every amount of rating and billing (DESIGN.md sections 6 and 7).

Every amount the project computes has one shape: `fee + units * price / per`, rounded half-up to
`d` places. A CDR's charge is exactly that; a billed CDR is the same with fewer units; a prorated
fee is `monthly_fee * active_days / days_in_period` (`fee = 0`); tax is `subtotal_cents *
tax_rate / 100`. Catalog money has at most 6 decimal places (`MONEY_SCALE`), so prices and fees
are integers of micro-units (µ), and the rounded amount is an integer `U` of 10^-d units:

    N = fee_µ * per + units * price_µ          # the amount is N / Q, Q = per * 10^6
    U = (N div Q) * 10^d + (2 * (N mod Q) * 10^d + Q) div (2 * Q)

Both steps are exact integer operations: the value is never rounded before the one half-up
rounding at the end, so there is no double rounding, whatever `d` (0..10) and `per` (1..10^12).
Spark evaluates it in 64-bit longs where `fits_in_longs` proves no step can overflow, and
otherwise in decimal(38, 0) (Java BigDecimal), with the same steps; `charge_units` decides per
plan (rating: the catalog's rates are known) or per row (billing: a rated CDR carries its terms).
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal, localcontext
from typing import TYPE_CHECKING

from pyspark.sql import functions as F

from .contracts.limits import MONEY_SCALE

if TYPE_CHECKING:
    from pyspark.sql import Column

MICROS = 10**MONEY_SCALE
_LONG = 2**63 - 1
_PRECISION = 80  # digits of Python's Decimal arithmetic here: more than any amount can have


def micros(value: Decimal) -> int:
    """Catalog money (at most 6 places) as an integer of micro-units."""
    scaled = value * MICROS
    if scaled != scaled.to_integral_value():
        raise ValueError(f"{value} has more than {MONEY_SCALE} decimal places")
    return int(scaled)


def micros_column(value: Column) -> Column:
    """`micros` in Spark: a decimal column of at most `MONEY_SCALE` places as a bigint of micro-units."""
    return (value * F.lit(MICROS)).cast("bigint")


def charge(fee: Decimal, units: int, price: Decimal, per: int, decimals: int) -> Decimal:
    """`fee + units * price / per` rounded half-up to `decimals`, in Python (the same value as Spark's)."""
    with localcontext() as ctx:
        ctx.prec = _PRECISION
        exact = fee + Decimal(units) * price / Decimal(per)
        return exact.quantize(Decimal(1).scaleb(-decimals), rounding=ROUND_HALF_UP)


def plain(value: Decimal, places: int) -> str:
    """A decimal written with exactly `places` places (rounded half-up), never an exponent."""
    with localcontext() as ctx:
        ctx.prec = _PRECISION
        return f"{value.quantize(Decimal(1).scaleb(-places), rounding=ROUND_HALF_UP):f}"


def catalog_text(value: Decimal) -> str:
    """A catalog price or fee on a rated CDR: trailing zeros dropped down to 2 places (RULES.md 16)."""
    exponent = value.normalize().as_tuple().exponent
    assert isinstance(exponent, int), f"not a finite price: {value}"
    places = max(2, -exponent)
    return f"{value:.{places}f}"


def ratio_text(value: Decimal, per: int, places: int) -> str:
    """`value / per` rounded half-up to `places`, as plain text (a rated CDR's `unit_price`)."""
    with localcontext() as ctx:
        ctx.prec = _PRECISION
        return plain(value / per, places)


# -- bounds: where 64-bit arithmetic is exact ---------------------------------------------------------------


def _per_limit(decimals: int) -> int:
    """The largest `per` for which `2 * (N mod Q) * 10^d + Q` (< Q * (2 * 10^d + 1)) fits in a long."""
    return _LONG // (MICROS * (2 * 10**decimals + 1))


def _amount_limit(decimals: int) -> int:
    """The largest `N` that fits in a long and whose rounded amount (at most N / 10^6 * 10^d + 10^d)
    does too."""
    return min((_LONG // 10**decimals - 1) * MICROS, _LONG)


def fits_in_longs(fee_micros: int, max_units: int, price_micros: int, per: int, decimals: int) -> bool:
    """True when every step of the engine fits in a signed 64-bit long for these terms and any
    `units <= max_units` (each bound is monotone in the inputs, so the worst case decides)."""
    return (per <= _per_limit(decimals)
            and fee_micros * per + max_units * price_micros <= _amount_limit(decimals))


@dataclass(frozen=True)
class Terms:
    """The columns of one amount: `fee + units * price / per` (non-negative integers, money in µ)."""

    fee_micros: Column
    units: Column
    price_micros: Column
    per: Column


def _steps(t: Terms, decimals: int, kind: str) -> Column:
    """The engine (module docstring) in one integer type: "bigint" or "decimal(38,0)"."""
    def div(x: Column, y: Column) -> Column:
        if kind == "bigint":
            return F.call_function("div", x, y)
        # Every divisor is below 10^19: a decimal(19,0) divisor leaves the quotient 29 integer digits.
        return ((x - x % y) / y.cast("decimal(19,0)")).cast(kind)

    fee, units, price, per = (c.cast(kind) for c in (t.fee_micros, t.units, t.price_micros, t.per))
    scale, two = F.lit(10**decimals).cast(kind), F.lit(2).cast(kind)
    n = fee * per + units * price
    q = per * F.lit(MICROS).cast(kind)
    return (div(n, q) * scale + div(two * (n % q) * scale + q, two * q)).cast(kind)


def charge_units(t: Terms, decimals: int, always_fits: bool = False) -> Column:
    """The amount of `t` rounded half-up to `decimals`, as an integer of 10^-decimals units.

    `always_fits`: the caller proved `fits_in_longs` for every row, and gets a bigint. Otherwise
    each row takes the long path when its own terms fit, else the decimal one (decimal(38,0)).
    """
    if always_fits:
        return _steps(t, decimals, "bigint")
    fee, units, per = t.fee_micros.cast("bigint"), t.units.cast("bigint"), t.per.cast("bigint")
    price = t.price_micros.cast("bigint")
    limit = F.lit(_amount_limit(decimals))
    # `And` short-circuits in generated code: each product is only computed once it cannot overflow.
    fits = ((per <= _per_limit(decimals)) & (fee <= F.call_function("div", limit, per))
            & (units <= F.call_function("div", limit - fee * per, F.greatest(price, F.lit(1)))))
    return F.when(fits, _steps(t, decimals, "bigint")).otherwise(_steps(t, decimals, "decimal(38,0)"))


def units_text(units: Column, decimals: int, exact_long: bool = True) -> Column:
    """An integer of 10^-decimals units as plain text with exactly `decimals` places: 12345 -> "1.2345".
    `exact_long`: `units` is a bigint (else a decimal(38,0), e.g. a mixed-path `charge_units`)."""
    if decimals == 0:
        return units.cast("string")
    scale = F.lit(10**decimals)
    whole = F.call_function("div", units, scale) if exact_long else F.floor(units / scale.cast("decimal(19,0)"))
    fraction = (units % scale).cast("bigint")
    return F.concat(whole.cast("string"), F.lit("."), F.lpad(fraction.cast("string"), decimals, "0"))


def units_decimal(units: Column, decimals: int, precision: int = 38) -> Column:
    """An integer of 10^-decimals units as decimal(precision, decimals), exactly."""
    step = F.lit(f"{Decimal(1).scaleb(-decimals):f}").cast(f"decimal({decimals + 1},{decimals})")
    return (units.cast("decimal(38,0)") * step).cast(f"decimal({precision},{decimals})")


def round_half_up(amount: Column, places: int) -> Column:
    """A decimal column rounded half-up to `places` (Spark's `round` of a decimal is HALF_UP, exact)."""
    return F.round(amount, places)
