"""Benchmark: landed claims files into bronze/claims_raw, and a landed 1 M-claim file bronze to gold as a user runs it.

Parts (each measured run is a fresh process; medians of --runs runs):

1. ingest: rows per second per core of ``ingest_files`` (the asset's own path: stream, parse, write
   Delta) for the same claims as CSV, gzip CSV, Parquet and JSON lines, beside a plain pyarrow read of the
   same file in the same invocation (``pyarrow.csv.read_csv`` / ``pyarrow.parquet.read_table`` /
   ``pyarrow.json.read_json`` with their defaults, all cores), and the ratio of the two;
2. end to end: a 1 M-claim insurance file landed for one day, then
   ``dagster asset materialize -m fraud_lakehouse.definitions --select '*' --partition DAY`` in a new
   instance, wall clock from the command's start to its exit; the same file with 1% of its claims sent
   twice under the same claim id; and the same for 7 synthetic days
   (``--partition-range``) against ``fraud-lakehouse demo`` (one process);
3. a year of daily files (365 files, Sparkov layout) in ONE single-run backfill of the whole graph;
4. many_files (not by default): a day of --many-files small files (10 claims each) through the CLI, as in 2;
5. with --big-file-gb N: peak memory of ingesting an N GB CSV file (the bound on driver memory);
6. shapes (not by default): the 1 M-claim file of 2 as exports write it, each through the CLI as in 2 and in the
   same invocation as the plain CSV: a JSON array on one line (pandas ``to_json(orient="records")``), JSON
   lines, a CSV as Excel saves it in the US (``MM/DD/YYYY``, CR LF, a byte order mark) and a European CSV
   (``;``, decimal comma, ``DD.MM.YYYY``), their dates a day earlier, so the file's landing day decides the
   order of the slash dates; and a CSV without place of service whose records after the 16th leave out the
   delimiter of that empty last cell; and a CSV whose every claim has one patient and one provider (a placeholder
   export: one customer of a million claims), and one whose every record has the same claim id (``--shapes`` picks
   some; the plain CSV always runs, as the baseline);
7. s3 (not by default): the files of 1, a ZIP archive of the CSV and a day of 1,000 small files landed on an S3
   endpoint (a moto server in its own process, over HTTP) and ingested from there, beside the same from local disk;
8. named (not by default): a day of --named-copies x the 1 M-claim file, then one small file landed on it and
   ingested by name, as the sensor's run for it does (time and peak memory of that run);
9. large_day (not by default): --large-day-files files of 1 M distinct claims landed for one day, the whole graph
   through the CLI as in 2: wall clock and the peak memory of the CLI's process (silver and gold of a large day);
10. large_days_at_once (not by default): --at-once instances, each with the day of 9 landed, each run through the
   CLI at the same time (as runs a sensor starts for several days): each run's wall clock and peak memory, and
   the most memory the machine had in use meanwhile (``MemTotal - MemAvailable``, sampled every 0.5 s).

    python benchmarks/ingest.py                       # parts 1-3
    python benchmarks/ingest.py --parts ingest --runs 5
    python benchmarks/ingest.py --parts big --big-file-gb 5
    python benchmarks/ingest.py --parts many_files --many-files 1000
    python benchmarks/ingest.py --parts shapes --runs 3
    python benchmarks/ingest.py --parts shapes --shapes short_records_csv --runs 3
    python benchmarks/ingest.py --parts s3 --runs 3
    python benchmarks/ingest.py --parts named --named-copies 10
    python benchmarks/ingest.py --parts large_day --large-day-files 10 --runs 1
    python benchmarks/ingest.py --parts large_days_at_once --large-day-files 10 --at-once 4
"""

from __future__ import annotations

import argparse
import datetime as dt
import gzip
import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import TYPE_CHECKING

from user_home import BIN, new_home, timed

if TYPE_CHECKING:
    import pandas as pd

DAY = dt.date(2025, 1, 6)
# The whole graph through the CLI, as a user runs it (add the partition or the range).
MATERIALIZE_ALL = [str(BIN / "dagster"), "asset", "materialize", "-m", "fraud_lakehouse.definitions", "--select", "*"]


