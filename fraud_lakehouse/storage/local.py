"""The local file system backend."""

from __future__ import annotations

import datetime as dt
import fcntl
import os
import shutil
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import BinaryIO

import pyarrow as pa

from fraud_lakehouse.storage.base import DEFAULT_LOCK_LEASE_S, DEFAULT_LOCK_TIMEOUT_S, LockTimeout, StoredObject

LOCK_POLL_S = 0.05


def _object(path: Path) -> StoredObject:
    stat = path.stat()
    return StoredObject(
        uri=str(path),
        size=stat.st_size,
        modified=dt.datetime.fromtimestamp(stat.st_mtime, dt.UTC),
        etag=f"{stat.st_size}-{stat.st_mtime_ns}",
    )


class LocalStorage:
    def list(self, prefix: str) -> Iterator[StoredObject]:
        root = Path(prefix).expanduser()
        if not root.is_dir():
            return
        for directory, _, names in os.walk(root):
            for name in names:
                path = Path(directory, name)
                try:
                    yield _object(path)
                except FileNotFoundError:  # removed while listing
                    continue

    def list_level(self, prefix: str) -> tuple[list[str], list[StoredObject]]:
        root = Path(prefix).expanduser()
        if not root.is_dir():
            return [], []
        folders, objects = [], []
        for entry in os.scandir(root):
            try:
                if entry.is_dir():
                    folders.append(entry.path)
                elif entry.is_file():
                    objects.append(_object(Path(entry.path)))
            except FileNotFoundError:  # removed while listing
                continue
        return folders, objects

    def stat(self, uri: str) -> StoredObject | None:
        path = Path(uri).expanduser()
        try:
            return _object(path) if path.is_file() else None
        except FileNotFoundError:
            return None

    def open_input(self, uri: str) -> pa.NativeFile:
        return pa.OSFile(str(Path(uri).expanduser()), "rb")

    def open_sequential(self, uri: str) -> BinaryIO:
        return self.open_input(uri)  # type: ignore[return-value]  # a local read costs no request

    def open_output(self, uri: str) -> pa.NativeFile:
        path = Path(uri).expanduser()
        path.parent.mkdir(parents=True, exist_ok=True)
        return pa.OSFile(str(path), "wb")

    def write_bytes(self, uri: str, data: bytes) -> None:
        path = Path(uri).expanduser()
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)

    def upload(self, path: str, uri: str) -> None:
        target = Path(uri).expanduser()
        target.parent.mkdir(parents=True, exist_ok=True)
        # copied under a hidden name, then renamed: a reader never sees half a file
        partial = target.with_name(f".{target.name}.uploading")
        shutil.copyfile(path, partial)
        os.replace(partial, target)

    def read_bytes(self, uri: str) -> bytes:
        return Path(uri).expanduser().read_bytes()

    def delete(self, uri: str) -> None:
        Path(uri).expanduser().unlink(missing_ok=True)

    def delete_tree(self, prefix: str) -> None:
        shutil.rmtree(Path(prefix).expanduser(), ignore_errors=True)

    @contextmanager
    def lock(
        self, uri: str, timeout_s: float = DEFAULT_LOCK_TIMEOUT_S, lease_s: float = DEFAULT_LOCK_LEASE_S
    ) -> Iterator[None]:
        """An advisory ``flock`` on the file ``uri``: the kernel releases it when the holder dies, so no lease is
        needed (``lease_s`` is accepted for the interface)."""
        path = Path(uri).expanduser()
        path.parent.mkdir(parents=True, exist_ok=True)
        deadline = time.monotonic() + timeout_s
        with open(path, "a+b") as handle:
            while True:
                try:
                    fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
                    break
                except BlockingIOError:
                    if time.monotonic() > deadline:
                        raise LockTimeout(f"waited {timeout_s:.0f} s for the lock {path}") from None
                    time.sleep(LOCK_POLL_S)
            try:
                yield
            finally:
                fcntl.flock(handle.fileno(), fcntl.LOCK_UN)
