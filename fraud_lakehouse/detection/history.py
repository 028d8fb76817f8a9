"""Amount against the customer's own history: far above what this customer usually spends.

The history is the customer's claims over the earlier look-back days (per customer and day, see
detection.customer_features). The amount must also be unusual for its procedure, so a customer's first
expensive procedure is not read as fraud.
"""

from __future__ import annotations

from pyspark.sql import Column
from pyspark.sql import functions as F

from fraud_lakehouse.detection.common import flag
from fraud_lakehouse.detection.config import DetectionConfig
from fraud_lakehouse.detection.features import CATEGORY_Z

__all__ = ["amount_vs_history"]


def amount_vs_history(config: DetectionConfig) -> Column:
    """At least R times the customer's earlier mean with z above the limit, given enough history, and above
    its procedure's usual amount."""
    amount, mean = F.col("amount"), F.col("__history_mean")
    stdev = F.coalesce(F.col("__history_stdev"), F.lit(0.0))
    z = (amount - mean) / F.greatest(stdev, F.lit(1.0))
    enough = F.col("__history_claims") >= config.history_min_claims
    unusual_for_procedure = F.col(CATEGORY_Z) > config.history_min_amount_z
    return flag(enough & (amount >= config.history_ratio * mean) & (z > config.history_z_max) & unusual_for_procedure)
