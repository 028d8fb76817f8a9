"""Velocity rules: many claims of one customer within minutes, or far more in a day than usual."""

from __future__ import annotations

from pyspark.sql import DataFrame, Window
from pyspark.sql import functions as F

from fraud_lakehouse.detection.common import day_number, epoch_seconds, flag
from fraud_lakehouse.detection.config import DetectionConfig


def rapid_claims(claims: DataFrame, config: DetectionConfig) -> DataFrame:
    """At least N claims of the customer within the window ending at this claim (timed claims only)."""
    recent = (
        Window.partitionBy("customer_key")
        .orderBy(epoch_seconds())
        .rangeBetween(-config.velocity_window_minutes * 60, 0)
    )
    count = F.when(F.col("service_ts").isNotNull(), F.count("*").over(recent))
    return claims.withColumn("rule_rapid_claims", flag(count >= config.velocity_max_claims))


def daily_surge(claims: DataFrame, config: DetectionConfig) -> DataFrame:
    """A day with at least N claims and R times the customer's usual daily count (at least 1 a day).

    Usual = the customer's claims over the earlier look-back days, per day the
    data covers since the customer's first claim in it (a lake that starts
    mid-window is not read as quiet days). A customer's first day is not judged.
    """
    lookback = max(config.lookback_days, 1)
    customer = Window.partitionBy("customer_key")
    earlier = customer.orderBy(day_number()).rangeBetween(-lookback, -1)
    today = F.count("*").over(Window.partitionBy("customer_key", "service_date"))
    covered_days = F.least(F.lit(lookback), day_number() - F.min(day_number()).over(customer))
    usual = F.when(covered_days > 0, F.count("*").over(earlier) / covered_days)
    surge = (
        usual.isNotNull()
        & (today >= config.daily_count_min)
        & (today >= config.daily_count_ratio * F.greatest(usual, F.lit(1.0)))
    )
    return claims.withColumn("rule_daily_surge", flag(surge))
