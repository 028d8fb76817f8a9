from fraud_lakehouse.detection import duplicates
from fraud_lakehouse.detection.config import DetectionConfig
from fraud_lakehouse_tests.rules.claims import CONFIG, at, claim, claims


def _run(spark, rows, config=CONFIG):
    frame = claims(spark, rows)
    result = duplicates.near_duplicate(duplicates.exact_duplicate(frame, config), config)
    return {r.claim_id: (r.rule_exact_duplicate, r.rule_near_duplicate, r.duplicate_of) for r in result.collect()}


def test_exact_copies_point_to_the_first(spark):
    rows = [claim("first", at=at(0, 9)), claim("copy", at=at(0, 15)), claim("copy2", at=at(0, 18))]
    result = _run(spark, rows)
    assert result["first"] == (False, False, None)
    assert result["copy"] == (True, False, "first")
    assert result["copy2"] == (True, False, "first")


def test_near_duplicate_within_the_window_and_similarity(spark):
    rows = [
        claim("orig", amount=100.0, at=at(0, 9)),
        claim("near", amount=97.0, at=at(5, 9)),  # 0.6 + 0.4 x 0.97 = 0.988
        claim("other_procedure", amount=100.0, procedure="misc_pos", at=at(6, 9)),  # 0.4: not similar
        claim("too_late", amount=100.0, at=at(40, 9), detection_date=at(40, 9).date()),
        claim("other_provider", amount=100.0, provider_id="prov-2", at=at(1, 9)),
    ]
    result = _run(spark, rows)
    assert result["near"] == (False, True, "orig")
    assert result["other_procedure"][1] is False
    assert result["other_provider"] == (False, False, None)
    # 40 days after orig, but 35 after "near" and 34 after "other_procedure": outside 30 days of all
    assert result["too_late"] == (False, False, None)


def test_similarity_threshold_is_config(spark):
    rows = [claim("orig", amount=100.0, at=at(0, 9)), claim("near", amount=80.0, at=at(1, 9))]  # 0.92
    assert _run(spark, rows)[("near")][1] is True
    assert _run(spark, rows, DetectionConfig(near_duplicate_similarity=0.95))["near"][1] is False
