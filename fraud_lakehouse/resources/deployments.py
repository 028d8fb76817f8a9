"""Resources for each deployment, chosen in one place.

``FRAUD_LAKEHOUSE_DEPLOYMENT`` selects the profile. ``local`` (the default)
runs Spark on the engine from ``FRAUD_LAKEHOUSE_ENGINE`` (embedded Sail unless
set) with no step launcher and the lake under ``FRAUD_LAKEHOUSE_LAKE_ROOT``
(default ``$DAGSTER_HOME/lake``). The production profile (EMR step launcher,
S3 lake) is added with the EMR issue.
"""

from __future__ import annotations

import os
from typing import Any

from dagster import EnvVar, ResourceDefinition

from fraud_lakehouse.claims.privacy import DEVELOPMENT_KEY, KEY_ENV
from fraud_lakehouse.resources.delta_io import DeltaLakeIOManager
from fraud_lakehouse.resources.lake import default_lake_root
from fraud_lakehouse.resources.lake_tables import LakeTables
from fraud_lakehouse.resources.landing import ClaimsLanding
from fraud_lakehouse.resources.pseudonyms import Pseudonymizer
from fraud_lakehouse.resources.spark import SparkEngine
from fraud_lakehouse.resources.synthetic import SyntheticData

DEPLOYMENT_ENV = "FRAUD_LAKEHOUSE_DEPLOYMENT"


def local_resources() -> dict[str, Any]:
    spark = SparkEngine()
    lake_root = default_lake_root()
    return {
        "spark": spark,
        "lake_io_manager": DeltaLakeIOManager(spark=spark, lake_root=lake_root),
        "lake": LakeTables(spark=spark, lake_root=lake_root),
        "landing": ClaimsLanding(),
        # The key comes from the environment, bound as an EnvVar so Dagster shows the
        # variable's name, never its value; without it, the labelled development key.
        # A variable set to nothing or blanks is bound too, and refused when used: never a silent fallback.
        "pseudonymizer": Pseudonymizer(key=EnvVar(KEY_ENV) if KEY_ENV in os.environ else DEVELOPMENT_KEY),
        "synthetic": SyntheticData(),
        "pyspark_step_launcher": ResourceDefinition.none_resource(
            description="no step launcher: steps run in the run's process"
        ),
    }


RESOURCES_BY_DEPLOYMENT = {"local": local_resources}


def resources_for_deployment(deployment: str | None = None) -> dict[str, Any]:
    name = deployment or os.environ.get(DEPLOYMENT_ENV, "local")
    if name not in RESOURCES_BY_DEPLOYMENT:
        raise ValueError(
            f"{DEPLOYMENT_ENV}={name!r} is not a deployment; choose one of {', '.join(RESOURCES_BY_DEPLOYMENT)}"
        )
    return RESOURCES_BY_DEPLOYMENT[name]()
