"""Duplicate rules: exact copies and near duplicates of an earlier claim.

Exact: same customer, provider, procedure, service date and amount under another claim id; the first in
submission order (submitted date, then file and row order) is the original, every later one a copy. Near: the
same customer and provider within N days (default 0: the same service date, a re-bill with an altered amount;
visits on other days are repeat visits, not copies), similarity = 0.6 x [same procedure] + 0.4 x
(1 - |a - b| / max(a, b)) at or above the threshold; the first such earlier claim is the original. Both come
from the per-customer pass (``customer_features``).
"""

from __future__ import annotations

from pyspark.sql import Column
from pyspark.sql import functions as F

from fraud_lakehouse.detection.common import flag
from fraud_lakehouse.detection.config import DetectionConfig
from fraud_lakehouse.detection.features import similarity

__all__ = ["duplicate_of", "exact_duplicate", "near_duplicate", "similarity"]


def exact_duplicate(config: DetectionConfig) -> Column:
    """A later copy of an earlier claim (a claim with a NULL key is no one's copy)."""
    return flag(F.col("__exact_original").isNotNull())


def near_duplicate(config: DetectionConfig) -> Column:
    """Close to an earlier claim of the same customer and provider; an exact copy is not also a near one."""
    return flag(F.col("__near_original").isNotNull() & ~exact_duplicate(config))


def duplicate_of() -> Column:
    """The claim id of the original: the first exact copy, else the earliest near one."""
    return F.coalesce(F.col("__exact_original"), F.col("__near_original"))
