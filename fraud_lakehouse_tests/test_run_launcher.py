"""The run launcher's workers started ahead (`fraud_lakehouse.run_worker`), through a real daemon: a run goes to
the process that was waiting for it, a code edit made while a worker waited is what the run executes, the UI's
terminate cancels a run from another process, and waiting workers leave with the daemon.

The code location is a small one of its own (no engine), so each run takes a second or two."""

from __future__ import annotations

import os
import subprocess
import textwrap
import time
from pathlib import Path

import pytest
from dagster import AssetKey, DagsterEventType, DagsterInstance, DagsterRunStatus

from fraud_lakehouse.run_launcher import RUN_WORKER_TAG
from fraud_lakehouse.run_worker import changed_sources, loaded_sources, modified_since
from fraud_lakehouse_tests.instance_home import InstanceHome

LOCATION = """
import os
import time
from pathlib import Path

from dagster import Definitions, asset, define_asset_job, in_process_executor

# a data file of the package, read at import
VERSION = {version!r} + (Path(__file__).parent / "setting.txt").read_text().strip()
# read when the module is imported: a worker started ahead must have the secrets loader's variables by then
IMPORTED_WITH = os.environ.get("TINY_SETTING", "")


@asset
def answer(context) -> None:
    context.add_output_metadata({{"version": f"{{VERSION}} {{IMPORTED_WITH}}", "pid": os.getpid()}})


@asset
def slow() -> None:
    for _ in range(1200):
        time.sleep(0.1)


defs = Definitions(
    assets=[answer, slow],
    jobs=[define_asset_job("answer_job", [answer]), define_asset_job("slow_job", [slow])],
    executor=in_process_executor,
)
"""

INSTANCE = """
run_coordinator:
  module: dagster._core.run_coordinator
  class: QueuedRunCoordinator
  config:
    dequeue_interval_seconds: 1
run_launcher:
  module: fraud_lakehouse.run_launcher
  class: LocalRunLauncher
telemetry:
  enabled: false
"""


