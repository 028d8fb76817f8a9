"""Gold functions: the score, provider risk, fraud by rule and detection quality against hand-computed figures."""

import datetime as dt
import math
import random

import pytest
from pyspark.sql import functions as F

from fraud_lakehouse.claims.privacy import hmac_sha256, hmac_sha256_python
from fraud_lakehouse.detection import gold
from fraud_lakehouse.detection.config import DetectionConfig
from fraud_lakehouse.detection.scoring import CARD_SOURCES, RULES, fraud_score, risk_level

DAY = dt.date(2025, 1, 1)


def _flags(spark, hits: list[set[str]], source: str = "insurance"):
    names = [rule.name for rule in RULES]
    rows = [(source, *[name in hit for name in names]) for hit in hits]
    return spark.createDataFrame(rows, "source string, " + ", ".join(f"rule_{name} boolean" for name in names))


@pytest.mark.parametrize("source", ["insurance", "sparkov", "synthetic"])
def test_the_score_is_noisy_or_of_the_domains_weights(spark, source):
    domain = "card" if source in CARD_SOURCES else "insurance"
    weight = {rule.name: rule.weight(domain) for rule in RULES}
    cases = [{"exact_duplicate"}, {"amount_outlier", "amount_extreme"}, {"round_amount", "night_claim"},
             {"night_claim", "state_mismatch"}, set()]  # fmt: skip
    scored = _flags(spark, cases, source).select(fraud_score().alias("s"))
    expected = [round(1 - math.prod(1 - weight[name] for name in case), 4) for case in cases]
    assert [row.s for row in scored.collect()] == pytest.approx(expected, abs=1e-4)


def test_decisive_insurance_signals_reach_high_alone_and_weak_hints_stay_low(spark):
    cases = [{"exact_duplicate"}, {"amount_outlier", "amount_extreme"}, {"round_amount"}, {"new_provider_burst"},
             {"provider_procedure_volume"}, {"state_mismatch", "weekend_provider"}, set()]  # fmt: skip
    config = DetectionConfig()
    levels = [row.r for row in _flags(spark, cases).select(risk_level(fraud_score(), config).alias("r")).collect()]
    assert levels == ["high", "high", "high", "high", "high", "low", "low"]


def _reference_auc(labels: list[int], scores: list[float]) -> tuple[float, float]:
    positives = [s for s, y in zip(scores, labels, strict=True) if y]
    negatives = [s for s, y in zip(scores, labels, strict=True) if not y]
    roc = sum((p > n) + 0.5 * (p == n) for p in positives for n in negatives) / (len(positives) * len(negatives))
    ap = 0.0
    for threshold in sorted(set(positives), reverse=True):
        predicted = [y for s, y in zip(scores, labels, strict=True) if s >= threshold]
        ap += sum(1 for s in positives if s == threshold) * sum(predicted) / len(predicted)
    return roc, ap / len(positives)


QUALITY_INPUT = (
    "detection_date date, source string, is_fraud int, fraud_score double, risk_level string, "
    "detection_config_version string"
)


def test_detection_quality_matches_a_reference_computation(spark):
    rng = random.Random(3)
    labels = [int(rng.random() < 0.2) for _ in range(400)]
    scores = [round(min(1.0, max(0.0, rng.gauss(0.6 if y else 0.3, 0.2))), 1) for y in labels]  # many ties
    rows = [(DAY, "sparkov", y, s, "high" if s >= 0.7 else "low", "v1") for y, s in zip(labels, scores, strict=True)]
    flagged = spark.createDataFrame(rows, QUALITY_INPUT)
    quality = gold.detection_quality(flagged).first()
    assert quality.source == "sparkov" and quality.status == "ok" and quality.labelled_claims == 400
    roc, ap = _reference_auc(labels, scores)
    assert abs(quality.roc_auc - roc) < 1e-4 and abs(quality.pr_auc - ap) < 1e-4
    true_positives = sum(1 for y, s in zip(labels, scores, strict=True) if y and s >= 0.7)
    assert quality.true_positives == true_positives
    assert abs(quality.recall - true_positives / sum(labels)) < 1e-4
    assert abs(quality.precision - true_positives / sum(s >= 0.7 for s in scores)) < 1e-4


