"""The local Dagster instance: created and migrated once, under a lock, before anything else uses it.

Two Dagster processes that create the same brand-new instance at once both
stamp its SQLite schema and leave it broken for good ("alembic_version has
more than one head"). Every ``fraud-lakehouse`` command that touches the
instance goes through ``prepare_instance`` first, which creates every
storage under an exclusive file lock; an instance that exists is safe for
any number of concurrent Dagster commands.
"""

from __future__ import annotations

import contextlib
import io
import os
from pathlib import Path

from fraud_lakehouse.storage import LocalStorage

INSTANCE_LOCK = Path(".lakehouse", "instance.lock")


class InstanceHomeError(RuntimeError):
    pass


def dagster_home() -> Path:
    """``$DAGSTER_HOME``, else the working directory when it holds ``dagster.yaml`` (the repository root), which
    then becomes DAGSTER_HOME for this process."""
    home = os.environ.get("DAGSTER_HOME")
    if home:
        return Path(home).expanduser().resolve()
    if Path("dagster.yaml").is_file():
        os.environ["DAGSTER_HOME"] = str(Path.cwd().resolve())
        return Path.cwd().resolve()
    raise InstanceHomeError(
        "run it from the repository root (where dagster.yaml is) or set DAGSTER_HOME to a folder with a dagster.yaml"
    )


def prepare_instance(migrate: bool = False):  # type: ignore[no-untyped-def]
    """The Dagster instance of DAGSTER_HOME, its run, event and schedule storage created (a new instance is created
    at the latest schema); ``migrate`` also brings an instance of an older Dagster up to date."""
    from dagster import DagsterInstance

    home = dagster_home()
    home.mkdir(parents=True, exist_ok=True)
    with LocalStorage().lock(str(home / INSTANCE_LOCK), timeout_s=600):
        instance = DagsterInstance.from_config(str(home))
        # Touch every storage so each creates its tables now, under the lock.
        instance.get_runs(limit=1)
        if instance.schedule_storage is not None:
            instance.schedule_storage.all_instigator_state()
        if migrate:
            # the storages print their progress, which says nothing here
            with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
                instance.upgrade(print_fn=lambda _message: None)
    return instance
