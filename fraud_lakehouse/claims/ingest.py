"""Landed files to bronze rows in bounded memory, in one Delta commit per run.

Each file is read as a stream of raw-row batches (``reader.ClaimsFile``),
and the batches of all the run's files stream into one Delta write
(delta-rs) that replaces the run's rows: the window, or only the files the
run names. The rows never gather in memory, in the driver or the engine,
and bronze gets every row of a file or none of them:

- before the write, each file's start is checked (format, header, first
  block), so almost every bad file is rejected before anything is written;
- a file that fails part way (a truncated gzip, a read error) aborts the
  write, which commits nothing; the file is recorded as rejected and the
  write starts again without it.

The write holds the table's lock, as every write of the lake does.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

import numpy as np
import pyarrow as pa
from pyspark.sql import DataFrame, SparkSession

from fraud_lakehouse.claims.landing import LandedFile, Landing
from fraud_lakehouse.claims.model import RAW_SCHEMA, RAW_VALUE_COLUMNS, REJECTED_FILES_SCHEMA
from fraud_lakehouse.claims.privacy import record_shape
from fraud_lakehouse.claims.reader import ROW_SCHEMA, ClaimsFile, FileSummary, RejectedFile
from fraud_lakehouse.partitions import PARTITION_COLUMN
from fraud_lakehouse.storage import storage_for, table_lock_uri

# bronze/claims_raw as Arrow: the reader's row columns and the file's own, in the table's column order.
RAW_ARROW_SCHEMA = pa.schema(
    [
        *(pa.field(name, pa.string()) for name in RAW_VALUE_COLUMNS),
        pa.field("layout", pa.string()),
        pa.field("source_file", pa.string(), nullable=False),
        pa.field("row_number", pa.int64(), nullable=False),
        pa.field("raw_record", pa.string()),
        pa.field("row_error", pa.string()),
        pa.field("decimal_mark", pa.string()),
        pa.field("ingested_at", pa.timestamp("us", tz="UTC"), nullable=False),
        pa.field(PARTITION_COLUMN, pa.date32(), nullable=False),
    ]
)
assert RAW_ARROW_SCHEMA.names == RAW_SCHEMA.fieldNames()


# Rows the writer holds before it encodes them as a row group: with the reader's blocks, what bounds the memory of
# an ingest whatever the file's size.
ROW_GROUP_ROWS = 128 * 1024


def _writer_properties():  # type: ignore[no-untyped-def]
    """Parquet settings of bronze/claims_raw. The raw values are text of high cardinality, read whole by silver:
    no dictionary and no min/max statistics for them (writing 1 M rows: 0.69 s against 1.1-1.2 s with delta-rs's
    defaults), zstd level 1 (the smallest files, 22 MB against 26 MB, at the speed of LZ4). The file's own
    columns keep their dictionaries and statistics, which prune reads by file and day."""
    from deltalake import ColumnProperties, WriterProperties

    plain = ColumnProperties(dictionary_enabled=False, statistics_enabled="NONE")
    return WriterProperties(
        compression="ZSTD",
        compression_level=1,
        max_row_group_size=ROW_GROUP_ROWS,
        column_properties={name: plain for name in (*RAW_VALUE_COLUMNS, "raw_record", "row_error")},
    )


@dataclass(frozen=True)
class RejectedEntry:
    """A row of bronze/claims_rejected_files (without the rejection time)."""

    source_file: str
    reason: str
    detail: str
    detection_date: dt.date
    size_bytes: int | None = None


@dataclass(frozen=True)
class IngestedFile:
    uri: str
    detection_date: dt.date
    layout: str
    records: int
    unsplittable: int
    ignored_columns: tuple[str, ...]


@dataclass
class IngestRun:
    """The files of one run: written, or rejected with a reason."""

    ingested: list[IngestedFile] = field(default_factory=list)
    rejected: list[RejectedEntry] = field(default_factory=list)
    attempts: int = 0

    @property
    def records(self) -> int:
        return sum(item.records for item in self.ingested)


def safe_detail(error: BaseException) -> str:
    """An unexpected error for a record or a log line: its type and the shape of its message (an error about
    a row can quote the row)."""
    return f"{type(error).__name__}: {record_shape(str(error))}"


def _rejection(landed: LandedFile, day: dt.date, error: BaseException) -> RejectedEntry:
    if isinstance(error, RejectedFile):
        return RejectedEntry(landed.uri, error.reason, error.detail, day, landed.size)
    if isinstance(error, FileNotFoundError):
        return RejectedEntry(landed.uri, "file_vanished", "the file was removed before it could be read", day)
    if isinstance(error, OSError):  # permissions, network
        return RejectedEntry(landed.uri, "unreadable_file", safe_detail(error), day, landed.size)
    return RejectedEntry(landed.uri, "unexpected_error", safe_detail(error), day, landed.size)


def _repeated(value: object, count: int, type_: pa.DataType) -> pa.Array:
    """``value`` ``count`` times, built without a Python list (a file's own columns on every batch)."""
    return pa.array([value], type_).take(pa.array(np.zeros(count, dtype=np.int32)))


def _file_columns(
    batch: pa.RecordBatch, summary: FileSummary, uri: str, mark: str | None, at: dt.datetime, day: dt.date
) -> pa.RecordBatch:
    count = batch.num_rows
    columns = {name: batch.column(name) for name in ROW_SCHEMA.names}
    columns |= {
        "layout": _repeated(summary.layout, count, pa.string()),
        "source_file": _repeated(uri, count, pa.string()),
        "decimal_mark": _repeated(mark, count, pa.string()),
        "ingested_at": _repeated(at, count, pa.timestamp("us", tz="UTC")),
        PARTITION_COLUMN: _repeated(day, count, pa.date32()),
    }
    return pa.RecordBatch.from_arrays([columns[name] for name in RAW_ARROW_SCHEMA.names], schema=RAW_ARROW_SCHEMA)


class _RunStream:
    """The raw-row batches of a run's files, one file after another; remembers the file that failed."""

    def __init__(self, landing: Landing, files: list[tuple[LandedFile, dt.date]], at: dt.datetime, mark: str | None):
        self.landing, self.files, self.at, self.mark = landing, files, at, mark
        self.done: list[IngestedFile] = []
        self.failed: tuple[LandedFile, dt.date, BaseException] | None = None

    def batches(self) -> Iterator[pa.RecordBatch]:
        for landed, day in self.files:
            try:
                with self.landing.open(landed.uri) as stream:
                    reader = ClaimsFile(landed.uri, stream)
                    for batch in reader.batches():
                        yield _file_columns(batch, reader.summary, landed.uri, self.mark, self.at, day)
            except Exception as error:
                self.failed = (landed, day, error)
                raise
            summary = reader.summary
            self.done.append(
                IngestedFile(landed.uri, day, summary.layout, summary.records, summary.unsplittable,
                             tuple(summary.ignored_columns))
            )  # fmt: skip


def check_file(landing: Landing, landed: LandedFile) -> None:
    """Raise RejectedFile (or the read error) when the file's start shows it cannot be loaded: its format,
    header and first block are read and parsed, nothing more."""
    with landing.open(landed.uri) as stream:
        next(ClaimsFile(landed.uri, stream).batches(), None)


def ingest_files(
    landing: Landing,
    files: list[tuple[LandedFile, dt.date]],
    table_uri: str,
    replace: str,
    ingested_at: dt.datetime,
    decimal_mark: str | None = None,
    on_rejected: Callable[[RejectedEntry], None] | None = None,
) -> IngestRun:
    """Write the rows of ``files`` (each with its detection date) to the Delta table at ``table_uri`` in one
    commit that replaces the rows the SQL predicate ``replace`` selects; a file that cannot be loaded is
    recorded and never stops the others."""
    from deltalake import write_deltalake

    run = IngestRun()

    def reject(landed: LandedFile, day: dt.date, error: BaseException) -> None:
        entry = _rejection(landed, day, error)
        run.rejected.append(entry)
        if on_rejected is not None:
            on_rejected(entry)

    pending = []
    for landed, day in files:
        try:
            check_file(landing, landed)
            pending.append((landed, day))
        except Exception as error:  # a bad file never stops the other files
            reject(landed, day, error)
    storage = storage_for(table_uri)
    with storage.lock(table_lock_uri(table_uri)):
        while True:
            run.attempts += 1
            stream = _RunStream(landing, pending, ingested_at, decimal_mark)
            try:
                write_deltalake(
                    table_uri,
                    pa.RecordBatchReader.from_batches(RAW_ARROW_SCHEMA, stream.batches()),
                    mode="overwrite",
                    predicate=replace,
                    partition_by=[PARTITION_COLUMN],
                    writer_properties=_writer_properties(),
                )
            except Exception:
                if stream.failed is None:
                    raise  # the write itself failed: nothing was committed
                landed, day, error = stream.failed
                reject(landed, day, error)
                pending = [(item, item_day) for item, item_day in pending if item.uri != landed.uri]
                continue
            run.ingested = stream.done
            return run


def rejected_frame(spark: SparkSession, rejected: list[RejectedEntry], rejected_at: dt.datetime) -> DataFrame:
    rows = [
        (entry.source_file, entry.reason, entry.detail, entry.size_bytes, rejected_at, entry.detection_date)
        for entry in rejected
    ]
    return spark.createDataFrame(rows, REJECTED_FILES_SCHEMA)


def read_claims_bytes(name: str, data: bytes) -> tuple[pa.Table, FileSummary]:
    """One file's rows from its bytes, in memory (for tests and small files): the rows and what reading found.
    Raises RejectedFile."""
    reader = ClaimsFile(name, pa.BufferReader(data))
    batches = list(reader.batches())
    table = pa.Table.from_batches(batches, schema=ROW_SCHEMA) if batches else ROW_SCHEMA.empty_table()
    return table, reader.summary


def raw_table(
    name: str, data: bytes, detection_date: dt.date, ingested_at: dt.datetime, decimal_mark: str | None = None
) -> pa.Table:
    """One small file's bronze rows in the raw schema, in memory (tests, samples); raises RejectedFile."""
    rows, summary = read_claims_bytes(name, data)
    batches = [
        _file_columns(batch, summary, name, decimal_mark, ingested_at, detection_date) for batch in rows.to_batches()
    ]
    return pa.Table.from_batches(batches, schema=RAW_ARROW_SCHEMA)


def raw_frame(spark: SparkSession, tables: list[pa.Table]) -> DataFrame:
    """Small raw tables as one DataFrame (pandas in between: classic Spark 3.5 takes no Arrow). Landed files go
    through ``ingest_files`` instead: this path sends the rows in one message."""
    if not tables:
        return spark.createDataFrame([], RAW_SCHEMA)
    frame = pa.concat_tables(tables).to_pandas()
    frame["ingested_at"] = frame["ingested_at"].dt.tz_localize(None)
    return spark.createDataFrame(frame, schema=RAW_SCHEMA)
