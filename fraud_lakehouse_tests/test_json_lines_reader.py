"""JSON lines files, and the elements of JSON documents (arrays of objects), are read by pyarrow's JSON reader a
block at a time, and one by one with Python's ``json`` where a block holds anything that reader reads otherwise:
both give the same raw rows."""

from __future__ import annotations

import io
import json
from collections.abc import Callable

import pyarrow as pa
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from fraud_lakehouse.claims import reader
from fraud_lakehouse.claims.reader import ClaimsFile
from fraud_lakehouse_tests.test_bad_claims_input import HEADER

INSURANCE_KEYS = tuple(HEADER.split(","))
EXTRA_KEYS = ("Charge Amount", "is_fraud", "note", "amount")


def _rows(content: bytes, block_bytes: int, name: str = "claims.jsonl") -> list[dict]:
    file = ClaimsFile(name, io.BytesIO(content), block_bytes=block_bytes, max_record_bytes=block_bytes)
    batches = list(file.batches())
    return pa.Table.from_batches(batches).to_pylist() if batches else []


def _line_by_line(content: bytes, block_bytes: int, monkeypatch: pytest.MonkeyPatch) -> list[dict]:
    with monkeypatch.context() as patched:
        patched.setattr(reader, "_json_lines_table", lambda chunk, lines, fields: None)
        return _rows(content, block_bytes)


def _assert_reads_as(slowly: Callable[[], list[dict]], content: bytes, block_bytes: int, name: str) -> None:
    """The file read as it is gives the rows it gives read ``slowly`` (one record at a time), or the same
    rejection."""
    try:
        expected = slowly()
    except reader.RejectedFile as rejected:
        with pytest.raises(reader.RejectedFile) as also:
            _rows(content, block_bytes, name)
        assert (also.value.reason, also.value.detail) == (rejected.reason, rejected.detail)
        return
    assert _rows(content, block_bytes, name) == expected


# A value of each kind a key can hold in a file. Within a file a key holds one kind of number (whole numbers
# or decimals) or text: where one key mixes them, a block is read line by line, or (whole numbers among
# decimals) read as decimals (test below).
TEXT = st.text(st.characters(min_codepoint=32, max_codepoint=0x2FFF, blacklist_categories=("Cs",)), max_size=12)
KINDS = {
    "text": TEXT | st.sampled_from(["2025-01-06", "2025-01-06T10:00:00Z", "2025-01-06 10:00:00", "01/06/2025"]),
    "whole": st.integers(-(2**63), 2**63 - 1),
    "decimal": st.floats(-1e12, 1e12) | st.sampled_from([100.0, 120.5, -0.0, 1e-05, 2.5e-07, 1e15, 1.5e300]),
    "flag": st.booleans(),
    # read line by line: pyarrow would not give these back as Python does
    "huge": st.integers(10**19, 10**21),
    "nested": st.lists(st.integers(0, 9), max_size=2) | st.dictionaries(st.sampled_from("ab"), st.integers(0, 9)),
}
# Most files are plain: rarer kinds are drawn less often, so most blocks take pyarrow's path.
KIND_DRAWS = ["text"] * 4 + ["whole"] * 2 + ["decimal"] * 3 + ["flag", "huge", "nested"]
# Lines that are no JSON object, or not one pyarrow reads as Python does.
ODD_LINES = [b"   ", b"\t", b"not json", b"null", b"  5", b"[1, 2]", b'"text"', b'{"claim_id": "X", "claim_id": "Y"}',
             b"{\"a\": NaN}", b'{"claim_id": "\xff"}', b'{"Claim ID": "A", "claim_id": "B"}']  # fmt: skip


