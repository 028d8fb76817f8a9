from fraud_lakehouse.detection.config import DetectionConfig
from fraud_lakehouse.detection.scoring import apply_rules, rule
from fraud_lakehouse_tests.rules.claims import CONFIG, DAY, at, claim, claims


def _run(spark, rows, config=CONFIG):
    result = apply_rules(claims(spark, rows), config, (rule("exact_duplicate"), rule("near_duplicate"))).selectExpr(
        "claim_id", "rule_exact_duplicate", "rule_near_duplicate", "coalesce(__exact_original, __near_original) AS of"
    )
    return {r.claim_id: (r.rule_exact_duplicate, r.rule_near_duplicate, r.of) for r in result.collect()}


def test_exact_copies_point_to_the_first(spark):
    rows = [claim("first", at=at(0, 9)), claim("copy", at=at(0, 15)), claim("copy2", at=at(0, 18))]
    result = _run(spark, rows)
    assert result["first"] == (False, False, None)
    assert result["copy"] == (True, False, "first")
    assert result["copy2"] == (True, False, "first")


def test_the_copy_is_the_one_submitted_later(spark):
    # the same service, billed under two claim ids: the original is the first submitted, whatever its id says
    later = DAY.replace(day=DAY.day + 2)
    rows = [claim("A-late", submitted_date=later, source_file="claims/b.csv", row_number=1),
            claim("Z-first", source_file="claims/b.csv", row_number=2)]  # fmt: skip
    assert _run(spark, rows)["A-late"] == (True, False, "Z-first")
    # submitted the same day: file, then row order decides
    rows = [claim("A", source_file="claims/b.csv", row_number=1), claim("B", source_file="claims/a.csv", row_number=9),
            claim("C", source_file="claims/a.csv", row_number=3)]  # fmt: skip
    result = _run(spark, rows)
    assert (result["C"][0], result["B"], result["A"]) == (False, (True, False, "C"), (True, False, "C"))


def test_a_rebill_of_the_same_day_is_a_near_duplicate_and_a_repeat_visit_is_not(spark):
    rows = [
        claim("orig", amount=100.0, at=at(0, 9)),
        claim("rebill", amount=97.0, at=at(0, 15)),  # 0.6 + 0.4 x 0.97 = 0.988, the same service date
        claim("other_procedure", amount=100.0, procedure="misc_pos", at=at(0, 16)),  # 0.4: not similar
        claim("next_visit", amount=100.0, at=at(5, 9)),  # another day: a repeat visit
        claim("other_provider", amount=100.0, provider_id="prov-2", at=at(0, 10)),
    ]
    result = _run(spark, rows)
    assert result["rebill"] == (False, True, "orig")
    assert result["other_procedure"][1] is False
    assert result["other_provider"] == (False, False, None)
    assert result["next_visit"] == (False, False, None)


def test_near_duplicate_window_and_similarity_are_config(spark):
    rows = [claim("orig", amount=100.0, at=at(0, 9)), claim("near", amount=80.0, at=at(1, 9))]  # 0.92, a day later
    assert _run(spark, rows)["near"][1] is False
    assert _run(spark, rows, DetectionConfig(near_duplicate_days=30))["near"][1] is True
    config = DetectionConfig(near_duplicate_days=30, near_duplicate_similarity=0.95)
    assert _run(spark, rows, config)["near"][1] is False
