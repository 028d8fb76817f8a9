"""Transformation parity: classic pyspark 3.5 (the EMR version, JVM) gives the rows Sail gives.

The classic side runs in its own virtual environment (`.venv-spark35`, made
on first use from parity/requirements-spark35.txt), on in-memory data: the
machines that run CI cannot download the Delta or S3 jars, and the pure
transformations need neither. Both sides also read the Parquet data files an
ingest wrote into bronze/claims_raw, as plain Parquet with the table's columns.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import shutil
import subprocess
from collections.abc import Iterator

import pytest
from deltalake import DeltaTable

from fraud_lakehouse_tests.conftest import REPO_ROOT
from fraud_lakehouse_tests.parity.environment import classic_python
from fraud_lakehouse_tests.parity.transformations import BRONZE_FILES_VARIABLE, INSURANCE_FILE, run_cases

# the header of the insurance file the transformations already use
INSURANCE_HEADER = INSURANCE_FILE.decode().split("\n", 1)[0] + "\n"
US_DATED_CLAIMS = 40
NAMED_MONTH_CLAIMS = 20
EXPORT_AMOUNT_CLAIMS = 24
# claims in each of two files of dates with other separators (dots; two-digit years, compact dates)
SEPARATED_DATE_CLAIMS = 12
SPARKOV_FILE = (
    "trans_num|cc_num|trans_date|trans_time|unix_time|category|amt|is_fraud|merchant|merch_lat|merch_long|state|lat|"
    "long|city_pop\n"
    "t1|4263982640269299|2025-02-28|02:03:04|1740708184|misc_net|5.5|1|Shop|30.1|-97.1|TX|30.2|-97.7|900000\n"
    "t2|4263982640269299|2025-02-28|12:03:04|1740744184|grocery_pos|55.10|0|Shop|30.1|-97.1|TX|30.2|-97.7|900000\n"
)


def bronze_records() -> int:
    """Records of every landed file of ``bronze_files``: the 45,000 insurance claims and the broken one, then the
    rest."""
    files = (SPARKOV_FILE.count("\n") - 1, US_DATED_CLAIMS, NAMED_MONTH_CLAIMS, EXPORT_AMOUNT_CLAIMS)
    return 45_001 + sum(files) + 2 * SEPARATED_DATE_CLAIMS


@pytest.fixture(scope="module")
def bronze_files(tmp_path_factory) -> Iterator[list[str]]:
    """Data files of bronze/claims_raw as an ingest writes them (two layouts, each file leaving out the other's
    columns; a record broken after the first batch), their paths handed to both engines' runs."""
    from fraud_lakehouse.claims.ingest import ingest_files
    from fraud_lakehouse.claims.landing import Landing

    root = tmp_path_factory.mktemp("bronze_files")
    day = dt.date(2025, 2, 28)
    folder = root / "landing" / day.isoformat()
    folder.mkdir(parents=True)
    insurance = [
        f"C{i},P{i % 97},PR{i % 13},Clinic {i % 13},99213,J45,{day},{day},{100 + i % 900}.25,90,CA,NV,11"
        for i in range(45_000)  # more than one 4 MiB block
    ]
    insurance.insert(44_990, 'C-broken,"an open quote,P1')
    (folder / "claims.csv").write_text(INSURANCE_HEADER + "\n".join(insurance) + "\n")
    (folder / "cards.csv").write_text(SPARKOV_FILE)
    # US dates (month first, decided by the days above 12), with a time of day, zones and the 12-hour clock
    times = ("14:30", "14:30-05:00", "14:30Z", "2:30 PM", "02:30:00 pm", "12:15 AM", "13:00 PM")
    # (some with no-break spaces and tabs around them, as copies from web pages carry)
    blanks = ("", "\u00a0", "\t", "")
    us_dates = [
        f"U{i},P{i},PR1,Clinic,99213,J45,{blanks[i % 4]}2/{1 + i % 28}/2025{blanks[i % 3]},"
        f"02/27/2025 {times[i % len(times)]},120.50,90,{blanks[i % 4]}CA,CA,11"
        for i in range(US_DATED_CLAIMS)
    ]
    (folder / "us_claims.csv").write_text(INSURANCE_HEADER + "\n".join(us_dates) + "\n")
    # months named in words (English, French, German, Spanish, Italian, Portuguese, Dutch), with times after them
    named = (
        "05-Feb-2025",
        "5 February 2025",
        '"Feb 5, 2025 14:30"',
        "05FEB2025",
        "Sept. 3 2024",
        "31-Feb-2025",
        "5-Feb-25",
        "31-Dec-99 23:59",
        "5 févr. 2025",
        "5. Februar 2025",
        "5 de febrero de 2025",
        "5 FÉV 2025",
        '"February 5th, 2025"',
        "1er févr. 2025 08:00",
        "2nd Feb 2025",
        "5 febbraio 2025",
        "5 de fevereiro de 2025",
        "5 februari 2025",
        "5 MARÇO 2025",
        "5 mrt 2025 08:00",
    )
    named_dates = [
        f"N{i},P{i},PR1,Clinic,99213,J45,{named[i % len(named)]},2025-02-27,120.50,90,CA,CA,11"
        for i in range(NAMED_MONTH_CLAIMS)
    ]
    (folder / "named_months.csv").write_text(INSURANCE_HEADER + "\n".join(named_dates) + "\n")
    # day first with dots (German exports); two-digit years (Excel's US default), dots year first, no separator
    dotted = [
        f"D{i},P{i},PR1,Clinic,99213,J45,{1 + i * 2}.02.2025,27.02.2025 14:30,120.50,90,CA,CA,11"
        for i in range(SEPARATED_DATE_CLAIMS)
    ]
    (folder / "dotted_dates.csv").write_text(INSURANCE_HEADER + "\n".join(dotted) + "\n")
    # and Unix times (seconds, milliseconds) and Excel serial dates
    submissions = (
        "20250227",
        "2025.02.27",
        "2/27/25 2:30 PM",
        "02-27-25",
        "1740668400",
        "1740668400500",
        "45715.5",
        "2025-2-27 9:05",
    )
    short = [
        f"Y{i},P{i},PR1,Clinic,99213,J45,2/{1 + i * 2}/25,{submissions[i % len(submissions)]},120.50,90,CA,CA,11"
        for i in range(SEPARATED_DATE_CLAIMS)
    ]
    (folder / "short_dates.csv").write_text(INSURANCE_HEADER + "\n".join(short) + "\n")
    # amounts as exports write them: currency symbols and codes, accounting negatives, space-grouped thousands, lakhs
    amounts = ("120.50 USD", "USD 120.50", "120.50$", '"1 234.50"', '"1\u00a0234.50\u00a0€"', "(120.50)", "12 34",
               "NULL", "NaN", '"1,23,456.50"', '"₹ 4,56,789"', "120.50-")  # fmt: skip
    paid = ("90", "\\N", "NA", "0000-00-00")
    # and missing-value markers in key columns (a patient, a state)
    patients = ("P", "P", "P", "P", "NULL", "N/A")
    export_amounts = [
        f"X{i},{patients[i % 6]}{i if i % 6 < 4 else ''},PR1,Clinic,99213,J45,2025-02-27,2025-02-27,"
        f"{amounts[i % len(amounts)]},{paid[i % len(paid)]},CA,{'NA' if i % 4 == 1 else 'CA'},11"
        for i in range(EXPORT_AMOUNT_CLAIMS)
    ]
    (folder / "export_amounts.csv").write_text(INSURANCE_HEADER + "\n".join(export_amounts) + "\n")
    landing = Landing(str(root / "landing"))
    uri = str(root / "lake" / "bronze" / "claims_raw")
    run = ingest_files(landing, [(landed, day) for landed in landing.list_files()], uri,
                       (day, day + dt.timedelta(days=1)), dt.datetime(2025, 3, 1, tzinfo=dt.UTC))  # fmt: skip
    assert not run.rejected and run.records == bronze_records()
    paths = DeltaTable(uri).file_uris()
    os.environ[BRONZE_FILES_VARIABLE] = os.pathsep.join(paths)
    try:
        yield paths
    finally:
        os.environ.pop(BRONZE_FILES_VARIABLE, None)


