"""No identifier in clear outside bronze: a corpus built to leak them (SSNs with and without dashes, card numbers
plain, dashed, dotted and spaced, patient ids, Medicare numbers, names) goes through the whole graph in Dagster,
in good rows, bad rows, rows that cannot be split and files that are rejected. Then every silver, gold and
quarantine table and every event of the run (materialization previews and metadata, logs, check results) is
scanned for every one of them, and for the synthetic customers' SSNs and card numbers."""

import datetime as dt
import json

from dagster import instance_for_test
from dagster._serdes import serialize_value
from pyspark.sql import functions as F

from fraud_lakehouse_tests.lakehouse import definitions_for_test

DAY = "2025-01-06"
INSURANCE = (
    "claim_id,patient_id,provider_id,provider_name,procedure_code,diagnosis_code,service_date,submitted_date,"
    "charge_amount,paid_amount,patient_state,provider_state,place_of_service"
)
KAGGLE = (
    "trans_date_trans_time,cc_num,merchant,category,amt,first,last,gender,street,city,state,zip,lat,long,"
    "city_pop,job,dob,trans_num,unix_time,merch_lat,merch_long,is_fraud"
)
PATIENTS = ["PATIENT-ZX81-0042", "PATIENT-QW12-7781", "MRN99887766"]
SSNS = ["321-54-9876", "321549877", "321 54 9878"]
CARDS = ["4263982640269299", "4263-9826-4026-9117", "4263.9826.4026.9323", "4263 9826 4026 9331"]
MBIS = ["1EG4-TE5-MK73", "2AD5TF6NK84"]
NAMES = ["Zebulon", "Quixtabel", "Wrenfield Court"]


def _insurance(claim: str, patient: str, amount: str = "120.50", name: str = "Clinic") -> str:
    return f"{claim},{patient},PR1,{name},99213,J45,{DAY},{DAY},{amount},100,CA,CA,11"


def _kaggle(trans: str, card: str, amount: str = "12.50") -> str:
    return (
        f"{DAY} 01:02:03,{card},Shop,misc_net,{amount},{NAMES[0]},{NAMES[1]},F,{NAMES[2]},Austin,TX,78701,30.2,"
        f"-97.7,900000,Nurse,1980-01-01,{trans},1736125323,30.5,-97.9,0"
    )


def _corpus(landing) -> None:
    day = landing / DAY
    day.mkdir(parents=True)
    rows = [
        _insurance("C1", PATIENTS[0]),
        _insurance("C2", PATIENTS[1], amount="-5"),  # quarantined with its raw values
        _insurance("C3", PATIENTS[2], amount="abc"),
        f"C4,{PATIENTS[0]},PR1",  # too few fields: cannot be split
        f'C5,{PATIENTS[1]},PR1,"Clinic {SSNS[1]},99213',  # an open quote
        f"C6,{SSNS[0]} {MBIS[0]} {CARDS[2]},PR1",
        _insurance("C7", MBIS[1], name=f"Dr {SSNS[2]}"),  # an identifier in a column that holds none
    ]
    (day / "claims.csv").write_text("\n".join([INSURANCE, *rows]) + "\n")
    cards = [_kaggle("t1", CARDS[0]), _kaggle("t2", CARDS[1], amount="-1"), f"{DAY} 01:02:03,{CARDS[3]},Shop"]
    (day / "cards.csv").write_text("\n".join([KAGGLE, *cards]) + "\n")
    # no header: the first row is read as one, and the rejection says why without showing it
    (day / "no_header.csv").write_text(_insurance("C8", PATIENTS[2]) + "\n" + _insurance("C9", SSNS[0]) + "\n")
    (day / "lines.jsonl").write_text(
        json.dumps({"claim_id": "J1", "patient_id": PATIENTS[0], "charge_amount": CARDS[0]}) + "\n{" + SSNS[0] + "\n"
    )


def test_no_identifier_in_clear_outside_bronze(tmp_path, spark_engine):
    landing, lake_root = tmp_path / "landing", str(tmp_path / "lake")
    _corpus(landing)
    defs, lake = definitions_for_test(spark_engine, lake_root, landing, customers=50)
    job = defs.resolve_job_def("lakehouse_job")
    window = (dt.date(2025, 1, 6), dt.date(2025, 1, 7))
    with instance_for_test() as instance:
        result = job.execute_in_process(instance=instance, partition_key=DAY, raise_on_error=False)
        assert result.success
        events = [serialize_value(record) for record in instance.get_records_for_run(result.run_id).records]

    customers = lake.spark.spark_session.read.format("delta").load(lake.uri("bronze", "customers"))
    synthetic = [value for row in customers.select("ssn", "cc_num").collect() for value in row]
    corpus = PATIENTS + SSNS + CARDS + MBIS + NAMES
    # the corpus really reached bronze, in clear, as it should there
    raw_text = lake.read_window("bronze", "claims_raw", *window).select(F.to_json(F.struct("*"))).collect()
    assert all(any(value in row[0] for row in raw_text) for value in PATIENTS + CARDS[:2])

    leaks = []
    for layer, table in [
        ("silver", "claims"),
        ("silver", "claims_quarantine"),
        ("gold", "flagged_claims"),
        ("gold", "provider_risk"),
        ("gold", "fraud_by_rule"),
        ("gold", "detection_quality"),
    ]:
        rows = lake.read_window(layer, table, *window).select(F.to_json(F.struct("*"))).collect()
        assert rows or table == "detection_quality"
        for value in corpus + synthetic:
            leaks += [f"{layer}/{table}: {value}" for row in rows if value in row[0]]
    for value in corpus + synthetic:
        leaks += [f"event log: {value}" for event in events if value in event]
    assert not leaks, leaks[:20]
    # and the quarantine still says what is wrong with each bad row
    quarantine = lake.read_window("silver", "claims_quarantine", *window).collect()
    reasons = {(row.source_file.rsplit("/", 1)[-1], row.row_number): row.reasons for row in quarantine}
    assert "wrong_field_count" in reasons[("claims.csv", 4)] and "unclosed_quote" in reasons[("claims.csv", 5)]


def test_the_masking_expression_masks_as_the_python_masking_does(spark):
    """``redact_identifiers`` tests a cheap pattern first and leaves text that fails it alone: every identifier
    shape passes that test, wherever it stands in the text (the Python masking has no such test)."""
    from fraud_lakehouse.claims.privacy import redact_identifiers, redact_identifiers_python

    shapes = [*SSNS, *CARDS, *MBIS, "a.person@example.org", "4263-9826-4026-9299-123"]
    texts = [*shapes, "CLM00420000000", "PAT227001", "2025-01-06", "120.50", "1,234,567.89", "Clinic 2434", ""]
    texts += [f"{before}{shape}{after}" for shape in shapes for before, after in [("x ", " y"), ("(", ")"), ("#", ".")]]
    texts += ["CLM" + shape for shape in shapes] + [shape.replace("-", "--") for shape in shapes]
    frame = spark.createDataFrame([(text,) for text in texts], "text string")
    masked = frame.select("text", redact_identifiers(F.col("text")).alias("masked")).collect()
    assert {row["text"]: row["masked"] for row in masked} == {text: redact_identifiers_python(text) for text in texts}
