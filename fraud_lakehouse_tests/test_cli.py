"""`fraud-lakehouse generate`: formats, row counts, and clear errors before any engine work."""

from __future__ import annotations

import csv
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from fraud_lakehouse.cli import main
from fraud_lakehouse.export import ExportRequest, days_per_chunk, export
from fraud_lakehouse.generator.params import GenerationConfigError, GeneratorParams, parse_date

CLI = [sys.executable, "-m", "fraud_lakehouse.cli"]


def _cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([*CLI, *args], capture_output=True, text=True, timeout=300)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--customers", "-1"], "customers: must be at least 1"),
        (["--start", "2025-02-02", "--end", "2025-02-01"], "end: 2025-02-01 is before start 2025-02-02"),
        (["--format", "xlsx"], "format: unknown format 'xlsx'"),
        (["--fraud-share", "-0.1"], "fraud_share: must be within [0, 1]"),
        (["--fraud-share", "1.01"], "fraud_share: must be within [0, 1]"),
        (["--start", "2025-02-30"], "start: must be a date as YYYY-MM-DD"),
        (["--seed", "-4"], "seed: must be in [0, 2**63)"),
    ],
)
def test_invalid_arguments_fail_before_the_engine_starts(tmp_path, args, message):
    base = {"--start": "2025-01-01", "--end": "2025-01-02", "--out": str(tmp_path / "out")}
    for flag, value in zip(args[::2], args[1::2], strict=True):
        base[flag] = value
    result = _cli("generate", *[item for pair in base.items() for item in pair])
    assert result.returncode == 2
    assert message in result.stderr
    assert not (tmp_path / "out").exists()  # nothing was written, no engine was started


def test_unwritable_output_names_the_path(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("")
    result = _cli(
        "generate", "--customers", "5", "--start", "2025-01-01", "--end", "2025-01-01", "--out", str(blocker / "x")
    )
    assert result.returncode == 1
    assert f"lake root {blocker / 'x'} is not writable" in result.stderr
    assert "Traceback" not in result.stderr


def test_formats_write_the_same_rows(tmp_path, spark):
    params = GeneratorParams(seed=3, customers=120)
    counts = {}
    for fmt in ("delta", "parquet", "csv"):
        request = ExportRequest(
            params, parse_date("start", "2025-05-01"), parse_date("end", "2025-05-03"), str(tmp_path / fmt), fmt, 2
        )
        result = export(spark, request)
        counts[fmt] = (result.customers, result.transactions)
        assert Path(result.customers_path).is_dir() and Path(result.transactions_path).is_dir()
    assert counts["delta"] == counts["parquet"] == counts["csv"]
    assert counts["delta"][0] == 120 and counts["delta"][1] > 500
    parts = sorted((tmp_path / "csv" / "transactions").glob("*.csv"))
    assert parts
    with parts[0].open(newline="") as handle:
        header = next(csv.reader(handle))
    assert header[:3] == ["trans_num", "cc_num", "trans_date"] and "is_fraud" in header


def test_long_ranges_are_written_in_chunks_with_progress(tmp_path, spark, capsys):
    params = GeneratorParams(seed=3, customers=100_000)
    assert days_per_chunk(params.customers) < 31  # a month of 100k customers spans several chunks
    small = GeneratorParams(seed=3, customers=40)
    seen: list[tuple[int, str]] = []
    request = ExportRequest(
        small, parse_date("start", "2025-01-01"), parse_date("end", "2025-12-31"), str(tmp_path / "y"), "delta", 2
    )
    result = export(spark, request, on_chunk=lambda done, label: seen.append((done, label)))
    assert seen[-1][0] == 365 and len(seen) >= 4
    assert result.transactions == spark.read.format("delta").load(result.transactions_path).count()


def test_main_reports_config_errors_with_exit_code_2(capsys):
    assert main(["generate", "--start", "2025-01-01", "--end", "2025-01-01", "--out", "x", "--customers", "0"]) == 2
    assert "invalid customers" in capsys.readouterr().err
    with pytest.raises(GenerationConfigError):
        ExportRequest(
            GeneratorParams(), parse_date("start", "2025-01-01"), parse_date("end", "2025-01-01"), "x", "orc", 1
        )


@pytest.mark.parametrize(("layout", "name"), [("insurance", "claims.csv.gz"), ("sparkov", "cards.parquet")])
def test_sample_claims_writes_a_file_the_landing_area_accepts(tmp_path, spark, layout, name):
    import datetime as dt

    from fraud_lakehouse.claims.ingest import raw_frame, raw_table
    from fraud_lakehouse.claims.silver import ValidationRules, candidates_from_raw, validate

    out = tmp_path / name
    assert main(["sample-claims", "--layout", layout, "--claims", "300", "--out", str(out)]) == 0
    rows = raw_table(out.name, out.read_bytes(), dt.date(2025, 1, 1), dt.datetime(2025, 1, 2))
    assert set(rows.column("layout").to_pylist()) == {layout} and rows.num_rows > 300  # injected fraud on top
    raw = raw_frame(spark, [rows])
    validated = validate(candidates_from_raw(raw, "k"), ValidationRules(today=dt.date(2030, 1, 1))).collect()
    reasons = {reason for row in validated for reason in row.reasons}
    assert reasons <= {"duplicate_claim_id"}  # every row parses; only injected copies with a reused id can repeat


@pytest.mark.parametrize("layout", ["insurance", "sparkov"])
@pytest.mark.parametrize("claims", [1, 2, 3])
def test_sample_claims_with_a_handful_of_claims(tmp_path, layout, claims):
    from fraud_lakehouse.claims.ingest import read_claims_bytes

    out = tmp_path / "tiny.csv"
    assert main(["sample-claims", "--layout", layout, "--claims", str(claims), "--out", str(out)]) == 0
    rows, summary = read_claims_bytes(out.name, out.read_bytes())
    assert summary.layout == layout and rows.num_rows > claims


def test_report_without_gold_tables_says_so(tmp_path, capsys):
    assert main(["report", "rules", "--date", "2025-01-01", "--lake-root", str(tmp_path)]) == 1
    assert "materialize the gold assets first" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("start", "end", "message"),
    [
        ("2025-01-07", "2025-01-01", "--from 2025-01-07 is after --to 2025-01-01: the range is reversed"),
        ("2025-01-01", "2200-01-01", "--to 2200-01-01 is after the last partition"),
        ("2024-06-01", "2025-01-02", "--from 2024-06-01 is before the first partition 2025-01-01"),
        ("2025-01-01", "2025-02-30", "invalid to: must be a date as YYYY-MM-DD"),
    ],
)
def test_a_bad_backfill_range_is_one_line_naming_the_bad_end(capsys, start, end, message):
    assert main(["backfill", "--from", start, "--to", end]) == 2
    error = capsys.readouterr().err
    assert message in error and len(error.strip().splitlines()) == 1


