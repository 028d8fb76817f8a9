"""URIs of the lake and the landing area: local paths or ``s3://bucket/key``."""

from __future__ import annotations

import os
from pathlib import Path

# Local state (Dagster instance, lake, landing) lives in this folder of DAGSTER_HOME.
LOCAL_STATE_DIR = ".lakehouse"


def is_s3(uri: str) -> bool:
    return uri.startswith(("s3://", "s3a://"))


def split_s3(uri: str) -> tuple[str, str]:
    """(bucket, key) of ``s3://bucket/key``."""
    bucket, _, key = uri.split("://", 1)[1].partition("/")
    return bucket, key


def join(root: str, *parts: str) -> str:
    """``{root}/{part}/...``; local roots become absolute paths, S3 roots stay URIs."""
    if is_s3(root):
        return "/".join([root.rstrip("/"), *[part.strip("/") for part in parts]])
    return str(Path(root).expanduser().resolve().joinpath(*parts))


def local_state_path(*parts: str) -> str:
    """``.lakehouse/{parts}`` in DAGSTER_HOME (or the working directory)."""
    home = os.environ.get("DAGSTER_HOME") or str(Path.cwd())
    return str(Path(home, LOCAL_STATE_DIR, *parts))


def table_lock_uri(table_uri: str) -> str:
    """Where the write lock of the table at ``{root}/{layer}/{table}`` lives: ``{root}/_locks/{layer}/{table}.lock``
    (every writer of the table takes it, whatever writes the rows)."""
    parent, _, table = table_uri.rstrip("/").rpartition("/")
    root, _, layer = parent.rpartition("/")
    return f"{root}/_locks/{layer}/{table}.lock"
