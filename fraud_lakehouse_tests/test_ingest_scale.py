"""Ingestion at scale through the asset: a file larger than the engine's message limit (128 MiB) and many files in
one run reach bronze whole, batch by batch, with every record balanced; a file that fails part way leaves
nothing of itself and never stops the others."""

import datetime as dt
import gzip

import pyarrow as pa
import pyarrow.parquet as pq
from dagster import instance_for_test
from deltalake import DeltaTable
from pyspark.sql import functions as F

from fraud_lakehouse.claims.ingest import ingest_files
from fraud_lakehouse.claims.landing import Landing
from fraud_lakehouse_tests.lakehouse import definitions_for_test

HEADER = (
    "claim_id,patient_id,provider_id,provider_name,procedure_code,diagnosis_code,service_date,submitted_date,"
    "charge_amount,paid_amount,patient_state,provider_state,place_of_service\n"
)
DAY = dt.date(2025, 1, 6)
ENGINE_MESSAGE_LIMIT = 128 * 1024**2


def _rows(prefix: str, count: int, padding: str = "") -> bytes:
    lines = (
        f"{prefix}{i},P{i % 997},PR{i % 89},Clinic {i % 89}{padding},99213,J45,{DAY},{DAY},{100 + i % 900}.50,90,"
        "CA,CA,11"
        for i in range(count)
    )
    return ("\n".join(lines) + "\n").encode()


def _claims_raw_job(spark_engine, lake_root: str, landing):
    defs, lake = definitions_for_test(spark_engine, lake_root, landing)
    selection = {
        key
        for key in defs.resolve_asset_graph().get_all_asset_keys()
        if key.path[-1] in ("claims_raw", "claims_rejected_files")
    }
    return defs.resolve_implicit_global_asset_job_def().get_subset(asset_selection=selection), lake


def test_a_file_larger_than_the_engines_message_limit(tmp_path, spark_engine):
    landing = tmp_path / "landing"
    path = landing / DAY.isoformat() / "big.csv"
    path.parent.mkdir(parents=True)
    with open(path, "wb") as out:
        out.write(HEADER.encode())
        block = 0
        while out.tell() <= ENGINE_MESSAGE_LIMIT + 2**20:
            out.write(_rows(f"B{block}-", 50_000, padding=" of the north-west region"))
            block += 1
    records = block * 50_000
    job, lake = _claims_raw_job(spark_engine, str(tmp_path / "lake"), landing)
    with instance_for_test() as instance:
        result = job.execute_in_process(instance=instance, partition_key=DAY.isoformat())
    assert result.success
    (check,) = result.get_asset_check_evaluations()
    assert check.check_name == "records_balance" and check.passed
    assert check.metadata["records_read"].value == records
    table = DeltaTable(lake.uri("bronze", "claims_raw"))
    assert table.to_pyarrow_dataset().count_rows() == records
    assert len(table.history()) == 1  # one commit for the whole file


def test_many_files_in_one_run_with_bad_ones_among_them(tmp_path, spark_engine):
    landing = tmp_path / "landing"
    folder = landing / DAY.isoformat()
    folder.mkdir(parents=True)
    expected = 0
    for index in range(150):
        (folder / f"claims-{index:03d}.csv").write_bytes(HEADER.encode() + _rows(f"F{index}-", 40))
        expected += 40
    # bad ones: one rejected at its start, one that fails only at its end (a truncated gzip), one empty
    (folder / "notes.csv").write_text("not,a,claims,file\n1,2,3,4\n")
    whole = gzip.compress(HEADER.encode() + _rows("T-", 200_000))
    (folder / "truncated.csv.gz").write_bytes(whole[: len(whole) - 64])
    (folder / "empty.csv").write_bytes(b"")
    job, lake = _claims_raw_job(spark_engine, str(tmp_path / "lake"), landing)
    with instance_for_test() as instance:
        result = job.execute_in_process(instance=instance, partition_key=DAY.isoformat())
    assert result.success
    (check,) = result.get_asset_check_evaluations()
    assert check.passed and check.metadata["records_read"].value == expected
    raw = DeltaTable(lake.uri("bronze", "claims_raw")).to_pyarrow_table(columns=["source_file"])
    files = set(raw.column("source_file").to_pylist())
    assert raw.num_rows == expected and len(files) == 150  # nothing of the truncated file
    rejected = DeltaTable(lake.uri("bronze", "claims_rejected_files")).to_pyarrow_table().to_pylist()
    assert {row["source_file"].rsplit("/", 1)[1]: row["reason"] for row in rejected} == {
        "notes.csv": "unknown_layout",
        "truncated.csv.gz": "unreadable_gzip",
        "empty.csv": "empty_file",
    }


