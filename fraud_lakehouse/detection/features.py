"""Group statistics the rules read: aggregates of the claims, joined back by their group key.

Why aggregates and not windows: on Sail 0.7 a window over an unordered
partition buffers its whole input, and a chain of them grew faster than the
data (at 968,000 claims one rule's customer windows added 13 s to the rule
chain; a 2 M-claim run peaked at 9.5 GiB). A grouped aggregate streams, and an outer join on the
group's key that keeps every claim adds columns without adding rows; the aggregate is the join's left
(build) side (``frames.with_lookup``).

Each ``with_*`` helper adds its columns unless they are there already,
computing them from the frame it is given, so a rule also works alone on a
small frame. ``with_features`` adds them all, each aggregate taken from the
same input, so the plan grows linearly with the number of statistics:
joining an aggregate of a frame that already holds earlier joins would copy
those joins into the plan every time.

Keys are never NULL in silver (required fields); a claim with a NULL key
gets NULL statistics, which no rule reads as a hit.
"""

from __future__ import annotations

from pyspark.sql import Column, DataFrame, Window
from pyspark.sql import functions as F

from fraud_lakehouse.detection.common import ROW_KEY, cents, day_number, epoch_seconds, flag
from fraud_lakehouse.detection.config import DetectionConfig
from fraud_lakehouse.frames import first_of_repeated, with_lookup

PROVIDER_PROCEDURE_DAY = ("provider_id", "procedure", "service_date")
CUSTOMER_DAY = ("customer_key", "service_date")
EXACT_KEYS = ("customer_key", "provider_id", "procedure", "service_date", "amount")
NUL = "\u0000"  # sorts before every other character, so a shorter claim id sorts first as plain text would

CATEGORY_Z = "category_z"


def is_weekend() -> Column:
    return F.dayofweek("service_date").isin(1, 7)


def is_round() -> Column:
    return (F.col("amount") >= 100) & (F.col("amount") % 100 == 0)


def is_night(config: DetectionConfig) -> Column:
    hour = F.hour("service_ts")
    if config.night_start_hour > config.night_end_hour:
        return (hour >= config.night_start_hour) | (hour < config.night_end_hour)
    return (hour >= config.night_start_hour) & (hour < config.night_end_hour)


# -- per procedure / category ------------------------------------------------


def category_stats(claims: DataFrame) -> DataFrame:
    """Per procedure: claims, mean, sample standard deviation and exact quartiles of the amount."""
    return claims.groupBy("procedure").agg(
        F.count("amount").alias("__category_claims"),
        F.avg("amount").alias("__category_mean"),
        F.stddev_samp("amount").alias("__category_stdev"),
        F.expr("percentile(amount, 0.25)").alias("__category_q1"),
        F.expr("percentile(amount, 0.75)").alias("__category_q3"),
    )


def with_category_stats(claims: DataFrame, stats: DataFrame | None = None) -> DataFrame:
    """Adds the category statistics (``stats``, by default those of ``claims``) and ``category_z``, the amount's
    z-score within its procedure."""
    if CATEGORY_Z in claims.columns:
        return claims
    joined = with_lookup(claims, category_stats(claims) if stats is None else stats, "procedure", small=True)
    stdev = F.col("__category_stdev")
    return joined.withColumn(CATEGORY_Z, (F.col("amount") - F.col("__category_mean")) / F.when(stdev > 0, stdev))


# -- per provider ------------------------------------------------------------


def first_digit(amount_column: str = "amount") -> Column:
    """First significant digit of a positive amount."""
    amount = F.col(amount_column)
    scaled = amount / F.pow(F.lit(10.0), F.floor(F.log10(amount)))
    return F.when(amount > 0, F.floor(scaled + F.lit(1e-9)).cast("int"))


def provider_stats(claims: DataFrame) -> DataFrame:
    """Per provider: claims, amount mean and deviation, weekend and round-charge shares, first-digit counts."""
    digit = first_digit()
    return claims.groupBy("provider_id").agg(
        F.count("*").alias("__provider_claims"),
        F.count("amount").alias("__provider_amounts"),
        F.avg("amount").alias("__provider_mean"),
        F.stddev_samp("amount").alias("__provider_stdev"),
        F.avg(is_weekend().cast("double")).alias("__provider_weekend_share"),
        F.avg(is_round().cast("double")).alias("__provider_round_share"),
        F.count(F.when(digit.between(1, 9), digit)).alias("__provider_digits"),
        *[F.count(F.when(digit == d, digit)).alias(f"__provider_digit_{d}") for d in range(1, 10)],
    )


