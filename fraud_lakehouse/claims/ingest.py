"""Landed files to bronze rows in bounded memory, in one Delta commit per run.

Each file is read as a stream of raw-row batches (``reader.ClaimsFile``),
and the batches of all the run's files stream into one Delta write
(delta-rs) that replaces the run's rows: the window, or only the files the
run names. The rows never gather in memory, in the driver or the engine,
and bronze gets every row of a file or none of them:

- a file's data files are opened only once its first batch is parsed, so a
  file whose format, header or first block is bad writes nothing;
- a file that fails part way (a truncated gzip, a read error) has the data
  files it wrote deleted (no commit names them) and is recorded as rejected;
  the other files of the run are written and committed;
- a small file, read whole in one batch, is written once read to its end,
  into a data file it shares with the run's other small files of its day
  (``_SmallFiles``; fetched ahead of its turn, ``_prefetched``). A run that
  replaces some landed files only rewrites such a data file without their
  rows (``_replaced_files`` finds it by the range of file names in its
  statistics).

While one batch is encoded into Parquet (a writer thread; pyarrow releases
the GIL), the next ones are read and parsed, so both cores work.

The write holds the table's lock, as every write of the lake does.
"""

from __future__ import annotations

import datetime as dt
import itertools
import json
import time
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
from pyspark.sql import DataFrame, SparkSession

from fraud_lakehouse.claims.landing import LandedFile, Landing
from fraud_lakehouse.claims.model import RAW_SCHEMA, RAW_VALUE_COLUMNS, REJECTED_FILES_SCHEMA
from fraud_lakehouse.claims.privacy import record_shape
from fraud_lakehouse.claims.reader import ROW_SCHEMA, ClaimsFile, FileSummary, RejectedFile, plain_text
from fraud_lakehouse.partitions import PARTITION_COLUMN
from fraud_lakehouse.storage import join, storage_for, table_lock_uri

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


# The columns of a data file: the table's, without the partition column (Delta keeps it in the log).
FILE_SCHEMA = pa.schema([field for field in RAW_ARROW_SCHEMA if field.name != PARTITION_COLUMN])
# The file's own columns: dictionaries and statistics (they prune reads by file and day). The raw values are text
# of high cardinality that silver reads whole: no dictionary, no statistics (they made writing slower by half).
# Snappy, Spark's default: zstd gave files half the size but took a third longer to encode (docs/performance.md).
FILE_COLUMNS = ("layout", "source_file", "row_number", "decimal_mark", "ingested_at")
# Of those, the ones with a dictionary: one value per landed file. Row numbers are all different: building a
# dictionary for them and falling back to plain values took a sixth of a batch's encoding.
DICTIONARY_COLUMNS = tuple(name for name in FILE_COLUMNS if name != "row_number")
# Columns a data file leaves out when all its rows are null there. A landed file fills only its layout's value
# columns (a third of them for most layouts), and writing the others as nulls took a fifth of the encoding. Delta
# readers read a column a data file lacks as nulls, as they do after ALTER TABLE ADD COLUMNS.
SPARSE_COLUMNS = frozenset((*RAW_VALUE_COLUMNS, "raw_record", "row_error"))
# Rows per row group, and per data file: with the reader's blocks, what bounds an ingest's memory.
ROW_GROUP_ROWS = 128 * 1024
FILE_ROWS = 8 * 1024 * 1024
# Small landed files' rows are held until this many (or SHARED_FILE_BYTES) and then written as one data file
# of one row group: replacing one of those files rewrites its data file without its rows, so that stays small.
SHARED_FILE_ROWS = ROW_GROUP_ROWS
SHARED_FILE_BYTES = 64 * 1024**2
# The table's statistics name the landed file and the rows each data file holds, so a run that replaces some
# landed files finds their data files. Without this, readers (delta-rs among them) parse statistics for the first
# 32 columns only, which leaves out source_file: every data file of the day looked mixed and was rewritten.
TABLE_CONFIGURATION = {"delta.dataSkippingStatsColumns": "source_file,row_number"}
# Small landed files (at most PREFETCH_MAX_BYTES) are fetched whole ahead of their turn, up to PREFETCH_FILES at
# once: reading one is mostly waiting for the store (on S3 a request or two each), and a day can hold thousands.
PREFETCH_FILES = 8
PREFETCH_MAX_BYTES = 4 * 1024**2
# Threads that encode a landed file's batches, each into its own data files (a file of more than one batch
# becomes this many data files).
WRITER_LANES = 2


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
    encoding: str = "utf-8"
    absent_columns: tuple[str, ...] = ()
    # CSV records of another width than the header read as its columns (empty optional last cells left out)
    fitted: int = 0


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
    return pa.repeat(pa.scalar(value, type_), count)


