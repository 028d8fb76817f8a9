"""`fraud-lakehouse`: generate synthetic data, or run the bronze job locally."""

from __future__ import annotations

import argparse
import datetime as dt
import os
import sys
from pathlib import Path

from fraud_lakehouse.generator.params import (
    DEFAULT_CUSTOMERS,
    DEFAULT_FRAUD_SHARE,
    DEFAULT_SEED,
    GenerationConfigError,
    GeneratorParams,
    parse_date,
)
from fraud_lakehouse.partitions import partitions_start_date
from fraud_lakehouse.resources.lake import LakeRootError

DEMO_DAYS = 7


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="fraud-lakehouse", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)

    generate = commands.add_parser("generate", help="write synthetic customers and transactions to PATH")
    generate.add_argument("--customers", type=int, default=DEFAULT_CUSTOMERS)
    generate.add_argument("--start", required=True, help="first transaction date, YYYY-MM-DD")
    generate.add_argument("--end", required=True, help="last transaction date (inclusive), YYYY-MM-DD")
    generate.add_argument("--seed", type=int, default=DEFAULT_SEED)
    generate.add_argument("--out", required=True, help="output folder (or s3://bucket/prefix)")
    generate.add_argument("--format", default="delta", help="delta | parquet | csv (default delta)")
    generate.add_argument(
        "--fraud-share",
        type=float,
        default=DEFAULT_FRAUD_SHARE,
        help="share of customers with a fraud episode per 365 days",
    )
    generate.add_argument(
        "--epoch", default=None, help="calendar origin of ages and fraud windows (default: the partitions' start date)"
    )
    generate.add_argument("--spark-partitions", type=int, default=os.cpu_count() or 1)

    demo = commands.add_parser("demo", help="materialize the bronze assets for a small date range through Dagster")
    demo.add_argument(
        "--start", default=None, help=f"first date (default: the partitions' start date, {partitions_start_date()})"
    )
    demo.add_argument("--days", type=int, default=DEMO_DAYS)
    return parser


def _generate(args: argparse.Namespace) -> int:
    from fraud_lakehouse.export import ExportRequest, Progress, export

    # Every check runs before the Spark engine starts.
    epoch = parse_date("epoch", args.epoch) if args.epoch else partitions_start_date()
    params = GeneratorParams(seed=args.seed, customers=args.customers, fraud_share=args.fraud_share, epoch=epoch)
    request = ExportRequest(
        params=params,
        start=parse_date("start", args.start),
        end=parse_date("end", args.end),
        out=args.out,
        format=args.format,
        spark_partitions=args.spark_partitions,
    )
    from fraud_lakehouse.resources.spark import SparkEngine

    spark = SparkEngine().spark_session
    progress = Progress((request.end - request.start).days + 1)
    result = export(spark, request, on_chunk=progress.update)
    print(f"customers:    {result.customers:>12,} rows  {result.customers_path}")
    print(f"transactions: {result.transactions:>12,} rows  {result.transactions_path}")
    print(f"written as {request.format} in {result.seconds:,.1f} s")
    return 0


def _demo(args: argparse.Namespace) -> int:
    if args.days < 1:
        raise GenerationConfigError("days", f"must be at least 1, got {args.days}")
    start = parse_date("start", args.start) if args.start else partitions_start_date()
    end = start + dt.timedelta(days=args.days - 1)
    if not os.environ.get("DAGSTER_HOME"):
        if not Path("dagster.yaml").is_file():
            print(
                "fraud-lakehouse demo: run it from the repository root (where dagster.yaml is) or set DAGSTER_HOME",
                file=sys.stderr,
            )
            return 2
        os.environ["DAGSTER_HOME"] = str(Path.cwd())
    from dagster import DagsterInstance

    from fraud_lakehouse.definitions import defs

    result = defs.get_job_def("bronze_job").execute_in_process(
        instance=DagsterInstance.get(),
        tags={
            "dagster/asset_partition_range_start": start.isoformat(),
            "dagster/asset_partition_range_end": end.isoformat(),
        },
    )
    if not result.success:
        return 1
    print(f"\nbronze assets for {start} .. {end} ({args.days} days), run {result.run_id}:")
    seen = set()
    for event in result.get_asset_materialization_events():
        materialization = event.materialization
        key = "/".join(materialization.asset_key.path)
        if key in seen:
            continue
        seen.add(key)
        metadata = materialization.metadata
        rows = metadata["dagster/row_count"].value
        print(f"  {key:<22} {rows:>10,} rows  {metadata['dagster/uri'].value}")
    return 0


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        if args.command == "generate":
            return _generate(args)
        return _demo(args)
    except GenerationConfigError as error:
        print(f"fraud-lakehouse {args.command}: invalid {error}", file=sys.stderr)
        return 2
    except LakeRootError as error:
        print(f"fraud-lakehouse {args.command}: {error}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
