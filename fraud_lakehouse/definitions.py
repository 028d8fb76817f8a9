"""The fraud_lakehouse code location."""

from __future__ import annotations

from dagster import AssetSelection, Definitions, define_asset_job, in_process_executor, load_assets_from_modules

from fraud_lakehouse.assets import bronze, claims_ingest, gold, silver
from fraud_lakehouse.partitions import detection_date_partitions
from fraud_lakehouse.resources.deployments import resources_for_deployment

all_assets = load_assets_from_modules([bronze, claims_ingest, silver, gold])

# The main job: both bronze tables for a date window (one run per window).
bronze_job = define_asset_job(
    "bronze_job",
    selection=AssetSelection.assets(bronze.customers, bronze.transactions),
    partitions_def=detection_date_partitions,
    description="Generate bronze customers and the transactions of the selected detection dates.",
)

# Everything: bronze (synthetic and landed claims), silver, gold, for a date window.
lakehouse_job = define_asset_job(
    "lakehouse_job",
    selection=AssetSelection.all(),
    partitions_def=detection_date_partitions,
    description="Bronze to gold for the selected detection dates: generate, ingest landed claims, clean, score.",
)

# Every run executes its steps in one process, so it starts the Spark engine once (the multiprocess default
# started a process and an engine per step). Steps still log, retry and report apart.
defs = Definitions(
    assets=all_assets,
    jobs=[bronze_job, lakehouse_job],
    resources=resources_for_deployment(),
    executor=in_process_executor,
)
