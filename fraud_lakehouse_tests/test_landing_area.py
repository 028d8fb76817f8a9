"""Every object under the landing area ends somewhere a user can see: ingested, recorded as rejected with its
reason, waiting for its date, or skipped as an upload still in progress; `fraud-lakehouse landing` shows which."""

import datetime as dt
import os

import pytest
from dagster import instance_for_test

from fraud_lakehouse.claims.landing import IN_PROGRESS_SUFFIXES, Landing, skip_reason
from fraud_lakehouse.cli import main
from fraud_lakehouse.landing_status import landing_status
from fraud_lakehouse_tests.lakehouse import definitions_for_test

HEADER = (
    "claim_id,patient_id,provider_id,provider_name,procedure_code,diagnosis_code,service_date,submitted_date,"
    "charge_amount,paid_amount,patient_state,provider_state,place_of_service"
)
UPLOADED = dt.datetime(2025, 1, 6, 12, tzinfo=dt.UTC)


def _claims(claim_id: str) -> str:
    return f"{HEADER}\n{claim_id},P1,PR1,Clinic,99213,J45,2025-01-06,2025-01-06,120.50,100,CA,CA,11\n"


def _land(landing, relative: str, text: str) -> None:
    path = landing / relative
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    os.utime(path, (UPLOADED.timestamp(), UPLOADED.timestamp()))  # uploaded on 2025-01-06


@pytest.mark.parametrize(
    "name",
    ["x.csv.part", "x.csv.crdownload", "x.csv.partial", "x.csv.filepart", "x.csv._COPYING_", "x.csv.tmp",
     "x.csv.download", "_temporary/0/part-0000.csv", ".x.csv.swp", "_SUCCESS", "x.csv~", "x.csv.inprogress",
     "~$claims.xlsx"],
)  # fmt: skip
def test_uploads_in_progress_are_not_claims_files(name):
    assert skip_reason(f"2025-01-06/{name}") is not None


def test_claims_file_names_are_read():
    assert skip_reason("2025-01-06/claims.csv") is None
    assert skip_reason("2025-01-06/claims part 2.csv.gz") is None
    assert len(IN_PROGRESS_SUFFIXES) >= 10


def test_every_landed_object_is_ingested_rejected_waiting_or_skipped(tmp_path, spark_engine, capsys, monkeypatch):
    landing, lake_root = tmp_path / "landing", str(tmp_path / "lake")
    _land(landing, "2025-01-06/good.csv", _claims("C1"))
    _land(landing, "2025-01-06/upload.csv.part", _claims("C2"))  # still uploading
    _land(landing, "2024-12-31/early.csv", _claims("C3"))  # before the first partition, uploaded on 2025-01-06
    _land(landing, "2025-13-40/not_a_date.csv", _claims("C4"))  # a date folder that is no date
    _land(landing, "2031-01-01/future.csv", _claims("C5"))  # waits for its day
    _land(landing, "2025-01-06/notes.txt", "not a claims file\n")

    defs, _ = definitions_for_test(spark_engine, lake_root, landing)
    job = defs.resolve_implicit_global_asset_job_def().get_subset(
        asset_selection={key for key in defs.resolve_asset_graph().get_all_asset_keys() if key.path[-1] in (
            "claims_raw", "claims_rejected_files")}
    )  # fmt: skip
    with instance_for_test() as instance:
        assert job.execute_in_process(instance=instance, partition_key="2025-01-06").success

    statuses = {item.file.relative_path: item for item in landing_status(Landing(str(landing)), lake_root)}
    assert {path: item.status for path, item in statuses.items()} == {
        "2025-01-06/good.csv": "ingested",
        "2025-01-06/upload.csv.part": "skipped",
        "2024-12-31/early.csv": "rejected",
        "2025-13-40/not_a_date.csv": "rejected",
        "2031-01-01/future.csv": "waiting",
        "2025-01-06/notes.txt": "rejected",
    }
    # rejections are recorded in bronze, in the partition of the day they were uploaded
    assert statuses["2024-12-31/early.csv"].detail.startswith("date_before_partitions")
    assert statuses["2025-13-40/not_a_date.csv"].detail.startswith("bad_date_folder")
    assert statuses["2025-01-06/notes.txt"].detail.startswith("unknown_layout")
    assert "(recorded" not in statuses["2024-12-31/early.csv"].detail

    monkeypatch.setenv("FRAUD_LAKEHOUSE_LANDING", str(landing))
    assert main(["landing", "--lake-root", lake_root]) == 0
    shown = capsys.readouterr().out
    assert "1 ingested, 3 rejected, 0 pending, 1 waiting, 1 skipped" in shown
    assert "waiting   2031-01-01  2031-01-01/future.csv" in shown


def test_a_new_home_backfills_its_landed_claims_alone_with_the_synthetic_feed_on(tmp_path):
    """`fraud-lakehouse backfill --claims-only` in a brand-new home with the default settings (the synthetic feed on):
    silver reads the day's synthetic transactions and their customers, so the run makes bronze/customers when it was
    never made (the run failed on a missing table), and the landed claims reach gold."""
    from deltalake import DeltaTable

    from fraud_lakehouse_tests.instance_home import new_home

    home = new_home(tmp_path / "home")
    assert home.run("fraud-lakehouse", "init").returncode == 0
    home.land_sample("2025-01-06", claims=50)
    result = home.run("fraud-lakehouse", "backfill", "--claims-only", "--from", "2025-01-06", "--to", "2025-01-06")
    assert result.returncode == 0, result.stderr[-3000:]
    assert "bronze/customers" in result.stdout
    silver = DeltaTable(str(home.lake / "silver" / "claims")).to_pandas(columns=["source"])["source"]
    flagged = DeltaTable(str(home.lake / "gold" / "flagged_claims")).to_pandas(columns=["source"])["source"]
    assert (flagged == "insurance").sum() == (silver == "insurance").sum() > 0
    assert (flagged == "synthetic").sum() == (silver == "synthetic").sum() > 0

    # once made, the customers are not made again
    again = home.run("fraud-lakehouse", "backfill", "--claims-only", "--from", "2025-01-06", "--to", "2025-01-06")
    assert again.returncode == 0, again.stderr[-3000:]
    assert "bronze/customers" not in again.stdout and "silver/claims" in again.stdout
