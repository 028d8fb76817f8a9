"""Silver claims: typed, validated and de-duplicated, with every rejected row kept in quarantine.

Pure DataFrame -> DataFrame functions (Sail and classic Spark 3.5 alike):

- ``candidates_from_raw``: bronze claims_raw rows (strings, any layout) typed
  into the canonical claim model, with the parse problems of each row;
- ``candidates_from_transactions``: bronze/transactions joined to their
  customers, already typed;
- ``validate``: the row checks, then the claim-id duplicate check, giving a
  frame with a ``reasons`` array (empty = valid);
- ``silver_claims`` / ``quarantined_claims``: the two sides of it.

Every input row ends in exactly one of the two. Card numbers and patient ids
leave as keyed hashes; SSN and the other identity columns are dropped, also
from the raw values kept in quarantine.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass
from functools import reduce

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F
from pyspark.sql.types import StringType, StructField, StructType

from fraud_lakehouse.claims.model import (
    BRONZE,
    CARD_COLUMNS,
    CLAIM_SCHEMA,
    DROPPED_PERSONAL_COLUMNS,
    INSURANCE,
    KAGGLE_TIME_COLUMN,
    NUMBER_COLUMNS,
    PATIENT_COLUMNS,
    QUARANTINE_SCHEMA,
    RAW_VALUE_COLUMNS,
    SPARKOV,
    SYNTHETIC,
)
from fraud_lakehouse.claims.privacy import hmac_sha256, record_shape_column, redact_identifiers
from fraud_lakehouse.frames import COLLECT_MAX_ROWS, collected, with_lookup
from fraud_lakehouse.partitions import PARTITION_COLUMN

# USPS codes: the states, DC and the inhabited territories.
US_STATE_CODES = (
    "AL AK AZ AR CA CO CT DE FL GA HI ID IL IN IA KS KY LA ME MD MA MI MN MS MO MT NE NV NH NJ NM NY NC ND OH OK "
    "OR PA RI SC SD TN TX UT VT VA WA WV WI WY DC PR GU VI AS MP"
).split()
# ISO dates, the month and day with or without their leading zero (2025-1-6: the engines' casts read both)
DATE_PATTERN = r"^\d{4}-\d{1,2}-\d{1,2}$"
TIMESTAMP_PATTERN = r"^\d{4}-\d{1,2}-\d{1,2}[ T]\d{1,2}:\d{2}(:\d{2}(\.\d+)?)?$"
# A time's zone at its end (Z, +02:00, -0500): dropped, the time read as the local time it was written in, since
# the rules judge the hour of day where the claim happened (night hours), as for times written without one.
TIME_ZONE_SUFFIX = r"(Z|[+-][0-9]{2}:?[0-9]{2})$"
NUMBER_PATTERN = r"^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$"
# A number with no exponent and no separators: 12, 12.5, .5, 12.
PLAIN_NUMBER = r"^[+-]?([0-9]+\.?[0-9]*|\.[0-9]+)$"
EARLIEST_DATE = dt.date(1900, 1, 1)
COORDINATE_COLUMNS = ("customer_lat", "customer_long", "provider_lat", "provider_long")
# Which source wins when two rows share a claim id: files (by layout), then
# the synthetic feed.
SOURCE_ORDER = {INSURANCE: 0, SPARKOV: 1, BRONZE: 2, SYNTHETIC: 3}
DEFAULT_AMOUNT_CAP = 1_000_000.0
# The bronze transaction's time text, kept beside the parsed timestamp for quarantine's raw values.
RAW_TRANS_TIME = "__raw_trans_time"

# Reason codes (docs/guarantees.md, "Quarantined rows").
MALFORMED_ROW = "malformed_row"
DUPLICATE_CLAIM_ID = "duplicate_claim_id"
# Up to this many claim ids repeated in a run are looked up by literal values (see ``validate``).
REPEATED_IDS_AS_LITERALS_MAX = 20_000


@dataclass(frozen=True)
class ValidationRules:
    amount_cap: float = DEFAULT_AMOUNT_CAP
    # the day the run checks "not in the future" against (UTC)
    today: dt.date = dt.date.max


# Text that exports write for a missing value (SQL clients' NULL, MySQL's \N, R's and pandas' NA, NaN, None; pandas
# reads the same as missing): missing, as a blank is, not a bad value. In a number, date, time or label column it is
# tested only on the values that did not read (CASE branches), so a day without them pays nothing. MySQL writes a
# zero date for a missing one.
NULL_MARKERS = ("NULL", "null", "Null", "\\N", "NA", "N/A", "n/a", "#N/A", "<NA>", "NaN", "nan", "None", "none",
                "0000-00-00", "0000-00-00 00:00:00")  # fmt: skip
# Blank space around a value, trimmed: spaces, tabs, and the no-break spaces that copies from web pages and
# spreadsheets carry (a provider "PR1\u00a0" is PR1, and a state " CA\u00a0" CA).
BLANK_CHARACTERS = " \t\u00a0\u202f"


def _trimmed(name: str) -> Column:
    """A raw string value without the blank space around it (``BLANK_CHARACTERS``)."""
    return F.expr(f"trim(BOTH '{BLANK_CHARACTERS}' FROM `{name}`)")


# The raw columns typing reads, each trimmed once, into a column of its own (``_with_trimmed``): trimming tabs and
# no-break spaces in every expression that reads a value made typing measurably slower (docs/performance.md).
TRIMMED = "__trimmed_"
TRIMMED_COLUMNS = (
    "claim_id", "trans_num", "patient_id", "cc_num", "provider_id", "merchant", "provider_name", "procedure_code",
    "category", "diagnosis_code", "trans_date_trans_time", "trans_date", "trans_time", "service_date",
    "submitted_date", "charge_amount", "amt", "paid_amount", "patient_state", "state", "provider_state", "lat",
    "long", "merch_lat", "merch_long", "city_pop", "is_fraud", "place_of_service",
)  # fmt: skip


def _with_trimmed(raw: DataFrame) -> DataFrame:
    return raw.select("*", *[_trimmed(name).alias(TRIMMED + name) for name in TRIMMED_COLUMNS])


def _clean(name: str) -> Column:
    """A raw string value trimmed (``_with_trimmed``), NULL when blank."""
    value = F.col(TRIMMED + name)
    return F.when(value != "", value)


def _key(value: Column) -> Column:
    """A cleaned identifier or code (claim, customer, provider, procedure, state), NULL for a missing-value marker:
    an id written as NULL is missing, not one patient called NULL shared by every such row. Applied to the few key
    columns only, after a layout's column is chosen."""
    return F.when(~value.isin(*NULL_MARKERS), value)


def _read(frame: DataFrame, target: str, source: Column, readings: list[tuple[str, str]]) -> DataFrame:
    """``target`` = ``source`` read by the first of ``readings`` (pattern, SQL of the value read from ``__value``)
    whose pattern it matches, else NULL. The engines evaluate a CASE branch on the rows no earlier branch took,
    and compute an expression used twice for every row, ahead of the CASE: each reading is written once, so one
    for rare text costs the usual rows nothing."""
    value = F.col("__value")
    pattern, sql = readings[0]
    reading = F.when(value.rlike(pattern), F.expr(sql))
    for pattern, sql in readings[1:]:
        reading = reading.when(value.rlike(pattern), F.expr(sql))
    return frame.withColumn("__value", source).withColumn(target, reading).drop("__value")


def _parsed(frame: DataFrame, target: str, source: Column, pattern: str, sql_type: str) -> DataFrame:
    """``target`` = ``source`` parsed as ``sql_type`` when it matches ``pattern`` (else NULL)."""
    return _read(frame, target, source, [(pattern, f"try_cast(__value AS {sql_type})")])


# Text that is a time with a zone at its end.
ZONED_TIMESTAMP_PATTERN = TIMESTAMP_PATTERN.removesuffix("$") + TIME_ZONE_SUFFIX
# The SQL of the local time in ``__value`` (its zone dropped).
LOCAL_TIME_SQL = f"try_cast(regexp_replace(__value, '{TIME_ZONE_SUFFIX}', '') AS TIMESTAMP)"

# A 12-hour time (2:30 PM, 12:05:00 am, 11:59 p.m.), as US exports write it: read as the 24-hour time it names. The
# patterns have no backslash, so they sit in SQL text as they are.
TWELVE_HOUR_SUFFIX = "[ ]*[AaPp][.]?[Mm][.]?$"
TWELVE_HOUR_TIMESTAMP_PATTERN = TIMESTAMP_PATTERN.removesuffix("$") + TWELVE_HOUR_SUFFIX


