"""Landed files to bronze rows in bounded memory: each file is streamed, batch by batch, into a staged Parquet
file; the staged files of a run are then read by the engine as one DataFrame and written in one commit.

A file that fails part way (a truncated gzip, numbers whose decimal mark
cannot be decided) has its staged file deleted and is recorded as rejected:
bronze gets every row of a file or none of them.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass, field

import pyarrow as pa
import pyarrow.parquet as pq
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from fraud_lakehouse.claims.landing import LandedFile, Landing
from fraud_lakehouse.claims.model import RAW_SCHEMA, REJECTED_FILES_SCHEMA
from fraud_lakehouse.claims.privacy import record_shape
from fraud_lakehouse.claims.reader import ROW_SCHEMA, ClaimsFile, FileSummary, RejectedFile
from fraud_lakehouse.partitions import PARTITION_COLUMN
from fraud_lakehouse.storage import join, storage_for

# The staged rows: the reader's row columns and the file's own.
STAGED_SCHEMA = pa.schema(
    [
        *ROW_SCHEMA,
        pa.field("layout", pa.string()),
        pa.field("source_file", pa.string()),
        pa.field("ingested_at", pa.timestamp("us", tz="UTC")),
        pa.field(PARTITION_COLUMN, pa.date32()),
    ]
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
    decimal_mark: str
    ignored_columns: tuple[str, ...]


@dataclass
class StagedRun:
    """The files of one run: staged, or rejected with a reason."""

    staging_uri: str
    ingested: list[IngestedFile] = field(default_factory=list)
    rejected: list[RejectedEntry] = field(default_factory=list)

    @property
    def records(self) -> int:
        return sum(item.records for item in self.ingested)


def _file_batch(batch: pa.RecordBatch, layout: str, uri: str, ingested_at: dt.datetime, day: dt.date) -> pa.RecordBatch:
    count = batch.num_rows
    constants = [
        pa.array([layout] * count, pa.string()),
        pa.array([uri] * count, pa.string()),
        pa.array([ingested_at] * count, pa.timestamp("us", tz="UTC")),
        pa.array([day] * count, pa.date32()),
    ]
    return pa.RecordBatch.from_arrays([*batch.columns, *constants], schema=STAGED_SCHEMA)


def stage_file(
    landing: Landing,
    landed: LandedFile,
    detection_date: dt.date,
    ingested_at: dt.datetime,
    part_uri: str,
    decimal_mark: str | None = None,
) -> IngestedFile:
    """Stream one landed file into a staged Parquet file at ``part_uri``; raises RejectedFile (the staged file
    removed) when the file cannot be loaded."""
    storage = storage_for(part_uri)
    writer: pq.ParquetWriter | None = None
    try:
        with landing.open(landed.uri) as stream:
            reader = ClaimsFile(landed.uri, stream)
            for batch in reader.batches():
                if writer is None:
                    writer = pq.ParquetWriter(storage.open_output(part_uri), STAGED_SCHEMA, compression="snappy")
                writer.write_batch(_file_batch(batch, reader.summary.layout, landed.uri, ingested_at, detection_date))
        summary: FileSummary = reader.summary
        mark = summary.votes.decimal_mark(decimal_mark)
        if writer is not None:
            writer.close()
            writer = None
    except BaseException:
        if writer is not None:
            writer.close()
        storage.delete(part_uri)
        raise
    return IngestedFile(
        uri=landed.uri,
        detection_date=detection_date,
        layout=summary.layout,
        records=summary.records,
        unsplittable=summary.unsplittable,
        decimal_mark=mark,
        ignored_columns=tuple(summary.ignored_columns),
    )


def safe_detail(error: BaseException) -> str:
    """An unexpected error for a record or a log line: its type and the shape of its message (an error about
    a row can quote the row)."""
    return f"{type(error).__name__}: {record_shape(str(error))}"


def stage_files(
    landing: Landing,
    files: list[tuple[LandedFile, dt.date]],
    staging_uri: str,
    ingested_at: dt.datetime,
    decimal_mark: str | None = None,
    on_rejected: Callable[[RejectedEntry], None] | None = None,
) -> StagedRun:
    """Stage every file (with its detection date); a file that fails is recorded and never stops the others."""
    run = StagedRun(staging_uri)
    for index, (landed, day) in enumerate(files):
        part_uri = join(staging_uri, f"part-{index:06d}.parquet")
        try:
            run.ingested.append(stage_file(landing, landed, day, ingested_at, part_uri, decimal_mark))
            continue
        except RejectedFile as error:
            entry = RejectedEntry(landed.uri, error.reason, error.detail, day, landed.size)
        except FileNotFoundError:
            entry = RejectedEntry(landed.uri, "file_vanished", "the file was removed before it could be read", day)
        except OSError as error:  # permissions, network
            entry = RejectedEntry(landed.uri, "unreadable_file", safe_detail(error), day, landed.size)
        except Exception as error:  # a bad file never stops the other files
            entry = RejectedEntry(landed.uri, "unexpected_error", safe_detail(error), day, landed.size)
        run.rejected.append(entry)
        if on_rejected is not None:
            on_rejected(entry)
    return run


def staged_frame(spark: SparkSession, run: StagedRun) -> DataFrame:
    """The staged rows as one DataFrame in the raw schema, each row with its file's decimal mark."""
    if not run.ingested:
        return spark.createDataFrame([], RAW_SCHEMA)
    staged_fields = [field for field in RAW_SCHEMA.fields if field.name != "decimal_mark"]
    from pyspark.sql.types import StructType

    rows = spark.read.schema(StructType(staged_fields)).parquet(run.staging_uri)
    marks = {item.uri: item.decimal_mark for item in run.ingested}
    if len(set(marks.values())) == 1:
        mark = F.lit(next(iter(marks.values())))
    else:
        mark = F.element_at(F.create_map(*[F.lit(v) for pair in marks.items() for v in pair]), F.col("source_file"))
    return rows.withColumn("decimal_mark", mark).select(*RAW_SCHEMA.fieldNames())


