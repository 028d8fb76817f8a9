"""Bronze to gold through Dagster: landed files and synthetic transactions, re-ingest, checks, no clear PII."""

import datetime as dt
import os

import pytest
from dagster import AssetKey, instance_for_test
from pyspark.sql import functions as F

from fraud_lakehouse.claims.privacy import DEVELOPMENT_KEY, hmac_sha256_python
from fraud_lakehouse.reports import run_report
from fraud_lakehouse.resources.lake_tables import LakeTables
from fraud_lakehouse_tests.lakehouse import definitions_for_test

RANGE_TAGS = {"dagster/asset_partition_range_start": "2025-01-01", "dagster/asset_partition_range_end": "2025-01-02"}
INSURANCE_HEADER = (
    "claim_id,patient_id,provider_id,provider_name,procedure_code,diagnosis_code,service_date,submitted_date,"
    "charge_amount,paid_amount,patient_state,provider_state,place_of_service"
)
KAGGLE_HEADER = (
    ",trans_date_trans_time,cc_num,merchant,category,amt,first,last,gender,street,city,state,zip,lat,long,"
    "city_pop,job,dob,trans_num,unix_time,merch_lat,merch_long,is_fraud"
)
CARD = "4263982640269299"


def _insurance_rows(prefix: str, count: int, day: str = "2025-01-01") -> list[str]:
    return [
        f"{prefix}{i},P{i % 7},PR{i % 3},Clinic {i % 3},9921{i % 5},J45,{day},{day},{100 + i}.50,{90 + i},CA,CA,11"
        for i in range(count)
    ]


@pytest.fixture()
def landed(tmp_path):
    landing = tmp_path / "landing"
    day1, day2 = landing / "2025-01-01", landing / "2025-01-02"
    day1.mkdir(parents=True)
    day2.mkdir(parents=True)
    rows = _insurance_rows("C", 8)
    rows.append("C1,P1,PR1,Clinic 1,99211,J45,2025-01-01,2025-01-01,101.50,91,CA,CA,11")  # duplicate claim id
    rows.append("BAD1,P1,PR1,Clinic 1,99211,J45,2025-01-01")  # short row
    rows.append("NEG1,P1,PR1,Clinic 1,99211,J45,2025-01-01,2025-01-01,-5,0,CA,CA,11")  # negative amount
    (day1 / "insurance.csv").write_text("\n".join([INSURANCE_HEADER, *rows]) + "\n")
    kaggle = [
        f"{i},2025-01-01 0{i}:10:00,{CARD},fraud_Kirlin and Sons,shopping_net,{900 + i}.00,Jane,Doe,F,"
        f"1 Main St,Austin,TX,78701,30.27,-97.74,900000,Nurse,1980-01-01,k{i:031d},1325376018,30.5,-97.9,1"
        for i in range(3)
    ]
    (day1 / "cards.csv").write_text("\n".join([KAGGLE_HEADER, *kaggle]) + "\n")
    (day1 / "garbage.bin").write_bytes(bytes(range(256)) * 4)
    (day2 / "claims.csv").write_text("\n".join([INSURANCE_HEADER, *_insurance_rows("D", 5, "2025-01-02")]) + "\n")
    return landing


def _job(tmp_path, spark_engine, landing):
    defs, lake = definitions_for_test(spark_engine, str(tmp_path / "lake"), landing)
    return defs.resolve_job_def("lakehouse_job"), lake


def _table(lake: LakeTables, layer: str, name: str):
    return lake.read_window(layer, name, dt.date(2025, 1, 1), dt.date(2025, 1, 3))


