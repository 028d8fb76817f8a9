"""What each deployment runs and with which resources, chosen in one place.

``FRAUD_LAKEHOUSE_DEPLOYMENT`` selects the profile. ``local`` (the default)
runs Spark on the engine from ``FRAUD_LAKEHOUSE_ENGINE`` (embedded Sail unless
set) with no step launcher, the lake under ``FRAUD_LAKEHOUSE_LAKE_ROOT``
(default ``$DAGSTER_HOME/.lakehouse/lake``) and the synthetic feed on. The
production profile (EMR step launcher, S3 lake) is added with the EMR issue.

``FRAUD_LAKEHOUSE_SYNTHETIC_FEED`` (``on`` / ``off``) overrides whether the
deployment generates synthetic customers and transactions beside the landed
claims: off, the graph is the claims path alone and nothing synthetic is
generated, read or mixed into gold. ``FRAUD_LAKEHOUSE_AUTOMATION=on`` lets
Dagster bring stale silver and gold days up to date by itself.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from dagster import EnvVar, ResourceDefinition
from dagster_aws.s3 import S3Resource

from fraud_lakehouse.claims.privacy import DEVELOPMENT_KEY, KEY_ENV
from fraud_lakehouse.resources.delta_io import DeltaLakeIOManager
from fraud_lakehouse.resources.lake import default_lake_root
from fraud_lakehouse.resources.lake_tables import LakeTables
from fraud_lakehouse.resources.landing import ClaimsLanding
from fraud_lakehouse.resources.pseudonyms import Pseudonymizer
from fraud_lakehouse.resources.spark import SparkEngine
from fraud_lakehouse.resources.synthetic import SyntheticData
from fraud_lakehouse.storage.s3 import endpoint_url

DEPLOYMENT_ENV = "FRAUD_LAKEHOUSE_DEPLOYMENT"
SYNTHETIC_FEED_ENV = "FRAUD_LAKEHOUSE_SYNTHETIC_FEED"
AUTOMATION_ENV = "FRAUD_LAKEHOUSE_AUTOMATION"


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


def _switch(name: str, default: bool) -> bool:
    text = os.environ.get(name, "").strip().lower()
    if not text:
        return default
    if text in ("on", "true", "1", "yes"):
        return True
    if text in ("off", "false", "0", "no"):
        return False
    raise ValueError(f"{name}={text!r}: use on or off")


PROFILES = {"local": (local_resources, True)}


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
    )


def resources_for_deployment(deployment: str | None = None) -> dict[str, Any]:
    return current_deployment(deployment).resources()