def _twelve_hour_as_24_sql(value: str) -> str:
    """SQL: the timestamp text ``value`` (``TWELVE_HOUR_TIMESTAMP_PATTERN``) with its time on the 24-hour clock; an
    hour outside 1-12 keeps a ``#`` mark, so it never parses. A chain of replacements that each read their input
    once: the hour is marked (``#2:30P``), then each hour rewritten."""
    sql = f"regexp_replace({value}, '([ T])([0-9]{{1,2}}:[0-9:.]+)[ ]*([AaPp])[.]?[Mm][.]?$', '$1#$2$3')"
    for hour in range(1, 12):
        sql = f"regexp_replace({sql}, '#0?{hour}(:[0-9:.]+)[Pp]$', '{hour + 12}$1')"
    sql = f"regexp_replace({sql}, '#12(:[0-9:.]+)[Pp]$', '12$1')"
    sql = f"regexp_replace({sql}, '#12(:[0-9:.]+)[Aa]$', '00$1')"
    return f"regexp_replace({sql}, '#(0?[1-9]|1[01])(:[0-9:.]+)[Aa]$', '$1$2')"


# The SQL of the 24-hour time in ``__value`` (a 12-hour time).
TWELVE_HOUR_TIME_SQL = f"try_cast({_twelve_hour_as_24_sql('__value')} AS TIMESTAMP)"

# A two-digit year's century, as Excel reads them: 00-29 are 2000-2029, 30-99 1930-1999.
TWO_DIGIT_YEARS = {"[0-2]": "20", "[3-9]": "19"}

# A date with its month named, as reports and older systems write it (05-Jan-2025, 5 January 2025, Jan 5, 2025,
# January 5th, 2025, 05JAN2025; Excel's d-mmm-yy, 06-Jan-25, with a two-digit year read as Excel reads it), in
# English or, day first, in French, German, Spanish, Italian, Portuguese or Dutch (13 janv. 2025, 1er mars 2025,
# 13. Januar 2025, 13 de enero de 2025, 13-ene-25, 13 gennaio 2025, 5 de março de 2025, 13 mrt 2025), maybe with a
# time after it: no order to decide, the month is named. Accented letters are spelled in both cases: the engines'
# regexes fold case alike for ASCII only.
MONTH_NAMES = (
    "jan(?:uary|v(?:ier)?|uar|eiro|uari)?|ene(?:ro)?|gen(?:naio)?",
    "feb(?:ruary|ruar|rero|braio|ruari)?|f[eéÉ]v(?:r(?:ier)?|ereiro)?",
    "mar(?:ch|s|zo|[çÇ]o)?|m[aäÄ]rz|mrz|maart|mrt",
    "apr(?:il|ile)?|avr(?:il)?|abr(?:il)?",
    "may(?:o)?|mai(?:o)?|mag(?:gio)?|mei",
    "jun(?:e|i|io|ho)?|juin|giu(?:gno)?",
    "jul(?:y|i|io|ho)?|juil(?:let)?|lug(?:lio)?",
    "aug(?:ust|ustus)?|ao[uûÛ]t|ago(?:sto)?",
    "sep(?:t(?:ember|embre|iembre)?)?|set(?:embro|tembre)?",
    "oct(?:ober|obre|ubre)?|okt(?:ober)?|ott(?:obre)?|out(?:ubro)?",
    "nov(?:ember|embre|iembre|embro)?",
    "dec(?:ember)?|d[eéÉ]c(?:embre)?|dez(?:ember|embro)?|dic(?:iembre|embre)?",
)
_ANY_MONTH = "(?:" + "|".join(MONTH_NAMES) + ")[.]?"
# A day may be written as an ordinal: 1st, 2nd, 3rd, 4th (English), 1er (French). Both cases spelled out: the
# rewrites below read it without the case-insensitive flag.
DAY_ORDINAL = "(?:[sS][tT]|[nN][dD]|[rR][dD]|[tT][hH]|[eE][rR])?"
_DAY_MONTH_YEAR = f"[0-9]{{1,2}}{DAY_ORDINAL}[.]?[ -]?(?:de )?{_ANY_MONTH}[ -]?(?:de )?([0-9]{{4}}|[0-9]{{2}})"
_MONTH_DAY_YEAR = f"{_ANY_MONTH} [0-9]{{1,2}}{DAY_ORDINAL},? [0-9]{{4}}"
_TIME_AFTER = "([ T][0-9]{1,2}:[0-9]{2}(:[0-9]{2}([.][0-9]+)?)?)?"
MONTH_NAME_DATE_PATTERN = f"(?i)^({_DAY_MONTH_YEAR}|{_MONTH_DAY_YEAR}){_TIME_AFTER}$"


def _month_name_as_iso_sql(value: str) -> str:
    """SQL: a ``MONTH_NAME_DATE_PATTERN`` text as ISO text (any time after it kept). Each month name becomes its
    number between marks (``05-#01#-2025``), then the parts are put in ISO order: a chain of replacements that
    each read their input once. No backslash, so the patterns sit in SQL text as they are."""
    sql = value
    for number, name in enumerate(MONTH_NAMES, start=1):
        sql = f"regexp_replace({sql}, '(?i)(^|[^a-z])(?:{name})[.]?([^a-z]|$)', '$1#{number:02d}#$2')"
    day_month = f"^([0-9]{{1,2}}){DAY_ORDINAL}[.]?[ -]?(?:[dD][eE] )?#([0-9]{{2}})#[ -]?(?:[dD][eE] )?"
    sql = f"regexp_replace({sql}, '{day_month}([0-9]{{4}})', '$3-$2-$1')"
    for first_digit, century in TWO_DIGIT_YEARS.items():
        sql = f"regexp_replace({sql}, '{day_month}({first_digit}[0-9])([^0-9]|$)', '{century}$3-$2-$1$4')"
    sql = f"regexp_replace({sql}, '^#([0-9]{{2}})# ([0-9]{{1,2}}){DAY_ORDINAL},? ([0-9]{{4}})', '$3-$1-$2')"
    return f"regexp_replace({sql}, '^([0-9]{{4}}-[0-9]{{2}})-([0-9])([^0-9]|$)', '$1-0$2$3')"


# The SQL of the timestamp in ``__value`` (a date with its month named, maybe a time after it).
MONTH_NAME_TIME_SQL = f"try_cast({_month_name_as_iso_sql('__value')} AS TIMESTAMP)"


# A date with no separator (20250106, as SAS and mainframe exports write it), maybe with a time after it.
COMPACT_DATE_PATTERN = "^[0-9]{8}" + _TIME_AFTER + "$"
COMPACT_DATE_TIME_SQL = "try_cast(regexp_replace(__value, '^([0-9]{4})([0-9]{2})([0-9]{2})', '$1-$2-$3') AS TIMESTAMP)"

# A Unix time (what JSON exports of JavaScript and database tools write for a date): 10 digits of seconds
# (2001-09-09 to 2286) or 13 of milliseconds, read in UTC (a time of day below a second is dropped).
UNIX_TIME_PATTERN = "^[0-9]{10}([0-9]{3})?$"
UNIX_TIME_SQL = "timestamp_seconds(CAST(substring(__value, 1, 10) AS BIGINT))"
# An Excel serial date (a CSV saved from a sheet whose date column was formatted as a number): days since
# 1899-12-30, a fraction for the time of day; five digits, 1927-05-18 to 2173. 25569 is 1970-01-01.
EXCEL_SERIAL_PATTERN = "^[1-9][0-9]{4}([.][0-9]+)?$"
EXCEL_SERIAL_SQL = "timestamp_seconds(CAST(round((CAST(__value AS DOUBLE) - 25569) * 86400) AS BIGINT))"

# How a time is read, in order (pattern, SQL of the timestamp in ``__value``): as written, with a zone (read as the
# local time it was written in), on the 12-hour clock, after a date with its month named, after a date with no
# separator, as a Unix time, as an Excel serial date.
TIME_READINGS = [
    (TIMESTAMP_PATTERN, "try_cast(__value AS TIMESTAMP)"),
    (ZONED_TIMESTAMP_PATTERN, LOCAL_TIME_SQL),
    (TWELVE_HOUR_TIMESTAMP_PATTERN, TWELVE_HOUR_TIME_SQL),
    (MONTH_NAME_DATE_PATTERN, MONTH_NAME_TIME_SQL),
    (COMPACT_DATE_PATTERN, COMPACT_DATE_TIME_SQL),
    (UNIX_TIME_PATTERN, UNIX_TIME_SQL),
    (EXCEL_SERIAL_PATTERN, EXCEL_SERIAL_SQL),
]


def _parsed_time(frame: DataFrame, target: str, source: Column) -> DataFrame:
    """``target`` = the timestamp in ``source``: a time, a time with a zone read as the local time it was written
    in, a 12-hour time, or a time after a date with its month named (``TIME_READINGS``)."""
    return _read(frame, target, source, TIME_READINGS)


