"""Bronze: synthetic card holders and their card transactions."""

import datetime as dt

from dagster import AssetExecutionContext, MetadataValue, asset
from pyspark.sql import DataFrame

from fraud_lakehouse.generator.spark import customers_from_ids, transactions_from_units, unit_count
from fraud_lakehouse.partitions import detection_date_partitions, spark_backfill_policy
from fraud_lakehouse.resources.spark import SparkEngine
from fraud_lakehouse.resources.synthetic import SyntheticData

BRONZE = "bronze"
LAKE_IO = "lake_io_manager"
# Bound to no launcher locally and to the EMR step launcher in production, so
# the same asset code runs on a laptop and on EMR.
STEP_LAUNCHER = "pyspark_step_launcher"
SPARK = "spark"
SYNTHETIC = "synthetic"


# What every bronze Spark asset shares. The single-run backfill policy also
# lets `dagster asset materialize --partition-range` take the unpartitioned
# customers along with the daily assets.
BRONZE_SPARK_ASSET = {
    "key_prefix": [BRONZE],
    "group_name": BRONZE,
    "io_manager_key": LAKE_IO,
    "required_resource_keys": {SPARK, SYNTHETIC, STEP_LAUNCHER},
    "backfill_policy": spark_backfill_policy,
    "kinds": {"spark", "delta"},
}


@asset(
    name="customers",
    **BRONZE_SPARK_ASSET,
    description="Synthetic card holders (Sparkov pattern): identity, home town, card, segment. Holds SSN and card "
    "numbers in clear text; nothing past bronze does.",
)
def customers(context: AssetExecutionContext) -> DataFrame:
    synthetic: SyntheticData = context.resources.synthetic
    spark: SparkEngine = context.resources.spark
    params = synthetic.params()  # fails on bad config before any Spark work
    partitions = synthetic.partitions()
    customer_ids = spark.spark_session.range(0, params.customers, 1, partitions)
    context.add_output_metadata(
        {"seed": params.seed, "epoch": params.epoch.isoformat(), "spark_partitions": partitions}
    )
    return customers_from_ids(customer_ids, params)


@asset(
    name="transactions",
    **BRONZE_SPARK_ASSET,
    deps=[customers],
    partitions_def=detection_date_partitions,
    description="Synthetic card transactions of the bronze customers, with the is_fraud label, one partition per "
    "detection_date (= transaction date, UTC).",
)
def transactions(context: AssetExecutionContext) -> DataFrame:
    synthetic: SyntheticData = context.resources.synthetic
    spark: SparkEngine = context.resources.spark
    params = synthetic.params()
    partitions = synthetic.partitions()
    window = context.partition_time_window
    first_day, last_day = window.start.date(), window.end.date() - dt.timedelta(days=1)
    units = spark.spark_session.range(0, unit_count(params, first_day, last_day), 1, partitions)
    context.add_output_metadata(
        {
            "seed": params.seed,
            "fraud_share": params.fraud_share,
            "days": MetadataValue.text(f"{first_day} .. {last_day}"),
            "spark_partitions": partitions,
        }
    )
    return transactions_from_units(units, params, first_day, last_day)
