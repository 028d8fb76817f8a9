"""Amount against the customer's own history: far above what this customer usually spends."""

from __future__ import annotations

from pyspark.sql import Column, DataFrame, Window
from pyspark.sql import functions as F

from fraud_lakehouse.detection.common import CATEGORY_Z, day_number, flag, with_category_z
from fraud_lakehouse.detection.config import DetectionConfig


def customer_history(claims: DataFrame, lookback_days: int) -> DataFrame:
    """Per customer and day: count, mean and standard deviation of the amounts of the earlier look-back days."""
    per_day = claims.groupBy("customer_key", "service_date").agg(
        F.count("amount").alias("n"), F.sum("amount").alias("s"), F.sum(F.col("amount") ** 2).alias("ss")
    )
    earlier = Window.partitionBy("customer_key").orderBy(day_number()).rangeBetween(-max(lookback_days, 1), -1)
    n, s, ss = (F.sum(c).over(earlier) for c in ("n", "s", "ss"))
    mean = s / n
    variance = F.greatest(F.lit(0.0), (ss - n * mean * mean) / F.greatest(n - 1, F.lit(1)))
    return per_day.select(
        "customer_key",
        "service_date",
        F.coalesce(n, F.lit(0)).alias("history_claims"),
        mean.alias("history_mean"),
        F.sqrt(variance).alias("history_stdev"),
    )


def _with_history(claims: DataFrame, config: DetectionConfig) -> DataFrame:
    history = customer_history(claims, config.lookback_days).select(
        "customer_key",
        "service_date",
        F.col("history_claims").alias("__h_n"),
        F.col("history_mean").alias("__h_mean"),
        F.col("history_stdev").alias("__h_stdev"),
    )
    return claims.join(history, ["customer_key", "service_date"], "left")


def _unusual_amount(config: DetectionConfig) -> Column:
    z = (F.col("amount") - F.col("__h_mean")) / F.greatest(F.col("__h_stdev"), F.lit(1.0))
    return flag(
        (F.col("__h_n") >= config.history_min_claims)
        & (F.col("amount") >= config.history_ratio * F.col("__h_mean"))
        & (z > config.history_z_max)
    )


def spend_spike_day(claims: DataFrame, config: DetectionConfig) -> DataFrame:
    """Every claim of a customer's day that holds an unusual amount: by the customer's history when there is
    enough of it, else by the amount's z-score in its category (needs amount_vs_history first)."""
    no_history = F.coalesce(F.col("__h_n"), F.lit(0)) < config.history_min_claims
    unusual = F.col("rule_amount_vs_history") | (no_history & flag(F.col(CATEGORY_Z) > config.z_score_max))
    same_day = Window.partitionBy("customer_key", "service_date")
    joined = _with_history(with_category_z(claims), config)
    return joined.withColumn("rule_spend_spike_day", flag(F.max(unusual.cast("int")).over(same_day) == 1)).drop(
        "__h_n", "__h_mean", "__h_stdev"
    )


def amount_vs_history(claims: DataFrame, config: DetectionConfig) -> DataFrame:
    """Amount at least R times the customer's usual amount and z above the limit, given enough history."""
    joined = _with_history(claims, config)
    return joined.withColumn("rule_amount_vs_history", _unusual_amount(config)).drop("__h_n", "__h_mean", "__h_stdev")
