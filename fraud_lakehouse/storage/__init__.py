"""Where files live: a local folder or an S3 prefix, behind one interface.

``storage_for(uri)`` gives the backend of a URI; callers never test for S3
themselves. A backend lists, reads (as pyarrow streams), writes, deletes,
and holds exclusive write locks that a crashed holder cannot keep forever.
Domain code (``claims/``) and resources use it alike; it imports neither.
"""

from fraud_lakehouse.storage.base import LockTimeout, Storage, StoredObject
from fraud_lakehouse.storage.local import LocalStorage
from fraud_lakehouse.storage.paths import is_s3, join, local_state_path, split_s3, table_lock_uri
from fraud_lakehouse.storage.s3 import S3Storage


def storage_for(uri: str) -> Storage:
    """The backend that holds ``uri``: S3 for ``s3://`` and ``s3a://`` URIs, else the local file system."""
    return S3Storage() if is_s3(uri) else LocalStorage()


__all__ = [
    "LocalStorage",
    "LockTimeout",
    "S3Storage",
    "Storage",
    "StoredObject",
    "is_s3",
    "join",
    "local_state_path",
    "split_s3",
    "storage_for",
    "table_lock_uri",
]