def test_a_failure_part_way_writes_nothing_of_the_file_and_the_write_starts_again(tmp_path):
    landing_root = tmp_path / "landing" / DAY.isoformat()
    landing_root.mkdir(parents=True)
    (landing_root / "good.csv").write_bytes(HEADER.encode() + _rows("G", 10))
    whole = gzip.compress(HEADER.encode() + _rows("T-", 200_000))
    (landing_root / "late.csv.gz").write_bytes(whole[: len(whole) - 64])  # its start reads fine
    landing = Landing(str(tmp_path / "landing"))
    files = [(landed, DAY) for landed in landing.list_files()]
    uri = str(tmp_path / "lake" / "bronze" / "claims_raw")
    run = ingest_files(landing, files, uri, (DAY, DAY + dt.timedelta(days=1)), dt.datetime.now(dt.UTC))
    assert [entry.reason for entry in run.rejected] == ["unreadable_gzip"]
    assert [item.records for item in run.ingested] == [10]
    # nothing of the failed file is left in the table's folder either
    assert len(list((tmp_path / "lake" / "bronze" / "claims_raw").rglob("*.parquet"))) == 1
    table = DeltaTable(uri)
    assert table.version() == 0 and table.to_pyarrow_dataset().count_rows() == 10


def test_re_ingesting_one_file_keeps_the_others_rows_in_data_files_it_shares_with_them(tmp_path, spark):
    """A table written by another engine can hold several landed files in one data file: re-ingesting one of them
    writes that data file again without its rows, and keeps the others'."""
    from fraud_lakehouse.claims.ingest import raw_frame, raw_table

    uri = str(tmp_path / "lake" / "bronze" / "claims_raw")
    folder = tmp_path / "landing" / DAY.isoformat()
    folder.mkdir(parents=True)
    tables = []
    for name, prefix in (("a.csv", "A"), ("b.csv", "B")):
        (folder / name).write_bytes(HEADER.encode() + _rows(prefix, 5))
        tables.append(raw_table(str(folder / name), (folder / name).read_bytes(), DAY, dt.datetime(2025, 1, 7)))
    raw_frame(spark, tables).coalesce(1).write.format("delta").partitionBy("detection_date").save(uri)
    assert len(DeltaTable(uri).file_uris()) == 1  # both files' rows in one data file
    (folder / "a.csv").write_bytes(HEADER.encode() + _rows("N", 3))
    landing = Landing(str(tmp_path / "landing"))
    named = landing.stat(str(folder / "a.csv"))
    run = ingest_files(landing, [(named, DAY)], uri, (DAY, DAY + dt.timedelta(days=1)), dt.datetime.now(dt.UTC),
                       only_sources=(named.uri,))  # fmt: skip
    assert not run.rejected
    rows = DeltaTable(uri).to_pyarrow_table(columns=["source_file", "claim_id"]).to_pylist()
    assert sorted(row["claim_id"] for row in rows) == ["B0", "B1", "B2", "B3", "B4", "N0", "N1", "N2"]


def test_small_files_share_data_files_and_replacing_any_of_them_keeps_the_others(tmp_path):
    """A day of small landed files becomes a few data files, not one per file (on S3 each cost a few requests);
    re-ingesting one of them, then one whose rows sit in the data file that rewrite produced, replaces exactly
    those rows."""
    folder = tmp_path / "landing" / DAY.isoformat()
    folder.mkdir(parents=True)
    for index in range(300):
        (folder / f"claims-{index:03d}.csv").write_bytes(HEADER.encode() + _rows(f"F{index}-", 10))
    landing = Landing(str(tmp_path / "landing"))
    uri = str(tmp_path / "lake" / "bronze" / "claims_raw")
    window = (DAY, DAY + dt.timedelta(days=1))

    def ingest(names=None):  # the whole day, or only the files named
        landed = [item for item in landing.list_files() if names is None or item.uri.rsplit("/", 1)[1] in names]
        only = tuple(item.uri for item in landed) if names is not None else None
        run = ingest_files(landing, [(item, DAY) for item in landed], uri, window, dt.datetime.now(dt.UTC), only)
        assert not run.rejected

    def claims() -> list[str]:
        return sorted(DeltaTable(uri).to_pyarrow_table(columns=["claim_id"]).column("claim_id").to_pylist())

    everything = sorted(f"F{index}-{row}" for index in range(300) for row in range(10))
    ingest()
    assert claims() == everything
    assert len(DeltaTable(uri).file_uris()) == 1  # 3,000 rows: one shared data file
    for name, prefix in (("claims-007.csv", "N7-"), ("claims-123.csv", "N123-")):
        (folder / name).write_bytes(HEADER.encode() + _rows(prefix, 3))
        ingest({name})
    replaced = {f"F{index}-{row}" for index in (7, 123) for row in range(10)}
    new = {f"N{index}-{row}" for index in (7, 123) for row in range(3)}
    assert claims() == sorted(set(everything) - replaced | new)
    # every data file's statistics hold the range of the landed files in it
    for data_file in pa.table(DeltaTable(uri).get_add_actions(flatten=True)).to_pylist():
        sources = pq.read_table(tmp_path / "lake" / "bronze" / "claims_raw" / data_file["path"]).column("source_file")
        assert (data_file["min.source_file"], data_file["max.source_file"]) == (
            min(sources.to_pylist()),
            max(sources.to_pylist()),
        )
    ingest()  # the whole day again
    assert claims() == sorted(set(everything) - replaced | new)