def _parsed_date(frame: DataFrame, target: str, source: Column) -> DataFrame:
    """``target`` = the date in ``source``: a date, or the date of a time any of ``TIME_READINGS`` reads (a
    timestamp column of a Parquet file written from pandas, a submission time), taken as written (timestamps here
    carry no zone); or a date with its month named (5 Jan 2025)."""
    dates = [(pattern, f"to_date({sql})") for pattern, sql in TIME_READINGS]
    return _read(frame, target, source, [(DATE_PATTERN, "try_cast(__value AS DATE)"), *dates])


# A number as a file with each decimal mark writes it: optional thousands groups, then decimals. A value that
# does not fit its file's format is a bad number, never read another way.
# Thousands may also be grouped with a space (a no-break one too), as French and Nordic exports write them. Spelled
# out, not as \s: Java's \s is ASCII blank space only, Rust's any Unicode one.
SPACES = "[ \u00a0\u202f]"
BLANK = f"[{BLANK_CHARACTERS}]"
# Indian grouping (lakh, crore): 1,23,45,678.50, commas after the last three digits every two.
LAKH_GROUPS = "[0-9]{1,2}(,[0-9]{2})+,[0-9]{3}"
NUMBER_FORMATS = {
    ".": rf"^[+-]?([0-9]{{1,3}}((,|{SPACES})[0-9]{{3}})+|{LAKH_GROUPS}|[0-9]*)(\.[0-9]*)?([eE][+-]?[0-9]+)?$",
    ",": rf"^[+-]?([0-9]{{1,3}}((\.|{SPACES})[0-9]{{3}})+|[0-9]*)(,[0-9]*)?$",
}
# Money is kept in whole cents: amounts are rounded half up to 2 decimals (so the smallest amount is 0.01).
MONEY_TYPE = "DECIMAL(20, 2)"
# Largest amount cap the config accepts: amounts stay far inside a double's exact range of cents.
MAX_AMOUNT_CAP = 1_000_000_000.0


# -- the decimal mark of a file -----------------------------------------------------------------------------

# What may stand around a number: a sign, a currency symbol or the code of a common currency before or after it
# (USD 120.50, 120,50 €), and the brackets of an accounting negative ((120.50)).
CURRENCY = "([$€£¥₹]|Rs[.]?|USD|EUR|GBP|CAD|AUD|NZD|JPY|CHF|SEK|NOK|DKK|PLN|CZK|INR|CNY|MXN|BRL|ZAR)"
_SIGN = rf"^{BLANK}*\(?[+-]?{BLANK}*{CURRENCY}?{BLANK}*"
_END = rf"([eE][+-]?[0-9]+)?{BLANK}*{CURRENCY}?\)?{BLANK}*$"


def _vote_pattern(point: str, group: str) -> str:
    """Values that can only be read with ``point`` as the decimal mark (``group`` separating thousands)."""
    p, g = re.escape(point), re.escape(group)
    return (
        _SIGN
        + "("
        + rf"[0-9]*{p}[0-9]{{1,2}}|[0-9]*{p}[0-9]{{4,}}|[0-9]{{4,}}{p}[0-9]{{3}}|0{p}[0-9]{{3}}"  # decimals
        + rf"|[0-9]{{1,3}}(({g}|{SPACES})[0-9]{{3}})+{p}[0-9]*"  # 1,234.56 / 1.234,56 / 1 234,56
        + rf"|[0-9]{{1,3}}({g}[0-9]{{3}}){{2,}}"  # 1,234,567: only thousands groups
        + (rf"|{LAKH_GROUPS}({p}[0-9]*)?" if group == "," else "")  # 12,34,567.50: only with a decimal point
        + ")"
        + _END
    )


# Values that decide a file's decimal mark, and values that read as thousands with either mark (1,234 / 1.234).
DOT_VOTE = _vote_pattern(".", ",")
COMMA_VOTE = _vote_pattern(",", ".")
AMBIGUOUS_NUMBER = _SIGN + r"[1-9][0-9]{0,2}[.,][0-9]{3}" + _END
# Share of a file's deciding values that may use the other mark: those values are bad numbers; more, and the
# file mixes two formats (its rows are quarantined).
MIXED_NUMBER_TOLERANCE = 0.01
AMBIGUOUS_NUMBER_FORMAT = "ambiguous_number_format"
MIXED_NUMBER_FORMAT = "mixed_number_format"
VOTING_COLUMNS = tuple(dict.fromkeys(name for columns in NUMBER_COLUMNS.values() for name in columns))
# Above this many landed files a day's votes are counted from rows sorted by file (see file_formats).
MANY_FILES = 16


def _count(pattern: str) -> Column:
    # the patterns allow blank space around a number: no trim needed
    hits = [F.coalesce(F.col(name).rlike(pattern).cast("int"), F.lit(0)) for name in VOTING_COLUMNS]
    return F.sum(reduce(lambda left, right: left + right, hits))


# -- the date order of a file ------------------------------------------------------------------------------

# A date with its month and day as numbers in either order, separated by slashes, dots or dashes (01/06/2025,
# 06.01.2025, 01-06-2025), then the year, then maybe a time. Called a slash date below, whatever its separator. Its
# year may have two digits after slashes or dots (1/6/25: Excel's US default); after dashes (25-01-06) the year
# could as well come first, so such a date stays unread.
SLASH_DATE = r"^([0-9]{1,2})[/.-]([0-9]{1,2})[/.-]([0-9]{4}|[0-9]{2})([ T].*)?$"
# A slash date with its year written in full (a two-digit year is marked ``#`` and given its century first).
MONTH_DAY_YEAR = r"^([0-9]{1,2})[/.-]([0-9]{1,2})[/.-]#?([0-9]{4})"
# Where a date column's value may be a date that needs its file's order: a slash date, or a year-first date with
# slashes or dots (2025/1/6, 2025.01.06). Most files have none.
SEPARATED_DATE_START = rf"^{BLANK}*([0-9]{{1,2}}[/.-][0-9]{{1,2}}[/.-]|[0-9]{{4}}[/.][0-9])"
MONTH_FIRST, DAY_FIRST, YEAR_FIRST = "MDY", "DMY", "YMD"
AMBIGUOUS_DATE_FORMAT = "ambiguous_date_format"
MIXED_DATE_FORMAT = "mixed_date_format"
# The raw columns that hold a date: the insurance layout's, Sparkov's date and Kaggle's time (as Excel saves a
# Kaggle file: 1/13/2019 0:00).
DATE_COLUMNS = ("service_date", "submitted_date", "trans_date", KAGGLE_TIME_COLUMN)


# A slash date whose two-digit year reads: slashes or dots around the month and day, not dashes (see SLASH_DATE).
TWO_DIGIT_YEAR_SLASH_DATE = r"^[0-9]{1,2}[/.][0-9]{1,2}[/.][0-9]{2}([ T].*)?$"


def _slash_part(name: str, part: str) -> str:
    return f"__slash_{part}_{name}"


def _slash_parts(rows: DataFrame) -> DataFrame:
    """``source_file`` and the day of ``rows`` with each date column's slash date split into its parts, as text
    ("" when the value is no slash date): its first and second numbers, its year, and whether a two-digit year
    reads. Each part is a column of its own, computed once a row: the votes read every part several times, and
    an expression that repeated the regex would evaluate it again each time (docs/performance.md)."""
    parts = []
    for name in DATE_COLUMNS:
        trimmed = _trimmed(name)
        fixed = _is_fixed_width_slash_date(trimmed)
        by_position = dict(zip(("first", "second", "year"), _fixed_width_parts(trimmed), strict=True))
        parts += [
            F.when(fixed, by_position[part]).otherwise(F.regexp_extract(trimmed, SLASH_DATE, group))
            .alias(_slash_part(name, part))
            for group, part in enumerate(by_position, start=1)
        ]  # fmt: skip
        parts.append((~fixed & trimmed.rlike(TWO_DIGIT_YEAR_SLASH_DATE)).alias(_slash_part(name, "short_year_reads")))
    return rows.select("source_file", PARTITION_COLUMN, *parts)


def _slash_number(name: str, part: str) -> Column:
    """A month-and-day number of a date column's slash date (``_slash_parts``); NULL when it is no slash date."""
    text = F.col(_slash_part(name, part))
    return F.when(text != "", text.cast("int"))


def _is_split_slash_date(name: str) -> Column:
    # the slash date pattern's first group is never empty when it matches
    return F.col(_slash_part(name, "first")) != ""


def _date_votes(first_above_12: bool) -> Column:
    """How many slash dates of a row can only be read one way (over ``_slash_parts``): the first number above 12
    is a day (DMY), the second above 12 a day (MDY)."""
    hits = []
    for name in DATE_COLUMNS:
        first, second = _slash_number(name, "first"), _slash_number(name, "second")
        deciding = (first > 12) & (second <= 12) if first_above_12 else (second > 12) & (first <= 12)
        hits.append(F.coalesce(deciding.cast("int"), F.lit(0)))
    return F.sum(reduce(lambda left, right: left + right, hits))


