"""Merchant category codes (ISO 18245): the categories FinSight reports on and the high-risk codes.

    category = mcc_category(F.col("merchant_mcc"))     # "grocery", "travel", ...
    risky = F.col("merchant_mcc").isin(*HIGH_RISK_MCCS)
"""

from __future__ import annotations

from pyspark.sql import Column
from pyspark.sql import functions as F

# Codes card schemes classify as high-risk for fraud and money laundering.
HIGH_RISK_MCCS = (
    "4829",  # wire transfer, money orders
    "5967",  # direct marketing, inbound telemarketing
    "6051",  # quasi-cash: crypto, foreign currency, money orders
    "6540",  # stored value card load
    "7995",  # betting, casino gaming, lotteries
)

# Single codes first (they win over the ranges below).
_CODES = {
    "4829": "money_transfer",
    "5967": "direct_marketing",
    "6051": "quasi_cash",
    "6540": "stored_value",
    "7995": "gambling",
    "5411": "grocery",
    "5422": "grocery",
    "5441": "grocery",
    "5451": "grocery",
    "5462": "grocery",
    "5499": "grocery",
    "5541": "fuel",
    "5542": "fuel",
    "5811": "restaurants",
    "5812": "restaurants",
    "5813": "restaurants",
    "5814": "restaurants",
    "7011": "travel",
    "4111": "transport",
    "4121": "transport",
    "4131": "transport",
}

# Inclusive ranges of four-digit codes.
_RANGES = (
    ("3000", "3999", "travel"),  # airlines, car rental, lodging brands
    ("4000", "4799", "transport"),
    ("4800", "4999", "telecom_utilities"),
    ("5000", "5999", "retail"),
    ("6000", "6999", "financial_services"),
    ("7000", "7999", "services"),
    ("8000", "8099", "healthcare"),
    ("8200", "8299", "education"),
    ("8300", "8999", "professional_services"),
    ("9000", "9999", "government"),
)


def mcc_category(mcc: Column) -> Column:
    """The reporting category of a four-digit MCC column; "other" for anything unknown."""
    code = F.lpad(mcc, 4, "0")
    result = F.lit("other")
    for low, high, name in reversed(_RANGES):
        result = F.when(code.between(low, high), F.lit(name)).otherwise(result)
    for value, name in _CODES.items():
        result = F.when(code == F.lit(value), F.lit(name)).otherwise(result)
    return F.when(mcc.isNull(), F.lit(None)).otherwise(result)


def is_high_risk_mcc(mcc: Column) -> Column:
    """True for the high-risk codes."""
    return F.lpad(mcc, 4, "0").isin(*HIGH_RISK_MCCS)
