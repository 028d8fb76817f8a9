"""The S3 backend (or any S3-compatible endpoint): boto3 for listing and locks, pyarrow streams for data.

The endpoint, region and credentials come from the usual AWS variables
(``AWS_ENDPOINT_URL``, ``AWS_REGION``, ``AWS_ACCESS_KEY_ID``, ...) or the
host's role, as for every other S3 client of the project.
"""

from __future__ import annotations

import email.utils
import io
import json
import logging
import os
import random
import socket
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from functools import cached_property
from typing import Any, BinaryIO
from urllib.parse import urlsplit

import pyarrow as pa

from fraud_lakehouse.storage.base import DEFAULT_LOCK_LEASE_S, DEFAULT_LOCK_TIMEOUT_S, LockTimeout, StoredObject
from fraud_lakehouse.storage.paths import split_s3
from fraud_lakehouse.storage.read_ahead import ReadAhead

log = logging.getLogger(__name__)

# S3 answers a failed condition with 412; a race between two conditional writes can also give 409.
CONDITION_FAILED = {"PreconditionFailed", "ConditionalRequestConflict", "412", "409"}
NOT_FOUND = {"404", "NoSuchKey", "NotFound"}
# A landed file (``open_sequential``) is fetched in GETs of this size, so that a request's latency costs little
# beside its transfer, with this many GETs ahead of the reader at once: memory is one more chunk than that.
READ_AHEAD_BYTES = 8 * 1024**2
READ_AHEAD_CHUNKS = 2
# gzip's and zipfile's small reads are served from a buffer of this size, not one Python call each
SMALL_READS_BYTES = 256 * 1024


def _error_code(error: Exception) -> str:
    response = getattr(error, "response", None) or {}
    return str(response.get("Error", {}).get("Code", ""))


def endpoint_url() -> str | None:
    """The S3 endpoint from the environment (None: AWS itself)."""
    return os.environ.get("AWS_ENDPOINT_URL_S3") or os.environ.get("AWS_ENDPOINT_URL") or None


