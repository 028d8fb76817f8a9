"""The transformation cases both engines run; each returns sorted rows as JSON-ready lists.

Imported by the parity test on Sail and run by `run_classic.py` inside the
classic pyspark 3.5 virtual environment, so the two sides share one definition
of every case.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json

from pyspark.sql import SparkSession

from fraud_lakehouse.generator.params import GeneratorParams
from fraud_lakehouse.generator.spark import customers_from_ids, transactions_from_units, unit_count

PARAMS = GeneratorParams(seed=7, customers=300, fraud_share=0.5, epoch=dt.date(2025, 1, 1))
START, END = dt.date(2025, 2, 27), dt.date(2025, 3, 2)


def _canonical(rows) -> list[list]:
    out = []
    for row in rows:
        out.append([value.isoformat() if isinstance(value, dt.date) else value for value in row])
    out.sort(key=lambda row: json.dumps(row, default=str))
    return out


def run_cases(spark: SparkSession) -> dict[str, dict]:
    customers = customers_from_ids(spark.range(0, PARAMS.customers, 1, 3), PARAMS)
    units = spark.range(0, unit_count(PARAMS, START, END), 1, 2)
    transactions = transactions_from_units(units, PARAMS, START, END)
    results = {}
    for name, frame in (("customers", customers), ("transactions", transactions)):
        rows = _canonical(tuple(row) for row in frame.collect())
        digest = hashlib.sha256(json.dumps(rows, default=str).encode()).hexdigest()
        results[name] = {"columns": frame.columns, "rows": len(rows), "sha256": digest, "sample": rows[:3]}
    return results
