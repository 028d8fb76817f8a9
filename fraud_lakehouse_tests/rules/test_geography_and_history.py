from fraud_lakehouse.detection.common import haversine_miles
from fraud_lakehouse.detection.config import DetectionConfig
from fraud_lakehouse_tests.rules.claims import at, claim, hits


def test_haversine_new_york_to_los_angeles(spark):
    frame = spark.createDataFrame([(40.7128, -74.0060, 34.0522, -118.2437)], "a double, b double, c double, d double")
    miles = frame.select(haversine_miles(*[frame[c] for c in "abcd"]).alias("m")).first().m
    assert abs(miles - 2445.6) < 5


def test_far_from_home(spark):
    rows = [claim("near"), claim("far", provider_lat=40.7, provider_long=-74.0), claim("unknown", provider_lat=None)]
    assert hits(spark, rows, "far_from_home") == {"far"}


def test_state_mismatch_needs_both_states(spark):
    rows = [claim("same", provider_state="TX"), claim("differs", provider_state="NV"), claim("unknown")]
    assert hits(spark, rows, "state_mismatch") == {"differs"}


def _others() -> list[dict]:
    # the procedure's usual amounts, from other customers
    return [claim(f"o{i}", customer_key=f"o{i}", amount=40.0 + i % 10, at=at(i % 7, 9)) for i in range(40)]


def test_amount_against_own_history(spark):
    usual = [claim(f"h{d}", amount=40.0 + d, at=at(d, 12)) for d in range(6)]
    spike = [claim("spike", amount=900.0, at=at(6, 12)), claim("usual_today", amount=45.0, at=at(6, 13))]
    newcomer = [claim("new_big", customer_key="new", amount=900.0, at=at(6, 12))]
    rows = _others() + usual + spike + newcomer
    assert hits(spark, rows, "amount_vs_history") == {"spike"}
    # too little history for the rule: needs 10 earlier claims
    assert hits(spark, rows, "amount_vs_history", DetectionConfig(history_min_claims=10)) == set()


def test_an_expensive_procedure_is_not_a_spike_against_the_customers_cheap_history(spark):
    usual = [claim(f"h{d}", amount=40.0 + d, at=at(d, 12)) for d in range(6)]
    surgeries = [claim(f"s{i}", customer_key=f"s{i}", procedure="surgery", amount=900.0 + i, at=at(i % 7, 9))
                 for i in range(40)]  # fmt: skip
    first_surgery = [claim("surgery", procedure="surgery", amount=905.0, at=at(6, 12))]
    assert hits(spark, _others() + usual + surgeries + first_surgery, "amount_vs_history") == set()
