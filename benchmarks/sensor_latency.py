"""Benchmark: upload to gold through the sensor, as a deployment runs it.

A moto S3 server (its own process) holds the landing area and the lake; a new
Dagster instance runs the daemon with claims_landing_sensor on at a 5 s
interval (the synthetic feed off: the claims-only path). Each run uploads a
100,000-claim insurance file under claims/DAY/ and measures the wall clock
from the upload's return to the commit of that day's gold/flagged_claims
(polled every 0.2 s), and where it went: until the sensor requested the run,
the queue and the run's process starting, the run itself (from the run's
record in the instance). The same invocation measures the in-process compute
of the same file: the claims path executed in one process (the engine started
once, Python's imports done), on a separate lake on the same S3 endpoint (the
ratio's baseline: the rest is what the sensor path adds) and on local disk.

    python benchmarks/sensor_latency.py            # 3 runs
    python benchmarks/sensor_latency.py --file ../shared/reference/sparkov/output/sparkov_250cust_2024_seed7.csv.gz
        # a file the project did not generate (the original Sparkov generator's output), landed as it is
"""

from __future__ import annotations

import argparse
import datetime as dt
import io
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from user_home import BIN, new_home

from fraud_lakehouse.local_s3 import start_moto_on_a_free_port

BUCKET = "latency"


def claims_csv(claims: int, day: dt.date, seed: int) -> bytes:
    from fraud_lakehouse.claims.samples import insurance_claims

    out = io.StringIO()
    insurance_claims(claims, day, seed).to_csv(out, index=False)
    return out.getvalue().encode()


def in_process(landing: str, lake: str, day: str) -> dict:
    """The claims path for one day in this process, from a file landed under ``landing`` (the --one-run side)."""
    os.environ.update(FRAUD_LAKEHOUSE_LANDING=landing, FRAUD_LAKEHOUSE_LAKE_ROOT=lake)
    os.environ["FRAUD_LAKEHOUSE_SYNTHETIC_FEED"] = "off"
    from dagster import DagsterInstance

    from fraud_lakehouse.definitions import defs

    job = defs.resolve_job_def("claims_job")
    with DagsterInstance.ephemeral() as instance:
        started = time.perf_counter()
        result = job.execute_in_process(instance=instance, partition_key=day)
        seconds = time.perf_counter() - started
    assert result.success
    return {"seconds": seconds}


