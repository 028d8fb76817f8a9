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


def provider_procedure_volume_hit(config: DetectionConfig) -> Column:
    return flag(F.col("__provider_procedure_day_claims") > config.provider_procedure_daily_max)


def provider_procedure_volume(claims: DataFrame, config: DetectionConfig) -> DataFrame:
    """A provider billing one procedure more than N times in a day."""
    return with_provider_procedure_day_counts(claims).withColumn(
        "rule_provider_procedure_volume", provider_procedure_volume_hit(config)
    )


def customer_daily_volume_hit(config: DetectionConfig) -> Column:
    return flag(F.col("__day_claims") > config.customer_daily_max)


def customer_daily_volume(claims: DataFrame, config: DetectionConfig) -> DataFrame:
    """A customer with more than N claims in a day."""
    days = with_customer_features(claims, config)
    return days.withColumn("rule_customer_daily_volume", customer_daily_volume_hit(config))


def _enough_provider_claims(config: DetectionConfig) -> Column:
    return F.col("__provider_claims") >= config.min_provider_claims


def weekend_provider_hit(config: DetectionConfig) -> Column:
    share = F.col("__provider_weekend_share")
    return flag(is_weekend() & _enough_provider_claims(config) & (share > config.weekend_share_max))


def weekend_provider(claims: DataFrame, config: DetectionConfig) -> DataFrame:
    """A weekend claim from a provider whose weekend share is above the limit."""
    return with_provider_stats(claims).withColumn("rule_weekend_provider", weekend_provider_hit(config))


def round_amounts_hit(config: DetectionConfig) -> Column:
    share = F.col("__provider_round_share")
    return flag(is_round() & _enough_provider_claims(config) & (share > config.round_amount_share_max))


def round_amounts(claims: DataFrame, config: DetectionConfig) -> DataFrame:
    """A charge divisible by 100 from a provider that bills such round charges too often."""
    return with_provider_stats(claims).withColumn("rule_round_amount", round_amounts_hit(config))
