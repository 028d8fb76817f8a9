"""Reading lake tables over any date window, for assets whose rules look further back than their partition."""

from __future__ import annotations

import datetime as dt

from dagster import ConfigurableResource
from pydantic import Field
from pyspark.sql import DataFrame

from fraud_lakehouse.partitions import window_predicate
from fraud_lakehouse.resources.delta_io import delta_table_exists
from fraud_lakehouse.resources.lake import default_lake_root, table_uri
from fraud_lakehouse.resources.spark import SparkEngine


class LakeTables(ConfigurableResource):
    """The lake's tables by layer and name (same root as the IO manager)."""

    spark: SparkEngine
    lake_root: str = Field(default_factory=default_lake_root, description="local folder or s3://bucket/prefix")

    def uri(self, layer: str, table: str) -> str:
        return table_uri(self.lake_root, layer, table)

    def exists(self, layer: str, table: str) -> bool:
        return delta_table_exists(self.uri(layer, table))

    def read_window(self, layer: str, table: str, start: dt.date, end: dt.date) -> DataFrame:
        """Rows with detection_date in [start, end)."""
        frame = self.spark.spark_session.read.format("delta").load(self.uri(layer, table))
        return frame.where(window_predicate(start, end))
