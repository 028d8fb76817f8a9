"""What each deployment runs and with which resources, chosen in one place.

``FRAUD_LAKEHOUSE_DEPLOYMENT`` selects the profile. ``local`` (the default)
runs Spark on the engine from ``FRAUD_LAKEHOUSE_ENGINE`` (embedded Sail unless
set) with no step launcher, the lake under ``FRAUD_LAKEHOUSE_LAKE_ROOT``
(default ``$DAGSTER_HOME/.lakehouse/lake``) and the synthetic feed on.

``prod`` runs every step on an EMR 7 cluster through the EMR step launcher
(``resources/emr.py``), with the lake and the landing area on S3 and the
synthetic feed off. Every setting is read and checked on the Dagster host
(``ProdSettings``, each error naming its variable) and handed to the step's
driver, so the cluster builds the same resources and never falls back to a
local default.

``FRAUD_LAKEHOUSE_SYNTHETIC_FEED`` (``on`` / ``off``) overrides whether the
deployment generates synthetic customers and transactions beside the landed
claims: off, the graph is the claims path alone and nothing synthetic is
generated, read or mixed into gold. ``FRAUD_LAKEHOUSE_AUTOMATION=on`` lets
Dagster bring stale silver and gold days up to date by itself.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from dagster import EnvVar, ResourceDefinition
from dagster_aws.s3 import S3Resource

from fraud_lakehouse.claims.privacy import DEVELOPMENT_KEY, KEY_ENV
from fraud_lakehouse.partitions import START_DATE_ENV, partitions_start_date
from fraud_lakehouse.resources.delta_io import DeltaLakeIOManager
from fraud_lakehouse.resources.lake import default_lake_root
from fraud_lakehouse.resources.lake_tables import LakeTables
from fraud_lakehouse.resources.landing import ClaimsLanding
from fraud_lakehouse.resources.pseudonyms import Pseudonymizer
from fraud_lakehouse.resources.spark import ENGINE_ENV, SparkEngine
from fraud_lakehouse.resources.synthetic import SyntheticData
from fraud_lakehouse.storage import is_s3
from fraud_lakehouse.storage.s3 import endpoint_url

DEPLOYMENT_ENV = "FRAUD_LAKEHOUSE_DEPLOYMENT"
SYNTHETIC_FEED_ENV = "FRAUD_LAKEHOUSE_SYNTHETIC_FEED"
AUTOMATION_ENV = "FRAUD_LAKEHOUSE_AUTOMATION"
# whether claims_landing_sensor runs without being started (on in prod, off locally)
SENSOR_ENV = "FRAUD_LAKEHOUSE_SENSOR"


def s3_resource() -> S3Resource:
    """dagster-aws's S3 client resource, on the endpoint and region of the AWS variables (credentials from the
    environment or the host's role, never from code)."""
    region = os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION")
    return S3Resource(endpoint_url=endpoint_url(), region_name=region)


def local_resources() -> dict[str, Any]:
    spark = SparkEngine()
    lake_root = default_lake_root()
    return {
        "spark": spark,
        "lake_io_manager": DeltaLakeIOManager(spark=spark, lake_root=lake_root),
        "lake": LakeTables(spark=spark, lake_root=lake_root),
        "landing": ClaimsLanding(),
        "s3": s3_resource(),
        # The key comes from the environment, bound as an EnvVar so Dagster shows the variable's name, never its
        # value; without it, the labelled development key. A variable set to nothing or blanks is bound too, and
        # refused when used: never a silent fallback.
        "pseudonymizer": Pseudonymizer(key=EnvVar(KEY_ENV) if KEY_ENV in os.environ else DEVELOPMENT_KEY),
        "synthetic": SyntheticData(),
        "pyspark_step_launcher": ResourceDefinition.none_resource(
            description="no step launcher: steps run in the run's process"
        ),
    }


@dataclass(frozen=True)
class Deployment:
    name: str
    resources: Callable[[], dict[str, Any]]
    synthetic_feed: bool
    automation: bool = False
    # production starts watching the landing area when deployed (it replaces an S3 event rule); a laptop on demand
    sensor_running: bool = False


def _switch(name: str, default: bool) -> bool:
    text = os.environ.get(name, "").strip().lower()
    if not text:
        return default
    if text in ("on", "true", "1", "yes"):
        return True
    if text in ("off", "false", "0", "no"):
        return False
    raise ValueError(f"{name}={text!r}: use on or off")


# -- production ---------------------------------------------------------------------------------------------

CLUSTER_ENV = "FRAUD_LAKEHOUSE_EMR_CLUSTER_ID"
STAGING_BUCKET_ENV = "FRAUD_LAKEHOUSE_EMR_STAGING_BUCKET"
STAGING_PREFIX_ENV = "FRAUD_LAKEHOUSE_EMR_STAGING_PREFIX"
POLL_ENV = "FRAUD_LAKEHOUSE_EMR_POLL_SECONDS"
KEY_PARAMETER_ENV = "FRAUD_LAKEHOUSE_PSEUDONYM_KEY_PARAMETER"
REGION_PATTERN = re.compile(r"^[a-z]{2}(-gov|-iso[a-z]*)?-[a-z]+-[0-9]$")
CLUSTER_PATTERN = re.compile(r"^j-[A-Z0-9]{8,16}$")
# Spark settings of every step on EMR 7: Python 3.11 for the driver and the executors, Delta through the session
# (the cluster enables Delta with its delta-defaults classification), UTC.
EMR_SPARK_CONFIG = {
    "spark": {
        "pyspark": {"python": "python3.11", "driver": {"python": "python3.11"}},
        "sql": {
            "extensions": "io.delta.sql.DeltaSparkSessionExtension",
            "catalog": {"spark_catalog": "org.apache.spark.sql.delta.catalog.DeltaCatalog"},
            "session": {"timeZone": "UTC"},
        },
        "submit": {"deployMode": "client"},
    }
}


