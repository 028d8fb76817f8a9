"""A run's process started before its run: Python, Dagster and the code location already imported.

Dagster's default launcher has its code server start a new Python process for each run, which then imports
Dagster and the code location before the run's first step can start: a delay every run of the claims sensor
waits through. ``LocalRunLauncher`` keeps one process of this program ready per code location. It imports what
a run's process imports, then waits on its standard input for the run's ``ExecuteRunArgs`` (serialized, one
line), the argument a run's process would have been started with (``dagster api execute_run ARGS``), and runs
that command in this process, through Dagster's own command line. One worker runs one run and exits, as a
run's process does.

If a source file of a module it imported, or any file of the code location's package (data files read at
import too), changed while it waited (code edited after the worker started) or while it was imported (a
checkout, an install), or the import failed, the worker runs the command as a new process instead (``exec``):
a run never executes code older than its launch, and an import error is reported by the run as without a
worker.

    python -m fraud_lakehouse.run_worker [--working-directory DIR] [--instance-ref REF --location-name NAME]
        MODULE...   # the code location's modules
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys
import time
from pathlib import Path

SourceStamps = dict[str, tuple[int, int]]
# Modification times are as coarse as the kernel's clock tick: a file stamped this close to the start of the
# import may have changed while it was imported.
MTIME_SLACK_NS = 1_000_000_000


def loaded_sources(packages: list[str]) -> SourceStamps:
    """(modification time, size) of the source file of every module imported in this process, and of every
    file in the folders of ``packages`` (top-level packages of the code location)."""
    paths = [getattr(module, "__file__", None) for module in list(sys.modules.values())]
    for name in packages:
        for folder in getattr(sys.modules.get(name), "__path__", []):
            files = (path for path in Path(folder).rglob("*") if "__pycache__" not in path.parts)
            paths += [str(path) for path in files if path.is_file()]
    stamps: SourceStamps = {}
    for path in paths:
        if not path:
            continue
        try:
            stat = os.stat(path)
        except OSError:
            continue
        stamps[path] = (stat.st_mtime_ns, stat.st_size)
    return stamps


def changed_sources(stamps: SourceStamps) -> list[str]:
    """The files among ``stamps`` that changed or went away since they were stamped."""
    changed = []
    for path, stamp in stamps.items():
        try:
            stat = os.stat(path)
        except OSError:
            changed.append(path)
            continue
        if (stat.st_mtime_ns, stat.st_size) != stamp:
            changed.append(path)
    return changed


def modified_since(stamps: SourceStamps, moment_ns: int) -> list[str]:
    """The files among ``stamps`` last modified at or after ``moment_ns`` (or within the file system's
    timestamp granularity before it)."""
    return [path for path, (mtime_ns, _) in stamps.items() if mtime_ns >= moment_ns - MTIME_SLACK_NS]


def _inject_environment(instance_ref: str, location_name: str) -> None:
    """The variables the instance's secrets loader gives the code location, set before its import, as a code
    server started with ``--inject-env-vars-from-instance`` sets them."""
    from dagster import DagsterInstance
    from dagster._core.instance.ref import InstanceRef
    from dagster._serdes import deserialize_value

    with DagsterInstance.from_ref(deserialize_value(instance_ref, InstanceRef)) as instance:
        instance.inject_env_vars(location_name)


def main(argv: list[str]) -> None:
    parser = argparse.ArgumentParser(prog="python -m fraud_lakehouse.run_worker")
    parser.add_argument("--working-directory", help="where the code location's modules are imported from")
    parser.add_argument("--instance-ref", help="the Dagster instance (serialized), for its secrets loader")
    parser.add_argument("--location-name", help="the code location's name in the workspace")
    parser.add_argument("modules", nargs="*", help="the code location's modules, imported ahead")
    options = parser.parse_args(argv)
    import_started_ns = time.time_ns()
    try:
        # What `python -m dagster api execute_run` imports before a run starts, then the code location,
        # from its working directory as Dagster's loader imports it.
        from dagster._cli import main as dagster_main

        if options.instance_ref and options.location_name:
            _inject_environment(options.instance_ref, options.location_name)
        if options.working_directory:
            sys.path.insert(0, options.working_directory)
        for module in options.modules:
            importlib.import_module(module)
        stamps: SourceStamps | None = loaded_sources([module.split(".")[0] for module in options.modules])
        if modified_since(stamps, import_started_ns):
            # a file changed while it was imported (a checkout, an install): the stamps may not be what ran
            stamps = None
    except KeyboardInterrupt:
        return
    except Exception:
        # Broken code: the run reports the error itself, started as a new process.
        stamps = None
    try:
        line = sys.stdin.readline()
    except KeyboardInterrupt:  # Ctrl-C in the terminal of `dagster dev` while this worker waited
        return
    if not line.strip():
        return  # the launcher went away without a run for this worker
    arguments = ["api", "execute_run", line.strip()]
    if stamps is None or changed_sources(stamps):
        # the same command as a new process of this Python, which imports the code as it is now
        os.execv(sys.executable, [sys.executable, "-m", "dagster", *arguments])
    sys.argv = ["dagster", *arguments]
    dagster_main()


if __name__ == "__main__":
    main(sys.argv[1:])
