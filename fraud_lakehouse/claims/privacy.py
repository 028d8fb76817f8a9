"""Pseudonymisation: card numbers and patient ids become an HMAC-SHA256 keyed hash.

The same value gives the same key on every day and engine (so a customer
joins across partitions), and without the secret it cannot be read back or
guessed by hashing candidate card numbers. The hash is a Spark SQL
expression (HMAC written out with ``sha2``), so no Python runs per row and
classic Spark 3.5 computes the same bytes as Sail.
"""

from __future__ import annotations

import hashlib
import hmac

from pyspark.sql import Column
from pyspark.sql import functions as F

KEY_ENV = "FRAUD_LAKEHOUSE_PSEUDONYM_KEY"
# For laptops and tests only: anyone can read it here. Production sets KEY_ENV.
DEVELOPMENT_KEY = "fraud-lakehouse-DEVELOPMENT-ONLY-pseudonym-key"
SHA256_BLOCK_BYTES = 64


def _padded_key(secret: str) -> bytes:
    key = secret.encode("utf-8")
    if len(key) > SHA256_BLOCK_BYTES:
        key = hashlib.sha256(key).digest()
    return key.ljust(SHA256_BLOCK_BYTES, b"\0")


def hmac_sha256(column: Column, secret: str) -> Column:
    """Hex HMAC-SHA256 of a string column under ``secret`` (RFC 2104); NULL stays NULL."""
    if not secret:
        raise ValueError("the pseudonymisation secret is empty")
    key = _padded_key(secret)
    inner_pad = bytes(b ^ 0x36 for b in key).hex()
    outer_pad = bytes(b ^ 0x5C for b in key).hex()
    inner = F.unhex(F.sha2(F.concat(F.expr(f"X'{inner_pad}'"), column.cast("binary")), 256))
    return F.sha2(F.concat(F.expr(f"X'{outer_pad}'"), inner), 256)


def hmac_sha256_python(value: str, secret: str) -> str:
    """The same hash in Python, for tests and for looking a known card up."""
    return hmac.new(secret.encode("utf-8"), value.encode("utf-8"), hashlib.sha256).hexdigest()


def key_fingerprint(secret: str) -> str:
    """A short, non-reversible id of the key, recorded in metadata so a key change is visible."""
    return hmac_sha256_python("fraud_lakehouse key fingerprint", secret)[:12]
