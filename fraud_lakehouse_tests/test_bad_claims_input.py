"""The bad-input corpus: every bad file is rejected with a reason, every bad row quarantined with one, and no
good row is lost. File-level cases run in plain Python; the rows go through silver on the engine."""

import bz2
import datetime as dt
import gzip
import io
import json
import lzma
import os
import tempfile
import zipfile
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from pyspark.sql import functions as F

from fraud_lakehouse.claims import silver as silver_module
from fraud_lakehouse.claims.ingest import raw_frame, raw_table, read_claims_bytes
from fraud_lakehouse.claims.landing import file_date
from fraud_lakehouse.claims.reader import RejectedFile
from fraud_lakehouse.claims.silver import (
    ValidationRules,
    candidates_from_raw,
    file_formats,
    quarantine_candidates,
    quarantined_claims,
    silver_claims,
    validate,
)

DAY = dt.date(2025, 1, 1)
HEADER = (
    "claim_id,patient_id,provider_id,provider_name,procedure_code,diagnosis_code,service_date,submitted_date,"
    "charge_amount,paid_amount,patient_state,provider_state,place_of_service"
)
KAGGLE_HEADER = (
    "trans_date_trans_time,cc_num,merchant,category,amt,first,last,gender,street,city,state,zip,lat,long,"
    "city_pop,job,dob,trans_num,unix_time,merch_lat,merch_long,is_fraud"
)


def claim(claim_id="C1", patient="P1", amount="120.50", service="2025-01-01", state="CA", provider="PR1") -> str:
    return f"{claim_id},{patient},{provider},Clinic,99213,J45,{service},2025-01-01,{amount},100,{state},CA,11"


def card(trans_num="t1", when="2025-01-01 01:02:03", amt="12.5", lat="30.2", label="0") -> str:
    return (
        f"{when},4263982640269299,Shop,misc_net,{amt},Jane,Doe,F,1 Main St,Austin,TX,78701,{lat},-97.7,"
        f"900000,Nurse,1980-01-01,{trans_num},1325376018,30.5,-97.9,{label}"
    )


def csv_file(*rows: str, header: str = HEADER) -> bytes:
    return ("\n".join([header, *rows]) + "\n").encode()


def parquet_file(frame: pd.DataFrame) -> bytes:
    sink = io.BytesIO()
    pq.write_table(pa.Table.from_pandas(frame, preserve_index=False), sink)
    return sink.getvalue()


def zipped(name: str, content: bytes, *more: tuple[str, bytes]) -> bytes:
    sink = io.BytesIO()
    with zipfile.ZipFile(sink, "w", zipfile.ZIP_DEFLATED) as archive:
        for member, data in ((name, content), *more):
            archive.writestr(member, data)
    return sink.getvalue()


def workbook(*sheets: tuple[str, list[list]], kind: str = "xlsx") -> bytes:
    """A workbook with these sheets (title, rows) as Excel (openpyxl: xlsx; xlwt: 97-2003 xls; pyxlsbwriter:
    binary xlsb) or LibreOffice (odfpy through pandas: ods) writes it."""
    sink = io.BytesIO()
    if kind == "xlsx":
        import openpyxl

        book = openpyxl.Workbook()
        book.remove(book.active)
        for title, rows in sheets:
            sheet = book.create_sheet(title)
            for row in rows:
                sheet.append(row)
        book.save(sink)
    elif kind == "xls":
        import xlwt

        styles = {dt.datetime: xlwt.easyxf(num_format_str="YYYY-MM-DD hh:mm:ss"),
                  dt.date: xlwt.easyxf(num_format_str="YYYY-MM-DD")}  # fmt: skip
        book = xlwt.Workbook()
        for title, rows in sheets:
            sheet = book.add_sheet(title)
            for row_index, row in enumerate(rows):
                for column, value in enumerate(row):
                    if value is not None:
                        sheet.write(row_index, column, value, *[styles[type(value)]] if type(value) in styles else [])
        book.save(sink)
    elif kind == "ods":
        with pd.ExcelWriter(sink, engine="odf") as book:
            for title, rows in sheets:
                pd.DataFrame(rows).to_excel(book, sheet_name=title, header=False, index=False)
    else:
        import pyxlsbwriter

        with tempfile.TemporaryDirectory() as folder:
            path = os.path.join(folder, "book.xlsb")
            with pyxlsbwriter.XlsbWriter(path) as book:
                for title, rows in sheets:
                    width = max(len(row) for row in rows)
                    book.add_sheet(title)
                    book.write_sheet([row + [None] * (width - len(row)) for row in rows])
            return Path(path).read_bytes()
    return sink.getvalue()


def json_claims(*claim_ids: str) -> list[dict]:
    names = HEADER.split(",")
    return [dict(zip(names, claim(claim_id).split(","), strict=True)) for claim_id in claim_ids]


def truncated_gzip() -> bytes:
    return gzip.compress(csv_file(claim()))[:-12]


