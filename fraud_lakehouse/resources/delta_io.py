"""Delta Lake IO manager for Spark DataFrames, partition aware.

Tables live at ``{lake_root}/{layer}/{table}`` (the asset key). Daily
partitioned assets are written with ``replaceWhere`` over the run's
partition time window: one day, or a whole range in a single-run backfill,
and re-running a window replaces exactly that window. The first write
creates the table; unpartitioned assets are overwritten whole. Every write
holds the table's lock (``_locks/`` in the lake root: a file lock locally, a
conditional-write lease on S3), so concurrent runs take turns per table.
"""

from __future__ import annotations

import datetime as dt
import random
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from dagster import (
    ConfigurableIOManager,
    InputContext,
    MetadataValue,
    OutputContext,
    TableColumn,
    TableRecord,
    TableSchema,
)
from pydantic import Field
from pyspark.sql import Column, DataFrame, SparkSession
from pyspark.sql import functions as F

from fraud_lakehouse.claims.model import PERSONAL_COLUMNS
from fraud_lakehouse.claims.privacy import redact_identifiers_python
from fraud_lakehouse.partitions import PARTITION_COLUMN, window_predicate
from fraud_lakehouse.resources.lake import default_lake_root, ensure_writable, is_s3, table_uri
from fraud_lakehouse.resources.spark import SparkEngine
from fraud_lakehouse.storage import storage_for, table_lock_uri

T = TypeVar("T")

# Messages of the exceptions that mean "another writer committed first":
# delta-spark's ConcurrentModificationException family and Sail's commit error.
COMMIT_CONFLICT_MARKERS = (
    "Failed to commit transaction",
    "ConcurrentAppendException",
    "ConcurrentDeleteReadException",
    "ConcurrentDeleteDeleteException",
    "ConcurrentTransactionException",
    "ConcurrentWriteException",
    "MetadataChangedException",
    "ProtocolChangedException",
    "DELTA_CONCURRENT",
)
PREVIEW_ROWS = 5


def is_commit_conflict(error: BaseException) -> bool:
    text = f"{type(error).__name__}: {error}"
    return any(marker in text for marker in COMMIT_CONFLICT_MARKERS)


def retry_commit_conflicts(
    action: Callable[[], T], attempts: int = 6, base_delay: float = 0.5, sleep: Callable[[float], None] = time.sleep
) -> T:
    """Run ``action``, retrying Delta commit conflicts with jittered exponential backoff."""
    for attempt in range(1, attempts + 1):
        try:
            return action()
        except Exception as error:
            if attempt == attempts or not is_commit_conflict(error):
                raise
            sleep(base_delay * 2 ** (attempt - 1) * (1 + random.random()))
    raise AssertionError("unreachable")


def delta_table_exists(uri: str) -> bool:
    """Whether a Delta table exists at ``uri`` (local or S3), asked of delta-rs."""
    from deltalake import DeltaTable

    return DeltaTable.is_deltatable(uri)


def _log_figures(uri: str, window: tuple[dt.date, dt.date] | None) -> tuple[int | None, dict[str, int], int]:
    """From the table's Delta log, read once by delta-rs (no job on the engine; on S3 each read of the log is
    several requests): the table's rows and the window's rows per day, from the row counts every writer keeps
    ((None, {}) when a file has none), and the table's latest version."""
    import pyarrow as pa
    from deltalake import DeltaTable

    table = DeltaTable(uri)
    version = table.version()
    actions = pa.table(table.get_add_actions(flatten=True))
    if "num_records" not in actions.column_names or actions.column("num_records").null_count:
        return None, {}, version
    counts = actions.column("num_records").to_pylist()
    per_day: dict[str, int] = {}
    if window is not None:
        partition = f"partition.{PARTITION_COLUMN}"
        for day, rows in zip(actions.column(partition).to_pylist(), counts, strict=True):
            key = day.isoformat() if isinstance(day, dt.date) else str(day)
            if window[0].isoformat() <= key < window[1].isoformat():
                per_day[key] = per_day.get(key, 0) + rows
    return sum(counts), per_day, version


