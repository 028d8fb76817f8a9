import statistics as stats

import pytest
from pyspark.sql import functions as F

from fraud_lakehouse.detection import features
from fraud_lakehouse.detection.config import DetectionConfig
from fraud_lakehouse_tests.rules.claims import CONFIG, at, claim, claims


def test_customer_history_is_the_earlier_lookback_days_only(spark):
    amounts = {0: [10.0, 20.0], 2: [30.0], 5: [45.5], 9: [100.0, 7.25]}
    rows = [claim(f"d{day}-{i}", amount=a, at=at(day, 10 + i)) for day, day_amounts in amounts.items()
            for i, a in enumerate(day_amounts)]  # fmt: skip
    rows.append(claim("other", customer_key="cust-2", amount=999.0, at=at(5, 10)))
    frame = features.with_customer_features(claims(spark, rows), DetectionConfig(lookback_days=6))
    day9 = frame.where(F.col("claim_id") == "d9-0").first()
    # days 3..8 only: day 2 is 7 days back, outside the look-back of 6; today does not count
    assert day9["__day_claims"] == 2
    assert day9["__day_max_amount"] == 100.0
    assert day9["__history_claims"] == 1
    assert day9["__history_mean"] == pytest.approx(45.5)
    assert day9["__history_stdev"] is None
    assert day9["__history_days_covered"] == 6
    day5 = frame.where(F.col("claim_id") == "d5-0").first()
    assert day5["__history_claims"] == 3
    assert day5["__history_mean"] == pytest.approx(stats.mean([10.0, 20.0, 30.0]))
    assert day5["__history_stdev"] == pytest.approx(stats.stdev([10.0, 20.0, 30.0]))
    assert day5["__history_days_covered"] == 5
    first = frame.where(F.col("claim_id") == "d0-0").first()
    assert first["__history_claims"] == 0 and first["__history_mean"] is None
    assert first["__history_days_covered"] == 0


def test_features_add_columns_never_rows(spark):
    rows = [claim(f"c{i}", customer_key=f"k{i % 3}", amount=50.0 + i % 4, at=at(i % 5, 9 + i % 7)) for i in range(40)]
    rows += [claim("copy", customer_key="k0", amount=50.0, at=at(0, 9))]  # repeats c0's exact keys
    frame = claims(spark, rows)
    featured = features.with_features(frame, CONFIG)
    assert featured.count() == frame.count()
    assert featured.select("detection_date", "claim_id").distinct().count() == frame.count()
    copy = featured.where(F.col("claim_id") == "copy").first()
    assert copy["__exact_original"] == "c0"
    assert copy["__provider_claims"] == 41


def test_category_and_provider_statistics_are_exact_whatever_the_partitioning(spark):
    import random

    rng = random.Random(8)
    rows = [claim(f"c{i}", provider_id=f"p{i % 3}", amount=round(rng.uniform(1, 5000), 2)) for i in range(400)]
    rows += [claim(f"flat{i}", provider_id="flat", procedure="flat_pos", amount=19.99) for i in range(5)]
    frame = claims(spark, rows)

    def computed(partitions: int) -> tuple[list, list]:
        split = frame.repartition(partitions)
        return (
            sorted(tuple(row) for row in features.provider_stats(split).collect()),
            sorted(tuple(row) for row in features.category_stats(split).collect()),
        )

    assert computed(1) == computed(7)
    by_procedure = {row.procedure: row for row in features.category_stats(frame).collect()}
    amounts = sorted(row["amount"] for row in rows if row["procedure"] == "grocery_pos")
    usual = by_procedure["grocery_pos"]
    assert usual["__amount_median"] == pytest.approx(stats.median(amounts), rel=1e-12)
    q1, _, q3 = stats.quantiles(amounts, n=4, method="inclusive")
    assert usual["__amount_scale"] == pytest.approx((q3 - q1) / features.IQR_TO_SIGMA, rel=1e-12)
    # five claims are too few for a procedure of their own: judged against every claim
    flat = by_procedure["flat_pos"]
    assert flat["__procedure_claims"] == 5 and flat["__amount_claims"] == 405
    assert flat["__amount_median"] == pytest.approx(stats.median(amounts + [19.99] * 5), rel=1e-12)