def _is_slash_date(name: str) -> Column:
    # most files have none: the full pattern is tested on the values that start like one only (a CASE, not an AND)
    return F.coalesce(F.when(_has_separated_date(F.col(name)), _trimmed(name).rlike(SLASH_DATE)), F.lit(False))


def _any_separated_date() -> Column:
    """Whether any date column of a raw row starts like a date that needs its file's order."""
    return reduce(lambda left, right: left | right, [_has_separated_date(F.col(name)) for name in DATE_COLUMNS])


def _has_separated_date(value: Column) -> Column:
    """Whether a date column's value starts like a date that needs its file's order (``SEPARATED_DATE_START``)."""
    return value.rlike(SEPARATED_DATE_START)


def _day_number(year: Column, month: Column, day: Column) -> Column:
    """``yyyymmdd`` as a number, when year, month and day name a real date (NULL otherwise)."""
    leap = ((year % 4 == 0) & (year % 100 != 0)) | (year % 400 == 0)
    days_in_month = (
        F.when(month == 2, F.when(leap, F.lit(29)).otherwise(F.lit(28)))
        .when(month.isin(4, 6, 9, 11), F.lit(30))
        .otherwise(F.lit(31))
    )
    real = month.between(1, 12) & (day >= 1) & (day <= days_in_month)
    return F.when(real, year * 10000 + month * 100 + day)


def _slash_date_number(name: str, order: str) -> Column:
    """A date column's month-and-day date read in ``order`` (``MONTH_FIRST`` or ``DAY_FIRST``), as ``_day_number``
    (over ``_slash_parts``): the date that ``_as_iso`` writes and a date cast reads, from its numbers. A two-digit
    year reads after slashes or dots only, with its century (``TWO_DIGIT_YEARS``). Arithmetic instead of
    rewriting the text in both orders and casting it, which was three quarters of the date-order job."""
    first, second = _slash_number(name, "first"), _slash_number(name, "second")
    month, day = (first, second) if order == MONTH_FIRST else (second, first)
    year_text = F.col(_slash_part(name, "year"))
    full_year = F.when(F.length(year_text) == 4, year_text.cast("int"))
    for decade, century in TWO_DIGIT_YEARS.items():
        short_year = F.col(_slash_part(name, "short_year_reads")) & year_text.rlike(f"^{decade}[0-9]$")
        full_year = full_year.when(short_year, F.concat(F.lit(century), year_text).cast("int"))
    return _day_number(full_year, month, day)


def _latest_date(order: str) -> Column:
    """The latest service or submitted date of a file's rows read in ``order``, as ``_day_number`` (NULL when
    none reads), over ``_slash_parts``."""
    return F.greatest(*[F.max(_slash_date_number(name, order)) for name in DATE_COLUMNS])  # of those that read


def _date_order(dmy: Column, mdy: Column, slashed: Column, latest_mdy: Column, latest_dmy: Column) -> Column:
    """A file's date order from its votes; with none, the one reading that puts no claim's service or submission
    after the file's own date (a claim is served and submitted before its file lands), else no order: the file's
    slash dates are ambiguous. A file whose slashes are in no month-and-day date has year-first dates (YMD) or none
    that read."""
    decided = dmy + mdy
    file_date = F.col("__file_date")
    return (
        F.when(slashed == 0, F.lit(YEAR_FIRST))
        .when((decided > 0) & (F.least(dmy, mdy) <= decided * MIXED_NUMBER_TOLERANCE), F.when(
            mdy >= dmy, F.lit(MONTH_FIRST)).otherwise(F.lit(DAY_FIRST)))
        .when(decided > 0, F.lit(MIXED_DATE_FORMAT))
        .when((latest_mdy <= file_date) & (latest_dmy > file_date), F.lit(MONTH_FIRST))
        .when((latest_dmy <= file_date) & (latest_mdy > file_date), F.lit(DAY_FIRST))
        .otherwise(F.lit(AMBIGUOUS_DATE_FORMAT))
    )  # fmt: skip


def _date_orders_by_file(formats: DataFrame) -> dict[str, str]:
    """Each file with slashes in its dates and their order (``file_formats``): usually none. Known here, the typing
    names the files in its expressions instead of reading the order column on every row (a plan that read it
    took twice as long to plan)."""
    rows = formats.where(F.col("__file_date_order").isNotNull()).select("source_file", "__file_date_order").collect()
    return {row["source_file"]: row["__file_date_order"] for row in rows}


def _files_case(orders: dict[str, str], values: dict[str, str | Column], default: Column) -> Column:
    """For a row whose file's order (or reason) is a key of ``values``, its value (text or a column); else
    ``default``."""
    case = default
    for order, value in values.items():
        files = sorted(name for name, file_order in orders.items() if file_order == order)
        if files:
            this = F.lit(value) if isinstance(value, str) else value
            case = F.when(F.col("source_file").isin(files), this).otherwise(case)
    return case


# How a month-and-day date is rewritten in each order (regexp_replace's replacement).
MONTH_DAY_ISO = {MONTH_FIRST: "$3-$1-$2", DAY_FIRST: "$3-$2-$1", YEAR_FIRST: "$1/$2/$3"}


def _as_iso(text: Column, month_day: str | Column) -> Column:
    """Slash date text as ISO text (``YYYY-MM-DD``, any time after it kept): a month-and-day date rewritten by
    ``month_day`` (a ``MONTH_DAY_ISO`` value, or a column of them), a year-first one as it reads; other text as it
    is. A chain of replacements that each read their input once: the engines inline a column's definition
    wherever it is used, so expressions that use their input many times, stacked, multiply."""
    for decade, century in TWO_DIGIT_YEARS.items():
        # the mark keeps the century apart from the group number: "$120" would be group 120 on Sail
        text = F.regexp_replace(text, rf"^([0-9]{{1,2}}[/.][0-9]{{1,2}}[/.])({decade}[0-9])([^0-9]|$)",
                                f"$1#{century}$2$3")  # fmt: skip
    text = F.regexp_replace(text, MONTH_DAY_YEAR, month_day)
    text = F.regexp_replace(text, r"^([0-9]{4})[/.]([0-9]{1,2})[/.]([0-9]{1,2})", "$1-$2-$3")
    # one-digit months and days take their 0
    text = F.regexp_replace(text, r"^([0-9]{4})-([0-9])-", "$1-0$2-")
    return F.regexp_replace(text, r"^([0-9]{4}-[0-9]{2})-([0-9])([^0-9]|$)", "$1-0$2$3")


def _is_fixed_width_slash_date(value: Column) -> Column:
    """Whether a trimmed value is a month-and-day date at fixed width, two digits, two digits, four digits (the
    separators ``/``, ``.`` or ``-``, the same twice), maybe with a time after a space or a ``T``: how most files
    write one. Its parts are read by position, without the regexes that read any slash date (``_as_iso``,
    ``_slash_parts``: ten times the time)."""
    separator = F.substring(value, 3, 1)
    return (
        separator.isin("/", ".", "-")
        & (F.substring(value, 6, 1) == separator)
        & (F.translate(F.substring(value, 1, 10), "0123456789", "") == F.concat(separator, separator))
        & ((F.length(value) == 10) | F.substring(value, 11, 1).isin(" ", "T"))
    )


def _fixed_width_parts(value: Column) -> tuple[Column, Column, Column]:
    """A fixed-width month-and-day date's (``_is_fixed_width_slash_date``) first and second numbers and its year,
    as text: what ``SLASH_DATE``'s groups read."""
    return F.substring(value, 1, 2), F.substring(value, 4, 2), F.substring(value, 7, 4)


def _fixed_width_as_iso(value: Column, order: str) -> Column:
    """A fixed-width month-and-day date (``_is_fixed_width_slash_date``) in ``order`` as ISO text, any time after
    it kept: what ``_as_iso`` writes."""
    first, second, year = _fixed_width_parts(value)
    month, day = (first, second) if order == MONTH_FIRST else (second, first)
    rest = value.substr(F.lit(11), F.length(value))
    return F.concat(year, F.lit("-"), month, F.lit("-"), day, rest)


