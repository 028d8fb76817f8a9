"""Shared fixtures: the embedded Sail engine, a moto S3 server in its own process."""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import settings

from fraud_lakehouse.local_s3 import start_moto_on_a_free_port
from fraud_lakehouse.resources.spark import SparkEngine

REPO_ROOT = Path(__file__).resolve().parent.parent
S3_BUCKET = "fraud-lakehouse-test"

# The property tests draw the same examples on every run, so the suite passes or fails the same way on every
# clone; `pytest --hypothesis-profile=explore --hypothesis-seed=N` draws others (docs/tests.md).
settings.register_profile("suite", derandomize=True)
settings.register_profile("explore", derandomize=False)
settings.load_profile("suite")


MOTO_SERVER = pytest.StashKey[subprocess.Popen]()


def pytest_configure(config: pytest.Config) -> None:
    # The S3 settings must be in the environment before the embedded engine starts (Sail and delta-rs read them
    # from there), so each process that runs tests starts its moto server now, on a port the server binds itself.
    if hasattr(config, "workerinput") or not config.getoption("numprocesses", default=None):
        process, port = start_moto_on_a_free_port()
        config.stash[MOTO_SERVER] = process
        os.environ["FRAUD_LAKEHOUSE_TEST_MOTO_PORT"] = str(port)
        os.environ.update(
            {
                "AWS_ENDPOINT_URL": f"http://127.0.0.1:{port}",
                "AWS_ALLOW_HTTP": "true",
                "AWS_ACCESS_KEY_ID": "testing",
                "AWS_SECRET_ACCESS_KEY": "testing",
                "AWS_REGION": "us-east-1",
                "AWS_DEFAULT_REGION": "us-east-1",
            }
        )
    os.environ.pop("AWS_PROFILE", None)
    os.environ.pop("FRAUD_LAKEHOUSE_ENGINE", None)


def pytest_unconfigure(config: pytest.Config) -> None:
    if process := config.stash.get(MOTO_SERVER, None):
        process.terminate()
        process.wait(timeout=10)


# The files that take the longest, longest first. The suite runs one file per worker at a time (pyproject's
# ``--dist loadfile``), handing out files in collection order, so the long ones start first and the workers
# end together instead of one finishing a long file alone. The parity lane comes after a few, by when the
# classic-Spark environment it waits for is built. Durations per file: docs/tests.md.
LONGEST_FILES_FIRST = (
    "test_sensor_end_to_end.py",
    "test_concurrency.py",
    "test_bad_claims_input.py",
    "test_parity_classic_spark.py",
    "test_gold_domain.py",
    "test_write_safety.py",
    "test_emr_launcher.py",
    "test_run_launcher.py",
    "test_crash.py",
    "test_ui_backfill.py",
    "test_claims_pipeline.py",
)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    rank = {name: position for position, name in enumerate(LONGEST_FILES_FIRST)}
    items.sort(key=lambda item: rank.get(item.path.name, len(rank)))  # stable: a file's own order is kept


def pytest_collection_finish(session: pytest.Session) -> None:
    # the classic-Spark lane's environment is built while the tests before it run
    if any(item.nodeid.startswith("fraud_lakehouse_tests/test_parity_classic_spark.py") for item in session.items):
        from fraud_lakehouse_tests.parity.environment import start_building

        start_building()


@pytest.fixture(scope="session")
def spark_engine() -> SparkEngine:
    return SparkEngine(engine="sail")


@pytest.fixture(scope="session")
def spark(spark_engine: SparkEngine):
    return spark_engine.spark_session


@pytest.fixture(scope="session")
def moto_s3() -> Iterator[str]:
    """The test process's moto S3 server (its own process, started in ``pytest_configure``); yields the endpoint
    URL with a bucket created."""
    endpoint = f"http://127.0.0.1:{os.environ['FRAUD_LAKEHOUSE_TEST_MOTO_PORT']}"
    import boto3

    boto3.client("s3", endpoint_url=endpoint).create_bucket(Bucket=S3_BUCKET)
    yield endpoint


def debian_tool(name: str) -> str:
    """The path of a Debian package's command of the same name, installed by the test set-up when the machine
    lacks it."""
    found = shutil.which(name)
    if found:
        return found
    install = ["apt-get", "install", "-y", "--no-install-recommends", name]
    if subprocess.run(install, capture_output=True).returncode != 0:
        subprocess.run(["apt-get", "update"], capture_output=True, check=True)
        subprocess.run(install, capture_output=True, check=True)
    found = shutil.which(name)
    assert found, f"{name} did not install (apt-get install {name})"
    return found


@pytest.fixture(scope="session")
def chromium() -> str:
    """Debian's Chromium (a browser test needs no download of its own browser)."""
    return debian_tool("chromium")


@pytest.fixture(scope="session")
def artifacts() -> Path:
    """test-artifacts/ in the repository (git-ignored): screenshots and other files a test keeps."""
    folder = REPO_ROOT / "test-artifacts" / "browser"
    folder.mkdir(parents=True, exist_ok=True)
    return folder
