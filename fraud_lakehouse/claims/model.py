"""The canonical claim model: the input layouts, the raw bronze schema and the silver schema.

Three layouts map into one silver schema (see README, "Claims"):

- ``insurance``: the 13-column insurance claims layout;
- ``sparkov``: card transactions as Sparkov writes them or as the Kaggle
  fraudTrain/fraudTest files have them (customer columns on every row);
- ``bronze``: this project's own bronze transactions (no customer columns).

A card transaction is a claim: the card is the customer, the merchant the
provider, the category the procedure.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache

from pyspark.sql.types import (
    ArrayType,
    DateType,
    DoubleType,
    IntegerType,
    LongType,
    StringType,
    StructField,
    StructType,
    TimestampType,
)

from fraud_lakehouse.partitions import PARTITION_COLUMN

INSURANCE = "insurance"
SPARKOV = "sparkov"
BRONZE = "bronze"
# Rows of bronze/transactions read straight from the lake, not from a file.
SYNTHETIC = "synthetic"

INSURANCE_COLUMNS = (
    "claim_id",
    "patient_id",
    "provider_id",
    "provider_name",
    "procedure_code",
    "diagnosis_code",
    "service_date",
    "submitted_date",
    "charge_amount",
    "paid_amount",
    "patient_state",
    "provider_state",
    "place_of_service",
)
# The insurance columns a file may leave out (its claims then have no value there): silver takes a claim
# without them, where a claim without one of the others is quarantined (missing_provider, missing_amount, ...).
# Many claim systems keep no place of service or paid amount, and JSON exports leave out keys that are null.
INSURANCE_OPTIONAL_COLUMNS = frozenset(
    {
        "provider_name",
        "diagnosis_code",
        "submitted_date",
        "paid_amount",
        "patient_state",
        "provider_state",
        "place_of_service",
    }
)
# Sparkov's transaction columns; the time is either one Kaggle column or
# Sparkov's own trans_date + trans_time pair.
SPARKOV_TRANSACTION_COLUMNS = (
    "trans_num",
    "cc_num",
    "unix_time",
    "category",
    "amt",
    "is_fraud",
    "merchant",
    "merch_lat",
    "merch_long",
)
# The raw column of a file's fraud label (0/1, true/false), in any layout.
LABEL_COLUMN = "is_fraud"
# A card file without labels (a user's own transactions in Kaggle's layout) is read, its claims unlabelled; the
# Unix time repeats the date and time columns, which silver reads instead.
CARD_OPTIONAL_COLUMNS = frozenset({LABEL_COLUMN, "unix_time"})
SPARKOV_CUSTOMER_COLUMNS = (
    "first",
    "last",
    "gender",
    "street",
    "city",
    "state",
    "zip",
    "lat",
    "long",
    "city_pop",
    "job",
    "dob",
)
SPARKOV_OPTIONAL_COLUMNS = ("ssn", "acct_num", "profile")
KAGGLE_TIME_COLUMN = "trans_date_trans_time"
SPARKOV_TIME_COLUMNS = ("trans_date", "trans_time")
# The bronze file column detection_date is kept under this name: the raw
# table's own detection_date is the file's date.
RECORD_DETECTION_DATE = "record_detection_date"

# Other names a file may give a raw column: the insurance layout's optional label may be called ``label``.
COLUMN_ALIASES = {"detection_date": RECORD_DETECTION_DATE, "label": "is_fraud"}

# Every raw value column any layout can fill, in a fixed order. The raw table
# has one fixed schema (all strings) so files of every layout share it.
RAW_VALUE_COLUMNS: tuple[str, ...] = tuple(
    dict.fromkeys(
        (
            *INSURANCE_COLUMNS,
            *SPARKOV_TRANSACTION_COLUMNS,
            KAGGLE_TIME_COLUMN,
            *SPARKOV_TIME_COLUMNS,
            *SPARKOV_CUSTOMER_COLUMNS,
            *SPARKOV_OPTIONAL_COLUMNS,
            RECORD_DETECTION_DATE,
        )
    )
)


@lru_cache(maxsize=4096)
def column_name(name: str) -> str:
    """A file's column name as the layouts spell theirs: ``Claim ID``, ``claim-id``, ``ClaimId``, ``"claim_id"``
    and ``Charge Amount (USD)`` are ``claim_id`` and ``charge_amount`` (words in lower case joined by ``_``, a unit
    in brackets at the end left out)."""
    name = _UNIT.sub("", name.strip().strip('"').strip()) or name
    words = _CAMEL_LOWER_UPPER.sub(r"\1_\2", _CAMEL_ACRONYM.sub(r"\1_\2", name))
    return _NOT_A_WORD.sub("_", words.lower()).strip("_")


_UNIT = re.compile(r"\s*(\([^()]*\)|\[[^\[\]]*\])\s*$")  # Amount (USD), amount [$]
_CAMEL_ACRONYM = re.compile(r"([A-Z]+)([A-Z][a-z])")  # CCNum -> CC_Num
_CAMEL_LOWER_UPPER = re.compile(r"([a-z0-9])([A-Z])")  # claimId -> claim_Id
_NOT_A_WORD = re.compile(r"[^a-z0-9]+")


def raw_target(name: str) -> str | None:
    """The raw column a file's (normalised) column name fills, or None when the column is ignored."""
    target = COLUMN_ALIASES.get(name, name)
    return target if target in RAW_VALUE_COLUMNS else None


