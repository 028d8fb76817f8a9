"""Same seed and day, same rows: whatever the range, partition count or engine run."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pyarrow as pa

from fraud_lakehouse.generator.params import GeneratorParams
from fraud_lakehouse.generator.spark import customers_from_ids, transactions_from_units, unit_count
from fraud_lakehouse.generator.transactions import transaction_batches

PARAMS = GeneratorParams(seed=2024, customers=700)
DAY = dt.date(2025, 3, 15)


def _rows(frame) -> list[tuple]:
    return sorted(tuple(row) for row in frame.collect())


def _transactions(spark, start: dt.date, end: dt.date, partitions: int):
    units = spark.range(0, unit_count(PARAMS, start, end), 1, partitions)
    return transactions_from_units(units, PARAMS, start, end)


def test_day_alone_equals_the_same_day_inside_a_range(spark):
    alone = _rows(_transactions(spark, DAY, DAY, 2))
    in_range = _rows(
        _transactions(spark, DAY - dt.timedelta(days=5), DAY + dt.timedelta(days=3), 2).where(
            f"trans_date = DATE'{DAY}'"
        )
    )
    assert alone and alone == in_range


def test_one_and_eight_partitions_give_identical_rows(spark):
    start, end = dt.date(2025, 3, 1), dt.date(2025, 3, 4)
    one = _rows(_transactions(spark, start, end, 1))
    eight = _rows(_transactions(spark, start, end, 8))
    assert len(one) > 1_000 and one == eight
    customers_one = _rows(customers_from_ids(spark.range(0, PARAMS.customers, 1, 1), PARAMS))
    customers_eight = _rows(customers_from_ids(spark.range(0, PARAMS.customers, 1, 8), PARAMS))
    assert customers_one == customers_eight


def test_engine_rows_equal_the_numpy_generator(spark):
    engine = _rows(_transactions(spark, DAY, DAY, 3))
    table = pa.Table.from_batches(list(transaction_batches(PARAMS, np.arange(PARAMS.customers), DAY, DAY)))
    direct = sorted(tuple(row.values()) for row in table.to_pylist())
    assert engine == direct


def test_customer_chunks_split_a_day_the_same_way(spark, monkeypatch):
    # With smaller work units a day is spread over several units (and tasks);
    # the rows must not change.
    import fraud_lakehouse.generator.spark as generator_spark

    reference = _rows(_transactions(spark, DAY, DAY, 2))
    monkeypatch.setattr(generator_spark, "CUSTOMERS_PER_UNIT", 64)
    split = _rows(_transactions(spark, DAY, DAY, 4))
    assert split == reference


def test_a_different_seed_gives_different_rows():
    first = pa.Table.from_batches(list(transaction_batches(PARAMS, np.arange(50), DAY, DAY)))
    other = GeneratorParams(seed=PARAMS.seed + 1, customers=PARAMS.customers)
    second = pa.Table.from_batches(list(transaction_batches(other, np.arange(50), DAY, DAY)))
    assert first.column("trans_num").to_pylist() != second.column("trans_num").to_pylist()
