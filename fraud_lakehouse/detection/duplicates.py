"""Duplicate rules: exact copies and near duplicates of an earlier claim.

Exact: same customer, provider, procedure, service date and amount; the
first (earliest, then lowest claim id) is the original. Near: same customer
and provider within N days, similarity = 0.6 x [same procedure] + 0.4 x
(1 - |a - b| / max(a, b)) at or above the threshold; the earliest such
earlier claim is the original.
"""

from __future__ import annotations

from pyspark.sql import DataFrame, Window
from pyspark.sql import functions as F

from fraud_lakehouse.detection.common import day_number, flag
from fraud_lakehouse.detection.config import DetectionConfig
from fraud_lakehouse.partitions import PARTITION_COLUMN

EXACT_KEYS = ("customer_key", "provider_id", "procedure", "service_date", "amount")


def _order_key() -> F.Column:
    # Claims without a time sort by date; the claim id breaks ties.
    return F.struct(F.coalesce(F.col("service_ts"), F.col("service_date").cast("timestamp")), F.col("claim_id"))


def exact_duplicate(claims: DataFrame, config: DetectionConfig) -> DataFrame:
    """Later copies of the same claim; ``duplicate_of`` names the first."""
    copies = Window.partitionBy(*EXACT_KEYS)
    first = F.min(_order_key()).over(copies)
    return (
        claims.withColumn("__exact_first", first)
        .select(
            "*",
            flag(F.col("__exact_first") != _order_key()).alias("rule_exact_duplicate"),
            F.when(F.col("__exact_first") != _order_key(), F.col("__exact_first.claim_id")).alias("__exact_of"),
        )
        .drop("__exact_first")
    )


def similarity(same_procedure: F.Column, amount: F.Column, other_amount: F.Column) -> F.Column:
    closeness = 1 - F.abs(amount - other_amount) / F.greatest(amount, other_amount)
    return 0.6 * same_procedure.cast("double") + 0.4 * closeness


def near_duplicate(claims: DataFrame, config: DetectionConfig) -> DataFrame:
    """A claim close to an earlier one of the same customer and provider (needs exact_duplicate first)."""
    keys = claims.select(
        "claim_id",
        PARTITION_COLUMN,
        "customer_key",
        "provider_id",
        "procedure",
        "amount",
        day_number().alias("__day"),
        _order_key().alias("__order"),
    ).where(F.col("customer_key").isNotNull() & F.col("provider_id").isNotNull() & (F.col("amount") > 0))
    earlier = keys.select(*[F.col(c).alias(f"e_{c}") for c in keys.columns])
    pairs = keys.join(
        earlier,
        (keys["customer_key"] == earlier["e_customer_key"])
        & (keys["provider_id"] == earlier["e_provider_id"])
        & (earlier["e___day"] >= keys["__day"] - config.near_duplicate_days)
        & (earlier["e___day"] <= keys["__day"])
        & (earlier["e___order"] < keys["__order"]),
    )
    score = similarity(pairs["procedure"] == pairs["e_procedure"], pairs["amount"], pairs["e_amount"])
    matches = (
        pairs.withColumn("__similarity", score)
        .where(F.col("__similarity") >= config.near_duplicate_similarity)
        .groupBy("claim_id", PARTITION_COLUMN)
        .agg(
            F.min(F.struct(F.col("e___order"), F.col("e_claim_id"))).alias("__first"),
            F.max("__similarity").alias("__near_similarity"),
        )
        .select("claim_id", PARTITION_COLUMN, F.col("__first.e_claim_id").alias("__near_of"), "__near_similarity")
    )
    joined = claims.join(matches, ["claim_id", PARTITION_COLUMN], "left")
    is_exact = F.col("rule_exact_duplicate")
    return joined.select(
        "*",
        flag(F.col("__near_of").isNotNull() & ~is_exact).alias("rule_near_duplicate"),
        F.coalesce(F.col("__exact_of"), F.col("__near_of")).alias("duplicate_of"),
    ).drop("__near_of", "__exact_of")
