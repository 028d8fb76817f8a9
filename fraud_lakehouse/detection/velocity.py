"""Velocity rules: many claims of one customer within minutes, or far more in a day than usual."""

from __future__ import annotations

from pyspark.sql import Column
from pyspark.sql import functions as F

from fraud_lakehouse.detection.common import flag
from fraud_lakehouse.detection.config import DetectionConfig

__all__ = ["daily_surge", "rapid_claims"]


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
