"""Writes that race: first writes of a new table from two processes at once, locally and on S3 (a moto server
process), and the write lock itself (mutual exclusion, a crashed holder on disk and on S3)."""

import os
import signal
import subprocess
import sys
import textwrap
import threading
import time

import pytest
from deltalake import DeltaTable

from fraud_lakehouse.storage import LocalStorage, LockTimeout, S3Storage, table_lock_uri
from fraud_lakehouse_tests.conftest import S3_BUCKET

# A writer process: builds its rows, waits for the common start time, then writes.
WRITER = textwrap.dedent(
    """
    import datetime as dt, sys, time
    from fraud_lakehouse.resources.delta_io import write_delta
    from fraud_lakehouse.resources.spark import SparkEngine

    uri, day, partitioned, start_at = sys.argv[1], sys.argv[2], sys.argv[3] == "1", float(sys.argv[4])
    spark = SparkEngine(engine="sail").spark_session
    rows = spark.range(0, 1000).selectExpr(f"DATE'{day}' AS detection_date", "id AS n")
    rows.count()
    first = dt.date.fromisoformat(day)
    while time.time() < start_at:
        time.sleep(0.001)
    write_delta(rows, uri, (first, first + dt.timedelta(days=1)) if partitioned else None)
    """
)


def _write_at_once(uri: str, days: list[str], partitioned: bool) -> None:
    start_at = time.time() + 8  # after both engines are up and the rows are planned
    processes = [
        subprocess.Popen(
            [sys.executable, "-c", WRITER, uri, day, "1" if partitioned else "0", str(start_at)],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        for day in days
    ]
    for process in processes:
        output, _ = process.communicate(timeout=180)
        assert process.returncode == 0, output[-3000:]


def _rows_per_day(uri: str) -> dict[str, int]:
    table = DeltaTable(uri).to_pyarrow_table()
    days = [day.isoformat() for day in table.column("detection_date").to_pylist()]
    return {day: days.count(day) for day in sorted(set(days))}


@pytest.fixture(params=["local", "s3"])
def table_root(request, tmp_path):
    if request.param == "s3":
        request.getfixturevalue("moto_s3")
        return f"s3://{S3_BUCKET}/race-{tmp_path.name}"
    return str(tmp_path / "lake")


@pytest.mark.parametrize(
    ("days", "partitioned", "expected"),
    [
        (["2025-01-06", "2025-01-07"], True, {"2025-01-06": 1000, "2025-01-07": 1000}),
        (["2025-01-06", "2025-01-06"], True, {"2025-01-06": 1000}),
        (["2025-01-06", "2025-01-06"], False, {"2025-01-06": 1000}),
    ],
    ids=["two-days", "same-day", "unpartitioned"],
)
def test_two_first_writes_of_a_new_table_keep_exactly_their_rows(table_root, days, partitioned, expected):
    uri = f"{table_root}/bronze/events"
    _write_at_once(uri, days, partitioned)
    assert _rows_per_day(uri) == expected
    # never a whole-table overwrite of another writer's window: every partitioned write after the first names it
    operations = [entry.get("operationParameters", {}) for entry in DeltaTable(uri).history()]
    if partitioned:
        assert sum("predicate" not in parameters or not parameters.get("predicate") for parameters in operations) <= 1


def test_the_lock_admits_one_holder_at_a_time(tmp_path):
    storage, name = LocalStorage(), str(tmp_path / "_locks" / "t.lock")
    inside, overlaps = [], []

    def hold() -> None:
        for _ in range(20):
            with storage.lock(name):
                inside.append(1)
                if len(inside) > 1:
                    overlaps.append(1)
                time.sleep(0.001)
                inside.pop()

    threads = [threading.Thread(target=hold) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not overlaps


HOLDER = textwrap.dedent(
    """
    import sys, time
    from fraud_lakehouse.storage import storage_for
    with storage_for(sys.argv[1]).lock(sys.argv[1], lease_s=float(sys.argv[2])):
        print("holding", flush=True)
        time.sleep(600)
    """
)


@pytest.mark.parametrize("backend", ["local", "s3"])
def test_a_killed_holder_does_not_keep_the_lock(request, tmp_path, backend):
    if backend == "s3":
        request.getfixturevalue("moto_s3")
        name, storage = f"s3://{S3_BUCKET}/locks-{tmp_path.name}/t.lock", S3Storage()
    else:
        name, storage = str(tmp_path / "t.lock"), LocalStorage()
    lease = 2.0
    holder = subprocess.Popen([sys.executable, "-c", HOLDER, name, str(lease)], stdout=subprocess.PIPE, text=True)
    assert holder.stdout.readline().strip() == "holding"
    with pytest.raises(LockTimeout):  # held and renewed: others wait
        with storage.lock(name, timeout_s=lease * 2):
            pass
    os.kill(holder.pid, signal.SIGKILL)
    holder.wait()
    started = time.monotonic()
    with storage.lock(name, timeout_s=30):
        waited = time.monotonic() - started
    # on disk the kernel frees it at once; on S3 after the lease (server time has whole seconds)
    assert waited < (0.5 if backend == "local" else lease + 5)


def test_lock_files_sit_beside_the_layers():
    assert table_lock_uri("/l/lake/bronze/claims_raw") == "/l/lake/_locks/bronze/claims_raw.lock"
    assert table_lock_uri("s3://b/lake/gold/flagged_claims") == "s3://b/lake/_locks/gold/flagged_claims.lock"
