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


def daily_counts(claims: DataFrame, lookback_days: int) -> DataFrame:
    """Per customer and day: claims that day, and the mean per day over the earlier look-back days that the
    data covers (a lake that starts mid-window is not read as quiet days)."""
    per_day = claims.groupBy("customer_key", "service_date").agg(F.count("*").alias("claims_today"))
    first_day = claims.agg(F.min(day_number()).alias("__first_day"))
    earlier = Window.partitionBy("customer_key").orderBy(day_number()).rangeBetween(-max(lookback_days, 1), -1)
    covered_days = F.least(F.lit(max(lookback_days, 1)), day_number() - F.col("__first_day"))
    return (
        per_day.crossJoin(F.broadcast(first_day))
        .withColumn(
            "usual_per_day",
            F.when(covered_days > 0, F.coalesce(F.sum("claims_today").over(earlier), F.lit(0)) / covered_days),
        )
        .drop("__first_day")
    )


def daily_surge(claims: DataFrame, config: DetectionConfig) -> DataFrame:
    """A day with at least N claims and R times the customer's usual daily count (at least 1 a day; a day
    with no earlier data to compare is not judged)."""
    counts = daily_counts(claims, config.lookback_days).select(
        "customer_key", "service_date", F.col("claims_today").alias("__today"), F.col("usual_per_day").alias("__usual")
    )
    joined = claims.join(counts, ["customer_key", "service_date"], "left")
    surge = (
        F.col("__usual").isNotNull()
        & (F.col("__today") >= config.daily_count_min)
        & (F.col("__today") >= config.daily_count_ratio * F.greatest(F.col("__usual"), F.lit(1.0)))
    )
    return joined.withColumn("rule_daily_surge", flag(surge)).drop("__today", "__usual")
