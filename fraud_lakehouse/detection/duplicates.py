"""Duplicate rules: exact copies and near duplicates of an earlier claim.

Exact: same customer, provider, procedure, service date and amount; the
first (earliest, then lowest claim id) is the original. Near: same customer
and provider within N days, similarity = 0.6 x [same procedure] + 0.4 x
(1 - |a - b| / max(a, b)) at or above the threshold; the earliest such
earlier claim is the original. Both come from the per-customer pass
(``customer_features``).
"""

from __future__ import annotations

from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from fraud_lakehouse.detection.common import flag
from fraud_lakehouse.detection.config import DetectionConfig
from fraud_lakehouse.detection.features import similarity, with_customer_features

__all__ = ["exact_duplicate", "near_duplicate", "similarity"]


def exact_duplicate(claims: DataFrame, config: DetectionConfig) -> DataFrame:
    """Later copies of the same claim; ``__exact_original`` names the first (near_duplicate turns it into
    ``duplicate_of``). A claim with a NULL key is no one's copy."""
    copies = with_customer_features(claims, config)
    return copies.withColumn("rule_exact_duplicate", flag(F.col("__exact_original").isNotNull()))


def near_duplicate(claims: DataFrame, config: DetectionConfig) -> DataFrame:
    """A claim close to an earlier one of the same customer and provider (needs exact_duplicate first)."""
    matched = with_customer_features(claims, config)
    near = F.col("__near_original")
    return matched.select(
        "*",
        flag(near.isNotNull() & ~F.col("rule_exact_duplicate")).alias("rule_near_duplicate"),
        F.coalesce(F.col("__exact_original"), near).alias("duplicate_of"),
    )
