"""The code location's definitions over a test's own lake and landing folders, on the session's engine."""

from __future__ import annotations

from pathlib import Path

from dagster import Definitions

from fraud_lakehouse.assets import build_assets
from fraud_lakehouse.jobs import build_jobs
from fraud_lakehouse.resources.delta_io import DeltaLakeIOManager
from fraud_lakehouse.resources.deployments import resources_for_deployment
from fraud_lakehouse.resources.lake_tables import LakeTables
from fraud_lakehouse.resources.landing import ClaimsLanding
from fraud_lakehouse.resources.spark import SparkEngine
from fraud_lakehouse.resources.synthetic import SyntheticData


def definitions_for_test(
    spark_engine: SparkEngine, lake_root: str, landing: Path, customers: int = 60, synthetic_feed: bool = True
) -> tuple[Definitions, LakeTables]:
    """The local profile's resources pointed at ``lake_root`` and ``landing``, and the lake's tables."""
    resources = resources_for_deployment("local")
    resources.update(
        spark=spark_engine,
        lake_io_manager=DeltaLakeIOManager(spark=spark_engine, lake_root=lake_root),
        lake=LakeTables(spark=spark_engine, lake_root=lake_root),
        landing=ClaimsLanding(root=str(landing)),
        synthetic=SyntheticData(customers=customers),
    )
    defs = Definitions(assets=build_assets(synthetic_feed), jobs=build_jobs(synthetic_feed), resources=resources)
    return defs, LakeTables(spark=spark_engine, lake_root=lake_root)
