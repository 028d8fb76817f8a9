"""Duplicate rules: exact copies and near duplicates of an earlier claim.

Exact: same customer, provider, procedure, service date and amount; the
first (earliest, then lowest claim id) is the original. Near: same customer
and provider within N days, similarity = 0.6 x [same procedure] + 0.4 x
(1 - |a - b| / max(a, b)) at or above the threshold; the earliest such
earlier claim is the original. Both come from the per-customer pass
(``customer_features``).
"""

from __future__ import annotations

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F

from fraud_lakehouse.detection.common import flag
from fraud_lakehouse.detection.config import DetectionConfig
from fraud_lakehouse.detection.features import similarity, with_customer_features

__all__ = ["duplicate_of", "exact_duplicate", "exact_duplicate_hit", "near_duplicate", "near_duplicate_hit",
           "similarity"]  # fmt: skip


def exact_duplicate_hit(config: DetectionConfig) -> Column:
    return flag(F.col("__exact_original").isNotNull())


def near_duplicate_hit(config: DetectionConfig) -> Column:
    # an exact copy is not also a near one
    return flag(F.col("__near_original").isNotNull() & ~exact_duplicate_hit(config))


def duplicate_of() -> Column:
    """The claim id of the original: the first exact copy, else the earliest near one."""
    return F.coalesce(F.col("__exact_original"), F.col("__near_original"))


def exact_duplicate(claims: DataFrame, config: DetectionConfig) -> DataFrame:
    """Later copies of the same claim; ``__exact_original`` names the first (near_duplicate turns it into
    ``duplicate_of``). A claim with a NULL key is no one's copy."""
    return with_customer_features(claims, config).withColumn("rule_exact_duplicate", exact_duplicate_hit(config))


def near_duplicate(claims: DataFrame, config: DetectionConfig) -> DataFrame:
    """A claim close to an earlier one of the same customer and provider, and ``duplicate_of``."""
    return with_customer_features(claims, config).select(
        "*", near_duplicate_hit(config).alias("rule_near_duplicate"), duplicate_of().alias("duplicate_of")
    )
