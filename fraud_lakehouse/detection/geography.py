"""Geography rules: provider far from the customer's home, and customer and provider in different states."""

from __future__ import annotations

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F

from fraud_lakehouse.detection.common import flag, haversine_miles
from fraud_lakehouse.detection.config import DetectionConfig


def far_from_home_hit(config: DetectionConfig) -> Column:
    distance = haversine_miles(
        F.col("customer_lat"), F.col("customer_long"), F.col("provider_lat"), F.col("provider_long")
    )
    return flag(distance > config.distance_max_miles)


def far_from_home(claims: DataFrame, config: DetectionConfig) -> DataFrame:
    """Provider more than N miles from the customer's home (both located)."""
    return claims.withColumn("rule_far_from_home", far_from_home_hit(config))


def state_mismatch_hit(config: DetectionConfig) -> Column:
    return flag(F.col("customer_state") != F.col("provider_state"))


def state_mismatch(claims: DataFrame, config: DetectionConfig) -> DataFrame:
    """Customer and provider in different states (both known)."""
    return claims.withColumn("rule_state_mismatch", state_mismatch_hit(config))
