"""Amount against the customer's own history: far above what this customer usually spends.

The history is the customer's claims over the earlier look-back days (per
customer and day, see detection.customer_features).
"""

from __future__ import annotations

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F

from fraud_lakehouse.detection.common import flag
from fraud_lakehouse.detection.config import DetectionConfig
from fraud_lakehouse.detection.features import with_customer_features


def _unusual(amount: Column, config: DetectionConfig) -> Column:
    """Amount at least R times the customer's earlier mean, with z above the limit, given enough history."""
    mean = F.col("__history_mean")
    stdev = F.coalesce(F.col("__history_stdev"), F.lit(0.0))
    z = (amount - mean) / F.greatest(stdev, F.lit(1.0))
    enough = F.col("__history_claims") >= config.history_min_claims
    return enough & (amount >= config.history_ratio * mean) & (z > config.history_z_max)


def amount_vs_history_hit(config: DetectionConfig) -> Column:
    return flag(_unusual(F.col("amount"), config))


def amount_vs_history(claims: DataFrame, config: DetectionConfig) -> DataFrame:
    """Amount far above what this customer usually spends, given enough earlier claims."""
    return with_customer_features(claims, config).withColumn("rule_amount_vs_history", amount_vs_history_hit(config))


def spend_spike_day(claims: DataFrame, config: DetectionConfig) -> DataFrame:
    """Every claim of a customer's day that holds an unusual amount: by the customer's history when there is
    enough of it, else by the amount's z-score in its category.

    Both tests grow with the amount, so the day holds an unusual amount
    exactly when its largest amount (or largest z) is unusual.
    """
    return with_customer_features(claims, config).withColumn("rule_spend_spike_day", spend_spike_day_hit(config))


def spend_spike_day_hit(config: DetectionConfig) -> Column:
    no_history = F.col("__history_claims") < config.history_min_claims
    unusual_day = _unusual(F.col("__day_max_amount"), config) | (
        no_history & (F.col("__day_max_category_z") > config.z_score_max)
    )
    return flag(unusual_day)
