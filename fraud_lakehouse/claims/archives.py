"""Landed files that hold claims files inside them: a ZIP archive, a spreadsheet workbook (Excel .xlsx, .xlsb and
.xls, OpenDocument .ods).

``files_in_zip(open_zip(stream))`` opens the files of a ZIP archive (what a download or an e-mail attachment holds);
``workbook_as_csv(stream, kind, is_header)`` reads a workbook's sheet of claims as CSV text, so every rule of
reading a CSV file (headers, layouts, broken records, row numbers) holds for it unchanged. A ZIP member is
decompressed as it is read; a workbook is read with calamine (python-calamine, Rust: a sheet read 10x faster
than row by row in openpyxl's read-only mode; docs/claims.md), which holds the sheet's cells while its rows
are handed on: a sheet has at most 1,048,576 rows.
"""

from __future__ import annotations

import csv
import datetime as dt
import functools
import io
import math
import posixpath
import zipfile
from collections.abc import Callable, Iterable, Iterator
from typing import BinaryIO

from fraud_lakehouse.claims.rejection import RejectedFile

ZIP_MAGIC = b"PK\x03\x04"
# An OLE2 compound document: an Excel 97-2003 workbook (.xls), or a Word or Outlook file.
OLE2_MAGIC = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"
# What marks a ZIP archive as a workbook: Excel's workbook part (XML in .xlsx, binary in .xlsb), OpenDocument's
# first member, which names the document's type.
WORKBOOK_PARTS = {"xl/workbook.xml": "xlsx", "xl/workbook.bin": "xlsb"}
ODS_MIMETYPE = b"application/vnd.oasis.opendocument.spreadsheet"
# Rows of a sheet looked at for its header (a report's title and comment rows come first).
HEADER_SEARCH_ROWS = 11
# CSV text handed on at a time.
TEXT_BYTES = 1024**2


def is_zip(head: bytes) -> bool:
    return head.startswith(ZIP_MAGIC)


def open_zip(stream: BinaryIO) -> zipfile.ZipFile:
    try:
        return zipfile.ZipFile(stream)
    except (zipfile.BadZipFile, OSError, EOFError) as error:
        raise RejectedFile("unreadable_zip", f"the ZIP archive is corrupt or truncated ({error})") from None


def is_ole2(head: bytes) -> bool:
    return head.startswith(OLE2_MAGIC)


def workbook_kind(archive: zipfile.ZipFile) -> str | None:
    """What kind of workbook the ZIP archive is (xlsx, xlsb, ods), None for an archive of files."""
    names = archive.namelist()
    for part, kind in WORKBOOK_PARTS.items():
        if part in names:
            return kind
    if "mimetype" in names and "content.xml" in names:
        try:
            if archive.read("mimetype").strip() == ODS_MIMETYPE:
                return "ods"
        except (zipfile.BadZipFile, NotImplementedError, OSError):
            return None
    return None


def files_in_zip(archive: zipfile.ZipFile) -> list[tuple[str, Callable[[], BinaryIO]]]:
    """The files of a ZIP archive in name order, each with what opens its (decompressing) stream; folders and
    what macOS and Windows add (``__MACOSX/``, ``.DS_Store``, ``Thumbs.db``) do not count. Raises ``RejectedFile``
    for an archive of no file or with an encrypted one."""
    files = sorted(
        (
            info
            for info in archive.infolist()
            if not info.is_dir()
            and not info.filename.startswith("__MACOSX/")
            and posixpath.basename(info.filename) not in (".DS_Store", "Thumbs.db", "desktop.ini")
        ),
        key=lambda info: info.filename,
    )
    if not files:
        raise RejectedFile("empty_archive", "the ZIP archive holds no file")
    encrypted = [info.filename for info in files if info.flag_bits & 0x1]
    if encrypted:
        raise RejectedFile("unreadable_zip", f"{encrypted[0]} in the ZIP archive is encrypted")
    return [(info.filename, functools.partial(_open_member, archive, info)) for info in files]


def _open_member(archive: zipfile.ZipFile, info: zipfile.ZipInfo) -> BinaryIO:
    try:
        return archive.open(info)  # type: ignore[return-value]
    except (zipfile.BadZipFile, NotImplementedError, OSError) as error:
        raise RejectedFile("unreadable_zip", f"{info.filename} cannot be read from the archive ({error})") from None


