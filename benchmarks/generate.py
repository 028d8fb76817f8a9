"""Benchmark: synthetic generation written as Delta to local disk, on the embedded engine.

Each measured run is a fresh process (so peak memory is per run): it starts
the engine and warms it up on one small day (timed apart), then times
writing the transactions table and the customers table separately. Reports
medians of --runs runs, rows per second per core, and the peak resident memory
of the process (engine included, as Sail runs in-process).

Baselines, run in the same invocation: the numpy generator alone on one core
(no Spark, no write), and the engine copying the generated rows into the same
Delta layout (read back, written again partitioned by day): the writer alone,
an upper bound for generate-and-write.

    python benchmarks/generate.py                 # >= 5 M transaction rows, 3 runs
    python benchmarks/generate.py --customers 6000 --days 365 --runs 3
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


def one_run(customers: int, days: int, benchmark_customers: int, out: str, partitions: int) -> dict:
    from fraud_lakehouse.generator.params import GeneratorParams
    from fraud_lakehouse.generator.spark import customers_from_ids, transactions_from_units, unit_count
    from fraud_lakehouse.partitions import PARTITION_COLUMN
    from fraud_lakehouse.resources.spark import SparkEngine

    started = time.perf_counter()
    spark = SparkEngine().spark_session
    cores = os.cpu_count() or 1
    end = START + dt.timedelta(days=days - 1)
    # Warm-up outside the timed region: engine start, Python UDF start, the
    # generator's tables (profiles, places, Faker vocabularies). Reported apart.
    warm = GeneratorParams(customers=50)
    transactions_from_units(spark.range(0, unit_count(warm, START, START), 1, 1), warm, START, START).count()
    customers_from_ids(spark.range(0, 50, 1, 1), warm).count()
    warm_up_seconds = time.perf_counter() - started

    params = GeneratorParams(customers=customers)
    units = spark.range(0, unit_count(params, START, end), 1, partitions)
    started = time.perf_counter()
    transactions_from_units(units, params, START, end).write.format("delta").mode("overwrite").partitionBy(
        PARTITION_COLUMN
    ).save(f"{out}/transactions")
    transactions_seconds = time.perf_counter() - started
    written = spark.read.format("delta").load(f"{out}/transactions")
    rows = written.count()

    # Engine baseline: the same rows copied into the same Delta layout (read
    # back, written again partitioned by day): what the writer alone costs.
    started = time.perf_counter()
    written.write.format("delta").mode("overwrite").partitionBy(PARTITION_COLUMN).save(f"{out}/copy")
    copy_seconds = time.perf_counter() - started

    customer_params = GeneratorParams(customers=benchmark_customers)
    started = time.perf_counter()
    customers_from_ids(spark.range(0, benchmark_customers, 1, partitions), customer_params).write.format("delta").mode(
        "overwrite"
    ).save(f"{out}/customers")
    customers_seconds = time.perf_counter() - started
    return {
        "cores": cores,
        "transaction_rows": rows,
        "transactions_seconds": transactions_seconds,
        "copy_seconds": copy_seconds,
        "customers": benchmark_customers,
        "customers_seconds": customers_seconds,
        "peak_rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "warm_up_seconds": warm_up_seconds,
    }


def baseline_run(customers: int, days: int) -> dict:
    """The numpy generator alone, one core, nothing written."""
    import numpy as np

    from fraud_lakehouse.generator.params import GeneratorParams
    from fraud_lakehouse.generator.transactions import transaction_batches

    params = GeneratorParams(customers=customers)
    end = START + dt.timedelta(days=days - 1)
    started = time.perf_counter()
    rows = sum(batch.num_rows for batch in transaction_batches(params, np.arange(customers), START, end))
    return {"transaction_rows": rows, "transactions_seconds": time.perf_counter() - started}


def _subprocess(args: list[str]) -> dict:
    output = subprocess.run([sys.executable, __file__, *args], check=True, capture_output=True, text=True).stdout
    return json.loads(output.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--customers", type=int, default=5_700, help="card holders for the transactions run")
    parser.add_argument("--days", type=int, default=365)
    parser.add_argument("--benchmark-customers", type=int, default=1_000_000, help="customers for the customers run")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--partitions", type=int, default=0, help="Spark partitions (default: 2 per core)")
    parser.add_argument("--one-run", choices=["engine", "baseline"], help=argparse.SUPPRESS)
    parser.add_argument("--out", help=argparse.SUPPRESS)
    args = parser.parse_args()

    if args.one_run == "engine":
        print(json.dumps(one_run(args.customers, args.days, args.benchmark_customers, args.out, args.partitions)))
        return
    if args.one_run == "baseline":
        print(json.dumps(baseline_run(args.customers, args.days)))
        return

    partitions = args.partitions or 2 * (os.cpu_count() or 1)
    common = [
        *("--customers", str(args.customers), "--days", str(args.days)),
        *("--benchmark-customers", str(args.benchmark_customers), "--partitions", str(partitions)),
    ]
    runs, baselines = [], []
    for index in range(args.runs):
        out = tempfile.mkdtemp(prefix="fraud-lakehouse-bench-")
        try:
            runs.append(_subprocess([*common, "--one-run", "engine", "--out", out]))
        finally:
            shutil.rmtree(out, ignore_errors=True)
        baselines.append(_subprocess([*common, "--one-run", "baseline"]))
        print(f"run {index + 1}/{args.runs}: {json.dumps(runs[-1])}", file=sys.stderr)

    cores = runs[0]["cores"]
    rows = runs[0]["transaction_rows"]
    tx_seconds = statistics.median(r["transactions_seconds"] for r in runs)
    cu_seconds = statistics.median(r["customers_seconds"] for r in runs)
    base_seconds = statistics.median(b["transactions_seconds"] for b in baselines)
    copy_seconds = statistics.median(r["copy_seconds"] for r in runs)
    tx_rate = rows / tx_seconds / cores
    base_rate = baselines[0]["transaction_rows"] / base_seconds
    summary = {
        "cores": cores,
        "spark_partitions": partitions,
        "runs": args.runs,
        "transaction_rows": rows,
        "transactions_median_seconds": round(tx_seconds, 3),
        "transaction_rows_per_second_per_core": round(tx_rate),
        "customers": args.benchmark_customers,
        "customers_median_seconds": round(cu_seconds, 3),
        "customers_per_second_per_core": round(args.benchmark_customers / cu_seconds / cores),
        "peak_rss_mib_max": round(max(r["peak_rss_mib"] for r in runs)),
        "warm_up_median_seconds": round(statistics.median(r["warm_up_seconds"] for r in runs), 3),
        "baseline_numpy_one_core_rows_per_second": round(base_rate),
        "ratio_engine_per_core_to_baseline": round(tx_rate / base_rate, 2),
        "baseline_copy_same_rows_to_delta_by_day_seconds": round(copy_seconds, 3),
        "baseline_copy_rows_per_second_per_core": round(rows / copy_seconds / cores),
        "ratio_generate_and_write_to_copy": round(copy_seconds / tx_seconds, 2),
    }
    print(json.dumps(summary, indent=2))


if __name__ == "__main__":
    main()
