"""Gold can score whatever silver accepts: raw rows drawn from silver's whole input domain (any number text,
extreme amounts, dates, coordinates, missing values, two layouts) go through silver, and every row silver keeps
is scored by gold and its three summaries without an error, with a score in [0, 1]. And the value that broke
31 days of gold: an amount of 5e-324 is not a claim amount."""

import datetime as dt

import pyarrow as pa
from hypothesis import HealthCheck, Phase, example, given, settings
from hypothesis import strategies as st
from pyspark.sql import functions as F

from fraud_lakehouse.claims.ingest import raw_frame
from fraud_lakehouse.claims.model import RAW_SCHEMA
from fraud_lakehouse.claims.silver import (
    MAX_AMOUNT_CAP,
    ValidationRules,
    candidates_from_raw,
    quarantined_claims,
    silver_claims,
    validate,
)
from fraud_lakehouse.detection import gold
from fraud_lakehouse.detection.config import DetectionConfig

DAYS = (dt.date(2025, 1, 6), dt.date(2025, 1, 7))
RULES = ValidationRules(amount_cap=MAX_AMOUNT_CAP, today=dt.date(2026, 1, 1))

extreme_numbers = st.sampled_from(
    [
        "5e-324", "1e-300", "0.004", "0.005", "0.01", "0.0100001", "1e308", "1.7976931348623157e308", "-0",
        "999999999.99", "1e9", "999999999.995", "1e12", "0", "-0.01", "1,234.56", "12,50", "$7.50", "1e2", ".5",
        "5.", "00000000000000000000001", "9" * 40, "inf", "NaN", "", " ", "1_000",
    ]
)  # fmt: skip
plain_numbers = st.decimals(min_value=-10, max_value=10**10, places=3, allow_nan=False, allow_infinity=False).map(str)
amounts = st.one_of(extreme_numbers, plain_numbers, st.text(max_size=6))
dates = st.one_of(st.dates(min_value=dt.date(1890, 1, 1), max_value=dt.date(2030, 1, 1)).map(str), st.text(max_size=4))
times = st.times().map(lambda t: t.strftime("%H:%M:%S"))
coordinates = st.one_of(
    st.floats(min_value=-200, max_value=200, allow_nan=False).map(lambda v: f"{v:.6f}"),
    st.sampled_from(["", "90", "-180", "1e-320", "nan"]),
)
small_text = st.text(alphabet=st.characters(codec="utf-8", exclude_categories=("Cs",)), max_size=8)
keys = st.sampled_from(["A", "B", "C", "Ünï", ""])
states = st.sampled_from(["CA", "TX", "NY", "ca", "ZZ", "", "AK"])


@st.composite
def raw_rows(draw) -> list[dict]:
    rows = []
    for number in range(draw(st.integers(min_value=1, max_value=40))):
        layout = draw(st.sampled_from(["insurance", "sparkov"]))
        row = {
            "layout": layout,
            "row_number": number + 1,
            "decimal_mark": draw(st.sampled_from([".", ","])),
            "detection_date": draw(st.sampled_from(DAYS)),
        }
        if layout == "insurance":
            row |= {
                "claim_id": draw(st.one_of(st.just(f"C{number}"), small_text)),
                "patient_id": draw(keys),
                "provider_id": draw(keys),
                "provider_name": draw(small_text),
                "procedure_code": draw(st.sampled_from(["99213", "99214", "x", ""])),
                "service_date": draw(dates),
                "submitted_date": draw(dates),
                "charge_amount": draw(amounts),
                "paid_amount": draw(amounts),
                "patient_state": draw(states),
                "provider_state": draw(states),
            }
        else:
            row |= {
                "trans_num": draw(st.one_of(st.just(f"T{number}"), small_text)),
                "cc_num": draw(st.sampled_from(["4263982640269299", "4000111122223333", ""])),
                "merchant": draw(keys),
                "category": draw(st.sampled_from(["misc_net", "grocery_pos", ""])),
                "amt": draw(amounts),
                "trans_date_trans_time": f"{draw(dates)} {draw(times)}",
                "lat": draw(coordinates),
                "long": draw(coordinates),
                "merch_lat": draw(coordinates),
                "merch_long": draw(coordinates),
                "city_pop": draw(st.one_of(st.integers(min_value=-5, max_value=10**12).map(str), st.just("1e300"))),
                "state": draw(states),
                "is_fraud": draw(st.sampled_from(["0", "1", ""])),
            }
        rows.append(row)
    return rows


