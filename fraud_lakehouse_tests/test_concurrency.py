"""Many runs at once on a new lake and a new instance, as a sensor or a user starts them: six runs over three
days (two per day), from the CLI and through the daemon's run queue, end with exactly the rows of the same
days run one at a time. The days lie more than the look-back apart, so no day's gold reads another's silver
and every table has one right answer whatever the order."""

import pytest
from dagster import DagsterInstance, DagsterRunStatus

from fraud_lakehouse_tests.instance_home import (
    SMALL_SYNTHETIC,
    InstanceHome,
    lake_tables,
    new_home,
    wait_all,
    wait_for_runs,
)

DAYS = ("2025-01-06", "2025-03-06", "2025-05-06")


def _landed_home(root) -> InstanceHome:
    home = new_home(root)
    assert home.run("fraud-lakehouse", "init").returncode == 0
    for day in DAYS:
        home.land_sample(day)
    return home


@pytest.fixture(scope="module")
def reference(tmp_path_factory) -> dict[str, list[tuple]]:
    """The days run one at a time."""
    home = _landed_home(tmp_path_factory.mktemp("one_at_a_time"))
    for day in DAYS:
        process = home.materialize(day, log=f"{day}.log")
        assert wait_all([process], timeout=300) == [0], home.log(f"{day}.log")[-3000:]
    return lake_tables(home.lake, home.path)


def test_six_cli_runs_at_once_on_a_new_lake(tmp_path, reference):
    home = _landed_home(tmp_path / "home")
    processes = [home.materialize(day, log=f"{index}.log") for index, day in enumerate(DAYS * 2)]
    codes = wait_all(processes, timeout=600)
    assert codes == [0] * 6, [home.log(f"{i}.log")[-2000:] for i, code in enumerate(codes) if code]
    tables = lake_tables(home.lake, home.path)
    assert tables.keys() == reference.keys()
    for name, rows in reference.items():
        assert tables[name] == rows, name
    assert len(tables["bronze/customers"]) == SMALL_SYNTHETIC["resources"]["synthetic"]["config"]["customers"]


def test_six_queued_runs_through_the_daemon_on_a_new_lake(tmp_path, reference, monkeypatch):
    home = _landed_home(tmp_path / "home")
    monkeypatch.chdir(home.path)  # dagster.yaml's storage folders are relative to DAGSTER_HOME, the working folder
    daemon = home.start("dagster-daemon", "run", "-w", "workspace.yaml", log="daemon.log")
    try:
        for day in DAYS * 2:
            home.launch(day)
        with DagsterInstance.from_config(str(home.path)) as instance:
            wait_for_runs(instance, 6, timeout=600)
            statuses = [run.status for run in instance.get_runs()]
        assert statuses == [DagsterRunStatus.SUCCESS] * 6, home.log("daemon.log")[-3000:]
    finally:
        daemon.terminate()
        daemon.wait(timeout=60)
    tables = lake_tables(home.lake, home.path)
    for name, rows in reference.items():
        assert tables[name] == rows, name
