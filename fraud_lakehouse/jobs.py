"""Jobs and schedules: the whole graph, the claims path (the sensor's), the synthetic feed (its schedule's)."""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING

from dagster import (
    AssetKey,
    AssetSelection,
    DagsterInstance,
    DefaultScheduleStatus,
    RunRequest,
    ScheduleEvaluationContext,
    define_asset_job,
    schedule,
)

from fraud_lakehouse.partitions import detection_date_partitions

if TYPE_CHECKING:  # the type of a repository's asset graph has no public name
    from dagster._core.definitions.assets.graph.base_asset_graph import BaseAssetGraph

CLAIMS_RAW = AssetKey(["bronze", "claims_raw"])
TRANSACTIONS = AssetKey(["bronze", "transactions"])
CUSTOMERS = AssetKey(["bronze", "customers"])


def claims_path(synthetic_feed: bool) -> AssetSelection:
    """Landed claims to gold for a date: bronze/claims_raw and everything downstream of it, and the day's synthetic
    transactions when the deployment has the synthetic feed (silver reads them)."""
    selection = AssetSelection.assets(CLAIMS_RAW).downstream().required_multi_asset_neighbors()
    return selection | AssetSelection.assets(TRANSACTIONS) if synthetic_feed else selection


def build_jobs(synthetic_feed: bool) -> list:
    jobs = [
        define_asset_job(
            "lakehouse_job",
            selection=AssetSelection.all(),
            partitions_def=detection_date_partitions,
            description="Bronze to gold for the selected detection dates: every asset of the deployment.",
        ),
        define_asset_job(
            "claims_job",
            selection=claims_path(synthetic_feed),
            partitions_def=detection_date_partitions,
            description="The claims path of a detection date: landed files to bronze, silver and gold "
            "(what claims_landing_sensor runs).",
        ),
    ]
    if synthetic_feed:
        jobs.append(
            define_asset_job(
                "bronze_job",
                selection=AssetSelection.assets(CUSTOMERS, TRANSACTIONS),
                partitions_def=detection_date_partitions,
                description="Generate bronze customers and the transactions of the selected detection dates.",
            )
        )
        jobs.append(
            define_asset_job(
                "synthetic_feed_job",
                selection=AssetSelection.assets(TRANSACTIONS).downstream() | AssetSelection.assets(CUSTOMERS),
                partitions_def=detection_date_partitions,
                description="A day of synthetic transactions, then silver and gold for it.",
            )
        )
    return jobs


@schedule(
    name="synthetic_daily_schedule",
    job_name="synthetic_feed_job",
    cron_schedule="15 0 * * *",
    execution_timezone="UTC",
    default_status=DefaultScheduleStatus.STOPPED,
    description="Every day at 00:15 UTC: the synthetic transactions of the day that just ended, and its silver and "
    "gold; bronze/customers only when it was never materialized.",
)
def synthetic_daily_schedule(context: ScheduleEvaluationContext) -> RunRequest:
    day = (context.scheduled_execution_time.astimezone(dt.UTC) - dt.timedelta(days=1)).date().isoformat()
    graph = context.repository_def.asset_graph
    selection = set(AssetSelection.assets(TRANSACTIONS).downstream().resolve(graph))
    if customers_never_made(graph, context.instance):
        selection.add(CUSTOMERS)
    return RunRequest(run_key=f"synthetic-{day}", partition_key=day, asset_selection=sorted(selection))


def customers_never_made(graph: BaseAssetGraph, instance: DagsterInstance) -> bool:
    """Whether the deployment has the synthetic feed and its bronze/customers was never materialized."""
    return graph.has(CUSTOMERS) and instance.get_latest_materialization_event(CUSTOMERS) is None


def claims_run_selection(graph: BaseAssetGraph, instance: DagsterInstance) -> list[AssetKey] | None:
    """The assets of a claims run (the sensor's, ``fraud-lakehouse backfill --claims-only``): None for claims_job's
    own, or those and bronze/customers when the synthetic feed is on and its customers were never made. The day's
    synthetic transactions and silver read them: without this, a new home's first landed file failed on a missing
    bronze/customers table."""
    if not customers_never_made(graph, instance):
        return None
    return sorted(claims_path(synthetic_feed=True).resolve(graph) | {CUSTOMERS})
