"""The code location: definitions validate, and both bronze assets materialize through Dagster."""

import datetime as dt
import os
import subprocess
import sys

import pytest
from dagster import AssetKey, Definitions, instance_for_test
from deltalake import DeltaTable

from fraud_lakehouse.assets import build_assets
from fraud_lakehouse.definitions import defs
from fraud_lakehouse.generator.params import GenerationConfigError
from fraud_lakehouse.jobs import build_jobs
from fraud_lakehouse.resources.delta_io import DeltaLakeIOManager
from fraud_lakehouse.resources.deployments import resources_for_deployment
from fraud_lakehouse.resources.spark import SparkEngine
from fraud_lakehouse.resources.synthetic import SyntheticData
from fraud_lakehouse_tests.conftest import REPO_ROOT

RANGE_TAGS = {"dagster/asset_partition_range_start": "2025-01-01", "dagster/asset_partition_range_end": "2025-01-02"}


def test_dagster_definitions_validate():
    env = {**os.environ, "DAGSTER_HOME": str(REPO_ROOT)}
    result = subprocess.run(
        [sys.executable, "-m", "dagster", "definitions", "validate", "-w", "workspace.yaml"],
        cwd=REPO_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Validation successful" in result.stdout + result.stderr


def test_asset_graph_and_partitions():
    graph = defs.resolve_asset_graph()
    keys = {"/".join(key.path) for key in graph.get_all_asset_keys()}
    assert keys == {
        "bronze/customers",
        "bronze/transactions",
        "bronze/claims_raw",
        "bronze/claims_rejected_files",
        "silver/claims",
        "silver/claims_quarantine",
        "gold/flagged_claims",
        "gold/provider_risk",
        "gold/fraud_by_rule",
        "gold/detection_quality",
    }
    transactions = defs.resolve_assets_def(AssetKey(["bronze", "transactions"]))
    assert transactions.partitions_def.get_first_partition_key() == "2025-01-01"
    assert transactions.backfill_policy.max_partitions_per_run is None  # single run
    for key in graph.get_all_asset_keys():
        assert "pyspark_step_launcher" in defs.resolve_assets_def(key).required_resource_keys


def _bronze_resources(tmp_path, spark_engine, **synthetic):
    resources = resources_for_deployment("local")
    resources["spark"] = spark_engine
    resources["lake_io_manager"] = DeltaLakeIOManager(spark=spark_engine, lake_root=str(tmp_path / "lake"))
    resources["synthetic"] = SyntheticData(**{"customers": 300, **synthetic})
    return resources


def _job(resources):
    return Definitions(assets=build_assets(True), jobs=build_jobs(True), resources=resources).resolve_job_def(
        "bronze_job"
    )


def test_materialize_both_bronze_assets_for_two_days(tmp_path, spark_engine, spark):
    job = _job(_bronze_resources(tmp_path, spark_engine))
    with instance_for_test() as instance:
        result = job.execute_in_process(instance=instance, tags=RANGE_TAGS)
    assert result.success
    events = result.get_asset_materialization_events()
    by_key: dict[str, list] = {}
    for event in events:
        by_key.setdefault("/".join(event.materialization.asset_key.path), []).append(event.materialization)
    assert len(by_key["bronze/customers"]) == 1
    assert sorted(m.partition for m in by_key["bronze/transactions"]) == ["2025-01-01", "2025-01-02"]

    customers = by_key["bronze/customers"][0].metadata
    assert customers["dagster/row_count"].value == 300
    assert {c.name for c in customers["dagster/column_schema"].value.columns} >= {"ssn", "cc_num", "profile", "dob"}
    transactions_path = by_key["bronze/transactions"][0].metadata["dagster/uri"].value
    table = spark.read.format("delta").load(transactions_path)
    per_day = {r["detection_date"]: r["count"] for r in table.groupBy("detection_date").count().collect()}
    assert set(per_day) == {dt.date(2025, 1, 1), dt.date(2025, 1, 2)}
    for materialization in by_key["bronze/transactions"]:
        metadata = materialization.metadata
        assert (
            metadata["dagster/partition_row_count"].value == per_day[dt.date.fromisoformat(materialization.partition)]
        )
        assert metadata["dagster/row_count"].value == sum(per_day.values())
        assert metadata["delta_version"].value == DeltaTable(transactions_path).version()
        assert len(metadata["preview"].value.records) == 5
    # Every transaction belongs to a bronze customer.
    customers_table = spark.read.format("delta").load(customers["dagster/uri"].value)
    assert table.join(customers_table, "cc_num", "left_anti").count() == 0


@pytest.mark.parametrize(
    ("synthetic", "field"),
    [({"customers": -5}, "customers"), ({"fraud_share": 1.5}, "fraud_share"), ({"epoch": "2025-13-01"}, "epoch")],
)
def test_invalid_generation_config_fails_before_spark_work(tmp_path, synthetic, field):
    class ExplodingEngine(SparkEngine):
        """The engine resource with no engine: any Spark work fails the test."""

        def _init_session(self) -> None:
            raise AssertionError("Spark work started before the config was validated")

    resources = _bronze_resources(tmp_path, ExplodingEngine(), **synthetic)
    job = _job(resources)
    with instance_for_test() as instance, pytest.raises(GenerationConfigError, match=f"^{field}:"):
        job.execute_in_process(instance=instance, tags=RANGE_TAGS, raise_on_error=True)