@st.composite
def json_records(draw: st.DrawFn, odd: list, every_key: bool = False) -> list:
    """Claims as JSON values: mostly objects of a file's keys, now and then one of ``odd``. With ``every_key``,
    every object holds every insurance key (an odd one too): see ``json_documents``."""
    keys = list(INSURANCE_KEYS) + draw(st.lists(st.sampled_from(EXTRA_KEYS), unique=True))
    plain = draw(st.booleans())  # every value of a kind pyarrow reads as Python does
    kinds = {key: draw(st.sampled_from(KIND_DRAWS[:9] if plain else KIND_DRAWS)) for key in keys}
    mixed = None if plain else draw(st.sampled_from([None, *keys]))  # a key that holds text in some lines
    records = []
    for _ in range(draw(st.integers(1, 60))):
        if draw(st.integers(0, 30)) == 0:
            element = draw(st.sampled_from(odd))
            full = every_key and isinstance(element, dict)
            records.append(dict.fromkeys(INSURANCE_KEYS) | element if full else element)
            continue
        # the first object names every key, as tools write a file: its layout is known from its first block, however
        # that is cut
        first = every_key or not any(isinstance(record, dict) and record for record in records)
        present = [key for key in keys if first or draw(st.integers(0, 5))]
        record = {}
        for key in present:
            kind = "text" if key == mixed and draw(st.booleans()) else kinds[key]
            record[key] = None if draw(st.integers(0, 7)) == 0 else draw(KINDS[kind])
        records.append(record)
    return records


@st.composite
def json_lines_files(draw: st.DrawFn) -> bytes:
    lines = [record if isinstance(record, bytes) else json.dumps(record, ensure_ascii=draw(st.booleans())).encode()
             for record in draw(json_records(ODD_LINES))]  # fmt: skip
    return b"\n".join(lines) + b"\n"


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(content=json_lines_files(), block_bytes=st.sampled_from([256, 1024, 1 << 20]))
def test_a_json_lines_file_reads_the_same_rows_by_block_and_line_by_line(content, block_bytes, monkeypatch):
    _assert_reads_as(lambda: _line_by_line(content, block_bytes, monkeypatch), content, block_bytes, "claims.jsonl")


@pytest.mark.parametrize("odd", ODD_LINES)
@pytest.mark.parametrize("block_bytes", [300, 1 << 20])
def test_a_block_with_an_odd_line_reads_as_line_by_line(odd, block_bytes, monkeypatch):
    lines = [json.dumps(dict.fromkeys(INSURANCE_KEYS, "x") | {"claim_id": f"C{i}", "charge_amount": i + 0.5}).encode()
             for i in range(6)]  # fmt: skip
    content = b"\n".join([*lines[:3], odd, *lines[3:]]) + b"\n"
    assert _rows(content, block_bytes) == _line_by_line(content, block_bytes, monkeypatch)


def test_a_large_json_lines_file_is_read_by_pyarrow(monkeypatch):
    """The usual file takes the fast path: no line goes through json.loads."""
    lines = [json.dumps(dict.fromkeys(INSURANCE_KEYS, "x") | {"claim_id": f"C{i}", "service_date": "2025-01-06",
                                                              "charge_amount": 120.5 + i, "is_fraud": i % 2})
             for i in range(5_000)]  # fmt: skip
    calls = []
    monkeypatch.setattr(reader, "_json_record", lambda *args: calls.append(args))
    rows = _rows("\n".join(lines).encode(), 64 * 1024)
    assert calls == []
    assert [row["row_number"] for row in rows] == list(range(1, 5_001))
    assert rows[0]["charge_amount"] == "120.5" and rows[1]["charge_amount"] == "121.5"
    assert rows[0]["service_date"] == "2025-01-06" and rows[1]["is_fraud"] == "1"


def test_whole_numbers_among_decimals_read_as_decimals():
    """A key whose numbers are decimals in some lines of a block and whole in others is read as decimals by
    pyarrow: 100 becomes 100.0, the same number."""
    lines = [dict.fromkeys(INSURANCE_KEYS, "x") | {"charge_amount": amount} for amount in (100, 1.5)]
    content = b"".join(json.dumps(line).encode() + b"\n" for line in lines)
    assert [row["charge_amount"] for row in _rows(content, 1 << 20)] == ["100.0", "1.5"]


# -- JSON documents ------------------------------------------------------------------------------------------

# Elements a document's array may hold that are no flat object.
ODD_ELEMENTS = [5, "text", None, [1, 2], {}, {"claim_id": {"nested": 1}}, {"claim_id": ["J45"]}, {"a": "x\\"},
                {"claim_id": 'a "quoted" \\ "word"'}, {"claim_id": "line\nbreak\ttab"}, {"claim_id": "{[,]}"},
                # where one element ends and the next starts on a line of the array, inside a string
                {"claim_id": "a},{b"}, {"claim_id": 'x"}, {"y'}, {"claim_id": "},{", "note": "}, {"}]  # fmt: skip


