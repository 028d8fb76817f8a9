"""The registry names every rule once, each rule has one definition, and a rule alone flags what it flags among
all of them (every hit reads only what ``with_features`` provides, never another rule's flag)."""

import inspect

from fraud_lakehouse.detection import billing, duplicates, geography, history, night, statistics, velocity
from fraud_lakehouse.detection.scoring import RULES, apply_rules
from fraud_lakehouse_tests.rules.claims import CONFIG, at, claim, claims

RULE_MODULES = (billing, duplicates, geography, history, night, statistics, velocity)


def test_every_rule_is_defined_once_and_registered_once():
    names = [rule.name for rule in RULES]
    assert len(names) == len(set(names))
    assert len({rule.hit for rule in RULES}) == len(RULES)
    # every flag a rule module defines is one registered rule, under its own name; nothing else returns a flag
    defined = {
        function
        for module in RULE_MODULES
        for name, function in inspect.getmembers(module, inspect.isfunction)
        if function.__module__ == module.__name__ and not name.startswith("_")
        and list(inspect.signature(function).parameters) == ["config"]
    }  # fmt: skip
    assert defined == {rule.hit for rule in RULES}
    assert all(rule.hit.__name__ == rule.name for rule in RULES)


def _mixed_claims() -> list[dict]:
    rows = [
        # an ordinary procedure's month, then one huge claim
        *[claim(f"o{i}", customer_key=f"k{i}", provider_id="prov-9", amount=50.0 + i % 7, at=at(i % 10, 12))
          for i in range(60)],
        claim("huge", customer_key="k99", provider_id="prov-9", amount=4000.0, at=at(12, 12)),
        # an exact copy and a same-day re-bill
        claim("x1", customer_key="dup", amount=120.0, at=at(3, 10)),
        claim("x2", customer_key="dup", amount=120.0, at=at(3, 11)),
        claim("n1", customer_key="dup", amount=122.0, at=at(3, 12)),
        # a night burst of one customer, minutes apart, far from home and out of state
        *[claim(f"night{i}", customer_key="owl", at=at(5, 2, 5 * i), amount=300.0 + i, provider_lat=47.6,
                provider_long=-122.3, provider_state="WA") for i in range(4)],
    ]  # fmt: skip
    return rows


def test_a_rule_alone_flags_what_it_flags_among_all(spark):
    frame = claims(spark, _mixed_claims())
    all_rules = apply_rules(frame, CONFIG).cache()
    for rule in RULES:
        alone = apply_rules(frame, CONFIG, (rule,)).where(rule.column).select("claim_id")
        together = all_rules.where(rule.column).select("claim_id")
        assert sorted(alone.collect()) == sorted(together.collect()), rule.name
    fired = {rule.name for rule in RULES if all_rules.where(rule.column).count()}
    assert {"exact_duplicate", "near_duplicate", "amount_outlier", "amount_extreme", "night_claim", "night_burst",
            "rapid_claims", "far_from_home", "state_mismatch"} <= fired  # fmt: skip