def test_bronze_to_gold_for_two_days(tmp_path, spark_engine, landed):
    job, lake = _job(tmp_path, spark_engine, landed)
    with instance_for_test() as instance:
        result = job.execute_in_process(instance=instance, tags=RANGE_TAGS)
    assert result.success
    checks = {(e.asset_key.path[-1], e.check_name): e.passed for e in result.get_asset_check_evaluations()}
    assert checks[("claims", "rows_balance")] and checks[("claims", "unique_claim_id")]
    assert checks[("claims", "no_null_keys")]
    assert ("detection_quality", "roc_auc_floor") in checks

    raw = _table(lake, "bronze", "claims_raw")
    assert raw.count() == 11 + 3 + 5
    rejected = _table(lake, "bronze", "claims_rejected_files").collect()
    assert [(os.path.basename(r.source_file), r.reason) for r in rejected] == [("garbage.bin", "not_text")]
    assert (landed / "2025-01-01" / "garbage.bin").exists()  # left where it is

    silver = _table(lake, "silver", "claims")
    quarantine = _table(lake, "silver", "claims_quarantine")
    transactions = _table(lake, "bronze", "transactions").count()
    assert silver.count() + quarantine.count() == raw.count() + transactions
    reasons = {r.row_number: r.reason for r in quarantine.where(F.col("source") == "insurance").collect()}
    assert reasons == {9: "duplicate_claim_id", 10: "malformed_row", 11: "amount_not_positive"}

    # No card number leaves bronze in clear text; the keyed hash joins instead.
    card_key = hmac_sha256_python(CARD, DEVELOPMENT_KEY)
    assert silver.where(F.col("customer_key") == card_key).count() == 3
    for layer, name in [("silver", "claims"), ("silver", "claims_quarantine"), ("gold", "flagged_claims")]:
        text = _table(lake, layer, name).select(F.to_json(F.struct("*")).alias("row"))
        assert text.where(F.col("row").contains(CARD)).count() == 0, f"{layer}/{name} holds a card number"

    flagged = _table(lake, "gold", "flagged_claims")
    assert flagged.count() == silver.count()
    scores = flagged.agg(F.min("fraud_score"), F.max("fraud_score")).first()
    assert 0 <= scores[0] <= scores[1] <= 1
    assert _table(lake, "gold", "provider_risk").count() > 0
    assert _table(lake, "gold", "fraud_by_rule").count() > 0
    quality_days = {r.detection_date for r in _table(lake, "gold", "detection_quality").collect()}
    assert quality_days == {dt.date(2025, 1, 1), dt.date(2025, 1, 2)}

    # the saved queries run on the engine over what was written
    spark = spark_engine.spark_session
    by_rule = run_report(spark, lake.lake_root, "rules", dt.date(2025, 1, 1))
    assert list(by_rule.columns) == ["rule", "family", "claims", "amount", "labelled_fraud"] and len(by_rule) > 0
    expected = _table(lake, "gold", "fraud_by_rule").where(F.col("detection_date") == dt.date(2025, 1, 1)).count()
    assert len(by_rule) == expected
    providers = run_report(spark, lake.lake_root, "providers", dt.date(2025, 1, 1))
    high = flagged.where((F.col("risk_level") == "high") & (F.col("detection_date") == dt.date(2025, 1, 1)))
    assert len(providers) < 100  # under the query's LIMIT, so it sums every high-risk claim of the day
    assert int(providers["high_risk_claims"].sum()) == high.count()
    duplicates = run_report(spark, lake.lake_root, "duplicates", dt.date(2025, 1, 1))
    assert {"claim_id", "duplicate_of", "kind"} <= set(duplicates.columns)


def test_reingesting_a_file_replaces_only_its_rows(tmp_path, spark_engine, landed):
    job, lake = _job(tmp_path, spark_engine, landed)
    with instance_for_test() as instance:
        assert job.execute_in_process(instance=instance, tags=RANGE_TAGS).success
        insurance = landed / "2025-01-01" / "insurance.csv"
        insurance.write_text("\n".join([INSURANCE_HEADER, *_insurance_rows("E", 4)]) + "\n")
        day_one = {"ops": {"claims_raw": {"config": {"files": ["2025-01-01/insurance.csv"]}}}}
        result = job.execute_in_process(instance=instance, partition_key="2025-01-01", run_config=day_one)
        assert result.success
        # twice: idempotent
        assert job.execute_in_process(instance=instance, partition_key="2025-01-01", run_config=day_one).success
    raw = _table(lake, "bronze", "claims_raw")
    per_file = {os.path.basename(r.source_file): r["count"] for r in raw.groupBy("source_file").count().collect()}
    assert per_file == {"insurance.csv": 4, "cards.csv": 3, "claims.csv": 5}
    claim_ids = {r.claim_id for r in raw.where(F.col("source_file").endswith("insurance.csv")).collect()}
    assert claim_ids == {"E0", "E1", "E2", "E3"}
    # the rejected binary file of the day is still recorded (not one of the re-ingested files)
    assert _table(lake, "bronze", "claims_rejected_files").count() == 1


def test_a_claims_only_deployment_needs_no_synthetic_table(tmp_path, spark_engine, landed):
    defs, lake = definitions_for_test(spark_engine, str(tmp_path / "lake"), landed, synthetic_feed=False)
    keys = {"/".join(key.path) for key in defs.resolve_asset_graph().get_all_asset_keys()}
    assert not keys & {"bronze/customers", "bronze/transactions"}
    job = defs.resolve_job_def("claims_job")
    with instance_for_test() as instance:
        result = job.execute_in_process(instance=instance, partition_key="2025-01-02")
    assert result.success
    assert not (tmp_path / "lake" / "bronze" / "transactions").exists()
    assert not (tmp_path / "lake" / "bronze" / "customers").exists()
    window = (dt.date(2025, 1, 2), dt.date(2025, 1, 3))
    assert lake.read_window("gold", "flagged_claims", *window).count() == 5  # the five landed claims, nothing else
    assert {r.source for r in lake.read_window("silver", "claims", *window).collect()} == {"insurance"}


def test_a_missing_upstream_table_is_named(tmp_path, spark_engine, landed):
    defs, _ = definitions_for_test(spark_engine, str(tmp_path / "lake"), landed)
    silver_only = defs.resolve_implicit_global_asset_job_def().get_subset(
        asset_selection={AssetKey(["silver", "claims"]), AssetKey(["silver", "claims_quarantine"])}
    )
    with instance_for_test() as instance:
        result = silver_only.execute_in_process(instance=instance, partition_key="2025-01-02", raise_on_error=False)
    assert not result.success
    (failure,) = [event for event in result.all_events if event.event_type_value == "STEP_FAILURE"]
    message = failure.step_failure_data.error.cause.message if failure.step_failure_data.error.cause else ""
    assert "bronze/claims_raw has not been materialized yet" in (failure.step_failure_data.error.message + message)
