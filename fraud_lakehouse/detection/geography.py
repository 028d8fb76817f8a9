"""Geography rules: provider far from the customer's home, and customer and provider in different states."""

from __future__ import annotations

from pyspark.sql import Column
from pyspark.sql import functions as F

from fraud_lakehouse.detection.common import flag, haversine_miles
from fraud_lakehouse.detection.config import DetectionConfig

__all__ = ["far_from_home", "state_mismatch", "unusual_patient_state"]


def far_from_home(config: DetectionConfig) -> Column:
    """Provider more than N miles from the customer's home (both located)."""
    distance = haversine_miles(
        F.col("customer_lat"), F.col("customer_long"), F.col("provider_lat"), F.col("provider_long")
    )
    return flag(distance > config.distance_max_miles)


def state_mismatch(config: DetectionConfig) -> Column:
    """Customer and provider in different states (both known)."""
    return flag(F.col("customer_state") != F.col("provider_state"))


def unusual_patient_state(config: DetectionConfig) -> Column:
    """A customer from another state than the provider's, a state the provider almost never sees customers from
    (given enough of its claims): not the neighbours a practice near a state line treats every day."""
    share = F.col("__provider_state_claims") / F.col("__provider_claims")
    enough = F.col("__provider_claims") >= config.min_provider_claims
    return flag(state_mismatch(config) & enough & (share < config.unusual_state_share))
