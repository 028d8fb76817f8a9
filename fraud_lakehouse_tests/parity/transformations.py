"""The transformation cases both engines run; each returns sorted rows as JSON-ready lists.

Imported by the parity test on Sail and run by `run_classic.py` inside the
classic pyspark 3.5 virtual environment, so the two sides share one definition
of every case.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F
from pyspark.sql.types import StructType

from fraud_lakehouse.claims.ingest import raw_frame, raw_table
from fraud_lakehouse.claims.model import RAW_SCHEMA
from fraud_lakehouse.claims.silver import (
    ValidationRules,
    candidates_from_raw,
    candidates_from_transactions,
    quarantined_claims,
    silver_claims,
    validate,
)
from fraud_lakehouse.detection import gold
from fraud_lakehouse.detection.config import DetectionConfig
from fraud_lakehouse.detection.customer_features import with_per_customer_features
from fraud_lakehouse.detection.features import with_category_stats
from fraud_lakehouse.generator.params import GeneratorParams
from fraud_lakehouse.generator.spark import customers_from_ids, transactions_from_units, unit_count
from fraud_lakehouse.partitions import PARTITION_COLUMN

PARAMS = GeneratorParams(seed=7, customers=300, fraud_share=0.5, epoch=dt.date(2025, 1, 1))
START, END = dt.date(2025, 2, 27), dt.date(2025, 3, 2)
SECRET = "parity-key"
TODAY = dt.date(2026, 1, 1)
INSURANCE_FILE = (
    b"claim_id,patient_id,provider_id,provider_name,procedure_code,diagnosis_code,service_date,submitted_date,"
    b"charge_amount,paid_amount,patient_state,provider_state,place_of_service\n"
    b"C1,P1,PR1,Clinic,99213,J45,2025-02-28,2025-03-01,120.50,100,CA,NV,11\n"
    b"C2,P1,PR1,Clinic,99213,J45,2025-02-28,2025-03-01,-3,0,CA,CA,11\n"
    b"C1,P2,PR2,Lab,80053,E11,2025-02-28,2025-03-01,45,40,ZZ,CA,81\n"
    b'C3,P2,PR2,"Lab, North",80053,E11,2025-02-30,2025-03-01,$1,045.00,40,CA,CA,81\n'
    b"C4,P3,PR2,Lab\n"
)


# Parquet data files an ingest wrote into bronze/claims_raw (``ingest_files`` runs where delta-rs is installed; the
# test passes their paths, separated by os.pathsep). Both engines read them as Parquet with the table's columns.
BRONZE_FILES_VARIABLE = "FRAUD_LAKEHOUSE_PARITY_BRONZE_FILES"


def bronze_data_files(spark: SparkSession, paths: list[str]) -> DataFrame:
    """The data files' rows in the table's columns (the partition value is in the Delta log, not the files): a
    column a file leaves out reads as NULL. The ingest time is only checked present (engines render it alike
    only in the same session time zone)."""
    schema = StructType([field for field in RAW_SCHEMA.fields if field.name != PARTITION_COLUMN])
    rows = spark.read.schema(schema).parquet(*paths)
    return rows.select(
        *[name for name in schema.fieldNames() if name != "ingested_at"],
        F.col("ingested_at").isNotNull().alias("has_ingested_at"),
    )


def _canonical(rows) -> list[list]:
    out = []
    for row in rows:
        out.append([value.isoformat() if isinstance(value, dt.date) else value for value in row])
    out.sort(key=lambda row: json.dumps(row, default=str))
    return out


def _stored(spark: SparkSession, frame: DataFrame) -> DataFrame:
    """The frame's rows as a new in-memory frame, as the assets read each layer back from its table: gold
    joins several aggregates of its input, and over an unstored silver plan each join repeats all of it."""
    return spark.createDataFrame(frame.collect(), frame.schema)


def run_cases(spark: SparkSession) -> dict[str, dict]:
    customers = customers_from_ids(spark.range(0, PARAMS.customers, 1, 3), PARAMS)
    units = spark.range(0, unit_count(PARAMS, START, END), 1, 2)
    transactions = transactions_from_units(units, PARAMS, START, END)
    landed = raw_table("2025-02-28/claims.csv", INSURANCE_FILE, dt.date(2025, 2, 28), dt.datetime(2025, 3, 1))
    raw = raw_frame(spark, [landed])
    rules = ValidationRules(today=TODAY)
    validated = validate(
        candidates_from_raw(raw, SECRET).unionByName(candidates_from_transactions(transactions, customers, SECRET)),
        rules,
    )
    claims = _stored(spark, silver_claims(validated))
    config = DetectionConfig(lookback_days=2)
    flagged = _stored(
        spark, gold.flag_claims(claims, (START + dt.timedelta(days=1), END + dt.timedelta(days=1)), config)
    )
    customer_features_in_chunks = with_per_customer_features(
        with_category_stats(claims), config, gather_max_rows=0, chunk_rows=500
    )
    results = {}
    bronze_files = os.environ.get(BRONZE_FILES_VARIABLE)
    cases = (
        *((("bronze_data_files", bronze_data_files(spark, bronze_files.split(os.pathsep))),) if bronze_files else ()),
        ("customers", customers),
        ("transactions", transactions),
        ("silver_claims", claims),
        ("silver_quarantine", quarantined_claims(validated)),
        ("gold_flagged_claims", flagged),
        # the per-customer pass as it runs on large inputs: claims sorted by customer, chunks of whole customers
        ("customer_features_in_chunks", customer_features_in_chunks),
        ("gold_provider_risk", gold.provider_risk(flagged)),
        ("gold_fraud_by_rule", gold.fraud_by_rule(flagged)),
        ("gold_detection_quality", gold.detection_quality(flagged)),
    )
    for name, frame in cases:
        rows = _canonical(tuple(row) for row in frame.collect())
        digest = hashlib.sha256(json.dumps(rows, default=str).encode()).hexdigest()
        results[name] = {"columns": frame.columns, "rows": len(rows), "sha256": digest, "sample": rows[:3]}
    return results
