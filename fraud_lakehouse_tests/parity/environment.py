"""The classic-Spark lane's own virtual environment (``.venv-spark35``), (re)built from requirements-spark35.txt
when they change.

On a fresh machine building it (pip installs pyspark 3.5 and its dependencies) is one of the suite's longest
steps, so it starts in the background as soon as the test session knows it will run the lane (``start_building``,
from conftest), and overlaps the tests collected before it; the lane waits for it in ``classic_python``.
"""

from __future__ import annotations

import fcntl
import hashlib
import shutil
import subprocess
import sys
import threading
from concurrent.futures import Future, ThreadPoolExecutor

from fraud_lakehouse_tests.conftest import REPO_ROOT

REQUIREMENTS = REPO_ROOT / "fraud_lakehouse_tests" / "parity" / "requirements-spark35.txt"
VENV = REPO_ROOT / ".venv-spark35"
LOCK = REPO_ROOT / ".venv-spark35.lock"

_lock = threading.Lock()
_build: Future[str] | None = None


def _built() -> str:
    with LOCK.open("a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # released when the file closes
        return _built_holding_the_lock()


def _built_holding_the_lock() -> str:
    digest = hashlib.sha256(REQUIREMENTS.read_bytes()).hexdigest()
    marker = VENV / "requirements.sha256"
    python = VENV / "bin" / "python"
    if not (python.exists() and marker.exists() and marker.read_text() == digest):
        shutil.rmtree(VENV, ignore_errors=True)
        subprocess.run([sys.executable, "-m", "venv", str(VENV)], check=True)
        subprocess.run(
            [str(python), "-m", "pip", "install", "--quiet", "--disable-pip-version-check", "-r", str(REQUIREMENTS)],
            check=True,
        )
        marker.write_text(digest)
    return str(python)


def start_building() -> None:
    """Start making the environment ready, once per process."""
    global _build
    with _lock:
        if _build is None:
            _build = ThreadPoolExecutor(max_workers=1, thread_name_prefix="classic-spark-venv").submit(_built)


def classic_python() -> str:
    """The environment's interpreter, once it is ready (a failed build raises here)."""
    start_building()
    assert _build is not None
    return _build.result()
