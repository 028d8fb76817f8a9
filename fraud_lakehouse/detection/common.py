"""Column helpers shared by the rule families."""

from __future__ import annotations

from pyspark.sql import Column
from pyspark.sql import functions as F

from fraud_lakehouse.detection.config import DetectionConfig

EARTH_RADIUS_MILES = 3958.8
# One claim of the lake: silver keeps claim ids unique per detection date (a blocking check).
ROW_KEY = ("detection_date", "claim_id")


def haversine_miles(lat1: Column, lon1: Column, lat2: Column, lon2: Column) -> Column:
    """Great-circle distance in miles; NULL when a coordinate is missing."""
    dlat = F.radians(lat2 - lat1)
    dlon = F.radians(lon2 - lon1)
    a = F.sin(dlat / 2) ** 2 + F.cos(F.radians(lat1)) * F.cos(F.radians(lat2)) * F.sin(dlon / 2) ** 2
    # least() skips NULLs, so the guard keeps a missing coordinate from reading as the far side of the earth
    located = lat1.isNotNull() & lon1.isNotNull() & lat2.isNotNull() & lon2.isNotNull()
    return F.when(located, 2 * EARTH_RADIUS_MILES * F.asin(F.least(F.lit(1.0), F.sqrt(a))))


def flag(condition: Column) -> Column:
    """A rule flag: NULL inputs mean the rule does not apply, which is False."""
    return F.coalesce(condition, F.lit(False))


def cents(amount: Column) -> Column:
    # Sums of whole cents (and of scores in 1/10,000) are exact, so every
    # engine and every partitioning gives the same totals to the last digit.
    return F.floor(amount * 100 + 0.5).cast("bigint")


def round_half_up(value: Column, digits: int) -> Column:
    """``value`` rounded half up to ``digits`` decimals, identically on every engine.

    Spark's ``round`` reads a double through its shortest decimal text, while
    others round the binary value, so a tie like 0.17375 can round either way.
    ``floor(x * 10^d + 0.5)`` on the same double gives the same result everywhere.
    """
    scale = 10.0**digits
    return F.floor(value * scale + 0.5) / scale


def is_night(config: DetectionConfig) -> Column:
    """The claim's hour (session time zone) is in the night hours; NULL for an untimed claim."""
    hour = F.hour("service_ts")
    if config.night_start_hour > config.night_end_hour:
        return (hour >= config.night_start_hour) | (hour < config.night_end_hour)
    return (hour >= config.night_start_hour) & (hour < config.night_end_hour)
