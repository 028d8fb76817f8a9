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
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

from dagster import DagsterEventType, DagsterRun, DefaultRunLauncher
from dagster._core.launcher.base import CheckRunHealthResult, WorkerStatus

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
    """``DefaultRunLauncher`` with worker health checks for run monitoring (see the module docstring)."""

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
