import math

from pyspark.sql import functions as F

from fraud_lakehouse.detection import statistics
from fraud_lakehouse.detection.config import DetectionConfig
from fraud_lakehouse_tests.rules.claims import at, claim, claims, flagged, hits

CONFIG = DetectionConfig(min_provider_claims=10)


def _procedure(outlier_amount: float, procedure: str = "grocery_pos") -> list[dict]:
    rows = [claim(f"n{i}", customer_key=f"c{i}", amount=50.0 + (i % 5), procedure=procedure) for i in range(60)]
    return [*rows, claim("big", customer_key="cx", amount=outlier_amount, procedure=procedure)]


def test_amount_outlier_within_its_procedure(spark):
    assert hits(spark, _procedure(900.0), "amount_outlier", CONFIG) == {"big"}
    assert hits(spark, _procedure(53.0), "amount_outlier", CONFIG) == set()


def test_an_expensive_procedure_is_not_an_unusual_amount(spark):
    cheap = _procedure(52.0)
    expensive = [claim(f"s{i}", customer_key=f"s{i}", procedure="surgery", amount=4000.0 + 10 * i) for i in range(60)]
    assert hits(spark, cheap + expensive, "amount_outlier", CONFIG) == set()


def test_a_rare_procedure_is_judged_against_every_claim(spark):
    rows = [*_procedure(52.0), claim("rare", customer_key="r", procedure="rare_one", amount=5000.0)]
    assert hits(spark, rows, "amount_outlier", CONFIG) == {"rare"}


def test_one_outlier_cannot_hide_itself_by_widening_the_spread(spark):
    # four huge amounts among 60 ordinary ones: a mean and standard deviation would stretch to cover them
    rows = _procedure(53.0)[:-1] + [claim(f"x{i}", customer_key=f"x{i}", amount=2000.0 + i) for i in range(4)]
    assert hits(spark, rows, "amount_outlier", CONFIG) == {f"x{i}" for i in range(4)}


def test_an_extreme_amount_is_decisive_and_a_moderately_high_one_is_not(spark):
    assert hits(spark, _procedure(5000.0), "amount_extreme", CONFIG) == {"big"}
    assert hits(spark, _procedure(70.0), "amount_extreme", CONFIG) == set()


def test_large_amount_burst_raises_the_large_amounts_only(spark):
    base = [claim(f"n{i}", customer_key=f"c{i % 10}", amount=50.0 + (i % 7)) for i in range(60)]
    burst = [
        claim("b1", customer_key="victim", amount=900.0, at=at(0, 1)),
        claim("b2", customer_key="victim", amount=950.0, at=at(0, 2)),
        claim("probe", customer_key="victim", amount=5.0, at=at(0, 3)),
        claim("one_big", customer_key="spender", amount=900.0),
    ]
    assert hits(spark, base + burst, "large_amount_burst", CONFIG) == {"b1", "b2"}


def _benford_and_nines() -> tuple[list[dict], list[dict]]:
    # 100 amounts whose first digits follow Benford's law as closely as whole counts allow
    counts = {d: round(100 * math.log10(1 + 1 / d)) for d in range(1, 10)}
    benford = [claim(f"b{d}-{i}", amount=float(d) * 10 + 0.5) for d, n in counts.items() for i in range(n)]
    nines = [claim(f"n{i}", provider_id="prov-9", amount=95.0 + i % 4) for i in range(100)]
    return benford, nines


def test_benford_deviation_is_zero_for_benford_digits_and_high_for_one_digit(spark):
    benford, nines = _benford_and_nines()
    deviation = {r.provider_id: r for r in statistics.benford_deviation(claims(spark, benford + nines)).collect()}
    assert deviation["prov-1"].benford_deviation < 0.02 and deviation["prov-1"].chi_square < 2
    assert deviation["prov-9"].benford_deviation > 0.9 and deviation["prov-9"].chi_square > 1000
    assert hits(spark, benford + nines, "benford_provider", DetectionConfig(benford_min_claims=50)) == {
        row["claim_id"] for row in nines
    }


