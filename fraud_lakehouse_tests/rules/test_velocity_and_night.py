from fraud_lakehouse.detection.config import DetectionConfig
from fraud_lakehouse_tests.rules.claims import at, claim, hits


def test_rapid_claims_within_the_window(spark):
    rows = [claim("a", at=at(0, 10, 0)), claim("b", at=at(0, 10, 20)), claim("c", at=at(0, 10, 50))]
    rows += [claim("d", at=at(0, 12, 0)), claim("other", customer_key="cust-2", at=at(0, 10, 30))]
    assert hits(spark, rows, "rapid_claims") == {"c"}


def test_daily_surge_against_the_customers_usual(spark):
    history = [claim(f"h{d}", at=at(d, 12)) for d in range(10)]  # one claim a day
    surge_day = [claim(f"s{i}", at=at(10, 8 + i)) for i in range(6)]
    busy_newcomer = [claim(f"n{i}", customer_key="new", at=at(10, 8 + i)) for i in range(6)]
    flagged = hits(spark, history + surge_day + busy_newcomer, "daily_surge", DetectionConfig(lookback_days=30))
    # the newcomer has no earlier day to compare with: not judged
    assert flagged == {f"s{i}" for i in range(6)}


def test_night_claim_hours(spark):
    rows = [claim("late", at=at(0, 23)), claim("early", at=at(0, 3, 59)), claim("dawn", at=at(0, 4)), claim("noon")]
    assert hits(spark, rows, "night_claim") == {"late", "early"}


def test_night_burst_and_pair_raise_the_night_claims_not_the_day(spark):
    burst = [claim(f"b{i}", at=at(0, 1 + i)) for i in range(3)] + [claim("b_day", at=at(0, 14))]
    pair = [claim(f"p{i}", customer_key="cust-2", at=at(0, 2 + i)) for i in range(2)]
    rows = burst + pair + [claim("alone", customer_key="cust-3", at=at(0, 2))]
    assert hits(spark, rows, "night_burst") == {"b0", "b1", "b2"}
    assert hits(spark, rows, "night_pair") == {"b0", "b1", "b2", "p0", "p1"}


def test_a_spree_day_raises_its_very_large_daytime_claims_only(spark):
    # the procedure's usual amounts: median about 53, a robust scale of a few units
    base = [claim(f"n{i}", customer_key=f"c{i % 10}", amount=50.0 + (i % 7), at=at(0, 12)) for i in range(60)]
    spree = [
        claim("night1", customer_key="victim", amount=900.0, at=at(0, 1)),
        claim("night2", customer_key="victim", amount=950.0, at=at(0, 2)),
        claim("day_big", customer_key="victim", amount=800.0, at=at(0, 15)),
        claim("day_usual", customer_key="victim", amount=52.0, at=at(0, 16)),
        claim("next_day_big", customer_key="victim", amount=800.0, at=at(1, 15)),
    ]
    lone_night = [
        claim("one_night", customer_key="spender", amount=900.0, at=at(0, 1)),
        claim("spender_day_big", customer_key="spender", amount=800.0, at=at(0, 15)),
    ]
    assert hits(spark, base + spree + lone_night, "spree_day_claim") == {"day_big"}
    # the night claims are the night rules' to judge
    assert hits(spark, base + spree + lone_night, "large_night_spree") == {"night1", "night2"}
