"""The per-customer kernel against the features' definitions written as plain SQL (windows, aggregates and a
self-join, as gold computed them before the kernel), on claims built to hit the edge cases: time ties, untimed
claims, exact copies across detection dates, near duplicates, days at the edge of the look-back."""

from __future__ import annotations

import datetime as dt
import itertools
import random

import pyarrow as pa
import pytest
from pyspark.sql import Column, DataFrame, Window
from pyspark.sql import functions as F

from fraud_lakehouse.detection import customer_features
from fraud_lakehouse.detection.common import ROW_KEY, cents, flag, is_night
from fraud_lakehouse.detection.config import DetectionConfig
from fraud_lakehouse.detection.features import CATEGORY_Z, similarity, with_category_stats, with_customer_features
from fraud_lakehouse_tests.rules.claims import DAY, claim, claims

FEATURE_NAMES = [name for name, _, _ in customer_features.FEATURES]


def day_number() -> Column:
    return F.datediff(F.col("service_date"), F.lit("1970-01-01").cast("date"))


def epoch_seconds() -> Column:
    return F.unix_timestamp(F.col("service_ts"))


def _edge_case_claims(seed: int) -> list[dict]:
    rng = random.Random(seed)
    rows = []
    for _ in range(700):
        day = rng.randrange(0, 14)
        # few customers, providers, amounts and minutes: many ties, copies and near duplicates
        at = dt.datetime.combine(DAY + dt.timedelta(days=day), dt.time(rng.choice([0, 2, 9, 23]), rng.choice([0, 30])))
        timed = rng.random() > 0.1
        rows.append(
            claim(
                f"c{rng.randrange(0, 650):04d}",  # repeated claim ids: tie-breaks by detection date
                customer_key=f"k{rng.randrange(0, 12)}",
                provider_id=f"p{rng.randrange(0, 3)}",
                procedure=rng.choice(["grocery_pos", "misc_net", "travel"]),
                amount=rng.choice([20.0, 20.5, 100.0, 99.0, 7.25, 1200.0]),
                service_ts=at if timed else None,
                service_date=at.date(),
                detection_date=DAY + dt.timedelta(days=day + rng.choice([0, 0, 1])),
            )
        )
    # the row key (detection date, claim id) is unique in silver
    unique = {(row["detection_date"], row["claim_id"]): row for row in rows}
    return list(unique.values())


