"""`fraud-lakehouse`: generate synthetic data, or run the bronze job locally."""

from __future__ import annotations

import argparse
import datetime as dt
import os
import signal
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
from fraud_lakehouse.instance import InstanceHomeError
from fraud_lakehouse.partitions import partitions_start_date
from fraud_lakehouse.resources.lake import LakeRootError, is_s3

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

    demo = commands.add_parser(
        "demo", help="materialize bronze, silver and gold for a small date range through Dagster"
    )
    demo.add_argument(
        "--start", default=None, help=f"first date (default: the partitions' start date, {partitions_start_date()})"
    )
    demo.add_argument("--days", type=int, default=DEMO_DAYS)

    report = commands.add_parser("report", help="run a saved query over the gold tables of one detection date")
    report.add_argument("name", choices=["providers", "duplicates", "rules"])
    report.add_argument("--date", required=True, help="detection date, YYYY-MM-DD")
    report.add_argument(
        "--lake-root", default=None, help="lake root (default: the local lake or $FRAUD_LAKEHOUSE_LAKE_ROOT)"
    )

    backfill = commands.add_parser(
        "backfill", help="bronze, silver and gold for a range of detection dates, as ONE run in this process"
    )
    backfill.add_argument("--from", dest="start", required=True, help="first detection date, YYYY-MM-DD")
    backfill.add_argument("--to", dest="end", required=True, help="last detection date (inclusive), YYYY-MM-DD")
    backfill.add_argument(
        "--claims-only", action="store_true", help="only the claims path (landed files), not the synthetic feed"
    )

    commands.add_parser(
        "init", help="create and migrate the Dagster instance in DAGSTER_HOME (once, before other Dagster commands)"
    )

    landing = commands.add_parser(
        "landing", help="list every object of the landing area: ingested, rejected, pending, waiting or skipped"
    )
    landing.add_argument("--status", choices=["ingested", "rejected", "pending", "waiting", "skipped"], default=None)
    landing.add_argument(
        "--lake-root", default=None, help="lake root (default: the local lake or $FRAUD_LAKEHOUSE_LAKE_ROOT)"
    )

    upload = commands.add_parser("upload", help="put a claims file in the landing area (local folder or S3)")
    upload.add_argument("file", help="the claims file")
    upload.add_argument(
        "--date", default=None, help="detection date folder, YYYY-MM-DD (default: none; the upload day counts)"
    )

    local_s3 = commands.add_parser(
        "local-s3", help="run a local S3-compatible endpoint (moto) and print the settings that point the lake at it"
    )
    local_s3.add_argument("--port", type=int, default=4566)
    local_s3.add_argument("--bucket", default="fraud-lakehouse")

    sample = commands.add_parser("sample-claims", help="write a claims file with injected fraud")
    sample.add_argument("--layout", required=True, choices=["insurance", "sparkov"])
    sample.add_argument("--claims", type=int, required=True, help="claims before the injected fraud")
    sample.add_argument("--out", required=True, help="file: .csv, .csv.gz, .jsonl or .parquet")
    sample.add_argument("--date", default=None, help="service date (default: the partitions' start date)")
    sample.add_argument("--seed", type=int, default=DEFAULT_SEED)
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


def _init(args: argparse.Namespace) -> int:
    from fraud_lakehouse.instance import dagster_home, prepare_instance

    prepare_instance(migrate=True)
    print(f"Dagster instance ready in {dagster_home()}")
    return 0


def _landing(args: argparse.Namespace) -> int:
    from fraud_lakehouse.claims.landing import Landing, default_landing
    from fraud_lakehouse.landing_status import STATUSES, landing_status
    from fraud_lakehouse.resources.lake import default_lake_root

    landing = Landing(default_landing())
    statuses = landing_status(landing, args.lake_root or default_lake_root())
    shown = [item for item in statuses if args.status in (None, item.status)]
    print(f"landing area {landing.root}: {len(statuses)} objects")
    for item in shown:
        relative = item.file.relative_path
        print(f"  {item.status:<9} {item.date or '-'!s:<10}  {relative}  ({item.detail})")
    counts = {status: sum(item.status == status for item in statuses) for status in STATUSES}
    print("  " + ", ".join(f"{count} {status}" for status, count in counts.items()))
    return 0


