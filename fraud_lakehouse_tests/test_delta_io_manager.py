"""The Delta IO manager: first write, idempotent partition rewrite, range write, window reads; local and S3."""

import datetime as dt
import threading

import pytest
from dagster import (
    AssetExecutionContext,
    AssetIn,
    DailyPartitionsDefinition,
    asset,
    instance_for_test,
    materialize,
)
from deltalake import DeltaTable
from pyspark.sql import DataFrame

from fraud_lakehouse.resources.delta_io import (
    DeltaLakeIOManager,
    is_commit_conflict,
    retry_commit_conflicts,
    window_predicate,
    write_delta,
)
from fraud_lakehouse.resources.lake import LakeRootError
from fraud_lakehouse_tests.conftest import S3_BUCKET

DAYS = DailyPartitionsDefinition(start_date="2025-01-01")
RANGE_START, RANGE_END = "dagster/asset_partition_range_start", "dagster/asset_partition_range_end"
loaded_windows: list[tuple[str, int]] = []


@asset(key_prefix=["test"], partitions_def=DAYS, io_manager_key="lake_io_manager", required_resource_keys={"spark"})
def events(context: AssetExecutionContext) -> DataFrame:
    """Ten rows per day of the window, tagged with the run's marker."""
    window = context.partition_time_window
    marker = context.run.tags.get("marker", "none")
    spark = context.resources.spark.spark_session
    days = (window.end - window.start).days
    return spark.range(0, days * 10).selectExpr(
        f"date_add(DATE'{window.start.date()}', CAST(id DIV 10 AS INT)) AS detection_date",
        "id % 10 AS n",
        f"'{marker}' AS marker",
    )


@asset(
    key_prefix=["test"],
    partitions_def=DAYS,
    ins={"events": AssetIn(key=["test", "events"])},
    io_manager_key="lake_io_manager",
)
def window_reader(context: AssetExecutionContext, events: DataFrame) -> DataFrame:
    loaded_windows.append((context.partition_key_range.start + ".." + context.partition_key_range.end, events.count()))
    return events.groupBy("detection_date").count()


@asset(key_prefix=["test"], io_manager_key="lake_io_manager", required_resource_keys={"spark"})
def lookup(context: AssetExecutionContext) -> DataFrame:
    marker = context.run.tags.get("marker", "none")
    return context.resources.spark.spark_session.range(3).selectExpr("id", f"'{marker}' AS marker")


def _run(assets, resources, **tags):
    with instance_for_test() as instance:
        result = materialize(assets, resources=resources, instance=instance, tags=tags)
    assert result.success
    return result


def _marker_counts(spark, uri: str) -> dict[tuple[str, str], int]:
    rows = spark.read.format("delta").load(uri).groupBy("detection_date", "marker").count().collect()
    return {(row["detection_date"].isoformat(), row["marker"]): row["count"] for row in rows}


@pytest.fixture(params=["local", "s3"])
def lake(request, tmp_path, spark_engine):
    if request.param == "s3":
        request.getfixturevalue("moto_s3")
        root = f"s3://{S3_BUCKET}/lake-{tmp_path.name}"
    else:
        root = str(tmp_path / "lake")
    return root, {"spark": spark_engine, "lake_io_manager": DeltaLakeIOManager(spark=spark_engine, lake_root=root)}


def test_first_write_rewrite_range_and_window_read(lake, spark):
    root, resources = lake
    uri = (
        f"{root}/test/events"
        if root.startswith("s3://")
        else str((__import__("pathlib").Path(root) / "test" / "events").resolve())
    )

    first = _run([events], resources, **{"dagster/partition": "2025-01-02", "marker": "a"})
    assert _marker_counts(spark, uri) == {("2025-01-02", "a"): 10}
    metadata = first.asset_materializations_for_node("test__events")[0].metadata
    assert metadata["dagster/row_count"].value == 10
    assert metadata["dagster/partition_row_count"].value == 10
    assert metadata["delta_version"].value == 0
    assert {c.name for c in metadata["dagster/column_schema"].value.columns} == {"detection_date", "n", "marker"}
    assert metadata["dagster/uri"].value == uri
    assert len(metadata["preview"].value.records) == 5

    # A range in one run, overlapping the first day: the window is replaced exactly.
    _run([events], resources, **{RANGE_START: "2025-01-02", RANGE_END: "2025-01-04", "marker": "b"})
    assert _marker_counts(spark, uri) == {("2025-01-02", "b"): 10, ("2025-01-03", "b"): 10, ("2025-01-04", "b"): 10}

    # Re-running one day replaces that day only, and twice is the same as once.
    for _ in range(2):
        again = _run([events], resources, **{"dagster/partition": "2025-01-03", "marker": "c"})
    assert _marker_counts(spark, uri) == {("2025-01-02", "b"): 10, ("2025-01-03", "c"): 10, ("2025-01-04", "b"): 10}
    assert again.asset_materializations_for_node("test__events")[0].metadata["dagster/row_count"].value == 30
    assert DeltaTable(uri).version() == 3

    # Downstream reads exactly the upstream rows of its window.
    loaded_windows.clear()
    _run([events.to_source_asset(), window_reader], resources, **{RANGE_START: "2025-01-03", RANGE_END: "2025-01-04"})
    assert loaded_windows == [("2025-01-03..2025-01-04", 20)]


