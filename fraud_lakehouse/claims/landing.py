"""The claims landing area: which files belong to which detection date, and reading one file into raw rows.

Files land under a local folder or an S3 prefix (``s3://bucket/claims/``). A
file belongs to the date in its path (a ``YYYY-MM-DD`` folder, or
``detection_date=YYYY-MM-DD``), or else to its modification date in UTC.

``read_claims_file`` turns one file's bytes into raw rows: every value a
string, with the record's number in the file. A file is rejected as a whole
(``RejectedFile``) when it is empty, not text, not the compression or format
its name says, or its header matches no layout. Inside a good file, a row
that cannot be split into the header's fields is kept with its text and the
error, for silver to quarantine: no row is dropped here.
"""

from __future__ import annotations

import csv
import datetime as dt
import gzip
import io
import json
import os
import re
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pyarrow as pa
from pyspark.sql import DataFrame, SparkSession

from fraud_lakehouse.claims.model import (
    RAW_SCHEMA,
    RAW_VALUE_COLUMNS,
    RECORD_DETECTION_DATE,
    Layout,
    describe_mismatch,
    detect_layout,
)
from fraud_lakehouse.partitions import PARTITION_COLUMN
from fraud_lakehouse.resources.lake import is_s3, lake_path, local_state_path

LANDING_ENV = "FRAUD_LAKEHOUSE_LANDING"
DATE_IN_PATH = re.compile(r"(?:^|/)(?:detection_date=)?(\d{4}-\d{2}-\d{2})(?:/|$)")
GZIP_MAGIC = b"\x1f\x8b"
PARQUET_MAGIC = b"PAR1"
DELIMITERS = (",", "|", "\t", ";")
# Index columns pandas and the Kaggle files put first.
INDEX_COLUMN_NAMES = {"", "unnamed: 0", "index"}
# Largest decompressed file accepted; a bigger one is rejected, not loaded.
MAX_FILE_BYTES = 2 * 1024**3


def default_landing() -> str:
    """``$FRAUD_LAKEHOUSE_LANDING``, else ``.lakehouse/landing/claims`` in DAGSTER_HOME (or the working directory)."""
    return os.environ.get(LANDING_ENV) or local_state_path("landing", "claims")


@dataclass(frozen=True)
class LandedFile:
    uri: str
    size: int
    modified: dt.datetime  # UTC

    @property
    def detection_date(self) -> dt.date:
        return file_detection_date(self.uri, self.modified)


def file_detection_date(uri: str, modified: dt.datetime) -> dt.date:
    """The date in the file's path (the last one), else its modification date in UTC."""
    matches = DATE_IN_PATH.findall(uri.replace("\\", "/"))
    for text in reversed(matches):
        try:
            return dt.date.fromisoformat(text)
        except ValueError:
            continue
    return modified.astimezone(dt.UTC).date()


def _local_file(path: Path) -> LandedFile:
    stat = path.stat()
    return LandedFile(str(path), stat.st_size, dt.datetime.fromtimestamp(stat.st_mtime, dt.UTC))


def _s3_location(uri: str) -> tuple[str, str]:
    """(bucket, key) of ``s3://bucket/key``."""
    bucket, _, key = uri.split("://", 1)[1].partition("/")
    return bucket, key


