"""The landing area on S3 (a moto server in its own process, over HTTP): listing, dates, reading, run config names."""

import datetime as dt
import gzip

import boto3

from fraud_lakehouse.claims.ingest import read_claims_bytes
from fraud_lakehouse.claims.landing import Landing
from fraud_lakehouse_tests.conftest import S3_BUCKET

HEADER = (
    "claim_id,patient_id,provider_id,provider_name,procedure_code,diagnosis_code,service_date,submitted_date,"
    "charge_amount,paid_amount,patient_state,provider_state,place_of_service\n"
)
ROW = "C1,P1,PR1,Clinic,99213,J45,2025-01-06,2025-01-06,120.50,100,CA,CA,11\n"


def test_s3_landing_lists_dates_and_reads(moto_s3):
    s3 = boto3.client("s3", endpoint_url=moto_s3)
    s3.put_object(Bucket=S3_BUCKET, Key="claims/2025-01-06/a.csv.gz", Body=gzip.compress((HEADER + ROW).encode()))
    s3.put_object(Bucket=S3_BUCKET, Key="claims/undated.csv", Body=(HEADER + ROW).encode())
    s3.put_object(Bucket=S3_BUCKET, Key="claims/_staging/skip.csv", Body=b"x")
    s3.put_object(Bucket=S3_BUCKET, Key="other/2025-01-06/not-claims.csv", Body=b"x")

    landing = Landing(f"s3://{S3_BUCKET}/claims/")
    files = {f.uri: f for f in landing.list_files()}
    dated, undated = f"s3://{S3_BUCKET}/claims/2025-01-06/a.csv.gz", f"s3://{S3_BUCKET}/claims/undated.csv"
    assert set(files) == {dated, undated}
    assert files[dated].detection_date == dt.date(2025, 1, 6)
    assert files[undated].detection_date == dt.datetime.now(dt.UTC).date()  # its modification day
    with landing.open(dated) as stream:
        rows, summary = read_claims_bytes(dated, stream.read())
    assert summary.layout == "insurance" and rows.num_rows == 1
    # a file named in run config, relative to the landing root
    assert landing.stat(landing.resolve("2025-01-06/a.csv.gz")).uri == dated
    assert landing.stat(landing.resolve("2025-01-06/missing.csv")) is None


def test_a_zip_archive_and_a_workbook_are_read_from_s3_in_ranges(moto_s3):
    """A ZIP archive (and so a workbook) is read from its end, where its directory is: over S3 the stream seeks in
    ranges instead of downloading the object."""
    import io
    import zipfile

    import openpyxl
    import pyarrow as pa

    from fraud_lakehouse.claims.reader import ClaimsFile

    archive = io.BytesIO()
    with zipfile.ZipFile(archive, "w", zipfile.ZIP_DEFLATED) as zipped:
        zipped.writestr("claims.csv", HEADER + ROW)
    book = openpyxl.Workbook()
    for row in (HEADER + ROW).splitlines():
        book.active.append(row.split(","))
    workbook = io.BytesIO()
    book.save(workbook)
    s3 = boto3.client("s3", endpoint_url=moto_s3)
    s3.put_object(Bucket=S3_BUCKET, Key="claims/2025-01-06/claims.zip", Body=archive.getvalue())
    s3.put_object(Bucket=S3_BUCKET, Key="claims/2025-01-06/claims.xlsx", Body=workbook.getvalue())
    landing = Landing(f"s3://{S3_BUCKET}/claims/")
    for name in ("claims.zip", "claims.xlsx"):
        uri = f"s3://{S3_BUCKET}/claims/2025-01-06/{name}"
        with landing.open(uri) as stream:
            reader = ClaimsFile(uri, stream)
            rows = pa.Table.from_batches(list(reader.batches()))
        assert rows.column("claim_id").to_pylist() == ["C1"] and reader.summary.layout == "insurance", name