def make_files(work: Path, claims: int) -> dict[str, Path]:
    """The same insurance claims as CSV, gzip CSV, Parquet and JSON lines."""
    from fraud_lakehouse.claims.samples import insurance_claims

    frame = insurance_claims(claims, DAY, seed=42)
    work.mkdir(parents=True, exist_ok=True)
    files = {"csv": work / "claims.csv", "csv.gz": work / "claims.csv.gz", "parquet": work / "claims.parquet",
             "jsonl": work / "claims.jsonl"}  # fmt: skip
    frame.to_csv(files["csv"], index=False)
    with open(files["csv"], "rb") as source, gzip.open(files["csv.gz"], "wb", compresslevel=6) as target:
        shutil.copyfileobj(source, target)
    frame.astype(str).to_parquet(files["parquet"], index=False)
    frame.to_json(files["jsonl"], orient="records", lines=True)  # numbers as JSON numbers, as exports write them
    return files


def plain_read(path: Path) -> int:
    import pyarrow.csv as pacsv
    import pyarrow.parquet as pq

    if path.name.endswith(".parquet"):
        return pq.read_table(path).num_rows
    if path.name.endswith(".jsonl"):
        import pyarrow.json as pajson

        return pajson.read_json(path).num_rows
    return pacsv.read_csv(path).num_rows


def ingest(path: str, lake: Path, named: bool = False) -> int:
    """Ingest the file at ``path``, or every file under it when it ends with "/" (a local folder or an S3 prefix);
    ``named``: as a run that names its files does (the sensor's), replacing only their rows."""
    from fraud_lakehouse.claims.ingest import ingest_files
    from fraud_lakehouse.claims.landing import Landing

    if path.endswith("/"):
        landing = Landing(path)
        landed = list(landing.list_files())
    else:
        landing = Landing(path.rsplit("/", 1)[0])
        landed = [landing.stat(path)]
    run = ingest_files(
        landing,
        [(item, DAY) for item in landed],
        str(lake / "bronze" / "claims_raw"),
        (DAY, DAY + dt.timedelta(days=1)),
        dt.datetime.now(dt.UTC),
        only_sources=tuple(item.uri for item in landed) if named else None,
    )
    assert not run.rejected, run.rejected
    return run.records


def one_run(kind: str, path: str, lake: Path | None, named: bool = False) -> dict:
    # Modules are imported before the clock starts, as in a run's process; first calls are timed. The package
    # comes first, as it does there (it chooses pyarrow's allocator; the plain read keeps pyarrow's default).
    # pandas is among them: a run's process has it (Dagster and the Spark client import it), and pyarrow
    # imports it on its first array from numpy, which would otherwise charge the import to the ingest.
    if kind == "ingest":
        import fraud_lakehouse.claims.ingest  # noqa: F401
    import deltalake  # noqa: F401
    import pandas  # noqa: F401
    import pyarrow.csv
    import pyarrow.parquet  # noqa: F401

    started = time.perf_counter()
    rows = plain_read(Path(path)) if kind == "plain" else ingest(path, lake, named)
    seconds = time.perf_counter() - started
    return {"rows": rows, "seconds": seconds, "peak_rss_mib": peak_rss_mib()}