@dataclass(frozen=True)
class DeltaOutput:
    """An asset's output with how to write it: ``only_rows`` (a SQL predicate) limits the replace to the
    window's rows that match it (for example the files a run re-ingested; other rows stay as they are). A
    ``frame`` of None means the asset wrote the table itself (its rows never were a DataFrame): only the
    materialization's metadata is left to do."""

    frame: DataFrame | None
    only_rows: str | None = None

    @staticmethod
    def values_in(column: str, values: tuple[str, ...]) -> str:
        """The predicate ``column IN (values)``, values quoted as SQL strings."""
        if not values:
            return "FALSE"
        quoted = ", ".join("'" + value.replace("'", "''") + "'" for value in values)
        return f"{column} IN ({quoted})"


def _partition_value(start: dt.date, end: dt.date) -> Column:
    """The partition column of a window's rows as the writer gets it.

    A window of one day (every daily run, every sensor run): the day itself, a
    literal. The writer of a partitioned table sorts its input by the partition
    column unless it is a constant, and on Sail that sort holds every row of the
    write in memory and takes most of its time (docs/performance.md).
    Longer windows: the column, through an expression the optimizer cannot fold
    (always the same value). When every row comes from one Delta partition
    through window functions, Sail 0.7 takes the column for a constant, drops
    the writer's sort on it, then fails to plan ("does not satisfy order
    requirements").
    """
    if end - start == dt.timedelta(days=1):
        return F.lit(start.isoformat()).cast("date")
    return F.when(F.monotonically_increasing_id() >= 0, F.col(PARTITION_COLUMN)).cast("date")


def write_delta(
    frame: DataFrame, uri: str, window: tuple[dt.date, dt.date] | None, only_rows: str | None = None
) -> None:
    """Write ``frame`` to the Delta table at ``uri``, holding the table's write lock.

    With a window [start, end): replace exactly that window of the
    ``detection_date`` partitions; with ``only_rows`` (a SQL predicate), only
    the window's rows that match it. Without a window: overwrite the whole
    table. Whether the table exists is decided under the lock, so two first
    writes cannot both create it (Sail commits a second create as an append),
    and a write never replaces rows outside its window. Commit conflicts (a
    writer that takes no lock) are retried.
    """
    if window is not None:
        predicate = window_predicate(*window)
        if only_rows:
            predicate = f"{predicate} AND ({only_rows})"
        # Sail does not check that written rows satisfy replaceWhere; keeping
        # only the window's rows makes every engine replace exactly the window.
        rows = frame.where(predicate).withColumn(PARTITION_COLUMN, _partition_value(*window))

        def write() -> None:
            writer = rows.write.format("delta").mode("overwrite").partitionBy(PARTITION_COLUMN)
            if delta_table_exists(uri):
                writer = writer.option("replaceWhere", predicate)
            writer.save(uri)

    else:

        def write() -> None:
            frame.write.format("delta").mode("overwrite").option("overwriteSchema", "true").save(uri)

    try:
        with storage_for(uri).lock(table_lock_uri(uri)):
            retry_commit_conflicts(write)
    except Exception as error:
        raise RuntimeError(f"writing Delta table {uri} failed: {error}") from error


def _date_window(context: OutputContext | InputContext) -> tuple[dt.date, dt.date]:
    """The context's partition time window as half-open dates [start, end)."""
    window = context.asset_partitions_time_window
    return window.start.date(), window.end.date()


def _column_schema(df: DataFrame) -> TableSchema:
    return TableSchema(columns=[TableColumn(name=f.name, type=f.dataType.simpleString()) for f in df.schema.fields])


def _preview_value(name: str, value: Any) -> Any:
    """A preview cell: personal columns hidden, identifier shapes masked in any text."""
    if value is None:
        return None
    if name in PERSONAL_COLUMNS:
        return "[hidden: personal data]"
    if isinstance(value, bool | int | float):
        return value
    return redact_identifiers_python(str(value))


def _preview(df: DataFrame) -> MetadataValue:
    """The first rows for the UI. Stored in Dagster's event log, so it never holds personal data: columns that
    hold it are hidden, and identifier shapes in any other text masked."""
    rows = df.limit(PREVIEW_ROWS).collect()
    records = [TableRecord({k: _preview_value(k, v) for k, v in row.asDict().items()}) for row in rows]
    return MetadataValue.table(records=records, schema=_column_schema(df))