def rejected_frame(spark: SparkSession, rejected: list[RejectedEntry], rejected_at: dt.datetime) -> DataFrame:
    rows = [
        (entry.source_file, entry.reason, entry.detail, entry.size_bytes, rejected_at, entry.detection_date)
        for entry in rejected
    ]
    return spark.createDataFrame(rows, REJECTED_FILES_SCHEMA)


def read_claims_bytes(name: str, data: bytes, decimal_mark: str | None = None) -> tuple[pa.Table, FileSummary, str]:
    """One file's rows from its bytes, in memory (for tests and small files): the rows, what reading found,
    and the decimal mark. Raises RejectedFile."""
    reader = ClaimsFile(name, pa.BufferReader(data))
    batches = list(reader.batches())
    mark = reader.summary.votes.decimal_mark(decimal_mark)
    table = pa.Table.from_batches(batches, schema=ROW_SCHEMA) if batches else ROW_SCHEMA.empty_table()
    return table, reader.summary, mark


def raw_table(name: str, data: bytes, detection_date: dt.date, ingested_at: dt.datetime) -> pa.Table:
    """One small file's bronze rows in the raw schema, in memory (tests, samples); raises RejectedFile."""
    rows, summary, mark = read_claims_bytes(name, data)
    count = rows.num_rows
    columns = {
        **{column: rows.column(column) for column in ROW_SCHEMA.names},
        "layout": pa.array([summary.layout] * count, pa.string()),
        "source_file": pa.array([name] * count, pa.string()),
        "decimal_mark": pa.array([mark] * count, pa.string()),
        "ingested_at": pa.array([ingested_at.replace(tzinfo=None)] * count, pa.timestamp("us")),
        PARTITION_COLUMN: pa.array([detection_date] * count, pa.date32()),
    }
    return pa.table({column: columns[column] for column in RAW_SCHEMA.fieldNames()})


def raw_frame(spark: SparkSession, tables: list[pa.Table]) -> DataFrame:
    """Small raw tables as one DataFrame (pandas in between: classic Spark 3.5 takes no Arrow). Landed files go
    through ``stage_files`` instead: this path sends the rows in one message."""
    if not tables:
        return spark.createDataFrame([], RAW_SCHEMA)
    return spark.createDataFrame(pa.concat_tables(tables).to_pandas(), schema=RAW_SCHEMA)