def peak_rss_mib() -> float:
    """This process's peak resident memory. VmHWM, not getrusage: a child's ru_maxrss keeps the parent's peak
    from before the exec, and the parent holds the generated claims."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _subprocess(args: list[str], env: dict[str, str] | None = None) -> dict:
    output = subprocess.run(
        [sys.executable, __file__, *args], check=True, capture_output=True, text=True, env=env
    ).stdout
    return json.loads(output.strip().splitlines()[-1])


def part_ingest(work: Path, claims: int, runs: int) -> dict:
    files = make_files(work, claims)
    cores = os.cpu_count() or 1
    results = {}
    for name, path in files.items():
        plain, ours = [], []
        for index in range(runs):  # interleaved, so both see the same machine
            plain.append(_subprocess(["--one-run", "plain", "--path", str(path)]))
            lake = work / f"lake-{name}-{index}"
            ours.append(_subprocess(["--one-run", "ingest", "--path", str(path), "--lake", str(lake)]))
            shutil.rmtree(lake, ignore_errors=True)
        rows = ours[0]["rows"]
        plain_s = statistics.median(r["seconds"] for r in plain)
        ours_s = statistics.median(r["seconds"] for r in ours)
        results[name] = {
            "rows": rows,
            "file_mib": round(path.stat().st_size / 2**20, 1),
            "ingest_median_seconds": round(ours_s, 3),
            "ingest_runs_seconds": [round(r["seconds"], 3) for r in ours],
            "ingest_rows_per_second_per_core": round(rows / ours_s / cores),
            "plain_read_median_seconds": round(plain_s, 3),
            "plain_read_rows_per_second_per_core": round(rows / plain_s / cores),
            "ratio_ingest_to_plain_read_speed": round(plain_s / ours_s, 3),
            "ingest_peak_rss_mib": round(max(r["peak_rss_mib"] for r in ours)),
        }
        print(f"{name}: {json.dumps(results[name])}", file=sys.stderr)
    return {"cores": cores, "formats": results}


def part_end_to_end(work: Path, claims: int, runs: int) -> dict:
    import pandas as pd

    from fraud_lakehouse.claims.samples import insurance_claims

    frame = insurance_claims(claims, DAY, seed=42)
    # The same file as users also send it: 1% of its claims a second time under the same claim id (resubmitted),
    # which silver quarantines as duplicate_claim_id.
    resubmitted = pd.concat([frame, frame.sample(frac=0.01, random_state=1)], ignore_index=True)
    materialize = MATERIALIZE_ALL
    one_day, one_day_resubmitted, week, demo = [], [], [], []

    def landed_day(home: Path, claims_file: pd.DataFrame) -> float:
        env = new_home(home)
        landed = home / ".lakehouse" / "landing" / "claims" / DAY.isoformat() / "claims.csv"
        landed.parent.mkdir(parents=True)
        claims_file.to_csv(landed, index=False)
        seconds = timed([*materialize, "--partition", DAY.isoformat()], home, env)
        shutil.rmtree(home)
        return seconds

    for index in range(runs):
        one_day.append(landed_day(work / f"home-{index}", frame))
        one_day_resubmitted.append(landed_day(work / f"resubmitted-{index}", resubmitted))
        print(f"1 M claims, one day, run {index + 1}: {one_day[-1]:.2f} s, "
              f"with 1% resubmitted: {one_day_resubmitted[-1]:.2f} s", file=sys.stderr)  # fmt: skip
        home = work / f"week-{index}"
        env = new_home(home)
        week.append(timed([*materialize, "--partition-range", "2025-01-01...2025-01-07"], home, env))
        shutil.rmtree(home)
        home = work / f"demo-{index}"
        env = new_home(home)
        demo.append(timed([str(BIN / "fraud-lakehouse"), "demo"], home, env))
        shutil.rmtree(home)
        print(f"7 days: CLI {week[-1]:.2f} s, demo {demo[-1]:.2f} s", file=sys.stderr)
    return {
        "claims_in_file": len(frame),
        "one_day_cli_wall_median_seconds": round(statistics.median(one_day), 2),
        "one_day_cli_wall_runs": [round(s, 2) for s in one_day],
        "claims_in_file_with_resubmissions": len(resubmitted),
        "one_day_resubmitted_cli_wall_median_seconds": round(statistics.median(one_day_resubmitted), 2),
        "one_day_resubmitted_cli_wall_runs": [round(s, 2) for s in one_day_resubmitted],
        "seven_days_cli_wall_median_seconds": round(statistics.median(week), 2),
        "seven_days_demo_wall_median_seconds": round(statistics.median(demo), 2),
    }


SHAPES = ("csv", "json_array", "json_lines", "us_excel_csv", "european_csv", "short_records_csv", "one_patient_csv",
          "one_claim_id_csv")  # fmt: skip


def _land_shape(frame: pd.DataFrame, folder: Path, shape: str) -> None:
    """``frame`` written into ``folder`` as one file in ``shape`` (part 6)."""
    import pandas as pd

    def earlier(date_format: str) -> pd.DataFrame:
        dated = frame.copy()
        for column in ("service_date", "submitted_date"):
            dated[column] = (pd.to_datetime(dated[column]) - pd.Timedelta(days=1)).dt.strftime(date_format)
        return dated

    if shape == "csv":
        frame.to_csv(folder / "claims.csv", index=False)
    elif shape == "json_array":
        frame.to_json(folder / "claims.json", orient="records")
    elif shape == "json_lines":
        frame.to_json(folder / "claims.jsonl", orient="records", lines=True)
    elif shape == "us_excel_csv":
        earlier("%m/%d/%Y").to_csv(folder / "claims.csv", index=False, lineterminator="\r\n", encoding="utf-8-sig")
    elif shape == "european_csv":
        earlier("%d.%m.%Y").to_csv(folder / "claims.csv", index=False, sep=";", decimal=",")
    elif shape == "one_patient_csv":
        # an export whose patient and provider columns hold one placeholder each: one customer of a million claims
        frame.assign(patient_id="PAT000000", provider_id="PRV0000").to_csv(folder / "claims.csv", index=False)
    elif shape == "one_claim_id_csv":
        # every record under one claim id (a claim id column that lost its values to a constant)
        frame.assign(claim_id="CLM0").to_csv(folder / "claims.csv", index=False)
    else:
        # no place of service, and every record after the 16th without the delimiter of that empty last cell
        lines = frame.assign(place_of_service="").to_csv(index=False).split("\n")
        (folder / "claims.csv").write_text("\n".join(lines[:17] + [line.removesuffix(",") for line in lines[17:]]))


def part_shapes(work: Path, claims: int, runs: int, shapes: tuple[str, ...] = SHAPES) -> dict:
    from fraud_lakehouse.claims.samples import insurance_claims

    frame = insurance_claims(claims, DAY, seed=42)
    materialize = [*MATERIALIZE_ALL, "--partition", DAY.isoformat()]
    seconds: dict[str, list[float]] = {}
    for index in range(runs):
        for shape in ("csv", *[shape for shape in shapes if shape != "csv"]):
            home = work / f"{shape}-{index}"
            env = new_home(home)
            folder = home / ".lakehouse" / "landing" / "claims" / DAY.isoformat()
            folder.mkdir(parents=True)
            _land_shape(frame, folder, shape)
            seconds.setdefault(shape, []).append(timed(materialize, home, env))
            shutil.rmtree(home)
            print(f"{shape}, run {index + 1}: {seconds[shape][-1]:.2f} s", file=sys.stderr)
    plain = statistics.median(seconds["csv"])
    return {
        "claims_in_file": len(frame),
        **{
            shape: {
                "cli_wall_median_seconds": round(statistics.median(runs_of_shape), 2),
                "cli_wall_runs": [round(s, 2) for s in runs_of_shape],
                "ratio_to_csv": round(statistics.median(runs_of_shape) / plain, 2),
            }
            for shape, runs_of_shape in seconds.items()
        },
    }


def part_year(work: Path) -> dict:
    from fraud_lakehouse.claims.samples import sparkov_claims, write_sample

    home = work / "year"
    env = new_home(home)
    landing = home / ".lakehouse" / "landing" / "claims"
    start, rows = dt.date(2025, 1, 1), 0
    for offset in range(365):
        day = start + dt.timedelta(days=offset)
        frame = sparkov_claims(1200, day, seed=offset)
        frame = frame[frame["trans_date_trans_time"].str.startswith(day.isoformat())]
        rows += len(frame)
        write_sample(frame, str(landing / day.isoformat() / "transactions.csv"))
    size = sum(path.stat().st_size for path in landing.rglob("*.csv"))
    seconds = timed([*MATERIALIZE_ALL, "--partition-range", "2025-01-01...2025-12-31"], home, env)
    from deltalake import DeltaTable

    bronze = DeltaTable(str(home / ".lakehouse" / "lake" / "bronze" / "claims_raw")).to_pyarrow_dataset().count_rows()
    shutil.rmtree(home)
    return {
        "files": 365,
        "rows": rows,
        "mib": round(size / 2**20, 1),
        "bronze_rows": bronze,
        "wall_seconds": round(seconds, 1),
    }


def land_small_files(folder: Path, files: int) -> None:
    """``files`` landed files of 10 insurance claims each in ``folder`` (an integration that lands claims as they
    come)."""
    from fraud_lakehouse.claims.samples import insurance_claims

    frame = insurance_claims(files * 10, DAY, seed=7)
    folder.mkdir(parents=True, exist_ok=True)
    for number in range(files):
        frame.iloc[number * 10 : (number + 1) * 10].to_csv(folder / f"claims-{number:05d}.csv", index=False)


def write_copies(path: Path, header: bytes, body: bytes, copies: int | None = None, gigabytes: float = 0) -> None:
    """A CSV of ``body``'s claims repeated, each copy after the first under new claim ids: ``copies`` times, or
    until the file holds ``gigabytes``."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "wb") as out:
        out.write(header + b"\n")
        copy = 0
        while (copy < copies) if copies is not None else (out.tell() < gigabytes * 2**30):
            out.write(body.replace(b"\nCLM", b"\nC%03dLM" % copy) if copy else body)
            copy += 1