class S3Storage:
    def __init__(self, client: Any = None):
        self._given_client = client

    @cached_property
    def client(self) -> Any:
        if self._given_client is not None:
            return self._given_client
        import boto3

        return boto3.client("s3", endpoint_url=endpoint_url())

    @cached_property
    def filesystem(self) -> Any:
        from pyarrow import fs

        options: dict[str, Any] = {}
        endpoint = endpoint_url()
        if endpoint:
            parts = urlsplit(endpoint)
            options["endpoint_override"] = parts.netloc or parts.path
            options["scheme"] = parts.scheme or "https"
        region = os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION")
        if region:
            options["region"] = region
        return fs.S3FileSystem(**options)

    def _object(self, bucket: str, key: str, item: dict[str, Any]) -> StoredObject:
        return StoredObject(
            uri=f"s3://{bucket}/{key}",
            size=int(item.get("Size", item.get("ContentLength", 0))),
            modified=item["LastModified"],
            etag=str(item.get("ETag", "")).strip('"'),
        )

    def list(self, prefix: str) -> Iterator[StoredObject]:
        bucket, key_prefix = split_s3(prefix)
        if key_prefix and not key_prefix.endswith("/"):
            key_prefix += "/"
        paginator = self.client.get_paginator("list_objects_v2")
        for page in paginator.paginate(Bucket=bucket, Prefix=key_prefix):
            for item in page.get("Contents", []):
                if not item["Key"].endswith("/"):
                    yield self._object(bucket, item["Key"], item)

    def list_level(self, prefix: str) -> tuple[list[str], list[StoredObject]]:
        bucket, key_prefix = split_s3(prefix)
        if key_prefix and not key_prefix.endswith("/"):
            key_prefix += "/"
        folders, objects = [], []
        paginator = self.client.get_paginator("list_objects_v2")
        for page in paginator.paginate(Bucket=bucket, Prefix=key_prefix, Delimiter="/"):
            folders += [f"s3://{bucket}/{item['Prefix'].rstrip('/')}" for item in page.get("CommonPrefixes", [])]
            objects += [
                self._object(bucket, item["Key"], item)
                for item in page.get("Contents", [])
                if item["Key"] != key_prefix
            ]
        return folders, objects

    def stat(self, uri: str) -> StoredObject | None:
        bucket, key = split_s3(uri)
        try:
            head = self.client.head_object(Bucket=bucket, Key=key)
        except Exception as error:
            if _error_code(error) in NOT_FOUND:
                return None
            raise
        return self._object(bucket, key, head)

    def _path(self, uri: str) -> str:
        bucket, key = split_s3(uri)
        return f"{bucket}/{key}"

    def open_input(self, uri: str) -> pa.NativeFile:
        return self.filesystem.open_input_file(self._path(uri))

    def open_sequential(self, uri: str) -> BinaryIO:
        chunks = ReadAhead(self.open_input(uri), READ_AHEAD_BYTES, READ_AHEAD_CHUNKS)
        return io.BufferedReader(chunks, buffer_size=SMALL_READS_BYTES)

    def open_output(self, uri: str) -> pa.NativeFile:
        return self.filesystem.open_output_stream(self._path(uri))

    def write_bytes(self, uri: str, data: bytes) -> None:
        bucket, key = split_s3(uri)
        self.client.put_object(Bucket=bucket, Key=key, Body=data)

    def upload(self, path: str, uri: str) -> None:
        bucket, key = split_s3(uri)
        self.client.upload_file(path, bucket, key)  # multipart above 8 MB: visible only once complete

    def read_bytes(self, uri: str) -> bytes:
        bucket, key = split_s3(uri)
        return self.client.get_object(Bucket=bucket, Key=key)["Body"].read()

    def delete(self, uri: str) -> None:
        bucket, key = split_s3(uri)
        self.client.delete_object(Bucket=bucket, Key=key)

    def delete_tree(self, prefix: str) -> None:
        bucket, _ = split_s3(prefix)
        keys = [split_s3(item.uri)[1] for item in self.list(prefix)]
        for start in range(0, len(keys), 1000):
            batch = [{"Key": key} for key in keys[start : start + 1000]]
            self.client.delete_objects(Bucket=bucket, Delete={"Objects": batch, "Quiet": True})

    # -- locks -----------------------------------------------------------------

    @contextmanager
    def lock(
        self, uri: str, timeout_s: float = DEFAULT_LOCK_TIMEOUT_S, lease_s: float = DEFAULT_LOCK_LEASE_S
    ) -> Iterator[None]:
        """A lock object created with a conditional write (``If-None-Match: *``), so only one writer gets it.

        The holder renews it every third of ``lease_s`` with ``If-Match`` on its
        own ETag; a lock not renewed for ``lease_s`` (its holder crashed) is
        taken over after a conditional delete. Times are the S3 server's.
        """
        bucket, key = split_s3(uri)
        owner = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
        etag = self._acquire(bucket, key, owner, timeout_s, lease_s)
        state = {"etag": etag, "lost": False}
        stop = threading.Event()
        renewer = threading.Thread(
            target=self._renew, args=(bucket, key, owner, lease_s, state, stop), daemon=True, name=f"lock {key}"
        )
        renewer.start()
        try:
            yield
        finally:
            stop.set()
            renewer.join()
            if not state["lost"]:
                self._delete_if_match(bucket, key, state["etag"])

    def _lock_body(self, owner: str, lease_s: float) -> dict[str, Any]:
        return {
            "Body": json.dumps({"owner": owner, "renewed": time.time()}).encode(),
            "Metadata": {"owner": owner, "lease-seconds": str(lease_s)},
            "ContentType": "application/json",
        }

    def _acquire(self, bucket: str, key: str, owner: str, timeout_s: float, lease_s: float) -> str:
        deadline = time.monotonic() + timeout_s
        delay = 0.05
        while True:
            try:
                response = self.client.put_object(
                    Bucket=bucket, Key=key, IfNoneMatch="*", **self._lock_body(owner, lease_s)
                )
                return str(response["ETag"])
            except Exception as error:
                if _error_code(error) not in CONDITION_FAILED:
                    raise
            holder = self._stale_holder(bucket, key)
            if holder is not None:
                etag, holder_owner = holder
                log.warning("taking over the expired lock s3://%s/%s of %s", bucket, key, holder_owner)
                self._delete_if_match(bucket, key, etag)
                continue
            if time.monotonic() > deadline:
                raise LockTimeout(f"waited {timeout_s:.0f} s for the lock s3://{bucket}/{key}")
            time.sleep(delay * (1 + random.random()))
            delay = min(delay * 2, 1.0)

    def _stale_holder(self, bucket: str, key: str) -> tuple[str, str] | None:
        """(ETag, owner) of the lock when its holder stopped renewing it longer than its lease ago, else None."""
        try:
            head = self.client.head_object(Bucket=bucket, Key=key)
        except Exception as error:
            if _error_code(error) in NOT_FOUND:
                return None  # released meanwhile: try again
            raise
        server_time = email.utils.parsedate_to_datetime(head["ResponseMetadata"]["HTTPHeaders"]["date"])
        metadata = head.get("Metadata", {})
        lease = float(metadata.get("lease-seconds", DEFAULT_LOCK_LEASE_S))
        if (server_time - head["LastModified"]).total_seconds() > lease:
            return str(head["ETag"]), metadata.get("owner", "unknown")
        return None

    def _renew(
        self, bucket: str, key: str, owner: str, lease_s: float, state: dict[str, Any], stop: threading.Event
    ) -> None:
        while not stop.wait(lease_s / 3):
            try:
                response = self.client.put_object(
                    Bucket=bucket, Key=key, IfMatch=state["etag"], **self._lock_body(owner, lease_s)
                )
                state["etag"] = str(response["ETag"])
            except Exception as error:
                if _error_code(error) in CONDITION_FAILED | NOT_FOUND:
                    state["lost"] = True
                    log.error("lost the lock s3://%s/%s (not renewed within its lease)", bucket, key)
                    return
                log.warning("renewing the lock s3://%s/%s failed, will retry: %s", bucket, key, error)

    def _delete_if_match(self, bucket: str, key: str, etag: str) -> None:
        try:
            self.client.delete_object(Bucket=bucket, Key=key, IfMatch=etag)
        except Exception as error:
            code = _error_code(error)
            if code in CONDITION_FAILED | NOT_FOUND:
                return  # someone else's lock by now, or gone
            if code == "NotImplemented":  # an endpoint without conditional deletes
                self.client.delete_object(Bucket=bucket, Key=key)
                return
            raise