class ProdSettingError(ValueError):
    """A production setting that is missing or wrong; the message names the variable."""


@dataclass(frozen=True)
class ProdSettings:
    cluster_id: str
    region: str
    staging_bucket: str
    staging_prefix: str
    lake_root: str
    landing: str
    engine: str
    key_parameter: str
    poll_interval_s: float

    @classmethod
    def from_environment(cls) -> ProdSettings:
        def required(name: str, meaning: str) -> str:
            value = os.environ.get(name, "").strip()
            if not value:
                raise ProdSettingError(f"{name} is not set: {meaning}")
            return value

        cluster_id = required(CLUSTER_ENV, "the id of the EMR cluster that runs the steps (j-...)")
        if not CLUSTER_PATTERN.match(cluster_id):
            raise ProdSettingError(f"{CLUSTER_ENV}={cluster_id!r} is not an EMR cluster id (j- and 8-16 letters)")
        region = os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION") or ""
        if not REGION_PATTERN.match(region):
            raise ProdSettingError(f"AWS_REGION={region!r} is not an AWS region (like eu-west-1)")
        lake_root = required("FRAUD_LAKEHOUSE_LAKE_ROOT", "the lake on S3 (s3://bucket/prefix)")
        landing = required("FRAUD_LAKEHOUSE_LANDING", "the landing area on S3 (s3://bucket/claims)")
        for name, value in (("FRAUD_LAKEHOUSE_LAKE_ROOT", lake_root), ("FRAUD_LAKEHOUSE_LANDING", landing)):
            if not is_s3(value):
                raise ProdSettingError(f"{name}={value!r}: the cluster and the host both read it, so it is on S3")
        poll = os.environ.get(POLL_ENV, "15")
        try:
            poll_interval_s = float(poll)
        except ValueError:
            raise ProdSettingError(f"{POLL_ENV}={poll!r} is not a number of seconds") from None
        return cls(
            cluster_id=cluster_id,
            region=region,
            staging_bucket=required(STAGING_BUCKET_ENV, "the S3 bucket the step launcher stages steps in"),
            staging_prefix=os.environ.get(STAGING_PREFIX_ENV, "emr-staging").strip("/") or "emr-staging",
            lake_root=lake_root,
            landing=landing,
            engine=os.environ.get(ENGINE_ENV, "emr"),
            key_parameter=required(KEY_PARAMETER_ENV, "the SSM parameter (SecureString) of the pseudonymisation key"),
            poll_interval_s=poll_interval_s,
        )

    def step_env(self, synthetic_feed: bool) -> dict[str, str]:
        """What the host decided, as the environment of a step's driver on the cluster (no secret)."""
        env = {
            DEPLOYMENT_ENV: "prod",
            ENGINE_ENV: self.engine,
            "FRAUD_LAKEHOUSE_LAKE_ROOT": self.lake_root,
            "FRAUD_LAKEHOUSE_LANDING": self.landing,
            SYNTHETIC_FEED_ENV: "on" if synthetic_feed else "off",
            START_DATE_ENV: partitions_start_date().isoformat(),
            CLUSTER_ENV: self.cluster_id,
            STAGING_BUCKET_ENV: self.staging_bucket,
            STAGING_PREFIX_ENV: self.staging_prefix,
            "AWS_REGION": self.region,
        }
        env[KEY_PARAMETER_ENV] = self.key_parameter
        return env


def prod_resources() -> dict[str, Any]:
    from fraud_lakehouse.resources.emr import EmrStepLauncher

    settings = ProdSettings.from_environment()
    spark = SparkEngine(engine=settings.engine)
    launcher = EmrStepLauncher(
        step_env=settings.step_env(_switch(SYNTHETIC_FEED_ENV, False)),
        poll_interval_s=settings.poll_interval_s,
        region_name=settings.region,
        staging_bucket=settings.staging_bucket,
        staging_prefix=settings.staging_prefix,
        cluster_id=settings.cluster_id,
        spark_config=EMR_SPARK_CONFIG,
        key_parameter=settings.key_parameter,
    )
    return {
        "spark": spark,
        "lake_io_manager": DeltaLakeIOManager(spark=spark, lake_root=settings.lake_root),
        "lake": LakeTables(spark=spark, lake_root=settings.lake_root),
        "landing": ClaimsLanding(root=settings.landing),
        "s3": s3_resource(),
        # production has no development key: the key is the environment's, or nothing runs
        "pseudonymizer": Pseudonymizer(key=EnvVar(KEY_ENV)),
        "synthetic": SyntheticData(),
        "pyspark_step_launcher": ResourceDefinition.hardcoded_resource(
            launcher, "Dagster's EMR PySpark step launcher: every step runs on the EMR cluster"
        ),
    }


PROFILES = {"local": (local_resources, True), "prod": (prod_resources, False)}


def current_deployment(name: str | None = None) -> Deployment:
    chosen = name or os.environ.get(DEPLOYMENT_ENV, "local")
    if chosen not in PROFILES:
        raise ValueError(f"{DEPLOYMENT_ENV}={chosen!r} is not a deployment; choose one of {', '.join(PROFILES)}")
    resources, synthetic_default = PROFILES[chosen]
    return Deployment(
        name=chosen,
        resources=resources,
        synthetic_feed=_switch(SYNTHETIC_FEED_ENV, synthetic_default),
        automation=_switch(AUTOMATION_ENV, False),
        sensor_running=_switch(SENSOR_ENV, chosen == "prod"),
    )


def resources_for_deployment(deployment: str | None = None) -> dict[str, Any]:
    return current_deployment(deployment).resources()