def test_detection_quality_is_per_source_and_says_when_it_has_no_figure(spark):
    rows = [
        # the synthetic feed and a user's labelled file on one day: judged apart
        *[(DAY, "synthetic", 1, 0.9, "high", "v1"), (DAY, "synthetic", 0, 0.1, "low", "v1")],
        *[(DAY, "insurance", 1, 0.2, "low", "v1"), (DAY, "insurance", 0, 0.8, "high", "v1")],
        # a file without a label column, and a labelled day with no fraud in it
        *[(DAY, "bronze", None, 0.9, "high", "v1"), (DAY + dt.timedelta(days=1), "sparkov", 0, 0.3, "low", "v1")],
    ]
    quality = {
        (row.detection_date, row.source): row
        for row in gold.detection_quality(spark.createDataFrame(rows, QUALITY_INPUT)).collect()
    }
    assert quality[(DAY, "synthetic")].roc_auc == 1.0 and quality[(DAY, "insurance")].roc_auc == 0.0
    unlabelled = quality[(DAY, "bronze")]
    assert (unlabelled.status, unlabelled.claims, unlabelled.labelled_claims) == ("no labels", 1, 0)
    assert unlabelled.roc_auc is None and unlabelled.precision is None and unlabelled.positives is None
    quiet = quality[(DAY + dt.timedelta(days=1), "sparkov")]
    assert quiet.status == "no positives" and quiet.roc_auc is None and quiet.pr_auc is None
    assert quiet.recall is None and quiet.positives == 0


def test_provider_risk_and_fraud_by_rule(spark):
    schema = (
        "detection_date date, provider_id string, provider_name string, amount double, fraud_score double, "
        "risk_level string, rules_triggered array<string>, is_fraud int, "
        + ", ".join(f"rule_{rule.name} boolean" for rule in RULES)
    )

    def row(provider, amount, score, level, rules, label):
        return (DAY, provider, provider, amount, score, level, rules, label, *[r.name in rules for r in RULES])

    flagged = spark.createDataFrame(
        [
            row("A", 100.0, 0.9, "high", ["exact_duplicate"], 1),
            row("A", 50.0, 0.1, "low", [], 0),
            row("B", 10.0, 0.5, "medium", ["night_claim", "exact_duplicate"], 0),
        ],
        schema,
    )
    risk = {r.provider_id: r for r in gold.provider_risk(flagged).collect()}
    assert (risk["A"].claims, risk["A"].flagged_claims, risk["A"].high_risk_claims, risk["A"].risk_rank) == (2, 1, 1, 1)
    assert (risk["A"].total_amount, risk["A"].flagged_amount, risk["A"].mean_fraud_score) == (150.0, 100.0, 0.5)
    assert risk["B"].flag_rate == 1.0 and risk["B"].risk_rank == 2
    by_rule = {r.rule: (r.claims, r.amount, r.labelled_fraud) for r in gold.fraud_by_rule(flagged).collect()}
    assert by_rule == {"exact_duplicate": (2, 110.0, 1), "night_claim": (1, 10.0, 0)}


def test_a_provider_billed_under_several_names_gets_the_same_name_whatever_the_row_order(spark):
    schema = (
        "detection_date date, provider_id string, provider_name string, amount double, fraud_score double, "
        "risk_level string, rules_triggered array<string>"
    )
    names = ["Clinic Round", "Clinic 9001", None, "Clinic 9001"]
    named = set()
    for order in (names, names[::-1], names[1:] + names[:1]):
        rows = [(DAY, "PRV9001", name, 10.0, 0.1, "low", []) for name in order]
        for partitions in (1, 3):
            flagged = spark.createDataFrame(rows, schema).repartition(partitions)
            named |= {row.provider_name for row in gold.provider_risk(flagged).collect()}
    assert named == {"Clinic 9001"}


def test_pseudonym_is_hmac_sha256(spark):
    frame = spark.createDataFrame([("4263982640269299",), ("P-77",), (None,)], "v string")
    long_key = "k" * 100  # longer than a SHA-256 block: hashed first, as RFC 2104 says
    for key in ("dev", long_key):
        hashed = [r.h for r in frame.select(hmac_sha256(F.col("v"), key).alias("h")).collect()]
        assert hashed == [hmac_sha256_python("4263982640269299", key), hmac_sha256_python("P-77", key), None]


def test_flag_claims_scores_the_window_against_statistics_of_the_lookback_too(spark):
    from fraud_lakehouse_tests.rules.claims import at, claim, claims

    # 60 ordinary claims of one procedure on earlier days, then one huge claim in the scored window
    earlier = [
        claim(
            f"e{i}",
            customer_key=f"k{i}",
            amount=50.0 + i % 7,
            at=at(i % 10, 12),
            provider_id="prov-9",
            source="insurance",
        )
        for i in range(60)
    ]
    scored_day = at(12, 12)
    huge = claim("huge", customer_key="k99", amount=4000.0, at=scored_day, provider_id="prov-9", source="insurance")
    window = (scored_day.date(), scored_day.date() + dt.timedelta(days=1))
    flagged = gold.flag_claims(claims(spark, [*earlier, huge]), window, DetectionConfig()).collect()
    # only the window's claim is scored, and the procedure's 61 claims made its own statistics count (an
    # insurance claim: for a card an amount far into its category's tail is not fraud on its own)
    assert [row.claim_id for row in flagged] == ["huge"]
    assert flagged[0].rule_amount_outlier and flagged[0].risk_level == "high"
