"""Billing-pattern rules: volumes per provider and customer, weekend and round-number habits of a provider."""

from __future__ import annotations

from pyspark.sql import Column, DataFrame, Window
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


def _provider_window() -> Window:
    # Windows, not a join with an aggregate of the same frame: the plan stays
    # linear in the number of rules on every engine.
    return Window.partitionBy("provider_id")


def _is_weekend() -> Column:
    return F.dayofweek("service_date").isin(1, 7)


def _is_round() -> Column:
    return (F.col("amount") >= 100) & (F.col("amount") % 100 == 0)


def weekend_provider(claims: DataFrame, config: DetectionConfig) -> DataFrame:
    """A weekend claim from a provider whose weekend share is above the limit."""
    provider = _provider_window()
    share = F.avg(_is_weekend().cast("double")).over(provider)
    enough = F.count("*").over(provider) >= config.min_provider_claims
    return claims.withColumn("rule_weekend_provider", flag(_is_weekend() & enough & (share > config.weekend_share_max)))


def round_amounts(claims: DataFrame, config: DetectionConfig) -> DataFrame:
    """A charge divisible by 100 from a provider that bills such round charges too often."""
    provider = _provider_window()
    share = F.avg(_is_round().cast("double")).over(provider)
    enough = F.count("*").over(provider) >= config.min_provider_claims
    return claims.withColumn("rule_round_amount", flag(_is_round() & enough & (share > config.round_amount_share_max)))