def _iso_date_text(clean: Column, orders: dict[str, str]) -> Column:
    """A date as ISO text, from a cleaned raw value: a slash date rewritten in its file's order (``orders``; a
    file without one keeps it as it is, so it does not parse), a year-first slash date too; other text as it
    is."""
    if not orders:
        return clean
    month_day = _files_case(orders, {order: MONTH_DAY_ISO[order] for order in (MONTH_FIRST, DAY_FIRST)},
                            F.lit(MONTH_DAY_ISO[YEAR_FIRST]))  # fmt: skip
    by_position = F.when(_is_fixed_width_slash_date(clean), _files_case(
        orders, {order: _fixed_width_as_iso(clean, order) for order in (MONTH_FIRST, DAY_FIRST)},
        F.lit(None).cast("string")))  # fmt: skip
    return (
        F.when(~_has_separated_date(clean), clean)
        .when(by_position.isNotNull(), by_position)
        .otherwise(_as_iso(clean, month_day))
    )


def _unread_dates(orders: dict[str, str]) -> Column:
    """The reason a row's slash dates cannot be read: its file's order is ambiguous or mixed (NULL when no file's
    is)."""
    unread = (AMBIGUOUS_DATE_FORMAT, MIXED_DATE_FORMAT)
    if not any(order in unread for order in orders.values()):
        return F.lit(None).cast("string")
    slash_date = reduce(lambda left, right: left | right, [_is_slash_date(name) for name in DATE_COLUMNS])
    return F.when(slash_date, _files_case(orders, {reason: reason for reason in unread}, F.lit(None).cast("string")))


def _file_date_orders(raw: DataFrame) -> DataFrame:
    """``source_file`` and ``__file_date_order`` of each file of ``raw`` (the files with slashes in their dates),
    from the rows with slashes alone."""
    parts = _slash_parts(raw.where(_any_separated_date()))
    slash_dates = [F.coalesce(_is_split_slash_date(name).cast("int"), F.lit(0)) for name in DATE_COLUMNS]
    file_date = F.col(PARTITION_COLUMN)
    votes = parts.groupBy("source_file").agg(
        _date_votes(first_above_12=True).alias("__dmy"),
        _date_votes(first_above_12=False).alias("__mdy"),
        F.sum(reduce(lambda left, right: left + right, slash_dates)).alias("__slashed"),
        _latest_date(MONTH_FIRST).alias("__latest_mdy"),
        _latest_date(DAY_FIRST).alias("__latest_dmy"),
        F.max(_day_number(F.year(file_date), F.month(file_date), F.dayofmonth(file_date))).alias("__file_date"),
    )
    order = _date_order(F.col("__dmy"), F.col("__mdy"), F.col("__slashed"), F.col("__latest_mdy"),
                        F.col("__latest_dmy"))  # fmt: skip
    return votes.select("source_file", order.alias("__file_date_order"))


def file_formats(raw: DataFrame) -> DataFrame:
    """Per source file of bronze/claims_raw, decided once for the whole file from the values that can only be
    read one way, or the reason it cannot be:

    - ``__file_mark``: the decimal mark of its numbers (``.`` or ``,``; ``120,50``, ``1.234,56``, ``30.2672``
      decide); a mark declared at ingest (run config ``decimal_mark``) decides alone;
    - ``__file_date_order``: how its slash dates read (``MDY``: 01/31/2025, ``DMY``: 31/01/2025, ``YMD``:
      2025/1/31 only), or the reason they cannot be read; NULL when its dates have no slash.

    Computed now (a small job, and one more over the files with slashes in their dates) and held in memory: one
    row per file, joined to every row."""
    if raw.select("source_file").distinct().count() > MANY_FILES:
        # The engines compile a regex for each batch they test it on, and a small file is a batch of its own: a day
        # of a thousand small files compiled the vote patterns fifteen thousand times (docs/performance.md). Sorted
        # within its partitions, a day comes in few large batches; for a day of a few files the sort is not worth
        # its cost.
        raw = raw.sortWithinPartitions("source_file")
    any_slash = _any_separated_date()
    votes = raw.groupBy("source_file").agg(
        F.max("decimal_mark").alias("__declared"),
        _count(DOT_VOTE).alias("__dot"),
        _count(COMMA_VOTE).alias("__comma"),
        _count(AMBIGUOUS_NUMBER).alias("__ambiguous"),
        F.max(F.coalesce(any_slash, F.lit(False))).alias("__has_slash"),
    )
    decided = F.col("__dot") + F.col("__comma")
    minority = F.least(F.col("__dot"), F.col("__comma"))
    mark = (
        F.when(F.col("__declared").isin(".", ","), F.col("__declared"))
        .when((decided > 0) & (minority <= decided * MIXED_NUMBER_TOLERANCE), F.when(
            F.col("__dot") >= F.col("__comma"), F.lit(".")).otherwise(F.lit(",")))
        .when(decided > 0, F.lit(MIXED_NUMBER_FORMAT))
        .when(F.col("__ambiguous") > 0, F.lit(AMBIGUOUS_NUMBER_FORMAT))
        .otherwise(F.lit("."))
    )  # fmt: skip
    marks = collected(votes.select("source_file", mark.alias("__file_mark"), "__has_slash"))
    # The date orders are read from the files with slashes in their dates only: most days have none.
    slashed = [row["source_file"] for row in marks.where(F.col("__has_slash")).select("source_file").collect()]
    marks = marks.drop("__has_slash")
    if not slashed:
        return marks.withColumn("__file_date_order", F.lit(None).cast("string"))
    # Held in memory too: the typing reads the orders again for silver and for quarantine, and left lazy, each
    # read voted again over every row with slashes (docs/performance.md).
    return collected(
        marks.join(_file_date_orders(raw.where(F.col("source_file").isin(slashed))), "source_file", "left")
    )


def _number_text(name: str) -> Column:
    """A raw number as plain ``1234.5`` text, read with its file's decimal mark (column ``__file_mark``): a
    currency sign or code before or after it and thousands separators go, an accounting negative's brackets
    become a minus, a decimal comma becomes a point. A value that does not fit the file's format keeps a ``#`` in
    front, so it never parses."""
    clean = _clean(name)
    comma_file = F.col("__file_mark") == F.lit(",")
    # A missing value skips every test (a CASE evaluates all its conditions on the rows none matched: a column
    # that a layout does not have cost 0.3 s per million rows otherwise); most values are plain numbers already,
    # read with one test and no rewriting. Each rewrite is written once: the engines compute an expression used
    # twice for every row, ahead of the CASE.
    return F.when(
        F.col(name).isNotNull(),
        F.when(~comma_file & clean.rlike(PLAIN_NUMBER), clean)
        .when(clean.isin(*NULL_MARKERS), F.lit(None).cast("string"))
        .when(comma_file, _rewritten_number(clean, ","))
        .otherwise(_rewritten_number(clean, ".")),
    )


def _rewritten_number(clean: Column, point: str) -> Column:
    """``clean`` as plain number text when it is a number written with ``point`` as its decimal mark, else with a
    ``#`` in front: a chain of replacements that each read their input once. An accounting negative's brackets, a
    minus after the number and a currency go first; a value in the format is then marked (``@``), one that is not
    gets its ``#``, and the separators go (from ``#`` values too: those never parse)."""
    body = NUMBER_FORMATS[point].removeprefix("^").removesuffix("$")
    text = F.regexp_replace(clean, r"^\((.*)\)$", "-$1")
    # SAP writes a negative with its minus after it (120.50-)
    text = F.regexp_replace(text, rf"^([^-]*[0-9]){BLANK}*-$", "-$1")
    text = F.regexp_replace(text, rf"^([+-]?){BLANK}*{CURRENCY}{BLANK}*", "$1")
    text = F.regexp_replace(text, rf"{BLANK}*{CURRENCY}$", "")
    text = F.regexp_replace(text, "^@", "#@")  # text that starts like a mark is no number
    text = F.regexp_replace(text, rf"^({body})$", "@$1")
    text = F.regexp_replace(text, "^([^@]|$)", "#$1")
    if point == ",":
        text = F.regexp_replace(F.regexp_replace(text, rf"\.|{SPACES}", ""), ",", ".")
    else:
        text = F.regexp_replace(text, rf",|{SPACES}", "")
    return F.regexp_replace(text, "^@", "")


def money_double(value: Column) -> Column:
    """A double rounded half up to whole cents with IEEE arithmetic only, so every engine gets the same bits
    (a cast of a double to a decimal rounds differently on Sail and classic Spark). Values too large for cents
    stay as they are, for the amount cap to reject."""
    return F.when(F.abs(value) < 1e15, F.floor(value * 100 + 0.5) / 100).otherwise(value)


def _money(frame: DataFrame, target: str, source: str) -> DataFrame:
    """``target`` = the number text in ``source`` rounded half up to whole cents, as a double (NULL when it is no
    number). Plain text is rounded as a decimal, so 1.005 gives 1.01 on every engine; an exponent form (1e3)
    goes through a double."""
    text = F.col(source)
    as_double = F.expr(f"try_cast({source} AS DOUBLE)")
    as_cents = F.expr(f"try_cast({source} AS {MONEY_TYPE})").cast("double")
    return frame.withColumn(
        target,
        F.when(text.rlike(PLAIN_NUMBER), F.coalesce(as_cents, as_double)).when(
            text.rlike(NUMBER_PATTERN), money_double(as_double)
        ),
    )