def test_a_run_naming_files_rewrites_no_data_file_of_the_others(tmp_path, monkeypatch):
    """The sensor's runs name the files they load. Such a run replaces the data files holding those files' rows and
    nothing else: the table's statistics say which landed files a data file holds. Before, they were written but
    not read (readers parse the first 32 columns' only), and every data file of the day was rewritten, whole in
    memory: a small file landed on a day of 10 M claims took 13.6 s and 2.6 GiB instead of 0.4 s and 0.2 GiB."""
    from fraud_lakehouse.claims import ingest

    folder = tmp_path / "landing" / DAY.isoformat()
    folder.mkdir(parents=True)
    (folder / "big.csv").write_bytes(HEADER.encode() + _rows("B", 120_000))  # several batches: its own data files
    (folder / "small.csv").write_bytes(HEADER.encode() + _rows("S", 10))
    landing = Landing(str(tmp_path / "landing"))
    uri = str(tmp_path / "lake" / "bronze" / "claims_raw")
    window = (DAY, DAY + dt.timedelta(days=1))

    def ingest_named(names=None):
        landed = [item for item in landing.list_files() if names is None or item.uri.rsplit("/", 1)[1] in names]
        only = tuple(item.uri for item in landed) if names is not None else None
        run = ingest_files(landing, [(item, DAY) for item in landed], uri, window, dt.datetime.now(dt.UTC), only)
        assert not run.rejected

    with monkeypatch.context() as earlier_version:  # the table as this project wrote it before
        earlier_version.setattr(ingest, "TABLE_CONFIGURATION", {})
        ingest_named()
    assert DeltaTable(uri).metadata().configuration == {}
    files_before = set(DeltaTable(uri).file_uris())
    (folder / "small.csv").write_bytes(HEADER.encode() + _rows("N", 4))
    ingest_named({"small.csv"})
    table = DeltaTable(uri)
    assert table.metadata().configuration == ingest.TABLE_CONFIGURATION
    files_after = set(table.file_uris())
    assert len(files_before - files_after) == 1  # small.csv's shared data file; big.csv's stay as they were
    assert len(files_after - files_before) == 1
    claims = table.to_pyarrow_table(columns=["claim_id"]).column("claim_id").to_pylist()
    assert sorted(claims) == sorted([f"B{i}" for i in range(120_000)] + [f"N{i}" for i in range(4)])