class MissingTableError(RuntimeError):
    """An asset reads a table that was never written."""


class DeltaLakeIOManager(ConfigurableIOManager):
    """Stores Spark DataFrames as Delta tables under the lake root."""

    spark: SparkEngine
    lake_root: str = Field(default_factory=default_lake_root, description="local folder or s3://bucket/prefix")

    def _uri(self, asset_key_path: list[str]) -> str:
        *layers, table = asset_key_path
        return table_uri(self.lake_root, "/".join(layers) or "default", table)

    def handle_output(self, context: OutputContext, obj: DataFrame | DeltaOutput) -> None:
        if obj is None:
            return
        uri = self._uri(context.asset_key.path)
        ensure_writable(self.lake_root)
        window = _date_window(context) if context.has_asset_partitions else None
        output = obj if isinstance(obj, DeltaOutput) else DeltaOutput(obj)
        if output.only_rows is not None and window is None:
            raise ValueError("only_rows needs a partitioned asset")
        if output.frame is not None:
            write_delta(output.frame, uri, window, only_rows=output.only_rows)
        metadata, rows_per_day = self._metadata(self.spark.spark_session, uri, window)
        context.add_output_metadata(metadata)
        if window is not None and len(context.asset_partition_keys) > 1:
            # A single-run backfill materializes every day of the window: give
            # each day's materialization its own row count.
            for partition_key in context.asset_partition_keys:
                context.step_context.add_asset_metadata(
                    {"dagster/partition_row_count": rows_per_day.get(partition_key, 0)},
                    asset_key=context.asset_key,
                    partition_key=partition_key,
                )

    def _metadata(
        self, spark: SparkSession, uri: str, window: tuple[dt.date, dt.date] | None
    ) -> tuple[dict[str, Any], dict[str, int]]:
        """Materialization metadata, and the row count of each written day."""
        table = spark.read.format("delta").load(uri)
        metadata: dict[str, Any] = {}
        preview_source = table if window is None else table.where(window_predicate(*window))
        total, rows_per_day, version = _log_figures(uri, window)
        if total is None:  # a writer that kept no row counts in the log: count with the engine
            total = table.count()
            if window is not None:
                rows_per_day = {
                    row[PARTITION_COLUMN].isoformat(): row["count"]
                    for row in preview_source.groupBy(PARTITION_COLUMN).count().collect()
                }
        if window is not None:
            metadata["partition_row_counts"] = MetadataValue.table(
                records=[
                    TableRecord({PARTITION_COLUMN: day, "rows": rows}) for day, rows in sorted(rows_per_day.items())
                ],
                schema=TableSchema(columns=[TableColumn(PARTITION_COLUMN, "date"), TableColumn("rows", "bigint")]),
            )
            metadata["window"] = f"[{window[0]}, {window[1]})"
        # Dagster's standard table metadata keys (TableMetadataSet / UriMetadataSet).
        metadata["dagster/column_schema"] = _column_schema(table)
        metadata["dagster/row_count"] = total
        if window is not None:
            metadata["dagster/partition_row_count"] = sum(rows_per_day.values())
        metadata["dagster/table_name"] = uri
        metadata["dagster/uri"] = uri
        metadata["dagster/storage_kind"] = "s3" if is_s3(uri) else "local"
        metadata["delta_version"] = version
        metadata["preview"] = _preview(preview_source)
        return metadata, rows_per_day

    def load_input(self, context: InputContext) -> DataFrame:
        upstream_key = context.upstream_output.asset_key if context.upstream_output else context.asset_key
        uri = self._uri(upstream_key.path)
        if not delta_table_exists(uri):
            raise MissingTableError(
                f"{'/'.join(upstream_key.path)} has not been materialized yet: no Delta table at {uri}. "
                "Materialize it first (with these dates, if it is partitioned)."
            )
        table = self.spark.spark_session.read.format("delta").load(uri)
        if context.has_asset_partitions:
            return table.where(window_predicate(*_date_window(context)))
        return table