def test_upload_puts_a_file_under_its_date_folder(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("FRAUD_LAKEHOUSE_LANDING", str(tmp_path / "landing"))
    source = tmp_path / "claims.csv"
    source.write_text("claim_id\n1\n")
    assert main(["upload", str(source), "--date", "2025-01-06"]) == 0
    assert (tmp_path / "landing" / "2025-01-06" / "claims.csv").read_text() == "claim_id\n1\n"
    assert main(["upload", str(tmp_path / "missing.csv")]) == 2


def test_local_s3_runs_an_endpoint_and_says_how_to_use_it():
    import boto3

    from fraud_lakehouse.local_s3 import free_port

    port = free_port()
    process = subprocess.Popen([*CLI, "local-s3", "--port", str(port), "--bucket", "mine"], stdout=subprocess.PIPE,
                               text=True)  # fmt: skip
    try:
        lines = []
        while not lines or (not lines[-1].startswith("Ctrl-C") and lines[-1]):
            lines.append(process.stdout.readline())
        exports = " ".join(lines)
        assert (
            f"AWS_ENDPOINT_URL=http://127.0.0.1:{port}" in exports
            and "FRAUD_LAKEHOUSE_LANDING=s3://mine/claims" in exports
        )
        s3 = boto3.client("s3", endpoint_url=f"http://127.0.0.1:{port}", aws_access_key_id="local",
                          aws_secret_access_key="local", region_name="us-east-1")  # fmt: skip
        s3.put_object(Bucket="mine", Key="claims/x.csv", Body=b"x")
        assert [item["Key"] for item in s3.list_objects_v2(Bucket="mine")["Contents"]] == ["claims/x.csv"]
    finally:
        process.terminate()
        # stopped as Ctrl-C stops it: the endpoint goes with it
        assert process.wait(timeout=120) == 0
    with pytest.raises(OSError):
        socket.create_connection(("127.0.0.1", port), timeout=5).close()


def test_without_the_local_extra_the_cli_says_which_extra_to_install(tmp_path):
    """The core install (an EMR node's) has no engine of its own: a laptop command says what to install."""
    blocked = (
        "import sys; sys.modules['pyspark'] = sys.modules['pysail'] = None; from fraud_lakehouse.cli import main; "
    )
    result = subprocess.run(
        [sys.executable, "-c", blocked + "sys.exit(main(['demo']))"],
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, "DAGSTER_HOME": str(tmp_path), "FRAUD_LAKEHOUSE_LAKE_ROOT": str(tmp_path / "lake")},
    )
    assert result.returncode == 2
    assert result.stderr.strip().splitlines()[-1] == (
        "fraud-lakehouse demo: pyspark is not installed; the local engine comes with the local extra: "
        "pip install -e '.[local]'"
    )