def _as_dictionary(value: str, count: int) -> pa.DictionaryArray:
    """``value`` ``count`` times as a dictionary of one value: Parquet's writer stores the value once and the
    indices as runs, where a plain column would have the value hashed on every row."""
    return pa.DictionaryArray.from_arrays(pa.repeat(pa.scalar(0, pa.int32()), count), pa.array([value], pa.string()))


def _file_columns(
    batch: pa.RecordBatch,
    summary: FileSummary,
    uri: str,
    mark: str | None,
    at: dt.datetime,
    day: dt.date,
    dictionaries: bool = False,
) -> pa.RecordBatch:
    """The batch in the table's columns: RAW_ARROW_SCHEMA, or with ``dictionaries`` its layout and source file as
    dictionaries, and value columns that the reader gave as dictionaries kept so (for a data file; the same text
    to any reader of the table)."""
    count = batch.num_rows
    if not dictionaries:
        batch = plain_text(batch)
    columns = {name: batch.column(name) for name in ROW_SCHEMA.names}
    for name, value in (("layout", summary.layout), ("source_file", uri)):
        columns[name] = _as_dictionary(value, count) if dictionaries else _repeated(value, count, pa.string())
    columns |= {
        "decimal_mark": _repeated(mark, count, pa.string()),
        "ingested_at": _repeated(at, count, pa.timestamp("us", tz="UTC")),
        PARTITION_COLUMN: _repeated(day, count, pa.date32()),
    }
    schema = pa.schema([field.with_type(columns[field.name].type) for field in RAW_ARROW_SCHEMA])
    return pa.RecordBatch.from_arrays([columns[name] for name in schema.names], schema=schema)


def _text_range(column: pa.Array) -> tuple[str, str]:
    """The least and the greatest value of a text column without nulls (of a dictionary's values: a range that
    holds the column's)."""
    values = column.dictionary if pa.types.is_dictionary(column.type) else column
    least, greatest = pc.min_max(values).values()
    return least.as_py(), greatest.as_py()


