"""Billing-pattern rules: volumes per provider and customer, weekend and round-number habits, new providers.

Each rule is a flag over claims that hold every feature (``features.with_features``); the registry in
``scoring`` names it once. A provider- or day-level pattern raises a claim only through the claim's own part
in it: the weekend claims of a weekend-heavy provider, the round charge itself.
"""

from __future__ import annotations

from pyspark.sql import Column
from pyspark.sql import functions as F

from fraud_lakehouse.detection.common import flag
from fraud_lakehouse.detection.config import DetectionConfig
from fraud_lakehouse.detection.features import is_round, is_weekend

__all__ = ["customer_daily_volume", "new_provider_burst", "provider_procedure_volume", "round_amount",
           "weekend_provider"]  # fmt: skip


def provider_procedure_volume(config: DetectionConfig) -> Column:
    """One of a provider's claims for a procedure it billed more than N times that day, and several times more
    than on its other days (when it billed it on other days): an impossible day, not a large practice's usual
    volume (a fixed N alone flagged every claim of a 45,000-card population, whose merchants each sell about 100
    times a day)."""
    day = F.col("__provider_procedure_day_claims")
    other_days = F.col("__provider_procedure_other_days")
    # day > ratio x (mean of the other days), without a division
    unusual = (other_days == 0) | (
        day * other_days > config.provider_procedure_usual_ratio * F.col("__provider_procedure_other_claims")
    )
    return flag((day > config.provider_procedure_daily_max) & unusual)


def customer_daily_volume(config: DetectionConfig) -> Column:
    """One of a customer's claims on a day with more than N of them."""
    return flag(F.col("__day_claims") > config.customer_daily_max)


def weekend_provider(config: DetectionConfig) -> Column:
    """A weekend claim of a provider whose weekend share is both above the limit and significantly above the
    data's own (a one-sided binomial z-test, continuity-corrected): a small provider's few weekend claims are
    chance."""
    heavy = (
        (F.col("__provider_claims") >= config.min_provider_claims)
        & (F.col("__provider_weekend_claims") > config.weekend_share_max * F.col("__provider_claims"))
        # z = excess / spread above the limit
        & (F.col("__provider_weekend_spread") > 0)
        & (F.col("__provider_weekend_excess") > config.weekend_z_min * F.col("__provider_weekend_spread"))
    )
    return flag(is_weekend() & heavy)


def round_amount(config: DetectionConfig) -> Column:
    """An exact round charge (a multiple of 100) for a procedure whose charges are almost never round (a rare
    procedure: judged by every claim's charges)."""
    enough = F.col("__amount_claims") >= config.min_group_claims
    return flag(is_round() & enough & (F.col("__round_share") < config.round_share_rare))


def new_provider_burst(config: DetectionConfig) -> Column:
    """A claim of a provider first seen after a week or more of data that bills only in a burst: many claims
    on one or two days."""
    new = F.col("__provider_days_after_data_start") >= config.new_provider_history_days
    burst = (F.col("__provider_active_days") <= config.new_provider_max_days) & (
        F.col("__provider_claims") >= config.new_provider_min_claims
    )
    return flag(new & burst)