def _children_running_worker(parent: int) -> list[int]:
    """Processes of ``fraud_lakehouse.run_worker`` started by ``parent``."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            command = (entry / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if int(stat.rsplit(")", 1)[1].split()[1]) == parent and b"fraud_lakehouse.run_worker" in command:
            found.append(int(entry.name))
    return found


def _wait_for(condition, timeout: float, what: str):  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}")


def _waiting_worker(home: Home) -> list[int]:
    """The daemon's one worker process once the last run's worker has exited."""
    return _wait_for(
        lambda: len(workers := _children_running_worker(home.daemon.pid)) == 1 and workers,
        60, "one worker started ahead",
    )  # fmt: skip


class Home(InstanceHome):
    """An instance home whose code location is ``tiny_location``; ``daemon`` is set by the fixture."""

    daemon: subprocess.Popen

    def write_location(self, version: str, setting: str = "") -> None:
        package = self.path / "tiny_location"
        package.mkdir(exist_ok=True)
        (package / "__init__.py").write_text(textwrap.dedent(LOCATION.format(version=version)))
        (package / "setting.txt").write_text(setting)

    def launch_job(self, job: str) -> str:
        result = self.run("dagster", "job", "launch", "-w", "workspace.yaml", "-j", job, timeout=120)
        assert result.returncode == 0, result.stderr[-2000:]
        with DagsterInstance.from_config(str(self.path)) as instance:
            return instance.get_runs(limit=1)[0].run_id

    def run_status(self, run_id: str) -> DagsterRunStatus:
        with DagsterInstance.from_config(str(self.path)) as instance:
            run = instance.get_run_by_id(run_id)
            assert run is not None
            return run.status

    def finished(self, run_id: str, timeout: float = 120) -> DagsterRunStatus:
        return _wait_for(
            lambda: (status := self.run_status(run_id)) in (DagsterRunStatus.SUCCESS, DagsterRunStatus.FAILURE,
                                                          DagsterRunStatus.CANCELED) and status,
            timeout, f"run {run_id} to finish",
        )  # fmt: skip

    def run_facts(self, run_id: str) -> tuple[int, int, str]:
        """(pid in the run's worker tag, pid that executed it, the version its asset recorded)."""
        with DagsterInstance.from_config(str(self.path)) as instance:
            run = instance.get_run_by_id(run_id)
            assert run is not None
            tagged = int(run.tags[RUN_WORKER_TAG].split("@")[0])
            started = instance.get_records_for_run(run_id, of_type=DagsterEventType.ENGINE_EVENT).records
            executed = next(
                int(record.event_log_entry.dagster_event.event_specific_data.metadata["pid"].value)
                for record in started
                if "Started process for run" in (record.event_log_entry.dagster_event.message or "")
            )
            event = instance.get_latest_materialization_event(AssetKey("answer"))
            assert event is not None and event.run_id == run_id
            version = event.asset_materialization.metadata["version"].value
            return tagged, executed, version


@pytest.fixture
def home(tmp_path):  # type: ignore[no-untyped-def]
    # the instance's default secrets loader gives the location the variables of project/.env
    home = Home(tmp_path, {"DAGSTER_PROJECT_ENV_FILE_PATHS": '{"tiny_location": "project"}'})
    (tmp_path / "dagster.yaml").write_text(INSTANCE)
    (tmp_path / "workspace.yaml").write_text(
        "load_from:\n  - python_module:\n      module_name: tiny_location\n      working_directory: .\n"
    )
    home.write_location("one")
    (tmp_path / "project").mkdir()
    (tmp_path / "project" / ".env").write_text("TINY_SETTING=from-the-project-env\n")
    with DagsterInstance.from_config(str(tmp_path)):
        pass  # its storage made once, before the daemon and the commands open it at the same time
    home.daemon = daemon = home.start("dagster-daemon", "run", "-w", "workspace.yaml", log="daemon.log")
    try:
        yield home
    finally:
        daemon.terminate()
        daemon.wait(timeout=60)


def test_runs_go_to_the_worker_started_ahead_and_see_code_edited_while_it_waited(home):
    first = home.launch_job("answer_job")
    assert home.finished(first) == DagsterRunStatus.SUCCESS, (home.path / "daemon.log").read_text()[-3000:]
    tagged, executed, version = home.run_facts(first)
    assert tagged == executed and version == "one from-the-project-env"

    # the next run's process is already waiting, and the next run executes in it
    (waiting,) = _waiting_worker(home)
    second = home.launch_job("answer_job")
    assert home.finished(second) == DagsterRunStatus.SUCCESS
    assert home.run_facts(second) == (waiting, waiting, "one from-the-project-env")

    # code edited while a worker waited: the run executes the edited code (in the same process id, re-executed)
    (waiting,) = _waiting_worker(home)
    time.sleep(0.05)  # a later modification time, whatever the file system's time resolution
    home.write_location("two, edited")
    third = home.launch_job("answer_job")
    assert home.finished(third) == DagsterRunStatus.SUCCESS
    assert home.run_facts(third) == (waiting, waiting, "two, edited from-the-project-env")

    # and a data file of the package edited while a worker waited
    (waiting,) = _waiting_worker(home)
    time.sleep(0.05)
    (home.path / "tiny_location" / "setting.txt").write_text("-and-its-setting")
    fourth = home.launch_job("answer_job")
    assert home.finished(fourth) == DagsterRunStatus.SUCCESS
    assert home.run_facts(fourth) == (waiting, waiting, "two, edited-and-its-setting from-the-project-env")

    # a waiting worker leaves with the daemon that started it
    (waiting,) = _waiting_worker(home)
    home.daemon.terminate()
    home.daemon.wait(timeout=60)
    _wait_for(lambda: not Path(f"/proc/{waiting}").exists(), 30, "the waiting worker to exit")


def test_terminate_from_another_process_cancels_a_run_in_a_worker(home):
    run_id = home.launch_job("slow_job")
    _wait_for(lambda: home.run_status(run_id) == DagsterRunStatus.STARTED, 120, "the slow run to start")
    # as the UI's Terminate button does, from a process other than the daemon that launched the run
    with DagsterInstance.from_config(str(home.path)) as instance:
        assert instance.run_launcher.terminate(run_id)
    assert home.finished(run_id, timeout=60) == DagsterRunStatus.CANCELED


def test_a_worker_tells_code_changed_since_its_import(tmp_path, monkeypatch):
    package = tmp_path / "stamped_package"
    package.mkdir()
    (package / "__init__.py").write_text("VALUE = 1\n")
    (package / "data.txt").write_text("read at import\n")
    old = time.time_ns() - 10_000_000_000
    for path in package.iterdir():
        os.utime(path, ns=(old, old))
    monkeypatch.syspath_prepend(str(tmp_path))
    import stamped_package  # noqa: F401

    before_import = time.time_ns()
    stamps = loaded_sources(["stamped_package"])
    assert {str(package / "__init__.py"), str(package / "data.txt")} <= set(stamps)
    assert changed_sources(stamps) == [] and modified_since(stamps, before_import) == []

    (package / "data.txt").write_text("edited\n")
    assert changed_sources(stamps) == [str(package / "data.txt")]
    # a file written while the import ran is not trusted to be what was imported
    assert modified_since(loaded_sources(["stamped_package"]), before_import) == [str(package / "data.txt")]
    (package / "__init__.py").unlink()
    assert str(package / "__init__.py") in changed_sources(stamps)
