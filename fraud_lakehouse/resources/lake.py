"""Where the lake lives: a local folder or ``s3://bucket/prefix``."""

from __future__ import annotations

import os
import uuid
from pathlib import Path

LAKE_ROOT_ENV = "FRAUD_LAKEHOUSE_LAKE_ROOT"


class LakeRootError(RuntimeError):
    pass


# Local state (Dagster instance and lake) lives in this folder of DAGSTER_HOME.
LOCAL_STATE_DIR = ".lakehouse"


def local_state_path(*parts: str) -> str:
    """``.lakehouse/{parts}`` in DAGSTER_HOME (or the working directory)."""
    home = os.environ.get("DAGSTER_HOME") or str(Path.cwd())
    return str(Path(home, LOCAL_STATE_DIR, *parts))


def default_lake_root() -> str:
    """``$FRAUD_LAKEHOUSE_LAKE_ROOT``, else ``.lakehouse/lake`` in DAGSTER_HOME (or the working directory)."""
    return os.environ.get(LAKE_ROOT_ENV) or local_state_path("lake")


def is_s3(uri: str) -> bool:
    return uri.startswith(("s3://", "s3a://"))


def lake_path(root: str, *parts: str) -> str:
    """``{root}/{part}/...``; local roots become absolute paths, S3 roots stay URIs."""
    if is_s3(root):
        return "/".join([root.rstrip("/"), *parts])
    return str(Path(root).expanduser().resolve().joinpath(*parts))


def table_uri(root: str, layer: str, table: str) -> str:
    """``{root}/{layer}/{table}``."""
    return lake_path(root, layer, table)


def ensure_writable(root: str) -> None:
    """Fail early, naming the path, when a local lake root cannot be written."""
    if is_s3(root):
        return  # checked by the first write; its error names the table URI
    path = Path(root).expanduser()
    try:
        path.mkdir(parents=True, exist_ok=True)
        probe = path / f".write-probe-{uuid.uuid4().hex}"
        probe.write_bytes(b"")
        probe.unlink()
    except OSError as error:
        raise LakeRootError(f"lake root {path} is not writable: {error.strerror or error}") from error
