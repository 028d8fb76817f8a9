"""The daily `detection_date` partitions shared by bronze, silver and gold."""

from __future__ import annotations

import datetime as dt
import os

from dagster import BackfillPolicy, DailyPartitionsDefinition

PARTITION_COLUMN = "detection_date"
START_DATE_ENV = "FRAUD_LAKEHOUSE_START_DATE"
DEFAULT_START_DATE = dt.date(2025, 1, 1)


def partitions_start_date() -> dt.date:
    text = os.environ.get(START_DATE_ENV)
    if not text:
        return DEFAULT_START_DATE
    try:
        return dt.date.fromisoformat(text)
    except ValueError:
        raise ValueError(f"{START_DATE_ENV} must be a date as YYYY-MM-DD, got {text!r}") from None


detection_date_partitions = DailyPartitionsDefinition(start_date=partitions_start_date().isoformat(), end_offset=1)
# A date-range backfill runs as one Spark run over the whole window.
spark_backfill_policy = BackfillPolicy.single_run()


def window_predicate(start: dt.date, end: dt.date, column: str = PARTITION_COLUMN) -> str:
    """SQL predicate of the half-open date window [start, end)."""
    return f"{column} >= DATE'{start.isoformat()}' AND {column} < DATE'{end.isoformat()}'"


def last_partition_date(today: dt.date | None = None) -> dt.date:
    """The newest daily partition: today in UTC (the partitions end one day after the last complete one)."""
    return today or dt.datetime.now(dt.UTC).date()
