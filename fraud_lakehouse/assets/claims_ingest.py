"""Bronze claims: every landed claims file of the run's dates, kept raw, and the files that could not be read."""

import datetime as dt
from typing import Literal

from dagster import (
    AssetCheckResult,
    AssetCheckSpec,
    AssetExecutionContext,
    AssetKey,
    AssetOut,
    Config,
    Failure,
    MetadataValue,
    Output,
    multi_asset,
)
from pydantic import Field
from pyspark.sql import functions as F

from fraud_lakehouse.assets.bronze import BRONZE, LAKE_IO, SPARK, STEP_LAUNCHER
from fraud_lakehouse.claims.ingest import RejectedEntry, ingest_files, rejected_frame
from fraud_lakehouse.claims.landing import LandedFile, Landing
from fraud_lakehouse.claims.privacy import redact_identifiers_python
from fraud_lakehouse.partitions import (
    detection_date_partitions,
    partitions_start_date,
    spark_backfill_policy,
)
from fraud_lakehouse.resources.delta_io import DeltaOutput
from fraud_lakehouse.resources.lake_tables import LakeTables
from fraud_lakehouse.resources.landing import ClaimsLanding
from fraud_lakehouse.resources.spark import SparkEngine

LANDING = "landing"
CLAIMS_RAW_KEY = AssetKey([BRONZE, "claims_raw"])
# the lake tables resource (silver.py names it too)
LAKE = "lake"


class ClaimsIngestConfig(Config):
    files: list[str] = Field(
        default_factory=list,
        description="only these files (URIs, or paths under the landing root); empty = every file of the run's "
        "dates. Re-ingesting a file replaces that file's rows only.",
    )
    decimal_mark: Literal["auto", ".", ","] = Field(
        default="auto",
        description="decimal mark of the files' numbers: auto = decided per file from its values (a file whose "
        "values cannot decide it is rejected); '.' or ',' for every file of the run",
    )


def _outside_partitions(landed: LandedFile, first_partition: dt.date) -> RejectedEntry | None:
    """The rejection of a file that can never be ingested (a date folder that is no date, or a date before the
    first partition), recorded by the run of its upload day; None for any other file."""
    when = landed.date
    if when.problem == "bad_date_folder":
        detail = "the file's date folder is not a date: move it under claims/YYYY-MM-DD/"
        return RejectedEntry(landed.uri, "bad_date_folder", detail, landed.upload_date, landed.size)
    if when.date is not None and when.date < first_partition:
        detail = (
            f"its date {when.date} is before the first partition {first_partition}: move it under a later date "
            "folder, or start the partitions earlier (FRAUD_LAKEHOUSE_START_DATE)"
        )
        return RejectedEntry(landed.uri, "date_before_partitions", detail, landed.upload_date, landed.size)
    return None


def files_of_window(
    landing: Landing, start: dt.date, end: dt.date
) -> tuple[list[tuple[LandedFile, dt.date]], list[RejectedEntry]]:
    """The claims files of [start, end) with their dates, and the files recorded as rejected in the window: those
    uploaded in it that can never be ingested."""
    first_partition = partitions_start_date()
    files, rejected = [], []
    for landed in landing.list_files():
        when = landed.date
        if when.date is not None and start <= when.date < end:
            files.append((landed, when.date))
        elif start <= landed.upload_date < end:
            entry = _outside_partitions(landed, first_partition)
            if entry is not None:
                rejected.append(entry)
    return files, rejected


def _named_files(
    landing: Landing, names: list[str], start: dt.date, end: dt.date
) -> tuple[list[tuple[LandedFile, dt.date]], list[RejectedEntry]]:
    """The files named in run config, and an entry for each one that does not exist or can never be ingested."""
    found, rejected = [], []
    first_partition = partitions_start_date()
    for name in names:
        uri = landing.resolve(name)
        landed = landing.stat(uri)
        if landed is None:
            rejected.append(
                RejectedEntry(uri, "file_not_found", "the file named in the run config does not exist", start)
            )
            continue
        day = landed.detection_date
        if day is not None and start <= day < end:
            found.append((landed, day))
            continue
        outside = _outside_partitions(landed, first_partition)
        if outside is not None and start <= landed.upload_date < end:
            rejected.append(outside)
            continue
        raise Failure(
            f"{uri} belongs to detection date {day} (its date folder, else its upload date), "
            f"outside this run's dates [{start}, {end}): run that partition instead"
        )
    return found, rejected


