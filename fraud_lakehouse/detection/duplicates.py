"""Duplicate rules: exact copies and near duplicates of an earlier claim.

Exact: same customer, provider, procedure, service date and amount; the
first (earliest, then lowest claim id) is the original. Near: same customer
and provider within N days, similarity = 0.6 x [same procedure] + 0.4 x
(1 - |a - b| / max(a, b)) at or above the threshold; the earliest such
earlier claim is the original. Exact copies come from an aggregate of the
repeated keys; near duplicates from a self-join on customer and provider
(see features).
"""

from __future__ import annotations

from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from fraud_lakehouse.detection.common import flag
from fraud_lakehouse.detection.config import DetectionConfig
from fraud_lakehouse.detection.features import NUL, order_text, similarity, with_exact_copies, with_near_matches

__all__ = ["exact_duplicate", "near_duplicate", "similarity"]


def exact_duplicate(claims: DataFrame, config: DetectionConfig) -> DataFrame:
    """Later copies of the same claim; ``__exact_of`` names the first (near_duplicate turns it into
    ``duplicate_of``). A claim with a NULL key is no one's copy."""
    copies = with_exact_copies(claims)
    is_copy = F.col("__exact_first").isNotNull() & (order_text() != F.col("__exact_first"))
    first_id = F.substring_index(F.substring_index(F.col("__exact_first"), NUL, 2), NUL, -1)
    return copies.withColumn("rule_exact_duplicate", flag(is_copy)).withColumn(
        "__exact_of", F.when(F.col("rule_exact_duplicate"), first_id)
    )


def near_duplicate(claims: DataFrame, config: DetectionConfig) -> DataFrame:
    """A claim close to an earlier one of the same customer and provider (needs exact_duplicate first)."""
    located = F.col("customer_key").isNotNull() & F.col("provider_id").isNotNull() & (F.col("amount") > 0)
    matched = with_near_matches(claims, config)
    near = F.when(located, F.col("__near"))
    return matched.select(
        "*",
        flag(near.isNotNull() & ~F.col("rule_exact_duplicate")).alias("rule_near_duplicate"),
        F.coalesce(F.col("__exact_of"), near["claim_id"]).alias("duplicate_of"),
    ).drop("__exact_of")