# Raw columns that hold personal data in clear text: bronze only.
CARD_COLUMNS = ("cc_num",)
PATIENT_COLUMNS = ("patient_id",)
DROPPED_PERSONAL_COLUMNS = ("ssn", "acct_num", "first", "last", "street", "dob")
# Every column of a bronze table that holds personal data, or may (the text of a record that could not be
# split): never shown outside bronze, in previews and metadata included.
PERSONAL_COLUMNS = (*CARD_COLUMNS, *PATIENT_COLUMNS, *DROPPED_PERSONAL_COLUMNS, "raw_record")
# The number columns of each layout whose values decide a file's decimal mark.
NUMBER_COLUMNS = {
    INSURANCE: ("charge_amount", "paid_amount"),
    SPARKOV: ("amt", "lat", "long", "merch_lat", "merch_long"),
    BRONZE: ("amt", "merch_lat", "merch_long"),
}

RAW_SCHEMA = StructType(
    [
        *(StructField(name, StringType()) for name in RAW_VALUE_COLUMNS),
        StructField("layout", StringType()),
        StructField("source_file", StringType(), nullable=False),
        StructField("row_number", LongType(), nullable=False),
        # A row that could not be split into the header's fields: its text
        # and why, so silver can quarantine it.
        StructField("raw_record", StringType()),
        StructField("row_error", StringType()),
        # The file's decimal mark, "." or "," (decided once per file from its numbers).
        StructField("decimal_mark", StringType()),
        StructField("ingested_at", TimestampType(), nullable=False),
        StructField(PARTITION_COLUMN, DateType(), nullable=False),
    ]
)

REJECTED_FILES_SCHEMA = StructType(
    [
        StructField("source_file", StringType(), nullable=False),
        StructField("reason", StringType(), nullable=False),
        StructField("detail", StringType()),
        StructField("size_bytes", LongType()),
        StructField("rejected_at", TimestampType(), nullable=False),
        StructField(PARTITION_COLUMN, DateType(), nullable=False),
    ]
)