@multi_asset(
    name="claims_raw",
    outs={
        "claims_raw": AssetOut(
            key=[BRONZE, "claims_raw"],
            io_manager_key=LAKE_IO,
            description="Rows of the landed claims files, every value a string, with source file, row number, "
            "the file's decimal mark and ingest time. A record that could not be split into fields keeps its text "
            "and the error.",
            kinds={"spark", "delta"},
        ),
        "claims_rejected_files": AssetOut(
            key=[BRONZE, "claims_rejected_files"],
            io_manager_key=LAKE_IO,
            description="Landed files that could not be loaded at all (empty, not text, no known layout, numbers "
            "of no decidable format, a date folder that is no date, ...), with the reason. The file itself is "
            "left where it is.",
            kinds={"spark", "delta"},
        ),
    },
    check_specs=[
        AssetCheckSpec(
            "records_balance",
            asset=CLAIMS_RAW_KEY,
            blocking=True,
            description="every record of every loaded file (each non-blank line of a CSV or JSON lines file, each "
            "row of a Parquet file) is one row of bronze/claims_raw",
        )
    ],
    partitions_def=detection_date_partitions,
    backfill_policy=spark_backfill_policy,
    group_name=BRONZE,
    required_resource_keys={SPARK, LANDING, STEP_LAUNCHER, LAKE},
)
def claims_raw(context: AssetExecutionContext, config: ClaimsIngestConfig):
    spark: SparkEngine = context.resources.spark
    landing_resource: ClaimsLanding = context.resources.landing
    lake: LakeTables = context.resources.lake
    landing = landing_resource.landing()
    window = context.partition_time_window
    start, end = window.start.date(), window.end.date()
    if config.files:
        files, rejected = _named_files(landing, config.files, start, end)
    else:
        files, rejected = files_of_window(landing, start, end)
    ingested_at = dt.datetime.now(dt.UTC)
    named = None
    if config.files:
        # Only the named files' rows are replaced; every other file of the day stays.
        named = tuple(sorted({landed.uri for landed, _ in files} | {entry.source_file for entry in rejected}))
    run = ingest_files(
        landing,
        files,
        lake.uri(BRONZE, "claims_raw"),
        (start, end),
        ingested_at,
        only_sources=named,
        decimal_mark=None if config.decimal_mark == "auto" else config.decimal_mark,
        on_rejected=lambda entry: context.log.warning(f"rejected {entry.source_file}: {entry.reason}: {entry.detail}"),
    )
    rejected = rejected + run.rejected
    rejected_rows = rejected_frame(spark.spark_session, rejected, ingested_at.replace(tzinfo=None))
    metadata = {
        "files_loaded": len(run.ingested),
        "files_rejected": len(rejected),
        "rows_loaded": run.records,
        "files": MetadataValue.md(
            "| file | layout | encoding | rows | unsplittable rows | rows of another width, fitted | ignored columns "
            "| absent columns |\n"
            "|---|---|---|---|---|---|---|---|\n"
            + "\n".join(
                f"| {item.uri} | {item.layout} | {item.encoding} | {item.records} | {item.unsplittable} | "
                f"{item.fitted} | {redact_identifiers_python(', '.join(item.ignored_columns))} | "
                f"{', '.join(item.absent_columns)} |"
                for item in run.ingested
            )
        ),
        "landing": landing.root,
    }
    # The rows are written already, streamed from the files (they never were a DataFrame).
    yield Output(DeltaOutput(None), output_name="claims_raw", metadata=metadata)
    if named is not None:
        yield Output(
            DeltaOutput(rejected_rows, only_rows=DeltaOutput.values_in("source_file", named)),
            output_name="claims_rejected_files",
        )
    else:
        yield Output(rejected_rows, output_name="claims_rejected_files")

    # Read back what was written: each file's rows against the records its reader counted.
    counted = {item.uri: item.records for item in run.ingested}
    written = {}
    if counted:
        rows = lake.read_window(BRONZE, "claims_raw", start, end).where(F.col("source_file").isin(list(counted)))
        written = {row["source_file"]: row["count"] for row in rows.groupBy("source_file").count().collect()}
    unbalanced = {
        uri: (records, written.get(uri, 0)) for uri, records in counted.items() if written.get(uri) != records
    }
    yield AssetCheckResult(
        check_name="records_balance",
        asset_key=CLAIMS_RAW_KEY,
        passed=not unbalanced,
        metadata={
            "records_read": sum(counted.values()),
            "rows_written": sum(written.values()),
            "files_unbalanced": ", ".join(
                f"{uri} ({read} read, {rows} rows)" for uri, (read, rows) in unbalanced.items()
            )
            or "none",
        },
    )
