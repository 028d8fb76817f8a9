"""Velocity rules: many claims of one customer within minutes, or far more in a day than usual."""

from __future__ import annotations

from pyspark.sql import Column
from pyspark.sql import functions as F

from fraud_lakehouse.detection.common import flag
from fraud_lakehouse.detection.config import DetectionConfig
from fraud_lakehouse.detection.statistics import large_amount_burst

__all__ = ["daily_surge", "rapid_claims", "spending_spree"]


def rapid_claims(config: DetectionConfig) -> Column:
    """At least N claims of the customer within the window ending at this claim (timed claims only)."""
    return flag(F.col("__recent_claims") >= config.velocity_max_claims)


def daily_surge(config: DetectionConfig) -> Column:
    """One of the claims of a day with at least N claims and R times the customer's usual daily count.

    Usual = the customer's claims over the earlier look-back days, per day the data covers since the
    customer's first claim in it (a lake that starts mid-window is not read as quiet days). A customer's first
    day is not judged.
    """
    covered_days = F.col("__history_days_covered")
    usual = F.col("__history_day_claims") / F.when(covered_days > 0, covered_days)
    today = F.col("__day_claims")
    surge = (
        usual.isNotNull()
        & (today >= config.daily_count_min)
        & (today >= config.daily_count_ratio * F.greatest(usual, F.lit(1.0)))
    )
    return flag(surge)


def spending_spree(config: DetectionConfig) -> Column:
    """A large amount of a customer's day that holds several (``large_amount_burst``) and far more claims than
    the customer's usual (``daily_surge``): a stolen card spent in daylight. Each alone is common in honest
    spending; together they are evidence the score cannot build from the two weak weights."""
    return large_amount_burst(config) & daily_surge(config)
