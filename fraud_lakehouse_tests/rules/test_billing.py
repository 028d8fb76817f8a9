from fraud_lakehouse.detection.config import DetectionConfig
from fraud_lakehouse_tests.rules.claims import DAY, at, claim, hits


def test_provider_billing_one_procedure_too_often_in_a_day(spark):
    rows = [claim(f"p{i}", customer_key=f"c{i}") for i in range(4)] + [claim("other", procedure="misc_pos")]
    config = DetectionConfig(provider_procedure_daily_max=3)
    assert hits(spark, rows, "provider_procedure_volume", config) == {"p0", "p1", "p2", "p3"}


def test_provider_volume_is_judged_against_the_providers_other_days(spark):
    # busy: 6 claims of the procedure every day, an ordinary day for it; spiky: 1 a day, then 6 in one day
    busy = [claim(f"b{d}-{i}", provider_id="busy", customer_key=f"c{i}", at=at(d, 10)) for d in range(4)
            for i in range(6)]  # fmt: skip
    spiky = [claim(f"s{d}", provider_id="spiky", customer_key=f"c{d}", at=at(d, 10)) for d in range(3)]
    spiky += [claim(f"spike{i}", provider_id="spiky", customer_key=f"c{i}", at=at(3, 11)) for i in range(6)]
    config = DetectionConfig(provider_procedure_daily_max=5)
    assert hits(spark, busy + spiky, "provider_procedure_volume", config) == {f"spike{i}" for i in range(6)}


def test_customer_with_too_many_claims_in_a_day(spark):
    rows = [claim(f"c{i}", at=at(0, 10 + i)) for i in range(6)] + [claim("next_day", at=at(1, 10))]
    assert hits(spark, rows, "customer_daily_volume") == {f"c{i}" for i in range(6)}


def test_weekend_claims_of_a_significantly_weekend_heavy_provider(spark):
    # 2025-03-08 is a Saturday. prov-1: 30 of its 40 claims on weekends, where the data's share is low.
    heavy = [claim(f"w{i}", at=at(5 + i % 2, 10)) for i in range(30)]
    heavy += [claim(f"wd{i}", at=at(i % 5, 10)) for i in range(10)]
    others = [claim(f"o{i}", provider_id=f"prov-{2 + i % 4}", at=at(i % 5, 9)) for i in range(200)]
    # prov-small: 3 of 4 on a weekend, too few claims to tell a habit from chance
    small = [claim(f"s{i}", provider_id="prov-small", at=at(5, 9 + i)) for i in range(3)]
    small += [claim("s_weekday", provider_id="prov-small", at=at(0, 9))]
    flagged = hits(spark, heavy + others + small, "weekend_provider", DetectionConfig(min_provider_claims=4))
    assert flagged == {f"w{i}" for i in range(30)}


def test_a_round_charge_for_a_procedure_whose_charges_are_almost_never_round(spark):
    usual = [claim(f"u{i}", customer_key=f"c{i}", amount=80.0 + (i % 40) * 1.37) for i in range(200)]
    round_charges = [claim("r1", customer_key="x", amount=300.0), claim("r2", customer_key="y", amount=1000.0)]
    # a procedure billed at round prices as a matter of course: its round charges are ordinary
    priced = [claim(f"p{i}", procedure="misc_pos", customer_key=f"c{i}", amount=100.0 * (1 + i % 3))
              for i in range(60)]  # fmt: skip
    assert hits(spark, usual + round_charges + priced, "round_amount") == {"r1", "r2"}


def test_a_new_provider_that_bills_only_a_burst(spark):
    established = [claim(f"e{d}-{i}", customer_key=f"c{i}", at=at(d, 10)) for d in range(12) for i in range(3)]
    burst = [claim(f"b{i}", provider_id="fresh", customer_key=f"c{i}", at=at(10, 9, i)) for i in range(12)]
    # new too, but it bills a little on many days: a practice opening, not a burst
    opening = [claim(f"n{d}", provider_id="opening", at=at(8 + d % 4, 11)) for d in range(12)]
    assert hits(spark, established + burst + opening, "new_provider_burst") == {f"b{i}" for i in range(12)}
    # a lake that starts with the burst has no earlier week to call the provider new
    assert hits(spark, [claim(f"b{i}", provider_id="fresh", customer_key=f"c{i}") for i in range(12)],
                "new_provider_burst") == set()  # fmt: skip
    assert DAY.weekday() == 0
