"""Money and FX arithmetic in decimals, never floats.

Amounts are `decimal(18,2)` in a currency's major unit except where the currency has another
exponent (JPY 0, KWD 3): `round_to_currency` applies ISO 4217 minor units. Rounding is half-even
(banker's rounding), as the ledger does::

    usd = to_reporting_currency(F.col("amount"), F.col("usd_rate"))
"""

from __future__ import annotations

from collections.abc import Mapping

from pyspark.sql import Column
from pyspark.sql import functions as F
from pyspark.sql.types import DecimalType

MONEY = DecimalType(18, 2)
PRECISE_MONEY = DecimalType(20, 4)  # room for 3-decimal currencies and intermediate sums
RATE = DecimalType(18, 8)
REPORTING_CURRENCY = "USD"

# ISO 4217 exponents that differ from 2, for the currencies FinSight settles in.
MINOR_UNIT_EXPONENTS: Mapping[str, int] = {
    "JPY": 0,
    "KRW": 0,
    "CLP": 0,
    "ISK": 0,
    "VND": 0,
    "HUF": 2,
    "BHD": 3,
    "JOD": 3,
    "KWD": 3,
    "OMR": 3,
    "TND": 3,
}


def exponent(currency: Column) -> Column:
    """The ISO 4217 exponent of `currency` (2 unless listed)."""
    expr = F.lit(2)
    for code, exp in MINOR_UNIT_EXPONENTS.items():
        expr = F.when(currency == F.lit(code), F.lit(exp)).otherwise(expr)
    return expr


def round_to_currency(amount: Column, currency: Column) -> Column:
    """`amount` rounded half-even to `currency`'s minor unit, as `decimal(20,4)`."""
    return (
        F.when(exponent(currency) == 0, F.bround(amount, 0))
        .when(exponent(currency) == 3, F.bround(amount, 3))
        .otherwise(F.bround(amount, 2))
        .cast(PRECISE_MONEY)
    )


def to_minor_units(amount: Column, currency: Column) -> Column:
    """`amount` as an integer count of minor units (cents, fils): what card networks exchange."""
    rounded = round_to_currency(amount, currency)
    exp = exponent(currency)
    scaled = F.when(exp == 0, rounded).when(exp == 3, rounded * F.lit(1000)).otherwise(rounded * F.lit(100))
    return scaled.cast("long")


def from_minor_units(minor: Column, currency: Column) -> Column:
    """An integer count of minor units back in `currency`'s major unit, as `decimal(20,4)`."""
    exp = exponent(currency)
    amount = minor.cast(PRECISE_MONEY)
    scaled = F.when(exp == 0, amount).when(exp == 3, amount / F.lit(1000)).otherwise(amount / F.lit(100))
    return scaled.cast(PRECISE_MONEY)


def to_reporting_currency(amount: Column, rate: Column) -> Column:
    """`amount * rate` rounded half-even to cents, as `decimal(18,2)`."""
    return F.bround(amount.cast(PRECISE_MONEY) * rate.cast(RATE), 2).cast(MONEY)


def is_iso_currency(currency: Column) -> Column:
    """True for a three-letter upper-case currency code."""
    return currency.rlike("^[A-Z]{3}$")
