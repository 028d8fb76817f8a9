from fraud_lakehouse.detection import billing
from fraud_lakehouse.detection.config import DetectionConfig
from fraud_lakehouse_tests.rules.claims import CONFIG, at, claim, claims, flagged


def test_provider_billing_one_procedure_too_often_in_a_day(spark):
    rows = [claim(f"p{i}", customer_key=f"c{i}") for i in range(4)] + [claim("other", procedure="misc_pos")]
    config = DetectionConfig(provider_procedure_daily_max=3)
    result = billing.provider_procedure_volume(claims(spark, rows), config)
    assert flagged(result, "rule_provider_procedure_volume") == {"p0", "p1", "p2", "p3"}


def test_customer_with_too_many_claims_in_a_day(spark):
    rows = [claim(f"c{i}", at=at(0, 10 + i)) for i in range(6)] + [claim("next_day", at=at(1, 10))]
    result = billing.customer_daily_volume(claims(spark, rows), CONFIG)
    assert flagged(result, "rule_customer_daily_volume") == {f"c{i}" for i in range(6)}


def test_weekend_claims_of_a_weekend_heavy_provider(spark):
    # 2025-03-08 is a Saturday: 3 of the provider's 4 claims are on the weekend
    rows = [claim(f"w{i}", at=at(5, 10 + i)) for i in range(3)] + [claim("weekday", at=at(0, 10))]
    rows += [claim("quiet", provider_id="prov-2", at=at(5, 9))] + [
        claim(f"q{i}", provider_id="prov-2", at=at(i, 9)) for i in range(4)
    ]
    result = billing.weekend_provider(claims(spark, rows), DetectionConfig(min_provider_claims=4))
    assert flagged(result, "rule_weekend_provider") == {"w0", "w1", "w2"}


def test_round_charges_of_a_provider_that_bills_many(spark):
    rows = [claim("r1", amount=300.0), claim("r2", amount=500.0), claim("odd", amount=123.45)]
    rows += [claim("elsewhere", provider_id="prov-2", amount=200.0)] + [
        claim(f"e{i}", provider_id="prov-2", amount=42.5) for i in range(9)
    ]
    result = billing.round_amounts(claims(spark, rows), DetectionConfig(min_provider_claims=3))
    assert flagged(result, "rule_round_amount") == {"r1", "r2"}
