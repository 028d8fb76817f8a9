"""A JSON document (an array of claims, or JSON values over any lines) read element by element.

``JsonDocument(stream, first, block_bytes, max_record_bytes).records()`` yields the elements as records,
numbered by their place in the file, a batch at a time. The array may also be the value of a key of one object
around it, as APIs export (``{"claims": [...], "count": 2}``), or of an object inside it under a key, up to
``MAX_ENCLOSING_OBJECTS`` deep: the other values are read past. Memory holds a few blocks and one element. Where a
block's elements are all flat objects, they are handed on a block at a time as JSON lines (``tables``, pyarrow's
reader in the claims reader); others are read one at a time with Python's ``json``. An element that is no object
is a broken record; a document that breaks (a syntax error, an element over the record limit,
a second array of objects beside the first) rejects the file, since where its next element starts, or which
array holds the claims, is unknown.
"""

from __future__ import annotations

import codecs
import json
from collections.abc import Callable, Iterator
from typing import BinaryIO

import numpy as np

from fraud_lakehouse.claims.model import column_name
from fraud_lakehouse.claims.rejection import RejectedFile

# How many objects may enclose a JSON document's array of claims ({"response": {"data": {"claims": [...]}}}: 3).
MAX_ENCLOSING_OBJECTS = 4
# Elements of a JSON document per batch.
JSON_RECORDS_PER_BATCH = 65_536
# A JSON record: its number, its object (None: broken), the problem, its text.
JsonRecord = tuple[int, dict | None, str | None, str]
# Elements handed on as JSON lines: (the lines, how many, the first one's number) -> a table of them, or None when
# they are to be read one at a time.
TableOfLines = Callable[[bytes, int, int], object | None]
BLANK = " \t\r\n"


def is_json_document(first: bytes, lines_named: bool = False) -> bool:
    """Whether a block that starts with ``[`` or ``{`` is a JSON document (an array of objects, or values over
    several lines) rather than JSON lines: its first line is no whole JSON value, or it is the only line and an
    array (``json.dumps`` of a list) or, unless the file is named as JSON lines (``lines_named``: one claim with
    line items is one record), an object holding an array of objects."""
    lines = [line for line in first.removeprefix(b"\xef\xbb\xbf").splitlines() if line.strip()]
    try:
        # A line holding a byte that is no UTF-8 is still one whole JSON value (the file is read as Windows-1252
        # later, or that record quarantined): it does not make the file a document.
        value = json.loads(lines[0].decode("utf-8", errors="replace"))
    except ValueError:
        return True
    if len(lines) != 1:
        return False
    # one line: json.dumps of a list, or of an object that holds the claims as an array of objects (maybe inside
    # objects under keys)
    return isinstance(value, list) or (not lines_named and _holds_array_of_objects(value, 1))


def _holds_array_of_objects(value: object, depth: int) -> bool:
    """Whether ``value`` is an object with an array of objects under a key, or inside an object under a key, at
    most ``MAX_ENCLOSING_OBJECTS`` objects deep."""
    if not isinstance(value, dict) or depth > MAX_ENCLOSING_OBJECTS:
        return False
    return any(
        (isinstance(v, list) and v and all(isinstance(e, dict) for e in v)) or _holds_array_of_objects(v, depth + 1)
        for v in value.values()
    )


