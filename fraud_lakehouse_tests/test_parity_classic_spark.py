"""Transformation parity: classic pyspark 3.5 (the EMR version, JVM) gives the rows Sail gives.

The classic side runs in its own virtual environment (`.venv-spark35`, made
on first use from parity/requirements-spark35.txt), on in-memory data: the
machines that run CI cannot download the Delta or S3 jars, and the pure
transformations need neither.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys

import pytest

from fraud_lakehouse_tests.conftest import REPO_ROOT
from fraud_lakehouse_tests.parity.transformations import run_cases

REQUIREMENTS = REPO_ROOT / "fraud_lakehouse_tests" / "parity" / "requirements-spark35.txt"
VENV = REPO_ROOT / ".venv-spark35"


def _classic_python() -> str:
    """The classic-Spark environment's interpreter, (re)built when its requirements change."""
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


@pytest.fixture(scope="module")
def classic_results() -> dict:
    if shutil.which("java") is None:
        pytest.fail("classic Spark needs Java (17) on PATH")
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT)}
    # A Spark Connect session in this process (Sail) leaves SPARK_REMOTE and
    # SPARK_CONNECT_MODE_ENABLED in the environment; classic Spark must not see them.
    for name in ("SPARK_HOME", "SPARK_REMOTE", "SPARK_CONNECT_MODE_ENABLED", "SPARK_LOCAL_REMOTE"):
        env.pop(name, None)
    result = subprocess.run(
        [_classic_python(), str(REPO_ROOT / "fraud_lakehouse_tests" / "parity" / "run_classic.py")],
        cwd=REPO_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=900,
    )
    lines = [line for line in result.stdout.splitlines() if line.startswith("PARITY-RESULT ")]
    assert result.returncode == 0 and lines, result.stdout[-2000:] + result.stderr[-4000:]
    return json.loads(lines[-1].removeprefix("PARITY-RESULT "))


def test_classic_side_is_spark_3_5(classic_results):
    assert classic_results["spark_version"].startswith("3.5.")


CASES = [
    "customers",
    "transactions",
    "silver_claims",
    "silver_quarantine",
    "gold_flagged_claims",
    "gold_provider_risk",
    "gold_fraud_by_rule",
    "gold_detection_quality",
]


@pytest.fixture(scope="module")
def sail_results(spark) -> dict:
    return json.loads(json.dumps(run_cases(spark), default=str))


@pytest.mark.parametrize("case", CASES)
def test_transformation_rows_match_between_classic_spark_and_sail(case, classic_results, sail_results):
    sail = sail_results[case]
    classic = classic_results[case]
    assert classic["rows"] > 0
    assert classic["columns"] == sail["columns"]
    assert classic["sample"] == sail["sample"]
    assert (classic["rows"], classic["sha256"]) == (sail["rows"], sail["sha256"])