def cell_text(value: object) -> str:
    """A cell's value as the text a CSV export of it holds: a whole number without a decimal point (an id or a
    code typed as a number, 1001, not 1001.0), other numbers in the fewest digits that read back the same,
    times and dates in ISO form, booleans as true/false, an empty cell as nothing."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        if math.isfinite(value) and value.is_integer() and abs(value) < 1e15:
            return str(int(value))
        return repr(value)
    if isinstance(value, dt.datetime):
        return value.isoformat(sep=" ")
    if isinstance(value, dt.date | dt.time):
        return value.isoformat()
    return str(value)


def _row_cells(row: Iterable[object]) -> list[str]:
    """A sheet row's cells as text, without the empty cells at its end (a sheet's rows come padded to its
    width, which may be wider than its data)."""
    cells = [cell_text(value) for value in row]
    while cells and not cells[-1]:
        cells.pop()
    return cells


def workbook_as_csv(stream: BinaryIO, kind: str, is_header: Callable[[list[str]], bool]) -> tuple[str, BinaryIO]:
    """The name of a workbook's sheet of claims and that sheet as CSV text: the first sheet with a header
    (``is_header``) in its first ``HEADER_SEARCH_ROWS`` rows that are not empty, else the first sheet (its first row
    then names what is wrong). The data rows take the header's width (the empty cells at their end count as
    empty values). ``kind`` (xlsx, xlsb, xls, ods) names it in an error; calamine tells the format itself."""
    from python_calamine import CalamineWorkbook

    try:
        workbook = CalamineWorkbook.from_filelike(stream)
        names = workbook.sheet_names
        if not names:
            raise RejectedFile("unreadable_workbook", "the workbook has no worksheet")
        for name in names:
            rows = iter(workbook.get_sheet_by_name(name).iter_rows())
            looked_at: list[list[str]] = []
            for row in rows:
                cells = _row_cells(row)
                looked_at.append(cells)
                if cells and is_header(cells):
                    return name, _CsvText(_csv_lines(looked_at, len(cells), rows))
                if sum(1 for seen in looked_at if seen) >= HEADER_SEARCH_ROWS:
                    break
        return names[0], _CsvText(_csv_lines([], 0, iter(workbook.get_sheet_by_name(names[0]).iter_rows())))
    except RejectedFile:
        raise
    except Exception as error:  # calamine raises its own kinds for a broken workbook
        if kind == "xls":  # an OLE2 file: Excel 97-2003, a password-protected workbook of any kind, Word, Outlook
            detail = (
                f"the file is an Office file that calamine cannot read as an .xls workbook ({type(error).__name__}):"
                " a password-protected workbook, or a Word or Outlook file? Export the sheet as CSV"
            )
        else:
            detail = f"the {kind} workbook cannot be read ({type(error).__name__})"
        raise RejectedFile("unreadable_workbook", detail) from None


def _csv_lines(seen: list[list[str]], width: int, rest: Iterator[tuple]) -> Iterator[bytes]:
    """CSV text of the rows already read (``seen``, the header last) and the rest; a data row shorter than the
    header (``width``) is padded with empty values, since its end was empty cells."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    for cells in seen:
        writer.writerow(cells)
    for row in rest:
        cells = _row_cells(row)
        writer.writerow(cells + [""] * (width - len(cells)) if cells else cells)
        if buffer.tell() >= TEXT_BYTES:
            yield buffer.getvalue().encode("utf-8")
            buffer.seek(0)
            buffer.truncate()
    yield buffer.getvalue().encode("utf-8")


class ReadStream(io.RawIOBase):
    """A readable stream whose subclass gives ``read``."""

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:  # type: ignore[no-untyped-def]
        data = self.read(len(buffer))
        buffer[: len(data)] = data
        return len(data)


class _CsvText(ReadStream):
    """A readable stream over generated bytes."""

    def __init__(self, chunks: Iterator[bytes]):
        self.chunks, self.pending = chunks, b""

    def read(self, size: int = -1) -> bytes:
        if size is None or size < 0:
            data, self.pending = self.pending + b"".join(self.chunks), b""
            return data
        while len(self.pending) < size:
            chunk = next(self.chunks, None)
            if chunk is None:
                break
            self.pending += chunk
        data, self.pending = self.pending[:size], self.pending[size:]
        return data