def test_benford_needs_significance_for_the_providers_size(spark):
    # 54 claims, first digits 1-9 evenly: 0.27 from Benford by distance, but chi-square 21.7: chance at 54 claims
    rows = [claim(f"e{i}", provider_id="small", amount=float(1 + i % 9) * 10 + 0.5) for i in range(54)]
    deviation = statistics.benford_deviation(claims(spark, rows)).first()
    assert deviation.benford_deviation > 0.15
    assert hits(spark, rows, "benford_provider", DetectionConfig(benford_min_claims=50)) == set()


def test_first_digit(spark):
    frame = spark.createDataFrame([(0.5,), (9.99,), (10.0,), (123.0,), (1000.0,)], "amount double")
    digits = [r.d for r in frame.select(statistics.first_digit().alias("d")).orderBy(F.col("amount")).collect()]
    assert digits == [5, 9, 1, 1, 1]


def test_flagged_helper_reads_rule_columns(spark):
    frame = claims(spark, [claim("a")]).withColumn("rule_x", F.lit(True))
    assert flagged(frame, "rule_x") == {"a"}


def _two_providers(charge_at_cheap: float) -> list[dict]:
    """One procedure priced 3x apart by two providers (a clinic near 100, a hospital near 300), and one more charge
    at the clinic."""
    clinic = [claim(f"c{i}", customer_key=f"p{i}", provider_id="clinic", procedure="99213", amount=100.0 + 3 * (i % 7))
              for i in range(20)]  # fmt: skip
    hospital = [
        claim(f"h{i}", customer_key=f"q{i}", provider_id="hospital", procedure="99213", amount=300.0 + 9 * (i % 7))
        for i in range(20)
    ]
    return [*clinic, *hospital, claim("x", customer_key="px", provider_id="clinic", procedure="99213",
                                      amount=charge_at_cheap)]  # fmt: skip


def test_an_amount_far_above_its_providers_usual_charge_for_the_procedure(spark):
    # 250 is the procedure's median over both providers (not unusual for it), and 2.3x the clinic's usual charge
    assert hits(spark, _two_providers(250.0), "amount_above_provider_usual") == {"x"}
    assert hits(spark, _two_providers(250.0), "amount_outlier") == set()
    # the hospital's own charges, 3x the clinic's, are not above the hospital's usual
    assert hits(spark, _two_providers(130.0), "amount_above_provider_usual") == set()


def test_above_the_providers_usual_needs_enough_of_its_amounts_and_a_real_excess(spark):
    rows = _two_providers(250.0)
    few = [row for row in rows if row["provider_id"] == "hospital" or row["claim_id"] in ("c1", "c2", "x")]
    assert hits(spark, few, "amount_above_provider_usual") == set()  # 3 clinic amounts: no usual to judge by
    # twice what the provider usually charges is the least excess, whatever the spread
    assert hits(spark, _two_providers(195.0), "amount_above_provider_usual") == set()
    # a provider whose charges for the procedure spread widely: 250 is within them
    wide = [claim(f"w{i}", customer_key=f"w{i}", provider_id="clinic", procedure="99213", amount=40.0 + 20 * i)
            for i in range(12)]  # fmt: skip
    assert hits(spark, [*wide, claim("y", customer_key="y", provider_id="clinic", procedure="99213", amount=250.0)],
                "amount_above_provider_usual") == set()  # fmt: skip


def test_a_provider_with_one_or_two_charges_for_a_procedure_is_not_judged(spark):
    rows = [claim("a", provider_id="p1", amount=10.0), claim("b", provider_id="p2", amount=10.0),
            claim("c", provider_id="p2", amount=30.0)]  # fmt: skip
    assert hits(spark, rows, "amount_above_provider_usual") == set()