def part_many_files(work: Path, files: int, runs: int) -> dict:
    """A day of many small landed files (an integration that lands claims as they come): ``files`` files of 10
    insurance claims, then the whole graph for that day through the CLI, as in part 2."""
    materialize = MATERIALIZE_ALL
    walls = []
    for index in range(runs):
        home = work / f"many-{index}"
        env = new_home(home)
        land_small_files(home / ".lakehouse" / "landing" / "claims" / DAY.isoformat(), files)
        walls.append(timed([*materialize, "--partition", DAY.isoformat()], home, env))
        print(f"{files} small files, one day, run {index + 1}: {walls[-1]:.2f} s", file=sys.stderr)
        shutil.rmtree(home)
    return {
        "files": files,
        "claims": files * 10,
        "one_day_cli_wall_median_seconds": round(statistics.median(walls), 2),
        "one_day_cli_wall_runs": [round(s, 2) for s in walls],
    }


def part_s3(work: Path, claims: int, runs: int) -> dict:
    """The files of part 1, a ZIP archive of the CSV and a day of 1,000 small files (10 claims each), landed on an
    S3 endpoint (a moto server in its own process, over HTTP) and ingested from there, beside the same files
    ingested from local disk; both into a lake on local disk, so only the landed files' reading differs. Each run a
    fresh process, the two interleaved."""
    import zipfile

    import boto3

    from fraud_lakehouse.local_s3 import start_moto_on_a_free_port

    files = make_files(work, claims)
    files["zip"] = work / "claims.zip"
    with zipfile.ZipFile(files["zip"], "w", zipfile.ZIP_DEFLATED) as archive:
        archive.write(files["csv"], "claims.csv")
    files["1000_small_files"] = work / "small_files"
    land_small_files(files["1000_small_files"], 1000)
    moto, port = start_moto_on_a_free_port()
    aws = {"AWS_ENDPOINT_URL": f"http://127.0.0.1:{port}", "AWS_ALLOW_HTTP": "true", "AWS_ACCESS_KEY_ID": "bench",
           "AWS_SECRET_ACCESS_KEY": "bench", "AWS_REGION": "us-east-1"}  # fmt: skip
    env = {**os.environ, **aws}
    try:
        s3 = boto3.client("s3", endpoint_url=aws["AWS_ENDPOINT_URL"], region_name="us-east-1",
                          aws_access_key_id="bench", aws_secret_access_key="bench")  # fmt: skip
        s3.create_bucket(Bucket="ingest")
        results = {}
        for name, path in files.items():
            key = f"claims/{DAY.isoformat()}/{path.name}"
            if path.is_dir():  # a prefix of files, ingested together
                for item in path.iterdir():
                    s3.upload_file(str(item), "ingest", f"{key}/{item.name}")
                key += "/"
            else:
                s3.upload_file(str(path), "ingest", key)
            local, remote = [], []
            for index in range(runs):
                lake = work / f"lake-{name}-{index}"
                local_path = f"{path}/" if path.is_dir() else str(path)
                local.append(_subprocess(["--one-run", "ingest", "--path", local_path, "--lake", str(lake)]))
                shutil.rmtree(lake, ignore_errors=True)
                remote.append(_subprocess(["--one-run", "ingest", "--path", f"s3://ingest/{key}", "--lake",
                                           str(lake)], env))  # fmt: skip
                shutil.rmtree(lake, ignore_errors=True)
            local_s = statistics.median(r["seconds"] for r in local)
            remote_s = statistics.median(r["seconds"] for r in remote)
            results[name] = {
                "rows": remote[0]["rows"],
                "file_mib": round(
                    sum(item.stat().st_size for item in [path, *path.glob("*")] if item.is_file()) / 2**20, 1
                ),
                "from_s3_median_seconds": round(remote_s, 3),
                "from_s3_runs_seconds": [round(r["seconds"], 3) for r in remote],
                "from_local_disk_median_seconds": round(local_s, 3),
                "ratio_s3_to_local_disk": round(remote_s / local_s, 2),
            }
            print(f"{name}: {json.dumps(results[name])}", file=sys.stderr)
        return results
    finally:
        moto.terminate()
        moto.wait(timeout=10)