class Landing:
    """A landing area: a local folder or an S3 prefix (endpoint from AWS_ENDPOINT_URL)."""

    def __init__(self, root: str):
        self.root = root.rstrip("/") if is_s3(root) else str(Path(root).expanduser().resolve())

    def _s3(self):
        import boto3

        return boto3.client("s3")

    def list_files(self) -> list[LandedFile]:
        """Every file under the landing root (hidden files and folders skipped)."""
        if is_s3(self.root):
            return sorted(self._list_s3(), key=lambda f: f.uri)
        root = Path(self.root)
        if not root.is_dir():
            return []
        files = []
        for path in root.rglob("*"):
            relative = path.relative_to(root).parts
            if any(part.startswith((".", "_")) for part in relative) or not path.is_file():
                continue
            files.append(_local_file(path))
        return sorted(files, key=lambda f: f.uri)

    def _list_s3(self) -> Iterator[LandedFile]:
        bucket, prefix = _s3_location(self.root)
        prefix = prefix + "/" if prefix else ""
        scheme = self.root.split("://", 1)[0]
        paginator = self._s3().get_paginator("list_objects_v2")
        for page in paginator.paginate(Bucket=bucket, Prefix=prefix):
            for item in page.get("Contents", []):
                key = item["Key"]
                name = key[len(prefix) :]
                if key.endswith("/") or any(part.startswith((".", "_")) for part in name.split("/")):
                    continue
                yield LandedFile(f"{scheme}://{bucket}/{key}", item["Size"], item["LastModified"].astimezone(dt.UTC))

    def resolve(self, name: str) -> str:
        """A file named in run config: a full URI/path, or a path relative to the landing root."""
        if is_s3(name) or Path(name).is_absolute():
            return name
        return lake_path(self.root, name)

    def stat(self, uri: str) -> LandedFile | None:
        if is_s3(uri):
            from botocore.exceptions import ClientError

            bucket, key = _s3_location(uri)
            try:
                head = self._s3().head_object(Bucket=bucket, Key=key)
            except ClientError as error:
                if error.response.get("Error", {}).get("Code") in ("404", "NoSuchKey", "NotFound"):
                    return None
                raise
            return LandedFile(uri, head["ContentLength"], head["LastModified"].astimezone(dt.UTC))
        path = Path(uri)
        return _local_file(path) if path.is_file() else None

    def read_bytes(self, uri: str) -> bytes:
        if is_s3(uri):
            bucket, key = _s3_location(uri)
            return self._s3().get_object(Bucket=bucket, Key=key)["Body"].read()
        return Path(uri).read_bytes()


class RejectedFile(Exception):
    """A file that cannot be loaded at all; ``reason`` is a stable code, ``detail`` says why."""

    def __init__(self, reason: str, detail: str):
        super().__init__(f"{reason}: {detail}")
        self.reason = reason
        self.detail = detail


@dataclass
class RawRows:
    """One file's rows: raw string values by column, plus the row bookkeeping."""

    layout: str
    values: dict[str, list[str | None]]
    row_numbers: list[int]
    raw_records: list[str | None]
    row_errors: list[str | None]
    ignored_columns: list[str]

    def __len__(self) -> int:
        return len(self.row_numbers)

    def to_arrow(self, source_file: str, detection_date: dt.date, ingested_at: dt.datetime) -> pa.Table:
        """The rows in the raw table's columns (RAW_SCHEMA order), with the file's columns added."""
        count = len(self)
        arrays = {name: pa.array(self.values.get(name, [None] * count), type=pa.string()) for name in RAW_VALUE_COLUMNS}
        arrays["layout"] = pa.array([self.layout] * count, type=pa.string())
        arrays["source_file"] = pa.array([source_file] * count, type=pa.string())
        arrays["row_number"] = pa.array(self.row_numbers, type=pa.int64())
        arrays["raw_record"] = pa.array(self.raw_records, type=pa.string())
        arrays["row_error"] = pa.array(self.row_errors, type=pa.string())
        arrays["ingested_at"] = pa.array([ingested_at] * count, type=pa.timestamp("us"))
        arrays[PARTITION_COLUMN] = pa.array([detection_date] * count, type=pa.date32())
        return pa.table(arrays)


def _decompress(name: str, data: bytes) -> bytes:
    compressed_name = name.lower().endswith((".gz", ".gzip"))
    if data[:2] == GZIP_MAGIC:
        try:
            return gzip.decompress(data)
        except (OSError, EOFError, zlib.error) as error:
            raise RejectedFile("unreadable_gzip", f"gzip data is corrupt or truncated ({error})") from None
    if compressed_name:
        raise RejectedFile("not_gzip", "the name ends in .gz but the content is not gzip")
    return data


def _format_of(name: str, data: bytes) -> str:
    lower = name.lower().removesuffix(".gz").removesuffix(".gzip")
    if data[:4] == PARQUET_MAGIC or lower.endswith((".parquet", ".pq")):
        return "parquet"
    if lower.endswith((".jsonl", ".ndjson", ".json")):
        return "jsonl"
    if data.lstrip()[:1] == b"{":
        return "jsonl"
    return "csv"