@pytest.fixture(scope="module")
def classic_results(bronze_files) -> dict:
    if shutil.which("java") is None:
        pytest.fail("classic Spark needs Java (17) on PATH")
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT)}
    # A Spark Connect session in this process (Sail) leaves SPARK_REMOTE and
    # SPARK_CONNECT_MODE_ENABLED in the environment; classic Spark must not see them.
    for name in ("SPARK_HOME", "SPARK_REMOTE", "SPARK_CONNECT_MODE_ENABLED", "SPARK_LOCAL_REMOTE"):
        env.pop(name, None)
    result = subprocess.run(
        [classic_python(), str(REPO_ROOT / "fraud_lakehouse_tests" / "parity" / "run_classic.py")],
        cwd=REPO_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=900,
    )
    lines = [line for line in result.stdout.splitlines() if line.startswith("PARITY-RESULT ")]
    assert result.returncode == 0 and lines, result.stdout[-2000:] + result.stderr[-4000:]
    return json.loads(lines[-1].removeprefix("PARITY-RESULT "))


def test_classic_side_is_spark_3_5(classic_results):
    assert classic_results["spark_version"].startswith("3.5.")


CASES = [
    "bronze_data_files",
    "customers",
    "transactions",
    "silver_claims",
    "silver_quarantine",
    "gold_flagged_claims",
    "gold_provider_risk",
    "gold_fraud_by_rule",
    "gold_detection_quality",
]


@pytest.fixture(scope="module")
def sail_results(spark, bronze_files) -> dict:
    return json.loads(json.dumps(run_cases(spark), default=str))


@pytest.mark.parametrize("case", CASES)
def test_transformation_rows_match_between_classic_spark_and_sail(case, classic_results, sail_results):
    sail = sail_results[case]
    classic = classic_results[case]
    assert classic["rows"] > 0
    assert classic["columns"] == sail["columns"]
    assert classic["sample"] == sail["sample"]
    assert (classic["rows"], classic["sha256"]) == (sail["rows"], sail["sha256"])


def test_both_engines_read_every_row_of_data_files_that_leave_columns_out(bronze_files, classic_results, sail_results):
    import pyarrow.parquet as pq

    widths = {len(pq.read_schema(path).names) for path in bronze_files}
    assert len(widths) > 1  # the two layouts' data files hold different columns
    expected = bronze_records()
    assert classic_results["bronze_data_files"]["rows"] == sail_results["bronze_data_files"]["rows"] == expected
