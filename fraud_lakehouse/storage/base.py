"""The storage interface shared by the local and the S3 backend."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import BinaryIO, Protocol

import pyarrow as pa

# How long a writer waits for another writer's lock before giving up, and how
# long a lock stays valid without being renewed (a holder renews it while it
# works, so only a crashed holder's lock expires).
DEFAULT_LOCK_TIMEOUT_S = 3600.0
DEFAULT_LOCK_LEASE_S = 60.0


@dataclass(frozen=True)
class StoredObject:
    uri: str
    size: int
    modified: dt.datetime  # UTC
    # content version: the S3 ETag, or size and modification time of a local file
    etag: str


class LockTimeout(TimeoutError):
    """Another writer held the lock for longer than the caller was willing to wait."""


class Storage(Protocol):
    def list(self, prefix: str) -> Iterator[StoredObject]:
        """Every object under the ``prefix`` URI (a folder), recursively, in no particular order."""
        ...

    def list_level(self, prefix: str) -> tuple[list[str], list[StoredObject]]:
        """One level under the ``prefix`` folder: the URIs of its sub-folders, and its objects."""
        ...

    def stat(self, uri: str) -> StoredObject | None:
        """The object at ``uri``, or None when there is none."""
        ...

    def open_input(self, uri: str) -> pa.NativeFile:
        """A seekable pyarrow stream over the object (read in ranges, never loaded whole)."""
        ...

    def open_sequential(self, uri: str) -> BinaryIO:
        """A seekable stream over the object for reading mostly in order (a landed file): small reads are served
        from large ones, since every read of ``open_input`` on S3 is a request of its own."""
        ...

    def open_output(self, uri: str) -> pa.NativeFile:
        """A pyarrow stream that creates or replaces the object when closed."""
        ...

    def write_bytes(self, uri: str, data: bytes) -> None: ...

    def upload(self, path: str, uri: str) -> None:
        """Copy the local file at ``path`` to ``uri`` (in parts, for a large file on S3)."""
        ...

    def read_bytes(self, uri: str) -> bytes: ...

    def delete(self, uri: str) -> None:
        """Delete the object at ``uri`` (no error when there is none)."""
        ...

    def delete_tree(self, prefix: str) -> None:
        """Delete every object under ``prefix`` (no error when there is none)."""
        ...

    def lock(
        self, uri: str, timeout_s: float = DEFAULT_LOCK_TIMEOUT_S, lease_s: float = DEFAULT_LOCK_LEASE_S
    ) -> AbstractContextManager[None]:
        """Hold the exclusive lock named ``uri`` inside the ``with`` block; other processes and hosts wait."""
        ...