class JsonDocument:
    """The reading of one JSON document: the text decoded so far from ``position`` on, and where the reading is
    (``state``): start, array_first, array_next, closed (after the document), values (one after another), and
    around (the rest of the objects around the array, ``enclosing`` of them still open)."""

    def __init__(self, stream: BinaryIO, first: bytes, block_bytes: int, max_record_bytes: int,
                 tables: TableOfLines | None = None):  # fmt: skip
        self.stream, self.block_bytes, self.max_record_bytes = stream, block_bytes, max_record_bytes
        self.tables = tables
        self.decoder = json.JSONDecoder()
        self.text_of = codecs.getincrementaldecoder("utf-8")()
        self.text, self.position, self.exhausted = "", 0, False
        # where ``text`` starts in the document (characters), and up to where elements are read one at a time
        self.text_start, self.one_at_a_time_until = 0, 0
        self.number, self.state, self.wrapped, self.enclosing = 0, "start", False, 0
        self._more(first.removeprefix(b"\xef\xbb\xbf"))

    def records(self) -> Iterator[list[JsonRecord] | object]:
        """The document's elements as records, ``JSON_RECORDS_PER_BATCH`` at a time, or as the tables ``tables``
        makes of a block's elements."""
        records: list[JsonRecord] = []
        while True:
            character = self._following()
            if self.state == "start" and self._start(character):
                continue
            if self.state in ("array_first", "array_next") and character == "]":
                self.position += 1
                self.state = "around" if self.wrapped else "closed"
                continue
            if self.state == "around":
                self._around(character)
                continue
            if self.tables is not None and character and self.state in ("array_first", "array_next", "values"):
                table = self._table_of_elements(character)
                if table is not None:
                    if records:
                        yield records
                        records = []
                    yield table
                    continue
            if self.state == "array_next":
                if character != ",":
                    problem = f"expected ',' or ']', found {character!r}" if character else "the ']' is missing"
                    raise self._broken(problem)
                self.position += 1
                character = self._following()
            if self.state == "closed":
                if character:
                    raise self._broken("text after the document's end" + ("" if self.wrapped else " (its closing ']')"))
                break
            if not character:
                if self.state.startswith("array"):
                    raise self._broken("the ']' is missing")
                break
            records.append(self._element())
            if len(records) >= JSON_RECORDS_PER_BATCH:
                yield records
                records = []
        if not self.number:
            raise RejectedFile("no_rows", "the JSON document holds no elements")
        if records:
            yield records

    # -- where the reading is -------------------------------------------------------------------------------

    def _start(self, character: str) -> bool:
        """At the document's first character: into the array of claims (True), else values one after another."""
        found = self._wrapped_array(0, 1) if character == "{" else None
        if found is not None:
            self.position += found[0]
            self.state, self.wrapped, self.enclosing = "array_first", True, found[1]
            return True
        if character == "[":
            self.position += 1
            self.state = "array_first"
            return True
        self.state = "values"
        return False

    def _around(self, character: str) -> None:
        """After the array: the rest of the objects around it, read past (a second array of objects breaks it)."""
        if character == "}":
            self.position += 1
            self.enclosing -= 1
            self.state = "around" if self.enclosing else "closed"
            return
        if character != ",":
            raise self._broken(f"expected ',' or '}}' in the object around the array, found {character!r}"
                               if character else "the object around the array is not closed")  # fmt: skip
        character, offset = self._ahead(1)
        key = self._value_ahead(offset) if character == '"' else None
        colon, offset = self._ahead(key[1]) if key is not None else ("", 0)
        if key is None or colon != ":":
            raise self._broken("expected a key and ':' in the object around the array")
        if self._array_of_objects_ahead(offset + 1) is not None:
            raise self._broken(f"a second array of objects, under {key[0]!r}: land one array of claims per file")
        value = self._value_ahead(self._ahead(offset + 1)[1])
        if value is None:
            raise self._broken(f"the value of {key[0]!r} does not read as JSON")
        self.position += value[1]

    def _element(self) -> JsonRecord:
        """The element at the position, as a record; the position moves past it."""
        while True:
            try:
                value, end = self.decoder.raw_decode(self.text, self.position)
                # a value that ends with the text read so far may go on (a number): read on to be sure
                if end < len(self.text) or not self._more():
                    break
            except json.JSONDecodeError as error:
                if len(self.text) - self.position > self.max_record_bytes:
                    raise self._broken(f"no complete value within {self.max_record_bytes} bytes") from None
                if not self._more():
                    raise self._broken(f"{error.msg} (character {error.pos - self.position + 1} of it)") from None
        self.number += 1
        source, self.position = self.text[self.position : end], end
        if self.state == "array_first":
            self.state = "array_next"
        if isinstance(value, dict):
            return self.number, {column_name(str(k)): v for k, v in value.items()}, None, source
        return self.number, None, "not_json_object: the element is not a JSON object", source

    def _table_of_elements(self, character: str) -> object | None:
        """The complete elements of the next block as one table (``tables``), when all are flat objects and the
        table reads; the position moves past them. Else None, and the elements of that block are read one at a
        time."""
        comma = int(self.state == "array_next")
        if comma and character != ",":
            return None
        if self.text_start + self.position < self.one_at_a_time_until:
            return None
        while len(self.text) - self.position < self.block_bytes + comma and self._more():
            pass
        start = self.position + comma
        text = self.text[start:]
        encoded = text.encode("utf-8")
        found = None
        for lines, count, used in object_elements_as_lines(encoded, self.state != "values", self.max_record_bytes):
            table = self.tables(lines, count, self.number + 1)  # type: ignore[misc]
            if table is not None:
                found = table, count, used
                break
        if found is None:
            self.one_at_a_time_until = self.text_start + len(self.text)
            return None
        table, count, used = found
        self.position = start + (used if text.isascii() else len(encoded[:used].decode("utf-8")))
        self.number += count
        if self.state == "array_first":
            self.state = "array_next"
        return table

    def _broken(self, problem: str) -> RejectedFile:
        if self.state in ("closed", "around"):
            at = "end"
        else:
            at = f"{'element' if self.state.startswith('array') else 'value'} {self.number + 1}"
        return RejectedFile("invalid_json", f"the JSON document breaks at its {at}: {problem}")

    # -- reading ahead ------------------------------------------------------------------------------------

    def _more(self, block: bytes | None = None) -> bool:
        """Decodes the next block onto the text (dropping what is before the position); False at the end."""
        if self.exhausted:
            return False
        block = self.stream.read(self.block_bytes) if block is None else block
        try:
            decoded = self.text_of.decode(block, final=not block)
        except UnicodeDecodeError:
            raise RejectedFile("not_text", "the JSON document is not UTF-8 text") from None
        self.text_start += self.position
        self.text, self.position = self.text[self.position :] + decoded, 0
        self.exhausted = not block
        return True

    def _following(self) -> str:
        """The next character that is not blank space ('' at the end of the document); the position moves to it."""
        while True:
            while self.position < len(self.text) and self.text[self.position] in BLANK:
                self.position += 1
            if self.position < len(self.text):
                return self.text[self.position]
            if not self._more():
                return ""

    def _ahead(self, offset: int) -> tuple[str, int]:
        """The first character that is not blank space at or after ``offset`` characters past the position, and its
        offset ('' at the end of the document); reads on, keeping the position."""
        while True:
            while self.position + offset < len(self.text) and self.text[self.position + offset] in BLANK:
                offset += 1
            if self.position + offset < len(self.text):
                return self.text[self.position + offset], offset
            if not self._more():
                return "", offset

    def _value_ahead(self, offset: int) -> tuple[object, int] | None:
        """The JSON value that starts ``offset`` characters past the position, and the offset after it; None when
        none does within the record limit."""
        while True:
            try:
                value, end = self.decoder.raw_decode(self.text, self.position + offset)
                if end < len(self.text) or not self._more():
                    return value, end - self.position
            except json.JSONDecodeError:
                if len(self.text) - self.position - offset > self.max_record_bytes or not self._more():
                    return None

    def _array_of_objects_ahead(self, offset: int) -> int | None:
        """When a value ``offset`` characters past the position is an array of objects, the offset just after its
        '['."""
        character, offset = self._ahead(offset)
        if character != "[":
            return None
        character, _ = self._ahead(offset + 1)
        return offset + 1 if character == "{" else None

    def _wrapped_array(self, start: int, depth: int) -> tuple[int, int] | None:
        """When the object ``start`` characters past the position holds an array of objects under a key, or inside
        an object under a key (``{"data": {"claims": [...]}}``, at most ``MAX_ENCLOSING_OBJECTS`` deep): the offset
        just past the array's '[' and how many objects enclose it. Only the values before the array are read, one
        at a time."""
        offset = start + 1
        while True:
            character, offset = self._ahead(offset)
            key = self._value_ahead(offset) if character == '"' else None
            if key is None:
                return None
            character, offset = self._ahead(key[1])
            if character != ":":
                return None
            inside = self._array_of_objects_ahead(offset + 1)
            if inside is not None:
                return inside, depth
            character, offset = self._ahead(offset + 1)
            if character == "{" and depth < MAX_ENCLOSING_OBJECTS:
                found = self._wrapped_array(offset, depth + 1)
                if found is not None:
                    return found
            value = self._value_ahead(offset)
            if value is None:
                return None
            character, offset = self._ahead(value[1])
            if character != ",":
                return None  # the object ends (or breaks) without an array of objects: it is a record
            offset += 1


