"""A run launcher whose runs Dagster's run monitoring can check: a run whose process died is marked failed.

Dagster's ``DefaultRunLauncher`` starts each run in a process on the same
host but cannot tell whether that process is still alive, so its run
monitoring never fails a run killed with ``kill -9``: the run stays
``STARTED`` and holds its place in the run queue (and its partition's
concurrency slot) for good. This launcher answers the monitoring daemon's
health check from the run's own event log: every run records the pid of the
process executing it (a launched run's worker, or the CLI process of
``dagster asset materialize`` with the in-process executor), and a pid that
is gone, a zombie, or now names a process started after the run's event is
a dead run. Runs must execute on the host of the daemon, as they do with
this launcher.

It also keeps a run's process ready (``warm_workers``, on by default): a
process of ``fraud_lakehouse.run_worker`` per code location, started ahead
with Python, Dagster and the code location imported, which takes the next
run's ``dagster api execute_run`` command; the launcher then starts the next
one. A run started by a sensor or the UI no longer waits for a new process to
import all that. A run of a code location loaded from a file, or from another
Python, goes through the code server as with ``DefaultRunLauncher``.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

from dagster import DagsterEventType, DagsterRun, DefaultRunLauncher, Field
from dagster._core.code_pointer import ModuleCodePointer, PackageCodePointer
from dagster._core.instance.ref import InstanceRef
from dagster._core.launcher.base import CheckRunHealthResult, LaunchRunContext, WorkerStatus
from dagster._core.origin import JobPythonOrigin
from dagster._grpc.types import ExecuteRunArgs
from dagster._serdes import serialize_value

# The run's tag naming the worker process that took it, as "pid@launch time".
RUN_WORKER_TAG = "fraud_lakehouse/run_worker"

# A process counts as the run's when it started no later than this many seconds after the event naming it.
START_TIME_SLACK_S = 5.0


def run_worker_pid(instance, run_id: str) -> tuple[int, float] | None:  # type: ignore[no-untyped-def]
    """The pid of the process executing the run, and the time its engine event was logged."""
    records = instance.get_records_for_run(run_id, of_type=DagsterEventType.ENGINE_EVENT, limit=20).records
    for record in records:
        entry = record.event_log_entry
        event = entry.dagster_event
        data = getattr(event, "event_specific_data", None) if event else None
        metadata = getattr(data, "metadata", None) or {}
        pid = metadata.get("pid")
        if pid is not None:
            try:
                return int(getattr(pid, "value", pid)), entry.timestamp
            except (TypeError, ValueError):
                continue
    return None


def _linux_start_time(pid: int) -> tuple[str, float] | None:
    """(state, start time as a Unix time) of a Linux process, from /proc."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
        boot = next(line for line in Path("/proc/stat").read_text().splitlines() if line.startswith("btime"))
    except (OSError, StopIteration):
        return None
    fields = stat.rsplit(")", 1)[1].split()
    state, start_ticks = fields[0], int(fields[19])
    return state, int(boot.split()[1]) + start_ticks / os.sysconf("SC_CLK_TCK")


