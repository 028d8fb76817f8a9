"""Billing-pattern rules: volumes per provider and customer, weekend and round-number habits of a provider."""

from __future__ import annotations

from pyspark.sql import DataFrame, Window
from pyspark.sql import functions as F

from fraud_lakehouse.detection.common import flag
from fraud_lakehouse.detection.config import DetectionConfig


def provider_procedure_volume(claims: DataFrame, config: DetectionConfig) -> DataFrame:
    """A provider billing one procedure more than N times in a day."""
    same_day = Window.partitionBy("provider_id", "procedure", "service_date")
    return claims.withColumn(
        "rule_provider_procedure_volume", flag(F.count("*").over(same_day) > config.provider_procedure_daily_max)
    )


def customer_daily_volume(claims: DataFrame, config: DetectionConfig) -> DataFrame:
    """A customer with more than N claims in a day."""
    same_day = Window.partitionBy("customer_key", "service_date")
    return claims.withColumn(
        "rule_customer_daily_volume", flag(F.count("*").over(same_day) > config.customer_daily_max)
    )


def _provider_shares(claims: DataFrame) -> DataFrame:
    weekend = F.dayofweek("service_date").isin(1, 7)
    round_amount = (F.col("amount") >= 100) & (F.col("amount") % 100 == 0)
    return claims.groupBy("provider_id").agg(
        F.count("*").alias("__provider_claims"),
        F.avg(weekend.cast("double")).alias("__weekend_share"),
        F.avg(round_amount.cast("double")).alias("__round_share"),
    )


def weekend_provider(claims: DataFrame, config: DetectionConfig) -> DataFrame:
    """A weekend claim from a provider whose weekend share is above the limit."""
    shares = _provider_shares(claims)
    joined = claims.join(shares, "provider_id", "left")
    return joined.withColumn(
        "rule_weekend_provider",
        flag(
            F.dayofweek("service_date").isin(1, 7)
            & (F.col("__weekend_share") > config.weekend_share_max)
            & (F.col("__provider_claims") >= config.min_provider_claims)
        ),
    ).drop("__provider_claims", "__weekend_share", "__round_share")


def round_amounts(claims: DataFrame, config: DetectionConfig) -> DataFrame:
    """A charge divisible by 100 from a provider that bills such round charges too often."""
    shares = _provider_shares(claims)
    joined = claims.join(shares, "provider_id", "left")
    return joined.withColumn(
        "rule_round_amount",
        flag(
            (F.col("amount") >= 100)
            & (F.col("amount") % 100 == 0)
            & (F.col("__round_share") > config.round_amount_share_max)
            & (F.col("__provider_claims") >= config.min_provider_claims)
        ),
    ).drop("__provider_claims", "__weekend_share", "__round_share")
