"""The generator as pure DataFrame -> DataFrame transformations.

Both run the numpy generator inside ``mapInArrow``, which exists on classic
Spark 3.5 (EMR) and on Spark Connect engines (Sail), so the same code serves
every engine. Rows depend only on the params and on the ids in the input,
never on how the input is partitioned.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator

import numpy as np
import pyarrow as pa
from pyspark.sql import DataFrame

from fraud_lakehouse.generator.customers import CUSTOMER_SCHEMA, customer_batch
from fraud_lakehouse.generator.params import GeneratorParams
from fraud_lakehouse.generator.transactions import TRANSACTION_SCHEMA, transaction_batches

# A unit of transaction work is one day of up to this many customers. Units
# are days first so that each Spark task writes whole days: a table
# partitioned by date then needs no shuffle. Any value gives the same rows.
CUSTOMERS_PER_UNIT = 65_536

# Customers generated per vectorized call (engines pass mapInArrow ~1,024 ids at a time).
CUSTOMERS_PER_BATCH = 65_536

_SPARK_TYPES = {
    pa.string(): "string",
    pa.float64(): "double",
    pa.int64(): "bigint",
    pa.int32(): "int",
    pa.date32(): "date",
}


def spark_ddl(schema: pa.Schema) -> str:
    """A Spark DDL schema string for an Arrow schema of simple types."""
    return ", ".join(f"`{field.name}` {_SPARK_TYPES[field.type]}" for field in schema)


def customer_chunks(customers: int) -> int:
    return -(-customers // CUSTOMERS_PER_UNIT)


def unit_count(params: GeneratorParams, start: dt.date, end: dt.date) -> int:
    """Work units of [start, end]: one per (day, customer chunk); ids for `transactions_from_units`."""
    return ((end - start).days + 1) * customer_chunks(params.customers)


def _consecutive_runs(sorted_values: np.ndarray) -> list[np.ndarray]:
    breaks = np.nonzero(np.diff(sorted_values) != 1)[0] + 1
    return np.split(sorted_values, breaks)


def _id_chunks(batches: Iterator[pa.RecordBatch], min_rows: int) -> Iterator[np.ndarray]:
    """The ``id`` column of incoming batches, regrouped into arrays of at least ``min_rows``.

    Engines hand mapInArrow small batches (Sail: about 1,024 rows); the
    generator's vectorized steps pay off on tens of thousands.
    """
    pending: list[np.ndarray] = []
    size = 0
    for batch in batches:
        ids = batch.column("id").to_numpy()
        pending.append(ids)
        size += ids.size
        if size >= min_rows:
            yield np.concatenate(pending)
            pending, size = [], 0
    if size:
        yield np.concatenate(pending)


def customers_from_ids(customer_ids: DataFrame, params: GeneratorParams) -> DataFrame:
    """Customer records for a DataFrame of customer indices (column ``id``)."""

    def generate(batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
        for ids in _id_chunks(batches, CUSTOMERS_PER_BATCH):
            yield customer_batch(params, ids)

    return customer_ids.select("id").mapInArrow(generate, spark_ddl(CUSTOMER_SCHEMA))


def transactions_from_units(units: DataFrame, params: GeneratorParams, start: dt.date, end: dt.date) -> DataFrame:
    """Transactions of the work units in ``units`` (column ``id``, from ``range(unit_count(...))``).

    Unit ``u`` is day ``start + u // chunks`` for customers
    ``[c * CUSTOMERS_PER_UNIT, (c + 1) * CUSTOMERS_PER_UNIT)`` with ``c = u % chunks``.
    """
    chunks = customer_chunks(params.customers)
    last_unit = unit_count(params, start, end)

    def generate(batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
        for batch in batches:
            unit_ids = batch.column("id").to_numpy()
            unit_ids = unit_ids[(unit_ids >= 0) & (unit_ids < last_unit)]
            for chunk in np.unique(unit_ids % chunks):
                first_customer = int(chunk) * CUSTOMERS_PER_UNIT
                customer_ids = np.arange(first_customer, min(first_customer + CUSTOMERS_PER_UNIT, params.customers))
                day_offsets = np.sort(unit_ids[unit_ids % chunks == chunk] // chunks)
                for run in _consecutive_runs(day_offsets):
                    first_day = start + dt.timedelta(days=int(run[0]))
                    last_day = start + dt.timedelta(days=int(run[-1]))
                    yield from transaction_batches(params, customer_ids, first_day, last_day)

    return units.select("id").mapInArrow(generate, spark_ddl(TRANSACTION_SCHEMA))
