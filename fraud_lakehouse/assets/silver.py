"""Silver claims: typed, validated, de-duplicated and pseudonymised; every rejected row kept in quarantine."""

import datetime as dt

from dagster import (
    AssetCheckResult,
    AssetCheckSpec,
    AssetExecutionContext,
    AssetIn,
    AssetKey,
    AssetOut,
    Config,
    Output,
    multi_asset,
)
from pydantic import Field
from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from fraud_lakehouse.assets.bronze import LAKE_IO, SPARK, STEP_LAUNCHER
from fraud_lakehouse.claims.silver import (
    DEFAULT_AMOUNT_CAP,
    MAX_AMOUNT_CAP,
    ValidationRules,
    claim_candidates,
    file_formats,
    quarantine_candidates,
    quarantined_claims,
    silver_claims,
    validate,
)
from fraud_lakehouse.partitions import PARTITION_COLUMN, detection_date_partitions, spark_backfill_policy
from fraud_lakehouse.resources.lake_tables import LakeTables
from fraud_lakehouse.resources.pseudonyms import Pseudonymizer

SILVER = "silver"
LAKE = "lake"
PSEUDONYMIZER = "pseudonymizer"
CLAIMS_KEY = AssetKey([SILVER, "claims"])
QUARANTINE_KEY = AssetKey([SILVER, "claims_quarantine"])


class SilverClaimsConfig(Config):
    amount_cap: float = Field(
        default=DEFAULT_AMOUNT_CAP, gt=0, le=MAX_AMOUNT_CAP, description="amounts at or above go to quarantine"
    )


SILVER_OUTS = {
    "claims": AssetOut(
        key=CLAIMS_KEY,
        io_manager_key=LAKE_IO,
        description="Valid claims of every source in the canonical claim model; card numbers and patient ids "
        "as keyed hashes, no SSN.",
        kinds={"spark", "delta"},
    ),
    "claims_quarantine": AssetOut(
        key=QUARANTINE_KEY,
        io_manager_key=LAKE_IO,
        description="Rejected rows with their raw values (pseudonymised), source file, row number and reasons.",
        kinds={"spark", "delta"},
    ),
}
SILVER_CHECKS = [
    AssetCheckSpec(
        "rows_balance",
        asset=CLAIMS_KEY,
        blocking=True,
        description="rows in (claims_raw + transactions) = rows in silver + rows in quarantine",
    ),
    AssetCheckSpec(
        "no_null_keys",
        asset=CLAIMS_KEY,
        blocking=True,
        description="claim_id, customer_key, provider_id and detection_date are never NULL",
    ),
    AssetCheckSpec(
        "unique_claim_id", asset=CLAIMS_KEY, blocking=True, description="a claim id appears once per detection date"
    ),
]
SILVER_ASSET = {
    "name": "silver_claims",
    "outs": SILVER_OUTS,
    "check_specs": SILVER_CHECKS,
    "partitions_def": detection_date_partitions,
    "backfill_policy": spark_backfill_policy,
    "group_name": SILVER,
    "required_resource_keys": {SPARK, LAKE, PSEUDONYMIZER, STEP_LAUNCHER},
}


def build_silver_claims(synthetic_feed: bool):  # type: ignore[no-untyped-def]
    """silver/claims and its quarantine, from the landed claims, and from the synthetic transactions when the
    deployment has the synthetic feed (a claims-only deployment needs no synthetic table at all)."""
    if not synthetic_feed:

        @multi_asset(ins={"claims_raw": AssetIn(key=["bronze", "claims_raw"])}, **SILVER_ASSET)
        def silver_claims(context: AssetExecutionContext, config: SilverClaimsConfig, claims_raw: DataFrame):
            yield from _silver(context, config, claims_raw, None, None)

        return silver_claims

    @multi_asset(
        ins={
            "claims_raw": AssetIn(key=["bronze", "claims_raw"]),
            "transactions": AssetIn(key=["bronze", "transactions"]),
            "customers": AssetIn(key=["bronze", "customers"]),
        },
        **SILVER_ASSET,
    )
    def silver_claims_with_synthetic(
        context: AssetExecutionContext,
        config: SilverClaimsConfig,
        claims_raw: DataFrame,
        transactions: DataFrame,
        customers: DataFrame,
    ):
        yield from _silver(context, config, claims_raw, transactions, customers)

    return silver_claims_with_synthetic


def _silver(
    context: AssetExecutionContext,
    config: SilverClaimsConfig,
    claims_raw: DataFrame,
    transactions: DataFrame | None,
    customers: DataFrame | None,
):
    pseudonymizer: Pseudonymizer = context.resources.pseudonymizer
    lake: LakeTables = context.resources.lake
    secret = pseudonymizer.secret()
    rules = ValidationRules(amount_cap=config.amount_cap, today=dt.datetime.now(dt.UTC).date())
    formats = file_formats(claims_raw)
    candidates = claim_candidates(claims_raw, secret, formats, transactions, customers)
    metadata = {**pseudonymizer.metadata(), "amount_cap": config.amount_cap}
    yield Output(silver_claims(validate(candidates, rules)), output_name="claims", metadata=metadata)

    # Quarantine is every input row that silver did not take: only those are typed and checked again, with
    # the same formats and rules (a row that passes every check is a later copy of a claim id).
    window = context.partition_time_window
    start, end = window.start.date(), window.end.date()
    written = lake.read_window(SILVER, "claims", start, end)
    rest = quarantine_candidates(claims_raw, written, secret, formats, transactions, customers)
    yield Output(quarantined_claims(validate(rest, rules, later_copies=True)), output_name="claims_quarantine")

    # The checks read back what was written, so they test the tables, not the plan.
    quarantine = lake.read_window(SILVER, "claims_quarantine", start, end)
    rows_in = claims_raw.count() + (transactions.count() if transactions is not None else 0)
    rows_silver, rows_quarantine = written.count(), quarantine.count()
    yield AssetCheckResult(
        check_name="rows_balance",
        asset_key=CLAIMS_KEY,
        passed=rows_in == rows_silver + rows_quarantine,
        metadata={"rows_in": rows_in, "rows_silver": rows_silver, "rows_quarantine": rows_quarantine},
        description=f"{rows_in} in, {rows_silver} silver + {rows_quarantine} quarantine",
    )
    null_keys = written.where(
        F.col("claim_id").isNull()
        | F.col("customer_key").isNull()
        | F.col("provider_id").isNull()
        | F.col(PARTITION_COLUMN).isNull()
    ).count()
    yield AssetCheckResult(
        check_name="no_null_keys",
        asset_key=CLAIMS_KEY,
        passed=null_keys == 0,
        metadata={"rows_with_null_keys": null_keys},
    )
    repeated = written.groupBy(PARTITION_COLUMN, "claim_id").count().where(F.col("count") > 1).count()
    yield AssetCheckResult(
        check_name="unique_claim_id",
        asset_key=CLAIMS_KEY,
        passed=repeated == 0,
        metadata={"repeated_claim_ids": repeated},
    )