def _bad(parsed: str, raw: Column, code: str) -> Column:
    """``code`` when ``raw`` has a value that did not read into ``parsed`` (a missing-value marker is no value)."""
    return F.when(raw.isNotNull() & F.col(parsed).isNull(), F.when(~raw.isin(*NULL_MARKERS), F.lit(code)))


# A landed row's raw values, carried as one column from typing to quarantine, where they become JSON for the
# rejected rows only (building the JSON for every row cost as much as typing it): personal columns dropped, card
# and patient ids as the row's customer_key (their keyed hash).
KEPT_RAW_COLUMNS = tuple(name for name in RAW_VALUE_COLUMNS if name not in DROPPED_PERSONAL_COLUMNS)
RAW_STRUCT = "__raw"
RAW_STRUCT_TYPE = StructType(
    [StructField(name, StringType()) for name in (*KEPT_RAW_COLUMNS, "row_error", "raw_record")]
)


# The columns of every candidate frame (``candidates_from_raw``, ``candidates_from_transactions``), in order:
# written out so that the functions after them need not ask the engine (over Spark Connect each question
# analyses the whole typing plan again: 0.04-0.08 s).
CANDIDATE_COLUMNS = (*CLAIM_SCHEMA.fieldNames(), "reasons", "raw_values", RAW_TRANS_TIME, RAW_STRUCT)


def _raw_struct(customer_key: Column) -> Column:
    fields = [
        F.when(F.col(name).isNotNull(), customer_key).alias(name)
        if name in CARD_COLUMNS or name in PATIENT_COLUMNS
        else F.col(name).alias(name)
        for name in KEPT_RAW_COLUMNS
    ]
    return F.struct(*fields, F.col("row_error").alias("row_error"), F.col("raw_record").alias("raw_record"))


def _raw_values_json() -> Column:
    """JSON of a landed row's raw values (NULLs left out), identifier shapes masked in every value that is not a
    hash (a value in the wrong column can still be one); of a record that could not be split into fields, the
    error and the record's shape (letters as a, digits as 9): its fields are unknown, so any of them could be an
    identifier. The text itself stays in bronze (claims_raw.raw_record), found by source_file and row_number."""
    raw = F.col(RAW_STRUCT)
    values = [
        raw[name].alias(name)
        if name in CARD_COLUMNS or name in PATIENT_COLUMNS
        else redact_identifiers(raw[name]).alias(name)
        for name in KEPT_RAW_COLUMNS
    ]
    unsplittable = F.struct(
        raw["row_error"].alias("row_error"),
        record_shape_column(raw["raw_record"]).alias("record_shape"),
        F.length(raw["raw_record"]).alias("record_length"),
    )
    return F.when(raw["row_error"].isNotNull(), F.to_json(unsplittable)).otherwise(F.to_json(F.struct(*values)))


def _row_error_code(error: Column) -> Column:
    """The code at the front of a bronze row error (``wrong_field_count: ...``)."""
    return F.when(error.rlike("^[a-z_]+:"), F.regexp_extract(error, "^([a-z_]+):", 1))


def candidates_from_raw(raw: DataFrame, secret: str, formats: DataFrame | None = None) -> DataFrame:
    """bronze/claims_raw rows typed into the claim model, with ``reasons`` for what did not parse."""
    # ``formats``: each file's decimal mark and date order (``file_formats`` of all the file's rows, when ``raw``
    # holds only some of them). One row per file, computed first and joined as an in-memory table.
    formats = file_formats(raw) if formats is None else formats
    orders = _date_orders_by_file(formats)
    raw = _with_trimmed(with_lookup(raw, formats.drop("__file_date_order"), "source_file", small=True))
    layout = F.col("layout")
    is_insurance = layout == F.lit(INSURANCE)
    kaggle_time = _iso_date_text(_clean(KAGGLE_TIME_COLUMN), orders)
    sparkov_time = F.when(
        _clean("trans_date").isNotNull() & _clean("trans_time").isNotNull(),
        F.concat_ws(" ", _iso_date_text(_clean("trans_date"), orders), _clean("trans_time")),
    )
    frame = raw.select(
        "*",
        _key(F.when(is_insurance, _clean("claim_id")).otherwise(_clean("trans_num"))).alias("__claim_id"),
        _key(
            F.when(is_insurance, _clean("patient_id")).otherwise(F.regexp_replace(_clean("cc_num"), r"[ -]", ""))
        ).alias("__customer"),
        _key(F.when(is_insurance, _clean("provider_id")).otherwise(_clean("merchant"))).alias("__provider_id"),
        F.when(is_insurance, _clean("provider_name")).otherwise(_clean("merchant")).alias("__provider_name"),
        _key(F.when(is_insurance, _clean("procedure_code")).otherwise(_clean("category"))).alias("__procedure"),
        _key(F.when(is_insurance, _clean("diagnosis_code"))).alias("__diagnosis"),
        F.when(~is_insurance, F.coalesce(kaggle_time, sparkov_time)).alias("__service_ts"),
        F.when(is_insurance, _clean("service_date")).alias("__service_date"),
        F.when(is_insurance, _clean("submitted_date")).alias("__submitted_date"),
        F.when(is_insurance, _iso_date_text(_clean("service_date"), orders)).alias("__service_date_iso"),
        F.when(is_insurance, _iso_date_text(_clean("submitted_date"), orders)).alias("__submitted_date_iso"),
        F.when(is_insurance, _number_text("charge_amount")).otherwise(_number_text("amt")).alias("__amount"),
        F.when(is_insurance, _number_text("paid_amount")).alias("__paid_amount"),
        F.upper(_key(F.when(is_insurance, _clean("patient_state")).otherwise(_clean("state")))).alias(
            "__customer_state"
        ),
        F.upper(_key(F.when(is_insurance, _clean("provider_state")))).alias("__provider_state"),
        _number_text("lat").alias("__customer_lat"),
        _number_text("long").alias("__customer_long"),
        _number_text("merch_lat").alias("__provider_lat"),
        _number_text("merch_long").alias("__provider_long"),
        _number_text("city_pop").alias("__city_pop"),
        _clean("is_fraud").alias("__is_fraud"),
        F.when(is_insurance, _clean("place_of_service"))
        .when(_clean("category").endswith("_net"), F.lit("online"))
        .when(_clean("category").endswith("_pos"), F.lit("in_person"))
        .alias("__channel"),
    )
    # Parsed values go to __t_* columns: the raw columns keep their text for the quarantine JSON.
    frame = _parsed_time(frame, "__t_service_ts", F.col("__service_ts"))
    frame = _parsed_date(frame, "__t_service_date", F.col("__service_date_iso"))
    frame = _parsed_date(frame, "__t_submitted_date", F.col("__submitted_date_iso"))
    frame = _money(frame, "__t_amount", "__amount")
    frame = _money(frame, "__t_paid_amount", "__paid_amount")
    for name in (*COORDINATE_COLUMNS, "city_pop"):
        frame = _parsed(frame, f"__t_{name}", F.col(f"__{name}"), NUMBER_PATTERN, "DOUBLE")
    # a population is a whole number of people that fits a bigint
    frame = frame.withColumn(
        "__t_city_pop",
        F.when((F.col("__t_city_pop") >= 0) & (F.col("__t_city_pop") < 1e15), F.floor("__t_city_pop")).when(
            F.col("__t_city_pop") < 0, F.lit(-1)
        ),
    )
    # A label is 0/1 (1.0 and 0.0 too) or true/false in any case; anything else is a bad label, never a guess.
    label_text = F.lower(F.col("__is_fraud"))
    label_number = F.expr("try_cast(__is_fraud AS DOUBLE)")
    frame = frame.withColumn(
        "__t_label",
        F.when(label_text == "true", F.lit(1.0))
        .when(label_text == "false", F.lit(0.0))
        .when(label_number.isin(0.0, 1.0), label_number),
    )
    service_date = F.coalesce(F.col("__t_service_date"), F.to_date(F.col("__t_service_ts")))
    parse_reasons = [
        F.when(F.col("row_error").isNotNull(), F.lit(MALFORMED_ROW)),
        _row_error_code(F.col("row_error")),
        F.when(F.col("__file_mark").isin(AMBIGUOUS_NUMBER_FORMAT, MIXED_NUMBER_FORMAT), F.col("__file_mark")),
        _unread_dates(orders),
        _bad("__t_service_ts", F.col("__service_ts"), "bad_timestamp_service"),
        _bad("__t_service_date", F.col("__service_date"), "bad_date_service"),
        _bad("__t_submitted_date", F.col("__submitted_date"), "bad_date_submitted"),
        _bad("__t_amount", F.col("__amount"), "bad_number_amount"),
        _bad("__t_paid_amount", F.col("__paid_amount"), "bad_number_paid_amount"),
        F.when(
            reduce(
                lambda left, right: left | right,
                [F.col(f"__{name}").isNotNull() & F.col(f"__t_{name}").isNull() for name in COORDINATE_COLUMNS],
            ),
            F.lit("bad_number_coordinates"),
        ),
        _bad("__t_city_pop", F.col("__city_pop"), "bad_number_city_pop"),
        _bad("__t_label", F.col("__is_fraud"), "bad_label"),
    ]
    customer_key = hmac_sha256(F.col("__customer"), secret)
    return frame.select(
        F.col("__claim_id").alias("claim_id"),
        customer_key.alias("customer_key"),
        F.col("__provider_id").alias("provider_id"),
        # free text can hold anything: identifier shapes in it never leave bronze
        redact_identifiers(F.col("__provider_name")).alias("provider_name"),
        F.col("__procedure").alias("procedure"),
        redact_identifiers(F.col("__diagnosis")).alias("diagnosis"),
        F.col("__t_service_ts").alias("service_ts"),
        service_date.alias("service_date"),
        F.when(is_insurance, F.col("__t_submitted_date")).otherwise(service_date).alias("submitted_date"),
        F.col("__t_amount").alias("amount"),
        F.when(is_insurance, F.col("__t_paid_amount")).otherwise(F.col("__t_amount")).alias("paid_amount"),
        F.col("__customer_state").alias("customer_state"),
        F.col("__provider_state").alias("provider_state"),
        *[F.col(f"__t_{name}").alias(name) for name in COORDINATE_COLUMNS],
        F.col("__t_city_pop").cast("bigint").alias("city_pop"),
        F.col("__channel").alias("channel"),
        F.col("__t_label").cast("int").alias("is_fraud"),
        layout.alias("source"),
        "source_file",
        "row_number",
        "ingested_at",
        PARTITION_COLUMN,
        F.array_compact(F.array(*parse_reasons)).alias("reasons"),
        F.lit(None).cast("string").alias("raw_values"),
        F.lit(None).cast("string").alias(RAW_TRANS_TIME),
        _raw_struct(customer_key).alias(RAW_STRUCT),
    )


