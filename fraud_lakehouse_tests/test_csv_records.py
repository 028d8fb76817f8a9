"""CSV records of every width a file may hold (with any delimiter), read block by block, against Python's ``csv``
module.

Hypothesis draws files whose records leave out some of their last fields, add empty or filled ones past the
header, hold quoted values with the delimiter, doubled quotes or a line break in them, and now and then a NUL
byte (which breaks its record and sends its block line by line); the reader must give each record
the fields ``csv`` gives it (with empty values for optional last columns a record leaves out, without empty
fields past the header), or keep it as a broken record.
"""

from __future__ import annotations

import csv
import io

import pyarrow as pa
from hypothesis import given, settings
from hypothesis import strategies as st

from fraud_lakehouse.claims.reader import ClaimsFile
from fraud_lakehouse_tests.test_bad_claims_input import HEADER

COLUMNS = HEADER.split(",")
# the insurance columns a record may leave out at its end, in the header's order: the last four are optional
SHORTEST = len(COLUMNS) - 4
VALUE = st.text(st.sampled_from(list('ab ,"é7.-')), max_size=8)


@st.composite
def csv_files(draw: st.DrawFn) -> tuple[bytes, list[list[str]]]:
    """A file's bytes and its records' fields as written."""
    records = []
    for _ in range(draw(st.integers(1, 40))):
        fields = [draw(VALUE) for _ in COLUMNS]
        fields[0] = "C" + fields[0]  # never the header again, never a blank line
        width = draw(st.sampled_from([len(COLUMNS)] * 4 + list(range(SHORTEST - 2, len(COLUMNS) + 3))))
        if width <= len(COLUMNS):
            fields = fields[:width]
        else:
            fields += [draw(st.sampled_from(["", "", " ", "x"])) for _ in range(width - len(COLUMNS))]
        if _expected(fields) is not None and draw(st.integers(0, 6)) == 0:
            # a quoted value over two lines (a note, an address), in a record that fits
            fields[draw(st.integers(1, min(len(fields), len(COLUMNS)) - 1))] = draw(st.sampled_from(["x\ny", 'a,\n"b']))
        records.append(fields)
    one_line = [fields for fields in records if not any("\n" in value for value in fields)]
    if one_line and draw(st.integers(0, 3)) == 0:
        # one record with a NUL byte (more would make the file binary): it breaks, and its block is read line by
        # line (a record over two lines with a NUL byte breaks on each line)
        one_line[draw(st.integers(0, len(one_line) - 1))][0] += "\x00"
    ending = draw(st.sampled_from(["\n", "\r\n"]))
    text = io.StringIO()
    writer = csv.writer(text, delimiter=draw(st.sampled_from([",", ",", ";", "|", "\t"])), lineterminator=ending)
    writer.writerow(COLUMNS)
    writer.writerows(records)
    return text.getvalue().encode(), records


def _expected(fields: list[str]) -> list[str] | None:
    """The header's values of a record's fields: empty values for the optional last columns it leaves out, no
    empty fields past the header; None when it does not fit."""
    if SHORTEST <= len(fields) <= len(COLUMNS):
        return fields + [""] * (len(COLUMNS) - len(fields))
    if len(fields) > len(COLUMNS) and not any(value.strip() for value in fields[len(COLUMNS) :]):
        return fields[: len(COLUMNS)]
    return None


@settings(max_examples=200, deadline=None)
@given(drawn=csv_files(), block_bytes=st.sampled_from([512, 4096, 1 << 20]))
def test_every_record_has_the_fields_python_gives_it_or_is_broken(drawn, block_bytes):
    content, records = drawn
    file = ClaimsFile("claims.csv", io.BytesIO(content), block_bytes=block_bytes, max_record_bytes=block_bytes)
    rows = pa.Table.from_batches(list(file.batches())).to_pylist()
    got = {row["row_number"]: row for row in rows}
    assert sorted(got) == list(range(1, len(records) + 1))
    fitted = [fields for fields in records
              if "\x00" not in fields[0] and len(fields) != len(COLUMNS) and _expected(fields) is not None]  # fmt: skip
    assert file.summary.fitted == len(fitted)
    for number, fields in enumerate(records, start=1):
        row, expected = got[number], _expected(fields)
        if "\x00" in fields[0]:
            assert row["row_error"].startswith("nul_byte"), (number, fields, row)
        elif expected is None:
            assert row["row_error"].startswith("wrong_field_count"), (number, fields, row)
            assert row["claim_id"] is None
        else:
            assert row["row_error"] is None, (number, fields, row)
            assert [row[name] for name in COLUMNS] == expected, (number, fields)