def _upload(args: argparse.Namespace) -> int:
    from fraud_lakehouse.claims.landing import Landing, default_landing

    source = Path(args.file)
    if not source.is_file():
        print(f"fraud-lakehouse upload: no file {source}", file=sys.stderr)
        return 2
    day = parse_date("date", args.date).isoformat() if args.date else None
    landing = Landing(default_landing())
    target = landing.resolve(f"{day}/{source.name}" if day else source.name)
    landing.storage.upload(str(source), target)
    print(f"uploaded {source} to {target}")
    return 0


def _stop_on_terminate() -> None:
    """SIGTERM (a service manager's stop, ``kill``) ends the command as Ctrl-C does, through its ``finally``."""

    def interrupt(signum: int, frame: object) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, interrupt)


def _local_s3(args: argparse.Namespace) -> int:
    from fraud_lakehouse.local_s3 import LocalS3Error, start_moto

    endpoint = f"http://127.0.0.1:{args.port}"
    try:
        process = start_moto(args.port)
    except LocalS3Error as error:
        print(f"fraud-lakehouse local-s3: {error}", file=sys.stderr)
        return 2
    try:
        import boto3

        boto3.client(
            "s3", endpoint_url=endpoint, region_name="us-east-1", aws_access_key_id="local",
            aws_secret_access_key="local",
        ).create_bucket(Bucket=args.bucket)  # fmt: skip
        print(
            f"""A local S3 endpoint runs on {endpoint} with the bucket {args.bucket} (in memory: gone when it stops).
In every shell that runs Dagster or fraud-lakehouse commands:

export AWS_ENDPOINT_URL={endpoint} AWS_ALLOW_HTTP=true AWS_REGION=us-east-1 \\
       AWS_ACCESS_KEY_ID=local AWS_SECRET_ACCESS_KEY=local \\
       FRAUD_LAKEHOUSE_LANDING=s3://{args.bucket}/claims FRAUD_LAKEHOUSE_LAKE_ROOT=s3://{args.bucket}/lake

Ctrl-C stops it.""",
            flush=True,
        )
        _stop_on_terminate()
        process.wait()
    except KeyboardInterrupt:
        pass
    finally:
        # the server goes with the command, never left running without it
        process.terminate()
        process.wait(timeout=30)
    return 0


def _demo(args: argparse.Namespace) -> int:
    if args.days < 1:
        raise GenerationConfigError("days", f"must be at least 1, got {args.days}")
    start = parse_date("start", args.start) if args.start else partitions_start_date()
    end = start + dt.timedelta(days=args.days - 1)
    from fraud_lakehouse.instance import prepare_instance

    instance = prepare_instance()
    from fraud_lakehouse.claims.landing import Landing, default_landing
    from fraud_lakehouse.claims.samples import insurance_claims, write_sample

    # A claims file to ingest beside the synthetic transactions, unless the user landed their own.
    landing = Landing(default_landing())
    if not is_s3(landing.root) and not landing.list_files():
        sample = write_sample(insurance_claims(500, start, 7), f"{landing.root}/{start}/sample_insurance.csv")
        print(f"landed a sample claims file: {sample}")
    return _run_range("demo", "lakehouse_job", start, end, instance)


def _run_range(command: str, job_name: str, start: dt.date, end: dt.date, instance) -> int:  # type: ignore[no-untyped-def]
    """One run of ``job_name`` over the detection dates [start, end] in this process, and the tables it wrote."""
    from fraud_lakehouse.definitions import defs
    from fraud_lakehouse.jobs import claims_run_selection

    # the claims path of a new home makes the synthetic feed's customers too (when it is on and they were never made)
    selection = claims_run_selection(defs.resolve_asset_graph(), instance) if job_name == "claims_job" else None
    result = defs.resolve_job_def(job_name).execute_in_process(
        instance=instance,
        asset_selection=selection,
        # the run's events go to the instance (the UI shows them); the terminal gets warnings and errors only
        run_config={"loggers": {"console": {"config": {"log_level": "WARNING"}}}},
        raise_on_error=False,
        tags={
            "dagster/asset_partition_range_start": start.isoformat(),
            "dagster/asset_partition_range_end": end.isoformat(),
        },
    )
    if not result.success:
        print(f"fraud-lakehouse {command}: run {result.run_id} failed; `dagster dev` shows its events", file=sys.stderr)
        return 1
    days = (end - start).days + 1
    print(f"bronze, silver and gold for {start} .. {end} ({days} days), run {result.run_id}:")
    seen = set()
    for event in result.get_asset_materialization_events():
        materialization = event.materialization
        key = "/".join(materialization.asset_key.path)
        if key in seen:
            continue
        seen.add(key)
        metadata = materialization.metadata
        rows = metadata["dagster/row_count"].value
        print(f"  {key:<30} {rows:>10,} rows  {metadata['dagster/uri'].value}")
    return 0