def _sql_definitions(frame: DataFrame, config: DetectionConfig) -> DataFrame:
    """The features as SQL: the reference the kernel must match, row for row."""
    scored = with_category_stats(frame)
    recent_window = (
        Window.partitionBy("customer_key")
        .orderBy(epoch_seconds())
        .rangeBetween(-config.velocity_window_minutes * 60, 0)
    )
    recent = scored.select(
        *ROW_KEY, F.when(F.col("service_ts").isNotNull(), F.count("*").over(recent_window)).alias("__recent_claims")
    )
    amount_cents = cents(F.col("amount"))
    days = scored.groupBy("customer_key", "service_date").agg(
        F.count("*").alias("__day_claims"),
        F.count(F.when(flag(is_night(config)), 1)).alias("__day_night_claims"),
        F.count(F.when(F.col(CATEGORY_Z) > config.burst_z_score, 1)).alias("__day_large_claims"),
        F.count(F.when(flag(is_night(config)) & (F.col(CATEGORY_Z) > config.burst_z_score), 1)).alias(
            "__day_large_night_claims"
        ),
        F.max("amount").alias("__day_max_amount"),
        F.max(CATEGORY_Z).alias("__day_max_category_z"),
        F.count("amount").alias("__day_amounts"),
        F.sum(amount_cents).alias("__day_cents"),
        F.sum(amount_cents.cast("double") * amount_cents.cast("double")).alias("__day_cents_squared"),
    )
    lookback = max(config.lookback_days, 1)
    customer = Window.partitionBy("customer_key")
    earlier = customer.orderBy(day_number()).rangeBetween(-lookback, -1)
    count = F.coalesce(F.sum("__day_amounts").over(earlier), F.lit(0))
    total = F.sum("__day_cents").over(earlier)
    squares = F.sum("__day_cents_squared").over(earlier)
    variance = (squares - total.cast("double") * total.cast("double") / F.when(count > 0, count)) / F.when(
        count > 1, count - 1
    )
    first_day = F.min(day_number()).over(customer.orderBy(day_number()).rangeBetween(Window.unboundedPreceding, 0))
    day_stats = days.select(
        "customer_key",
        "service_date",
        "__day_claims",
        "__day_night_claims",
        "__day_large_claims",
        "__day_large_night_claims",
        "__day_max_amount",
        "__day_max_category_z",
        F.coalesce(F.sum("__day_claims").over(earlier), F.lit(0)).alias("__history_day_claims"),
        count.alias("__history_claims"),
        (total / F.when(count > 0, count) / 100).alias("__history_mean"),
        F.when(variance.isNotNull(), F.sqrt(F.greatest(variance, F.lit(0.0))) / 100).alias("__history_stdev"),
        F.least(F.lit(lookback), day_number() - first_day).alias("__history_days_covered"),
    )
    at = F.coalesce(F.col("submitted_date"), F.col("service_date")).cast("timestamp")
    scored = scored.withColumn("__key", customer_features.submission_order_key())
    order = F.struct(at.alias("at"), F.col("__key").alias("key"), F.col("detection_date").alias("date"),
                     F.col("claim_id").alias("claim_id"))  # fmt: skip
    exact_keys = ["customer_key", "provider_id", "procedure", "service_date", "amount"]
    firsts = scored.groupBy(*exact_keys).agg(F.min(order).alias("__first"))
    exact = (
        scored.join(firsts, exact_keys)
        .where(order != F.col("__first"))
        .select(*ROW_KEY, F.col("__first.claim_id").alias("__exact_original"))
    )
    this = scored.where(F.col("amount") > 0).select(
        *ROW_KEY, "customer_key", "provider_id", "procedure", "amount", day_number().alias("day"), at.alias("at"),
        "__key",
    )  # fmt: skip
    other = this.select(*[F.col(name).alias(f"o_{name}") for name in this.columns])
    pairs = this.join(
        other,
        (F.col("customer_key") == F.col("o_customer_key"))
        & (F.col("provider_id") == F.col("o_provider_id"))
        & F.col("o_day").between(F.col("day") - config.near_duplicate_days, F.col("day"))
        & (F.struct(F.col("o_at").alias("at"), F.col("o___key").alias("k")) < F.struct("at", F.col("__key").alias("k")))
        & (similarity(F.col("procedure") == F.col("o_procedure"), F.col("amount"), F.col("o_amount"))
           >= config.near_duplicate_similarity),
    )  # fmt: skip
    near = pairs.groupBy(*ROW_KEY).agg(
        F.min(F.struct("o_at", "o___key", "o_claim_id"))["o_claim_id"].alias("__near_original")
    )
    return (
        frame.select(*ROW_KEY, "customer_key", "service_date")
        .join(recent, list(ROW_KEY), "left")
        .join(day_stats, ["customer_key", "service_date"], "left")
        .join(exact, list(ROW_KEY), "left")
        .join(near, list(ROW_KEY), "left")
        .select(*ROW_KEY, *FEATURE_NAMES)
    )


def _rows(frame: DataFrame) -> dict:
    return {(row.detection_date, row.claim_id): tuple(row)[2:] for row in frame.collect()}


@pytest.mark.parametrize(
    "config",
    [
        DetectionConfig(),
        DetectionConfig(lookback_days=3, near_duplicate_days=2, near_duplicate_similarity=0.6, burst_z_score=0.5),
        DetectionConfig(lookback_days=0, velocity_window_minutes=600, night_start_hour=1, night_end_hour=5),
    ],
    ids=["defaults", "short-lookback", "no-lookback"],
)
@pytest.mark.parametrize("seed", [1, 2])
def test_kernel_matches_the_sql_definitions(spark, config, seed):
    frame = claims(spark, _edge_case_claims(seed))
    expected = _rows(_sql_definitions(frame, config))
    actual = _rows(with_customer_features(frame, config).select(*ROW_KEY, *FEATURE_NAMES))
    assert actual.keys() == expected.keys()
    assert sum(1 for values in expected.values() if values[-2] is not None) > 5  # exact copies occur
    assert sum(1 for values in expected.values() if values[-1] is not None) > 5  # near duplicates occur
    different = {key: (expected[key], actual[key]) for key in expected if expected[key] != actual[key]}
    assert not different, list(different.items())[:3]


def test_kernel_result_does_not_depend_on_how_customers_are_partitioned(spark):
    config = DetectionConfig(lookback_days=3)
    frame = with_category_stats(claims(spark, _edge_case_claims(3))).select(
        "*", *customer_features.kernel_inputs(config)
    )
    table = pa.Table.from_pylist([row.asDict() for row in frame.collect()])
    settings = customer_features.KernelSettings.of(config)
    whole = customer_features.customer_feature_batch(table, settings)
    rng = random.Random(5)
    shuffled = table.take(rng.sample(range(table.num_rows), table.num_rows))
    keys = shuffled.column("customer_key").to_pylist()
    parts = [shuffled.filter(pa.array([int(key[1:]) % 3 == part for key in keys])) for part in range(3)]
    split = pa.concat_tables([customer_features.customer_feature_batch(part, settings) for part in parts])

    def by_row(result: pa.Table) -> dict:
        return {(row["detection_date"], row["claim_id"]): row for row in result.to_pylist()}

    assert by_row(split) == by_row(whole)