def process_alive(pid: int, logged_at: float) -> bool:
    """Whether ``pid`` is still the process that logged an event at ``logged_at``."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # exists, owned by another user
    if sys.platform.startswith("linux"):
        started = _linux_start_time(pid)
        if started is not None:
            state, start_time = started
            if state in ("Z", "X"):  # killed, not yet reaped by its parent
                return False
            if start_time > logged_at + START_TIME_SLACK_S:  # the pid was reused
                return False
    return True


class LocalRunLauncher(DefaultRunLauncher):
    """``DefaultRunLauncher`` with worker health checks for run monitoring, and runs' processes started ahead.

    See the module docstring.
    """

    def __init__(self, inst_data: Any = None, warm_workers: bool = True) -> None:
        super().__init__(inst_data=inst_data)
        self._warm_workers = warm_workers
        self._lock = threading.Lock()
        self._ready: dict[str, subprocess.Popen[str]] = {}  # one waiting worker per code location
        self._running: list[subprocess.Popen[str]] = []  # workers given a run, reaped once they exit

    @classmethod
    def config_type(cls) -> dict[str, Any]:
        return {
            "warm_workers": Field(
                bool,
                is_required=False,
                default_value=True,
                description="keep a run's process started ahead, with Dagster and the code location imported",
            )
        }

    @classmethod
    def from_config_value(cls, inst_data: Any, config_value: dict[str, Any]) -> LocalRunLauncher:
        return cls(inst_data=inst_data, **config_value)

    def launch_run(self, context: LaunchRunContext) -> None:
        run = context.dagster_run
        origin, remote_origin = run.job_code_origin, run.remote_job_origin
        if not self._warm_workers or origin is None or remote_origin is None or worker_command(origin) is None:
            super().launch_run(context)
            return
        execute_args = serialize_value(
            ExecuteRunArgs(job_origin=origin, run_id=run.run_id, instance_ref=self._instance.get_ref())
        )
        location = remote_origin.location_name
        key = f"{location}\0{serialize_value(origin.repository_origin)}"
        with self._lock:
            self._running = [worker for worker in self._running if worker.poll() is None]
            worker = self._ready.pop(key, None)
            if worker is None or worker.poll() is not None:
                worker = self._start_worker(origin, location)
            try:
                self._hand_run(worker, run, execute_args)
            except OSError:  # it died while it waited: the run gets a new one
                worker = self._start_worker(origin, location)
                self._hand_run(worker, run, execute_args)
            self._running.append(worker)
            self._run_ids.add(run.run_id)
            # the next run's process, importing while this run executes
            self._ready[key] = self._start_worker(origin, location)

    def _start_worker(self, origin: JobPythonOrigin, location: str) -> subprocess.Popen[str]:
        command = worker_command(origin, self._instance.get_ref(), location)
        assert command is not None
        # Its output goes where the launcher's goes, as a code server's run processes' does.
        return subprocess.Popen(command, stdin=subprocess.PIPE, text=True)

    def _hand_run(self, worker: subprocess.Popen[str], run: DagsterRun, execute_args: str) -> None:
        """Tag the run with its worker, then give the worker the run's ``dagster api execute_run`` argument."""
        self._instance.add_run_tags(run.run_id, {RUN_WORKER_TAG: f"{worker.pid}@{time.time():.3f}"})
        assert worker.stdin is not None
        worker.stdin.write(execute_args + "\n")
        worker.stdin.close()

    def terminate(self, run_id: str) -> bool:
        run = self._instance.get_run_by_id(run_id) if self.has_instance else None
        if run is None or run.is_finished or RUN_WORKER_TAG not in run.tags:
            return super().terminate(run_id)
        pid, _, launched_at = run.tags[RUN_WORKER_TAG].partition("@")
        self._instance.report_run_canceling(run)
        if not process_alive(int(pid), float(launched_at)):
            return False
        # SIGINT is what Dagster's code server sends a run it cancels: the run stops at its next step
        # boundary and is marked canceled.
        os.kill(int(pid), signal.SIGINT)
        return True

    def dispose(self) -> None:
        with self._lock:
            waiting, self._ready = list(self._ready.values()), {}
        for worker in waiting:
            if worker.stdin is not None and not worker.stdin.closed:
                worker.stdin.close()  # a waiting worker exits on end of input
        for worker in waiting:
            try:
                worker.wait(timeout=10)
            except subprocess.TimeoutExpired:
                worker.kill()
        super().dispose()

    @property
    def supports_check_run_worker_health(self) -> bool:
        return True

    def check_run_worker_health(self, run: DagsterRun) -> CheckRunHealthResult:
        worker = run_worker_pid(self._instance, run.run_id)
        if worker is None:
            # Not started executing yet; run monitoring's start timeout covers a run that never does.
            return CheckRunHealthResult(WorkerStatus.RUNNING, "no run process recorded yet")
        pid, logged_at = worker
        if process_alive(pid, logged_at):
            return CheckRunHealthResult(WorkerStatus.RUNNING, f"run process {pid} is alive")
        return CheckRunHealthResult(
            WorkerStatus.FAILED, f"the run's process {pid} is gone (killed, or the host restarted)"
        )


def worker_command(
    origin: JobPythonOrigin, instance_ref: InstanceRef | None = None, location: str = ""
) -> list[str] | None:
    """The command of a worker for runs of ``origin``'s code location, if one can run them.

    A worker imports the code location's module and runs the job in this project's Python; a code location
    loaded from a file, or run by another interpreter, has its runs started by its code server instead.
    """
    repository = origin.repository_origin
    pointer = repository.code_pointer
    if not isinstance(pointer, ModuleCodePointer | PackageCodePointer):
        return None
    if os.path.realpath(repository.executable_path) != os.path.realpath(sys.executable):
        return None
    command = [repository.executable_path, "-m", "fraud_lakehouse.run_worker"]
    if pointer.working_directory:
        command += ["--working-directory", pointer.working_directory]
    if instance_ref is not None and location:
        command += ["--instance-ref", serialize_value(instance_ref), "--location-name", location]
    return [*command, pointer.module]