class _DataFiles:
    """Parquet data files in the table's partition folder, written as batches arrive (a new file every
    FILE_ROWS rows), and the Delta add action of each: the data files of one landed file, or a data file that
    small landed files of a day share."""

    def __init__(self, table_uri: str, day: dt.date):
        self.storage = storage_for(table_uri)
        self.table_uri, self.day = table_uri, day
        self.folder = f"{PARTITION_COLUMN}={day.isoformat()}"
        self.written: list[tuple[str, int, dict, int]] = []  # (path in the table, rows, statistics, bytes)
        self._writer: pq.ParquetWriter | None = None
        self._sink: pa.NativeFile | None = None
        self._path = ""
        self._rows = 0
        self._stats: dict = {}
        # The sparse columns this writer's data files hold: only grows, so a file of mixed batches (a bad record
        # now and then) starts a new data file at most once per column.
        self._filled: set[str] = set()
        self._schema = FILE_SCHEMA

    def write(self, batch: pa.RecordBatch) -> None:
        """Write a batch in RAW_ARROW_SCHEMA; a data file ends after FILE_ROWS rows, or when the batch has values
        in a sparse column the file left out."""
        filled = {name for name in SPARSE_COLUMNS if batch.column(name).null_count < batch.num_rows}
        if self._writer is None or self._rows >= FILE_ROWS or not filled <= self._filled:
            self._close()
            self._filled |= filled
            self._schema = pa.schema(
                [
                    batch.schema.field(column.name)
                    for column in FILE_SCHEMA
                    if column.name not in SPARSE_COLUMNS or column.name in self._filled
                ]
            )
            self._path = f"{self.folder}/part-{uuid.uuid4()}-c000.snappy.parquet"
            self._sink = self.storage.open_output(join(self.table_uri, self._path))
            self._writer = pq.ParquetWriter(
                self._sink,
                self._schema,
                compression="snappy",
                # and the value columns the reader gave as dictionaries, written as they are
                use_dictionary=[
                    field.name
                    for field in self._schema
                    if field.name in DICTIONARY_COLUMNS or pa.types.is_dictionary(field.type)
                ],
                write_statistics=list(FILE_COLUMNS),
                # the table's schema is in the Delta log: a data file's own Arrow schema would tell pyarrow readers
                # that layout and source_file are dictionaries
                store_schema=False,
                # consecutive numbers: a few bits each instead of eight bytes to copy and compress
                column_encoding={"row_number": "DELTA_BINARY_PACKED"},
            )
            self._rows, self._stats = 0, {}
        self._writer.write_batch(batch.select(self._schema.names), row_group_size=ROW_GROUP_ROWS)
        self._rows += batch.num_rows
        numbers = batch.column("row_number")
        low, high = pc.min(numbers).as_py(), pc.max(numbers).as_py()
        # the range of landed files a data file holds: the run that replaces one of them finds it by this range
        first, last = _text_range(batch.column("source_file"))
        self._stats["source_min"] = min(first, self._stats.get("source_min", first))
        self._stats["source_max"] = max(last, self._stats.get("source_max", last))
        self._stats["row_min"] = min(low, self._stats.get("row_min", low))
        self._stats["row_max"] = max(high, self._stats.get("row_max", high))

    def _close(self) -> None:
        if self._writer is None:
            return
        self._writer.close()
        assert self._sink is not None
        size = self._sink.tell()  # what was written: no request to ask the store
        self._sink.close()
        self.written.append((self._path, self._rows, self._stats, size))
        self._writer = self._sink = None

    def finish(self) -> list:  # list[AddAction]
        from deltalake.transaction import AddAction

        self._close()
        now = int(time.time() * 1000)
        actions = []
        for path, rows, stats, size in self.written:
            statistics = {
                "numRecords": rows,
                "minValues": {"source_file": stats["source_min"], "row_number": stats["row_min"]},
                "maxValues": {"source_file": stats["source_max"], "row_number": stats["row_max"]},
                "nullCount": {"source_file": 0, "row_number": 0},
            }
            partition = {PARTITION_COLUMN: self.day.isoformat()}
            actions.append(AddAction(path, size, partition, now, True, json.dumps(statistics)))
        return actions

    def discard(self) -> None:
        """Delete what was written (the landed file failed part way): no commit names these files."""
        try:
            self._close()
        except Exception:  # the failure may be the sink's own
            self._writer = self._sink = None
        if self._path and not any(path == self._path for path, *_ in self.written):
            self.written.append((self._path, 0, {}, 0))
        for path, *_ in self.written:
            self.storage.delete(join(self.table_uri, path))
        self.written = []


class _SmallFiles:
    """Data files that small landed files share: on S3 a data file of its own cost each small file a few requests,
    and every reader of the table one more file to open (and a row group of a few rows each). Their rows are held
    until SHARED_FILE_ROWS rows or SHARED_FILE_BYTES, then written as one data file per day (a row group per
    ROW_GROUP_ROWS rows, so mostly one)."""

    def __init__(self, table_uri: str):
        self.table_uri = table_uri
        self.waiting: dict[dt.date, list[pa.RecordBatch]] = {}
        self.rows = self.bytes = 0
        self.written: list[_DataFiles] = []

    def add(self, day: dt.date, batch: pa.RecordBatch) -> None:
        # plain text: files of other formats give some columns as dictionaries, and one data file needs one type
        columns = [
            column.cast(pa.string()) if pa.types.is_dictionary(column.type) else column for column in batch.columns
        ]
        self.waiting.setdefault(day, []).append(pa.RecordBatch.from_arrays(columns, schema=RAW_ARROW_SCHEMA))
        self.rows += batch.num_rows
        self.bytes += batch.nbytes
        if self.rows >= SHARED_FILE_ROWS or self.bytes >= SHARED_FILE_BYTES:
            self._write()

    def _write(self) -> None:
        for day, batches in self.waiting.items():
            rows = pa.Table.from_batches(batches).combine_chunks()
            if rows.num_rows:
                data_files = _DataFiles(self.table_uri, day)
                self.written.append(data_files)
                data_files.write(rows.to_batches()[0])
        self.waiting, self.rows, self.bytes = {}, 0, 0

    def finish(self) -> list:  # list[AddAction]
        self._write()
        return [action for data_files in self.written for action in data_files.finish()]

    def discard(self) -> None:
        for data_files in self.written:
            data_files.discard()


