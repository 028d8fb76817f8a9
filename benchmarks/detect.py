"""Benchmark: bronze -> gold claims detection on the embedded engine, Delta on local disk.

Bronze (synthetic customers and transactions) is generated once, untimed.
Each measured run is a fresh process: it times silver (type, validate,
pseudonymise, de-duplicate; claims and quarantine written) and gold (every
rule, the score; flagged claims, provider risk, fraud by rule and detection
quality written) over the whole window in one single-run backfill, the way
the assets run. Reports the median of --runs runs as claims per second per
core, the median seconds of each stage (silver claims, quarantine, flagged
claims, the gold summary tables), peak resident memory, and a baseline from
the same invocation: the engine copying the bronze rows into the same Delta
layout (the writer alone). Also, untimed: the product's detection quality (ROC-AUC, precision and recall at
high risk) over the run's own 2 M scored claims, the rules at this population's size.

A second part measures detection quality on the default synthetic data
(1,000 customers, 30 days): per day and over all days.

    python benchmarks/detect.py                  # >= 2 M claims, 3 runs
    python benchmarks/detect.py --customers 2000 --days 7 --runs 1
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

START = dt.date(2025, 1, 1)
SECRET = "benchmark-key"


def generate_bronze(out: str, customers: int, days: int) -> None:
    from fraud_lakehouse.generator.params import GeneratorParams
    from fraud_lakehouse.generator.spark import customers_from_ids, transactions_from_units, unit_count
    from fraud_lakehouse.partitions import PARTITION_COLUMN
    from fraud_lakehouse.resources.spark import SparkEngine

    spark = SparkEngine().spark_session
    params = GeneratorParams(customers=customers)
    end = START + dt.timedelta(days=days - 1)
    cores = os.cpu_count() or 1
    customers_from_ids(spark.range(0, customers, 1, cores), params).write.format("delta").save(f"{out}/customers")
    units = spark.range(0, unit_count(params, START, end), 1, 2 * cores)
    transactions_from_units(units, params, START, end).write.format("delta").partitionBy(PARTITION_COLUMN).save(
        f"{out}/transactions"
    )


def bronze_to_gold(spark, bronze: str, out: str, days: int) -> dict:
    """Silver then gold over [START, START + days), written as the assets write them.

    Returns row counts and the seconds of each stage (each table is written in
    turn, so the stages add up to the run)."""
    from fraud_lakehouse.claims.model import RAW_SCHEMA
    from fraud_lakehouse.claims.silver import (
        ValidationRules,
        claim_candidates,
        file_formats,
        quarantine_candidates,
        quarantined_claims,
        silver_claims,
        validate,
    )
    from fraud_lakehouse.detection import gold
    from fraud_lakehouse.detection.config import DetectionConfig
    from fraud_lakehouse.partitions import window_predicate
    from fraud_lakehouse.resources.delta_io import write_delta

    window = (START, START + dt.timedelta(days=days))
    stages: dict[str, float] = {}
    clock = time.perf_counter()

    def stage(name: str) -> None:
        nonlocal clock
        now = time.perf_counter()
        stages[name] = now - clock
        clock = now

    # Silver as the asset builds it (assets/silver.py): landed claims (none here) and the synthetic feed typed and
    # validated once for silver; quarantine from the rows silver did not take. Building the plans is timed too.
    raw = spark.createDataFrame([], RAW_SCHEMA)
    transactions = spark.read.format("delta").load(f"{bronze}/transactions")
    customers = spark.read.format("delta").load(f"{bronze}/customers")
    rules = ValidationRules(today=dt.date(2026, 1, 1))
    formats = file_formats(raw)
    candidates = claim_candidates(raw, SECRET, formats, transactions, customers)
    write_delta(silver_claims(validate(candidates, rules)), f"{out}/silver/claims", window)
    stage("silver_claims")
    written = spark.read.format("delta").load(f"{out}/silver/claims").where(window_predicate(*window))
    rest = quarantine_candidates(raw, written, SECRET, formats, transactions, customers)
    write_delta(quarantined_claims(validate(rest, rules, later_copies=True)), f"{out}/silver/claims_quarantine", window)
    stage("silver_quarantine")
    config = DetectionConfig()
    silver = spark.read.format("delta").load(f"{out}/silver/claims")
    write_delta(gold.flag_claims(silver, window, config), f"{out}/gold/flagged_claims", window)
    stage("gold_flagged_claims")
    flagged = spark.read.format("delta").load(f"{out}/gold/flagged_claims")
    write_delta(gold.provider_risk(flagged), f"{out}/gold/provider_risk", window)
    write_delta(gold.fraud_by_rule(flagged), f"{out}/gold/fraud_by_rule", window)
    write_delta(gold.detection_quality(flagged), f"{out}/gold/detection_quality", window)
    stage("gold_summary_tables")
    counts = {"claims_in": transactions.count(), "claims_scored": flagged.count()}
    stage("row_counts")
    return {**counts, "stage_seconds": stages}


def overall_quality(spark, lake: str) -> dict:  # type: ignore[no-untyped-def]
    """The product's ``gold.detection_quality`` over every scored claim of ``lake``, its days taken as one."""
    from pyspark.sql import functions as F

    from fraud_lakehouse.detection import gold

    flagged = spark.read.format("delta").load(f"{lake}/gold/flagged_claims")
    overall = gold.detection_quality(flagged.withColumn("detection_date", F.lit(START))).first().asDict()
    overall.pop("detection_date")
    return overall


