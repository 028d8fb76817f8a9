"""Reading lake tables over any date window, for assets whose rules look further back than their partition."""

from __future__ import annotations

import datetime as dt

from dagster import ConfigurableResource
from pydantic import Field
from pyspark.sql import DataFrame

from fraud_lakehouse.partitions import window_predicate
from fraud_lakehouse.resources.delta_io import delta_table_exists
from fraud_lakehouse.resources.lake import default_lake_root, lake_path, table_uri
from fraud_lakehouse.resources.spark import SparkEngine
from fraud_lakehouse.storage import storage_for

# A staging folder this old belongs to a run that died: no run stages for a day.
STALE_STAGING_AGE = dt.timedelta(days=1)


class LakeTables(ConfigurableResource):
    """The lake's tables by layer and name (same root as the IO manager)."""

    spark: SparkEngine
    lake_root: str = Field(default_factory=default_lake_root, description="local folder or s3://bucket/prefix")

    def uri(self, layer: str, table: str) -> str:
        return table_uri(self.lake_root, layer, table)

    def exists(self, layer: str, table: str) -> bool:
        return delta_table_exists(self.uri(layer, table))

    def staging_uri(self, name: str, run_id: str) -> str:
        """A run's staging folder for ``name`` (files written before one commit reads them)."""
        return lake_path(self.lake_root, "_staging", name, run_id)

    def remove_stale_staging(self, name: str, older_than: dt.timedelta = STALE_STAGING_AGE) -> int:
        """Delete the staging folders of ``name`` left by runs that died before their commit (untouched for
        ``older_than``); returns how many. A live run's folder is younger than any run lasts."""
        root = lake_path(self.lake_root, "_staging", name)
        storage = storage_for(root)
        newest: dict[str, dt.datetime] = {}
        for item in storage.list(root):
            run_id = item.uri[len(root) :].strip("/").split("/", 1)[0]
            newest[run_id] = max(newest.get(run_id, item.modified), item.modified)
        cutoff = dt.datetime.now(dt.UTC) - older_than
        stale = [run_id for run_id, modified in newest.items() if modified < cutoff]
        for run_id in stale:
            storage.delete_tree(lake_path(root, run_id))
        return len(stale)

    def read_window(self, layer: str, table: str, start: dt.date, end: dt.date) -> DataFrame:
        """Rows with detection_date in [start, end)."""
        frame = self.spark.spark_session.read.format("delta").load(self.uri(layer, table))
        return frame.where(window_predicate(start, end))
