"""Billing-pattern rules: volumes per provider and customer, weekend and round-number habits of a provider."""

from __future__ import annotations

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F

from fraud_lakehouse.detection.common import flag
from fraud_lakehouse.detection.config import DetectionConfig
from fraud_lakehouse.detection.features import (
    is_round,
    is_weekend,
    with_customer_features,
    with_provider_procedure_day_counts,
    with_provider_stats,
)


def provider_procedure_volume(claims: DataFrame, config: DetectionConfig) -> DataFrame:
    """A provider billing one procedure more than N times in a day."""
    counted = with_provider_procedure_day_counts(claims)
    return counted.withColumn(
        "rule_provider_procedure_volume",
        flag(F.col("__provider_procedure_day_claims") > config.provider_procedure_daily_max),
    )


def customer_daily_volume(claims: DataFrame, config: DetectionConfig) -> DataFrame:
    """A customer with more than N claims in a day."""
    days = with_customer_features(claims, config)
    return days.withColumn("rule_customer_daily_volume", flag(F.col("__day_claims") > config.customer_daily_max))


def _enough_provider_claims(config: DetectionConfig) -> Column:
    return F.col("__provider_claims") >= config.min_provider_claims


def weekend_provider(claims: DataFrame, config: DetectionConfig) -> DataFrame:
    """A weekend claim from a provider whose weekend share is above the limit."""
    share = F.col("__provider_weekend_share")
    return with_provider_stats(claims).withColumn(
        "rule_weekend_provider",
        flag(is_weekend() & _enough_provider_claims(config) & (share > config.weekend_share_max)),
    )


def round_amounts(claims: DataFrame, config: DetectionConfig) -> DataFrame:
    """A charge divisible by 100 from a provider that bills such round charges too often."""
    share = F.col("__provider_round_share")
    return with_provider_stats(claims).withColumn(
        "rule_round_amount",
        flag(is_round() & _enough_provider_claims(config) & (share > config.round_amount_share_max)),
    )
