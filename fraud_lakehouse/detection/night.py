"""Night-time rules: a claim in the night hours, and the night claims of a customer's day with several.

A day with night claims raises its night claims; of its daytime claims, only those whose own amount is far
into their procedure's tail (``spree_day_claim``), never the customer's ordinary daytime claims.
"""

from __future__ import annotations

from pyspark.sql import Column
from pyspark.sql import functions as F

from fraud_lakehouse.detection.common import flag, is_night
from fraud_lakehouse.detection.config import DetectionConfig
from fraud_lakehouse.detection.features import CATEGORY_Z

__all__ = [
    "is_night",
    "large_night_spree",
    "night_burst",
    "night_claim",
    "night_pair",
    "night_spree",
    "spree_day_claim",
]


def _spree_day(config: DetectionConfig) -> Column:
    """The claim's customer-day holds several large night claims: a stolen card's session."""
    return F.col("__day_large_night_claims") >= config.burst_min_claims


def night_claim(config: DetectionConfig) -> Column:
    """A timed claim in the night hours."""
    return flag(is_night(config))


def night_burst(config: DetectionConfig) -> Column:
    """A night claim of a customer's day with at least N night claims: a stolen card used in one sitting."""
    return flag(is_night(config) & (F.col("__day_night_claims") >= config.night_claims_min))


def night_pair(config: DetectionConfig) -> Column:
    """A night claim of a customer's day with at least two (weaker than a burst)."""
    return flag(is_night(config) & (F.col("__day_night_claims") >= 2))


def large_night_spree(config: DetectionConfig) -> Column:
    """A large night claim (robust z in its procedure above the burst limit) of a customer's day with several:
    the stolen-card session, where each hint alone is ordinary (night shopping, a big purchase) and only
    together they are rare. The score's noisy-OR adds hints as independent; this rule is their conjunction,
    weighed on its own."""
    large = F.col(CATEGORY_Z) > config.burst_z_score
    return flag(is_night(config) & large & _spree_day(config))


def night_spree(config: DetectionConfig) -> Column:
    """A night claim of a day whose night holds several large claims: the session's small probes too, never
    the customer's daytime claims of that day."""
    return flag(is_night(config) & _spree_day(config))


def spree_day_claim(config: DetectionConfig) -> Column:
    """A daytime claim whose amount is far into its procedure's tail, of a day whose night holds several large
    claims: a stolen card is also used by day, for the largest purchases (Sparkov's fraud sessions run through
    the day). The claim's own part is its amount; an ordinary daytime claim of that day is not raised."""
    very_large = F.col(CATEGORY_Z) > config.spree_day_z_score
    return flag(~is_night(config) & very_large & _spree_day(config))