def test_a_claim_without_a_customer_gets_no_customer_features(spark):
    rows = [claim("a-first"), claim("b-copy"), claim("anonymous", customer_key=None)]
    result = {row.claim_id: row for row in with_customer_features(claims(spark, rows), DetectionConfig()).collect()}
    assert result["b-copy"]["__exact_original"] == "a-first"
    assert result["b-copy"]["__day_claims"] == 2
    assert all(result["anonymous"][name] is None for name in FEATURE_NAMES)


@pytest.mark.parametrize("spread", [10, 2**40], ids=["packed", "too-wide-to-pack"])
def test_group_ids_are_equal_exactly_when_every_code_is(spread):
    import numpy as np

    rng = np.random.default_rng(4)
    # the last code holds NULLs (-1)
    codes = [rng.integers(0, 3, 500) * spread, rng.integers(0, 4, 500) * spread, rng.integers(-1, 2, 500)]
    ids = customer_features._group_ids(codes)
    tuples = list(zip(*(code.tolist() for code in codes), strict=True))
    for left in range(0, 500, 7):
        for right in range(0, 500, 11):
            assert (ids[left] == ids[right]) == (tuples[left] == tuples[right])


def test_packing_refuses_what_does_not_fit_instead_of_mixing_customers():
    import numpy as np

    customers = np.array([0, 1], dtype=np.int64)
    with pytest.raises(ValueError, match="span too long"):
        customer_features._packed(customers, np.array([0, 1 << 34], dtype=np.int64), 34, "seconds")
    packed = customer_features._packed(customers, np.array([5, 3], dtype=np.int64), 34, "seconds")
    assert packed.tolist() == [5, (1 << 34) | 3]


def test_the_per_customer_pass_uses_several_partitions_and_more_as_claims_grow():
    # one landed day arrives as one partition: the pass must still give every core a share
    assert customer_features.kernel_partitions(1) == customer_features.MIN_KERNEL_PARTITIONS
    assert customer_features.kernel_partitions(1_000_000) == customer_features.MIN_KERNEL_PARTITIONS
    rows = 40 * customer_features.KERNEL_PARTITION_ROWS + 1
    assert customer_features.kernel_partitions(rows) == 41


@pytest.mark.parametrize("chunk_rows", [1, 37, 10_000])
def test_claims_sorted_by_customer_in_chunks_give_the_same_features_as_gathered(spark, chunk_rows):
    # beyond GATHER_MAX_ROWS the pass reads the claims sorted by customer, chunks of whole customers at a time
    config = DetectionConfig(lookback_days=3)
    frame = with_category_stats(claims(spark, [*_edge_case_claims(4), claim("anonymous", customer_key=None)]))
    gathered = _rows(customer_features.with_per_customer_features(frame, config).select(*ROW_KEY, *FEATURE_NAMES))
    chunked = customer_features.with_per_customer_features(frame, config, gather_max_rows=0, chunk_rows=chunk_rows)
    assert chunked.columns == customer_features.with_per_customer_features(frame, config).columns
    assert _rows(chunked.select(*ROW_KEY, *FEATURE_NAMES)) == gathered


def test_chunks_hold_whole_customers_and_claims_out_of_customer_order_are_refused():
    def batch(keys: list) -> pa.RecordBatch:
        return pa.record_batch([pa.array(keys, pa.string())], names=["customer_key"])

    def chunks(batches: list[pa.RecordBatch], chunk_rows: int = 2) -> list[list]:
        return [
            chunk.column("customer_key").to_pylist()
            for chunk in customer_features.customer_chunks(iter(batches), chunk_rows=chunk_rows)
        ]

    batches = [batch([None, None, "a"]), batch(["a", "a", "b"]), batch(["b", "c"]), batch(["d"])]
    assert chunks(batches) == [[None, None], ["a", "a", "a"], ["b", "b"], ["c"], ["d"]]
    # engines differ on where the NULL keys go: last is grouped too
    assert chunks([batch(["a", "b"]), batch(["b", None]), batch([None])]) == [["a"], ["b", "b"], [None, None]]
    assert chunks(batches, chunk_rows=100) == [[None, None, "a", "a", "a", "b", "b", "c", "d"]]
    unordered = (
        [batch(["a", "b"]), batch(["a"])],
        [batch(["b", "a"])],
        [batch([None, "a", None])],
        [batch([None]), batch(["a"]), batch([None])],
        [batch(["a", None]), batch(["b"]), batch([None])],
    )
    for out_of_order in unordered:
        with pytest.raises(RuntimeError, match="grouped by customer"):
            list(customer_features.customer_chunks(iter(out_of_order), chunk_rows=1))


