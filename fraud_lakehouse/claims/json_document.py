"""A JSON document (an array of claims, or JSON values over any lines) read element by element.

``JsonDocument(stream, first, block_bytes, max_record_bytes).records()`` yields the elements as records,
numbered by their place in the file, a batch at a time. The array may also be the value of a key of one object
around it, as APIs export (``{"claims": [...], "count": 2}``), or of an object inside it under a key, up to
``MAX_ENCLOSING_OBJECTS`` deep: the other values are read past. Memory holds a block and one element. An element
that is no object is a broken record; a document that breaks (a syntax error, an element over the record limit,
a second array of objects beside the first) rejects the file, since where its next element starts, or which
array holds the claims, is unknown.
"""

from __future__ import annotations

import codecs
import json
from collections.abc import Iterator
from typing import BinaryIO

from fraud_lakehouse.claims.model import column_name
from fraud_lakehouse.claims.rejection import RejectedFile

# How many objects may enclose a JSON document's array of claims ({"response": {"data": {"claims": [...]}}}: 3).
MAX_ENCLOSING_OBJECTS = 4
# Elements of a JSON document per batch.
JSON_RECORDS_PER_BATCH = 65_536
# A JSON record: its number, its object (None: broken), the problem, its text.
JsonRecord = tuple[int, dict | None, str | None, str]
BLANK = " \t\r\n"


def is_json_document(first: bytes, lines_named: bool = False) -> bool:
    """Whether a block that starts with ``[`` or ``{`` is a JSON document (an array of objects, or values over
    several lines) rather than JSON lines: its first line is no whole JSON value, or it is the only line and an
    array (``json.dumps`` of a list) or, unless the file is named as JSON lines (``lines_named``: one claim with
    line items is one record), an object holding an array of objects."""
    lines = [line for line in first.removeprefix(b"\xef\xbb\xbf").splitlines() if line.strip()]
    try:
        value = json.loads(lines[0])
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

    def __init__(self, stream: BinaryIO, first: bytes, block_bytes: int, max_record_bytes: int):
        self.stream, self.block_bytes, self.max_record_bytes = stream, block_bytes, max_record_bytes
        self.decoder = json.JSONDecoder()
        self.text_of = codecs.getincrementaldecoder("utf-8")()
        self.text, self.position, self.exhausted = "", 0, False
        self.number, self.state, self.wrapped, self.enclosing = 0, "start", False, 0
        self._more(first.removeprefix(b"\xef\xbb\xbf"))

    def records(self) -> Iterator[list[JsonRecord]]:
        """The document's elements as records, ``JSON_RECORDS_PER_BATCH`` at a time."""
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
