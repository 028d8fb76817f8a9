"""A run killed with `kill -9` in the middle of a Delta commit: every table still opens at its last committed
version with its rows, Dagster's run monitoring marks the run failed so the queue moves on (a queued run of the
same partition waits for it), and the re-run converges to the rows of an uninterrupted run."""

import os
import signal
import time
from pathlib import Path

from dagster import DagsterInstance, DagsterRunStatus
from deltalake import DeltaTable

from fraud_lakehouse_tests.instance_home import lake_tables, new_home, wait_all, wait_for_runs

DAY = "2025-01-06"


def _committed_files(table: Path) -> set[str]:
    return {Path(uri).name for uri in DeltaTable(str(table)).file_uris()}


def _versions(lake: Path) -> dict[str, int]:
    return {
        f"{layer.name}/{t.name}": DeltaTable(str(t)).version() for layer in lake.glob("[bsg]*") for t in layer.glob("*")
    }


def test_kill_mid_commit_leaves_tables_at_their_last_version_and_monitoring_fails_the_run(tmp_path, monkeypatch):
    home = new_home(tmp_path / "home")
    monkeypatch.chdir(home.path)  # dagster.yaml's storage folders are relative to DAGSTER_HOME
    assert home.run("fraud-lakehouse", "init").returncode == 0
    # a file big enough that writing its bronze rows takes a while
    home.land_sample(DAY, claims=400_000)
    first = home.materialize(DAY, log="first.log")
    assert wait_all([first], timeout=600) == [0], home.log("first.log")[-3000:]
    reference, versions = lake_tables(home.lake, home.path), _versions(home.lake)
    raw_table = home.lake / "bronze" / "claims_raw"
    committed = _committed_files(raw_table)

    daemon = home.start("dagster-daemon", "run", "-w", "workspace.yaml", log="daemon.log")
    try:
        victim = home.materialize(DAY, log="victim.log")
        # kill it while it writes bronze/claims_raw: a data file exists that no commit names yet
        deadline = time.monotonic() + 300
        while time.monotonic() < deadline and victim.poll() is None:
            if {path.name for path in raw_table.rglob("*.parquet")} - committed:
                os.killpg(victim.pid, signal.SIGKILL)
                break
            time.sleep(0.005)
        victim.wait(timeout=60)
        assert victim.returncode == -signal.SIGKILL, "the run finished before it could be killed mid-write"
        # a run of the same partition, queued at once: one run per partition, so it waits for the killed one
        home.launch(DAY)

        # the interrupted table opens at the version it had, its new files referenced by no commit; tables the
        # run committed before the kill hold complete versions; every table has the rows it had
        after = _versions(home.lake)
        assert after["bronze/claims_raw"] == versions["bronze/claims_raw"]
        assert {Path(uri).name for uri in DeltaTable(str(raw_table)).file_uris()} == committed
        assert all(after[name] >= version for name, version in versions.items())
        assert lake_tables(home.lake, home.path) == reference

        with DagsterInstance.from_config(str(home.path)) as instance:
            first_id, killed_id = (run.run_id for run in instance.get_runs(ascending=True, limit=2))
            wait_for_runs(instance, 3, timeout=300)
            records = {record.dagster_run.run_id: record for record in instance.get_run_records()}
            assert records[killed_id].dagster_run.status == DagsterRunStatus.FAILURE, home.log("daemon.log")[-3000:]
            (rerun_id,) = set(records) - {first_id, killed_id}
            assert records[rerun_id].dagster_run.status == DagsterRunStatus.SUCCESS, home.log("daemon.log")[-3000:]
            # the queued run started only once monitoring had failed the dead one
            assert records[rerun_id].start_time >= records[killed_id].end_time
            failure = [
                record.event_log_entry.dagster_event.message
                for record in instance.get_records_for_run(killed_id).records
                if record.event_log_entry.dagster_event
                and record.event_log_entry.dagster_event.event_type_value == "PIPELINE_FAILURE"
            ]
            assert any("is gone" in (message or "") for message in failure), failure
    finally:
        daemon.terminate()
        daemon.wait(timeout=60)
    # the re-run converges to the uninterrupted rows
    assert lake_tables(home.lake, home.path) == reference
