"""The Spark engine resource: one PySpark resource, four ways to get a session.

Built on dagster-pyspark's ``LazyPySparkResource`` (the session is created from
``spark_config`` by its builder code on first use), it only adds the engine
choice:

- ``sail`` (default): an embedded Sail Spark Connect server started in this
  process on a free loopback port and stopped at process exit;
- ``connect``: a remote Spark Connect server (Sail or Spark 4) at ``remote_url``;
- ``classic``: local JVM Spark with Delta from delta-spark (fetches the Delta
  jars from Maven on first use);
- ``emr``: classic Spark on an EMR cluster, which provides Delta.
"""

from __future__ import annotations

import atexit
import os
import threading
from typing import Any

from dagster_pyspark import LazyPySparkResource
from pydantic import Field

ENGINES = ("sail", "connect", "classic", "emr")
ENGINE_ENV = "FRAUD_LAKEHOUSE_ENGINE"
REMOTE_ENV = "FRAUD_LAKEHOUSE_SPARK_REMOTE"
DEFAULT_ENGINE = "sail"

# Settings every engine gets: timestamps and dates are UTC everywhere.
COMMON_CONFIG = {"spark.sql.session.timeZone": "UTC"}
DELTA_SESSION_CONFIG = {
    "spark.sql.extensions": "io.delta.sql.DeltaSparkSessionExtension",
    "spark.sql.catalog.spark_catalog": "org.apache.spark.sql.delta.catalog.DeltaCatalog",
}


class EngineConfigError(ValueError):
    pass


def resolve_engine(engine: str | None) -> str:
    chosen = (engine or os.environ.get(ENGINE_ENV) or DEFAULT_ENGINE).strip().lower()
    if chosen not in ENGINES:
        raise EngineConfigError(
            f"engine: unknown Spark engine {chosen!r}; choose one of {', '.join(ENGINES)} "
            f"(set it in config or {ENGINE_ENV})"
        )
    return chosen


