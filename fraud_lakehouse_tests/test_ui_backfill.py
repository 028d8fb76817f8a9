"""A backfill of the whole graph launched as the UI launches it: the webserver's GraphQL mutation
``launchPartitionBackfill`` with every asset and three days, run by the Dagster daemon in a new instance with the
synthetic feed on (so the unpartitioned bronze/customers is in the selection).

What it shows, and the README says: Dagster runs such a backfill as a few runs, one per stage that can run
together, never one per day; bronze/customers runs once; every partitioned run of bronze and silver covers the
whole range; and gold covers the range and the look-back days after it, whose gold reads the range's silver
(gold's declared lineage), in one run or a few one after another.
"""

import datetime as dt
import itertools
import json
import os
import time
import urllib.request

import pytest
from dagster import DagsterInstance

from fraud_lakehouse.detection.config import DetectionConfig
from fraud_lakehouse.local_s3 import free_port
from fraud_lakehouse_tests.instance_home import new_home, wait_until_serving

DAYS = ["2025-01-01", "2025-01-02", "2025-01-03"]
SELECTION = [
    ["bronze", "customers"],
    ["bronze", "transactions"],
    ["bronze", "claims_raw"],
    ["bronze", "claims_rejected_files"],
    ["silver", "claims"],
    ["silver", "claims_quarantine"],
    ["gold", "flagged_claims"],
    ["gold", "provider_risk"],
    ["gold", "fraud_by_rule"],
    ["gold", "detection_quality"],
]
# `dagster-daemon run` with the backfill daemon ticking every 2 s instead of Dagster's fixed 30 s (a module constant
# with no setting): this backfill needs four ticks, one per stage, and the test is about how Dagster splits it into
# runs, not about how long it waits between them.
DAEMON_WITH_FAST_TICKS = (
    "import sys; import dagster._daemon.controller as controller; controller.DEFAULT_DAEMON_INTERVAL_SECONDS = 2; "
    "from dagster._daemon.cli import main; sys.argv[0] = 'dagster-daemon'; sys.exit(main())"
)
LAUNCH = """
mutation($params: LaunchBackfillParams!) {
  launchPartitionBackfill(backfillParams: $params) {
    __typename
    ... on LaunchBackfillSuccess { backfillId }
    ... on PythonError { message }
  }
}
"""


def _graphql(url: str, query: str, variables: dict) -> dict:
    request = urllib.request.Request(
        f"{url}/graphql",
        data=json.dumps({"query": query, "variables": variables}).encode(),
        headers={"Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=60) as response:
        return json.loads(response.read())


@pytest.fixture(scope="module")
def backfill_runs(tmp_path_factory):
    home = new_home(tmp_path_factory.mktemp("ui_backfill") / "home", FRAUD_LAKEHOUSE_SYNTHETIC_FEED="on")
    assert home.run("fraud-lakehouse", "init").returncode == 0
    port = free_port()
    daemon = home.start("python", "-c", DAEMON_WITH_FAST_TICKS, "run", "-w", "workspace.yaml", log="daemon.log")
    web = home.start("dagster-webserver", "-h", "127.0.0.1", "-p", str(port), "-w", "workspace.yaml", log="web.log")
    url = f"http://127.0.0.1:{port}"
    working_folder = os.getcwd()
    try:
        wait_until_serving(url, home)
        params = {"assetSelection": [{"path": key} for key in SELECTION], "partitionNames": DAYS}
        launched = _graphql(url, LAUNCH, {"params": params})["data"]["launchPartitionBackfill"]
        assert launched["__typename"] == "LaunchBackfillSuccess", launched
        backfill_id = launched["backfillId"]
        # dagster.yaml's storage folders are relative to DAGSTER_HOME, the working folder of Dagster's commands
        os.chdir(home.path)
        with DagsterInstance.from_config(str(home.path)) as instance:
            deadline = time.monotonic() + 600
            while not instance.get_backfill(backfill_id).status.name.startswith("COMPLETED"):
                assert time.monotonic() < deadline, home.log("daemon.log")[-4000:]
                time.sleep(2)
            assert instance.get_backfill(backfill_id).status.name == "COMPLETED_SUCCESS", home.log("daemon.log")[-4000:]
            yield [run for run in instance.get_runs() if run.tags.get("dagster/backfill") == backfill_id]
    finally:
        os.chdir(working_folder)
        for process in (web, daemon):
            process.terminate()
            process.wait(timeout=60)


def _assets(run) -> set[str]:  # type: ignore[no-untyped-def]
    return {"/".join(key.path) for key in run.asset_selection or ()}


def _days(run) -> tuple[dt.date, dt.date]:  # type: ignore[no-untyped-def]
    """The first and last day of a run of a partition range."""
    start, end = run.tags["dagster/asset_partition_range_start"], run.tags["dagster/asset_partition_range_end"]
    return dt.date.fromisoformat(start), dt.date.fromisoformat(end)


def test_a_ui_backfill_of_the_whole_graph_runs_by_stage_never_by_day(backfill_runs):
    assert all(run.status.name == "SUCCESS" for run in backfill_runs)
    # every asset ran, in a few runs: never one run per day
    assert set().union(*(_assets(run) for run in backfill_runs)) == {"/".join(key) for key in SELECTION}
    assert len(backfill_runs) < len(SELECTION)
    assert not any("dagster/partition" in run.tags for run in backfill_runs)
    customers = [run for run in backfill_runs if "bronze/customers" in _assets(run)]
    assert len(customers) == 1 and _assets(customers[0]) == {"bronze/customers"}
    staged = [run for run in backfill_runs if run is not customers[0]]
    gold = sorted((run for run in staged if any(name.startswith("gold/") for name in _assets(run))), key=_days)
    for run in staged:
        if run not in gold:
            assert _days(run) == (dt.date.fromisoformat(DAYS[0]), dt.date.fromisoformat(DAYS[-1])), _assets(run)
    # Gold of the range and of the look-back days after it, each reading the range's silver: one run, or a few when
    # a daemon tick falls between the per-day materializations of silver's one run (Dagster then starts the gold
    # days whose silver is recorded): one after another, never overlapping, never one per day.
    lookback = DetectionConfig().lookback_days
    ranges = [_days(run) for run in gold]
    assert ranges[0][0] == dt.date.fromisoformat(DAYS[0])
    assert ranges[-1][1] == dt.date.fromisoformat(DAYS[-1]) + dt.timedelta(days=lookback)
    assert all(later[0] == earlier[1] + dt.timedelta(days=1) for earlier, later in itertools.pairwise(ranges))
    assert len(gold) <= len(DAYS)
