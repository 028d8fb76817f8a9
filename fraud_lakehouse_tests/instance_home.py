"""A fresh Dagster instance home for tests that run the product as users do: the project's own dagster.yaml
and workspace.yaml, the `fraud-lakehouse` and `dagster` commands in subprocesses, and the lake read back with
delta-rs (no engine in the test process)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
from deltalake import DeltaTable

from fraud_lakehouse_tests.conftest import REPO_ROOT

BIN = Path(sys.executable).parent
# Columns that record when a run happened, not what it computed.
RUN_TIME_COLUMNS = {"ingested_at", "rejected_at"}
SMALL_SYNTHETIC = {"resources": {"synthetic": {"config": {"customers": 200}}}}


@dataclass
class InstanceHome:
    path: Path
    settings: dict[str, str] = field(default_factory=dict)  # FRAUD_LAKEHOUSE_* and other variables of the home

    @property
    def lake(self) -> Path:
        return self.path / ".lakehouse" / "lake"

    @property
    def landing(self) -> Path:
        return self.path / ".lakehouse" / "landing" / "claims"

    def env(self) -> dict[str, str]:
        env = {key: value for key, value in os.environ.items() if not key.startswith("FRAUD_LAKEHOUSE_")}
        env.update(DAGSTER_HOME=str(self.path), PYTHONUNBUFFERED="1", **self.settings)
        return env

    def command(self, name: str, *args: str) -> list[str]:
        return [str(BIN / name), *args]

    def run(self, name: str, *args: str, timeout: float = 300) -> subprocess.CompletedProcess:
        return subprocess.run(
            self.command(name, *args), cwd=self.path, env=self.env(), capture_output=True, text=True, timeout=timeout
        )

    def start(self, name: str, *args: str, log: str) -> subprocess.Popen:
        handle = open(self.path / log, "w")
        return subprocess.Popen(
            self.command(name, *args),
            cwd=self.path,
            env=self.env(),
            stdout=handle,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )

    def materialize(self, day: str, *, log: str) -> subprocess.Popen:
        """`dagster asset materialize --select '*' --partition DAY`, as a user starts it."""
        return self.start(
            "dagster",
            "asset",
            "materialize",
            "-m",
            "fraud_lakehouse.definitions",
            "--select",
            "*",
            "--partition",
            day,
            "--config-json",
            json.dumps(SMALL_SYNTHETIC),
            log=log,
        )

    def launch(self, day: str) -> None:
        """`dagster job launch` of lakehouse_job for one day: queued, for the daemon to start."""
        launched = self.run(
            "dagster", "job", "launch", "-w", "workspace.yaml", "-j", "lakehouse_job",
            "--tags", json.dumps({"dagster/partition": day}), "--config-json", json.dumps(SMALL_SYNTHETIC),
        )  # fmt: skip
        assert launched.returncode == 0, launched.stderr[-2000:]

    def land_sample(self, day: str, claims: int = 300, name: str = "claims.csv") -> Path:
        out = self.landing / day / name
        result = self.run(
            "fraud-lakehouse", "sample-claims", "--layout", "insurance", "--claims", str(claims), "--date", day,
            "--out", str(out),
        )  # fmt: skip
        assert result.returncode == 0, result.stderr
        return out

    def log(self, name: str) -> str:
        return (self.path / name).read_text()


def wait_until_serving(url: str, home: InstanceHome, timeout: float = 120) -> None:
    """Until the Dagster webserver at ``url`` answers (its log in the error when it does not)."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            urllib.request.urlopen(f"{url}/server_info", timeout=2)
            return
        except OSError:
            assert time.monotonic() < deadline, home.log("web.log")[-3000:]
            time.sleep(1)


def new_home(root: Path, **settings: str) -> InstanceHome:
    root.mkdir(parents=True, exist_ok=True)
    for name in ("dagster.yaml", "workspace.yaml"):
        shutil.copy(REPO_ROOT / name, root / name)
    return InstanceHome(root, settings)


def lake_tables(lake: Path, home: Path) -> dict[str, pa.Table]:
    """Every table of the lake, comparable with ``==``: run-time columns left out, the home folder written as
    <home>, columns in name order and rows sorted; read with delta-rs."""
    tables = {}
    for layer in ("bronze", "silver", "gold"):
        for path in sorted((lake / layer).glob("*")):
            table = DeltaTable(str(path)).to_pyarrow_table()
            columns = sorted(name for name in table.column_names if name not in RUN_TIME_COLUMNS)
            table = table.select(columns)
            for index, name in enumerate(columns):
                if pa.types.is_string(table.schema.field(name).type):
                    table = table.set_column(index, name, pc.replace_substring(table.column(name), str(home), "<home>"))
            sortable = [name for name in columns if not pa.types.is_nested(table.schema.field(name).type)]
            tables[f"{layer}/{path.name}"] = table.sort_by([(name, "ascending") for name in sortable]).combine_chunks()
    return tables


def wait_all(processes: list[subprocess.Popen], timeout: float) -> list[int]:
    deadline = time.monotonic() + timeout
    codes = []
    for process in processes:
        codes.append(process.wait(timeout=max(1.0, deadline - time.monotonic())))
    return codes


def wait_for_runs(instance, count: int, timeout: float) -> None:  # type: ignore[no-untyped-def]
    """Until the instance holds ``count`` runs, all finished (or ``timeout`` seconds pass)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        runs = instance.get_runs()
        if len(runs) == count and all(run.is_finished for run in runs):
            return
        time.sleep(2)
