"""Gold's one-projection rule flags against each rule applied as its own DataFrame function.

Both read the same ``hit`` columns; what this checks is that every hit reads
only what ``with_features`` provides and no other rule's flag (one
projection cannot read a column it is adding), and that the flags agree.
"""

from fraud_lakehouse.detection.features import with_features
from fraud_lakehouse.detection.scoring import RULES, apply_rules, with_rule_flags
from fraud_lakehouse_tests.rules.claims import CONFIG, at, claim, claims


def _mixed_claims() -> list[dict]:
    rows = [
        # an ordinary provider's month, then one huge claim: z-scores and the IQR fence
        *[claim(f"o{i}", customer_key=f"k{i}", provider_id="prov-9", amount=50.0 + i % 7, at=at(i % 10, 12))
          for i in range(30)],
        claim("huge", customer_key="k99", provider_id="prov-9", amount=4000.0, at=at(12, 12)),
        # an exact copy and a near copy
        claim("x1", customer_key="dup", amount=120.0, at=at(3, 10)),
        claim("x2", customer_key="dup", amount=120.0, at=at(3, 11)),
        claim("n1", customer_key="dup", amount=122.0, at=at(4, 10)),
        # a night burst of one customer, minutes apart, far from home and out of state
        *[claim(f"night{i}", customer_key="owl", at=at(5, 2, 5 * i), amount=300.0 + i, provider_lat=47.6,
                provider_long=-122.3, provider_state="WA") for i in range(4)],
    ]  # fmt: skip
    return rows


def test_one_projection_gives_the_flags_of_each_rule_applied_alone(spark):
    features = with_features(claims(spark, _mixed_claims()), CONFIG)
    flag_columns = ["claim_id", *[rule.column for rule in RULES]]
    one_projection = with_rule_flags(features, CONFIG).select(*flag_columns)
    rule_by_rule = apply_rules(features, CONFIG).select(*flag_columns)
    assert one_projection.exceptAll(rule_by_rule).count() == 0
    assert rule_by_rule.exceptAll(one_projection).count() == 0
    # the comparison covers rules that fire, not only quiet ones
    rows = one_projection.collect()
    fired = {rule.name for rule in RULES if any(row[rule.column] for row in rows)}
    assert {"exact_duplicate", "near_duplicate", "category_z_score", "night_claim", "night_burst", "rapid_claims",
            "far_from_home", "state_mismatch"} <= fired  # fmt: skip
