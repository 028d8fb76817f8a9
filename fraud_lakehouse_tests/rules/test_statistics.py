import math

from pyspark.sql import functions as F

from fraud_lakehouse.detection import statistics
from fraud_lakehouse.detection.config import DetectionConfig
from fraud_lakehouse_tests.rules.claims import at, claim, claims, flagged

CONFIG = DetectionConfig(min_provider_claims=10)


def _category(spark, outlier_amount: float):
    rows = [claim(f"n{i}", customer_key=f"c{i}", amount=50.0 + (i % 5)) for i in range(30)]
    return claims(spark, [*rows, claim("big", customer_key="cx", amount=outlier_amount)])


def test_category_z_score_flags_the_far_amount_only(spark):
    result = statistics.category_z_score(_category(spark, 900.0), CONFIG)
    assert flagged(result, "rule_category_z_score") == {"big"}


def test_provider_z_score_flags_the_far_amount_only(spark):
    result = statistics.provider_z_score(_category(spark, 900.0), CONFIG)
    assert flagged(result, "rule_provider_z_score") == {"big"}


def test_iqr_fence(spark):
    result = statistics.iqr_outlier(_category(spark, 70.0), CONFIG)
    assert flagged(result, "rule_iqr_outlier") == {"big"}
    assert flagged(statistics.iqr_outlier(_category(spark, 55.0), CONFIG), "rule_iqr_outlier") == set()


def test_large_amount_burst_flags_the_whole_day(spark):
    base = [claim(f"n{i}", customer_key=f"c{i % 10}", amount=50.0 + (i % 7)) for i in range(60)]
    burst = [
        claim("b1", customer_key="victim", amount=900.0, at=at(0, 1)),
        claim("b2", customer_key="victim", amount=950.0, at=at(0, 2)),
        claim("probe", customer_key="victim", amount=5.0, at=at(0, 3)),
        claim("one_big", customer_key="spender", amount=900.0),
    ]
    result = statistics.large_amount_burst(claims(spark, base + burst), CONFIG)
    assert flagged(result, "rule_large_amount_burst") == {"b1", "b2", "probe"}


def test_benford_deviation_is_zero_for_benford_digits_and_high_for_one_digit(spark):
    # 100 amounts whose first digits follow Benford's law as closely as whole counts allow
    counts = {d: round(100 * math.log10(1 + 1 / d)) for d in range(1, 10)}
    benford = [claim(f"b{d}-{i}", amount=float(d) * 10 + 0.5) for d, n in counts.items() for i in range(n)]
    nines = [claim(f"n{i}", provider_id="prov-9", amount=95.0 + i % 4) for i in range(100)]
    deviation = {
        r.provider_id: r.benford_deviation
        for r in statistics.benford_deviation(claims(spark, benford + nines)).collect()
    }
    assert deviation["prov-1"] < 0.02
    assert deviation["prov-9"] > 0.9
    result = statistics.benford_provider(claims(spark, benford + nines), DetectionConfig(benford_min_claims=50))
    assert flagged(result, "rule_benford_provider") == {row["claim_id"] for row in nines}


def test_first_digit(spark):
    frame = spark.createDataFrame([(0.5,), (9.99,), (10.0,), (123.0,), (1000.0,)], "amount double")
    digits = [r.d for r in frame.select(statistics.first_digit().alias("d")).orderBy(F.col("amount")).collect()]
    assert digits == [5, 9, 1, 1, 1]