def read_claims_file(name: str, data: bytes) -> RawRows:
    """Raw rows of one landed file; raises RejectedFile when the file cannot be loaded as a whole."""
    if not data:
        raise RejectedFile("empty_file", "the file has no bytes")
    data = _decompress(name, data)
    if not data.strip():
        raise RejectedFile("empty_file", "the file has no content")
    if len(data) > MAX_FILE_BYTES:
        raise RejectedFile("too_large", f"{len(data):,} bytes, more than {MAX_FILE_BYTES:,}")
    file_format = _format_of(name, data)
    if file_format == "parquet":
        return _read_parquet(data)
    if b"\x00" in data[:65536]:
        raise RejectedFile("not_text", "the file holds binary data (NUL bytes), not CSV or JSON lines")
    text, bad_utf8 = _decode(data)
    if file_format == "jsonl":
        return _read_json_lines(text, bad_utf8)
    return _read_csv(text, bad_utf8)


def _decode(data: bytes) -> tuple[str, bool]:
    """The text, and whether some bytes were not UTF-8 (kept as surrogates, found per row later)."""
    try:
        return data.decode("utf-8-sig"), False
    except UnicodeDecodeError:
        text = data.decode("utf-8", errors="surrogateescape").removeprefix("\ufeff")
        printable = sum(ch.isprintable() or ch in "\r\n\t" for ch in text[:4096])
        if printable < 0.9 * min(len(text), 4096):
            raise RejectedFile("not_text", "the file is not UTF-8 text") from None
        return text, True


def _has_bad_utf8(values: list[str]) -> bool:
    try:
        for value in values:
            value.encode("utf-8")
    except UnicodeEncodeError:
        return True
    return False


def _printable(text: str) -> str:
    """Text with undecodable bytes shown as \\xNN, safe to store."""
    return text.encode("utf-8", errors="surrogateescape").decode("utf-8", errors="backslashreplace")


def _header_columns(header: list[str]) -> tuple[list[str], int]:
    """Normalised header names and how many leading index columns to skip."""
    names = [name.strip().strip('"').strip().lower() for name in header]
    skip = 1 if names and names[0] in INDEX_COLUMN_NAMES and len(names) > 1 else 0
    return names[skip:], skip


def _layout_or_reject(names: list[str]) -> Layout:
    layout = detect_layout(names)
    if layout is None:
        shown = ", ".join(names[:8]) + (" ..." if len(names) > 8 else "")
        raise RejectedFile("unknown_layout", f"header [{shown}] matches no layout ({describe_mismatch(names)})")
    duplicates = sorted({name for name in names if names.count(name) > 1 and name})
    if duplicates:
        raise RejectedFile("bad_header", f"duplicate columns in the header: {', '.join(duplicates)}")
    return layout


def _column_targets(names: list[str]) -> tuple[list[str | None], list[str]]:
    """For each file column, the raw column it fills (None: ignored), and the ignored names."""
    targets: list[str | None] = []
    ignored = []
    for name in names:
        target = RECORD_DETECTION_DATE if name == "detection_date" else name
        if target in RAW_VALUE_COLUMNS:
            targets.append(target)
        else:
            targets.append(None)
            ignored.append(name)
    return targets, ignored


def _sniff_delimiter(first_line: str) -> str:
    """The delimiter that splits the header into a known layout, else the most frequent one."""
    for delimiter in DELIMITERS:
        names, _ = _header_columns(next(csv.reader([first_line], delimiter=delimiter)))
        if detect_layout(names) is not None:
            return delimiter
    return max(DELIMITERS, key=first_line.count)


def _read_csv(text: str, bad_utf8: bool) -> RawRows:
    first_line = text.lstrip("\r\n").split("\n", 1)[0]
    delimiter = _sniff_delimiter(first_line)
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter, strict=False)
    try:
        header = next(reader)
        while not any(field.strip() for field in header):
            header = next(reader)
    except StopIteration:
        raise RejectedFile("empty_file", "the file has no header") from None
    except csv.Error as error:
        raise RejectedFile("unparseable_csv", f"the header cannot be read: {error}") from None
    names, skip = _header_columns(header)
    layout = _layout_or_reject(names)
    targets, ignored = _column_targets(names)
    width = len(header)
    columns: dict[str, list[str | None]] = {target: [] for target in targets if target}
    row_numbers: list[int] = []
    raw_records: list[str | None] = []
    row_errors: list[str | None] = []
    number = 0
    try:
        for fields in reader:
            if not fields or (len(fields) == 1 and not fields[0].strip()):
                continue  # blank line: not a record
            number += 1
            row_numbers.append(number)
            error = None
            if bad_utf8 and _has_bad_utf8(fields):
                error = "invalid UTF-8 in the row"
            elif len(fields) != width:
                error = f"expected {width} fields, found {len(fields)}"
            if error:
                raw_records.append(_printable(delimiter.join(fields)))
                row_errors.append(error)
                for values in columns.values():
                    values.append(None)
                continue
            raw_records.append(None)
            row_errors.append(None)
            for target, value in zip(targets, fields[skip:], strict=True):
                if target:
                    columns[target].append(value)
    except csv.Error as error:
        raise RejectedFile("unparseable_csv", f"record {number + 1}: {error}") from None
    if not row_numbers:
        raise RejectedFile("no_rows", "the file has a header but no rows")
    return RawRows(layout.name, columns, row_numbers, raw_records, row_errors, ignored)