def part_named(work: Path, copies: int) -> dict:
    """A day holding ``copies`` of the 1 M-claim file (new claim ids each), ingested; then a 10-claim file landed
    on that day and ingested by name, as the sensor's run for it does: its time and peak memory."""
    files = make_files(work, 1_000_000)
    header, _, body = files["csv"].read_bytes().partition(b"\n")
    folder = work / "landing" / DAY.isoformat()
    write_copies(folder / "claims.csv", header, body, copies=copies)
    lake = str(work / "lake")
    day = _subprocess(["--one-run", "ingest", "--path", f"{folder}/", "--lake", lake])
    late_claims = body.split(b"\n", 10)[:10]
    (folder / "late.csv").write_bytes(b"\n".join([header, *late_claims]).replace(b"CLM", b"LATE") + b"\n")
    late = _subprocess(["--one-run", "ingest", "--path", str(folder / "late.csv"), "--lake", lake, "--named"])
    return {"claims_in_the_day": day["rows"], "day": day, "one_small_file_by_name": late}


def part_big(work: Path, gigabytes: float) -> dict:
    """An N GB CSV (the 1 M-claim file's rows repeated under new claim ids), ingested in a fresh process."""
    files = make_files(work, 1_000_000)
    header, _, body = files["csv"].read_bytes().partition(b"\n")
    big = work / "big" / "claims.csv"
    write_copies(big, header, body, gigabytes=gigabytes)
    result = _subprocess(["--one-run", "ingest", "--path", str(big), "--lake", str(work / "big-lake")])
    return {"file_gib": round(big.stat().st_size / 2**30, 2), **result}


