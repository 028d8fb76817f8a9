"""The claims landing area: which objects are claims files, and which detection date each belongs to.

Files land under a local folder or an S3 prefix (``s3://bucket/claims/``).
A file belongs to the date of its date folder (``claims/YYYY-MM-DD/`` or
``detection_date=YYYY-MM-DD``, the last one in its path), else to its upload
(modification) date in UTC. A folder that looks like a date but is not one
(``2025-13-40``) makes the file rejected, not re-dated.

Objects that are uploads still in progress, or hidden, are not claims files
and are never read: names starting with ``.`` or ``_`` anywhere in the path
(``_temporary/`` of Spark, ``.DS_Store``) and the suffixes in
``IN_PROGRESS_SUFFIXES``.
"""

from __future__ import annotations

import datetime as dt
import os
import re
from dataclasses import dataclass
from typing import BinaryIO

from fraud_lakehouse.storage import Storage, StoredObject, is_s3, join, local_state_path, storage_for

LANDING_ENV = "FRAUD_LAKEHOUSE_LANDING"
DATE_FOLDER = re.compile(r"^(?:detection_date=)?(\d{4}-\d{2}-\d{2})$")
# Names tools give a file while it is still being written or downloaded: rclone, lftp, curl, wget and
# browsers (.part, .partial, .crdownload, .download), WinSCP (.filepart), `hadoop fs -put` (._COPYING_),
# gsutil (.gstmp), Flink and Kafka Connect sinks (.inprogress, .pending), editors (.swp, ~) and temporary
# files in general (.tmp, .temp).
IN_PROGRESS_SUFFIXES = (
    ".part",
    ".partial",
    ".crdownload",
    ".download",
    ".filepart",
    "._copying_",
    ".gstmp",
    ".inprogress",
    ".pending",
    ".swp",
    ".tmp",
    ".temp",
    "~",
)


def default_landing() -> str:
    """``$FRAUD_LAKEHOUSE_LANDING``, else ``.lakehouse/landing/claims`` in DAGSTER_HOME (or the working directory)."""
    return os.environ.get(LANDING_ENV) or local_state_path("landing", "claims")


def skip_reason(relative_path: str) -> str | None:
    """Why an object under the landing root is not a claims file to read (None: it is one)."""
    parts = [part for part in relative_path.replace("\\", "/").split("/") if part]
    if any(part.startswith((".", "_")) for part in parts):
        return "hidden or temporary name (starts with . or _)"
    name = parts[-1].lower() if parts else ""
    if name.startswith("~$"):
        # Office's owner file beside a workbook open in Excel (~$claims.xlsx): a lock, not the workbook
        return "Office owner file (starts with ~$)"
    for suffix in IN_PROGRESS_SUFFIXES:
        if name.endswith(suffix):
            return f"upload in progress ({suffix})"
    return None


@dataclass(frozen=True)
class FileDate:
    """The detection date of a landed file, or why it has none."""

    date: dt.date | None
    from_folder: bool
    problem: str | None = None  # bad_date_folder


def file_date(relative_path: str, modified: dt.datetime) -> FileDate:
    """The date of the last date folder in the path, else the modification date in UTC."""
    folders = relative_path.replace("\\", "/").split("/")[:-1]
    for folder in reversed(folders):
        match = DATE_FOLDER.match(folder)
        if match:
            try:
                return FileDate(dt.date.fromisoformat(match.group(1)), from_folder=True)
            except ValueError:
                return FileDate(None, from_folder=True, problem="bad_date_folder")
    return FileDate(modified.astimezone(dt.UTC).date(), from_folder=False)


@dataclass(frozen=True)
class LandedFile:
    uri: str
    relative_path: str
    size: int
    modified: dt.datetime  # UTC
    etag: str

    @property
    def date(self) -> FileDate:
        return file_date(self.relative_path, self.modified)

    @property
    def detection_date(self) -> dt.date | None:
        return self.date.date

    @property
    def upload_date(self) -> dt.date:
        return self.modified.astimezone(dt.UTC).date()

    @property
    def skip_reason(self) -> str | None:
        return skip_reason(self.relative_path)


class Landing:
    """A landing area: a local folder or an S3 prefix (``storage``: a backend with its own client, say)."""

    def __init__(self, root: str, storage: Storage | None = None):
        self.root = root.rstrip("/") if is_s3(root) else join(root)
        self.storage = storage or storage_for(self.root)

    def _landed(self, item: StoredObject) -> LandedFile:
        relative = item.uri[len(self.root) :].lstrip("/")
        return LandedFile(item.uri, relative, item.size, item.modified, item.etag)

    def list_all(self) -> list[LandedFile]:
        """Every object under the landing root, claims files or not, sorted by URI."""
        return sorted((self._landed(item) for item in self.storage.list(self.root)), key=lambda f: f.uri)

    def list_files(self) -> list[LandedFile]:
        """The claims files under the landing root (in-progress and hidden names left out)."""
        return [landed for landed in self.list_all() if landed.skip_reason is None]

    def resolve(self, name: str) -> str:
        """A file named in run config: a full URI/path, or a path relative to the landing root."""
        if is_s3(name) or os.path.isabs(name):
            return name
        return join(self.root, name)

    def stat(self, uri: str) -> LandedFile | None:
        item = self.storage.stat(uri)
        if item is None:
            return None
        if not item.uri.startswith(self.root):
            return LandedFile(item.uri, os.path.basename(item.uri), item.size, item.modified, item.etag)
        return self._landed(item)

    def open(self, uri: str) -> BinaryIO:
        return self.storage.open_sequential(uri)

    def landed(self, item: StoredObject) -> LandedFile:
        return self._landed(item)
