"""claims_landing_sensor's ticks against a moto S3 server in its own process (over HTTP, dagster-aws's S3Resource):
new files, files of the same second, a name that sorts before the last seen, deleted keys, identical and changed
re-uploads, the runs per tick and files per run, names of uploads in progress, future dates, odd keys, and an
endpoint that is wrong. Then the cursor's bound and the watermark, on the pure planning function."""

import datetime as dt
import json
import time

import boto3
import pytest
from dagster import DagsterInstance, build_sensor_context, instance_for_test

from fraud_lakehouse.claims.landing import LandedFile
from fraud_lakehouse.resources.deployments import s3_resource
from fraud_lakehouse.resources.landing import ClaimsLanding
from fraud_lakehouse.sensors.claims_landing import (
    RUN_TAG_KEYS,
    Cursor,
    ListingError,
    SensorSettings,
    build_claims_landing_sensor,
    plan_tick,
)
from fraud_lakehouse_tests.conftest import S3_BUCKET

HEADER = (
    "claim_id,patient_id,provider_id,provider_name,procedure_code,diagnosis_code,service_date,submitted_date,"
    "charge_amount,paid_amount,patient_state,provider_state,place_of_service\n"
)
SENSOR = build_claims_landing_sensor("claims_job")
# a recent day: its folder is listed on every tick
DAY = (dt.datetime.now(dt.UTC).date() - dt.timedelta(days=1)).isoformat()


def _claims(claim_id: str) -> bytes:
    return (HEADER + f"{claim_id},P1,PR1,Clinic,99213,J45,2025-01-06,2025-01-06,120.50,100,CA,CA,11\n").encode()


class Tick:
    """Runs the sensor against one prefix of the moto bucket, keeping its cursor between ticks like the daemon."""

    def __init__(self, prefix: str, instance: DagsterInstance):
        self.root = f"s3://{S3_BUCKET}/{prefix}"
        self.prefix, self.instance, self.cursor = prefix, instance, None
        self.s3 = boto3.client("s3")

    def put(self, key: str, body: bytes) -> None:
        self.s3.put_object(Bucket=S3_BUCKET, Key=f"{self.prefix}/{key}", Body=body)

    def delete(self, key: str) -> None:
        self.s3.delete_object(Bucket=S3_BUCKET, Key=f"{self.prefix}/{key}")

    def __call__(self, repository_def=None) -> list:  # type: ignore[no-untyped-def]
        context = build_sensor_context(
            instance=self.instance,
            cursor=self.cursor,
            repository_def=repository_def,
            resources={"landing": ClaimsLanding(root=self.root), "s3": s3_resource()},
        )
        result = SENSOR(context)
        self.cursor = result.cursor
        return result.run_requests or []


def _files(request) -> list[str]:
    return json.loads(request.tags[RUN_TAG_KEYS])


@pytest.fixture()
def tick(moto_s3, tmp_path):
    with instance_for_test() as instance:
        yield Tick(f"claims-{tmp_path.name}", instance)


def test_new_files_become_one_run_per_date_with_their_keys(tick):
    tick.put(f"{DAY}/a.csv", _claims("A"))
    tick.put(f"{DAY}/b.csv", _claims("B"))
    tick.put("2025-01-07/c.csv", _claims("C"))
    requests = {r.partition_key: r for r in tick()}
    assert {day: _files(r) for day, r in requests.items()} == {
        DAY: [f"{DAY}/a.csv", f"{DAY}/b.csv"],
        "2025-01-07": ["2025-01-07/c.csv"],
    }
    files = requests[DAY].run_config["ops"]["claims_raw"]["config"]["files"]
    assert files == [f"{tick.root}/{DAY}/a.csv", f"{tick.root}/{DAY}/b.csv"]
    assert tick() == []  # nothing new


def test_same_second_earlier_names_deleted_keys_and_re_uploads(tick):
    tick.put(f"{DAY}/m.csv", _claims("M"))
    assert [_files(r) for r in tick()] == [[f"{DAY}/m.csv"]]
    # in the same second as the one just seen, and sorting before it
    tick.put(f"{DAY}/a.csv", _claims("A"))
    tick.delete(f"{DAY}/m.csv")
    assert [_files(r) for r in tick()] == [[f"{DAY}/a.csv"]]
    # an identical re-upload does not run again; an overwrite with new content does
    tick.put(f"{DAY}/a.csv", _claims("A"))
    assert tick() == []
    tick.put(f"{DAY}/a.csv", _claims("A2"))
    (request,) = tick()
    assert _files(request) == [f"{DAY}/a.csv"]
    assert request.run_key != "" and len(request.run_key) < 80


