"""Claims uploaded to S3 reach gold by themselves: the Dagster daemon and webserver run with a new DAGSTER_HOME and
claims_landing_sensor on, the lake and the landing area on a moto S3 server (its own process), the synthetic feed
off. Twenty-odd files are uploaded (several in one second, one malformed, one uploaded twice unchanged, one
overwritten); then every distinct content ran exactly once, gold holds exactly the good rows, no claim twice, and
the malformed file is rejected with its reason. The same running instance serves the browser test
(test_browser.py)."""

import datetime as dt
import json
import os
import time

import boto3
import pyarrow as pa
import pytest
from dagster import DagsterInstance, DagsterRunStatus
from deltalake import DeltaTable

from fraud_lakehouse.local_s3 import free_port
from fraud_lakehouse.sensors.claims_landing import RUN_TAG_KEYS
from fraud_lakehouse_tests.conftest import S3_BUCKET
from fraud_lakehouse_tests.instance_home import InstanceHome, new_home, wait_until_serving

HEADER = (
    "claim_id,patient_id,provider_id,provider_name,procedure_code,diagnosis_code,service_date,submitted_date,"
    "charge_amount,paid_amount,patient_state,provider_state,place_of_service\n"
)
TODAY = dt.datetime.now(dt.UTC).date()
DAY1, DAY2 = (TODAY - dt.timedelta(days=1)).isoformat(), (TODAY - dt.timedelta(days=2)).isoformat()


def claims_file(prefix: str, count: int, day: str) -> bytes:
    rows = [
        f"{prefix}{i},PAT{i % 13},PRV{i % 5},Clinic {i % 5},99213,J45,{day},{day},{100 + i}.25,90,CA,CA,11"
        for i in range(count)
    ]
    return (HEADER + "\n".join(rows) + "\n").encode()


class RunningInstance:
    def __init__(self, home: InstanceHome, prefix: str, webserver: str):
        self.home, self.prefix, self.webserver = home, prefix, webserver
        self.s3 = boto3.client("s3")

    def put(self, key: str, body: bytes) -> None:
        self.s3.put_object(Bucket=S3_BUCKET, Key=f"{self.prefix}/claims/{key}", Body=body)

    def table(self, layer: str, name: str) -> pa.Table:
        return DeltaTable(f"s3://{S3_BUCKET}/{self.prefix}/lake/{layer}/{name}").to_pyarrow_table()

    def instance(self) -> DagsterInstance:
        # dagster.yaml's storage folders are relative to DAGSTER_HOME, the working folder of Dagster's commands
        os.chdir(self.home.path)
        return DagsterInstance.from_config(str(self.home.path))

    def wait_until_idle(self, runs_at_least: int, timeout: float = 420) -> list:
        """Until at least ``runs_at_least`` sensor runs exist, all finished, and two sensor ticks pass with none
        new."""
        deadline = time.monotonic() + timeout
        stable_since, last = None, -1
        with self.instance() as instance:
            while time.monotonic() < deadline:
                runs = instance.get_runs()
                done = len(runs) >= runs_at_least and all(run.is_finished for run in runs)
                if done and len(runs) == last:
                    stable_since = stable_since or time.monotonic()
                    if time.monotonic() - stable_since > 12:
                        return runs
                else:
                    stable_since = None
                last = len(runs)
                time.sleep(1)
        raise AssertionError(f"the instance did not settle: {self.home.log('daemon.log')[-4000:]}")


@pytest.fixture(scope="module")
def running(tmp_path_factory, moto_s3):
    root = tmp_path_factory.mktemp("sensor_e2e")
    prefix = f"e2e-{root.name}"
    home = new_home(
        root / "home",
        FRAUD_LAKEHOUSE_LANDING=f"s3://{S3_BUCKET}/{prefix}/claims",
        FRAUD_LAKEHOUSE_LAKE_ROOT=f"s3://{S3_BUCKET}/{prefix}/lake",
        FRAUD_LAKEHOUSE_SYNTHETIC_FEED="off",
        FRAUD_LAKEHOUSE_SENSOR_INTERVAL="5",
    )
    assert home.run("fraud-lakehouse", "init").returncode == 0
    started = home.run("dagster", "sensor", "start", "claims_landing_sensor", "-w", "workspace.yaml")
    assert started.returncode == 0, started.stderr[-2000:]
    port = free_port()
    daemon = home.start("dagster-daemon", "run", "-w", "workspace.yaml", log="daemon.log")
    web = home.start("dagster-webserver", "-h", "127.0.0.1", "-p", str(port), "-w", "workspace.yaml", log="web.log")
    url = f"http://127.0.0.1:{port}"
    wait_until_serving(url, home)
    working_folder = os.getcwd()
    try:
        yield RunningInstance(home, prefix, url)
    finally:
        os.chdir(working_folder)
        for process in (web, daemon):
            process.terminate()
            process.wait(timeout=60)