def _one_at_a_time(content: bytes, block_bytes: int, monkeypatch: pytest.MonkeyPatch) -> list[dict]:
    with monkeypatch.context() as patched:
        patched.setattr(reader, "_json_tables", lambda: None)
        return _rows(content, block_bytes, "claims.json")


@st.composite
def json_documents(draw: st.DrawFn) -> bytes:
    """An array of claims as APIs and tools write it: on one line or pretty, maybe under a key of an object, or
    objects one after another; sometimes cut short. Every object holds every insurance key: the layout is read
    from the objects of a file's first batch, which is a block read as one table, or up to 65,536 elements read one
    at a time, so a file whose first objects lack the layout's keys may be rejected at a block, or read when
    later elements of the same batch hold them. Files have them from their first object (the same test for JSON
    lines above draws objects with keys missing)."""
    records = draw(json_records(ODD_ELEMENTS, every_key=True))
    ascii_only, indent = draw(st.booleans()), draw(st.sampled_from([None, 1, 2, "\t"]))
    shape = draw(st.sampled_from(["array", "under a key", "one after another"]))
    if shape == "array":
        text = json.dumps(records, indent=indent, ensure_ascii=ascii_only)
    elif shape == "under a key":
        text = json.dumps({"count": len(records), "claims": records, "next": None}, indent=indent,
                          ensure_ascii=ascii_only)  # fmt: skip
    else:
        text = "\n".join(json.dumps(record, indent=indent, ensure_ascii=ascii_only) for record in records)
    content = text.encode()
    if draw(st.integers(0, 9)) == 0:
        content = content[: draw(st.integers(1, len(content)))]
    return content


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(content=json_documents(), block_bytes=st.sampled_from([256, 1024, 1 << 20]))
def test_a_json_document_reads_the_same_rows_by_block_and_element_by_element(content, block_bytes, monkeypatch):
    _assert_reads_as(lambda: _one_at_a_time(content, block_bytes, monkeypatch), content, block_bytes, "claims.json")


@pytest.mark.parametrize("indent", [None, 2])
def test_a_large_json_array_is_read_by_pyarrow(indent, monkeypatch):
    """The usual export (pandas ``to_json(orient="records")``, ``json.dump`` of a list) takes the fast path: no
    element goes through Python's ``json``."""
    from fraud_lakehouse.claims import json_document

    records = [dict.fromkeys(INSURANCE_KEYS, "x") | {"claim_id": f"C{i}", "service_date": "01/06/2025",
                                                     "charge_amount": 120.5 + i} for i in range(5_000)]  # fmt: skip
    # pandas writes a slash as \/ (an escape Python's json reads as the slash)
    content = json.dumps(records, indent=indent).replace("/", "\\/").encode()

    def no_element(self):
        raise AssertionError("an element was read by Python's json")

    monkeypatch.setattr(json_document.JsonDocument, "_element", no_element)
    rows = _rows(content, 64 * 1024, "claims.json")
    assert [row["row_number"] for row in rows] == list(range(1, 5_001))
    assert rows[0]["charge_amount"] == "120.5" and rows[1]["claim_id"] == "C1"
    assert rows[0]["service_date"] == "01/06/2025"


@pytest.mark.parametrize("block_bytes", [1024, 1 << 20])
def test_an_array_on_one_line_with_elements_apart_inside_its_strings(block_bytes, monkeypatch):
    """An array on one line is split where an object ends and the next starts; the same text inside a string is
    no such place, and the rows are those read element by element."""
    records = [dict.fromkeys(INSURANCE_KEYS, "x") | {"claim_id": f"C{i}", "note": ["a},{b", 'c"}, {"d', "e"][i % 3]}
               for i in range(40)]  # fmt: skip
    for separators in [(",", ":"), (", ", ": ")]:
        content = json.dumps(records, separators=separators).encode()
        rows = _rows(content, block_bytes, "claims.json")
        assert rows == _one_at_a_time(content, block_bytes, monkeypatch)
        assert [row["claim_id"] for row in rows] == [f"C{i}" for i in range(40)]