def test_data_files_leave_out_the_columns_their_file_never_fills_and_read_them_as_nulls(tmp_path, spark):
    """A landed file fills its layout's columns only; its data files leave the others out, and start again with
    more columns when a later batch fills one (a label first seen part way through a JSON lines file, a broken
    record after the first block). Read through the engine and delta-rs, every row has its values and nulls."""
    import json

    import pyarrow.parquet as pq

    folder = tmp_path / "landing" / DAY.isoformat()
    folder.mkdir(parents=True)
    count = 60_000  # more than one 4 MiB block in each file
    csv_lines = _rows("C", count).splitlines(keepends=True)
    csv_lines.insert(count - 5, b'C-broken,"an open quote,P1,PR1\n')
    (folder / "claims.csv").write_bytes(HEADER.encode() + b"".join(csv_lines))
    fields = HEADER.strip().split(",")
    with open(folder / "claims.jsonl", "w") as out:
        for i in range(count):
            values = dict(zip(fields, _rows(f"J{i}-", 1).decode().strip().split(","), strict=True))
            if i >= count - 10:
                values["is_fraud"] = 1  # a label only in the file's last records
            out.write(json.dumps(values) + "\n")
    landing = Landing(str(tmp_path / "landing"))
    uri = str(tmp_path / "lake" / "bronze" / "claims_raw")
    run = ingest_files(landing, [(landed, DAY) for landed in landing.list_files()], uri,
                       (DAY, DAY + dt.timedelta(days=1)), dt.datetime.now(dt.UTC))  # fmt: skip
    assert not run.rejected and run.records == 2 * count + 1

    table = DeltaTable(uri)
    widths = [len(pq.read_schema(path)) for path in table.file_uris()]
    assert min(widths) < 20 < len(table.schema().fields)  # the Sparkov columns, among others, are left out
    assert any("is_fraud" in pq.read_schema(path).names for path in table.file_uris())
    assert any("raw_record" in pq.read_schema(path).names for path in table.file_uris())

    rows = spark.read.format("delta").load(uri)
    assert rows.count() == 2 * count + 1
    by_layout = {
        (row.source_file.rsplit(".", 1)[1], row.labelled, row.broken, row.sparkov): row["count"]
        for row in rows.groupBy(
            "source_file",
            F.col("is_fraud").isNotNull().alias("labelled"),
            F.col("raw_record").isNotNull().alias("broken"),
            F.col("cc_num").isNotNull().alias("sparkov"),
        )
        .count()
        .collect()
    }
    assert by_layout == {
        ("csv", False, False, False): count,
        ("csv", False, True, False): 1,
        ("jsonl", False, False, False): count - 10,
        ("jsonl", True, False, False): 10,
    }
    broken = rows.where(F.col("raw_record").isNotNull()).select("raw_record", "row_error", "claim_id").first()
    assert broken.raw_record.startswith("C-broken") and broken.row_error.startswith("unclosed_quote")
    assert broken.claim_id is None
    assert table.to_pyarrow_table(columns=["cc_num", "claim_id"]).column("cc_num").null_count == 2 * count + 1


def test_a_parquet_files_dictionary_encoded_text_reaches_bronze_value_for_value(tmp_path, spark):
    """Text columns a Parquet file stores dictionary-encoded are read and written as dictionaries (one value
    decoded per distinct value); every value, NULLs included, reaches bronze as the file has it, over several
    row groups, beside columns stored plain and columns of other types."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    count = 150_000
    frame = pa.table(
        {
            "claim_id": [f"C{i}" for i in range(count)],  # unique: stored plain
            "patient_id": [f"P{i % 997}" for i in range(count)],
            "provider_id": [f"PR{i % 89}" for i in range(count)],
            "provider_name": [None if i % 7 == 0 else f"Clínica {i % 89}" for i in range(count)],
            "procedure_code": pa.array([str(99200 + i % 9) for i in range(count)], pa.large_string()),
            "diagnosis_code": ["J45"] * count,
            "service_date": [DAY] * count,  # a date, not text: read as text
            "submitted_date": [str(DAY)] * count,
            "charge_amount": [100.5 + i % 300 for i in range(count)],
            "paid_amount": [str(90 + i % 50) for i in range(count)],
            "patient_state": ["CA"] * count,
            "provider_state": [["CA", "NV", None][i % 3] for i in range(count)],
            "place_of_service": ["11"] * count,
        }
    )
    folder = tmp_path / "landing" / DAY.isoformat()
    folder.mkdir(parents=True)
    pq.write_table(frame, folder / "claims.parquet", row_group_size=40_000)
    landing = Landing(str(tmp_path / "landing"))
    uri = str(tmp_path / "lake" / "bronze" / "claims_raw")
    run = ingest_files(landing, [(landed, DAY) for landed in landing.list_files()], uri,
                       (DAY, DAY + dt.timedelta(days=1)), dt.datetime.now(dt.UTC))  # fmt: skip
    assert not run.rejected and run.records == count

    written = pq.ParquetFile(DeltaTable(uri).file_uris()[0]).metadata.row_group(0)
    encodings = {written.column(i).path_in_schema: written.column(i).encodings for i in range(written.num_columns)}
    assert "RLE_DICTIONARY" in encodings["provider_id"] and "RLE_DICTIONARY" not in encodings["claim_id"]
    expected = frame.select(["claim_id", "provider_name", "procedure_code", "provider_state", "charge_amount"])
    for name in ("procedure_code", "charge_amount"):
        expected = expected.set_column(
            expected.schema.get_field_index(name), name, expected.column(name).cast(pa.string())
        )
    rows = (
        spark.read.format("delta")
        .load(uri)
        .select("claim_id", "provider_name", "procedure_code", "provider_state", "charge_amount", "row_number")
        .orderBy("row_number")
        .toArrow()
    )
    for name in expected.column_names:
        assert rows.column(name).to_pylist() == expected.column(name).to_pylist(), name
