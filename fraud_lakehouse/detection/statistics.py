"""Statistical rules: the amount against its procedure (robustly, with a broader group for a rare procedure),
and Benford's law per provider with a significance test.

Amounts are judged within their procedure: median and a robust scale from the quartiles, so the outliers do
not hide themselves by inflating a standard deviation, and an expensive procedure is not an unusual amount.
"""

from __future__ import annotations

import math

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F

from fraud_lakehouse.detection.common import flag
from fraud_lakehouse.detection.config import DetectionConfig
from fraud_lakehouse.detection.features import (
    AMOUNT_TAIL,
    BENFORD,
    CATEGORY_Z,
    LOG_UNITS,
    PAIR_AMOUNTS,
    PAIR_LOG_SQUARES,
    PAIR_LOG_SUM,
    first_digit,
    log_units,
    provider_stats,
)

__all__ = ["BENFORD", "amount_above_provider_usual", "amount_extreme", "amount_outlier", "benford_deviation",
           "benford_provider", "first_digit", "large_amount_burst"]  # fmt: skip


def _judged(config: DetectionConfig) -> Column:
    return F.col("__amount_claims") >= config.min_group_claims


def amount_outlier(config: DetectionConfig) -> Column:
    """An amount far into its procedure's own upper tail: (amount - median) over (90th percentile - median)
    above the limit."""
    return flag(_judged(config) & (F.col(AMOUNT_TAIL) > config.amount_tail_outlier))


def amount_extreme(config: DetectionConfig) -> Column:
    """An amount so far into its procedure's upper tail that it is evidence on its own (twice the outlier
    limit: for normal amounts 10 standard deviations, for exponential ones 14 means; several times the usual
    maximum for a narrow price)."""
    return flag(_judged(config) & (F.col(AMOUNT_TAIL) > config.amount_tail_extreme))


def amount_above_provider_usual(config: DetectionConfig) -> Column:
    """An amount far above what its provider usually charges for its procedure, judged on the logarithms of the
    provider's other amounts for it (the claim left out): more than ``provider_amount_ratio`` times their
    geometric mean, and ``provider_amount_z`` of their standard deviations above it (at least 0.1, a tenth of
    the price), the provider having ``provider_amount_min_claims`` other amounts for it. Where providers price a
    procedure differently, the procedure's spread across them hides an inflated charge that the provider's own
    prices show."""
    own = log_units(F.col("amount"))
    others = F.col(PAIR_AMOUNTS) - 1
    # divisors of at least 1: a pair of one or two amounts is not judged (below), and the engines may compute a
    # quotient ahead of the condition that guards it (Sail raised "Division by zero")
    mean = (F.col(PAIR_LOG_SUM) - own) / F.greatest(others, F.lit(1))
    # sum of squared deviations from the others' mean, from the exact sums: sum(x^2) - n * mean^2
    squares = F.col(PAIR_LOG_SQUARES) - own * own - others * mean * mean
    variance = F.greatest(squares, F.lit(0.0)) / F.greatest(others - 1, F.lit(1))
    spread = F.greatest(F.sqrt(variance) / LOG_UNITS, F.lit(0.1))
    excess = (own - mean) / LOG_UNITS
    return flag(
        (others >= config.provider_amount_min_claims)
        & (excess > math.log(config.provider_amount_ratio))
        & (excess > config.provider_amount_z * spread)
    )


def large_amount_burst(config: DetectionConfig) -> Column:
    """A large amount (robust z in its procedure above the burst limit) on a customer's day that holds several:
    a stolen card used for several big purchases in one sitting. The day's small claims are not raised."""
    large = F.col(CATEGORY_Z) > config.burst_z_score
    return flag(large & (F.col("__day_large_claims") >= config.burst_min_claims))


def benford_deviation(claims: DataFrame) -> DataFrame:
    """Per provider: the number of first digits, their distance from Benford's law and the chi-square."""
    return (
        provider_stats(claims)
        .where(F.col("__provider_digits") > 0)
        .select(
            "provider_id",
            F.col("__provider_digits").alias("digits"),
            F.col("__provider_benford_deviation").alias("benford_deviation"),
            F.col("__provider_benford_chi_square").alias("chi_square"),
        )
    )


def benford_provider(config: DetectionConfig) -> Column:
    """A claim whose first digit is over-represented at a provider whose first digits stray from Benford's law,
    both by distance and significantly for its number of claims (chi-square, 8 degrees of freedom)."""
    strays = (
        (F.col("__provider_digits") >= config.benford_min_claims)
        & (F.col("__provider_benford_deviation") > config.benford_deviation_max)
        & (F.col("__provider_benford_chi_square") > config.benford_chi2_min)
    )
    # call_function: PySpark 3.5's shiftright takes the shift as a Python int only
    over = F.call_function("shiftright", F.col("__provider_over_digits"), first_digit()).bitwiseAND(1) == 1
    return flag(strays & over)
