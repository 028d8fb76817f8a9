"""Saved queries over the gold tables (SQL files in ``fraud_lakehouse/sql``), run through the engine."""

from __future__ import annotations

import datetime as dt
from importlib import resources
from string import Template

import pandas as pd
from pyspark.sql import SparkSession

from fraud_lakehouse.resources.delta_io import delta_table_exists
from fraud_lakehouse.resources.lake import table_uri

REPORTS = {
    "providers": ("high_risk_providers.sql", ("flagged_claims",)),
    "duplicates": ("duplicate_claims.sql", ("flagged_claims",)),
    "rules": ("fraud_by_rule.sql", ("fraud_by_rule",)),
}


class ReportError(RuntimeError):
    pass


def report_sql(name: str, date: dt.date) -> str:
    """The saved query with its date filled in (a parsed date: nothing else reaches the SQL)."""
    file_name, _ = REPORTS[name]
    text = resources.files("fraud_lakehouse").joinpath("sql", file_name).read_text()
    return Template(text).substitute(date=date.isoformat())


def run_report(spark: SparkSession, lake_root: str, name: str, date: dt.date) -> pd.DataFrame:
    """Register the gold tables the query reads under their Athena names, and run it."""
    _, tables = REPORTS[name]
    for table in tables:
        uri = table_uri(lake_root, "gold", table)
        if not delta_table_exists(uri):
            raise ReportError(f"gold/{table} does not exist at {uri}: materialize the gold assets first")
        spark.read.format("delta").load(uri).createOrReplaceTempView(table)
    return spark.sql(report_sql(name, date)).toPandas()