def test_a_file_landed_late_in_an_old_folder_is_found_by_the_next_full_listing(tick, monkeypatch):
    monkeypatch.setenv("FRAUD_LAKEHOUSE_SENSOR_FULL_SCAN_EVERY", "3")
    assert tick() == []  # tick 0: a full listing of an empty area
    tick.put("2025-01-06/late.csv", _claims("L"))  # a folder older than the days listed every tick
    assert tick() == [] and tick() == []  # ticks 1 and 2 list the recent folders only
    assert [(r.partition_key, _files(r)) for r in tick()] == [("2025-01-06", ["2025-01-06/late.csv"])]


def test_runs_per_tick_and_files_per_run_are_capped(tick, monkeypatch):
    monkeypatch.setenv("FRAUD_LAKEHOUSE_SENSOR_FILES_PER_RUN", "2")
    monkeypatch.setenv("FRAUD_LAKEHOUSE_SENSOR_RUNS_PER_TICK", "2")
    for index in range(5):
        tick.put(f"{DAY}/f{index}.csv", _claims(f"F{index}"))
    first = tick()
    assert [_files(r) for r in first] == [[f"{DAY}/f0.csv", f"{DAY}/f1.csv"],
                                          [f"{DAY}/f2.csv", f"{DAY}/f3.csv"]]  # fmt: skip
    assert [_files(r) for r in tick()] == [[f"{DAY}/f4.csv"]]  # the rest, on the next tick


def test_uploads_in_progress_are_skipped_and_other_objects_go_to_their_run(tick):
    tick.put(f"{DAY}/big.csv.part", _claims("P"))
    tick.put(f"{DAY}/_temporary/0/x.csv", _claims("T"))
    tick.put(f"{DAY}/empty.csv", b"")
    tick.put(f"{DAY}/notes.txt", b"not a claims file")
    tick.put("2025-13-40/odd.csv", _claims("O"))  # a folder that is no date: the run of its upload day
    requests = {r.partition_key: _files(r) for r in tick()}
    today = dt.datetime.now(dt.UTC).date().isoformat()
    assert requests == {DAY: [f"{DAY}/empty.csv", f"{DAY}/notes.txt"], today: ["2025-13-40/odd.csv"]}


def test_a_future_date_waits_and_odd_keys_are_read(tick):
    future = (dt.datetime.now(dt.UTC).date() + dt.timedelta(days=3)).isoformat()
    tick.put(f"{future}/later.csv", _claims("L"))
    odd = f"{DAY}/claims #1 100% ünïcode.csv"
    tick.put(odd, _claims("U"))
    requests = tick()
    assert [_files(r) for r in requests] == [[odd]]
    assert tick() == []  # still waiting, and not forgotten:
    cursor = Cursor.parse(tick.cursor)
    assert cursor.watermark < time.time() - 60
    # the odd key reads back through the landing area as it was named
    from fraud_lakehouse.claims.landing import Landing

    landing = Landing(tick.root)
    landed = landing.stat(requests[0].run_config["ops"]["claims_raw"]["config"]["files"][0])
    with landing.open(landed.uri) as stream:
        assert b"claim_id" in stream.read()


def test_an_endpoint_out_of_reach_is_one_clear_error(tick, monkeypatch):
    monkeypatch.setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:9")  # nothing listens there
    with pytest.raises(ListingError, match="cannot list the landing area"):
        tick()


def _landed(name: str, modified: dt.datetime, etag: str = "e") -> LandedFile:
    return LandedFile(f"s3://b/claims/{name}", name, 10, modified, etag)