def _generate_files(folder: Path, count: int) -> None:
    """``count`` files of 1 M insurance claims each (seeds 1..count: every claim id its own) in ``folder``, written
    by a child process, so that this process stays small for the peak memory measured after it."""
    script = (
        "import sys, datetime as dt\n"
        "from fraud_lakehouse.claims.samples import insurance_claims\n"
        "for seed in range(1, int(sys.argv[2]) + 1):\n"
        "    frame = insurance_claims(1_000_000, dt.date.fromisoformat(sys.argv[3]), seed=seed)\n"
        "    frame.to_csv(f'{sys.argv[1]}/claims_{seed:03d}.csv', index=False)\n"
    )
    folder.mkdir(parents=True, exist_ok=True)
    subprocess.run([sys.executable, "-c", script, str(folder), str(count), DAY.isoformat()], check=True)


def _large_day_home(home: Path, source: Path) -> dict[str, str]:
    """A new Dagster home at ``home`` with every file of ``source`` landed for DAY (hard links); its environment."""
    env = new_home(home)
    landed = home / ".lakehouse" / "landing" / "claims" / DAY.isoformat()
    landed.mkdir(parents=True)
    for path in sorted(source.iterdir()):
        os.link(path, landed / path.name)
    return env


def part_large_day(work: Path, files: int, runs: int) -> dict:
    """A large day: ``files`` files of 1 M distinct claims landed for one day, then the whole graph through the CLI
    as in part 2: wall clock and the peak memory of the CLI's process (the engine runs in it)."""
    source = work / "files"
    _generate_files(source, files)
    materialize = [*MATERIALIZE_ALL, "--partition", DAY.isoformat()]
    walls: list[float] = []
    peaks: list[float] = []
    for index in range(runs):
        home = work / f"large-{index}"
        env = _large_day_home(home, source)
        log = home / "run.log"
        with open(log, "wb") as output:
            started = time.perf_counter()
            process = subprocess.Popen(materialize, cwd=home, env=env, stdout=output, stderr=subprocess.STDOUT)
            # wait4: this child's own peak memory (the generator's child is not counted)
            _, status, usage = os.wait4(process.pid, 0)
            walls.append(time.perf_counter() - started)
        process.returncode = os.waitstatus_to_exitcode(status)
        if process.returncode:
            raise RuntimeError(f"the large day's run failed:\n{log.read_text()[-3000:]}")
        peaks.append(usage.ru_maxrss / 1024)
        print(f"large day ({files} M claims), run {index + 1}: {walls[-1]:.1f} s, peak {peaks[-1]:.0f} MiB",
              file=sys.stderr)  # fmt: skip
        shutil.rmtree(home)
    return {
        "claims": files * 1_000_000,
        "cli_wall_median_seconds": round(statistics.median(walls), 1),
        "cli_wall_runs": [round(wall, 1) for wall in walls],
        "cli_peak_rss_mib": round(max(peaks)),
    }