def candidates_from_transactions(transactions: DataFrame, customers: DataFrame, secret: str) -> DataFrame:
    """bronze/transactions as claims: the card is the customer, the merchant the provider."""
    homes = customers.select(
        "cc_num",
        # Hashed once per customer, not per transaction: two SHA-256 per row were a third of the typing.
        hmac_sha256(F.col("cc_num"), secret).alias("__home_customer_key"),
        F.col("state").alias("customer_state"),
        F.col("lat").alias("customer_lat"),
        F.col("long").alias("customer_long"),
        F.col("city_pop").cast("bigint").alias("city_pop"),
    )
    joined = with_lookup(transactions, homes, "cc_num", small=True)
    # unix_time is the instant of trans_date + trans_time in UTC (the generator's contract, tested there):
    # reading it is cheaper than parsing the date and clock text (0.1 s per 2 M rows on Sail).
    service_ts = F.timestamp_seconds(F.col("unix_time"))
    # A card without a customer row is hashed where it stands.
    customer_key = F.when(F.col("__home_customer_key").isNotNull(), F.col("__home_customer_key")).otherwise(
        hmac_sha256(F.col("cc_num"), secret)
    )
    return joined.select(
        F.col("trans_num").alias("claim_id"),
        customer_key.alias("customer_key"),
        F.col("merchant").alias("provider_id"),
        F.col("merchant").alias("provider_name"),
        F.col("category").alias("procedure"),
        F.lit(None).cast("string").alias("diagnosis"),
        service_ts.alias("service_ts"),
        F.col("trans_date").alias("service_date"),
        F.col("trans_date").alias("submitted_date"),
        money_double(F.col("amt").cast("double")).alias("amount"),
        money_double(F.col("amt").cast("double")).alias("paid_amount"),
        "customer_state",
        F.lit(None).cast("string").alias("provider_state"),
        "customer_lat",
        "customer_long",
        F.col("merch_lat").alias("provider_lat"),
        F.col("merch_long").alias("provider_long"),
        "city_pop",
        F.when(F.col("category").endswith("_net"), F.lit("online"))
        .when(F.col("category").endswith("_pos"), F.lit("in_person"))
        .alias("channel"),
        F.col("is_fraud").cast("int").alias("is_fraud"),
        F.lit(SYNTHETIC).alias("source"),
        F.lit("bronze/transactions").alias("source_file"),
        F.lit(None).cast("bigint").alias("row_number"),
        F.lit(None).cast("timestamp").alias("ingested_at"),
        PARTITION_COLUMN,
        F.array().cast("array<string>").alias("reasons"),
        # Raw values are built in quarantine, for rejected rows only (from the
        # typed columns, which copy the bronze ones, and the raw time text):
        # building the JSON for every row was nearly half of quarantine's time
        # on Sail (2 M rows, engine only: 3.6 s against 1.95 s).
        F.lit(None).cast("string").alias("raw_values"),
        F.col("trans_time").alias(RAW_TRANS_TIME),
        F.lit(None).cast(RAW_STRUCT_TYPE).alias(RAW_STRUCT),
    )


def _transaction_raw_values() -> Column:
    """A bronze transaction's raw values as JSON (card number as its keyed hash), from its candidate columns."""
    return F.to_json(
        F.struct(
            F.col("claim_id").alias("trans_num"),
            F.col("customer_key").alias("cc_num"),
            F.col("service_date").alias("trans_date"),
            F.col(RAW_TRANS_TIME).alias("trans_time"),
            F.col("procedure").alias("category"),
            F.col("amount").alias("amt"),
            "is_fraud",
            F.col("provider_id").alias("merchant"),
            F.col("provider_lat").alias("merch_lat"),
            F.col("provider_long").alias("merch_long"),
        )
    )