def engine_memory_pool_bytes() -> int:
    """The embedded engine's memory pool: half of this machine's memory (at least 1 GiB). Work that fits runs as
    without a pool; beyond it, sorts and aggregates spill to disk where they would have exhausted memory."""
    try:
        physical = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError):
        return 4 * 2**30
    return max(2**30, physical // 2)


class _EmbeddedSail:
    """The process's embedded Sail server, shared by every session in the process."""

    _lock = threading.Lock()
    _server: Any = None
    _url: str | None = None

    @classmethod
    def url(cls) -> str:
        with cls._lock:
            if cls._server is None:
                # Sail logs every session at INFO; keep the terminal for errors
                # unless the user asked for more with RUST_LOG.
                os.environ.setdefault("RUST_LOG", "error")
                # Parquet with Snappy, Spark's default codec, and statistics per
                # row group rather than per page: tables are partitioned by day,
                # so files are small and row-group statistics prune as well. Sail's
                # defaults (zstd(3), page statistics) wrote 5.8-6.0 s against
                # 4.1-5.2 s for the benchmark's 5 M rows on 2 cores.
                os.environ.setdefault("SAIL_PARQUET__COMPRESSION", "snappy")
                os.environ.setdefault("SAIL_PARQUET__STATISTICS_ENABLED", "chunk")
                # Sail's allocator (mimalloc) commits its arenas eagerly and asks
                # for transparent huge pages on them; the kernel then zeroes 2 MiB
                # pages again each time freed memory is reused, which was 14% of
                # all CPU time in the detection benchmark (sys time 6-7 s of 26).
                # Committing on demand: sys time 3.5 s, the run 1 s faster. Read
                # when Sail's library loads, so only before the first server starts.
                os.environ.setdefault("MIMALLOC_ARENA_EAGER_COMMIT", "0")
                # Even committed on demand, its pages were transparent huge pages,
                # each zeroed whole (2 MiB) on first touch. Plain pages instead.
                os.environ.setdefault("MIMALLOC_ALLOW_THP", "0")
                # Freed pages go back to the kernel as free-on-demand
                # (MADV_FREE), not decommitted: the allocator reuses them without
                # a page fault while they are still there, and the kernel takes
                # them when another process needs the memory. Decommitted (the
                # allocator's default), each reuse faulted and zeroed the page
                # again, which slowed a landed file's run; never returned, a run
                # held the most it had ever used, and several large days at once
                # took the whole machine (docs/performance.md).
                os.environ.setdefault("MIMALLOC_PURGE_DECOMMITS", "0")
                # Batches of 32 Ki rows instead of 8 Ki: fewer, longer vectorized
                # steps. The detection benchmark, 3 runs each: 13.1 s (8 Ki),
                # 12.0 s (32 Ki), 12.6 s (64 Ki); peak memory 2.6 -> 2.8 GiB.
                os.environ.setdefault("SAIL_EXECUTION__BATCH_SIZE", "32768")
                # A memory pool with a limit (Sail's default has none): beyond
                # it the engine's sorts and aggregates spill to disk, as the
                # per-customer pass's sort of a very large input does, instead
                # of exhausting the machine's memory. Shared fairly among the
                # operators that can spill.
                os.environ.setdefault("SAIL_RUNTIME__MEMORY_POOL__TYPE", "fair")
                os.environ.setdefault("SAIL_RUNTIME__MEMORY_POOL__FAIR__MAX_SIZE", str(engine_memory_pool_bytes()))
                from pysail.spark import SparkConnectServer

                server = SparkConnectServer(ip="127.0.0.1", port=0)
                server.start(background=True)
                _, port = server.listening_address
                cls._server, cls._url = server, f"sc://127.0.0.1:{port}"
                atexit.register(cls.stop)
            assert cls._url is not None
            return cls._url

    @classmethod
    def stop(cls) -> None:
        with cls._lock:
            if cls._server is None:
                return
            # A Spark Connect client left open against a stopped server hangs
            # the interpreter at exit, so sessions close first.
            _stop_active_session()
            cls._server.stop()
            cls._server, cls._url = None, None


def _stop_active_session() -> None:
    from pyspark.sql import SparkSession

    session = SparkSession.getActiveSession()
    if session is not None:
        session.stop()


def delta_maven_coordinate() -> str:
    """The Delta jar matching the installed delta-spark and pyspark (as delta-spark's own helper picks it)."""
    from importlib.metadata import version

    import pyspark

    spark_major_minor = ".".join(pyspark.__version__.split(".")[:2])
    return f"io.delta:delta-spark_{spark_major_minor}_2.13:{version('delta_spark')}"


def engine_spark_config(engine: str, remote_url: str | None, local_cores: int | None) -> dict[str, Any]:
    """The Spark settings an engine needs before user settings are applied."""
    if engine == "sail":
        return {"spark.remote": _EmbeddedSail.url()}
    if engine == "connect":
        url = remote_url or os.environ.get(REMOTE_ENV)
        if not url:
            raise EngineConfigError(
                f"remote_url: the 'connect' engine needs a Spark Connect URL (sc://host:port) in config or {REMOTE_ENV}"
            )
        return {"spark.remote": url}
    if engine == "classic":
        return {
            "spark.master": f"local[{local_cores or '*'}]",
            "spark.jars.packages": delta_maven_coordinate(),
            **DELTA_SESSION_CONFIG,
        }
    # emr: the cluster's spark-defaults give the master and the Delta jars.
    return dict(DELTA_SESSION_CONFIG)


class SparkEngine(LazyPySparkResource):
    """PySpark session on the chosen engine (see module docstring)."""

    engine: str | None = Field(
        default=None, description=f"sail | connect | classic | emr; default from {ENGINE_ENV}, else sail"
    )
    remote_url: str | None = Field(
        default=None, description=f"Spark Connect URL for the connect engine; default from {REMOTE_ENV}"
    )
    local_cores: int | None = Field(
        default=None, description="cores for the classic engine's local master (default: all)"
    )
    spark_config: dict[str, Any] = Field(
        default_factory=dict, description="extra Spark settings, applied in the session builder"
    )

    @property
    def engine_name(self) -> str:
        return resolve_engine(self.engine)

    def _init_session(self) -> None:
        if self._spark_session is None:
            from dagster_pyspark.resources import spark_session_from_config

            engine = self.engine_name
            # Every static setting goes to the builder: engines ignore them once running.
            config = {
                **COMMON_CONFIG,
                **engine_spark_config(engine, self.remote_url, self.local_cores),
                **self.spark_config,
            }
            self._spark_session = spark_session_from_config(config)