class RangeError(ValueError):
    pass


def check_range(start: dt.date, end: dt.date, today: dt.date | None = None) -> None:
    """A backfill's dates, each end checked on its own: the message names the end that is wrong."""
    from fraud_lakehouse.partitions import last_partition_date

    first, last = partitions_start_date(), last_partition_date(today)
    if start < first:
        raise RangeError(f"--from {start} is before the first partition {first} (FRAUD_LAKEHOUSE_START_DATE)")
    if end > last:
        raise RangeError(f"--to {end} is after the last partition {last} (today, UTC): later dates do not exist yet")
    if start > end:
        raise RangeError(f"--from {start} is after --to {end}: the range is reversed")


def _backfill(args: argparse.Namespace) -> int:
    start, end = parse_date("from", args.start), parse_date("to", args.end)
    try:
        check_range(start, end)
    except RangeError as error:
        print(f"fraud-lakehouse backfill: {error}", file=sys.stderr)
        return 2
    from fraud_lakehouse.instance import prepare_instance

    job = "claims_job" if args.claims_only else "lakehouse_job"
    return _run_range("backfill", job, start, end, prepare_instance())


def _report(args: argparse.Namespace) -> int:
    from fraud_lakehouse.reports import ReportError, run_report
    from fraud_lakehouse.resources.lake import default_lake_root
    from fraud_lakehouse.resources.spark import SparkEngine

    date = parse_date("date", args.date)
    spark = SparkEngine().spark_session
    try:
        rows = run_report(spark, args.lake_root or default_lake_root(), args.name, date)
    except ReportError as error:
        print(f"fraud-lakehouse report: {error}", file=sys.stderr)
        return 1
    if rows.empty:
        print(f"{args.name} on {date}: no rows")
        return 0
    import pandas as pd

    with pd.option_context("display.width", 200, "display.max_columns", 20, "display.max_colwidth", 40):
        print(f"{args.name} on {date}: {len(rows)} rows\n")
        print(rows.to_string(index=False))
    return 0


def _sample_claims(args: argparse.Namespace) -> int:
    from fraud_lakehouse.claims.samples import insurance_claims, sparkov_claims, write_sample

    if args.claims < 1:
        raise GenerationConfigError("claims", f"must be at least 1, got {args.claims}")
    day = parse_date("date", args.date) if args.date else partitions_start_date()
    make = insurance_claims if args.layout == "insurance" else sparkov_claims
    frame = make(args.claims, day, args.seed)
    try:
        path = write_sample(frame, args.out)
    except ValueError as error:
        raise GenerationConfigError("out", str(error)) from None
    print(f"{len(frame):,} {args.layout} claims (with injected fraud) written to {path}")
    return 0


LOCAL_EXTRA_MODULES = ("pyspark", "pysail", "delta", "dagster_webserver", "grpc", "grpc_status")


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        if args.command == "generate":
            return _generate(args)
        if args.command == "report":
            return _report(args)
        if args.command == "sample-claims":
            return _sample_claims(args)
        if args.command == "init":
            return _init(args)
        if args.command == "landing":
            return _landing(args)
        if args.command == "upload":
            return _upload(args)
        if args.command == "backfill":
            return _backfill(args)
        if args.command == "local-s3":
            return _local_s3(args)
        return _demo(args)
    except GenerationConfigError as error:
        print(f"fraud-lakehouse {args.command}: invalid {error}", file=sys.stderr)
        return 2
    except ModuleNotFoundError as error:
        # the core install is what an EMR node gets; a laptop's engine comes with an extra
        top = (error.name or "").split(".")[0]
        if top not in LOCAL_EXTRA_MODULES:
            raise
        print(
            f"fraud-lakehouse {args.command}: {top} is not installed; the local engine comes with the local extra: "
            "pip install -e '.[local]'",
            file=sys.stderr,
        )
        return 2
    except (LakeRootError, InstanceHomeError) as error:
        print(f"fraud-lakehouse {args.command}: {error}", file=sys.stderr)
        return 1 if isinstance(error, LakeRootError) else 2


if __name__ == "__main__":
    sys.exit(main())