# name, content, rejection reason
REJECTED_FILES = [
    ("empty.csv", b"", "empty_file"),
    ("blank_lines.csv", b"\n\n   \n", "empty_file"),
    ("empty.csv.gz", gzip.compress(b""), "empty_file"),
    ("header_only.csv", csv_file(), "no_rows"),
    ("wrong_header.csv", b"a,b,c\n1,2,3\n", "unknown_layout"),
    ("missing_column.csv", csv_file(header=HEADER.replace(",charge_amount", "")), "unknown_layout"),
    ("no_header.csv", (claim() + "\n" + claim("C2") + "\n").encode(), "unknown_layout"),
    ("duplicate_header.csv", csv_file(header=HEADER + ",claim_id"), "bad_header"),
    ("two_labels.csv", csv_file(claim() + ",1,0", header=HEADER + ",is_fraud,label"), "bad_header"),
    ("binary.csv", bytes(range(256)) * 8, "not_text"),
    ("claims.csv.xz", lzma.compress(csv_file(claim())), "not_text"),
    ("fake.csv.gz", csv_file(claim()), "not_gzip"),
    ("truncated.csv.gz", truncated_gzip(), "unreadable_gzip"),
    ("binary_in_gzip.gz", gzip.compress(bytes(range(256)) * 8), "not_text"),
    ("broken.parquet", b"PAR1" + b"\x01\x02garbage" * 20, "unreadable_parquet"),
    ("wrong_columns.parquet", parquet_file(pd.DataFrame({"x": [1], "y": ["a"]})), "unknown_layout"),
    ("arrays.jsonl", b"[1, 2]\n[3]\n", "not_json_lines"),
    ("broken_array.json", json.dumps(json_claims("C1", "C2"), indent=2).encode()[:-40] + b"oops ]", "invalid_json"),
    ("unclosed_array.json", json.dumps(json_claims("C1", "C2"), indent=2).encode()[:-1], "invalid_json"),
    ("empty_array.json", b"[\n]\n", "no_rows"),
    ("claims.7z", b"7z\xbc\xaf\x27\x1c\x00\x04" + bytes(200), "not_text"),
    (
        "workbook.xlsx",
        zipped("xl/workbook.xml", b"<workbook", ("xl/worksheets/sheet1.xml", b"<x")),
        "unreadable_workbook",
    ),
    (
        "mixed.zip",
        zipped("a.csv", csv_file(claim()), ("b.csv", csv_file(card(), header=KAGGLE_HEADER))),
        "mixed_layouts",
    ),
    ("folders.zip", zipped("claims/", b"", ("__MACOSX/._a.csv", b"x")), "empty_archive"),
    ("bad_member.zip", zipped("a.csv", csv_file(claim()), ("b.pdf", b"%PDF-1.7\n")), "not_text"),
    ("nested.zip", zipped("inner.zip", zipped("claims.csv", csv_file(claim()))), "not_text"),
    ("cut.zip", zipped("claims.csv", csv_file(claim()))[:-30], "unreadable_zip"),
    ("claims.xls", b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + bytes(500), "unreadable_workbook"),
    ("workbook_in.zip", zipped("claims.xls", b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + bytes(500)), "not_text"),
    ("claims.csv.bz2", bz2.compress(csv_file(claim())), "not_text"),
    ("report.pdf", b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n1 0 obj\n<< /Type /Catalog >>\nendobj\n", "not_text"),
]


@pytest.mark.parametrize(("name", "content", "reason"), REJECTED_FILES, ids=[case[0] for case in REJECTED_FILES])
def test_bad_file_is_rejected_with_a_reason(name, content, reason):
    with pytest.raises(RejectedFile) as rejected:
        read_claims_bytes(name, content)
    assert rejected.value.reason == reason
    assert rejected.value.detail


@pytest.mark.parametrize(
    ("name", "content", "named"),
    [("nested.zip", zipped("inner.zip", zipped("x.xml", b"<x/>")), "ZIP archive (or a workbook)"),
     ("books.zip", zipped("book.xls", b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + bytes(100)), "Excel .xls workbook"),
     ("letter.doc", b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + bytes(100), "password-protected workbook, or a Word"),
     ("claims.csv.bz2", bz2.compress(csv_file(claim())), "bzip2-compressed")],
)  # fmt: skip
def test_a_binary_format_is_named_in_the_rejection(name, content, named):
    with pytest.raises(RejectedFile) as rejected:
        read_claims_bytes(name, content)
    assert named in rejected.value.detail


def test_a_zip_archive_of_one_claims_file_is_read_as_that_file():
    """Downloads and e-mail attachments come zipped: the one file inside is read (by its own name and content:
    CSV, gzip, JSON, Parquet); what macOS and Windows add to an archive does not count."""
    content = zipped("export/claims.csv", csv_file(claim(), claim("C2")), ("__MACOSX/export/._claims.csv", b"\x00\x05"),
                     ("export/.DS_Store", b"\x00"))  # fmt: skip
    table, summary = read_claims_bytes("claims.zip", content)
    assert table.column("claim_id").to_pylist() == ["C1", "C2"] and table.column("row_number").to_pylist() == [1, 2]
    assert summary.layout == "insurance" and summary.encoding == "utf-8 (zip: export/claims.csv)"
    frame = pd.read_csv(io.BytesIO(csv_file(claim("P1"))), dtype=str)
    table, _ = read_claims_bytes("claims.zip", zipped("claims.parquet", parquet_file(frame)))
    assert table.column("claim_id").to_pylist() == ["P1"]


def test_the_files_of_a_zip_archive_are_read_one_after_another_as_one_landed_file():
    """Kaggle's download of the card data is one archive of fraudTest.csv and fraudTrain.csv: its files are read
    in name order, each with its own header, numbered on from one to the next."""
    test = csv_file(card("t1"), card("t2"), header=KAGGLE_HEADER)
    train = csv_file(card("t3"), card("t4"), card("t5"), header=KAGGLE_HEADER)
    table, summary = read_claims_bytes("archive.zip", zipped("fraudTrain.csv", train, ("fraudTest.csv", test)))
    numbered = dict(zip(table.column("row_number").to_pylist(), table.column("trans_num").to_pylist(), strict=True))
    assert numbered == {1: "t1", 2: "t2", 3: "t3", 4: "t4", 5: "t5"}
    assert (summary.layout, summary.records) == ("sparkov", 5)
    assert summary.encoding == "utf-8 (zip: fraudTest.csv, fraudTrain.csv)"
    with pytest.raises(RejectedFile) as rejected:
        read_claims_bytes("archive.zip", zipped("a.csv", csv_file(claim()), ("b.pdf", b"%PDF-1.7\n")))
    assert rejected.value.detail.startswith("b.pdf in the archive: ")


@pytest.mark.parametrize("kind", ["xlsx", "xls", "xlsb", "ods"])
def test_a_workbook_is_read_from_its_sheet_of_claims(kind):
    """Claims kept in Excel (xlsx, the 97-2003 xls, the binary xlsb) or LibreOffice (ods): the first sheet with a
    header near its top is read as CSV would be (a title above the header kept as a record of its own); cells
    typed as numbers and dates read as their exports write them, and a row whose last cells are empty keeps them
    as empty values."""
    header = HEADER.split(",")
    claims = [
        ["Claims, January 2025"],
        [],
        header,
        [
            "C1",
            1001,
            "PR1",
            "Clinic\nNorth",
            99213,
            "J45",
            dt.date(2025, 1, 1),
            dt.datetime(2025, 1, 2, 10, 30),
            120.5,
            100,
            "CA",
            "CA",
            11,
        ],
        ["C2", "P2", "PR1", "Clinic", "99213", "J45", "2025-01-01", "2025-01-02", 0.25, None, "CA", "CA"],
    ]
    content = workbook(("Summary", [["Totals"], [2]]), ("Claims", claims), kind=kind)
    table, summary = read_claims_bytes(f"claims.{kind}", content)
    rows = {row["row_number"]: row for row in table.to_pylist()}
    assert sorted(rows) == [1, 2, 3] and rows[1]["row_error"].startswith("before_header:")
    assert (rows[2]["claim_id"], rows[2]["patient_id"], rows[2]["provider_name"]) == ("C1", "1001", "Clinic\nNorth")
    assert (rows[2]["service_date"], rows[2]["submitted_date"]) == ("2025-01-01", "2025-01-02 10:30:00")
    assert (rows[2]["charge_amount"], rows[2]["procedure_code"], rows[2]["place_of_service"]) == (
        "120.5",
        "99213",
        "11",
    )
    assert (rows[3]["charge_amount"], rows[3]["paid_amount"], rows[3]["place_of_service"]) == ("0.25", "", "")
    assert summary.layout == "insurance" and summary.encoding == f"utf-8 ({kind}, sheet Claims)"
    with pytest.raises(RejectedFile) as rejected:
        read_claims_bytes(f"other.{kind}", workbook(("Budget", [["month", "total"], ["Jan", 10]]), kind=kind))
    assert rejected.value.reason == "unknown_layout"


@pytest.mark.parametrize("name", ["padded.csv", "padded.jsonl"])
def test_nul_padding_at_the_end_of_a_file_is_one_broken_record(name):
    """A file preallocated or cut short by a crash ends in NUL bytes: its records load, the padding is kept as a
    broken record of its own, whatever the file's size."""
    content = csv_file(claim(), claim("C2")) if name.endswith(".csv") else b"".join(
        json.dumps(record).encode() + b"\n" for record in json_claims("C1", "C2"))  # fmt: skip
    table = raw_table(name, content + b"\x00" * 300, DAY, dt.datetime(2025, 1, 2))
    rows = {row["row_number"]: row for row in table.to_pylist()}
    assert [rows[n]["claim_id"] for n in (1, 2)] == ["C1", "C2"] and sorted(rows) == [1, 2, 3]
    assert rows[3]["row_error"] is not None and rows[3]["claim_id"] is None


def test_a_stray_nul_byte_breaks_its_record_only_and_stays_visible_in_bronze():
    content = csv_file(claim(), claim("C2"), claim("C3")).replace(b"C2,P1,PR1,Clinic", b"C2,P1,PR1,Cli\x00nic")
    table = raw_table("nul.csv", content, DAY, dt.datetime(2025, 1, 2))
    rows = {row["row_number"]: row for row in table.to_pylist()}
    assert sorted(rows) == [1, 2, 3]
    assert rows[1]["claim_id"] == "C1" and rows[3]["claim_id"] == "C3"
    assert rows[2]["row_error"].startswith("nul_byte:") and "Cli\\x00nic" in rows[2]["raw_record"]


# name, content, {row number: reason} (rows not listed must reach silver)
ROW_CASES = [
    ("short_row.csv", csv_file(claim(), "C2,P1,PR1"), {2: "malformed_row"}),
    ("long_row.csv", csv_file(claim(), claim("C2") + ",extra,fields"), {2: "malformed_row"}),
    ("bad_number.csv", csv_file(claim(amount="12x"), claim("C2")), {1: "bad_number_amount"}),
    ("bad_date.csv", csv_file(claim(service="2025-02-30"), claim("C2")), {1: "bad_date_service"}),
    ("bad_date_text.csv", csv_file(claim(service="yesterday"), claim("C2")), {1: "bad_date_service"}),
    ("negative.csv", csv_file(claim(amount="-5.00"), claim("C2")), {1: "amount_not_positive"}),
    ("zero.csv", csv_file(claim(amount="0"), claim("C2")), {1: "amount_not_positive"}),
    ("huge.csv", csv_file(claim(amount="1e12"), claim("C2")), {1: "amount_above_cap"}),
    ("future.csv", csv_file(claim(service="2999-01-01"), claim("C2")), {1: "date_in_future"}),
    ("ancient.csv", csv_file(claim(service="1899-12-31"), claim("C2")), {1: "date_before_1900"}),
    ("bad_state.csv", csv_file(claim(state="ZZ"), claim("C2")), {1: "bad_state"}),
    ("no_claim_id.csv", csv_file(claim(claim_id=""), claim("C2")), {1: "missing_claim_id"}),
    ("no_patient.csv", csv_file(claim(patient="  "), claim("C2")), {1: "missing_customer"}),
    ("duplicate_ids.csv", csv_file(claim(), claim(), claim("C2")), {2: "duplicate_claim_id"}),
    (
        "quoted_fields.csv",
        csv_file('C1,P1,PR1,"Clinic, ""West"" wing",99213,J45,2025-01-01,2025-01-01,"1,200.00",100,CA,CA,11'),
        {},
    ),
    # a UTF-8 file (its é) with a byte that is not: that record breaks
    ("bad_utf8.csv", csv_file(claim(), claim("C2")).replace(b"Clinic,", b"Cl\xffnic,", 1).replace(
        b"C2,P1,PR1,Clinic", "C2,P1,PR1,Clinic é".encode()), {1: "malformed_row"}),
    ("array.json", json.dumps([*json_claims("C1"), 7, *json_claims("C2")]).encode(), {2: "malformed_row"}),
    ("us_dates.csv", csv_file(claim("C1", service="12/31/2024"), claim("C2", service="1/13/2024 10:00")), {}),
    ("unclear_dates.csv", csv_file(claim("C1", service="03/04/2024"), claim("C2")), {1: "ambiguous_date_format"}),
    ("concatenated.csv", csv_file(claim(), HEADER, claim("C2")), {2: "malformed_row"}),
    ("windows_1252.csv", csv_file(claim(), claim("C2")).replace(b"Clinic,", "Clínica São,".encode("cp1252")), {}),
    ("crlf.csv", csv_file(claim(), claim("C2")).replace(b"\n", b"\r\n"), {}),
    ("stray_nul.csv", csv_file(claim(), claim("C2")).replace(b"Clinic,", b"Cli\x00nic,", 1), {1: "malformed_row"}),
    ("stray_nul_crlf.csv", csv_file(claim(), claim("C2"), claim("C3")).replace(b"\n", b"\r\n").replace(
        b"C2,P1,PR1,Clinic", b"C2,P1,PR1,Clinic\x00"), {2: "malformed_row"}),
    ("bom.csv", b"\xef\xbb\xbf" + csv_file(claim(), claim("C2")), {}),
    ("gzipped.csv.gz", gzip.compress(csv_file(claim(), claim("C2", amount="abc"))), {2: "bad_number_amount"}),
    ("kaggle_bad_coordinates.csv", csv_file(card(), card("t2", lat="123.0"), header=KAGGLE_HEADER),
     {2: "bad_coordinates"}),
    ("kaggle_bad_label.csv", csv_file(card(), card("t2", label="2"), header=KAGGLE_HEADER), {2: "bad_label"}),
    ("kaggle_bad_time.csv", csv_file(card(), card("t2", when="2025-01-01 25:99"), header=KAGGLE_HEADER),
     {2: "bad_timestamp_service"}),
    (
        "sparkov_pipes.csv",
        b"trans_num|cc_num|trans_date|trans_time|unix_time|category|amt|is_fraud|merchant|merch_lat|merch_long|"
        b"state|lat|long|city_pop\nt1|4263982640269299|2025-01-01|02:03:04|1735696984|misc_net|5.5|1|Shop|30.1|-97.1|"
        b"TX|30.2|-97.7|900000\n",
        {},
    ),
    (
        "lines.jsonl",
        b'{"claim_id": "J1", "patient_id": "P1", "provider_id": "PR1", "provider_name": "Clinic", '
        b'"procedure_code": "99213", "diagnosis_code": "J45", "service_date": "2025-01-01", '
        b'"submitted_date": "2025-01-01", "charge_amount": 120.5, "paid_amount": 100, "patient_state": "CA", '
        b'"provider_state": "CA", "place_of_service": "11"}\n{not json\n',
        {2: "malformed_row"},
    ),
    (
        "typed.parquet",
        parquet_file(
            pd.DataFrame(
                {
                    "claim_id": ["Q1", "Q2"],
                    "patient_id": ["P1", "P2"],
                    "provider_id": ["PR1", "PR1"],
                    "provider_name": ["Clinic", "Clinic"],
                    "procedure_code": ["99213", "99213"],
                    "diagnosis_code": ["J45", "J45"],
                    "service_date": [dt.date(2025, 1, 1), dt.date(2025, 1, 1)],
                    "submitted_date": [dt.date(2025, 1, 1), dt.date(2025, 1, 1)],
                    "charge_amount": [120.5, -3.0],
                    "paid_amount": [100.0, 0.0],
                    "patient_state": ["CA", "CA"],
                    "provider_state": ["CA", "CA"],
                    "place_of_service": ["11", "11"],
                }
            )
        ),
        {2: "amount_not_positive"},
    ),
]  # fmt: skip


def test_the_corpus_has_at_least_thirty_bad_inputs():
    bad_rows = sum(len(expected) for _, _, expected in ROW_CASES)
    assert len(REJECTED_FILES) + bad_rows >= 30


def test_every_row_ends_in_silver_or_quarantine_with_its_reason(spark):
    tables, expected = [], {}
    # each file on its own day: claim ids are unique per day, and the cases reuse them
    days = {name: DAY + dt.timedelta(days=i) for i, (name, _, _) in enumerate(ROW_CASES)}
    for name, content, bad in ROW_CASES:
        rows = raw_table(name, content, days[name], dt.datetime(2025, 1, 2))
        tables.append(rows)
        for number in rows.column("row_number").to_pylist():
            expected[(name, number)] = bad.get(number)
    # the same file landed twice: every row of the second copy is a duplicate of the first
    bom = ROW_CASES[[c[0] for c in ROW_CASES].index("bom.csv")][1]
    twice = raw_table("again/bom.csv", bom, days["bom.csv"], dt.datetime(2025, 1, 3))
    tables.append(twice)
    for number in twice.column("row_number").to_pylist():
        expected[("again/bom.csv", number)] = "duplicate_claim_id"

    raw = raw_frame(spark, tables)
    rules = ValidationRules(today=dt.date(2026, 1, 1))
    validated = validate(candidates_from_raw(raw, "test-key"), rules)
    silver_rows = silver_claims(validated).collect()
    silver = {(r.source_file, r.row_number) for r in silver_rows}
    quarantine = {(r.source_file, r.row_number): r for r in quarantined_claims(validated).collect()}
    # the asset's way: quarantine is what silver did not take (only the files silver holds fewer rows of are
    # matched row by row), typed again on its own, with every file's formats
    written = spark.createDataFrame(silver_rows, silver_claims(validated).schema)
    formats = file_formats(raw)
    rest = validate(quarantine_candidates(raw, written, "test-key", formats), rules, later_copies=True)
    again = {(r.source_file, r.row_number): r for r in quarantined_claims(rest).collect()}
    assert again == quarantine
    assert {name for name, _ in quarantine} < {name for name, _ in expected}  # some files lost no row

    assert len(silver) + len(quarantine) == raw.count() == len(expected)
    for key, reason in expected.items():
        if reason is None:
            assert key in silver, f"good row {key} lost: {quarantine.get(key)}"
        else:
            assert key in quarantine, f"bad row {key} reached silver"
            assert quarantine[key].reason == reason, (key, quarantine[key].reasons)
            assert quarantine[key].raw_values


@pytest.mark.parametrize("repeated_ids", ["few", "many", "too_many_to_collect"])
def test_the_first_valid_copy_of_a_claim_id_is_kept(spark, monkeypatch, repeated_ids):
    """Whichever way silver looks the repeated ids up (by literal values when there are few, by a join when
    there are many, without collecting them when there are more than a lookup holds: a file landed twice),
    only valid rows compete and the first in submission order wins."""
    if repeated_ids != "few":
        monkeypatch.setattr(silver_module, "REPEATED_IDS_AS_LITERALS_MAX", 0)
    if repeated_ids == "too_many_to_collect":
        monkeypatch.setattr(silver_module, "COLLECT_MAX_ROWS", 1)
    first = raw_table("a.csv", csv_file(claim(state="ZZ"), claim(), claim(), claim("C2"), claim("C3", patient="")),
                      DAY, dt.datetime(2025, 1, 2))  # fmt: skip
    later = raw_table("b.csv", csv_file(claim("C2"), claim("C3"), claim("C4")), DAY, dt.datetime(2025, 1, 3))
    validated = validate(candidates_from_raw(raw_frame(spark, [first, later]), "test-key"),
                         ValidationRules(today=dt.date(2026, 1, 1)))  # fmt: skip
    kept = sorted((row.source_file, row.row_number) for row in silver_claims(validated).collect())
    quarantined = {(row.source_file, row.row_number): row.reason for row in quarantined_claims(validated).collect()}
    assert kept == [("a.csv", 2), ("a.csv", 4), ("b.csv", 2), ("b.csv", 3)]
    assert quarantined == {
        ("a.csv", 1): "bad_state",
        ("a.csv", 3): "duplicate_claim_id",
        ("a.csv", 5): "missing_customer",
        ("b.csv", 1): "duplicate_claim_id",
    }


def test_quarantine_keeps_raw_values_without_clear_card_numbers(spark):
    rows = raw_table(
        "cards.csv", csv_file(card(), card("t2", amt="-1"), header=KAGGLE_HEADER), DAY, dt.datetime(2025, 1, 2)
    )
    raw = raw_frame(spark, [rows])
    validated = validate(candidates_from_raw(raw, "test-key"), ValidationRules(today=dt.date(2026, 1, 1)))
    quarantined = quarantined_claims(validated).collect()
    assert [r.reason for r in quarantined] == ["amount_not_positive"]
    values = json.loads(quarantined[0].raw_values)
    assert values["amt"] == "-1" and values["trans_num"] == "t2"
    assert "4263982640269299" not in quarantined[0].raw_values
    assert "first" not in values and "dob" not in values  # identity columns are dropped


def _bronze_transactions(spark, rows: list[tuple]):
    """Bronze transactions (``rows``) of one known customer, card 4263982640269299, and the customer."""
    transactions = spark.createDataFrame(
        rows,
        "trans_num string, cc_num string, trans_date date, trans_time string, category string, amt double, "
        "is_fraud int, merchant string, merch_lat double, merch_long double, detection_date date",
    )
    # the generator's unix_time: the UTC instant of the date and the clock (the session is in UTC)
    transactions = transactions.withColumn(
        "unix_time", F.unix_timestamp(F.concat_ws(" ", F.col("trans_date").cast("string"), F.col("trans_time")))
    )
    customers = spark.createDataFrame(
        [("4263982640269299", "TX", 30.0, -97.0, 1000)], "cc_num string, state string, lat double, long double, "
        "city_pop bigint",
    )  # fmt: skip
    return transactions, customers


def _validated_transactions(spark, rows: list[tuple]):
    """Bronze transactions (``rows``) of one known customer, card 4263982640269299, typed and validated."""
    from fraud_lakehouse.claims.silver import candidates_from_transactions

    transactions, customers = _bronze_transactions(spark, rows)
    return validate(
        candidates_from_transactions(transactions, customers, "test-key"), ValidationRules(today=dt.date(2026, 1, 1))
    )


def test_quarantine_takes_the_synthetic_and_landed_rows_silver_did_not(spark):
    from fraud_lakehouse.claims.silver import candidates_from_transactions

    later = DAY + dt.timedelta(days=1)
    good = ("t1", "4263982640269299", DAY, "01:02:03", "misc_pos", 12.5, 0, "fraud_Kirlin", 30.25, -97.5, DAY)
    transactions, customers = _bronze_transactions(
        spark,
        [
            good,
            ("t2", "4263982640269299", later, "01:02:03", "misc_pos", 9.0, 0, "fraud_Kirlin", 30.25, -97.5, later),
            ("t3", "4263982640269299", later, "02:02:03", "misc_pos", -3.0, 0, "fraud_Kirlin", 30.25, -97.5, later),
        ],
    )
    raw = raw_frame(
        spark,
        [
            raw_table("good.csv", csv_file(claim("C1"), claim("C2")), DAY, dt.datetime(2025, 1, 2)),
            raw_table("bad.csv", csv_file(claim("C3"), claim("C4", amount="x")), later, dt.datetime(2025, 1, 2)),
            raw_table("none.csv", csv_file(claim("C5", service="soon")), later, dt.datetime(2025, 1, 2)),
        ],
    )
    rules = ValidationRules(today=dt.date(2026, 1, 1))
    formats = file_formats(raw)
    candidates = candidates_from_raw(raw, "test-key", formats).unionByName(
        candidates_from_transactions(transactions, customers, "test-key")
    )
    written = silver_claims(validate(candidates, rules))
    written = spark.createDataFrame(written.collect(), written.schema)
    rest = quarantine_candidates(raw, written, "test-key", formats, transactions, customers)
    rejected = {
        (row.source, row.claim_id, row.reason) for row in quarantined_claims(validate(rest, rules, True)).collect()
    }
    assert rejected == {
        ("insurance", "C4", "bad_number_amount"),
        ("insurance", "C5", "bad_date_service"),
        ("synthetic", "t3", "amount_not_positive"),
    }
    assert written.count() == 5  # C1, C2, C3, t1, t2


def test_both_candidate_frames_have_the_columns_validation_names_without_asking(spark):
    from fraud_lakehouse.claims.silver import CANDIDATE_COLUMNS, candidates_from_transactions

    good = ("t1", "4263982640269299", DAY, "01:02:03", "misc_pos", 12.5, 0, "fraud_Kirlin", 30.25, -97.5, DAY)
    transactions, customers = _bronze_transactions(spark, [good])
    raw = raw_frame(spark, [raw_table("good.csv", csv_file(claim("C1")), DAY, dt.datetime(2025, 1, 2))])
    assert candidates_from_raw(raw, "test-key").columns == list(CANDIDATE_COLUMNS)
    assert candidates_from_transactions(transactions, customers, "test-key").columns == list(CANDIDATE_COLUMNS)


def test_quarantined_synthetic_transactions_keep_their_bronze_values(spark):
    from fraud_lakehouse.claims.privacy import hmac_sha256_python

    validated = _validated_transactions(
        spark,
        [
            ("t1", "4263982640269299", DAY, "01:02:03", "misc_pos", 12.5, 0, "fraud_Kirlin", 30.25, -97.5, DAY),
            ("t3", "4263982640269299", DAY, "01:02:03", "misc_pos", 2e6, 0, "fraud_Kirlin", 30.25, -97.5, DAY),
            ("t2", "4263982640269299", DAY, "23:59:59", "grocery_net", -3.0, 1, 'fraud_"Q"', 31.0, -98.0, DAY),
        ],
    )
    quarantined = {row.reason: json.loads(row.raw_values) for row in quarantined_claims(validated).collect()}
    card_key = hmac_sha256_python("4263982640269299", "test-key")
    assert quarantined == {
        "amount_above_cap": {
            "trans_num": "t3", "cc_num": card_key, "trans_date": "2025-01-01", "trans_time": "01:02:03",
            "category": "misc_pos", "amt": 2e6, "is_fraud": 0, "merchant": "fraud_Kirlin", "merch_lat": 30.25,
            "merch_long": -97.5,
        },
        "amount_not_positive": {
            "trans_num": "t2", "cc_num": card_key, "trans_date": "2025-01-01", "trans_time": "23:59:59",
            "category": "grocery_net", "amt": -3.0, "is_fraud": 1, "merchant": 'fraud_"Q"', "merch_lat": 31.0,
            "merch_long": -98.0,
        },
    }  # fmt: skip


def test_a_card_without_a_customer_row_is_still_pseudonymised_and_kept(spark):
    from fraud_lakehouse.claims.privacy import hmac_sha256_python

    validated = _validated_transactions(
        spark,
        [
            ("t1", "4263982640269299", DAY, "01:02:03", "misc_pos", 12.5, 0, "fraud_Kirlin", 30.25, -97.5, DAY),
            ("t2", "4000111122223333", DAY, "04:05:06", "misc_pos", 7.5, 0, "fraud_Kirlin", 30.25, -97.5, DAY),
        ],
    )
    kept = {row.claim_id: row for row in silver_claims(validated).collect()}
    assert kept["t1"].customer_key == hmac_sha256_python("4263982640269299", "test-key")
    assert kept["t1"].customer_state == "TX"
    # no home: the card is hashed on its own and the home columns stay empty
    assert kept["t2"].customer_key == hmac_sha256_python("4000111122223333", "test-key")
    assert kept["t2"].customer_state is None


def test_unsplittable_row_text_is_masked(spark):
    content = csv_file(card(), "2025-01-01,4263982640269299,123-45-6789", header=KAGGLE_HEADER)
    raw = raw_frame(spark, [raw_table("short.csv", content, DAY, dt.datetime(2025, 1, 2))])
    validated = validate(candidates_from_raw(raw, "k"), ValidationRules(today=dt.date(2026, 1, 1)))
    kept = quarantined_claims(validated).where(F.col("reason") == "malformed_row").first().raw_values
    assert "4263982640269299" not in kept and "123-45-6789" not in kept
    assert json.loads(kept)["record_shape"] == "9999-99-99,9999999999999999,999-99-9999"


def test_a_file_belongs_to_the_date_of_its_folder_else_its_upload_day():
    modified = dt.datetime(2025, 3, 4, 23, 30, tzinfo=dt.UTC)
    assert file_date("2025-01-02/x.csv", modified).date == dt.date(2025, 1, 2)
    assert file_date("a/detection_date=2025-01-05/x.csv", modified).date == dt.date(2025, 1, 5)
    assert file_date("x.csv", modified).date == dt.date(2025, 3, 4)
    assert file_date("2025-01-02/2025-01-03/x.csv", modified).date == dt.date(2025, 1, 3)  # the last folder
    # a folder that looks like a date but is none: no date, and why (never re-dated to the upload day)
    bad = file_date("2025-13-40/x.csv", modified)
    assert bad.date is None and bad.problem == "bad_date_folder"
    # a date in the file name is not a date folder
    assert file_date("claims-2025-01-02.csv", modified).date == dt.date(2025, 3, 4)


# -- records are lines; long records; line endings ------------------------------------------------------------


def _numbers_and_errors(name: str, content: bytes) -> dict[int, str | None]:
    rows, _ = read_claims_bytes(name, content)
    return dict(zip(rows.column("row_number").to_pylist(), rows.column("row_error").to_pylist(), strict=True))


def test_an_open_quote_breaks_its_own_line_only():
    rows = [claim(f"C{i}") for i in range(1, 21)]
    rows[1] = rows[1].replace("Clinic", '"Clinic')  # record 2 of 20 opens a quote it never closes
    found = _numbers_and_errors("open_quote.csv", csv_file(*rows))
    assert sorted(found) == list(range(1, 21))  # twenty lines, twenty records
    assert found[2].startswith("unclosed_quote") and all(found[i] is None for i in found if i != 2)


def test_a_quote_that_spans_lines_is_one_broken_record_per_line():
    content = csv_file(claim("C1"), claim("C2").replace("Clinic", '"Cli') + "\n" + 'nic",rest', claim("C4"))
    found = _numbers_and_errors("spans.csv", content)
    assert sorted(found) == [1, 2, 3, 4] and found[1] is None and found[4] is None
    assert found[2].startswith("unclosed_quote") and found[3].startswith("wrong_field_count")


def test_a_quoted_value_with_line_breaks_is_one_record():
    """RFC 4180 lets a quoted value hold line breaks (a note, an address, CR LF or LF): such a record loads whole,
    numbered as the record it is; a broken quote is still broken on each of its lines."""
    note = '"Suite 4\nNorth wing, ""B"" entrance\n"'
    content = csv_file(claim("C1").replace("Clinic", note), claim("C2"), claim("C3").replace("Clinic", '"Cli'))
    rows, _ = read_claims_bytes("notes.csv", content.replace(b"\n", b"\r\n"))
    found = {row["row_number"]: row for row in rows.to_pylist()}
    assert sorted(found) == [1, 2, 3] and found[1]["claim_id"] == "C1" and found[2]["claim_id"] == "C2"
    assert found[1]["provider_name"] == 'Suite 4\nNorth wing, "B" entrance\n' and found[1]["row_error"] is None
    assert found[3]["row_error"].startswith("unclosed_quote")
    # too many lines to be one value: each line is a record of its own
    long_note = '"' + "\n".join(f"line {i}" for i in range(12)) + '"'
    rows, _ = read_claims_bytes("long.csv", csv_file(claim("C1").replace("Clinic", long_note), claim("C2")))
    found = {row["row_number"]: row for row in rows.to_pylist()}
    assert sorted(found) == list(range(1, 14)) and found[13]["claim_id"] == "C2" and found[1]["row_error"]


def test_a_field_of_a_megabyte_loads_and_a_record_over_the_limit_is_quarantined_alone():
    from fraud_lakehouse.claims.reader import MAX_RECORD_BYTES

    big = claim("C2").replace("Clinic", "x" * 1_048_576)
    huge = claim("C3").replace("Clinic", "y" * (MAX_RECORD_BYTES + 1))
    rows, summary = read_claims_bytes("long.csv", csv_file(claim("C1"), big, huge, claim("C4")))
    by_number = {row["row_number"]: row for row in rows.to_pylist()}
    assert sorted(by_number) == [1, 2, 3, 4] and summary.records == 4
    assert len(by_number[2]["provider_name"]) == 1_048_576 and by_number[2]["row_error"] is None
    assert by_number[3]["row_error"].startswith("record_too_long") and by_number[3]["claim_id"] is None
    assert len(by_number[3]["raw_record"]) < 100_000  # the start of it is kept, not the whole record
    assert by_number[4]["claim_id"] == "C4"


@pytest.mark.parametrize(
    ("name", "content", "reason"),
    [
        ("no_newline.csv", HEADER.encode(), "no_rows"),
        ("no_newline_data.csv", claim().encode(), "unknown_layout"),
        ("one_huge_line.csv", b"x" * (9 * 1024 * 1024), "bad_header"),
    ],
)
def test_files_without_line_breaks_get_a_reason(name, content, reason):
    with pytest.raises(RejectedFile) as rejected:
        read_claims_bytes(name, content)
    assert rejected.value.reason == reason


def test_carriage_return_line_endings_load():
    content = csv_file(claim("C1"), claim("C2")).replace(b"\n", b"\r")
    assert _numbers_and_errors("cr.csv", content) == {1: None, 2: None}


def test_a_multibyte_character_and_an_open_quote_across_read_blocks():
    from fraud_lakehouse.claims.reader import ClaimsFile

    rows = [claim(f"C{i}").replace("Clinic", "Clínica ü€") for i in range(1, 400)]
    rows[200] = rows[200].replace("Clínica", '"Clínica')
    content = csv_file(*rows)
    # blocks of 97 bytes split characters and records everywhere
    reader = ClaimsFile("blocks.csv", pa.BufferReader(content), block_bytes=97)
    table = pa.Table.from_batches(list(reader.batches()))
    assert sorted(table.column("row_number").to_pylist()) == list(range(1, 400))
    names = {row["row_number"]: row["provider_name"] for row in table.to_pylist()}
    assert names[1] == "Clínica ü€" and names[201] is None and names[202] == "Clínica ü€"


def test_quoted_values_with_line_breaks_across_read_blocks():
    """Whatever the read blocks, each record with a note over several lines is one record, and a broken quote is
    broken on its own line only."""
    from fraud_lakehouse.claims.reader import ClaimsFile

    rows = [
        claim(f"C{i}").replace("Clinic", f'"Clinic {i}\nnote\n{i}"' if i % 7 == 0 else "Clinic") for i in range(1, 300)
    ]
    rows[100] = rows[100].replace("Clinic", '"Clinic')
    content = csv_file(*rows)
    for block_bytes in (97, 250, 1000, 4096):
        reader = ClaimsFile("notes.csv", pa.BufferReader(content), block_bytes=block_bytes)
        table = pa.Table.from_batches(list(reader.batches()))
        found = {row["row_number"]: row for row in table.to_pylist()}
        assert sorted(found) == list(range(1, 300)), block_bytes
        assert found[7]["provider_name"] == "Clinic 7\nnote\n7" and found[294]["claim_id"] == "C294"
        assert [n for n, row in found.items() if row["row_error"]] == [101], block_bytes


# -- decimal marks, decided per file ------------------------------------------------------------------------


def _silver_and_quarantine(
    spark, name: str, content: bytes, day: dt.date = DAY, decimal_mark: str | None = None
) -> tuple[list, list]:
    """One landed file through silver: its silver rows and its quarantined rows."""
    raw = raw_frame(spark, [raw_table(name, content, day, dt.datetime(2025, 1, 2), decimal_mark)])
    validated = validate(candidates_from_raw(raw, "test-key"), ValidationRules(today=dt.date(2026, 1, 1)))
    return silver_claims(validated).collect(), quarantined_claims(validated).collect()


def _amounts(spark, name: str, content: bytes, decimal_mark: str | None = None) -> dict[int, float | str]:
    silver, quarantine = _silver_and_quarantine(spark, name, content, decimal_mark=decimal_mark)
    return {row.row_number: row.amount for row in silver} | {row.row_number: row.reason for row in quarantine}


def test_a_decimal_comma_file_reads_its_amounts_right(spark):
    header = HEADER.replace(",", ";")
    rows = [claim("C1", amount="120,50"), claim("C2", amount="1.234,56"), claim("C3", amount="7"),
            claim("C4", amount="1.5.0"), claim("C5", amount="0,5")]  # fmt: skip
    content = csv_file(*[row.replace(",", ";") for row in rows], header=header)
    content = content.replace(b"120;50", b"120,50").replace(b"1.234;56", b"1.234,56").replace(b";0;5;", b";0,5;")
    assert _amounts(spark, "comma.csv", content) == {1: 120.5, 2: 1234.56, 3: 7.0, 4: "bad_number_amount", 5: 0.5}


def test_thousands_separators_with_a_decimal_point(spark):
    others = [claim(f"D{i}", amount=f"{i}.25") for i in range(150)]
    content = csv_file(claim("C1", amount='"1,234.56"'), claim("C2", amount='"$123,456.5"'), *others,
                       claim("C3", amount='"12,5"'))  # fmt: skip
    amounts = _amounts(spark, "dot.csv", content)
    # one value in a hundred and fifty uses the other mark: the file's mark stands and 12,5 is a bad value, not 125
    assert (amounts[1], amounts[2], amounts[153]) == (1234.56, 123456.5, "bad_number_amount")


def test_amounts_as_exports_write_them(spark):
    """A currency symbol or code before or after the number, an accounting negative in brackets or with its minus
    after it (SAP: 120.50-), thousands grouped with spaces or in lakhs: read as the number they write (a negative
    then fails its own check); anything else stays a bad number."""
    amounts = ["120.50 USD", "USD 120.50", "120.50$", '"1 234.50"', '"1\u00a0234.50\u00a0€"', "(120.50)",
               "(USD 99.10)", "120.50 usd", '"1 2345.50"', "12 34", "EUR", "120.50-", '"$1,234.50 -"', "-120.50-",
               "120.-50"]  # fmt: skip
    rows = [claim(f"C{index}", amount=amount) for index, amount in enumerate(amounts, start=1)]
    assert _amounts(spark, "export.csv", csv_file(*rows)) == {
        1: 120.5, 2: 120.5, 3: 120.5, 4: 1234.5, 5: 1234.5, 6: "amount_not_positive", 7: "amount_not_positive",
        8: "bad_number_amount", 9: "bad_number_amount", 10: "bad_number_amount", 11: "bad_number_amount",
        # SAP's minus after the number
        12: "amount_not_positive", 13: "amount_not_positive", 14: "bad_number_amount", 15: "bad_number_amount",
    }  # fmt: skip
    # a French export: decimal commas, thousands grouped with no-break spaces, the euro sign after the number
    french = [claim(f"F{index}", amount="AMOUNT").replace(",", ";").replace("AMOUNT", amount) for index, amount in
              enumerate(["1\u00a0234,50\u00a0€", "120,50 EUR", "7 000,00", "0,99 €"], start=1)]  # fmt: skip
    content = csv_file(*french, header=HEADER.replace(",", ";"))
    assert _amounts(spark, "fr.csv", content) == {1: 1234.5, 2: 120.5, 3: 7000.0, 4: 0.99}
    # an Indian export: lakh grouping (two digits between commas above the thousands), the rupee sign or Rs.
    indian = ['"1,23,456.50"', '"₹1,23,456"', '"Rs. 2,34,567.5"', '"4,56,789 INR"', "99.90", '"1,23,45.50"',
              '"12,3,456"']  # fmt: skip
    rows = [claim(f"I{index}", amount=amount) for index, amount in enumerate(indian, start=1)]
    assert _amounts(spark, "in.csv", csv_file(*rows)) == {
        1: 123456.5, 2: 123456.0, 3: 234567.5, 4: 456789.0, 5: 99.9, 6: "bad_number_amount",
        7: "bad_number_amount",
    }  # fmt: skip


def test_missing_value_markers_are_missing_values(spark):
    """SQL clients write NULL, MySQL \\N, R NA: in a number, date or label column that is a missing value, never a
    bad one; a required one missing quarantines the row for that reason."""
    header = HEADER + ",is_fraud"
    rows = [claim("C1") + ",NA", claim("C2").replace(",100,", ",NULL,") + ",0",
            claim("C3").replace(",100,", ",\\N,") + ",1", claim("C4", amount="NaN") + ",0",
            claim("C5", service="NULL") + ",0", claim("C6").replace(",2025-01-01,120.50", ",None,120.50") + ",<NA>",
            claim("C7", amount="maybe") + ",0", claim("C8") + ",maybe"]  # fmt: skip
    silver, quarantine = _silver_and_quarantine(spark, "markers.csv", csv_file(*rows, header=header))
    kept = {row.claim_id: (row.paid_amount, row.submitted_date, row.is_fraud) for row in silver}
    assert kept == {
        "C1": (100.0, dt.date(2025, 1, 1), None),
        "C2": (None, dt.date(2025, 1, 1), 0),
        "C3": (None, dt.date(2025, 1, 1), 1),
        "C6": (100.0, None, None),
    }
    reasons = {json.loads(row.raw_values)["claim_id"]: row.reasons for row in quarantine}
    assert reasons == {
        "C4": ["missing_amount"],
        "C5": ["missing_service_date"],
        "C7": ["bad_number_amount", "missing_amount"],
        "C8": ["bad_label"],
    }


def test_missing_value_markers_in_key_columns_are_missing(spark):
    """NULL or N/A written for an id, a code or a state is a missing value: a row without its claim id, patient,
    provider or procedure is quarantined for that (not loaded as a patient called NULL that every such row would
    share, nor as a repeated claim id NULL); a missing state or diagnosis loads as NULL."""
    rows = [claim("NULL"), claim("NULL"), claim("C3", patient="N/A"), claim("C4", provider="NA"),
            claim("C5").replace(",99213,", ",null,"), claim("C6", state="NA").replace(",J45,", ",N/A,"),
            claim("C7", patient="\\N"), claim("C8", patient="None")]  # fmt: skip
    silver, quarantine = _silver_and_quarantine(spark, "key_markers.csv", csv_file(*rows))
    assert [(row.claim_id, row.customer_state, row.diagnosis) for row in silver] == [("C6", None, None)]
    assert {row.row_number: row.reasons for row in quarantine} == {
        1: ["missing_claim_id"], 2: ["missing_claim_id"], 3: ["missing_customer"], 4: ["missing_provider"],
        5: ["missing_procedure"], 7: ["missing_customer"], 8: ["missing_customer"],
    }  # fmt: skip
    cards = [card("t1").replace(",4263982640269299,", ",NULL,"), card("NULL"), card("t3")]
    silver, quarantine = _silver_and_quarantine(spark, "cards.csv", csv_file(*cards, header=KAGGLE_HEADER))
    assert [row.claim_id for row in silver] == ["t3"]
    assert {row.row_number: row.reasons for row in quarantine} == {1: ["missing_customer"], 2: ["missing_claim_id"]}


def test_blank_space_around_a_value_is_trimmed_and_a_zero_date_is_missing(spark):
    """Copies from web pages and spreadsheets carry no-break spaces, and hand-edited files tabs, around values:
    trimmed like spaces, so "PR1\u00a0" is provider PR1 and "\u00a0CA" the state CA (not a bad state). MySQL
    writes 0000-00-00 for a missing date: a missing value, not a bad one."""
    rows = [claim("B1\u00a0", state="\u00a0CA", provider="PR1\u202f"), claim("\tB2", state="CA\t"),
            claim("B3", amount="\u00a0120.50\t", service="\u00a02025-01-02\t"),
            claim("B4").replace(",2025-01-01,120.50", ",0000-00-00,120.50"),
            claim("B5", service="0000-00-00 00:00:00")]  # fmt: skip
    silver, quarantine = _silver_and_quarantine(spark, "blanks.csv", csv_file(*rows))
    assert [(row.claim_id, row.provider_id, row.customer_state, row.amount, row.service_date, row.submitted_date)
            for row in silver] == [
        ("B1", "PR1", "CA", 120.5, dt.date(2025, 1, 1), dt.date(2025, 1, 1)),
        ("B2", "PR1", "CA", 120.5, dt.date(2025, 1, 1), dt.date(2025, 1, 1)),
        ("B3", "PR1", "CA", 120.5, dt.date(2025, 1, 2), dt.date(2025, 1, 1)),
        ("B4", "PR1", "CA", 120.5, dt.date(2025, 1, 1), None),
    ]  # fmt: skip
    assert [(row.row_number, row.reasons) for row in quarantine] == [(5, ["missing_service_date"])]


def test_excel_text_idiom_is_the_text_it_protects(spark):
    """Exports meant for Excel write ="0123" so that a spreadsheet keeps a code's leading zeros: the value is 0123
    (the same patient as one written plainly), in any column and wherever the read blocks end; a value that only
    starts with =" is kept as written."""
    from fraud_lakehouse.claims.reader import ClaimsFile

    rows = ['="E1",="0012",PR1,"=""Clinic"" North",="09213",J45,2025-01-01,2025-01-01,="120.50",100,CA,CA,="11"',
            '"=""E2""",0012,PR1,"=""A""""B""",99213,J45,2025-01-01,2025-01-01,120.50,100,CA,="",11']  # fmt: skip
    content = csv_file(*rows, *[claim(f"C{index}") for index in range(3, 400)])
    for block_bytes in (97, 4096, 4 * 1024**2):
        reader = ClaimsFile("excel_text.csv", pa.BufferReader(content), block_bytes=block_bytes)
        table = pa.Table.from_batches(list(reader.batches())).to_pylist()
        assert [(row["claim_id"], row["patient_id"], row["provider_name"], row["procedure_code"],
                 row["charge_amount"], row["provider_state"]) for row in table[:2]] == [
            ("E1", "0012", '="Clinic" North', "09213", "120.50", "CA"),
            ("E2", "0012", 'A"B', "99213", "120.50", ""),
        ]  # fmt: skip
    silver, quarantine = _silver_and_quarantine(spark, "excel_text.csv", csv_file(*rows))
    assert not quarantine and len({row.customer_key for row in silver}) == 1


def test_amounts_are_whole_cents(spark):
    content = csv_file(claim("C1", amount="1.005"), claim("C2", amount="0.004"), claim("C3", amount="5e-324"))
    assert _amounts(spark, "cents.csv", content) == {1: 1.01, 2: "amount_not_positive", 3: "amount_not_positive"}


@pytest.mark.parametrize(
    ("amounts", "reason"),
    [
        (['"1,234"', "12", '"7,500"'], "ambiguous_number_format"),
        (['"1,234.56"', '"1.234,56"', "12.5", '"12,5"'], "mixed_number_format"),
    ],
)
def test_a_file_whose_decimal_mark_cannot_be_decided_is_quarantined_with_the_reason(spark, amounts, reason):
    content = csv_file(*[claim(f"C{i}", amount=amount) for i, amount in enumerate(amounts)])
    assert set(_amounts(spark, "undecided.csv", content).values()) == {reason}


def test_a_day_of_many_small_files_decides_each_files_marks_and_orders(spark):
    """Above MANY_FILES files a day's votes are counted from rows sorted by file: each file still decides alone."""
    from fraud_lakehouse.claims.silver import MANY_FILES

    tables = []
    for index in range(MANY_FILES + 4):
        if index % 3 == 0:
            rows = [claim(f"E{index}", amount="1.234,56").replace(",", ";").replace("1.234;56", "1.234,56"),
                    claim(f"F{index}", amount="7,5").replace(",", ";").replace("7;5", "7,5")]  # fmt: skip
            content = csv_file(*rows, header=HEADER.replace(",", ";"))
        elif index % 3 == 1:
            content = csv_file(_slashed(f"U{index}", "01/13/2025", "01/14/2025"))
        else:
            content = csv_file(claim(f"D{index}", amount='"1,234.56"'))
        tables.append(raw_table(f"f{index:02d}.csv", content, DAY, dt.datetime(2025, 1, 2)))
    raw = raw_frame(spark, tables)
    formats = {
        row["source_file"]: (row["__file_mark"], row["__file_date_order"]) for row in file_formats(raw).collect()
    }
    assert len(formats) == MANY_FILES + 4
    for name, (mark, order) in formats.items():
        index = int(name[-6:-4])
        assert (mark, order) == {0: (",", None), 1: (".", "MDY"), 2: (".", None)}[index % 3], name


def test_a_declared_decimal_mark_decides(spark):
    content = csv_file(claim("C1", amount='"1,234"'), claim("C2", amount="12"))
    assert _amounts(spark, "declared.csv", content, decimal_mark=",") == {1: 1.23, 2: 12.0}
    assert _amounts(spark, "declared.csv", content, decimal_mark=".") == {1: 1234.0, 2: 12.0}


@pytest.mark.parametrize("column", ["is_fraud", "label", "Label"])
def test_an_insurance_file_may_carry_a_label(spark, column):
    labels = ["1", "0", "true", "FALSE", "", "2", "yes"]
    content = csv_file(*[claim(f"C{i}") + f",{label}" for i, label in enumerate(labels)], header=HEADER + f",{column}")
    raw = raw_frame(spark, [raw_table("labelled.csv", content, DAY, dt.datetime(2025, 1, 2))])
    validated = validate(candidates_from_raw(raw, "test-key"), ValidationRules(today=dt.date(2026, 1, 1)))
    kept = {row.claim_id: row.is_fraud for row in silver_claims(validated).collect()}
    assert kept == {"C0": 1, "C1": 0, "C2": 1, "C3": 0, "C4": None}
    assert {row.claim_id: row.reason for row in quarantined_claims(validated).collect()} == {
        "C5": "bad_label",
        "C6": "bad_label",
    }


@pytest.mark.parametrize(
    ("lines", "ending", "expected"),
    [
        # a blank line (no record) and a carriage return inside a line, which pyarrow reads as two rows of the right
        # width: the counts cancel out, and the records must still be numbered by line
        ([claim("C1"), "", claim("C2") + "\r" + claim("C2b"), claim("C3")], "\n",
         [(1, "C1", ""), (2, None, "bad_quoting"), (3, "C3", "")]),
        ([claim("C1"), "", claim("C2").replace("Clinic", "Cl\rinic"), claim("C3")], "\n",
         [(1, "C1", ""), (2, None, "bad_quoting"), (3, "C3", "")]),
        ([claim("C1"), "  \t ", claim("C3"), "\t"], "\n", [(1, "C1", ""), (2, "C3", "")]),
        ([claim("C1"), "", claim("C3"), claim("C4,x")], "\r\n",
         [(1, "C1", ""), (2, "C3", ""), (3, None, "wrong_field_count")]),
        ([" " + claim("C1"), claim("C2").replace("Clinic", "Clínica 日本")], "\n", [(1, " C1", ""), (2, "C2", "")]),
    ],
)  # fmt: skip
def test_records_are_numbered_by_line_whatever_blank_lines_and_carriage_returns_a_chunk_holds(lines, ending, expected):
    rows, summary = read_claims_bytes("claims.csv", (ending.join([HEADER, *lines]) + ending).encode())
    got = sorted(
        (row["row_number"], row["claim_id"], (row["row_error"] or "").split(":")[0])
        for row in rows.select(["row_number", "claim_id", "row_error"]).to_pylist()
    )
    assert got == expected and summary.records == len(expected)


def test_a_cr_only_file_whose_header_is_longer_than_the_first_read_keeps_its_records():
    # the line endings are told from the first block read; this header has none in its first 64 KiB
    extra = [f"extra_column_{i:05d}" for i in range(6_000)]
    header = HEADER + "," + ",".join(extra)
    rows = [claim(f"C{i}") + "," * len(extra) for i in range(3)]
    content = ("\r".join([header, *rows]) + "\r").encode()
    assert len(header) > 64 * 1024
    table, summary = read_claims_bytes("claims.csv", content)
    assert summary.records == 3 and summary.unsplittable == 0 and len(summary.ignored_columns) == len(extra)
    assert table.column("claim_id").to_pylist() == ["C0", "C1", "C2"]


# -- dates and times as files write them -----------------------------------------------------------------------


def _dates(spark, name: str, content: bytes, day: dt.date = DAY) -> dict[int, tuple | str]:
    silver, quarantine = _silver_and_quarantine(spark, name, content, day)
    kept = {row.row_number: (row.service_date, row.submitted_date) for row in silver}
    return kept | {row.row_number: row.reason for row in quarantine}


def test_a_date_column_may_hold_a_date_with_a_time_of_day(spark):
    rows = [claim("C1", service="2025-01-03 14:30:00"), claim("C2", service="2025-01-03T09:05"),
            claim("C3", service="2025-01-03 00:00:00.000000000"), claim("C4", service="2025-01-03 25:99"),
            claim("C5", service="2025-02-30 10:00:00"), claim("C6", service="2025-01-03 10:00 tomorrow"),
            claim("C7", service="2025-01-03T23:30:00-05:00"), claim("C8", service="2025-01-03T08:00:00Z")]  # fmt: skip
    day, submitted = dt.date(2025, 1, 3), dt.date(2025, 1, 1)
    assert _dates(spark, "times.csv", csv_file(*rows)) == {
        1: (day, submitted), 2: (day, submitted), 3: (day, submitted),
        4: "bad_date_service", 5: "bad_date_service", 6: "bad_date_service",
        7: (day, submitted), 8: (day, submitted),
    }  # fmt: skip


def test_a_parquet_file_written_from_pandas_keeps_its_dates(spark):
    """pandas writes dates as timestamps (naive, or with their zone): each is read as its date where it was written
    (23:30 in New York is the next day in UTC, not there)."""
    frame = pd.read_csv(io.BytesIO(csv_file(claim("C1"), claim("C2"))), dtype=str)
    frame["service_date"] = pd.to_datetime(["2025-01-03", "2025-01-04"])
    frame["submitted_date"] = pd.to_datetime(["2025-01-05 23:30", "2025-01-06 08:00"]).tz_localize("America/New_York")
    assert _dates(spark, "pandas.parquet", parquet_file(frame)) == {
        1: (dt.date(2025, 1, 3), dt.date(2025, 1, 5)),
        2: (dt.date(2025, 1, 4), dt.date(2025, 1, 6)),
    }


def _service_times(spark, name: str, content: bytes) -> dict[str, dt.datetime | str]:
    silver, quarantine = _silver_and_quarantine(spark, name, content)
    times = {row.claim_id: row.service_ts for row in silver}
    return times | {json.loads(row.raw_values)["trans_num"]: row.reason for row in quarantine}


def test_a_time_with_a_zone_is_read_as_the_local_time_it_was_written_in(spark):
    """The night rules judge the hour where the claim happened: 23:30 in Paris is a night claim, whatever UTC says."""
    frame = pd.read_csv(io.BytesIO(csv_file(card("t1"), card("t2"), header=KAGGLE_HEADER)), dtype=str)
    frame["trans_date_trans_time"] = pd.to_datetime(["2025-01-01 01:02:03", "2025-01-01 23:30:00"]).tz_localize(
        "Europe/Paris"
    )
    assert _service_times(spark, "cards.parquet", parquet_file(frame)) == {
        "t1": dt.datetime(2025, 1, 1, 1, 2, 3),
        "t2": dt.datetime(2025, 1, 1, 23, 30, 0),
    }
    rows = [card("t1", when="2025-01-01T23:30:00-05:00"), card("t2", when="2025-01-01 23:30:00.5+0100"),
            card("t3", when="2025-01-01T08:00:00Z"), card("t4", when="2025-01-01T08:00:00+5")]  # fmt: skip
    assert _service_times(spark, "cards.csv", csv_file(*rows, header=KAGGLE_HEADER)) == {
        "t1": dt.datetime(2025, 1, 1, 23, 30, 0),
        "t2": dt.datetime(2025, 1, 1, 23, 30, 0, 500000),
        "t3": dt.datetime(2025, 1, 1, 8, 0, 0),
        "t4": "bad_timestamp_service",
    }


def _slashed(claim_id: str, service: str, submitted: str) -> str:
    return claim(claim_id, service=service).replace(f"{service},2025-01-01,", f"{service},{submitted},")


def test_slash_dates_are_read_in_the_order_their_file_decides(spark):
    """A day above 12 decides a file's order (01/13/2025 is month first, 13/01/2025 day first); every slash date of
    the file is then read that way."""
    us = csv_file(_slashed("S1", "01/13/2025", "01/14/2025"), _slashed("S2", "02/03/2025", "2/4/2025"))
    assert _dates(spark, "us.csv", us, dt.date(2025, 2, 5)) == {
        1: (dt.date(2025, 1, 13), dt.date(2025, 1, 14)),
        2: (dt.date(2025, 2, 3), dt.date(2025, 2, 4)),
    }
    european = csv_file(_slashed("S3", "13/01/2025", "14/01/2025"), _slashed("S4", "02/03/2025", "04/03/2025 17:45"))
    assert _dates(spark, "eu.csv", european, dt.date(2025, 3, 5)) == {
        1: (dt.date(2025, 1, 13), dt.date(2025, 1, 14)),
        2: (dt.date(2025, 3, 2), dt.date(2025, 3, 4)),
    }
    year_first = csv_file(_slashed("S5", "2025/1/3", "2025/01/04 08:00"))
    assert _dates(spark, "ymd.csv", year_first) == {1: (dt.date(2025, 1, 3), dt.date(2025, 1, 4))}


def test_without_a_deciding_day_the_order_that_dates_no_claim_after_its_file_decides(spark):
    # landed on 2025-03-05: 03/05/2025 is that day month first, 3 May (after it) day first
    content = csv_file(_slashed("S6", "03/01/2025", "03/05/2025"), _slashed("S7", "03/02/2025", "03/04/2025"))
    assert _dates(spark, "early.csv", content, dt.date(2025, 3, 5)) == {
        1: (dt.date(2025, 3, 1), dt.date(2025, 3, 5)),
        2: (dt.date(2025, 3, 2), dt.date(2025, 3, 4)),
    }
    # the service dates decide as well
    content = csv_file(_slashed("S12", "03/05/2025", "2025-03-05"))
    assert _dates(spark, "served.csv", content, dt.date(2025, 3, 5)) == {1: (dt.date(2025, 3, 5), dt.date(2025, 3, 5))}
    # two-digit years too (Excel's US default): landed on 2025-03-05, 05/03/25 month first is 3 May, after it
    content = csv_file(_slashed("S13", "01/03/25", "05/03/25"))
    assert _dates(spark, "short.csv", content, dt.date(2025, 3, 5)) == {1: (dt.date(2025, 3, 1), dt.date(2025, 3, 5))}
    # landed on 2025-05-04: 05/04/2025 is that day month first and 5 April day first: both readings submit every
    # claim on or before the file's day
    content = csv_file(_slashed("S8", "05/04/2025", "05/04/2025"), _slashed("S9", "01/02/2025", "2025-05-04"))
    assert _dates(spark, "both.csv", content, dt.date(2025, 5, 4)) == {
        1: "ambiguous_date_format",
        2: "ambiguous_date_format",
    }


# (service, submitted) of each claim of a file, the day it landed, and what each claim becomes (its dates, or the
# reason); the claims are D1, D2, ... on rows 1, 2, ...
SEPARATED_DATE_FILES = {
    "dots, day first": ([("13.01.2025", "14.01.2025"), ("2.3.2025", "04.03.2025 17:45")], dt.date(2025, 3, 5),
                        [(dt.date(2025, 1, 13), dt.date(2025, 1, 14)), (dt.date(2025, 3, 2), dt.date(2025, 3, 4))]),
    "dashes, month first": ([("01-13-2025", "01-14-2025"), ("02-03-2025", "2025-02-04")], dt.date(2025, 2, 5),
                            [(dt.date(2025, 1, 13), dt.date(2025, 1, 14)), (dt.date(2025, 2, 3), dt.date(2025, 2, 4))]),
    "two-digit years": ([("1/13/25", "1/14/25 8:00 PM"), ("12/31/99", "01/02/25"), ("01-13-25", "2025-01-14")],
                        dt.date(2025, 2, 1), [(dt.date(2025, 1, 13), dt.date(2025, 1, 14)),
                                              (dt.date(1999, 12, 31), dt.date(2025, 1, 2)), "bad_date_service"]),
    "compact, year first with dots": ([("20250113", "2025.01.14"), ("20250230", "20250114"),
                                       ("20250113 14:30", "2025.1.14")], dt.date(2025, 2, 1),
                                      [(dt.date(2025, 1, 13), dt.date(2025, 1, 14)), "bad_date_service",
                                       (dt.date(2025, 1, 13), dt.date(2025, 1, 14))]),
    "ISO without leading zeros": ([("2025-1-6", "2025-01-7 9:05"), ("2025-1-32", "2025-1-7"),
                                   ("2025-13-1", "2025-1-7T09:05:00")], dt.date(2025, 2, 1),
                                  [(dt.date(2025, 1, 6), dt.date(2025, 1, 7)), "bad_date_service",
                                   "bad_date_service"]),
    "Unix times, Excel serial dates": ([("1736726400", "1736879400000"), ("45670", "45671.75"),
                                        ("173672640", "2025-01-14"), ("4567", "2025-01-14")], dt.date(2025, 2, 1),
                                       [(dt.date(2025, 1, 13), dt.date(2025, 1, 14)),
                                        (dt.date(2025, 1, 13), dt.date(2025, 1, 14)), "bad_date_service",
                                        "bad_date_service"]),
}  # fmt: skip


@pytest.mark.parametrize(("dates", "landed", "expected"), SEPARATED_DATE_FILES.values(), ids=SEPARATED_DATE_FILES)
def test_dates_with_dots_dashes_two_digit_years_or_no_separator_read(spark, dates, landed, expected):
    """Exports write the month and day as numbers with dots (13.01.2025, German and Nordic) or dashes (01-13-2025),
    years with two digits (Excel's US default: 1/13/25; 00-29 are 2000-2029, 30-99 1930-1999, as Excel reads them),
    year first with dots (2025.01.13), or no separator at all (SAS and mainframes: 20250113); JSON exports write a
    Unix time (10 digits of seconds, 13 of milliseconds), a CSV saved from a sheet whose dates were formatted as
    numbers Excel's serial date (45670, days since 1899-12-30). Each reads; a file's order is decided as for
    slashes. A dashed two-digit year (25-01-13 could be year first) is a bad date, never a guess, and so is a
    number of another length."""
    rows = [_slashed(f"D{index}", service, submitted) for index, (service, submitted) in enumerate(dates, start=1)]
    assert _dates(spark, "dates.csv", csv_file(*rows), landed) == dict(enumerate(expected, start=1))


# Slash dates in every shape the typing meets: fixed width (read by position) and not (read by the regexes).
SLASH_DATE_SHAPES = [
    "01/06/2025", "13/01/2025", "01.06.2025", "01-06-2025", "1/6/2025", "01/6/2025", "1/06/2025", "01/06/25",
    "1/13/25", "01/06/2025 10:30", "01/06/2025T10:30:00Z", "01/06/2025 0:00", "13.01.2025 00:05", "01/06/20250",
    "01/06/2025x", "01/06-2025", "01/06/202a", "0a/06/2025", "01//6/2025", "01/06/ 2025", "01/06/2025  ", "2025/01/06",
    "2025.1.6", "99/99/9999", "00/00/0000", "31/02/2025", "12/31/1999 11:59:59 PM", "01/06/2025-", "01/06/25 10:00",
    "١٢/٠٦/٢٠٢٥", "01/06/2025 ", "",
]  # fmt: skip


@pytest.mark.parametrize("order", ["MDY", "DMY"])
def test_a_fixed_width_slash_date_reads_by_position_as_the_regexes_read_it(spark, order):
    """Most files write a slash date at fixed width (01/06/2025): read by position, it gives the text and the
    parts the regexes give for it, and every other shape still goes to the regexes."""
    from pyspark.sql import functions as F

    from fraud_lakehouse.claims import silver

    frame = spark.createDataFrame([(value, "f.csv") for value in SLASH_DATE_SHAPES], "value string, source_file string")
    clean = F.col("value")
    by_regex = F.when(silver._has_separated_date(clean), silver._as_iso(clean, silver.MONTH_DAY_ISO[order]))
    read = frame.select(
        "value",
        silver._iso_date_text(clean, {"f.csv": order}).alias("iso"),
        by_regex.otherwise(clean).alias("by_regex"),
        # the parts are split from the value trimmed
        *[
            F.regexp_extract(silver._trimmed("value"), silver.SLASH_DATE, group).alias(f"regex_{group}")
            for group in (1, 2, 3)
        ],
        silver._trimmed("value").rlike(silver.TWO_DIGIT_YEAR_SLASH_DATE).alias("regex_short"),
    ).collect()
    columns = [(F.col("value") if name == "service_date" else F.lit(None).cast("string")).alias(name)
               for name in silver.DATE_COLUMNS]  # fmt: skip
    parts = silver._slash_parts(frame.select("source_file", F.lit(DAY).alias("detection_date"), *columns)).collect()
    assert any(row["iso"] != row["value"] for row in read)
    for row, split in zip(read, parts, strict=True):
        assert row["iso"] == row["by_regex"], row["value"]
        assert [split[silver._slash_part("service_date", part)] for part in ("first", "second", "year")] == [
            row["regex_1"], row["regex_2"], row["regex_3"]], row["value"]  # fmt: skip
        assert split[silver._slash_part("service_date", "short_year_reads")] == row["regex_short"], row["value"]


def test_a_kaggle_file_saved_by_german_excel_keeps_its_times(spark):
    cards = [card("t1", when="13.01.2019 00:05"), card("t2", when="02.01.2019 23:59:10")]
    assert _service_times(spark, "german_excel.csv", csv_file(*cards, header=KAGGLE_HEADER)) == {
        "t1": dt.datetime(2019, 1, 13, 0, 5),
        "t2": dt.datetime(2019, 1, 2, 23, 59, 10),
    }


def test_a_card_time_as_a_unix_time_or_an_excel_serial_keeps_its_time_of_day(spark):
    cards = [card("t1", when="1736879400"), card("t2", when="1736879400999"), card("t3", when="45671.7708333333")]
    assert _service_times(spark, "epoch.csv", csv_file(*cards, header=KAGGLE_HEADER)) == {
        "t1": dt.datetime(2025, 1, 14, 18, 30),
        "t2": dt.datetime(2025, 1, 14, 18, 30),
        "t3": dt.datetime(2025, 1, 14, 18, 30),
    }


def test_a_file_whose_slash_dates_read_both_ways_is_quarantined_with_the_reason(spark):
    rows = [_slashed("S10", "01/13/2025", "01/14/2025"), _slashed("S11", "13/01/2025", "14/01/2025"), claim("C3")]
    assert _dates(spark, "mixed.csv", csv_file(*rows), dt.date(2025, 2, 1)) == {
        1: "mixed_date_format",
        2: "mixed_date_format",
        3: (dt.date(2025, 1, 1), dt.date(2025, 1, 1)),  # its ISO dates read as ever
    }


def test_a_file_that_is_not_utf8_from_its_start_is_read_as_windows_1252():
    """Excel's "CSV" on Windows: every record loads, with its accents; a UTF-8 file's broken record still breaks."""
    content = csv_file(claim(), claim("C2")).replace(b"Clinic,", "Clínica São – Müller,".encode("cp1252"))
    table = raw_table("excel.csv", content, DAY, dt.datetime(2025, 1, 2))
    assert table.column("provider_name").to_pylist() == ["Clínica São – Müller"] * 2
    assert table.column("row_error").null_count == 2
    gzipped = raw_table("excel.csv.gz", gzip.compress(content), DAY, dt.datetime(2025, 1, 2))
    assert gzipped.column("provider_name").to_pylist() == ["Clínica São – Müller"] * 2


@pytest.mark.parametrize("name", ["claims.jsonl", "claims.json"])
def test_json_lines_in_windows_1252_are_read_as_lines(name):
    """A first line whose accent is no UTF-8 is still one whole JSON object: the file is JSON lines, read as
    Windows-1252, and a broken line breaks only itself (the file was taken for a JSON document, which a broken
    value rejects whole)."""
    records = [dict(zip(HEADER.split(","), claim(claim_id).split(","), strict=True)) for claim_id in ("C1", "C3")]
    lines = [json.dumps(record | {"provider_name": "Clínica São"}, ensure_ascii=False) for record in records]
    lines.insert(1, '{"claim_id": "C2", "patient_id": ')
    table, summary = read_claims_bytes(name, "\n".join(lines).encode("cp1252"))
    assert table.column("claim_id").to_pylist() == ["C1", None, "C3"]
    assert table.column("provider_name").to_pylist() == ["Clínica São", None, "Clínica São"]
    assert table.column("row_error").to_pylist()[1] is not None
    assert summary.encoding == "cp1252"


@pytest.mark.parametrize(
    ("name", "encode"),
    [("unicode.txt", lambda text: text.encode("utf-16")),  # Excel's "Unicode Text": a byte order mark, then LE
     ("big_endian.csv", lambda text: "\ufeff".encode("utf-16-be") + text.encode("utf-16-be")),
     ("no_mark.csv", lambda text: text.encode("utf-16-le")),
     ("no_mark_be.csv", lambda text: text.encode("utf-16-be")),
     ("unicode.csv.gz", lambda text: gzip.compress(text.encode("utf-16")))],
)  # fmt: skip
def test_a_utf16_file_is_read_as_the_text_it_spells(name, encode):
    """Excel's "Unicode Text" and Windows tools write UTF-16 (tab-separated, CR LF): every record loads, with its
    accents and the characters outside the basic plane."""
    text = "\r\n".join(
        line.replace(",", "\t")
        for line in csv_file(claim(), claim("C2")).decode().replace("Clinic", "Clínica 🏥").split("\n")
    )
    table, summary = read_claims_bytes(name, encode(text))
    assert table.column("claim_id").to_pylist() == ["C1", "C2"]
    assert table.column("provider_name").to_pylist() == ["Clínica 🏥"] * 2
    assert table.column("row_error").null_count == 2 and summary.encoding == "utf-16"


def test_a_utf16_file_over_many_blocks_keeps_every_record():
    from fraud_lakehouse.claims.reader import ClaimsFile

    ids = [f"C{i}" for i in range(3_000)]
    content = csv_file(*[claim(claim_id).replace("Clinic", "Clínica 🏥") for claim_id in ids]).decode().encode("utf-16")
    reader = ClaimsFile("big.csv", io.BytesIO(content), block_bytes=4096 + 1, max_record_bytes=8192)
    batches = list(reader.batches())
    assert [claim_id for batch in batches for claim_id in batch.column("claim_id").to_pylist()] == ids
    assert {name for batch in batches for name in batch.column("provider_name").to_pylist()} == {"Clínica 🏥"}


def test_a_json_lines_file_in_utf16_loads():
    content = "\n".join(json.dumps(record, ensure_ascii=False) for record in json_claims("J1", "J2")).encode("utf-16")
    table, _ = read_claims_bytes("claims.jsonl", content)
    assert table.column("claim_id").to_pylist() == ["J1", "J2"]


REQUIRED_INSURANCE = ("claim_id", "patient_id", "provider_id", "procedure_code", "service_date", "charge_amount")


@pytest.mark.parametrize("kind", ["csv", "parquet", "jsonl", "json"])
def test_a_claims_file_without_the_optional_columns_loads_and_names_what_it_lacks(spark, kind):
    """Claim systems without a place of service or a paid amount, and JSON that leaves out null keys: a file with
    the six columns silver needs loads, the others empty and named in the run's metadata; without one of the six
    it is still rejected."""
    records = [{name: value for name, value in zip(HEADER.split(","), claim(claim_id).split(","), strict=True)
                if name in REQUIRED_INSURANCE} for claim_id in ("C1", "C2")]  # fmt: skip
    # JSON objects may each leave out other keys: the second has a state, which fills that column
    encode = {
        "csv": lambda rows: csv_file(*[",".join(row.values()) for row in rows], header=",".join(rows[0])),
        "parquet": lambda rows: parquet_file(pd.DataFrame(rows)),
        "jsonl": lambda rows: "\n".join(json.dumps(row) for row in rows).encode(),
        "json": lambda rows: json.dumps(rows).encode(),
    }[kind]
    if kind.startswith("json"):
        records[1]["patient_state"] = "CA"
    name = f"claims.{kind}"
    table = raw_table(name, encode(records), DAY, dt.datetime(2025, 1, 2))
    _, summary = read_claims_bytes(name, encode(records))
    optional = {"provider_name", "diagnosis_code", "submitted_date", "paid_amount", "patient_state", "provider_state",
                "place_of_service"}  # fmt: skip
    assert summary.layout == "insurance"
    assert set(summary.absent_columns) == optional - ({"patient_state"} if kind.startswith("json") else set())
    assert table.column("claim_id").to_pylist() == ["C1", "C2"] and table.column("paid_amount").null_count == 2
    validated = validate(candidates_from_raw(raw_frame(spark, [table]), "test-key"), ValidationRules(today=DAY))
    kept = silver_claims(validated).orderBy("claim_id").collect()
    assert [(row.claim_id, row.amount, row.paid_amount) for row in kept] == [("C1", 120.5, None), ("C2", 120.5, None)]
    assert quarantined_claims(validated).count() == 0
    without_amount = [{key: value for key, value in row.items() if key != "charge_amount"} for row in records]
    with pytest.raises(RejectedFile) as rejected:
        read_claims_bytes(name, encode(without_amount))
    assert rejected.value.reason == "unknown_layout" and "missing charge_amount" in rejected.value.detail


def test_card_transactions_without_labels_load_unlabelled(spark):
    """A user's own card transactions in Kaggle's layout carry no is_fraud (and often no unix_time, which repeats the
    time): they load, unlabelled, and the metadata names what the file lacks."""
    names = KAGGLE_HEADER.split(",")
    kept = [index for index, name in enumerate(names) if name not in ("is_fraud", "unix_time")]
    rows = [card(f"t{i}", label="") for i in range(1, 3)]
    content = csv_file(*[",".join(row.split(",")[i] for i in kept) for row in rows],
                       header=",".join(names[i] for i in kept))  # fmt: skip
    _, summary = read_claims_bytes("cards.csv", content)
    assert summary.layout == "sparkov" and summary.absent_columns == ["is_fraud", "unix_time"]
    # labels under the other name a file may give them are not absent
    _, summary = read_claims_bytes("labelled.csv", csv_file(card(), header=KAGGLE_HEADER.replace("is_fraud", "label")))
    assert summary.absent_columns == []
    table = raw_table("cards.csv", content, DAY, dt.datetime(2025, 1, 2))
    validated = validate(candidates_from_raw(raw_frame(spark, [table]), "test-key"), ValidationRules(today=DAY))
    kept_rows = silver_claims(validated).orderBy("claim_id").collect()
    assert [(row.claim_id, row.amount, row.is_fraud) for row in kept_rows] == [("t1", 12.5, None), ("t2", 12.5, None)]


@pytest.mark.parametrize(
    "spell",
    [lambda name: name.replace("_", " ").title(),  # Claim Id
     lambda name: name.replace("_", " ").upper(),  # CLAIM ID
     lambda name: "".join(word.title() for word in name.split("_")),  # ClaimId
     lambda name: name.replace("_", "-"),  # claim-id
     lambda name: f" {name.replace('_', '.')} "],  # claim.id
    ids=["title", "upper", "camel", "dashes", "dots"],
)  # fmt: skip
def test_column_names_as_people_and_tools_write_them(spell):
    """A header is read by its words, whatever the case and the separators: Claim ID, ClaimId, claim-id."""
    header = ",".join(spell(name) for name in HEADER.split(","))
    table, summary = read_claims_bytes("claims.csv", csv_file(claim(), header=header))
    assert summary.layout == "insurance" and not summary.ignored_columns
    assert table.column("charge_amount").to_pylist() == ["120.50"]
    frame = pd.read_csv(io.BytesIO(csv_file(claim(), header=header)), dtype=str)
    table, summary = read_claims_bytes("claims.parquet", parquet_file(frame))
    assert summary.layout == "insurance" and table.column("claim_id").to_pylist() == ["C1"]
    record = {spell(name): value for name, value in json_claims("J1")[0].items()}
    table, summary = read_claims_bytes("claims.jsonl", json.dumps(record).encode())
    assert summary.layout == "insurance" and table.column("claim_id").to_pylist() == ["J1"]


def test_a_unit_after_a_column_name_is_read_past():
    header = HEADER.replace("charge_amount", "Charge Amount ($)").replace("paid_amount", "paid_amount [USD]")
    table, _ = read_claims_bytes("claims.csv", csv_file(claim(), header=header))
    assert table.column("charge_amount").to_pylist() == ["120.50"] and table.column("paid_amount").to_pylist() == [
        "100"
    ]


@pytest.mark.parametrize("line", ["sep=;", '"sep=;"', "SEP=;"])
def test_excels_delimiter_line_names_the_delimiter(line):
    content = (line + "\r\n" + csv_file(claim(), claim("C2")).decode().replace(",", ";")).encode()
    table, _ = read_claims_bytes("claims.csv", content)
    assert table.column("claim_id").to_pylist() == ["C1", "C2"] and table.column("row_number").to_pylist() == [1, 2]


def test_title_and_comment_lines_before_the_header_are_kept_as_such_and_the_claims_load(spark):
    """Reports exported from Excel or a claims system start with a title, a date or comment lines before the
    header: the claims load, and each line before the header is kept (quarantined, ``before_header``), not a
    reason to lose the file."""
    title, comment = "Claims report, January 2025", "# exported 2025-01-02 by ClaimsPro"
    content = f"{title}\r\n\r\n{comment}\r\n".encode() + csv_file(claim(), claim("C2"))
    table = raw_table("report.csv", content, DAY, dt.datetime(2025, 1, 2))
    rows = {row["row_number"]: row for row in table.to_pylist()}
    assert [rows[n]["claim_id"] for n in (3, 4)] == ["C1", "C2"]
    assert [rows[n]["raw_record"] for n in (1, 2)] == [title, comment]
    assert all(rows[n]["row_error"].startswith("before_header:") for n in (1, 2))
    silver, quarantine = _silver_and_quarantine(spark, "report.csv", content)
    assert sorted(row.claim_id for row in silver) == ["C1", "C2"]
    assert {row.row_number: (row.reason, row.reasons[1]) for row in quarantine} == {
        1: ("malformed_row", "before_header"),
        2: ("malformed_row", "before_header"),
    }
    # a semicolon file after its title: the header's own delimiter is found
    semicolons = b"Report\n" + csv_file(claim()).replace(b",", b";")
    assert raw_table("semi.csv", semicolons, DAY, dt.datetime(2025, 1, 2)).column("claim_id").to_pylist()[1:] == ["C1"]


@pytest.mark.parametrize(
    ("content", "reason"),
    [(b"Claims report\n" + b"a,b,c\n1,2,3\n", "unknown_layout"),  # no known header anywhere: the first line is named
     (b"Claims report\n" + csv_file(), "no_rows"),
     (b"".join(b"line %d\n" % i for i in range(12)) + csv_file(claim()), "unknown_layout")],  # too far down to look
)  # fmt: skip
def test_a_file_without_a_known_header_near_its_top_is_still_rejected(content, reason):
    with pytest.raises(RejectedFile) as rejected:
        read_claims_bytes("report.csv", content)
    assert rejected.value.reason == reason


def test_a_header_line_repeated_inside_a_file_is_quarantined_as_such():
    """`cat a.csv b.csv > both.csv`: the second header is neither a claim nor a reason to lose the file."""
    content = csv_file(claim(), claim("C2")) + csv_file(claim("C3"))
    table = raw_table("both.csv", content, DAY, dt.datetime(2025, 1, 2))
    rows = {row["row_number"]: row for row in table.to_pylist()}
    assert [rows[n]["claim_id"] for n in (1, 2, 4)] == ["C1", "C2", "C3"]
    assert rows[3]["row_error"].startswith("repeated_header:") and rows[3]["raw_record"] == HEADER


@pytest.mark.parametrize(
    "document",
    [json.dumps(json_claims("C1", "C2", "C3")), json.dumps(json_claims("C1", "C2", "C3"), indent=2),
     "\n".join(json.dumps(record, indent=4) for record in json_claims("C1", "C2", "C3")),
     "\ufeff" + json.dumps(json_claims("C1", "C2", "C3"), indent=1),
     # APIs export their records under a key ({"claims": [...], "count": 3}): the array is the file's claims
     json.dumps({"claims": json_claims("C1", "C2", "C3")}),
     json.dumps({"meta": {"count": 3, "pages": [1]}, "data": json_claims("C1", "C2", "C3"), "next": None}, indent=2),
     "\ufeff" + json.dumps({"total": 3, "records": json_claims("C1", "C2", "C3")}, indent="\t"),
     # deeper, as paged APIs nest them
     json.dumps({"meta": {"n": 3}, "data": {"page": 1, "claims": json_claims("C1", "C2", "C3"), "links": {}}}),
     json.dumps({"response": {"status": "ok", "result": {"items": json_claims("C1", "C2", "C3")}}}, indent=2)],
    ids=["one line", "pretty", "objects over several lines", "byte order mark", "under a key, one line",
         "under a key, pretty, values around", "under a key, byte order mark", "two objects deep",
         "three objects deep"],
)  # fmt: skip
def test_a_json_document_loads_element_by_element(document):
    table, summary = read_claims_bytes("export.json", document.encode())
    assert table.column("claim_id").to_pylist() == ["C1", "C2", "C3"]
    assert table.column("row_number").to_pylist() == [1, 2, 3] and summary.layout == "insurance"


@pytest.mark.parametrize(
    ("document", "problem"),
    [(json.dumps({"claims": json_claims("C1"), "errors": [{"code": 1}]}), "a second array of objects"),
     (json.dumps({"claims": json_claims("C1", "C2")}, indent=2)[:-2], "not closed"),
     (json.dumps({"claims": json_claims("C1")}, indent=2) + "\n{}", "text after"),
     (json.dumps({"claims": json_claims("C1")})[:-1] + ', "count" 1}', "a key and ':'"),
     (json.dumps({"data": {"claims": json_claims("C1")}, "errors": [{"code": 1}]}), "a second array of objects"),
     (json.dumps({"data": {"claims": json_claims("C1", "C2")}}, indent=2)[:-2], "not closed")],
    ids=["two arrays", "unclosed", "text after", "no colon", "nested, two arrays", "nested, unclosed"],
)  # fmt: skip
def test_a_json_object_around_the_array_that_breaks_rejects_the_file(document, problem):
    with pytest.raises(RejectedFile) as rejected:
        read_claims_bytes("export.json", document.encode())
    assert rejected.value.reason == "invalid_json" and problem in rejected.value.detail


def test_a_json_lines_file_of_one_claim_with_line_items_stays_one_record():
    record = json_claims("C1")[0] | {"lines": {"items": [{"code": "J45"}, {"code": "E11"}]}}
    table, _ = read_claims_bytes("claims.jsonl", json.dumps(record).encode())
    assert table.column("claim_id").to_pylist() == ["C1"]


def test_a_pretty_claim_object_with_a_list_value_stays_a_record():
    record = json_claims("C1")[0] | {"codes": ["J45", "E11"]}
    table, _ = read_claims_bytes("claim.json", json.dumps(record, indent=2).encode())
    assert table.column("claim_id").to_pylist() == ["C1"]


def test_a_json_array_inside_an_object_over_many_blocks():
    from fraud_lakehouse.claims.reader import ClaimsFile

    ids = [f"C{i}" for i in range(2_000)]
    document = json.dumps({"meta": {"note": "x" * 5000}, "claims": json_claims(*ids), "count": len(ids)}, indent=1)
    reader = ClaimsFile("big.json", io.BytesIO(document.encode()), block_bytes=4096, max_record_bytes=8192)
    assert [claim_id for batch in reader.batches() for claim_id in batch.column("claim_id").to_pylist()] == ids


def test_a_json_array_over_many_blocks_keeps_memory_to_a_block_and_an_element():
    from fraud_lakehouse.claims.reader import ClaimsFile

    ids = [f"C{i}" for i in range(2_000)]
    document = json.dumps(json_claims(*ids), indent=1).encode()
    reader = ClaimsFile("big.json", io.BytesIO(document), block_bytes=4096, max_record_bytes=8192)
    batches = list(reader.batches())
    assert [claim_id for batch in batches for claim_id in batch.column("claim_id").to_pylist()] == ids
    assert len(document) > 100 * 4096


def test_a_json_document_that_breaks_after_batches_were_written_leaves_nothing_in_bronze(tmp_path, monkeypatch):
    import fraud_lakehouse.claims.json_document as json_document
    from fraud_lakehouse.claims.ingest import ingest_files
    from fraud_lakehouse.claims.landing import Landing

    monkeypatch.setattr(json_document, "JSON_RECORDS_PER_BATCH", 2)
    folder = tmp_path / "landing" / DAY.isoformat()
    folder.mkdir(parents=True)
    (folder / "good.csv").write_bytes(csv_file(claim("G1")))
    (folder / "broken.json").write_bytes(json.dumps(json_claims("C1", "C2", "C3", "C4", "C5")).encode()[:-3] + b"}x]")
    landing = Landing(str(tmp_path / "landing"))
    uri = str(tmp_path / "lake" / "claims_raw")
    run = ingest_files(landing, [(landed, DAY) for landed in landing.list_files()], uri,
                       (DAY, DAY + dt.timedelta(days=1)), dt.datetime(2025, 1, 2, tzinfo=dt.UTC))  # fmt: skip
    assert [entry.reason for entry in run.rejected] == ["invalid_json"]
    from deltalake import DeltaTable

    assert DeltaTable(uri).to_pandas()["claim_id"].tolist() == ["G1"]


def test_a_12_hour_time_is_read_on_the_24_hour_clock(spark):
    """US exports write times with AM/PM (12:05 AM is five past midnight, 12:30 PM half past noon); an hour the
    12-hour clock has not is a bad time, never a guess."""
    rows = [card("t1", when="1/13/2019 12:05:00 AM"), card("t2", when="1/13/2019 12:30 PM"),
            card("t3", when="1/13/2019 1:05 pm"), card("t4", when="1/13/2019 11:59:59 P.M."),
            card("t5", when="2019-01-13 09:15AM"), card("t6", when="2019-01-13 10:00:00.25 a.m."),
            card("t7", when="1/13/2019 13:05 PM"), card("t8", when="1/13/2019 0:30 AM")]  # fmt: skip
    assert _service_times(spark, "us_times.csv", csv_file(*rows, header=KAGGLE_HEADER)) == {
        "t1": dt.datetime(2019, 1, 13, 0, 5),
        "t2": dt.datetime(2019, 1, 13, 12, 30),
        "t3": dt.datetime(2019, 1, 13, 13, 5),
        "t4": dt.datetime(2019, 1, 13, 23, 59, 59),
        "t5": dt.datetime(2019, 1, 13, 9, 15),
        "t6": dt.datetime(2019, 1, 13, 10, 0, 0, 250000),
        "t7": "bad_timestamp_service",
        "t8": "bad_timestamp_service",
    }
    sparkov = csv_file(
        "t9|4263982640269299|2025-02-28|02:03:04 PM|1740708184|misc_net|5.5|1|Shop|30.1|-97.1|TX|30.2|-97.7|900000",
        header="trans_num|cc_num|trans_date|trans_time|unix_time|category|amt|is_fraud|merchant|merch_lat|merch_long|"
        "state|lat|long|city_pop",
    )
    assert _service_times(spark, "sparkov.csv", sparkov) == {"t9": dt.datetime(2025, 2, 28, 14, 3, 4)}
    # a date column's time of day may be on the 12-hour clock too: the date is taken as written
    insurance = csv_file(
        _slashed("A1", "01/05/2025", "01/06/2025 11:30 PM"), _slashed("A2", "01/05/2025", "1/6/2025 13:00 PM")
    )
    assert _dates(spark, "us_claims.csv", insurance, dt.date(2025, 1, 7)) == {
        1: (dt.date(2025, 1, 5), dt.date(2025, 1, 6)),
        2: "bad_date_submitted",
    }


def test_a_date_with_its_month_named_reads(spark):
    """Reports and older systems name the month (05-Jan-2025, 5 January 2025, Jan 5, 2025, SAS's 05JAN2025; Excel's
    d-mmm-yy, 05-Jan-25, the year's century as Excel reads it), in English or, day first, in French, German,
    Spanish, Italian, Portuguese or Dutch (31 janvier 2025, 13. März 2025, 13 de enero de 2025, 13 gennaio 2025,
    5 de março de 2025, 13 mrt 2025), the day maybe an ordinal (January 1st, 2025; 1er mars 2025): no order to
    decide. A day the month has not is a bad date, and so is text the patterns do not name ("4th of July")."""
    services = ["05-Jan-2025", "5 January 2025", '"Jan 5, 2025"', "05JAN2025", "Sept. 3 2024", '"march 9, 2024 08:15"',
                "31-Feb-2025", "31 Janvier 2025", "5-Jan-25", "31-Dec-99 23:59", "05JAN25", "13. März 2025",
                "3 FÉVR. 2025", "13 de enero de 2025", "1 août 2024 14:30", "5-dic-24", "30 février 2025",
                # ordinal days, as letters and reports write them
                '"January 1st, 2025"', "2nd Feb 2025", "Mar 3RD 2025", "4th of July 2024", "1er mars 2025",
                "21st-Jan-2025 10:00", "1x January 2025",
                # Italian, Portuguese, Dutch
                "13 gennaio 2025", "5 de Março de 2025", "13 mrt 2025", "1 maart 2025 08:00", "9-ott-24",
                "12 DEZEMBRO 2024", "3 mei 2025", "31 giugno 2025"]  # fmt: skip
    rows = [claim(f"C{index}", service=service) for index, service in enumerate(services, start=1)]
    submitted = dt.date(2025, 1, 1)
    assert _dates(spark, "named.csv", csv_file(*rows)) == {
        1: (dt.date(2025, 1, 5), submitted), 2: (dt.date(2025, 1, 5), submitted), 3: (dt.date(2025, 1, 5), submitted),
        4: (dt.date(2025, 1, 5), submitted), 5: (dt.date(2024, 9, 3), submitted), 6: (dt.date(2024, 3, 9), submitted),
        7: "bad_date_service", 8: (dt.date(2025, 1, 31), submitted), 9: (dt.date(2025, 1, 5), submitted),
        10: (dt.date(1999, 12, 31), submitted), 11: (dt.date(2025, 1, 5), submitted),
        12: (dt.date(2025, 3, 13), submitted), 13: (dt.date(2025, 2, 3), submitted),
        14: (dt.date(2025, 1, 13), submitted), 15: (dt.date(2024, 8, 1), submitted),
        16: (dt.date(2024, 12, 5), submitted), 17: "bad_date_service",
        18: (dt.date(2025, 1, 1), submitted), 19: (dt.date(2025, 2, 2), submitted),
        20: (dt.date(2025, 3, 3), submitted), 21: "bad_date_service", 22: (dt.date(2025, 3, 1), submitted),
        23: (dt.date(2025, 1, 21), submitted), 24: "bad_date_service",
        25: (dt.date(2025, 1, 13), submitted), 26: (dt.date(2025, 3, 5), submitted),
        27: (dt.date(2025, 3, 13), submitted), 28: (dt.date(2025, 3, 1), submitted),
        29: (dt.date(2024, 10, 9), submitted), 30: (dt.date(2024, 12, 12), submitted),
        31: (dt.date(2025, 5, 3), submitted), 32: "bad_date_service",
    }  # fmt: skip
    cards = [card("t1", when="05-Jan-2019 14:30:00"), card("t2", when='"Jan 5, 2019 23:59"')]
    assert _service_times(spark, "named_cards.csv", csv_file(*cards, header=KAGGLE_HEADER)) == {
        "t1": dt.datetime(2019, 1, 5, 14, 30),
        "t2": dt.datetime(2019, 1, 5, 23, 59),
    }


def test_a_kaggle_file_saved_by_excel_keeps_its_times(spark):
    """Excel writes the Kaggle file's times its own way (1/13/2019 0:05, month first in the US): the file's order is
    decided as for any date, and the times read."""
    rows = [card("t1", when="1/13/2019 0:05"), card("t2", when="1/2/2019 23:59"), card("t3", when="12/31/2018 7:00")]
    assert _service_times(spark, "excel.csv", csv_file(*rows, header=KAGGLE_HEADER)) == {
        "t1": dt.datetime(2019, 1, 13, 0, 5),
        "t2": dt.datetime(2019, 1, 2, 23, 59),
        "t3": dt.datetime(2018, 12, 31, 7, 0),
    }


@pytest.mark.parametrize(
    ("ending", "encoding", "last"),
    [("\n", "utf-8", "full"), ("\r\n", "utf-8", "full"), ("\n", "cp1252", "full"), ("\n", "utf-8", "short"),
     ("\r\n", "utf-8", "short"), ("\r\n", "utf-8", "short, quoted")],
)  # fmt: skip
def test_a_record_that_leaves_out_empty_optional_last_fields_loads(spark, ending, encoding, last):
    """Some exports leave out the delimiters of empty last cells, or add one after the last value: a record that
    stops short of optional last columns loads with them empty, and empty fields past the header are dropped, as
    pandas and Spark read them. A record that stops before a column silver needs, or holds a value past the header,
    stays broken. Each line ending, encoding and last line takes its own parsing path (pyarrow whole, pyarrow
    matched to the lines, line by line, the lines of each field count together, also where quoted values hold
    the delimiter and doubled quotes)."""
    full = claim("C1", patient="Pé")
    if last.endswith("quoted"):
        full = full.replace("Clinic", '"Smith, ""Jo"", MD"')
    lines = [
        full,
        full.replace("C1,", "C2,").removesuffix(",11"),  # no place of service
        full.replace("C1,", "C3,").removesuffix(",100,CA,CA,11"),  # paid amount and both states too
        full.replace("C1,", "C4,") + ",,",  # empty fields past the header
        full.replace("C1,", "C5,").removesuffix(",120.50,100,CA,CA,11"),  # no amount: silver needs it
        full.replace("C1,", "C6,") + ",x",  # a value past the header
        full.replace("C1,", "C7,") if last == "full" else full.replace("C1,", "C7,").removesuffix(",CA,11"),
    ]
    content = (ending.join([HEADER, *lines]) + ending).encode(encoding)
    table = raw_table("claims.csv", content, DAY, dt.datetime(2025, 1, 2))
    rows = {row["row_number"]: row for row in table.to_pylist()}
    assert sorted(rows) == list(range(1, 8))
    assert {number: (row["row_error"] or "").split(":")[0] for number, row in rows.items()} == {
        1: "", 2: "", 3: "", 4: "", 5: "wrong_field_count", 6: "wrong_field_count", 7: ""}  # fmt: skip
    assert rows[2]["place_of_service"] == "" and rows[3]["paid_amount"] == "" and rows[3]["patient_state"] == ""
    assert rows[4]["place_of_service"] == "11" and rows[3]["patient_id"] == "Pé"
    assert rows[2]["provider_name"] == ('Smith, "Jo", MD' if last.endswith("quoted") else "Clinic")
    assert rows[6]["raw_record"].endswith(",x") and rows[5]["raw_record"].startswith("C5,")
    _, summary = read_claims_bytes("claims.csv", content)  # the run's metadata counts the records fitted
    assert (summary.fitted, summary.unsplittable) == (3 if last == "full" else 4, 2)
    validated = validate(candidates_from_raw(raw_frame(spark, [table]), "test-key"), ValidationRules(today=DAY))
    kept = silver_claims(validated).orderBy("claim_id").collect()
    seventh = ("C7", 120.5, 100.0, "CA", "11") if last == "full" else ("C7", 120.5, 100.0, "CA", None)
    assert [(row.claim_id, row.amount, row.paid_amount, row.customer_state, row.channel) for row in kept] == [
        ("C1", 120.5, 100.0, "CA", "11"), ("C2", 120.5, 100.0, "CA", None), ("C3", 120.5, None, None, None),
        ("C4", 120.5, 100.0, "CA", "11"), seventh]  # fmt: skip
    assert sorted(row.row_number for row in quarantined_claims(validated).collect()) == [5, 6]


def test_a_card_record_without_its_label_field_stays_broken():
    """The card layout ends in numbers (times, coordinates, the label): a record one field short may have lost any
    of its fields, and filling the label would shift the others unnoticed, so it stays broken. An empty field past
    the header is dropped as in any layout."""
    short, with_trailing_delimiter = card("t2").rsplit(",", 1)[0], card("t3") + ","
    rows, _ = read_claims_bytes("cards.csv", csv_file(card("t1"), short, with_trailing_delimiter, header=KAGGLE_HEADER))
    found = {row["row_number"]: row for row in rows.to_pylist()}
    assert found[2]["row_error"].startswith("wrong_field_count") and found[2]["raw_record"] == short
    assert (found[1]["trans_num"], found[1]["is_fraud"]) == ("t1", "0")
    assert (found[3]["trans_num"], found[3]["is_fraud"], found[3]["row_error"]) == ("t3", "0", None)


def test_a_header_that_ends_with_a_delimiter_reads_records_that_do_not():
    """A header written with a delimiter after its last name has an unnamed last column, which is not read: records
    without that delimiter fit it."""
    rows, summary = read_claims_bytes("claims.csv", csv_file(claim("C1"), claim("C2") + ",", header=HEADER + ","))
    assert [(row["claim_id"], row["place_of_service"], row["row_error"]) for row in rows.to_pylist()] == [
        ("C1", "11", None), ("C2", "11", None)]  # fmt: skip
    assert (summary.fitted, summary.unsplittable) == (1, 0)