def _memory_in_use_gib() -> float:
    """The machine's memory in use: ``MemTotal - MemAvailable`` of ``/proc/meminfo``."""
    fields = dict(line.split(":", 1) for line in Path("/proc/meminfo").read_text().splitlines())
    return (int(fields["MemTotal"].split()[0]) - int(fields["MemAvailable"].split()[0])) / 1024**2


def part_large_days_at_once(work: Path, files: int, at_once: int) -> dict:
    """``at_once`` large days (part 9's) run through the CLI at the same time, each in an instance of its own: each
    run's wall clock and peak memory (``wait4``), and the most memory the machine had in use while they ran."""
    source = work / "files"
    _generate_files(source, files)
    materialize = [*MATERIALIZE_ALL, "--partition", DAY.isoformat()]
    homes, envs = [], []
    for index in range(at_once):
        home = work / f"large-{index}"
        envs.append(_large_day_home(home, source))
        homes.append(home)
    in_use_before = _memory_in_use_gib()
    most_in_use = [in_use_before]
    done = threading.Event()

    def sample() -> None:
        while not done.wait(0.5):
            most_in_use[0] = max(most_in_use[0], _memory_in_use_gib())

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    started = time.perf_counter()
    processes = {}
    for home, env in zip(homes, envs, strict=True):
        with open(home / "run.log", "wb") as output:
            process = subprocess.Popen(materialize, cwd=home, env=env, stdout=output, stderr=subprocess.STDOUT)
        processes[process.pid] = home
    walls: dict[Path, float] = {}
    peaks: dict[Path, float] = {}
    failed: list[str] = []
    while processes:
        pid, status, usage = os.wait4(-1, 0)  # any child: each run's own peak memory
        home = processes.pop(pid, None)
        if home is None:
            continue
        walls[home] = time.perf_counter() - started
        peaks[home] = usage.ru_maxrss / 1024
        if os.waitstatus_to_exitcode(status):
            failed.append(f"{home.name}: {(home / 'run.log').read_text()[-2000:]}")
    done.set()
    sampler.join()
    if failed:
        raise RuntimeError("a large day's run failed:\n" + "\n".join(failed))
    for home in homes:
        print(f"large day ({files} M claims), {home.name} of {at_once} at once: {walls[home]:.1f} s, "
              f"peak {peaks[home]:.0f} MiB", file=sys.stderr)  # fmt: skip
    return {
        "claims_per_day": files * 1_000_000,
        "days_at_once": at_once,
        "cli_wall_seconds": [round(walls[home], 1) for home in homes],
        "cli_peak_rss_mib": [round(peaks[home]) for home in homes],
        "machine_memory_in_use_before_gib": round(in_use_before, 1),
        "machine_memory_in_use_most_gib": round(most_in_use[0], 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--claims", type=int, default=1_000_000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--parts", default="ingest,end_to_end,year",
                        help="ingest, end_to_end, year, many_files, big, shapes, s3, named, large_day, "
                             "large_days_at_once")  # fmt: skip
    parser.add_argument("--many-files", type=int, default=1000, help="how many small files part many_files lands")
    parser.add_argument("--big-file-gb", type=float, default=5.0)
    parser.add_argument("--shapes", default=",".join(SHAPES), help=f"the shapes part 6 lands: {', '.join(SHAPES)}")
    parser.add_argument("--named-copies", type=int, default=10, help="copies of the 1 M-claim file in part named's day")
    parser.add_argument("--large-day-files", type=int, default=10,
                        help="files of 1 M distinct claims in part large_day's day")  # fmt: skip
    parser.add_argument("--at-once", type=int, default=4, help="large days run at once in part large_days_at_once")
    parser.add_argument("--one-run", choices=["plain", "ingest"], help=argparse.SUPPRESS)
    parser.add_argument("--named", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--path", help=argparse.SUPPRESS)
    parser.add_argument("--lake", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.one_run:
        print(json.dumps(one_run(args.one_run, args.path, Path(args.lake) if args.lake else None, args.named)))
        return
    parts = args.parts.split(",")
    if unknown := set(args.shapes.split(",")) - set(SHAPES):
        parser.error(f"unknown shapes: {', '.join(sorted(unknown))} (known: {', '.join(SHAPES)})")
    summary: dict = {}
    work = Path(tempfile.mkdtemp(prefix="fraud-lakehouse-ingest-"))
    try:
        if "ingest" in parts:
            summary["ingest"] = part_ingest(work / "ingest", args.claims, args.runs)
        if "end_to_end" in parts:
            summary["end_to_end"] = part_end_to_end(work / "e2e", args.claims, args.runs)
        if "year" in parts:
            summary["year_backfill"] = part_year(work)
        if "many_files" in parts:
            summary["many_files"] = part_many_files(work / "many", args.many_files, args.runs)
        if "big" in parts:
            summary["big_file"] = part_big(work / "bigfile", args.big_file_gb)
        if "named" in parts:
            summary["named"] = part_named(work / "named", args.named_copies)
        if "large_day" in parts:
            summary["large_day"] = part_large_day(work / "large_day", args.large_day_files, args.runs)
        if "large_days_at_once" in parts:
            summary["large_days_at_once"] = part_large_days_at_once(work / "at_once", args.large_day_files,
                                                                    args.at_once)  # fmt: skip
        if "s3" in parts:
            summary["s3"] = part_s3(work / "s3", args.claims, args.runs)
        if "shapes" in parts:
            summary["shapes"] = part_shapes(work / "shapes", args.claims, args.runs, tuple(args.shapes.split(",")))
    finally:
        shutil.rmtree(work, ignore_errors=True)
    print(json.dumps(summary, indent=2))


if __name__ == "__main__":
    main()