def _json_value(value: object) -> str | None:
    if value is None:
        return None
    if isinstance(value, str):
        return value
    return json.dumps(value)


def _read_json_lines(text: str, bad_utf8: bool) -> RawRows:
    records: list[tuple[int, dict | None, str | None, str]] = []
    number = 0
    for line in text.splitlines():
        if not line.strip():
            continue
        number += 1
        if bad_utf8 and _has_bad_utf8([line]):
            records.append((number, None, "invalid UTF-8 in the row", line))
            continue
        try:
            value = json.loads(line)
        except ValueError as error:
            records.append((number, None, f"invalid JSON: {error}", line))
            continue
        if not isinstance(value, dict):
            records.append((number, None, "the line is not a JSON object", line))
            continue
        records.append((number, {str(k).strip().lower(): v for k, v in value.items()}, None, line))
    objects = [record for _, record, _, _ in records if record is not None]
    if not objects:
        raise RejectedFile("not_json_lines", "no line of the file is a JSON object")
    names = list(dict.fromkeys(name for record in objects for name in record))
    layout = _layout_or_reject(names)
    targets, ignored = _column_targets(names)
    columns: dict[str, list[str | None]] = {target: [] for target in targets if target}
    pairs = [(name, target) for name, target in zip(names, targets, strict=True) if target]
    row_numbers, raw_records, row_errors = [], [], []
    for number, record, error, line in records:
        row_numbers.append(number)
        raw_records.append(None if record is not None else _printable(line))
        row_errors.append(error)
        for name, target in pairs:
            columns[target].append(_json_value(record.get(name)) if record is not None else None)
    return RawRows(layout.name, columns, row_numbers, raw_records, row_errors, ignored)


def _read_parquet(data: bytes) -> RawRows:
    import pyarrow.compute as pc
    import pyarrow.parquet as pq

    try:
        table = pq.read_table(pa.BufferReader(data))
    except Exception as error:  # pyarrow raises several types for corrupt files
        raise RejectedFile("unreadable_parquet", f"not a readable Parquet file ({error})") from None
    names = [name.strip().lower() for name in table.column_names]
    if names and names[0] in INDEX_COLUMN_NAMES and len(names) > 1:
        table, names = table.drop_columns([table.column_names[0]]), names[1:]
    layout = _layout_or_reject(names)
    if table.num_rows == 0:
        raise RejectedFile("no_rows", "the Parquet file has no rows")
    targets, ignored = _column_targets(names)
    columns: dict[str, list[str | None]] = {}
    for column, target in zip(table.columns, targets, strict=True):
        if target is None:
            continue
        try:
            as_text = pc.cast(column, pa.string())
        except pa.ArrowNotImplementedError:
            as_text = pa.array([_json_value(v) for v in column.to_pylist()], type=pa.string())
        columns[target] = as_text.to_pylist()
    count = table.num_rows
    return RawRows(layout.name, columns, list(range(1, count + 1)), [None] * count, [None] * count, ignored)


def raw_frame(spark: SparkSession, tables: list[pa.Table]) -> DataFrame:
    """Raw rows of several files as one Spark DataFrame (pandas in between: classic Spark 3.5 takes no Arrow)."""
    if not tables:
        return spark.createDataFrame([], RAW_SCHEMA)
    table = pa.concat_tables(tables).select(RAW_SCHEMA.fieldNames())
    return spark.createDataFrame(table.to_pandas(), schema=RAW_SCHEMA)
