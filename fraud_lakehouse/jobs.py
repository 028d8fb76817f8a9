"""Jobs and schedules: the whole graph, the claims path (the sensor's), the synthetic feed (its schedule's)."""

from __future__ import annotations

import datetime as dt

from dagster import (
    AssetKey,
    AssetSelection,
    DefaultScheduleStatus,
    RunRequest,
    ScheduleEvaluationContext,
    define_asset_job,
    schedule,
)

from fraud_lakehouse.partitions import detection_date_partitions

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
    if context.instance.get_latest_materialization_event(CUSTOMERS) is None:
        selection.add(CUSTOMERS)
    return RunRequest(run_key=f"synthetic-{day}", partition_key=day, asset_selection=sorted(selection))