def test_unpartitioned_assets_are_overwritten(lake, spark):
    _, resources = lake
    _run([lookup], resources, marker="x")
    result = _run([lookup], resources, marker="y")
    uri = result.asset_materializations_for_node("test__lookup")[0].metadata["dagster/uri"].value
    rows = spark.read.format("delta").load(uri).collect()
    assert sorted((r["id"], r["marker"]) for r in rows) == [(0, "y"), (1, "y"), (2, "y")]


def test_range_run_reports_rows_per_partition(tmp_path, spark_engine):
    resources = {
        "spark": spark_engine,
        "lake_io_manager": DeltaLakeIOManager(spark=spark_engine, lake_root=str(tmp_path)),
    }
    result = _run([events], resources, **{RANGE_START: "2025-02-01", RANGE_END: "2025-02-03"})
    materializations = result.asset_materializations_for_node("test__events")
    assert sorted(m.partition for m in materializations) == ["2025-02-01", "2025-02-02", "2025-02-03"]
    assert all(m.metadata["dagster/partition_row_count"].value == 10 for m in materializations)
    records = materializations[0].metadata["partition_row_counts"].value.records
    assert [r.data["rows"] for r in records] == [10, 10, 10]


def test_concurrent_writers_of_different_days_all_land(tmp_path, spark):
    """Writers of different days commit at once; conflicts are retried, no day is lost."""
    uri = str(tmp_path / "events")

    def day_rows(day: str, marker: str):
        return spark.range(10).selectExpr(f"DATE'{day}' AS detection_date", "id AS n", f"'{marker}' AS marker")

    def day_window(day: str) -> tuple[dt.date, dt.date]:
        start = dt.date.fromisoformat(day)
        return start, start + dt.timedelta(days=1)

    write_delta(day_rows("2025-03-01", "seed"), uri, day_window("2025-03-01"))
    errors: list[BaseException] = []

    def write(day: str) -> None:
        try:
            for _ in range(3):
                write_delta(day_rows(day, day), uri, day_window(day))
        except BaseException as error:
            errors.append(error)

    threads = [threading.Thread(target=write, args=(f"2025-03-0{d}",)) for d in range(2, 6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors
    counts = _marker_counts(spark, uri)
    assert counts == {("2025-03-01", "seed"): 10, **{(f"2025-03-0{d}", f"2025-03-0{d}"): 10 for d in range(2, 6)}}
    assert DeltaTable(uri).version() == 12


def test_commit_conflicts_are_retried_with_backoff_and_other_errors_are_not():
    attempts, delays = [], []

    def flaky() -> str:
        attempts.append(1)
        if len(attempts) < 3:
            raise RuntimeError("Failed to commit transaction: version 4 already exists")
        return "written"

    assert retry_commit_conflicts(flaky, sleep=delays.append) == "written"
    assert len(attempts) == 3 and len(delays) == 2 and delays[1] > delays[0] * 1.0 - 1e-9
    assert is_commit_conflict(Exception("io.delta.exceptions.ConcurrentAppendException: Files were added"))

    def broken() -> None:
        raise ValueError("schema mismatch")

    with pytest.raises(ValueError):
        retry_commit_conflicts(broken, sleep=delays.append)


def test_unwritable_lake_root_fails_with_the_path(tmp_path, spark_engine):
    # A path below a regular file cannot be created, even by root (CI runs as root).
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("")
    root = blocker / "lake"
    resources = {"spark": spark_engine, "lake_io_manager": DeltaLakeIOManager(spark=spark_engine, lake_root=str(root))}
    with instance_for_test() as instance, pytest.raises(LakeRootError, match=str(root)):
        materialize([lookup], resources=resources, instance=instance, raise_on_error=True)


def test_window_predicate_is_half_open():
    assert window_predicate(dt.date(2025, 1, 1), dt.date(2025, 1, 3)) == (
        "detection_date >= DATE'2025-01-01' AND detection_date < DATE'2025-01-03'"
    )
