"""Gold: every claim scored, provider risk, fraud by rule, and detection quality against the labels."""

import datetime as dt

from dagster import (
    AssetCheckResult,
    AssetCheckSeverity,
    AssetCheckSpec,
    AssetDep,
    AssetExecutionContext,
    AssetIn,
    Config,
    MetadataValue,
    Output,
    TimeWindowPartitionMapping,
    asset,
)
from pydantic import Field
from pyspark.sql import DataFrame

from fraud_lakehouse.assets.bronze import LAKE_IO, SPARK, STEP_LAUNCHER
from fraud_lakehouse.assets.silver import CLAIMS_KEY, LAKE, SILVER
from fraud_lakehouse.claims.model import SYNTHETIC
from fraud_lakehouse.detection import gold
from fraud_lakehouse.detection.config import DEFAULT_LOOKBACK_DAYS, DetectionConfig
from fraud_lakehouse.detection.gold import NO_LABELS
from fraud_lakehouse.detection.scoring import RULES
from fraud_lakehouse.partitions import detection_date_partitions, spark_backfill_policy
from fraud_lakehouse.resources.lake_tables import LakeTables

GOLD = "gold"
FLAGGED_CLAIMS = AssetIn(key=[GOLD, "flagged_claims"])

GOLD_SPARK_ASSET = {
    "key_prefix": [GOLD],
    "group_name": GOLD,
    "io_manager_key": LAKE_IO,
    "partitions_def": detection_date_partitions,
    "backfill_policy": spark_backfill_policy,
    "kinds": {"spark", "delta"},
}


@asset(
    name="flagged_claims",
    # Gold reads its days and the look-back days before them: declared, so re-running an earlier silver day
    # marks the gold days that read it as stale.
    deps=[
        AssetDep(
            CLAIMS_KEY, partition_mapping=TimeWindowPartitionMapping(start_offset=-DEFAULT_LOOKBACK_DAYS, end_offset=0)
        )
    ],
    required_resource_keys={SPARK, LAKE, STEP_LAUNCHER},
    description="Every silver claim scored: one flag per rule, fraud_score in [0, 1], risk_level, "
    "rules_triggered, duplicates and the label passed through. Rules read the look-back days of silver claims.",
    **GOLD_SPARK_ASSET,
)
def flagged_claims(context: AssetExecutionContext, config: DetectionConfig) -> DataFrame:
    lake: LakeTables = context.resources.lake
    window = context.partition_time_window
    start, end = window.start.date(), window.end.date()
    # One read covers the run's days and the look-back the history rules compare with.
    claims = lake.read_window(SILVER, "claims", start - dt.timedelta(days=config.lookback_days), end)
    context.add_output_metadata(
        {
            "detection_config_version": config.version(),
            "lookback_days": config.lookback_days,
            "rules": MetadataValue.md(
                "| rule | family | weight (insurance) | weight (card) | what |\n|---|---|---|---|---|\n"
                + "\n".join(
                    f"| {r.name} | {r.family} | {r.weights.insurance} | {r.weights.card} | {r.description} |"
                    for r in RULES
                )
            ),
        }
    )
    return gold.flag_claims(claims, (start, end), config)


@asset(
    name="provider_risk",
    ins={"flagged_claims": FLAGGED_CLAIMS},
    required_resource_keys={SPARK, STEP_LAUNCHER},
    description="Per provider and day: claims, flagged and high-risk claims, flag rate, mean score, total and "
    "flagged amount, and the provider's risk rank that day.",
    **GOLD_SPARK_ASSET,
)
def provider_risk(context: AssetExecutionContext, flagged_claims: DataFrame) -> DataFrame:
    return gold.provider_risk(flagged_claims)


@asset(
    name="fraud_by_rule",
    ins={"flagged_claims": FLAGGED_CLAIMS},
    required_resource_keys={SPARK, STEP_LAUNCHER},
    description="Per rule and day: claims the rule flagged, their amount, and how many carry a fraud label.",
    **GOLD_SPARK_ASSET,
)
def fraud_by_rule(context: AssetExecutionContext, flagged_claims: DataFrame) -> DataFrame:
    return gold.fraud_by_rule(flagged_claims)


class DetectionQualityConfig(Config):
    roc_auc_floor: float = Field(default=0.9, ge=0, le=1, description="the quality check warns below it")


@asset(
    name="detection_quality",
    ins={"flagged_claims": FLAGGED_CLAIMS},
    required_resource_keys={SPARK, STEP_LAUNCHER},
    check_specs=[
        AssetCheckSpec(
            "roc_auc_floor",
            asset=[GOLD, "detection_quality"],
            description="ROC-AUC of fraud_score on the user's labelled claims (every landed layout that carries a "
            "label; the synthetic feed is reported, not judged), per day and source, at or above the floor",
        )
    ],
    description="Per day and source (each landed layout; the synthetic feed apart): claims, labelled claims, "
    "positives, precision, recall and F1 at the high-risk threshold, ROC-AUC and PR-AUC of fraud_score; "
    "status says when there is no figure (no labels, no positives).",
    **GOLD_SPARK_ASSET,
)
def detection_quality(context: AssetExecutionContext, config: DetectionQualityConfig, flagged_claims: DataFrame):
    quality = gold.detection_quality(flagged_claims)
    rows = quality.orderBy("detection_date", "source").collect()
    yield Output(quality, metadata={"days": len({row["detection_date"] for row in rows}), "rows": len(rows)})
    # The synthetic feed's fraud was written beside the rules: its figure says little about the user's claims.
    judged = [row for row in rows if row["source"] != SYNTHETIC and row["roc_auc"] is not None]
    below = [row for row in judged if row["roc_auc"] < config.roc_auc_floor]
    unlabelled = sorted({row["source"] for row in rows if row["source"] != SYNTHETIC and row["status"] == NO_LABELS})
    yield AssetCheckResult(
        check_name="roc_auc_floor",
        passed=not below,
        severity=AssetCheckSeverity.WARN,
        metadata={
            "floor": config.roc_auc_floor,
            "judged": f"{len(judged)} day(s) of labelled user claims"
            if judged
            else "nothing: no labelled user claims with both classes in these days",
            "days_below": ", ".join(f"{r['detection_date']} {r['source']} ({r['roc_auc']})" for r in below) or "none",
            "min_roc_auc": min((row["roc_auc"] for row in judged), default=float("nan")),
            "sources_without_labels": ", ".join(unlabelled) or "none",
        },
    )
