"""Small silver-claims frames for the rule tests: only what a case needs, the rest defaulted."""

from __future__ import annotations

import datetime as dt

from pyspark.sql import DataFrame, SparkSession

from fraud_lakehouse.claims.model import CLAIM_SCHEMA
from fraud_lakehouse.detection.config import DetectionConfig

DAY = dt.date(2025, 3, 3)  # a Monday
CONFIG = DetectionConfig()


def claim(claim_id: str, **values) -> dict:
    at = values.pop("at", dt.datetime.combine(values.get("service_date", DAY), dt.time(12, 0)))
    row = {
        "claim_id": claim_id,
        "customer_key": "cust-1",
        "provider_id": "prov-1",
        "provider_name": "Provider 1",
        "procedure": "grocery_pos",
        "diagnosis": None,
        "service_ts": at,
        "service_date": at.date(),
        "submitted_date": at.date(),
        "amount": 50.0,
        "paid_amount": 50.0,
        "customer_state": "TX",
        "provider_state": None,
        "customer_lat": 30.0,
        "customer_long": -97.0,
        "provider_lat": 30.1,
        "provider_long": -97.1,
        "city_pop": 1000,
        "channel": "in_person",
        "is_fraud": 0,
        "source": "synthetic",
        "source_file": None,
        "row_number": None,
        "ingested_at": None,
        "detection_date": at.date(),
    }
    row.update(values)
    return row


def claims(spark: SparkSession, rows: list[dict]) -> DataFrame:
    return spark.createDataFrame([tuple(r[f.name] for f in CLAIM_SCHEMA.fields) for r in rows], CLAIM_SCHEMA)


def flagged(frame: DataFrame, column: str) -> set[str]:
    """Claim ids whose rule column is true."""
    return {row.claim_id for row in frame.where(column).select("claim_id").collect()}


def hits(spark: SparkSession, rows: list[dict], name: str, config: DetectionConfig = CONFIG) -> set[str]:
    """Claim ids the registered rule ``name`` flags among ``rows`` (every feature computed from ``rows``)."""
    from fraud_lakehouse.detection.scoring import apply_rules, rule

    return flagged(apply_rules(claims(spark, rows), config, (rule(name),)), f"rule_{name}")


def at(day_offset: int, hour: int, minute: int = 0) -> dt.datetime:
    return dt.datetime.combine(DAY + dt.timedelta(days=day_offset), dt.time(hour, minute))
