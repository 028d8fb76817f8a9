"""Statistical rules: z-scores per category and per provider, IQR fences, Benford's law per provider."""

from __future__ import annotations

import math

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F

from fraud_lakehouse.detection.common import flag
from fraud_lakehouse.detection.config import DetectionConfig
from fraud_lakehouse.detection.features import (
    CATEGORY_Z,
    first_digit,
    provider_stats,
    with_category_stats,
    with_customer_features,
    with_provider_stats,
)

BENFORD = {digit: math.log10(1 + 1 / digit) for digit in range(1, 10)}

__all__ = ["BENFORD", "benford_deviation", "first_digit"]


def category_z_score_hit(config: DetectionConfig) -> Column:
    return flag(F.abs(F.col(CATEGORY_Z)) > config.z_score_max)


def category_z_score(claims: DataFrame, config: DetectionConfig) -> DataFrame:
    """|z| of the amount within its procedure/category above the limit."""
    return with_category_stats(claims).withColumn("rule_category_z_score", category_z_score_hit(config))


def provider_z_score_hit(config: DetectionConfig) -> Column:
    stdev = F.col("__provider_stdev")
    z = (F.col("amount") - F.col("__provider_mean")) / F.when(stdev > 0, stdev)
    enough = F.col("__provider_amounts") >= config.min_provider_claims
    return flag(enough & (F.abs(z) > config.z_score_max))


def provider_z_score(claims: DataFrame, config: DetectionConfig) -> DataFrame:
    """|z| of the amount within its provider's claims above the limit (providers with enough claims)."""
    return with_provider_stats(claims).withColumn("rule_provider_z_score", provider_z_score_hit(config))


def large_amount_burst_hit(config: DetectionConfig) -> Column:
    return flag(F.col("__day_large_claims") >= config.burst_min_claims)


def large_amount_burst(claims: DataFrame, config: DetectionConfig) -> DataFrame:
    """Every claim of a customer's day that holds several large amounts (z within their category above the
    burst limit): a stolen card is used for several big purchases in one sitting."""
    return with_customer_features(claims, config).withColumn("rule_large_amount_burst", large_amount_burst_hit(config))


def iqr_outlier_hit(config: DetectionConfig) -> Column:
    q1, q3 = F.col("__category_q1"), F.col("__category_q3")
    enough = F.col("__category_claims") >= config.min_provider_claims
    return flag(enough & (F.col("amount") > q3 + config.iqr_multiplier * (q3 - q1)))


def iqr_outlier(claims: DataFrame, config: DetectionConfig) -> DataFrame:
    """Amount above Q3 + k x IQR of its procedure/category (exact percentiles: same on every engine)."""
    return with_category_stats(claims).withColumn("rule_iqr_outlier", iqr_outlier_hit(config))


def _deviation(digits: Column, count_of) -> Column:
    """Total variation distance of a provider's first digits from Benford's law."""
    share = [F.abs(count_of(d) / F.when(digits > 0, digits) - F.lit(p)) for d, p in BENFORD.items()]
    return sum(share) / 2


def benford_deviation(claims: DataFrame) -> DataFrame:
    """Per provider: the number of first digits and their total variation distance from Benford's law."""
    stats = provider_stats(claims)
    digits = F.col("__provider_digits")
    return stats.where(digits > 0).select(
        "provider_id",
        digits.alias("digits"),
        _deviation(digits, lambda d: F.col(f"__provider_digit_{d}")).alias("benford_deviation"),
    )


def benford_provider_hit(config: DetectionConfig) -> Column:
    digits = F.col("__provider_digits")
    deviation = _deviation(digits, lambda d: F.col(f"__provider_digit_{d}"))
    return flag((digits >= config.benford_min_claims) & (deviation > config.benford_deviation_max))


def benford_provider(claims: DataFrame, config: DetectionConfig) -> DataFrame:
    """Claims of a provider whose first digits stray from Benford's law."""
    return with_provider_stats(claims).withColumn("rule_benford_provider", benford_provider_hit(config))
