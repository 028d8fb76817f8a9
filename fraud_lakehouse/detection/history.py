"""Amount against the customer's own history: far above what this customer usually spends."""

from __future__ import annotations

from pyspark.sql import Column, DataFrame, Window
from pyspark.sql import functions as F

from fraud_lakehouse.detection.common import CATEGORY_Z, day_number, flag, with_category_z
from fraud_lakehouse.detection.config import DetectionConfig


def _history_window(config: DetectionConfig) -> Window:
    return Window.partitionBy("customer_key").orderBy(day_number()).rangeBetween(-max(config.lookback_days, 1), -1)


def _unusual_amount(config: DetectionConfig) -> Column:
    """Amount at least R times the customer's mean over the earlier look-back days, and z above the limit."""
    earlier = _history_window(config)
    count = F.count("amount").over(earlier)
    mean = F.avg("amount").over(earlier)
    stdev = F.coalesce(F.stddev_samp("amount").over(earlier), F.lit(0.0))
    z = (F.col("amount") - mean) / F.greatest(stdev, F.lit(1.0))
    return flag(
        (count >= config.history_min_claims)
        & (F.col("amount") >= config.history_ratio * mean)
        & (z > config.history_z_max)
    )


def amount_vs_history(claims: DataFrame, config: DetectionConfig) -> DataFrame:
    """Amount far above what this customer usually spends, given enough earlier claims."""
    return claims.withColumn("rule_amount_vs_history", _unusual_amount(config))


def spend_spike_day(claims: DataFrame, config: DetectionConfig) -> DataFrame:
    """Every claim of a customer's day that holds an unusual amount: by the customer's history when there is
    enough of it, else by the amount's z-score in its category (needs amount_vs_history first)."""
    enriched = with_category_z(claims).withColumn("__history_claims", F.count("amount").over(_history_window(config)))
    no_history = F.col("__history_claims") < config.history_min_claims
    unusual = F.col("rule_amount_vs_history") | (no_history & flag(F.col(CATEGORY_Z) > config.z_score_max))
    same_day = Window.partitionBy("customer_key", "service_date")
    return (
        enriched.withColumn("__unusual", flag(unusual).cast("int"))
        .withColumn("rule_spend_spike_day", flag(F.max("__unusual").over(same_day) == 1))
        .drop("__history_claims", "__unusual")
    )
