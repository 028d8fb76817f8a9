"""Gold tables as pure DataFrame functions: scored claims, provider risk, fraud by rule, detection quality."""

from __future__ import annotations

import datetime as dt

from pyspark.sql import Column, DataFrame, Window
from pyspark.sql import functions as F

from fraud_lakehouse.detection.common import cents, round_half_up
from fraud_lakehouse.detection.config import DetectionConfig
from fraud_lakehouse.detection.duplicates import duplicate_of
from fraud_lakehouse.detection.features import with_features
from fraud_lakehouse.detection.scoring import (
    RULES,
    Rule,
    fraud_score,
    risk_level,
    rule_hit_mask,
    rules_triggered,
    with_rule_flags,
)
from fraud_lakehouse.partitions import PARTITION_COLUMN, window_predicate

FLAGGED_CLAIM_COLUMNS = (
    "claim_id",
    "customer_key",
    "provider_id",
    "provider_name",
    "procedure",
    "service_ts",
    "service_date",
    "amount",
    "channel",
    "source",
    "source_file",
    "row_number",
)


def flag_claims(
    claims: DataFrame, window: tuple[dt.date, dt.date], config: DetectionConfig, rules: tuple[Rule, ...] = RULES
) -> DataFrame:
    """Score the claims of the window; ``claims`` also holds the look-back days the rules compare with.

    Every column of the claims goes through the rules: the per-customer pass
    shuffles them once, which measured faster on Sail than running the rules
    on the rule columns and joining the rest back on the row key (2 M claims:
    4.6 s against 5.1 s, median of 5).
    """
    features = with_features(claims, config, keep=window_predicate(*window))
    current = with_rule_flags(features, config, rules).withColumn("__rule_hits", rule_hit_mask(rules))
    score = fraud_score(rules)
    return current.select(
        *FLAGGED_CLAIM_COLUMNS,
        *[F.col(rule.column) for rule in rules],
        score.alias("fraud_score"),
        risk_level(score, config).alias("risk_level"),
        rules_triggered(F.col("__rule_hits"), rules).alias("rules_triggered"),
        (F.col("rule_exact_duplicate") | F.col("rule_near_duplicate")).alias("is_duplicate"),
        duplicate_of().alias("duplicate_of"),
        "is_fraud",
        F.lit(config.version()).alias("detection_config_version"),
        PARTITION_COLUMN,
    )


def _money_sum(amount: Column) -> Column:
    return F.sum(cents(amount)) / 100


def _mean_score(score: Column) -> Column:
    return round_half_up(F.sum(F.floor(score * 10000 + 0.5).cast("bigint")) / F.count(score) / 10000, 4)


def provider_risk(flagged: DataFrame) -> DataFrame:
    """Per provider and day: volumes, flags, high-risk claims, amounts, and the provider's risk rank that day."""
    flagged_claim = F.size("rules_triggered") > 0
    high = F.col("risk_level") == "high"
    per_provider = flagged.groupBy(PARTITION_COLUMN, "provider_id").agg(
        # A provider billed under several names that day gets the first of them in name order: `first` would
        # pick whichever row an engine's partitioning met first, and a re-run could name it differently.
        F.min("provider_name").alias("provider_name"),
        F.count("*").alias("claims"),
        F.sum(flagged_claim.cast("long")).alias("flagged_claims"),
        F.sum(high.cast("long")).alias("high_risk_claims"),
        _mean_score(F.col("fraud_score")).alias("mean_fraud_score"),
        _money_sum(F.col("amount")).alias("total_amount"),
        _money_sum(F.when(flagged_claim, F.col("amount")).otherwise(F.lit(0.0))).alias("flagged_amount"),
    )
    rank_order = Window.partitionBy(PARTITION_COLUMN).orderBy(
        F.col("high_risk_claims").desc(), F.col("mean_fraud_score").desc(), F.col("provider_id")
    )
    return per_provider.select(
        PARTITION_COLUMN,
        "provider_id",
        "provider_name",
        "claims",
        "flagged_claims",
        "high_risk_claims",
        round_half_up(F.col("flagged_claims") / F.col("claims"), 4).alias("flag_rate"),
        "mean_fraud_score",
        "total_amount",
        "flagged_amount",
        F.row_number().over(rank_order).alias("risk_rank"),
    )


def fraud_by_rule(flagged: DataFrame, rules: tuple[Rule, ...] = RULES) -> DataFrame:
    """Per rule and day: claims it flagged, their amount, and how many of them are labelled fraud.

    One pass over ``rules_triggered`` (a filtered copy of the table per rule
    read it 20 times: 0.84 s on 2 M claims on Sail).
    """
    family_of = F.create_map(*[F.lit(value) for rule in rules for value in (rule.name, rule.family)])
    hits = flagged.select(PARTITION_COLUMN, F.explode("rules_triggered").alias("rule"), "amount", "is_fraud").where(
        F.col("rule").isin([rule.name for rule in rules])
    )
    return hits.groupBy(PARTITION_COLUMN, "rule", F.element_at(family_of, F.col("rule")).alias("family")).agg(
        F.count("*").alias("claims"),
        _money_sum(F.col("amount")).alias("amount"),
        F.sum(F.coalesce(F.col("is_fraud"), F.lit(0))).cast("long").alias("labelled_fraud"),
    )