def test_a_days_backlog_of_ten_thousand_keys_keeps_the_cursor_small():
    now = dt.datetime(2025, 1, 6, 12, tzinfo=dt.UTC)
    listing = [_landed(f"2025-01-06/f{i:05d}.csv", now - dt.timedelta(seconds=i % 600)) for i in range(10_000)]
    settings = SensorSettings(files_per_run=1000, runs_per_tick=10)
    plan = plan_tick(listing, Cursor(), now, settings, dt.date(2025, 1, 1), dt.date(2025, 1, 6))
    assert sum(len(batch.files) for batch in plan.batches) == 10_000
    assert len(plan.cursor.serialize()) < 150_000
    again = plan_tick(listing, Cursor.parse(plan.cursor.serialize()), now, settings, dt.date(2025, 1, 1),
                      dt.date(2025, 1, 6))  # fmt: skip
    assert again.batches == []
    # hours later, with a full listing, the watermark has passed them and their digests are gone
    later = plan_tick(listing, again.cursor, now + dt.timedelta(hours=3), settings, dt.date(2025, 1, 1),
                      dt.date(2025, 1, 6))  # fmt: skip
    assert later.batches == [] and len(later.cursor.serialize()) < 100


def test_the_watermark_stops_short_of_a_file_that_waits():
    now = dt.datetime(2025, 1, 6, 12, tzinfo=dt.UTC)
    waiting = _landed("2025-01-09/later.csv", now - dt.timedelta(hours=5))
    settings = SensorSettings()
    plan = plan_tick([waiting], Cursor(), now, settings, dt.date(2025, 1, 1), dt.date(2025, 1, 6))
    assert plan.batches == [] and plan.cursor.watermark < waiting.modified.timestamp()
    # three days later its partition exists: it runs
    later = plan_tick([waiting], plan.cursor, now + dt.timedelta(days=3), settings, dt.date(2025, 1, 1),
                      dt.date(2025, 1, 9))  # fmt: skip
    assert [batch.partition for batch in later.batches] == ["2025-01-09"]


@pytest.mark.parametrize("interval", [5, 10, 30])
def test_the_sensor_ticks_at_the_interval_asked_for_not_every_other_daemon_loop(interval, monkeypatch):
    # Dagster's sensor daemon checks every 5 s whether the time since the last tick started reaches the
    # sensor's minimum interval; a tick starts a moment after its loop, so a whole interval later the check
    # finds a little less than the interval has passed
    monkeypatch.setenv("FRAUD_LAKEHOUSE_SENSOR_INTERVAL", str(interval))
    sensor = build_claims_landing_sensor("claims_job")
    elapsed_at_the_check = interval - 0.05
    assert sensor.minimum_interval_seconds <= elapsed_at_the_check  # due: it ticks at the interval
    assert sensor.minimum_interval_seconds >= interval - 1  # and never much earlier


def test_a_new_homes_claims_runs_make_the_synthetic_feeds_customers_once(tick):
    """With the synthetic feed on, a claims run reads the day's synthetic transactions and so bronze/customers: the
    sensor's runs add bronze/customers while it was never materialized (a new home's first landed file failed on a
    missing table), and only then."""
    from dagster import AssetKey, AssetMaterialization

    customers = AssetKey(["bronze", "customers"])
    with_feed = _repository(synthetic_feed=True)
    tick.put(f"{DAY}/a.csv", _claims("A"))
    (first,) = tick(with_feed)
    job_assets = set(with_feed.get_job("claims_job").asset_layer.selected_asset_keys)
    assert customers not in job_assets
    assert set(first.asset_selection) == job_assets | {customers}

    tick.instance.report_runless_asset_event(AssetMaterialization(customers))
    tick.put(f"{DAY}/b.csv", _claims("B"))
    (second,) = tick(with_feed)
    assert second.asset_selection is None  # the job's own assets

    # a claims-only deployment has no synthetic assets to add
    with instance_for_test() as fresh:
        tick.instance, tick.cursor = fresh, None
        requests = tick(_repository(synthetic_feed=False))
        assert requests and all(request.asset_selection is None for request in requests)


def _repository(synthetic_feed: bool):  # type: ignore[no-untyped-def]
    from dagster import Definitions

    from fraud_lakehouse.assets import build_assets
    from fraud_lakehouse.jobs import build_jobs
    from fraud_lakehouse.resources.deployments import current_deployment

    return Definitions(
        assets=build_assets(synthetic_feed=synthetic_feed, automation=False),
        jobs=build_jobs(synthetic_feed=synthetic_feed),
        sensors=[SENSOR],
        resources=current_deployment("local").resources(),
    ).get_repository_def()
