"""What the benchmarks share to run the project as a user does: a new Dagster home, and a timed CLI command.

Imported by the benchmark scripts beside it (``python benchmarks/<script>.py`` puts this folder on the path).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

BIN = Path(sys.executable).parent
REPO = Path(__file__).resolve().parent.parent


def new_home(root: Path, **settings: str) -> dict[str, str]:
    """A new Dagster home at ``root`` (the repository's ``dagster.yaml`` and ``workspace.yaml``, the instance
    created by ``fraud-lakehouse init``) and the environment that runs in it: this one without any
    ``FRAUD_LAKEHOUSE_*`` setting, plus ``settings``."""
    root.mkdir(parents=True, exist_ok=True)
    for name in ("dagster.yaml", "workspace.yaml"):
        shutil.copy(REPO / name, root / name)
    env = {k: v for k, v in os.environ.items() if not k.startswith("FRAUD_LAKEHOUSE_")}
    env |= {"DAGSTER_HOME": str(root), **settings}
    subprocess.run([str(BIN / "fraud-lakehouse"), "init"], cwd=root, env=env, check=True, capture_output=True)
    return env


def timed(command: list[str], cwd: Path, env: dict[str, str]) -> float:
    """Wall-clock seconds of ``command`` in a fresh process; its output in the error when it fails."""
    started = time.perf_counter()
    result = subprocess.run(command, cwd=cwd, env=env, capture_output=True, text=True)
    seconds = time.perf_counter() - started
    if result.returncode:
        raise RuntimeError(f"{' '.join(command)} failed:\n{result.stdout[-3000:]}\n{result.stderr[-3000:]}")
    return seconds