def with_provider_stats(claims: DataFrame) -> DataFrame:
    if "__provider_claims" in claims.columns:
        return claims
    return with_lookup(claims, provider_stats(claims), "provider_id", small=True)


def provider_procedure_day_counts(claims: DataFrame) -> DataFrame:
    """How many claims each provider billed for each procedure on each day."""
    return claims.groupBy(*PROVIDER_PROCEDURE_DAY).agg(F.count("*").alias("__provider_procedure_day_claims"))


def with_provider_procedure_day_counts(claims: DataFrame) -> DataFrame:
    if "__provider_procedure_day_claims" in claims.columns:
        return claims
    return with_lookup(claims, provider_procedure_day_counts(claims), PROVIDER_PROCEDURE_DAY)


# -- per customer and day, with the customer's earlier days ------------------


def customer_day_stats(claims: DataFrame, config: DetectionConfig) -> DataFrame:
    """Per customer and day: claims, night claims, large claims, the largest amount and category z; and over
    the customer's earlier look-back days: claims, mean and deviation of the amount, days the data covers.

    ``claims`` needs ``category_z``. The earlier days come from a range
    window over the (narrow) customer-day rows, summing whole cents so the
    mean and deviation are the same on every engine.
    """
    amount_cents = cents(F.col("amount"))
    days = claims.groupBy(*CUSTOMER_DAY).agg(
        F.count("*").alias("__day_claims"),
        F.count(F.when(flag(is_night(config)), 1)).alias("__day_night_claims"),
        F.count(F.when(F.col(CATEGORY_Z) > config.burst_z_score, 1)).alias("__day_large_claims"),
        F.max("amount").alias("__day_max_amount"),
        F.max(CATEGORY_Z).alias("__day_max_category_z"),
        F.count("amount").alias("__day_amounts"),
        F.sum(amount_cents).alias("__day_cents"),
        # Squares of whole cents as doubles stay exact (so order-free) below 2^53 in total.
        F.sum(amount_cents.cast("double") * amount_cents.cast("double")).alias("__day_cents_squared"),
    )
    lookback = max(config.lookback_days, 1)
    customer = Window.partitionBy("customer_key")
    earlier = customer.orderBy(day_number()).rangeBetween(-lookback, -1)
    count = F.coalesce(F.sum("__day_amounts").over(earlier), F.lit(0))
    total = F.sum("__day_cents").over(earlier)
    squares = F.sum("__day_cents_squared").over(earlier)
    # Divisors are NULL rather than zero: ANSI engines raise on division by zero.
    total_squared = total.cast("double") * total.cast("double")
    variance = (squares - total_squared / F.when(count > 0, count)) / F.when(count > 1, count - 1)
    # The customer's first day so far, in the same ordered window (one sort, no extra aggregate and join).
    first_day = F.min(day_number()).over(customer.orderBy(day_number()).rangeBetween(Window.unboundedPreceding, 0))
    return days.select(
        *CUSTOMER_DAY,
        "__day_claims",
        "__day_night_claims",
        "__day_large_claims",
        "__day_max_amount",
        "__day_max_category_z",
        F.coalesce(F.sum("__day_claims").over(earlier), F.lit(0)).alias("__history_day_claims"),
        count.alias("__history_claims"),
        (total / F.when(count > 0, count) / 100).alias("__history_mean"),
        # greatest() skips NULLs, so the guard keeps "fewer than two claims" NULL (as stddev_samp does).
        F.when(variance.isNotNull(), F.sqrt(F.greatest(variance, F.lit(0.0))) / 100).alias("__history_stdev"),
        F.least(F.lit(lookback), day_number() - first_day).alias("__history_days_covered"),
    )


def with_customer_day_stats(claims: DataFrame, config: DetectionConfig) -> DataFrame:
    if "__day_claims" in claims.columns:
        return claims
    scored = with_category_stats(claims)
    return with_lookup(scored, customer_day_stats(scored, config), CUSTOMER_DAY)


# -- per claim: the customer's claims just before it ----------------------------


def with_recent_claims(claims: DataFrame, config: DetectionConfig) -> DataFrame:
    """Adds ``__recent_claims``: the customer's claims within the velocity window ending at this claim (NULL for
    a claim without a time).

    An ordered range window, which the engines stream (unlike a window over a
    whole partition). Run on the narrow claims before any join adds columns:
    the window sorts every row it carries.
    """
    if "__recent_claims" in claims.columns:
        return claims
    recent = (
        Window.partitionBy("customer_key")
        .orderBy(epoch_seconds())
        .rangeBetween(-config.velocity_window_minutes * 60, 0)
    )
    return claims.withColumn("__recent_claims", F.when(F.col("service_ts").isNotNull(), F.count("*").over(recent)))


