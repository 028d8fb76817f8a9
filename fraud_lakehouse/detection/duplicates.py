"""Duplicate rules: exact copies and near duplicates of an earlier claim.

Exact: same customer, provider, procedure, service date and amount; the
first (earliest, then lowest claim id) is the original. Near: same customer
and provider within N days, similarity = 0.6 x [same procedure] + 0.4 x
(1 - |a - b| / max(a, b)) at or above the threshold; the earliest such
earlier claim is the original. Both use windows only (no self-join).
"""

from __future__ import annotations

from pyspark.sql import DataFrame, Window
from pyspark.sql import functions as F

from fraud_lakehouse.detection.common import day_number, flag
from fraud_lakehouse.detection.config import DetectionConfig

EXACT_KEYS = ("customer_key", "provider_id", "procedure", "service_date", "amount")


def _order_columns() -> list[F.Column]:
    return [F.coalesce(F.col("service_ts"), F.col("service_date").cast("timestamp")), F.col("claim_id")]


def _order_key() -> F.Column:
    # Claims without a time sort by date; the claim id breaks ties.
    at = F.coalesce(F.col("service_ts"), F.col("service_date").cast("timestamp"))
    return F.struct(at.alias("at"), F.col("claim_id").alias("claim_id"))


def exact_duplicate(claims: DataFrame, config: DetectionConfig) -> DataFrame:
    """Later copies of the same claim; ``duplicate_of`` names the first."""
    copies = Window.partitionBy(*EXACT_KEYS).orderBy(*_order_columns())
    first_id = F.first("claim_id").over(copies.rowsBetween(Window.unboundedPreceding, Window.currentRow))
    is_copy = F.row_number().over(copies) > 1
    return claims.withColumn("rule_exact_duplicate", flag(is_copy)).withColumn(
        "__exact_of", F.when(F.col("rule_exact_duplicate"), first_id)
    )


def similarity(same_procedure: F.Column, amount: F.Column, other_amount: F.Column) -> F.Column:
    closeness = 1 - F.abs(amount - other_amount) / F.greatest(amount, other_amount)
    return 0.6 * same_procedure.cast("double") + 0.4 * closeness


def near_duplicate(claims: DataFrame, config: DetectionConfig) -> DataFrame:
    """A claim close to an earlier one of the same customer and provider (needs exact_duplicate first).

    The earlier claims within N days come from a range window, not a self-join,
    so the plan stays small and each customer-provider pair is sorted once.
    """
    recent = (
        Window.partitionBy("customer_key", "provider_id")
        .orderBy(day_number())
        .rangeBetween(-config.near_duplicate_days, 0)
    )
    earlier = F.collect_list(
        F.struct(
            _order_key().alias("order"),
            F.col("claim_id").alias("claim_id"),
            F.col("procedure").alias("procedure"),
            F.col("amount").alias("amount"),
        )
    ).over(recent)
    this_order = _order_key()
    # No earlier claim: NULL on some engines, an empty list on others; both end as NULL below.
    matches = F.filter(
        earlier,
        lambda other: (
            (other["order"] < this_order)
            & (other["amount"] > 0)
            & (
                similarity(other["procedure"] == F.col("procedure"), F.col("amount"), other["amount"])
                >= config.near_duplicate_similarity
            )
        ),
    )
    first_match = F.array_min(matches)
    located = F.col("customer_key").isNotNull() & F.col("provider_id").isNotNull() & (F.col("amount") > 0)
    with_match = claims.withColumn("__near", F.when(located, first_match))
    is_exact = F.col("rule_exact_duplicate")
    return with_match.select(
        "*",
        flag(F.col("__near").isNotNull() & ~is_exact).alias("rule_near_duplicate"),
        F.coalesce(F.col("__exact_of"), F.col("__near.claim_id")).alias("duplicate_of"),
    ).drop("__near", "__exact_of")
