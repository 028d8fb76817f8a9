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
# A key shorter than this (blanks not counted) is refused: it could be guessed.
MIN_KEY_CHARS = 16


class PseudonymKeyError(ValueError):
    pass


def check_key(secret: str) -> None:
    """Refuse a key that is empty, blank or too short, naming the variable (never the value)."""
    if not secret or not secret.strip():
        raise PseudonymKeyError(
            f"{KEY_ENV} is set but empty: set it to a secret of at least {MIN_KEY_CHARS} characters"
        )
    if len(secret.strip()) < MIN_KEY_CHARS:
        raise PseudonymKeyError(
            f"{KEY_ENV} is too short ({len(secret.strip())} characters): use a secret of at least {MIN_KEY_CHARS}"
        )


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


# -- text that may hold identifiers ------------------------------------------------------------------------

# Identifier shapes masked wherever free text leaves bronze: SSNs with or without separators, card numbers
# with any separators, Medicare beneficiary identifiers (MBI: 11 characters, no S, L, O, I, B or Z) and
# e-mail addresses. Java (classic Spark) and Rust (Sail) regex read them alike.
SSN_PATTERN = r"\b[0-9]{3}[ .-]?[0-9]{2}[ .-]?[0-9]{4}\b"
CARD_PATTERN = r"\b[0-9](?:[ .-]?[0-9]){11,18}\b"
_MBI_LETTER = "[AC-HJKMNP-RT-Yac-hjkmnp-rt-y]"
_MBI_ALNUM = "[AC-HJKMNP-RT-Yac-hjkmnp-rt-y0-9]"
MBI_PATTERN = (
    rf"\b[1-9]{_MBI_LETTER}{_MBI_ALNUM}[0-9][ -]?{_MBI_LETTER}{_MBI_ALNUM}[0-9][ -]?{_MBI_LETTER}{{2}}[0-9]{{2}}\b"
)
EMAIL_PATTERN = r"[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,}"
IDENTIFIER_PATTERNS = (
    (CARD_PATTERN, "[card]"),
    (SSN_PATTERN, "[ssn]"),
    (MBI_PATTERN, "[mbi]"),
    (EMAIL_PATTERN, "[email]"),
)
# Shown of a record's shape at most.
SHAPE_MAX_CHARS = 2000


def redact_identifiers_python(text: str) -> str:
    """``text`` with every identifier shape masked (see IDENTIFIER_PATTERNS)."""
    import re

    for pattern, mask in IDENTIFIER_PATTERNS:
        text = re.sub(pattern, mask, text)
    return text


# What every identifier shape starts with: nine digits at a word's start, each after at most one separator (an
# SSN, the start of a card number), an MBI's digit-letter-any-digit start, or an @. Text without any is left
# alone after this one cheap test (the four patterns cost four times as much). A claim id such as CLM00420000000
# passes it no more: its digits do not start a word.
MAY_HOLD_IDENTIFIER = r"\b[0-9]([ .-]?[0-9]){8}|\b[1-9][A-Za-z][A-Za-z0-9][0-9]|@"


def redact_identifiers(column: Column) -> Column:
    """The same masking as a Spark expression."""
    masked = column
    for pattern, mask in IDENTIFIER_PATTERNS:
        masked = F.regexp_replace(masked, pattern, mask)
    return F.when(column.rlike(MAY_HOLD_IDENTIFIER), masked).otherwise(column)


def record_shape(text: str) -> str:
    """The structure of a text without its content: every letter becomes ``a``, every digit ``9``, the rest
    (delimiters, quotes, spaces) stays. Shows why a record broke (an open quote, a missing field) and nothing a
    person could be found by."""
    import re

    return re.sub(r"[0-9]", "9", re.sub(r"[^\W\d_]", "a", text[:SHAPE_MAX_CHARS]))


def record_shape_column(column: Column) -> Column:
    """``record_shape`` as a Spark expression."""
    shortened = F.substring(column, 1, SHAPE_MAX_CHARS)
    return F.regexp_replace(F.regexp_replace(shortened, r"\p{L}", "a"), r"\p{N}", "9")
