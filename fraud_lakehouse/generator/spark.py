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

# Customers per unit of transaction work. Any value gives the same rows; this
# one keeps a step's arrays around a few MB and gives enough units to spread
# over cores from about a thousand customers on.
CUSTOMERS_PER_BLOCK = 256

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


def block_count(customers: int) -> int:
    return -(-customers // CUSTOMERS_PER_BLOCK)


def customers_from_ids(customer_ids: DataFrame, params: GeneratorParams) -> DataFrame:
    """Customer records for a DataFrame of customer indices (column ``id``)."""

    def generate(batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
        for batch in batches:
            ids = batch.column("id").to_numpy()
            if ids.size:
                yield customer_batch(params, ids)

    return customer_ids.select("id").mapInArrow(generate, spark_ddl(CUSTOMER_SCHEMA))


def transactions_from_blocks(blocks: DataFrame, params: GeneratorParams, start: dt.date, end: dt.date) -> DataFrame:
    """Transactions on [start, end] (inclusive) of the customer blocks in ``blocks`` (column ``id``).

    Block ``b`` holds customers ``[b * CUSTOMERS_PER_BLOCK, (b + 1) * CUSTOMERS_PER_BLOCK)``.
    """

    def generate(batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
        for batch in batches:
            for block in batch.column("id").to_numpy():
                first = int(block) * CUSTOMERS_PER_BLOCK
                ids = np.arange(first, min(first + CUSTOMERS_PER_BLOCK, params.customers), dtype=np.int64)
                if ids.size:
                    yield from transaction_batches(params, ids, start, end)

    return blocks.select("id").mapInArrow(generate, spark_ddl(TRANSACTION_SCHEMA))