def _raw(spark, rows: list[dict]):
    count = len(rows)
    columns = {}
    for field in RAW_SCHEMA.fields:
        values = [row.get(field.name) for row in rows]
        if field.name == "source_file":
            values = ["domain.csv"] * count
        elif field.name == "ingested_at":
            values = [dt.datetime(2025, 1, 8)] * count
        columns[field.name] = values
    table = pa.table(
        {
            name: pa.array(values, type=pa.date32() if name == "detection_date" else None)
            if name in ("row_number", "ingested_at", "detection_date")
            else pa.array(values, pa.string())
            for name, values in columns.items()
        }
    )
    return raw_frame(spark, [table])


def _score_what_silver_keeps(spark, rows: list[dict]) -> tuple[int, int]:
    # each plan runs once and its rows are handed on as data: the example's engine jobs are silver's typing,
    # gold's scoring and the summaries, not the same typing again for each question asked of it
    validation = validate(candidates_from_raw(_raw(spark, rows), "domain-test-key-0123"), RULES)
    validated = spark.createDataFrame(validation.collect(), validation.schema)
    silver = silver_claims(validated)
    quarantined = quarantined_claims(validated).count()
    window = (DAYS[0], DAYS[-1] + dt.timedelta(days=1))
    scoring = gold.flag_claims(silver, window, DetectionConfig())
    flagged_rows = scoring.collect()
    flagged = spark.createDataFrame(flagged_rows, scoring.schema)
    for summary in (gold.provider_risk(flagged), gold.fraud_by_rule(flagged), gold.detection_quality(flagged)):
        summary.collect()
    assert len(flagged_rows) == silver.count()
    assert all(0.0 <= row.fraud_score <= 1.0 for row in flagged_rows)
    kept = silver.agg(F.min("amount"), F.max("amount")).first()
    if kept[0] is not None:
        assert 0.01 <= kept[0] and kept[1] < MAX_AMOUNT_CAP
        # whole cents
        assert silver.where(F.abs(F.col("amount") * 100 - F.round(F.col("amount") * 100)) > 1e-6).count() == 0
    return len(flagged_rows), quarantined


@settings(
    max_examples=20,
    deadline=None,
    derandomize=True,
    # every example runs two engine jobs: report the failing example as drawn rather than spend minutes shrinking it
    phases=(Phase.explicit, Phase.generate),
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.function_scoped_fixture],
)
@given(rows=raw_rows())
@example(rows=[{"layout": "insurance", "row_number": 1, "decimal_mark": ".", "detection_date": DAYS[0],
                "claim_id": "C1", "patient_id": "P", "provider_id": "PR", "procedure_code": "99213",
                "service_date": "2025-01-06", "charge_amount": "0.01"}])  # fmt: skip
def test_gold_scores_every_row_silver_accepts(spark, rows):
    scored, quarantined = _score_what_silver_keeps(spark, rows)
    assert scored + quarantined == len(rows)


def test_an_amount_below_a_cent_is_quarantined_and_gold_runs(spark):
    base = {"layout": "insurance", "decimal_mark": ".", "detection_date": DAYS[0], "patient_id": "P",
            "provider_id": "PR", "procedure_code": "99213", "service_date": "2025-01-06"}  # fmt: skip
    rows = [
        {**base, "row_number": 1, "claim_id": "tiny", "charge_amount": "5e-324"},
        {**base, "row_number": 2, "claim_id": "ok", "charge_amount": "120.505"},
    ]
    validated = validate(candidates_from_raw(_raw(spark, rows), "domain-test-key-0123"), RULES)
    quarantine = {row.claim_id: row.reason for row in quarantined_claims(validated).collect()}
    assert quarantine == {"tiny": "amount_not_positive"}
    assert [(row.claim_id, row.amount) for row in silver_claims(validated).collect()] == [("ok", 120.51)]
    assert _score_what_silver_keeps(spark, rows) == (1, 1)