CLAIM_SCHEMA = StructType(
    [
        StructField("claim_id", StringType(), nullable=False),
        StructField("customer_key", StringType()),
        StructField("provider_id", StringType()),
        StructField("provider_name", StringType()),
        StructField("procedure", StringType()),
        StructField("diagnosis", StringType()),
        StructField("service_ts", TimestampType()),
        StructField("service_date", DateType()),
        StructField("submitted_date", DateType()),
        StructField("amount", DoubleType()),
        StructField("paid_amount", DoubleType()),
        StructField("customer_state", StringType()),
        StructField("provider_state", StringType()),
        StructField("customer_lat", DoubleType()),
        StructField("customer_long", DoubleType()),
        StructField("provider_lat", DoubleType()),
        StructField("provider_long", DoubleType()),
        StructField("city_pop", LongType()),
        StructField("channel", StringType()),
        StructField("is_fraud", IntegerType()),
        StructField("source", StringType(), nullable=False),
        StructField("source_file", StringType()),
        StructField("row_number", LongType()),
        StructField("ingested_at", TimestampType()),
        StructField(PARTITION_COLUMN, DateType(), nullable=False),
    ]
)

QUARANTINE_SCHEMA = StructType(
    [
        StructField("claim_id", StringType()),
        StructField("reason", StringType(), nullable=False),
        StructField("reasons", ArrayType(StringType()), nullable=False),
        StructField("source", StringType(), nullable=False),
        StructField("source_file", StringType()),
        StructField("row_number", LongType()),
        # JSON of the row's raw values, card and patient ids pseudonymised.
        StructField("raw_values", StringType()),
        StructField("ingested_at", TimestampType()),
        StructField(PARTITION_COLUMN, DateType(), nullable=False),
    ]
)


@dataclass(frozen=True)
class Layout:
    name: str
    required: frozenset[str]
    # one of these groups must be present in full (the time columns)
    alternatives: tuple[frozenset[str], ...] = ()
    # present in the header means not this layout
    excluded: frozenset[str] = frozenset()
    # read when the header has them, else left empty
    optional: frozenset[str] = frozenset()

    def missing(self, header: set[str]) -> list[str]:
        missing = sorted(self.required - header)
        if self.alternatives and not any(group <= header for group in self.alternatives):
            missing.append(" or ".join("+".join(sorted(group)) for group in self.alternatives))
        return missing

    def matches(self, header: set[str]) -> bool:
        return not self.missing(header) and not (self.excluded & header)

    def absent(self, filled: set[str]) -> list[str]:
        """The optional columns a file leaves empty, given the raw columns its columns fill."""
        return sorted(self.optional - filled)


LAYOUTS = (
    Layout(
        INSURANCE,
        frozenset(INSURANCE_COLUMNS) - INSURANCE_OPTIONAL_COLUMNS,
        optional=INSURANCE_OPTIONAL_COLUMNS,
    ),
    Layout(
        SPARKOV,
        frozenset((*SPARKOV_TRANSACTION_COLUMNS, "state", "lat", "long", "city_pop")) - CARD_OPTIONAL_COLUMNS,
        optional=CARD_OPTIONAL_COLUMNS,
        alternatives=(frozenset({KAGGLE_TIME_COLUMN}), frozenset(SPARKOV_TIME_COLUMNS)),
    ),
    Layout(
        BRONZE,
        frozenset((*SPARKOV_TRANSACTION_COLUMNS, *SPARKOV_TIME_COLUMNS)),
        excluded=frozenset({"lat", "long"}),
    ),
)


def detect_layout(header: list[str]) -> Layout | None:
    """The layout whose columns the header has, or None."""
    names = {column_name(name) for name in header}
    for layout in LAYOUTS:
        if layout.matches(names):
            return layout
    return None


def describe_mismatch(header: list[str]) -> str:
    """Why a header matches no layout: what each layout misses."""
    names = {column_name(name) for name in header}
    parts = []
    for layout in LAYOUTS:
        missing = layout.missing(names)
        clash = sorted(layout.excluded & names)
        if missing:
            parts.append(f"{layout.name}: missing {', '.join(missing[:6])}{' ...' if len(missing) > 6 else ''}")
        elif clash:
            parts.append(f"{layout.name}: has {', '.join(clash)}")
    return "; ".join(parts)
