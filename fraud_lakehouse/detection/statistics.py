"""Statistical rules: z-scores per category and per provider, IQR fences, Benford's law per provider."""

from __future__ import annotations

import math

from pyspark.sql import Column, DataFrame, Window
from pyspark.sql import functions as F

from fraud_lakehouse.detection.common import CATEGORY_Z, flag, with_category_z
from fraud_lakehouse.detection.config import DetectionConfig

BENFORD = {digit: math.log10(1 + 1 / digit) for digit in range(1, 10)}


def category_z_score(claims: DataFrame, config: DetectionConfig) -> DataFrame:
    """|z| of the amount within its procedure/category above the limit."""
    return with_category_z(claims).withColumn(
        "rule_category_z_score", flag(F.abs(F.col(CATEGORY_Z)) > config.z_score_max)
    )


def provider_z_score(claims: DataFrame, config: DetectionConfig) -> DataFrame:
    """|z| of the amount within its provider's claims above the limit (providers with enough claims)."""
    provider = Window.partitionBy("provider_id")
    stdev = F.stddev_samp("amount").over(provider)
    z = (F.col("amount") - F.avg("amount").over(provider)) / stdev
    enough = F.count("amount").over(provider) >= config.min_provider_claims
    return claims.withColumn("rule_provider_z_score", flag(enough & (stdev > 0) & (F.abs(z) > config.z_score_max)))


def large_amount_burst(claims: DataFrame, config: DetectionConfig) -> DataFrame:
    """Every claim of a customer's day that holds several large amounts (z within their category above the
    burst limit): a stolen card is used for several big purchases in one sitting."""
    same_day = Window.partitionBy("customer_key", "service_date")
    large_that_day = F.sum(flag(F.col(CATEGORY_Z) > config.burst_z_score).cast("int")).over(same_day)
    return with_category_z(claims).withColumn(
        "rule_large_amount_burst", flag(large_that_day >= config.burst_min_claims)
    )


def iqr_outlier(claims: DataFrame, config: DetectionConfig) -> DataFrame:
    """Amount above Q3 + k x IQR of its procedure/category (exact percentiles: same on every engine)."""
    by_category = Window.partitionBy("procedure")
    q1 = F.expr("percentile(amount, 0.25)").over(by_category)
    q3 = F.expr("percentile(amount, 0.75)").over(by_category)
    enough = F.count("amount").over(by_category) >= config.min_provider_claims
    return claims.withColumn(
        "rule_iqr_outlier", flag(enough & (F.col("amount") > q3 + config.iqr_multiplier * (q3 - q1)))
    )


def first_digit(amount_column: str = "amount") -> Column:
    """First significant digit of a positive amount."""
    amount = F.col(amount_column)
    scaled = amount / F.pow(F.lit(10.0), F.floor(F.log10(amount)))
    return F.when(amount > 0, F.floor(scaled + F.lit(1e-9)).cast("int"))


def benford_deviation(claims: DataFrame) -> DataFrame:
    """Per provider: the number of first digits and their total variation distance from Benford's law."""
    digits = claims.select("provider_id", first_digit().alias("__digit")).where(F.col("__digit").between(1, 9))
    counts = digits.groupBy("provider_id").agg(
        F.count("*").alias("digits"),
        *[F.sum((F.col("__digit") == d).cast("double")).alias(f"__d{d}") for d in BENFORD],
    )
    distance = sum(F.abs(F.col(f"__d{d}") / F.col("digits") - F.lit(p)) for d, p in BENFORD.items()) / 2
    return counts.select("provider_id", "digits", distance.alias("benford_deviation"))


def benford_provider(claims: DataFrame, config: DetectionConfig) -> DataFrame:
    """Claims of a provider whose first digits stray from Benford's law.

    The one rule that joins an aggregate back (one row per provider,
    broadcast): as nine window sums it makes Sail 0.7 plan the next window
    in minutes.
    """
    deviation = benford_deviation(claims).where(
        (F.col("digits") >= config.benford_min_claims) & (F.col("benford_deviation") > config.benford_deviation_max)
    )
    failing = deviation.select("provider_id", F.lit(True).alias("rule_benford_provider"))
    joined = claims.join(F.broadcast(failing), "provider_id", "left")
    return joined.withColumn("rule_benford_provider", flag(F.col("rule_benford_provider")))
