"""Write synthetic customers and transactions to a folder, for people who just want data."""

from __future__ import annotations

import datetime as dt
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass

from pyspark.sql import DataFrame, SparkSession

from fraud_lakehouse.generator.params import GenerationConfigError, GeneratorParams, check_range
from fraud_lakehouse.generator.spark import customers_from_ids, transactions_from_units, unit_count
from fraud_lakehouse.partitions import PARTITION_COLUMN
from fraud_lakehouse.resources.lake import ensure_writable, lake_path

FORMATS = ("delta", "parquet", "csv")
# Aim for about this many rows per written chunk: bounds the time between
# progress updates without paying Spark's per-job overhead too often.
ROWS_PER_CHUNK = 4_000_000
EXPECTED_ROWS_PER_CUSTOMER_DAY = 2.5
MAX_DAYS_PER_CHUNK = 92


@dataclass(frozen=True)
class ExportRequest:
    params: GeneratorParams
    start: dt.date
    end: dt.date
    out: str
    format: str
    spark_partitions: int

    def __post_init__(self) -> None:
        check_range(self.start, self.end)
        if self.format not in FORMATS:
            raise GenerationConfigError("format", f"unknown format {self.format!r}; choose one of {', '.join(FORMATS)}")
        if self.spark_partitions < 1:
            raise GenerationConfigError("spark_partitions", f"must be at least 1, got {self.spark_partitions}")
        if not self.out:
            raise GenerationConfigError("out", "an output path is required")

    def path(self, table: str) -> str:
        return lake_path(self.out, table)


@dataclass(frozen=True)
class ExportResult:
    customers_path: str
    transactions_path: str
    customers: int
    transactions: int
    seconds: float


def days_per_chunk(customers: int) -> int:
    estimate = int(ROWS_PER_CHUNK / (EXPECTED_ROWS_PER_CUSTOMER_DAY * customers))
    return max(1, min(MAX_DAYS_PER_CHUNK, estimate))


def _write(frame: DataFrame, path: str, fmt: str, append: bool) -> None:
    writer = frame.write.format(fmt).mode("append" if append else "overwrite")
    if fmt == "delta" and PARTITION_COLUMN in frame.columns:
        writer = writer.partitionBy(PARTITION_COLUMN)
    elif fmt == "csv":
        writer = writer.option("header", "true")
    writer.save(path)


def _read(spark: SparkSession, path: str, fmt: str) -> DataFrame:
    reader = spark.read.format(fmt)
    if fmt == "csv":
        reader = reader.option("header", "true")
    return reader.load(path)


class Progress:
    """One line per chunk; rewritten in place on a terminal."""

    def __init__(self, total_days: int, stream=sys.stderr) -> None:
        self.total_days, self.stream, self.started = total_days, stream, time.monotonic()
        self.interactive = stream.isatty()

    def update(self, days_done: int, label: str) -> None:
        elapsed = time.monotonic() - self.started
        eta = elapsed / days_done * (self.total_days - days_done) if days_done else 0.0
        line = (
            f"transactions {label}: {days_done}/{self.total_days} days, "
            f"{elapsed:,.1f} s elapsed, about {eta:,.0f} s left"
        )
        end = "" if self.interactive and days_done < self.total_days else "\n"
        self.stream.write(("\r" if self.interactive else "") + line + end)
        self.stream.flush()


def export(
    spark: SparkSession, request: ExportRequest, on_chunk: Callable[[int, str], None] | None = None
) -> ExportResult:
    """Generate and write ``customers`` and ``transactions`` under ``request.out``."""
    ensure_writable(request.out)
    params, started = request.params, time.monotonic()
    customers_path, transactions_path = request.path("customers"), request.path("transactions")
    ids = spark.range(0, params.customers, 1, request.spark_partitions)
    _write(customers_from_ids(ids, params), customers_path, request.format, append=False)

    step = days_per_chunk(params.customers)
    chunk_start, done = request.start, 0
    while chunk_start <= request.end:
        chunk_end = min(request.end, chunk_start + dt.timedelta(days=step - 1))
        units = spark.range(0, unit_count(params, chunk_start, chunk_end), 1, request.spark_partitions)
        frame = transactions_from_units(units, params, chunk_start, chunk_end)
        _write(frame, transactions_path, request.format, append=done > 0)
        done += (chunk_end - chunk_start).days + 1
        if on_chunk is not None:
            on_chunk(done, f"{chunk_start}..{chunk_end}")
        chunk_start = chunk_end + dt.timedelta(days=1)
    seconds = time.monotonic() - started
    return ExportResult(
        customers_path=customers_path,
        transactions_path=transactions_path,
        customers=_read(spark, customers_path, request.format).count(),
        transactions=_read(spark, transactions_path, request.format).count(),
        seconds=seconds,
    )