def _write_file(
    landing: Landing,
    landed: LandedFile,
    day: dt.date,
    table_uri: str,
    at: dt.datetime,
    mark: str | None,
    prefetched: Future[bytes] | None = None,
) -> tuple[IngestedFile, list, pa.RecordBatch | None]:
    """Stream one landed file into data files of the table (not yet committed); or, for a small file read whole
    in one batch, return that batch, for the data files its day's small files share.

    Encoding Parquet costs about as much as parsing, so it runs beside it: the batches go in turn to
    WRITER_LANES writer threads, each with its own data files, while the next batches are parsed. Memory
    holds one more batch per lane than the reader's. ``prefetched``: the file's bytes, fetched ahead."""
    lanes = [_DataFiles(table_uri, day) for _ in range(WRITER_LANES)]
    whole_file = None
    try:
        with landing.open(landed.uri) if prefetched is None else pa.BufferReader(prefetched.result()) as stream:
            reader = ClaimsFile(landed.uri, stream)
            batches = (
                _file_columns(batch, reader.summary, landed.uri, mark, at, day, dictionaries=True)
                for batch in reader.batches()
            )
            ahead = list(itertools.islice(batches, 2))
            if len(ahead) < 2:
                whole_file = ahead[0] if ahead else None  # read to its end without error
            else:
                with ThreadPoolExecutor(WRITER_LANES, thread_name_prefix="parquet-write") as writers:
                    encoding: list[Future | None] = [None] * WRITER_LANES
                    for index, rows in enumerate(itertools.chain(ahead, batches)):
                        lane = index % WRITER_LANES
                        if (previous := encoding[lane]) is not None:
                            previous.result()  # a lane's batches are written in order, one at a time
                        encoding[lane] = writers.submit(lanes[lane].write, rows)
                    for pending in encoding:
                        if pending is not None:
                            pending.result()
        actions = [action for files in lanes for action in files.finish()]
    except BaseException:
        for files in lanes:
            files.discard()
        raise
    summary = reader.summary
    ingested = IngestedFile(
        landed.uri,
        day,
        summary.layout,
        summary.records,
        summary.unsplittable,
        tuple(summary.ignored_columns),
        summary.encoding,
        tuple(summary.absent_columns),
        summary.fitted,
    )
    return ingested, actions, whole_file


def _replaced_files(table, window: tuple[dt.date, dt.date], sources: tuple[str, ...] | None) -> tuple[list, list]:  # type: ignore[no-untyped-def]
    """The data files of ``table`` a write of ``window`` replaces: every file of the window's days, or, with
    ``sources``, the files holding only those landed files' rows; and the window's files that mix replaced rows
    with others (written by another engine), which must be rewritten without them."""
    from deltalake.transaction import RemoveAction

    actions = pa.table(table.get_add_actions(flatten=True))
    columns = set(actions.column_names)
    now = int(time.time() * 1000)
    removed, mixed = [], []
    for action in actions.to_pylist():
        day = dt.date.fromisoformat(str(action[f"partition.{PARTITION_COLUMN}"]))
        if not window[0] <= day < window[1]:
            continue
        low = action.get("min.source_file") if "min.source_file" in columns else None
        high = action.get("max.source_file") if "max.source_file" in columns else None
        remove = RemoveAction(action["path"], True, now, action["size_bytes"], {PARTITION_COLUMN: day.isoformat()})
        if sources is None or (low is not None and low == high and low in sources):
            removed.append(remove)
        elif low is None or high is None or low != high:
            mixed.append((remove, day))
    return removed, mixed


def _rewrite_without(table_uri: str, path: str, day: dt.date, sources: tuple[str, ...]) -> list:
    """A data file that mixes landed files, written again without the rows of ``sources``, row group by row
    group (a data file holds up to FILE_ROWS rows)."""
    storage = storage_for(table_uri)
    replaced = pa.array(sources, pa.string())
    files = _DataFiles(table_uri, day)
    with storage.open_input(join(table_uri, path)) as source:
        for rows in pq.ParquetFile(source).iter_batches(batch_size=ROW_GROUP_ROWS):
            batch = rows.filter(pc.invert(pc.is_in(rows.column("source_file"), replaced)))
            if batch.num_rows:
                files.write(_in_table_columns(batch, day))
    return files.finish()


def _in_table_columns(batch: pa.RecordBatch, day: dt.date) -> pa.RecordBatch:
    """A data file's batch in RAW_ARROW_SCHEMA: the file may lack sparse columns, and its day lives in the log."""
    present = {name: batch.column(name) for name in batch.schema.names}
    present[PARTITION_COLUMN] = _repeated(day, batch.num_rows, pa.date32())
    columns = [
        present[column.name].cast(column.type) if column.name in present else pa.nulls(batch.num_rows, column.type)
        for column in RAW_ARROW_SCHEMA
    ]
    return pa.RecordBatch.from_arrays(columns, schema=RAW_ARROW_SCHEMA)


