"""Where the lake lives: a local folder or ``s3://bucket/prefix``."""

from __future__ import annotations

import os
import uuid
from pathlib import Path

from fraud_lakehouse.storage import is_s3, join, local_state_path

LAKE_ROOT_ENV = "FRAUD_LAKEHOUSE_LAKE_ROOT"

__all__ = ["LAKE_ROOT_ENV", "LakeRootError", "default_lake_root", "ensure_writable", "is_s3", "lake_path", "table_uri"]


class LakeRootError(RuntimeError):
    pass


def default_lake_root() -> str:
    """``$FRAUD_LAKEHOUSE_LAKE_ROOT``, else ``.lakehouse/lake`` in DAGSTER_HOME (or the working directory)."""
    return os.environ.get(LAKE_ROOT_ENV) or local_state_path("lake")


def lake_path(root: str, *parts: str) -> str:
    """``{root}/{part}/...``; local roots become absolute paths, S3 roots stay URIs."""
    return join(root, *parts)


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