def validate(candidates: DataFrame, rules: ValidationRules, later_copies: bool = False) -> DataFrame:
    """Candidates (``CANDIDATE_COLUMNS``) with every failed check appended to ``reasons``; later copies of a claim
    id are duplicates.

    ``later_copies``: the candidates are what did not reach silver (``rest_of_raw``, ``rest_of_transactions``),
    so a row that passes every check is a later copy of a claim in silver.
    """
    today = F.lit(rules.today.isoformat()).cast("date")
    earliest = F.lit(EARLIEST_DATE.isoformat()).cast("date")
    states = [F.lit(code) for code in US_STATE_CODES]

    def missing(column: str) -> Column:
        return F.col(column).isNull()

    # (failing condition, reason code); a NULL condition is not a failure.
    checks = [
        (missing("claim_id"), "missing_claim_id"),
        (missing("customer_key"), "missing_customer"),
        (missing("provider_id"), "missing_provider"),
        (missing("procedure"), "missing_procedure"),
        (missing("service_date"), "missing_service_date"),
        (missing("amount"), "missing_amount"),
        (F.col("amount") <= 0, "amount_not_positive"),
        (F.col("amount") >= rules.amount_cap, "amount_above_cap"),
        (F.col("paid_amount") < 0, "paid_amount_negative"),
        ((F.col("service_date") > today) | (F.col("submitted_date") > today), "date_in_future"),
        ((F.col("service_date") < earliest) | (F.col("submitted_date") < earliest), "date_before_1900"),
        (F.col("customer_state").isNotNull() & ~F.col("customer_state").isin(*states), "bad_state"),
        (F.col("provider_state").isNotNull() & ~F.col("provider_state").isin(*states), "bad_state"),
        (
            (F.abs(F.col("customer_lat")) > 90)
            | (F.abs(F.col("provider_lat")) > 90)
            | (F.abs(F.col("customer_long")) > 180)
            | (F.abs(F.col("provider_long")) > 180),
            "bad_coordinates",
        ),
        (F.col("city_pop") < 0, "bad_number_city_pop"),
    ]
    failed = F.array_compact(F.array(*[F.when(condition, F.lit(code)) for condition, code in checks]))
    # The same verdict as "no reasons", as a plain boolean: the engine inlines
    # columns, and building the reasons array again for every use cost 2x.
    any_failed = reduce(lambda left, right: left | right, [F.coalesce(c, F.lit(False)) for c, _ in checks])
    checked = candidates.withColumn("__valid", (F.size("reasons") == 0) & ~any_failed).withColumn(
        "reasons", F.array_distinct(F.concat(F.col("reasons"), failed))
    )
    valid = F.col("__valid")
    # Which copy of a claim id comes first: by source, then the earliest
    # ingested file, then file name and row (no ingest time sorts last, no
    # file or row first).
    source_rank = F.coalesce(
        *[F.when(F.col("source") == name, F.lit(rank)) for name, rank in SOURCE_ORDER.items()], F.lit(99)
    )
    # One sortable text, not a struct: min() of a struct ran row by row on Sail.
    copy_order = F.concat(
        F.lpad(source_rank.cast("string"), 2, "0"),
        F.date_format(
            F.coalesce(F.col("ingested_at"), F.lit("9999-12-31 00:00:00").cast("timestamp")),
            "yyyy-MM-dd HH:mm:ss.SSSSSS",
        ),
        F.coalesce(F.col("source_file"), F.lit("")),
        # NUL ends the file name, so "a.csv" sorts before "a.csv2" as plain text would.
        F.lit("\u0000"),
        F.lpad(F.coalesce(F.col("row_number"), F.lit(-1).cast("bigint")).cast("string"), 20, "0"),
    )
    keys = [PARTITION_COLUMN, "claim_id"]
    # Only valid rows compete for a claim id; an invalid row is quarantined for
    # its own reason. The claim ids that repeat at all are found first, from the
    # ids alone (usually none, and then nothing more is computed: typing and
    # checking every row for this question cost a third of silver on landed
    # files). Among their rows, an aggregate of the first valid copy, broadcast
    # back, replaces a window that sorted every wide row (silver 2x faster on
    # Sail); both are collected, so the engine broadcasts them instead of
    # shuffling every row.
    if later_copies:
        return _copies_marked(checked, valid)
    repeated = candidates.groupBy(*keys).count().where(F.col("count") > 1).select(*keys)
    repeated_rows = repeated.limit(COLLECT_MAX_ROWS + 1).collect()
    repeated_ids = sorted({row["claim_id"] for row in repeated_rows} - {None})
    if not repeated_ids:  # none, or only missing ids, which are quarantined and never compete
        return _copies_marked(checked, F.lit(False))
    if len(repeated_rows) > COLLECT_MAX_ROWS:
        contenders = repeated.join(checked, keys)
    else:
        lookup = checked.sparkSession.createDataFrame(repeated_rows, repeated.schema)
        # A few ids are also written into the plan as literals: a filter on
        # them reaches below the typing, so only their rows are typed and
        # checked (through the join alone the engines type every row of the
        # day first). Many literals cost more to plan than that typing.
        if len(repeated_ids) <= REPEATED_IDS_AS_LITERALS_MAX:
            checked_repeating = checked.where(F.col("claim_id").isin(repeated_ids))
        else:
            checked_repeating = checked
        contenders = F.broadcast(lookup).join(checked_repeating, keys)
    # min() of the valid rows' order (min skips NULL), not min() after a filter
    # on validity: the engines push such a filter down through the typing and
    # plan every check again there (Sail took seconds to plan that job). The
    # same push-down is why ``_with_verdict`` hides the verdict from it.
    first_valid_copy = contenders.groupBy(*keys).agg(F.min(F.when(valid, copy_order)).alias("__first"))
    # one row per repeated id: too many to collect is known already (trying computed the whole job for nothing)
    many = len(repeated_rows) > COLLECT_MAX_ROWS
    ranked = with_lookup(checked, first_valid_copy if many else collected(first_valid_copy), keys, small=not many)
    return _copies_marked(ranked, valid & F.col("__first").isNotNull() & (copy_order != F.col("__first")))


def _copies_marked(checked: DataFrame, is_later_copy: Column) -> DataFrame:
    """The candidate columns, with ``duplicate_claim_id`` as the only reason of a later copy of a claim id."""
    return checked.select(
        *[
            F.when(is_later_copy, F.array(F.lit(DUPLICATE_CLAIM_ID))).otherwise(F.col("reasons")).alias("reasons")
            if name == "reasons"
            else F.col(name)
            for name in CANDIDATE_COLUMNS
        ]
    )


def rest_of_raw(raw: DataFrame, silver: DataFrame) -> DataFrame:
    """The rows of bronze/claims_raw that are not in silver (by file and row number): what quarantine holds, typed
    again on their own instead of typing every row a second time."""
    kept = silver.where(F.col("source") != F.lit(SYNTHETIC)).select("source_file", "row_number")
    return raw.join(kept, ["source_file", "row_number"], "left_anti")


def rest_of_transactions(transactions: DataFrame, silver: DataFrame) -> DataFrame:
    """The rows of bronze/transactions that are not in silver (by day and transaction number)."""
    kept = silver.where(F.col("source") == F.lit(SYNTHETIC)).select(
        F.col("claim_id").alias("trans_num"), PARTITION_COLUMN
    )
    return transactions.join(kept, ["trans_num", PARTITION_COLUMN], "left_anti")


def claim_candidates(
    raw: DataFrame,
    secret: str,
    formats: DataFrame,
    transactions: DataFrame | None = None,
    customers: DataFrame | None = None,
) -> DataFrame:
    """Every input row as a candidate for ``validate``: the landed rows, and the synthetic feed's when given."""
    candidates = candidates_from_raw(raw, secret, formats)
    if transactions is not None and customers is not None:
        candidates = candidates.unionByName(candidates_from_transactions(transactions, customers, secret))
    return candidates


def _short_groups(inputs: DataFrame, kept: DataFrame, key: str) -> list:
    """The values of ``key`` whose input rows are not all in silver: an input row gives at most one silver row
    with the same key, so a group with as many silver rows as input rows lost none."""
    counts = (
        inputs.groupBy(key)
        .agg(F.count("*").alias("__in"))
        .join(kept.groupBy(key).agg(F.count("*").alias("__kept")), key, "left")
    )
    return [row[key] for row in counts.where(F.coalesce(F.col("__kept"), F.lit(0)) < F.col("__in")).collect()]


def _only(frame: DataFrame, key: str, values: list) -> DataFrame:
    return frame.where(F.col(key).isin(values) if values else F.lit(False))


def quarantine_candidates(
    raw: DataFrame,
    silver: DataFrame,
    secret: str,
    formats: DataFrame,
    transactions: DataFrame | None = None,
    customers: DataFrame | None = None,
) -> DataFrame:
    """What quarantine holds, as candidates for ``validate(..., later_copies=True)``: the input rows (landed, and
    synthetic when given) that silver did not take. Most files and days lose no row: counting rows per file
    and per day (a small job) finds those, and only the others are matched row by row (an anti-join of every
    row took most of quarantine's time)."""
    landed = silver.where(F.col("source") != F.lit(SYNTHETIC))
    files = _short_groups(raw, landed, "source_file")
    missing_raw = rest_of_raw(_only(raw, "source_file", files), _only(landed, "source_file", files))
    missing_transactions = None
    if transactions is not None and customers is not None:
        synthetic = silver.where(F.col("source") == F.lit(SYNTHETIC))
        days = _short_groups(transactions, synthetic, PARTITION_COLUMN)
        missing_transactions = rest_of_transactions(
            _only(transactions, PARTITION_COLUMN, days), _only(synthetic, PARTITION_COLUMN, days)
        )
    return claim_candidates(missing_raw, secret, formats, missing_transactions, customers)


def _with_verdict(validated: DataFrame) -> DataFrame:
    """``validated`` with ``__rejected``, behind an expression the optimizer cannot move (it never changes the
    value): a filter on ``size(reasons)`` is pushed below the projection that types the rows, so the engine typed
    every row twice, once to filter and once to write (silver of a landed 1 M-claim file: 12 s against 5 s)."""
    rejected = F.size("reasons") > 0
    return validated.withColumn(
        "__rejected", F.when(F.monotonically_increasing_id() >= 0, rejected).otherwise(rejected)
    )


def silver_claims(validated: DataFrame) -> DataFrame:
    """The valid rows in the canonical schema."""
    valid = _with_verdict(validated).where(~F.col("__rejected"))
    return valid.select(*[F.col(field.name).cast(field.dataType) for field in CLAIM_SCHEMA.fields])


def quarantined_claims(validated: DataFrame) -> DataFrame:
    """The rejected rows: raw values (pseudonymised), source file, row number and reason codes."""
    rejected = _with_verdict(validated).where(F.col("__rejected"))
    rejected = rejected.select(
        *[name for name in CANDIDATE_COLUMNS if name != "raw_values"],
        F.expr("try_element_at(reasons, 1)").alias("reason"),
        F.coalesce(
            F.col("raw_values"),
            F.when(F.col(RAW_STRUCT).isNotNull(), _raw_values_json()),
            F.when(F.col("source") == F.lit(SYNTHETIC), _transaction_raw_values()),
        ).alias("raw_values"),
    )
    return rejected.select(*[F.col(field.name).cast(field.dataType) for field in QUARANTINE_SCHEMA.fields])
