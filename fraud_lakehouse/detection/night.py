"""Night-time rules: a claim in the night hours, and a customer's burst of night claims in one day."""

from __future__ import annotations

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F

from fraud_lakehouse.detection.common import flag, is_night
from fraud_lakehouse.detection.config import DetectionConfig
from fraud_lakehouse.detection.features import with_customer_features

__all__ = ["is_night"]


def night_claim_hit(config: DetectionConfig) -> Column:
    return flag(is_night(config))


def night_claim(claims: DataFrame, config: DetectionConfig) -> DataFrame:
    """A timed claim in the night hours."""
    return claims.withColumn("rule_night_claim", night_claim_hit(config))


def night_burst_hit(config: DetectionConfig) -> Column:
    return flag(F.col("__day_night_claims") >= config.night_claims_min)


def night_burst(claims: DataFrame, config: DetectionConfig) -> DataFrame:
    """Every claim of a customer's day with at least N night claims: a stolen card is used in one sitting."""
    return with_customer_features(claims, config).withColumn("rule_night_burst", night_burst_hit(config))


def night_pair_hit(config: DetectionConfig) -> Column:
    return flag(F.col("__day_night_claims") >= 2)


def night_pair(claims: DataFrame, config: DetectionConfig) -> DataFrame:
    """Every claim of a customer's day with at least two night claims (weaker than a burst)."""
    return with_customer_features(claims, config).withColumn("rule_night_pair", night_pair_hit(config))