def test_chunks_of_a_customer_spread_over_many_batches_and_of_any_batching_hold_whole_customers():
    def chunks(batches: list[list], chunk_rows: int) -> list[list]:
        record_batches = [pa.record_batch([pa.array(keys, pa.string())], names=["customer_key"]) for keys in batches]
        return [
            chunk.column("customer_key").to_pylist()
            for chunk in customer_features.customer_chunks(iter(record_batches), chunk_rows=chunk_rows)
        ]

    # one customer far larger than a chunk, one claim per batch, between two others
    spread = [["a", "b"], *[["b"]] * 1000, ["b", "c"], ["c"], [None]]
    assert chunks(spread, chunk_rows=1) == [["a"], ["b"] * 1002, ["c", "c"], [None]]
    assert chunks([[None]] * 500 + [[None, "a"]], chunk_rows=3) == [[None] * 501, ["a"]]

    rng = random.Random(7)
    for _ in range(200):
        keys = sorted(rng.choices("abcdefgh", k=rng.randint(1, 60)))
        keys = [None] * rng.randint(0, 5) + keys if rng.random() < 0.5 else keys + [None] * rng.randint(0, 5)
        cuts = sorted(rng.sample(range(1, len(keys)), k=min(len(keys) - 1, rng.randint(0, 10))))
        batches = [keys[start:end] for start, end in zip([0, *cuts], [*cuts, len(keys)], strict=True)]
        chunk_rows = rng.randint(1, 20)
        got = chunks(batches, chunk_rows)
        assert [key for chunk in got for key in chunk] == keys
        assert all(not set(first) & set(second) for first, second in itertools.combinations(got, 2))
        # a chunk is cut only once the claims waiting reach chunk_rows, before the customer still coming in
        assert all(len(chunk) + keys.count(got[index + 1][0]) >= chunk_rows for index, chunk in enumerate(got[:-1]))


@pytest.mark.parametrize(
    ("days", "similarity_threshold"),
    [(0, 0.9), (0, 0.85), (0, 0.99), (0, 1.0), (2, 0.9), (30, 0.95), (2, 0.6), (1, 0.4), (1, 0.3), (3, 0.0)],
)
def test_near_duplicates_by_amount_runs_find_what_comparing_every_pair_finds(days, similarity_threshold):
    import numpy as np

    # amounts at the edge of closeness (75 and 100 are exactly 0.75 apart: similarity 0.9), ties of order time
    # and claim rank, groups from one claim to hundreds, candidates on other days and of other procedures
    settings = customer_features.KernelSettings(
        lookback_days=1, velocity_window_seconds=60, burst_z_score=3.0, near_duplicate_days=days,
        near_duplicate_similarity=similarity_threshold,
    )  # fmt: skip
    amounts = [75.0, 100.0, 99.0, 133.33, 133.34, 56.25, 20.0, 20.5, 0.01, 0.02, 1e6, 749_999.99, 37.5, 50.0]
    rng = np.random.default_rng(11)
    matches = 0
    for size in (1, 2, 50, 400, 3000):
        for _ in range(4):
            group = rng.integers(0, max(size // 100, 1), size) * 7919
            procedure = rng.integers(0, 3, size)
            amount = rng.choice(amounts, size) if rng.random() < 0.7 else np.round(rng.uniform(1, 300, size), 2)
            day = rng.integers(19_000, 19_000 + max(days, 2) + 2, size)
            order_at = rng.integers(0, 4, size) * 86_400_000_000
            claim_rank = rng.integers(0, size // 2 + 1, size)
            detection = rng.integers(19_000, 19_002, size).astype(np.int32)
            rows = np.sort(rng.choice(size, size=max(size - size // 10, 1), replace=False))
            inputs = (group, rows, procedure, amount, day, order_at, claim_rank, detection)
            every_pair = customer_features._near_originals(*inputs, settings, every_pair=True)
            assert customer_features._near_originals(*inputs, settings).tolist() == every_pair.tolist()
            matches += int((every_pair >= 0).sum())
    assert matches > 100  # near duplicates occur


def test_the_minimum_table_gives_the_minimum_of_each_range():
    import numpy as np

    rng = np.random.default_rng(3)
    values = rng.integers(0, 1000, 300)
    low = rng.integers(0, 300, 2000)
    high = np.minimum(low + rng.integers(-3, 300, 2000), 299)
    got = customer_features._MinimumTable(values, longest=300).of(low, high, empty=-1)
    expected = [int(values[lo : hi + 1].min()) if hi >= lo else -1 for lo, hi in zip(low, high, strict=True)]
    assert got.tolist() == expected