# What each byte is to the search for elements (0: nothing to it).
QUOTE, OPENING, CLOSING, COMMA, CONTROL = 1, 2, 3, 4, 5
BYTE_KINDS = np.zeros(256, np.int8)
BYTE_KINDS[:0x20] = CONTROL
BYTE_KINDS[[ord('"'), ord("{"), ord("["), ord("}"), ord("]"), ord(",")]] = [QUOTE, OPENING, OPENING, CLOSING,
                                                                             CLOSING, COMMA]  # fmt: skip
BLANK_BYTES = BLANK.encode()


def object_elements_as_lines(text: bytes, separated: bool, max_record_bytes: int) -> Iterator[tuple[bytes, int, int]]:
    """The complete elements at the start of ``text`` as JSON lines (``_searched_elements_as_lines``), found the
    fast way for an array on one line first (``_compact_elements_as_lines``); the next way only when the lines
    found do not read. Nothing when they are not all flat objects."""
    if separated and b"\n" not in text and b"\r" not in text:
        compact = _compact_elements_as_lines(text)
        if compact is not None:
            yield compact
    searched = _searched_elements_as_lines(text, separated, max_record_bytes)
    if searched is not None:
        yield searched


def _searched_elements_as_lines(text: bytes, separated: bool, max_record_bytes: int) -> tuple[bytes, int, int] | None:
    """The complete elements at the start of ``text`` (a document's text from an element on: an array's, with a
    comma between two when ``separated``, or values one after another) as JSON lines: one element a line, how
    many, and how many bytes of ``text`` they take. Found with array arithmetic over the block's quotes, brackets
    and commas, not a character at a time. None when one of them is no flat object (an element that is text, a
    number or an array, or an object holding an object or an array), is larger than ``max_record_bytes`` or
    holds a control character in its text (which Python's ``json`` does not read), when what stands between them
    is not as ``separated`` says, or when no element is complete."""
    # an escaped backslash, then an escaped quote, is no quote: both become two bytes of nothing (in place, so
    # every other byte keeps its offset)
    scanned = text.replace(b"\\\\", b"__").replace(b'\\"', b"__") if b"\\" in text else text
    codes = np.frombuffer(scanned, np.uint8)
    kinds = BYTE_KINDS[codes]
    at = np.flatnonzero(kinds)  # the bytes that matter, and what each is
    kind = kinds[at]
    # an opening quote is inside its string; the closing quote is not
    inside = (np.cumsum(kind == QUOTE, dtype=np.int32) & 1).astype(bool)
    if (inside & (kind == CONTROL)).any():
        return None
    step = np.zeros(len(at), np.int32)
    step[~inside & (kind == OPENING)] = 1
    step[~inside & (kind == CLOSING)] = -1
    depth = np.cumsum(step, dtype=np.int32)  # after each byte
    negative = np.flatnonzero(depth < 0)  # the array's closing ']' (or a stray one): the elements end before it
    limit = int(negative[0]) if negative.size else len(at)
    closing = np.flatnonzero((step[:limit] == -1) & (depth[:limit] == 0))
    if not closing.size:
        return None
    complete = int(closing[-1]) + 1
    if (depth[:complete] > 1).any():
        return None
    starts = at[np.flatnonzero((step[:complete] == 1) & (depth[:complete] == 1))]
    ends = at[closing]
    if (codes[starts] != ord("{")).any() or int((ends - starts).max()) >= max_record_bytes:
        return None
    if text[: starts[0]].strip(BLANK_BYTES):
        return None
    gaps = starts[1:] - ends[:-1] - 1
    if separated and (gaps == 1).all():
        between = bool((codes[ends[:-1] + 1] == ord(",")).all())
    elif not separated and (gaps == 0).all():
        between = True
    else:
        between = all(text[end + 1 : start].strip(BLANK_BYTES) == (b"," if separated else b"")
                      for end, start in zip(ends[:-1].tolist(), starts[1:].tolist(), strict=True))  # fmt: skip
    if not between:
        return None
    used = int(ends[-1]) + 1
    # line breaks are only ever outside strings (inside, they were control characters)
    body = text[:used].replace(b"\n", b" ").replace(b"\r", b" ")
    lines = b"\n".join(body[start : end + 1] for start, end in zip(starts.tolist(), ends.tolist(), strict=True))
    return lines, int(ends.size), used


# How arrays on one line put one object after another: pandas' to_json and compact json.dumps, json.dumps.
ELEMENTS_APART = (b"},{", b"}, {")


def _compact_elements_as_lines(text: bytes) -> tuple[bytes, int, int] | None:
    """``object_elements_as_lines`` for an array written on one line (``ELEMENTS_APART``), by splitting it where
    an object ends and the next starts, up to the last such place: much faster than the search over every quote,
    and exact as long as the lines are then read as JSON (pyarrow's reader checks them). A split inside a string
    value leaves the line before it with an odd number of quotes (the string is open), which is no JSON, so the
    block is searched quote by quote instead; an element that is no flat object fails the read the same way."""
    first = len(text) - len(text.lstrip(BLANK_BYTES))
    used = max(text.rfind(apart) for apart in ELEMENTS_APART) + 1
    if text[first : first + 1] != b"{" or used <= first:
        return None
    lines = text[first:used]
    for apart in ELEMENTS_APART:
        lines = lines.replace(apart, b"}\n{")
    return lines, lines.count(b"\n") + 1, used
