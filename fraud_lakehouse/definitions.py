"""The fraud_lakehouse code location."""

from __future__ import annotations

from dagster import AssetSelection, Definitions, define_asset_job, load_assets_from_modules

from fraud_lakehouse.assets import bronze
from fraud_lakehouse.partitions import detection_date_partitions
from fraud_lakehouse.resources import resources_for_deployment

bronze_assets = load_assets_from_modules([bronze])

# The main job: both bronze tables for a date window (one run per window).
bronze_job = define_asset_job(
    "bronze_job",
    selection=AssetSelection.groups(bronze.BRONZE),
    partitions_def=detection_date_partitions,
    description="Generate bronze customers and the transactions of the selected detection dates.",
)

defs = Definitions(assets=bronze_assets, jobs=[bronze_job], resources=resources_for_deployment())
