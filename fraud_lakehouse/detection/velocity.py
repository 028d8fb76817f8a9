"""Velocity rules: many claims of one customer within minutes, or far more in a day than usual."""

from __future__ import annotations

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F

from fraud_lakehouse.detection.common import flag
from fraud_lakehouse.detection.config import DetectionConfig
from fraud_lakehouse.detection.features import with_customer_features


def rapid_claims_hit(config: DetectionConfig) -> Column:
    return flag(F.col("__recent_claims") >= config.velocity_max_claims)


def rapid_claims(claims: DataFrame, config: DetectionConfig) -> DataFrame:
    """At least N claims of the customer within the window ending at this claim (timed claims only)."""
    return with_customer_features(claims, config).withColumn("rule_rapid_claims", rapid_claims_hit(config))


def daily_surge(claims: DataFrame, config: DetectionConfig) -> DataFrame:
    """A day with at least N claims and R times the customer's usual daily count (at least 1 a day).

    Usual = the customer's claims over the earlier look-back days, per day the
    data covers since the customer's first claim in it (a lake that starts
    mid-window is not read as quiet days). A customer's first day is not judged.
    """
    return with_customer_features(claims, config).withColumn("rule_daily_surge", daily_surge_hit(config))


def daily_surge_hit(config: DetectionConfig) -> Column:
    covered_days = F.col("__history_days_covered")
    usual = F.col("__history_day_claims") / F.when(covered_days > 0, covered_days)
    today = F.col("__day_claims")
    surge = (
        usual.isNotNull()
        & (today >= config.daily_count_min)
        & (today >= config.daily_count_ratio * F.greatest(usual, F.lit(1.0)))
    )
    return flag(surge)
