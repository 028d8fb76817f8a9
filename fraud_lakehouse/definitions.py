"""The fraud_lakehouse code location: what the deployment runs (``resources/deployments.py``), in one place."""

from __future__ import annotations

from fraud_lakehouse.runtime import loading_long_lived_objects

with loading_long_lived_objects():
    from dagster import Definitions, in_process_executor

    from fraud_lakehouse.assets import build_assets
    from fraud_lakehouse.jobs import build_jobs, synthetic_daily_schedule
    from fraud_lakehouse.resources.deployments import current_deployment
    from fraud_lakehouse.sensors.claims_landing import build_claims_landing_sensor

    deployment = current_deployment()
    defs = Definitions(
        assets=build_assets(deployment.synthetic_feed, deployment.automation),
        jobs=build_jobs(deployment.synthetic_feed),
        schedules=[synthetic_daily_schedule] if deployment.synthetic_feed else [],
        sensors=[build_claims_landing_sensor("claims_job", running=deployment.sensor_running)],
        resources=deployment.resources(),
        # Every run executes its steps in one process, so it starts the Spark engine once (the multiprocess
        # default started a process and an engine per step). Steps still log, fail and retry on their own.
        executor=in_process_executor,
    )
