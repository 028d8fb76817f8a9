"""Where every object of the landing area stands: ingested, rejected (with the reason), waiting for its date,
pending (its date has not run yet), or skipped (an upload in progress, a hidden name)."""

from __future__ import annotations

import datetime as dt
from collections import Counter
from dataclasses import dataclass

from fraud_lakehouse.claims.landing import LandedFile, Landing
from fraud_lakehouse.partitions import last_partition_date, partitions_start_date
from fraud_lakehouse.resources.delta_io import delta_table_exists
from fraud_lakehouse.resources.lake import table_uri

STATUSES = ("ingested", "rejected", "pending", "waiting", "skipped")


@dataclass(frozen=True)
class FileStatus:
    file: LandedFile
    status: str
    date: dt.date | None
    detail: str


def _bronze(lake_root: str, table: str, columns: list[str]):  # type: ignore[no-untyped-def]
    """The columns of a bronze table as an Arrow table (None when it does not exist), read by delta-rs."""
    from deltalake import DeltaTable

    uri = table_uri(lake_root, "bronze", table)
    if not delta_table_exists(uri):
        return None
    return DeltaTable(uri).to_pyarrow_dataset().to_table(columns=columns)


def landing_status(landing: Landing, lake_root: str, today: dt.date | None = None) -> list[FileStatus]:
    first, last = partitions_start_date(), last_partition_date(today)
    raw = _bronze(lake_root, "claims_raw", ["source_file"])
    rows = Counter(raw.column("source_file").to_pylist()) if raw is not None else Counter()
    rejected_table = _bronze(lake_root, "claims_rejected_files", ["source_file", "reason", "detail"])
    rejected = {row["source_file"]: row for row in rejected_table.to_pylist()} if rejected_table is not None else {}
    statuses = []
    for landed in landing.list_all():
        when = landed.date
        skip = landed.skip_reason
        if skip is not None:
            statuses.append(FileStatus(landed, "skipped", when.date, skip))
        elif landed.uri in rejected:
            entry = rejected[landed.uri]
            statuses.append(FileStatus(landed, "rejected", when.date, f"{entry['reason']}: {entry['detail']}"))
        elif landed.uri in rows:
            statuses.append(FileStatus(landed, "ingested", when.date, f"{rows[landed.uri]:,} rows in bronze"))
        elif when.problem == "bad_date_folder":
            detail = f"bad_date_folder (recorded by the run of its upload day {landed.upload_date})"
            statuses.append(FileStatus(landed, "rejected", None, detail))
        elif when.date is not None and when.date < first:
            detail = (
                f"date_before_partitions: before the first partition {first} (recorded by the run of its upload day "
                f"{landed.upload_date})"
            )
            statuses.append(FileStatus(landed, "rejected", when.date, detail))
        elif when.date is not None and when.date > last:
            statuses.append(FileStatus(landed, "waiting", when.date, f"its date is after today ({last}): it waits"))
        else:
            statuses.append(FileStatus(landed, "pending", when.date, "its date has not been materialized since"))
    return statuses