def run_stages(home: Path, day: dt.date, uploaded_at: float, committed_at: float) -> dict:
    """Where one upload's latency went, from the run the sensor requested for ``day``: until the sensor asked
    for the run, until the run started (the queue, then the run's process starting and loading the code
    location), and from its start to the gold commit (the claims path, engine start included); and the upload
    to the run's end (every gold table written, as the in-process baseline writes them), once it has ended."""
    from dagster import DagsterInstance, RunsFilter

    here = os.getcwd()
    os.chdir(home)  # the instance's storage folders are relative to its home
    try:
        with DagsterInstance.from_config(str(home)) as instance:
            deadline = time.time() + 120
            while True:
                records = instance.get_run_records(RunsFilter(tags={"dagster/partition": day.isoformat()}))
                record = min(records, key=lambda item: item.create_timestamp) if records else None
                if record is None or record.end_time or time.time() > deadline:
                    break
                time.sleep(0.2)
    finally:
        os.chdir(here)
    if record is None:
        return {}
    requested = record.create_timestamp.timestamp()
    started = record.start_time or committed_at
    stages = {
        "until_the_run_was_requested": round(requested - uploaded_at, 2),
        "queue_and_run_process_start": round(started - requested, 2),
        "run_until_gold_committed": round(committed_at - started, 2),
    }
    if record.end_time:
        stages["upload_to_run_end"] = round(record.end_time - uploaded_at, 2)
    return stages


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--claims", type=int, default=100_000)
    parser.add_argument(
        "--file",
        type=Path,
        help="upload this claims file (any landed layout, e.g. Sparkov output) instead of a "
        "generated insurance file of --claims claims; each run lands it for another day",
    )
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--keep", action="store_true", help="keep the work folder (the daemon's log, the instance)")
    parser.add_argument("--one-run", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--landing", help=argparse.SUPPRESS)
    parser.add_argument("--lake", help=argparse.SUPPRESS)
    parser.add_argument("--day", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.one_run:
        print(json.dumps(in_process(args.landing, args.lake, args.day)))
        return

    work = Path(tempfile.mkdtemp(prefix="fraud-lakehouse-latency-"))
    moto, port = start_moto_on_a_free_port()
    endpoint = f"http://127.0.0.1:{port}"
    aws = {
        "AWS_ENDPOINT_URL": endpoint, "AWS_ALLOW_HTTP": "true", "AWS_ACCESS_KEY_ID": "bench",
        "AWS_SECRET_ACCESS_KEY": "bench", "AWS_REGION": "us-east-1",
    }  # fmt: skip
    os.environ.update(aws)
    processes = [moto]
    try:
        import boto3
        from deltalake import DeltaTable

        s3 = boto3.client("s3")
        s3.create_bucket(Bucket=BUCKET)
        home = work / "home"
        env = new_home(
            home,
            FRAUD_LAKEHOUSE_LANDING=f"s3://{BUCKET}/claims",
            FRAUD_LAKEHOUSE_LAKE_ROOT=f"s3://{BUCKET}/lake",
            FRAUD_LAKEHOUSE_SYNTHETIC_FEED="off",
            FRAUD_LAKEHOUSE_SENSOR_INTERVAL="5",
        )
        subprocess.run(
            [str(BIN / "dagster"), "sensor", "start", "claims_landing_sensor", "-w", "workspace.yaml"],
            cwd=home, env=env, check=True, capture_output=True,
        )  # fmt: skip
        log = open(work / "daemon.log", "w")
        processes.append(
            subprocess.Popen([str(BIN / "dagster-daemon"), "run", "-w", "workspace.yaml"], cwd=home, env=env,
                             stdout=log, stderr=subprocess.STDOUT)
        )  # fmt: skip
        time.sleep(20)  # the daemon and its code server up, the sensor's first tick done
        today = dt.datetime.now(dt.UTC).date()
        latencies, computes, computes_local, stages = [], [], [], []
        name = args.file.name if args.file else "claims.csv"
        for index in range(args.runs):
            day = today - dt.timedelta(days=index + 1)
            body = args.file.read_bytes() if args.file else claims_csv(args.claims, day, seed=index)
            # the same file, computed in one process on its own lake: on the same S3 endpoint (the baseline of
            # the ratio: what the sensor path adds is the rest), and on local disk
            prefix = f"in-process-{index}"
            s3.put_object(Bucket=BUCKET, Key=f"{prefix}/claims/{day.isoformat()}/{name}", Body=body)
            local = work / prefix / "claims" / day.isoformat() / name
            local.parent.mkdir(parents=True)
            local.write_bytes(body)
            places = {
                "s3": (f"s3://{BUCKET}/{prefix}/claims", f"s3://{BUCKET}/{prefix}/lake"),
                "local": (str(work / prefix / "claims"), str(work / f"lake-{index}")),
            }
            for storage, (landing, lake) in places.items():
                one = subprocess.run(
                    [sys.executable, __file__, "--one-run", "--landing", landing, "--lake", lake,
                     "--day", day.isoformat()],
                    check=True, capture_output=True, text=True, env={**os.environ, **aws},
                )  # fmt: skip
                seconds = json.loads(one.stdout.strip().splitlines()[-1])["seconds"]
                (computes if storage == "s3" else computes_local).append(seconds)
            table = f"s3://{BUCKET}/lake/gold/flagged_claims"
            started = time.perf_counter()
            s3.put_object(Bucket=BUCKET, Key=f"claims/{day.isoformat()}/{name}", Body=body)
            uploaded = time.perf_counter()
            uploaded_at = time.time()
            while True:
                try:
                    actions = DeltaTable(table).get_add_actions(flatten=True)
                    days = {str(value) for value in actions.column("partition.detection_date").to_pylist()}
                    if day.isoformat() in days:
                        break
                except Exception:  # the table is not there yet
                    pass
                if time.perf_counter() - uploaded > 300:
                    raise RuntimeError(f"no gold for {day} after 300 s; see {work / 'daemon.log'}")
                time.sleep(0.2)
            latencies.append(time.perf_counter() - uploaded)
            committed_at = time.time()
            stages.append(run_stages(home, day, uploaded_at, committed_at))
            print(f"{day}: upload took {uploaded - started:.2f} s, upload -> gold {latencies[-1]:.2f} s "
                  f"({stages[-1]}), in-process compute {computes[-1]:.2f} s (local disk {computes_local[-1]:.2f} s)",
                  file=sys.stderr)  # fmt: skip
        latency, compute = statistics.median(latencies), statistics.median(computes)
        run_end = statistics.median(stage.get("upload_to_run_end", float("nan")) for stage in stages)
        print(
            json.dumps(
                {
                    "file": str(args.file) if args.file else f"generated insurance claims ({args.claims})",
                    "sensor_interval_seconds": 5,
                    "upload_to_gold_median_seconds": round(latency, 2),
                    "upload_to_gold_runs": [round(s, 2) for s in latencies],
                    "in_process_compute_median_seconds": round(compute, 2),
                    "in_process_compute_runs": [round(s, 2) for s in computes],
                    "ratio_latency_to_compute": round(latency / compute, 2),
                    # the run's end: every gold table written, as in the baseline (the latency above stops at the
                    # flagged claims' commit)
                    "upload_to_run_end_median_seconds": round(run_end, 2),
                    "ratio_upload_to_run_end_to_compute": round(run_end / compute, 2),
                    "in_process_compute_local_disk_median_seconds": round(statistics.median(computes_local), 2),
                    "ratio_latency_to_local_disk_compute": round(latency / statistics.median(computes_local), 2),
                    "stages_of_each_run_seconds": stages,
                },
                indent=2,
            )
        )
    finally:
        for process in reversed(processes):
            process.terminate()
            process.wait(timeout=60)
        if args.keep:
            print(f"kept {work}", file=sys.stderr)
        else:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
