"""Bronze claims: every landed claims file of the run's dates, kept raw, and the files that could not be read."""

import datetime as dt
from typing import NamedTuple

import pandas as pd
import pyarrow as pa
from dagster import AssetExecutionContext, AssetOut, Config, Failure, MetadataValue, Output, multi_asset
from pydantic import Field

from fraud_lakehouse.assets.bronze import BRONZE, LAKE_IO, SPARK, STEP_LAUNCHER
from fraud_lakehouse.claims.landing import LandedFile, Landing, RejectedFile, raw_frame, read_claims_file
from fraud_lakehouse.claims.model import REJECTED_FILES_SCHEMA
from fraud_lakehouse.partitions import detection_date_partitions, spark_backfill_policy
from fraud_lakehouse.resources.delta_io import ReplaceRows
from fraud_lakehouse.resources.landing import ClaimsLanding
from fraud_lakehouse.resources.spark import SparkEngine

LANDING = "landing"


class ClaimsIngestConfig(Config):
    files: list[str] = Field(
        default_factory=list,
        description="only these files (URIs, or paths under the landing root); empty = every file of the run's "
        "dates. Re-ingesting a file replaces that file's rows only.",
    )


class RejectedEntry(NamedTuple):
    """A row of bronze/claims_rejected_files (without the rejection time)."""

    source_file: str
    reason: str
    detail: str
    detection_date: dt.date
    size_bytes: int | None = None


def _files_of_run(
    landing: Landing, files: list[str], start: dt.date, end: dt.date
) -> tuple[list[LandedFile], list[RejectedEntry]]:
    """The files to ingest, and an entry for each named file that does not exist."""
    if not files:
        return [f for f in landing.list_files() if start <= f.detection_date < end], []
    found, missing = [], []
    for name in files:
        uri = landing.resolve(name)
        landed = landing.stat(uri)
        if landed is None:
            missing.append(
                RejectedEntry(uri, "file_not_found", "the file named in the run config does not exist", start)
            )
            continue
        if not start <= landed.detection_date < end:
            raise Failure(
                f"{uri} belongs to detection date {landed.detection_date} (its path, else its modification date), "
                f"outside this run's dates [{start}, {end}): run that partition instead"
            )
        found.append(landed)
    return found, missing


@multi_asset(
    name="claims_raw",
    outs={
        "claims_raw": AssetOut(
            key=[BRONZE, "claims_raw"],
            io_manager_key=LAKE_IO,
            description="Rows of the landed claims files, every value a string, with source file, row number and "
            "ingest time. A row that could not be split into fields keeps its text and the error.",
            kinds={"spark", "delta"},
        ),
        "claims_rejected_files": AssetOut(
            key=[BRONZE, "claims_rejected_files"],
            io_manager_key=LAKE_IO,
            description="Landed files that could not be loaded at all (empty, not text, no known layout, ...), "
            "with the reason. The file itself is left where it is.",
            kinds={"spark", "delta"},
        ),
    },
    partitions_def=detection_date_partitions,
    backfill_policy=spark_backfill_policy,
    group_name=BRONZE,
    required_resource_keys={SPARK, LANDING, STEP_LAUNCHER},
)
def claims_raw(context: AssetExecutionContext, config: ClaimsIngestConfig):
    spark: SparkEngine = context.resources.spark
    landing_resource: ClaimsLanding = context.resources.landing
    landing = landing_resource.landing()
    window = context.partition_time_window
    start, end = window.start.date(), window.end.date()
    files, rejected = _files_of_run(landing, config.files, start, end)
    ingested_at = dt.datetime.now(dt.UTC).replace(tzinfo=None)
    tables: list[pa.Table] = []
    per_file = []
    for landed in files:
        try:
            rows = read_claims_file(landed.uri, landing.read_bytes(landed.uri))
        except RejectedFile as error:
            rejected.append(RejectedEntry(landed.uri, error.reason, error.detail, landed.detection_date, landed.size))
            context.log.warning(f"rejected {landed.uri}: {error.reason}: {error.detail}")
            continue
        except OSError as error:  # unreadable: permissions, vanished, network
            rejected.append(
                RejectedEntry(landed.uri, "unreadable_file", str(error), landed.detection_date, landed.size)
            )
            continue
        except Exception as error:  # a bad file never stops the other files
            detail = f"{type(error).__name__}: {error}"
            rejected.append(RejectedEntry(landed.uri, "unexpected_error", detail, landed.detection_date, landed.size))
            context.log.exception(f"reading {landed.uri} failed")
            continue
        tables.append(rows.to_arrow(landed.uri, landed.detection_date, ingested_at))
        bad_rows = sum(error is not None for error in rows.row_errors)
        per_file.append((landed.uri, rows.layout, len(rows), bad_rows, ", ".join(rows.ignored_columns)))
    spark_session = spark.spark_session
    raw = raw_frame(spark_session, tables)
    rejected_rows = pd.DataFrame(
        [{**entry._asdict(), "rejected_at": ingested_at} for entry in rejected],
        columns=REJECTED_FILES_SCHEMA.fieldNames(),
    )
    rejected_frame = (
        spark_session.createDataFrame(rejected_rows, schema=REJECTED_FILES_SCHEMA)
        if len(rejected_rows)
        else spark_session.createDataFrame([], REJECTED_FILES_SCHEMA)
    )
    metadata = {
        "files_loaded": len(per_file),
        "files_rejected": len(rejected),
        "rows_loaded": sum(item[2] for item in per_file),
        "files": MetadataValue.md(
            "| file | layout | rows | unsplittable rows | ignored columns |\n|---|---|---|---|---|\n"
            + "\n".join(f"| {uri} | {layout} | {n} | {bad} | {ignored} |" for uri, layout, n, bad, ignored in per_file)
        ),
        "landing": landing.root,
    }
    if config.files:
        # Only the named files' rows are replaced; every other file of the day stays.
        names = tuple(sorted({landed.uri for landed in files} | {entry.source_file for entry in rejected}))
        yield Output(ReplaceRows(raw, "source_file", names), output_name="claims_raw", metadata=metadata)
        yield Output(ReplaceRows(rejected_frame, "source_file", names), output_name="claims_rejected_files")
    else:
        yield Output(raw, output_name="claims_raw", metadata=metadata)
        yield Output(rejected_frame, output_name="claims_rejected_files")
