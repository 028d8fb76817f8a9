"""Every detection threshold in one place, exposed as Dagster config.

The version is a hash of the values, written on every scored claim, so a
score can always be traced to the thresholds that produced it.
"""

from __future__ import annotations

import hashlib
import json

from dagster import Config
from pydantic import Field

# Earlier days of silver a gold day reads by default; gold's lineage declares them (a re-run of one of them makes
# the gold days that read it stale).
DEFAULT_LOOKBACK_DAYS = 30
DEFAULT_MIN_GROUP_CLAIMS = 50


class DetectionConfig(Config):
    lookback_days: int = Field(
        default=DEFAULT_LOOKBACK_DAYS, ge=0, le=366, description="earlier days of silver claims rules may read"
    )
    # fraud_score is the fitted chance that a claim is fraud (benchmarks/fit_weights.py): high = more likely
    # fraud than not, medium = one in five or more
    high_risk_threshold: float = Field(default=0.5, gt=0, le=1, description="fraud_score at or above: high risk")
    medium_risk_threshold: float = Field(default=0.2, gt=0, le=1, description="fraud_score at or above: medium")

    # billing patterns
    provider_procedure_daily_max: int = Field(default=50, description="claims per provider and procedure in a day")
    provider_procedure_usual_ratio: float = Field(
        default=3.0, gt=1, description="and more than this many times its mean on the pair's other days, if any"
    )
    customer_daily_max: int = Field(default=5, description="claims per customer in a day")
    weekend_share_max: float = Field(default=0.30, description="provider's weekend share above which weekends flag")
    weekend_z_min: float = Field(
        default=3.09, description="and its weekend count this many standard errors above the data's share (p<0.001)"
    )
    # Well above any plausible fraud rate (the injected round charges count in the share they are judged by),
    # well below a fee schedule's (most of its charges round).
    round_share_rare: float = Field(
        default=0.05, description="a round charge counts when under this share of its procedure's charges are round"
    )
    min_provider_claims: int = Field(default=20, description="claims a provider needs before its shares count")
    new_provider_history_days: int = Field(
        default=7, description="days of data before a provider's first claim that make it new"
    )
    new_provider_max_days: int = Field(default=2, description="days a new provider bills on to be a burst")
    new_provider_min_claims: int = Field(default=10, description="claims of a new provider's burst")

    # statistics
    min_group_claims: int = Field(
        default=DEFAULT_MIN_GROUP_CLAIMS,
        description="amounts a procedure needs for its own statistics (else every claim's are used)",
    )
    amount_tail_outlier: float = Field(
        default=4.0, description="(amount - median) / (90th percentile - median) of its procedure: an outlier"
    )
    amount_tail_extreme: float = Field(default=8.0, description="the same ratio that is decisive on its own")
    benford_deviation_max: float = Field(default=0.15, description="provider's first-digit distance from Benford")
    benford_chi2_min: float = Field(default=26.12, description="and its chi-square (8 df) above this (p<0.001)")
    burst_z_score: float = Field(default=2.0, description="robust z of an amount in its procedure that is large")
    burst_min_claims: int = Field(default=2, description="large amounts in a customer's day that make a burst")
    benford_min_claims: int = Field(default=50, description="claims a provider needs for the Benford test")
    provider_amount_ratio: float = Field(
        default=2.0, gt=1, description="amount over the geometric mean of its provider's other charges for it"
    )
    provider_amount_z: float = Field(
        default=4.0, description="and standard deviations of those charges' logarithms above their mean"
    )
    provider_amount_min_claims: int = Field(default=8, description="other charges a provider needs for the procedure")

    # duplicates
    near_duplicate_days: int = Field(
        default=0, description="days apart two claims can be near duplicates (0: the same service date, a re-bill)"
    )
    near_duplicate_similarity: float = Field(default=0.9, ge=0, le=1, description="0.6 x same procedure + 0.4 x amount")

    # velocity
    velocity_window_minutes: int = Field(default=60)
    velocity_max_claims: int = Field(default=3, description="claims of one customer within the window")
    daily_count_ratio: float = Field(default=3.0, description="today's claims over the customer's usual daily count")
    daily_count_min: int = Field(default=5, description="claims in a day before the ratio counts")

    # night time
    night_start_hour: int = Field(default=22, ge=0, le=23)
    night_end_hour: int = Field(default=4, ge=0, le=23, description="night is [start, 24) + [0, end)")
    night_claims_min: int = Field(default=3, description="night claims of a customer in a day: a night burst")
    spree_day_z_score: float = Field(
        default=5.0, description="robust z in its procedure of a daytime amount that joins its day's night spree"
    )

    # geography
    distance_max_miles: float = Field(default=500.0, description="customer to provider distance")
    unusual_state_share: float = Field(
        default=0.02, description="share of a provider's claims from a customer's state under which it is unusual"
    )

    # amount against the customer's own history
    history_min_claims: int = Field(default=5, description="earlier claims the customer needs")
    history_ratio: float = Field(default=4.0, description="amount over the customer's usual amount")
    history_z_max: float = Field(default=3.0)
    history_min_amount_z: float = Field(
        default=2.0, description="and the amount's robust z in its procedure (an expensive procedure is not enough)"
    )

    def version(self) -> str:
        """A short, stable hash of every threshold."""
        text = json.dumps(self.model_dump(), sort_keys=True)
        return hashlib.sha256(text.encode()).hexdigest()[:12]
