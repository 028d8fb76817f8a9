"""The rule registry and the fraud score.

Each rule has a weight: the chance that a claim is fraud given that rule's hit alone. Hits combine as
independent evidence (noisy-OR): ``fraud_score = 1 - prod(1 - weight_r)`` over the rules that fired. So one
decisive signal (an exact resubmission, an amount several times its procedure's usual maximum, an impossible
daily volume, a new provider's burst) reaches high risk by itself, weak hints stay low, and several together
add up. The weights are fitted by maximum likelihood of exactly this model on labelled training data that
the evaluation does not use (``benchmarks/fit_weights.py``); families group the rules for reporting.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import reduce

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F

from fraud_lakehouse.claims.model import BRONZE, SPARKOV, SYNTHETIC
from fraud_lakehouse.detection import billing, duplicates, geography, history, night, statistics, velocity
from fraud_lakehouse.detection.common import round_half_up
from fraud_lakehouse.detection.config import DetectionConfig
from fraud_lakehouse.detection.features import with_features

# Card transactions (Sparkov/Kaggle files, this project's bronze layout and synthetic feed) and insurance claims
# are different domains: an amount far into its category's tail is common for a card and rare for a billed
# procedure, and a claim has no time of day. Each rule has a weight per domain, fitted on that domain's
# training data; a claim's source decides which it gets.
CARD_SOURCES = (SPARKOV, BRONZE, SYNTHETIC)
DOMAINS = ("insurance", "card")


@dataclass(frozen=True)
class Weights:
    insurance: float
    card: float


@dataclass(frozen=True)
class Rule:
    """A rule, defined once: ``hit`` is its flag over claims that hold every feature (``with_features``)."""

    name: str
    family: str
    weights: Weights
    hit: Callable[[DetectionConfig], Column]
    description: str

    def weight(self, domain: str) -> float:
        return getattr(self.weights, domain)

    @property
    def column(self) -> str:
        return f"rule_{self.name}"


# Weights fitted per domain by benchmarks/fit_weights.py (maximum likelihood of the noisy-OR score: insurance on
# the injector's training seeds, card on a synthetic month, neither used by the evaluation; docs/detection.md).
# A weight of 0 is a rule whose hits, given the others, said nothing about fraud in training: its flag is still
# reported (rules_triggered, gold/fraud_by_rule), it does not move the score.
RULES: tuple[Rule, ...] = (
    Rule("exact_duplicate", "duplicates", Weights(insurance=0.77, card=0.77), duplicates.exact_duplicate,
         "later copy of an earlier claim"),
    Rule("near_duplicate", "duplicates", Weights(insurance=0.52, card=0.02), duplicates.near_duplicate,
         "re-bill of an earlier claim of the same day with an altered amount"),
    # card weight 0: a merchant has no daily capacity, a busy day is no evidence against a card (never fired in the
    # card training data; the insurance weight borrowed would make a merchant's sale day all high)
    Rule("provider_procedure_volume", "billing", Weights(insurance=0.97, card=0.0), billing.provider_procedure_volume,
         "provider bills one procedure more than N times a day"),
    Rule("customer_daily_volume", "billing", Weights(insurance=0.0, card=0.0), billing.customer_daily_volume,
         "customer has more than N claims a day"),
    Rule("weekend_provider", "billing", Weights(insurance=0.0, card=0.0), billing.weekend_provider,
         "weekend claim of a provider significantly weekend-heavy"),
    Rule("round_amount", "billing", Weights(insurance=0.97, card=0.0), billing.round_amount,
         "round charge for a procedure whose charges are almost never round"),
    Rule("new_provider_burst", "new_provider", Weights(insurance=0.97, card=0.97), billing.new_provider_burst,
         "claim of a new provider that bills only in a burst"),
    Rule("amount_outlier", "statistics", Weights(insurance=0.97, card=0.01), statistics.amount_outlier,
         "amount far into its procedure's upper tail"),
    Rule("amount_extreme", "statistics", Weights(insurance=0.97, card=0.0), statistics.amount_extreme,
         "amount so far into its procedure's upper tail it is decisive"),
    Rule("amount_above_provider_usual", "statistics", Weights(insurance=0.97, card=0.0),
         statistics.amount_above_provider_usual, "amount far above its provider's usual charge for the procedure"),
    Rule("benford_provider", "statistics", Weights(insurance=0.0, card=0.0), statistics.benford_provider,
         "first digit over-represented at a provider that significantly fails Benford"),
    Rule("large_amount_burst", "statistics", Weights(insurance=0.0, card=0.02), statistics.large_amount_burst,
         "one of several large amounts in the customer's day"),
    Rule("rapid_claims", "velocity", Weights(insurance=0.0, card=0.0), velocity.rapid_claims,
         "N claims of the customer within the window"),
    Rule("daily_surge", "velocity", Weights(insurance=0.0, card=0.01), velocity.daily_surge,
         "far more claims today than the customer's usual"),
    Rule("night_claim", "night", Weights(insurance=0.0, card=0.0), night.night_claim,
         "claim in the night hours"),
    Rule("night_pair", "night", Weights(insurance=0.0, card=0.0), night.night_pair,
         "night claim of a day with two or more"),
    Rule("night_burst", "night", Weights(insurance=0.01, card=0.01), night.night_burst,
         "night claim of a day with a burst of them"),
    Rule("large_night_spree", "night", Weights(insurance=0.22, card=0.22), night.large_night_spree,
         "large night claim of a day with several large night claims"),
    Rule("night_spree", "night", Weights(insurance=0.69, card=0.69), night.night_spree,
         "night claim of a day with several large night claims"),
    Rule("spree_day_claim", "night", Weights(insurance=0.79, card=0.79), night.spree_day_claim,
         "very large daytime claim of a day with several large night claims"),
    Rule("far_from_home", "geography", Weights(insurance=0.0, card=0.0), geography.far_from_home,
         "provider far from the customer's home"),
    Rule("state_mismatch", "state_mismatch", Weights(insurance=0.03, card=0.03), geography.state_mismatch,
         "customer and provider states differ"),
    Rule("unusual_patient_state", "state_mismatch", Weights(insurance=0.29, card=0.29), geography.unusual_patient_state,
         "customer from a state the provider almost never sees"),
    Rule("amount_vs_history", "history", Weights(insurance=0.0, card=0.0), history.amount_vs_history,
         "amount far above the customer's usual and its procedure's"),
)  # fmt: skip


def rule(name: str) -> Rule:
    """The registered rule of that name."""
    for candidate in RULES:
        if candidate.name == name:
            return candidate
    raise KeyError(f"no rule {name!r}; rules: {', '.join(r.name for r in RULES)}")


def with_rule_flags(features: DataFrame, config: DetectionConfig, rules: tuple[Rule, ...] = RULES) -> DataFrame:
    """Every rule's flag column added in one projection, to claims that hold every feature (``with_features``)."""
    return features.select("*", *[rule.hit(config).alias(rule.column) for rule in rules])


