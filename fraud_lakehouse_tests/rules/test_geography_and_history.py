from fraud_lakehouse.detection import geography, history
from fraud_lakehouse.detection.common import haversine_miles
from fraud_lakehouse.detection.config import DetectionConfig
from fraud_lakehouse_tests.rules.claims import CONFIG, at, claim, claims, flagged


def test_haversine_new_york_to_los_angeles(spark):
    frame = spark.createDataFrame([(40.7128, -74.0060, 34.0522, -118.2437)], "a double, b double, c double, d double")
    miles = frame.select(haversine_miles(*[frame[c] for c in "abcd"]).alias("m")).first().m
    assert abs(miles - 2445.6) < 5


def test_far_from_home(spark):
    rows = [claim("near"), claim("far", provider_lat=40.7, provider_long=-74.0), claim("unknown", provider_lat=None)]
    result = geography.far_from_home(claims(spark, rows), CONFIG)
    assert flagged(result, "rule_far_from_home") == {"far"}


def test_state_mismatch_needs_both_states(spark):
    rows = [claim("same", provider_state="TX"), claim("differs", provider_state="NV"), claim("unknown")]
    assert flagged(geography.state_mismatch(claims(spark, rows), CONFIG), "rule_state_mismatch") == {"differs"}


def test_amount_against_own_history(spark):
    usual = [claim(f"h{d}", amount=40.0 + d, at=at(d, 12)) for d in range(6)]
    spike = [claim("spike", amount=900.0, at=at(6, 12)), claim("usual_today", amount=45.0, at=at(6, 13))]
    newcomer = [claim("new_big", customer_key="new", amount=900.0, at=at(6, 12))]
    frame = claims(spark, usual + spike + newcomer)
    assert flagged(history.amount_vs_history(frame, CONFIG), "rule_amount_vs_history") == {"spike"}
    # too little history for the rule: needs 10 earlier claims
    assert (
        flagged(history.amount_vs_history(frame, DetectionConfig(history_min_claims=10)), "rule_amount_vs_history")
        == set()
    )


def test_spend_spike_day_flags_the_day_of_the_spike(spark):
    usual = [claim(f"h{d}", amount=40.0 + d, at=at(d, 12)) for d in range(6)]
    day = [claim("spike", amount=900.0, at=at(6, 12)), claim("same_day", amount=45.0, at=at(6, 13))]
    frame = history.amount_vs_history(claims(spark, usual + day), CONFIG)
    assert flagged(history.spend_spike_day(frame, CONFIG), "rule_spend_spike_day") == {"spike", "same_day"}
