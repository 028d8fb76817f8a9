"""Night-time rules: a claim in the night hours, and a customer's burst of night claims in one day."""

from __future__ import annotations

from pyspark.sql import Column, DataFrame, Window
from pyspark.sql import functions as F

from fraud_lakehouse.detection.common import flag
from fraud_lakehouse.detection.config import DetectionConfig


def is_night(config: DetectionConfig) -> Column:
    hour = F.hour("service_ts")
    if config.night_start_hour > config.night_end_hour:
        return (hour >= config.night_start_hour) | (hour < config.night_end_hour)
    return (hour >= config.night_start_hour) & (hour < config.night_end_hour)


def night_claim(claims: DataFrame, config: DetectionConfig) -> DataFrame:
    """A timed claim in the night hours."""
    return claims.withColumn("rule_night_claim", flag(is_night(config)))


def _night_claims_that_day(config: DetectionConfig) -> Column:
    same_day = Window.partitionBy("customer_key", "service_date")
    return F.sum(flag(is_night(config)).cast("int")).over(same_day)


def night_burst(claims: DataFrame, config: DetectionConfig) -> DataFrame:
    """Every claim of a customer's day with at least N night claims: a stolen card is used in one sitting."""
    return claims.withColumn("rule_night_burst", flag(_night_claims_that_day(config) >= config.night_claims_min))


def night_pair(claims: DataFrame, config: DetectionConfig) -> DataFrame:
    """Every claim of a customer's day with at least two night claims (weaker than a burst)."""
    return claims.withColumn("rule_night_pair", flag(_night_claims_that_day(config) >= 2))