# What a quality row says when it cannot give a figure: a source whose claims carry no label, or a day whose
# labelled claims are all of one class (an AUC needs both).
NO_LABELS = "no labels"
NO_POSITIVES = "no positives"
NO_NEGATIVES = "no negatives"
QUALITY_KEY = (PARTITION_COLUMN, "source")


def detection_quality(flagged: DataFrame) -> DataFrame:
    """Per day and source (each landed layout, and the synthetic feed apart): claims, labelled claims,
    positives, precision/recall/F1 of the high risk level, ROC-AUC and PR-AUC, over the labelled claims.

    A source with no labelled claims that day has ``status`` "no labels" and no figures; a day whose labelled
    claims are all negative (or all positive) has no AUC. AUCs are exact, with tied scores handled as one
    threshold: ROC-AUC is the Mann-Whitney statistic (a tie counts one half); PR-AUC is average precision
    (precision at each score, weighted by the positives it adds).
    """
    labelled_claim = F.col("is_fraud").isNotNull()
    positive = labelled_claim & (F.col("is_fraud") == 1)
    predicted = labelled_claim & (F.col("risk_level") == "high")
    counts = flagged.groupBy(*QUALITY_KEY).agg(
        F.max("detection_config_version").alias("detection_config_version"),
        F.count("*").alias("claims"),
        F.sum(labelled_claim.cast("long")).alias("labelled_claims"),
        F.sum(positive.cast("long")).alias("positives"),
        F.sum(predicted.cast("long")).alias("predicted_high"),
        F.sum((positive & predicted).cast("long")).alias("true_positives"),
    )
    labelled = flagged.where(labelled_claim)
    is_positive = F.col("is_fraud") == 1
    by_score = labelled.groupBy(*QUALITY_KEY, "fraud_score").agg(
        F.sum(is_positive.cast("long")).alias("pos"), F.sum((~is_positive).cast("long")).alias("neg")
    )
    ascending = Window.partitionBy(*QUALITY_KEY).orderBy("fraud_score").rowsBetween(Window.unboundedPreceding, -1)
    descending = (
        Window.partitionBy(*QUALITY_KEY).orderBy(F.col("fraud_score").desc()).rowsBetween(Window.unboundedPreceding, 0)
    )
    ranked = by_score.select(
        *QUALITY_KEY,
        "pos",
        "neg",
        F.coalesce(F.sum("neg").over(ascending), F.lit(0)).alias("neg_below"),
        F.sum("pos").over(descending).alias("tp_at"),
        F.sum("neg").over(descending).alias("fp_at"),
    )
    areas = ranked.groupBy(*QUALITY_KEY).agg(
        F.sum(F.col("pos") * (F.col("neg_below") + 0.5 * F.col("neg"))).alias("__roc_numerator"),
        F.sum(F.col("pos") * F.col("tp_at") / (F.col("tp_at") + F.col("fp_at"))).alias("__ap_numerator"),
    )
    joined = counts.join(areas, list(QUALITY_KEY), "left")
    labelled_count = F.col("labelled_claims")
    positives, negatives = F.col("positives"), labelled_count - F.col("positives")
    precision = F.when(F.col("predicted_high") > 0, F.col("true_positives") / F.col("predicted_high"))
    recall = F.when(positives > 0, F.col("true_positives") / positives)
    both = precision.isNotNull() & recall.isNotNull()
    f1 = F.when(both & ((precision + recall) > 0), 2 * precision * recall / (precision + recall)).when(
        recall.isNotNull(), F.lit(0.0)
    )
    status = (
        F.when(labelled_count == 0, F.lit(NO_LABELS))
        .when(positives == 0, F.lit(NO_POSITIVES))
        .when(negatives == 0, F.lit(NO_NEGATIVES))
        .otherwise(F.lit("ok"))
    )
    return joined.select(
        PARTITION_COLUMN,
        "source",
        "claims",
        "labelled_claims",
        F.when(labelled_count > 0, positives).alias("positives"),
        F.when(labelled_count > 0, F.col("predicted_high")).alias("predicted_high"),
        F.when(labelled_count > 0, F.col("true_positives")).alias("true_positives"),
        round_half_up(precision, 4).alias("precision"),
        round_half_up(recall, 4).alias("recall"),
        round_half_up(f1, 4).alias("f1"),
        round_half_up(
            F.when((positives > 0) & (negatives > 0), F.col("__roc_numerator") / (positives * negatives)), 4
        ).alias("roc_auc"),
        round_half_up(F.when(positives > 0, F.col("__ap_numerator") / positives), 4).alias("pr_auc"),
        status.alias("status"),
        "detection_config_version",
    )