def _fetch(landing: Landing, uri: str) -> bytes:
    # through the landing's stream, not Storage.read_bytes: a vanished or unreadable file raises the same errors
    # (and is rejected for the same reasons) as one streamed
    with landing.open(uri) as stream:
        return stream.read()


def _prefetched(
    landing: Landing, files: list[tuple[LandedFile, dt.date]]
) -> Iterator[tuple[tuple[LandedFile, dt.date], Future[bytes] | None]]:
    """The files in order, each small one with its bytes being fetched ahead (the next PREFETCH_FILES small files
    at most, so memory holds that many small files besides the one being read); a large one is streamed."""
    small = [index for index, (landed, _) in enumerate(files) if landed.size <= PREFETCH_MAX_BYTES]
    with ThreadPoolExecutor(PREFETCH_FILES, thread_name_prefix="landed-file-fetch") as fetch:
        fetching: dict[int, Future[bytes]] = {}
        upcoming = iter(small)
        for index, entry in enumerate(files):
            while len(fetching) < PREFETCH_FILES and (following := next(upcoming, None)) is not None:
                fetching[following] = fetch.submit(_fetch, landing, files[following][0].uri)
            yield entry, fetching.pop(index, None)


def ingest_files(
    landing: Landing,
    files: list[tuple[LandedFile, dt.date]],
    table_uri: str,
    window: tuple[dt.date, dt.date],
    ingested_at: dt.datetime,
    only_sources: tuple[str, ...] | None = None,
    decimal_mark: str | None = None,
    on_rejected: Callable[[RejectedEntry], None] | None = None,
) -> IngestRun:
    """Write the rows of ``files`` (each with its detection date) to the Delta table at ``table_uri`` in one
    commit that replaces the ``window``'s rows, or with ``only_sources`` only the rows of those landed files. A
    file that cannot be loaded is recorded and never stops the others."""
    from deltalake import DeltaTable, Schema
    from deltalake.transaction import create_table_with_add_actions

    run = IngestRun()

    def reject(landed: LandedFile, day: dt.date, error: BaseException) -> None:
        entry = _rejection(landed, day, error)
        run.rejected.append(entry)
        if on_rejected is not None:
            on_rejected(entry)

    storage = storage_for(table_uri)
    with storage.lock(table_lock_uri(table_uri)):
        adds = []
        shared = _SmallFiles(table_uri)
        try:
            for (landed, day), prefetched in _prefetched(landing, files):
                try:
                    ingested, actions, whole_file = _write_file(
                        landing, landed, day, table_uri, ingested_at, decimal_mark, prefetched
                    )
                except Exception as error:  # a bad file never stops the other files
                    reject(landed, day, error)
                    continue
                if whole_file is not None:
                    shared.add(day, whole_file)  # a failure here is the table's, not the file's: the run fails
                run.ingested.append(ingested)
                adds += actions
            adds += shared.finish()
        except BaseException:
            shared.discard()
            raise
        schema = Schema.from_arrow(RAW_ARROW_SCHEMA)
        if not DeltaTable.is_deltatable(table_uri):
            create_table_with_add_actions(
                table_uri,
                schema,
                adds,
                mode="error",
                partition_by=[PARTITION_COLUMN],
                configuration=TABLE_CONFIGURATION,
            )
            return run
        table = DeltaTable(table_uri)
        if any(table.metadata().configuration.get(key) != value for key, value in TABLE_CONFIGURATION.items()):
            # a table of an earlier version (or another writer): its statistics were written, only not read
            table.alter.set_table_properties(TABLE_CONFIGURATION)
            table = DeltaTable(table_uri)
        removed, mixed = _replaced_files(table, window, only_sources)
        for remove, day in mixed:
            adds += _rewrite_without(table_uri, remove.path, day, only_sources or ())
            removed.append(remove)
        if adds or removed:
            # One commit: the table's lock keeps this project's writers apart; a commit that loses to a writer
            # outside it fails (delta-rs checks the version it read), and the run can be retried.
            table.create_write_transaction(
                [*adds, *removed], mode="append", schema=schema, partition_by=[PARTITION_COLUMN]
            )
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
    batches = [plain_text(batch) for batch in reader.batches()]
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