def one_run(bronze: str, out: str, days: int) -> dict:
    from fraud_lakehouse.partitions import PARTITION_COLUMN
    from fraud_lakehouse.resources.spark import SparkEngine

    spark = SparkEngine().spark_session
    started = time.perf_counter()
    counts = bronze_to_gold(spark, bronze, out, days)
    seconds = time.perf_counter() - started
    started = time.perf_counter()
    spark.read.format("delta").load(f"{bronze}/transactions").write.format("delta").partitionBy(PARTITION_COLUMN).save(
        f"{out}/copy"
    )
    copy_seconds = time.perf_counter() - started
    return {
        **counts,
        "seconds": seconds,
        "copy_seconds": copy_seconds,
        "quality_at_this_scale": overall_quality(spark, out),
        "cores": os.cpu_count() or 1,
        "peak_rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    }


def quality(customers: int, days: int) -> dict:
    """Detection quality on synthetic data: per day and over all days."""

    from fraud_lakehouse.resources.spark import SparkEngine

    spark = SparkEngine().spark_session
    with tempfile.TemporaryDirectory(prefix="fraud-lakehouse-quality-") as work:
        generate_bronze(f"{work}/bronze", customers, days)
        bronze_to_gold(spark, f"{work}/bronze", f"{work}/lake", days)
        per_day = spark.read.format("delta").load(f"{work}/lake/gold/detection_quality").orderBy("detection_date")
        days_rows = [
            {k: (v.isoformat() if isinstance(v, dt.date) else v) for k, v in row.asDict().items()}
            for row in per_day.drop("detection_config_version").collect()
        ]
        overall = overall_quality(spark, f"{work}/lake")
    return {"customers": customers, "days": days, "overall": overall, "per_day": days_rows}


def _subprocess(args: list[str]) -> dict:
    output = subprocess.run([sys.executable, __file__, *args], check=True, capture_output=True, text=True).stdout
    return json.loads(output.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--customers", type=int, default=45_000, help="card holders (about 1.6 claims a day each)")
    parser.add_argument("--days", type=int, default=30)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--quality-customers", type=int, default=1_000)
    parser.add_argument("--quality-days", type=int, default=30)
    parser.add_argument("--one-run", choices=["bronze", "engine", "quality"], help=argparse.SUPPRESS)
    parser.add_argument("--bronze", help=argparse.SUPPRESS)
    parser.add_argument("--out", help=argparse.SUPPRESS)
    args = parser.parse_args()

    if args.one_run == "bronze":
        generate_bronze(args.bronze, args.customers, args.days)
        print(json.dumps({}))
        return
    if args.one_run == "engine":
        print(json.dumps(one_run(args.bronze, args.out, args.days), default=str))
        return
    if args.one_run == "quality":
        print(json.dumps(quality(args.quality_customers, args.quality_days), default=str))
        return

    work = tempfile.mkdtemp(prefix="fraud-lakehouse-detect-")
    try:
        bronze = f"{work}/bronze"
        common = ["--customers", str(args.customers), "--days", str(args.days), "--bronze", bronze]
        _subprocess([*common, "--one-run", "bronze"])
        runs = []
        for index in range(args.runs):
            out = f"{work}/run-{index}"
            runs.append(_subprocess([*common, "--one-run", "engine", "--out", out]))
            shutil.rmtree(out, ignore_errors=True)
            print(f"run {index + 1}/{args.runs}: {json.dumps(runs[-1])}", file=sys.stderr)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    measured = _subprocess(
        ["--one-run", "quality", "--quality-customers", str(args.quality_customers),
         "--quality-days", str(args.quality_days)]
    )  # fmt: skip
    cores = runs[0]["cores"]
    claims = runs[0]["claims_in"]
    seconds = statistics.median(r["seconds"] for r in runs)
    copy_seconds = statistics.median(r["copy_seconds"] for r in runs)
    stage_names = list(runs[0]["stage_seconds"])
    summary = {
        "cores": cores,
        "runs": args.runs,
        "claims": claims,
        "days": args.days,
        "bronze_to_gold_median_seconds": round(seconds, 3),
        "claims_per_second_per_core": round(claims / seconds / cores),
        "peak_rss_mib_max": round(max(r["peak_rss_mib"] for r in runs)),
        "quality_at_this_scale": runs[0]["quality_at_this_scale"],
        "baseline_copy_bronze_rows_to_delta_seconds": round(copy_seconds, 3),
        "baseline_copy_rows_per_second_per_core": round(claims / copy_seconds / cores),
        "ratio_bronze_to_gold_to_copy": round(copy_seconds / seconds, 3),
        "stage_median_seconds": {
            name: round(statistics.median(run["stage_seconds"][name] for run in runs), 3) for name in stage_names
        },
        "quality": measured,
    }
    print(json.dumps(summary, indent=2, default=str))


if __name__ == "__main__":
    main()