def apply_rules(claims: DataFrame, config: DetectionConfig, rules: tuple[Rule, ...] = RULES) -> DataFrame:
    """``claims`` with every feature and every rule's flag column: a rule alone, or all, over any claims."""
    return with_rule_flags(with_features(claims, config), config, rules)


def is_card() -> Column:
    return F.col("source").isin(*CARD_SOURCES)


def fraud_score(rules: tuple[Rule, ...] = RULES) -> Column:
    """1 - prod(1 - weight) over the rules that fired, each with its weight for the claim's domain, rounded
    half up to 4 decimals."""
    card = is_card()
    survival = reduce(
        lambda left, right: left * right,
        [
            F.when(
                F.col(rule.column), F.when(card, F.lit(1 - rule.weights.card)).otherwise(1 - rule.weights.insurance)
            ).otherwise(F.lit(1.0))
            for rule in rules
        ],
    )
    return round_half_up(1 - survival, 4)


def rule_hit_mask(rules: tuple[Rule, ...] = RULES) -> Column:
    """One long per claim: bit i is set when the i-th rule fired."""
    if len(rules) > 63:
        raise ValueError(f"{len(rules)} rules do not fit one 63-bit hit mask")
    return reduce(
        lambda left, right: left + right,
        [F.coalesce(F.col(rule.column), F.lit(False)).cast("long") * (1 << index) for index, rule in enumerate(rules)],
    )


def rules_triggered(hit_mask: Column, rules: tuple[Rule, ...] = RULES) -> Column:
    """The names of the rules that fired, in registry order, from ``rule_hit_mask`` (a column, computed once).

    The registry's names filtered by the mask: building a 20-element array
    per claim (``array`` of CASEs, then ``array_compact``) took Sail 3x
    longer (2 M claims: 0.51 s against 0.14 s on top of the mask).
    """
    names = F.array(*[F.lit(rule.name) for rule in rules])
    # call_function: PySpark 3.5's shiftright takes the shift as a Python int only, not a lambda variable
    return F.filter(names, lambda _name, index: F.call_function("shiftright", hit_mask, index).bitwiseAND(1) == 1)


def risk_level(score: Column, config: DetectionConfig) -> Column:
    return (
        F.when(score >= config.high_risk_threshold, F.lit("high"))
        .when(score >= config.medium_risk_threshold, F.lit("medium"))
        .otherwise(F.lit("low"))
    )
