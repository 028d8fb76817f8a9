"""Run the parity cases on classic local Spark (pyspark 3.5, JVM) and print JSON.

Usage (inside the classic-Spark virtual environment, repository root on PYTHONPATH):
    python fraud_lakehouse_tests/parity/run_classic.py
"""

from __future__ import annotations

import json
import os
import sys

from pyspark.sql import SparkSession

from fraud_lakehouse_tests.parity.transformations import run_cases


def main() -> None:
    # Python workers must be this environment's interpreter, not the first python3 on PATH.
    os.environ["PYSPARK_PYTHON"] = sys.executable
    for name in ("SPARK_REMOTE", "SPARK_CONNECT_MODE_ENABLED", "SPARK_LOCAL_REMOTE"):
        os.environ.pop(name, None)  # this lane is classic (JVM) Spark, never Spark Connect
    spark = (
        SparkSession.builder.master("local[2]")
        .appName("fraud-lakehouse-parity")
        .config("spark.sql.session.timeZone", "UTC")
        .config("spark.ui.enabled", "false")
        .config("spark.sql.shuffle.partitions", "2")
        .config("spark.driver.memory", "4g")
        .getOrCreate()
    )
    try:
        results = run_cases(spark)
        results["spark_version"] = spark.version
    finally:
        spark.stop()
    sys.stdout.write("PARITY-RESULT " + json.dumps(results, default=str) + "\n")


if __name__ == "__main__":
    main()