def test_uploaded_claims_reach_gold_once_each(running):
    good = {}
    # several files in one second, on two days
    for index in range(8):
        good[f"{DAY1}/batch-{index}.csv"] = claims_file(f"A{index}-", 20, DAY1)
    for key, body in good.items():
        running.put(key, body)
    for index in range(6):
        key = f"{DAY2}/claims-{index}.csv"
        good[key] = claims_file(f"B{index}-", 15, DAY2)
        running.put(key, good[key])
    running.put(f"{DAY1}/scanned.csv", bytes(range(256)) * 40)  # malformed: binary
    twice, changed = f"{DAY1}/twice.csv", f"{DAY2}/changed.csv"
    good[twice] = claims_file("T-", 10, DAY1)
    good[changed] = claims_file("C-", 12, DAY2)
    running.put(twice, good[twice])
    running.put(changed, good[changed])
    for index in range(4):  # a few more, one at a time
        key = f"{DAY1}/late-{index}.csv"
        good[key] = claims_file(f"L{index}-", 7, DAY1)
        running.put(key, good[key])
        time.sleep(1)
    running.wait_until_idle(runs_at_least=2)
    # the same content again: no new run; new content under the same key: its rows replace the old ones
    running.put(twice, good[twice])
    good[changed] = claims_file("C2-", 9, DAY2)
    running.put(changed, good[changed])
    runs = running.wait_until_idle(runs_at_least=3)

    assert all(run.status == DagsterRunStatus.SUCCESS for run in runs), [run.status for run in runs]
    processed = [key for run in runs for key in json.loads(run.tags[RUN_TAG_KEYS])]
    assert len(good) + 1 >= 20  # twenty uploads and more
    counts = {key: processed.count(key) for key in set(processed)}
    assert counts.pop(changed) == 2  # two contents, two runs
    assert counts.pop(f"{DAY1}/scanned.csv") == 1
    assert counts == dict.fromkeys(set(good) - {changed}, 1)
    for run in runs:  # each run materializes only the claims path of its date
        assert run.tags["dagster/partition"] in (DAY1, DAY2)

    flagged = running.table("gold", "flagged_claims")
    expected_rows = sum(body.count(b"\n") - 1 for body in good.values())
    assert flagged.num_rows == expected_rows
    keys = list(zip(flagged.column("detection_date").to_pylist(), flagged.column("claim_id").to_pylist(), strict=True))
    assert len(set(keys)) == len(keys)  # no claim twice
    assert not any(claim.startswith("C-") for _, claim in keys)  # the overwritten content's rows are gone
    rejected = running.table("bronze", "claims_rejected_files").to_pylist()
    assert [(row["source_file"].rsplit("/", 1)[1], row["reason"]) for row in rejected] == [("scanned.csv", "not_text")]


CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
LOCATION = "fraud_lakehouse.definitions"


def test_the_ui_in_a_real_browser(running, chromium, artifacts):
    """Headless Chromium on the running webserver: the asset graph with bronze, silver and gold, the sensor with its
    last tick, and a run launched from the launchpad that succeeds. Screenshots are kept in test-artifacts/."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=chromium, args=CHROMIUM_FLAGS)
        page = browser.new_page(viewport={"width": 1400, "height": 900})

        # Dagster's community prompt opens on its own once, on whichever page is loading when it is ready, and
        # covers the page: Playwright dismisses it whenever it shows before an action.
        page.add_locator_handler(page.get_by_role("button", name="Skip"), lambda skip: skip.click())
        page.goto(f"{running.webserver}/asset-groups", wait_until="networkidle")
        page.get_by_text("silver", exact=True).first.wait_for(timeout=30_000)
        page.screenshot(path=artifacts / "asset-graph.png")
        graph = page.inner_text("body")
        assert all(group in graph for group in ("bronze", "silver", "gold"))

        page.goto(f"{running.webserver}/locations/{LOCATION}/sensors/claims_landing_sensor", wait_until="networkidle")
        page.get_by_text("Latest tick").first.wait_for(timeout=30_000)
        page.screenshot(path=artifacts / "sensor.png")
        sensor = page.inner_text("body")
        assert "Running" in sensor and "Sensor has never run" not in sensor

        page.goto(f"{running.webserver}/locations/{LOCATION}/jobs/claims_job/playground", wait_until="networkidle")
        partition = page.get_by_placeholder("Partition")
        partition.click()
        partition.fill(DAY1)
        page.locator('[role="menuitem"]', has_text=DAY1).first.click()
        page.screenshot(path=artifacts / "launchpad.png")
        page.get_by_role("button", name="Launch Run").click()
        page.wait_for_url("**/runs/**", timeout=60_000)
        run_id = page.url.rstrip("/").rsplit("/", 1)[-1]
        with running.instance() as instance:
            deadline = time.monotonic() + 300
            while time.monotonic() < deadline and not instance.get_run_by_id(run_id).is_finished:
                time.sleep(2)
            status = instance.get_run_by_id(run_id).status
        page.reload(wait_until="networkidle")
        page.get_by_text("Success").first.wait_for(timeout=60_000)
        page.screenshot(path=artifacts / "run.png")
        browser.close()
    assert status == DagsterRunStatus.SUCCESS, running.home.log("daemon.log")[-3000:]