class _CountedReads:
    """An S3 object's file (real HTTP to the moto server) that counts the reads reaching it that return bytes:
    each is a ranged GET (past the end, the file answers from the size it knows, without a request)."""

    def __init__(self, native):
        self.native, self.reads = native, 0

    def readinto(self, buffer) -> int:
        read = self.native.readinto(buffer)
        self.reads += read > 0
        return read

    def read(self, size: int = -1) -> bytes:
        data = self.native.read(size)
        self.reads += len(data) > 0
        return data

    def read_at(self, size: int, offset: int) -> bytes:
        data = self.native.read_at(size, offset)
        self.reads += len(data) > 0
        return data

    def __getattr__(self, name: str):
        return getattr(self.native, name)


def test_a_gzip_file_on_s3_is_read_in_few_requests(moto_s3):
    """gzip asks its input for a little at a time: read straight from the object, every such read was a ranged GET
    (Sparkov's 13 MB file took 10.7 s from moto, 0.33 s read ahead). The landing's stream reads ahead in large
    ranges; every row still arrives."""
    import random

    import pyarrow as pa

    from fraud_lakehouse.claims.reader import ClaimsFile
    from fraud_lakehouse.storage.s3 import READ_AHEAD_BYTES, S3Storage

    rng = random.Random(5)
    rows = [f"C{i},P{rng.randrange(10**9)},PR1,Clinic,99213,J45,2025-01-06,2025-01-06,{rng.randrange(10**6) / 100},"
            f"100,CA,CA,11\n" for i in range(120_000)]  # fmt: skip
    body = gzip.compress((HEADER + "".join(rows)).encode(), compresslevel=1)
    assert len(body) > 3 * 128 * 1024  # many gzip reads
    s3 = boto3.client("s3", endpoint_url=moto_s3)
    s3.put_object(Bucket=S3_BUCKET, Key="claims/2025-01-06/big.csv.gz", Body=body)
    uri = f"s3://{S3_BUCKET}/claims/2025-01-06/big.csv.gz"

    storage = S3Storage()
    opened: list[_CountedReads] = []
    open_object = storage.open_input

    def counted(object_uri: str):
        opened.append(_CountedReads(open_object(object_uri)))
        return opened[-1]

    storage.open_input = counted  # the real object, over HTTP: only its reads are counted
    landing = Landing(f"s3://{S3_BUCKET}/claims/", storage=storage)
    with landing.open(uri) as stream:
        reader = ClaimsFile(uri, stream)
        table = pa.Table.from_batches(list(reader.batches()))
    assert table.num_rows == 120_000
    assert table.column("claim_id")[-1].as_py() == "C119999"
    assert len(opened) == 1
    # one GET per READ_AHEAD_BYTES of the object (read straight, gzip's reads of this 1.8 MB file were 230)
    assert opened[0].reads <= len(body) // READ_AHEAD_BYTES + 1


def test_a_moto_server_whose_port_another_server_holds_is_an_error_not_the_other_servers_endpoint():
    import http.server
    import threading

    import pytest

    from fraud_lakehouse.local_s3 import LocalS3Error, start_moto, start_moto_on_a_free_port

    # another HTTP server holds the port: before, start_moto returned as soon as that one answered
    other = http.server.ThreadingHTTPServer(("127.0.0.1", 0), http.server.SimpleHTTPRequestHandler)
    threading.Thread(target=other.serve_forever, daemon=True).start()
    try:
        with pytest.raises(LocalS3Error, match="did not start"):
            start_moto(other.server_address[1], timeout_s=60)
    finally:
        other.shutdown()
    process, port = start_moto_on_a_free_port()
    try:
        s3 = boto3.client("s3", endpoint_url=f"http://127.0.0.1:{port}")
        s3.create_bucket(Bucket="own")
        assert [bucket["Name"] for bucket in s3.list_buckets()["Buckets"]] == ["own"]
    finally:
        process.terminate()
        process.wait(timeout=10)