# -- duplicates ---------------------------------------------------------------


def order_key() -> Column:
    # Claims without a time sort by date; the claim id breaks ties.
    at = F.coalesce(F.col("service_ts"), F.col("service_date").cast("timestamp"))
    return F.struct(at.alias("at"), F.col("claim_id").alias("claim_id"))


def order_text() -> Column:
    """The order of ``order_key`` as one sortable text (time, claim id, detection date), so min() is a plain
    string aggregate: min() of a struct ran row by row on Sail."""
    at = F.coalesce(F.col("service_ts"), F.col("service_date").cast("timestamp"))
    return F.concat_ws(
        NUL, F.date_format(at, "yyyy-MM-dd HH:mm:ss.SSSSSS"), F.col("claim_id"), F.col("detection_date").cast("string")
    )


def exact_copies(claims: DataFrame) -> DataFrame:
    """The exact keys that repeat, with ``__exact_first``, the order text of their first copy (few rows)."""
    return first_of_repeated(claims, EXACT_KEYS, order_text(), "__exact_first")


def with_exact_copies(claims: DataFrame) -> DataFrame:
    if "__exact_first" in claims.columns:
        return claims
    return with_lookup(claims, exact_copies(claims), EXACT_KEYS, small=True)


def similarity(same_procedure: Column, amount: Column, other_amount: Column) -> Column:
    closeness = 1 - F.abs(amount - other_amount) / F.greatest(amount, other_amount)
    return 0.6 * same_procedure.cast("double") + 0.4 * closeness


def near_matches(claims: DataFrame, config: DetectionConfig) -> DataFrame:
    """Per claim (row key): ``__near``, the earliest earlier claim of the same customer and provider within N
    days whose similarity reaches the threshold (order and claim id), if any.

    A self-join on customer and provider: a customer sees few providers
    repeatedly, so the join is small; it ran 2x faster on Sail than
    collecting each pair's claims in a range window.
    """
    located = F.col("customer_key").isNotNull() & F.col("provider_id").isNotNull() & (F.col("amount") > 0)
    this = claims.where(located).select(
        *ROW_KEY,
        "customer_key",
        "provider_id",
        day_number().alias("__day"),
        order_key().alias("__order"),
        "procedure",
        "amount",
    )
    earlier = this.select(*[F.col(name).alias(f"__earlier_{name}") for name in this.columns])
    pairs = this.join(
        earlier,
        (F.col("customer_key") == F.col("__earlier_customer_key"))
        & (F.col("provider_id") == F.col("__earlier_provider_id"))
        & F.col("__earlier___day").between(F.col("__day") - config.near_duplicate_days, F.col("__day"))
        & (F.col("__earlier___order") < F.col("__order")),
    )
    close = (
        similarity(F.col("procedure") == F.col("__earlier_procedure"), F.col("amount"), F.col("__earlier_amount"))
        >= config.near_duplicate_similarity
    )
    earliest = F.min(F.struct(F.col("__earlier___order").alias("order"), F.col("__earlier_claim_id").alias("claim_id")))
    return pairs.where(close).groupBy(*ROW_KEY).agg(earliest.alias("__near"))


def with_near_matches(claims: DataFrame, config: DetectionConfig) -> DataFrame:
    if "__near" in claims.columns:
        return claims
    # Grouped by the row key, so the join back never adds rows.
    return with_lookup(claims, near_matches(claims, config), ROW_KEY)


# -- all of them ----------------------------------------------------------------


def with_features(claims: DataFrame, config: DetectionConfig) -> DataFrame:
    """Every statistic the rules read, each aggregated from ``claims`` itself and joined once."""
    # Every aggregate reads ``claims`` itself: the engine would run the window again inside each one.
    by_category = category_stats(claims)
    with_category = with_category_stats(claims, by_category)
    frame = with_category_stats(with_recent_claims(claims, config), by_category)
    frame = with_lookup(frame, provider_stats(claims), "provider_id", small=True)
    frame = with_lookup(frame, provider_procedure_day_counts(claims), PROVIDER_PROCEDURE_DAY)
    frame = with_lookup(frame, customer_day_stats(with_category, config), CUSTOMER_DAY)
    frame = with_lookup(frame, exact_copies(claims), EXACT_KEYS, small=True)
    return with_lookup(frame, near_matches(claims, config), ROW_KEY)
