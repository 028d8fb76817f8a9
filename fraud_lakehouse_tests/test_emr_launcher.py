"""The production profile's EMR step launcher, for real, against a moto server process (S3 and EMR over HTTP).

`dagster asset materialize` under the prod profile stages the code, the step's pickle and the entry script on S3
and submits an EMR step whose command carries the documented spark-submit arguments, Python and Delta settings.
The test then runs the staged step as the cluster would: the launcher's own entry script, the staged zip on its
path, the step's environment, in a separate process, with the embedded engine standing in for EMR's Spark. moto
keeps every step RUNNING, so completing it is the one part the test stands in for (a flag file the launcher's
completion check reads, patched into the command's process). The events and the materialization come back to the
run, the Delta table is written on S3, and a single-run backfill of three dates is one step and three partition
materializations. Bad settings fail at load or at launch naming the setting.
"""

import json
import os
import shlex
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import boto3
import pytest
from dagster import DagsterEventType, DagsterInstance
from deltalake import DeltaTable

from fraud_lakehouse_tests.conftest import S3_BUCKET
from fraud_lakehouse_tests.instance_home import InstanceHome, new_home

HEADER = (
    "claim_id,patient_id,provider_id,provider_name,procedure_code,diagnosis_code,service_date,submitted_date,"
    "charge_amount,paid_amount,patient_state,provider_state,place_of_service\n"
)
KEY = "an-emr-test-pseudonym-key-0123456789"
# Injected into the command's process: the launcher's completion check reads a flag file (moto never completes a
# step). Nothing else of the launcher or of S3 is touched.
COMPLETION_STAND_IN = textwrap.dedent(
    """
    import os
    from pathlib import Path

    if os.environ.get("FRAUD_LAKEHOUSE_TEST_STEP_DONE_FOLDER"):
        from dagster_aws.emr.emr import EmrJobRunner

        def is_emr_step_complete(self, log, cluster_id, emr_step_id):
            return (Path(os.environ["FRAUD_LAKEHOUSE_TEST_STEP_DONE_FOLDER"]) / emr_step_id).exists()

        EmrJobRunner.is_emr_step_complete = is_emr_step_complete
    """
)


def _claims(prefix: str, day: str, count: int = 6) -> bytes:
    rows = [f"{prefix}{i},P{i},PR1,Clinic,99213,J45,{day},{day},{100 + i}.50,90,CA,CA,11" for i in range(count)]
    return (HEADER + "\n".join(rows) + "\n").encode()


@pytest.fixture()
def prod(moto_s3, tmp_path):
    emr = boto3.client("emr")
    cluster = emr.run_job_flow(
        Name="fraud-lakehouse-test",
        ReleaseLabel="emr-7.13.0",
        Instances={"MasterInstanceType": "m5.xlarge", "InstanceCount": 1, "KeepJobFlowAliveWhenNoSteps": True},
        JobFlowRole="EMR_EC2_DefaultRole",
        ServiceRole="EMR_DefaultRole",
        LogUri=f"s3://{S3_BUCKET}/emr-logs/",
    )["JobFlowId"]
    stand_in = tmp_path / "stand_in"
    stand_in.mkdir()
    (stand_in / "sitecustomize.py").write_text(COMPLETION_STAND_IN)
    done = tmp_path / "steps_done"
    done.mkdir()
    prefix = f"prod-{tmp_path.name}"
    home = new_home(
        tmp_path / "home",
        FRAUD_LAKEHOUSE_DEPLOYMENT="prod",
        FRAUD_LAKEHOUSE_EMR_CLUSTER_ID=cluster,
        FRAUD_LAKEHOUSE_EMR_STAGING_BUCKET=S3_BUCKET,
        FRAUD_LAKEHOUSE_EMR_STAGING_PREFIX=f"{prefix}/staging",
        FRAUD_LAKEHOUSE_EMR_POLL_SECONDS="1",
        FRAUD_LAKEHOUSE_LAKE_ROOT=f"s3://{S3_BUCKET}/{prefix}/lake",
        FRAUD_LAKEHOUSE_LANDING=f"s3://{S3_BUCKET}/{prefix}/claims",
        FRAUD_LAKEHOUSE_PSEUDONYM_KEY_PARAMETER="/fraud-lakehouse/pseudonym-key",
        FRAUD_LAKEHOUSE_PSEUDONYM_KEY=KEY,
        FRAUD_LAKEHOUSE_TEST_STEP_DONE_FOLDER=str(done),
        PYTHONPATH=str(stand_in),
    )
    assert home.run("fraud-lakehouse", "init").returncode == 0
    return home, cluster, prefix, done


class Cluster(threading.Thread):
    """Plays the EMR cluster: runs each submitted step's staged entry script, then marks the step complete."""

    def __init__(self, cluster: str, done: Path, work: Path):
        super().__init__(daemon=True)
        self.cluster, self.done, self.work = cluster, done, work
        self.steps: list[dict] = []
        self.outputs: list[str] = []
        self.stop = threading.Event()

    def run(self) -> None:
        emr, s3 = boto3.client("emr"), boto3.client("s3")
        seen: set[str] = set()
        while not self.stop.is_set():
            for step in emr.list_steps(ClusterId=self.cluster)["Steps"]:
                if step["Id"] in seen:
                    continue
                seen.add(step["Id"])
                self.steps.append(step)
                self.outputs.append(self._run_step(s3, step))
                (self.done / step["Id"]).write_text("done")
            time.sleep(0.5)

    def _run_step(self, s3, step: dict) -> str:  # type: ignore[no-untyped-def]
        script = step["Config"]["Args"][2]  # bash -c SCRIPT
        words = shlex.split(script.split("exec env ", 1)[1])
        submit = words.index("/usr/lib/spark/bin/spark-submit")
        env = dict(word.split("=", 1) for word in words[:submit])
        entry, bucket, key = words[-3:]
        code = words[words.index("--py-files") + 1]
        folder = self.work / step["Id"]
        folder.mkdir()
        for uri, name in ((entry, "emr_step_main.py"), (code, "code.zip")):
            source_bucket, source_key = uri.removeprefix("s3://").split("/", 1)
            s3.download_file(source_bucket, source_key, str(folder / name))
        process_env = {k: v for k, v in os.environ.items() if not k.startswith("FRAUD_LAKEHOUSE_")}
        process_env.update(env)
        # the cluster's own environment: the key (read from SSM by the real command) and, standing in for EMR's
        # Spark, the embedded engine
        process_env.update(
            FRAUD_LAKEHOUSE_PSEUDONYM_KEY=KEY, FRAUD_LAKEHOUSE_ENGINE="sail", PYTHONPATH=str(folder / "code.zip")
        )
        result = subprocess.run(
            [sys.executable, str(folder / "emr_step_main.py"), bucket, key],
            env=process_env,
            capture_output=True,
            text=True,
            timeout=600,
        )
        return f"exit {result.returncode}\n{result.stdout[-3000:]}\n{result.stderr[-3000:]}"


def _materialize(home: InstanceHome, *partition: str) -> tuple[int, str]:
    result = home.run(
        "dagster", "asset", "materialize", "-m", "fraud_lakehouse.definitions",
        "--select", "bronze/claims_raw,bronze/claims_rejected_files", *partition, timeout=900,
    )  # fmt: skip
    return result.returncode, result.stdout[-4000:] + result.stderr[-4000:]


def test_a_step_runs_on_emr_and_its_events_come_back(prod, tmp_path, monkeypatch):
    home, cluster, prefix, done = prod
    s3 = boto3.client("s3")
    days = ["2025-01-06", "2025-01-07", "2025-01-08"]
    for day in days:
        s3.put_object(Bucket=S3_BUCKET, Key=f"{prefix}/claims/{day}/claims.csv", Body=_claims(f"E{day[-1]}-", day))
    player = Cluster(cluster, done, tmp_path)
    player.start()
    try:
        code, output = _materialize(home, "--partition", "2025-01-06")
        assert code == 0, f"{output}\n{player.outputs}"
        code, output = _materialize(home, "--partition-range", "2025-01-07...2025-01-08")
        assert code == 0, f"{output}\n{player.outputs}"
    finally:
        player.stop.set()
        player.join(timeout=30)

    # two runs, one EMR step each (a range is one step), with the documented command
    assert len(player.steps) == 2, player.outputs
    script = player.steps[0]["Config"]["Args"]
    assert script[:2] == ["bash", "-c"]
    command = script[2]
    assert "aws ssm get-parameter --name /fraud-lakehouse/pseudonym-key --with-decryption" in command
    assert KEY not in command  # the secret never travels in the step
    for expected in (
        "/usr/lib/spark/bin/spark-submit --master yarn --deploy-mode client",
        "spark.pyspark.python=python3.11",
        "spark.pyspark.driver.python=python3.11",
        "spark.sql.extensions=io.delta.sql.DeltaSparkSessionExtension",
        "spark.sql.catalog.spark_catalog=org.apache.spark.sql.delta.catalog.DeltaCatalog",
        "FRAUD_LAKEHOUSE_ENGINE=emr",
        "FRAUD_LAKEHOUSE_DEPLOYMENT=prod",
        f"FRAUD_LAKEHOUSE_LAKE_ROOT=s3://{S3_BUCKET}/{prefix}/lake",
        "FRAUD_LAKEHOUSE_SYNTHETIC_FEED=off",
    ):
        assert expected in command, expected
    assert player.steps[0]["ActionOnFailure"] == "CONTINUE"
    # staged: the entry script, the code (the package alone) and the step's pickle
    staged = [item["Key"] for item in s3.list_objects_v2(Bucket=S3_BUCKET, Prefix=f"{prefix}/staging/")["Contents"]]
    names = {key.rsplit("/", 1)[1] for key in staged}
    assert {"emr_step_main.py", "code.zip", "step_run_ref.pkl", "events.pkl"} <= names
    zipped = next(key for key in staged if key.endswith("code.zip"))
    import io
    import zipfile

    members = zipfile.ZipFile(io.BytesIO(s3.get_object(Bucket=S3_BUCKET, Key=zipped)["Body"].read())).namelist()
    assert all(member.startswith("fraud_lakehouse/") for member in members)
    assert "fraud_lakehouse/definitions.py" in members and not any(".venv" in m or ".git/" in m for m in members)

    # the Delta table on S3, written by the step
    rows = DeltaTable(f"s3://{S3_BUCKET}/{prefix}/lake/bronze/claims_raw").to_pyarrow_table().num_rows
    assert rows == 18
    # the events came back: each run materialized its partitions
    monkeypatch.chdir(home.path)
    with DagsterInstance.from_config(str(home.path)) as instance:
        runs = instance.get_runs()
        assert len(runs) == 2 and all(run.is_success for run in runs)
        partitions = sorted(
            record.event_log_entry.dagster_event.partition
            for run in runs
            for record in instance.get_records_for_run(
                run.run_id, of_type=DagsterEventType.ASSET_MATERIALIZATION
            ).records
            if record.event_log_entry.dagster_event.asset_key.path[-1] == "claims_raw"
        )
    assert partitions == days


@pytest.mark.parametrize(
    ("setting", "value", "message"),
    [
        ("FRAUD_LAKEHOUSE_EMR_CLUSTER_ID", "", "FRAUD_LAKEHOUSE_EMR_CLUSTER_ID is not set"),
        ("AWS_REGION", "mars-north-9x", "AWS_REGION='mars-north-9x' is not an AWS region"),
        ("FRAUD_LAKEHOUSE_LAKE_ROOT", "/tmp/lake", "FRAUD_LAKEHOUSE_LAKE_ROOT='/tmp/lake'"),
        ("FRAUD_LAKEHOUSE_PSEUDONYM_KEY_PARAMETER", "", "FRAUD_LAKEHOUSE_PSEUDONYM_KEY_PARAMETER is not set"),
    ],
)
def test_a_wrong_setting_fails_at_load_naming_it(prod, setting, value, message):
    home, *_ = prod
    home.settings[setting] = value
    env = home.env()
    if setting == "AWS_REGION":
        env.pop("AWS_DEFAULT_REGION", None)
    result = subprocess.run(
        home.command("dagster", "definitions", "validate", "-m", "fraud_lakehouse.definitions"),
        cwd=home.path, env=env, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert result.returncode != 0 and message in result.stdout + result.stderr


@pytest.mark.parametrize(
    ("setting", "value", "message"),
    [
        ("FRAUD_LAKEHOUSE_EMR_STAGING_BUCKET", "no-such-bucket", "FRAUD_LAKEHOUSE_EMR_STAGING_BUCKET=no-such-bucket"),
        ("FRAUD_LAKEHOUSE_EMR_CLUSTER_ID", "j-TERMINATED01", "FRAUD_LAKEHOUSE_EMR_CLUSTER_ID=j-TERMINATED01"),
    ],
)
def test_a_wrong_setting_fails_at_launch_naming_it(prod, setting, value, message):
    home, cluster, prefix, _ = prod
    if value.startswith("j-TERMINATED"):
        emr = boto3.client("emr")
        emr.terminate_job_flows(JobFlowIds=[cluster])
        value = cluster
        message = f"FRAUD_LAKEHOUSE_EMR_CLUSTER_ID={cluster}: the cluster is TERMINAT"
    home.settings[setting] = value
    boto3.client("s3").put_object(
        Bucket=S3_BUCKET, Key=f"{prefix}/claims/2025-01-06/claims.csv", Body=_claims("X", "2025-01-06")
    )
    code, output = _materialize(home, "--partition", "2025-01-06")
    assert code != 0 and message in output, output


def test_a_stopped_run_cancels_its_emr_step():
    """moto does not implement cancel_steps; what the launcher calls is checked on its own."""
    from unittest import mock

    from fraud_lakehouse.resources.emr import EmrStepLauncher

    launcher = EmrStepLauncher(
        step_env={}, key_parameter="/k", region_name="us-east-1", staging_bucket="b", staging_prefix="p",
        cluster_id="j-ABCDEFGH1234", spark_config={},
    )  # fmt: skip
    from dagster._core.errors import DagsterExecutionInterruptedError

    context = mock.MagicMock()
    context.dagster_run.run_id = "run"
    context.op.name = "claims_raw"
    with (
        mock.patch.object(launcher, "check_ready"),
        mock.patch("fraud_lakehouse.resources.emr.step_context_to_step_run_ref") as reference,
        mock.patch.object(launcher, "_post_artifacts"),
        mock.patch.object(launcher.emr_job_runner, "add_job_flow_steps", return_value=["s-STEP1"]),
        mock.patch.object(launcher, "wait_for_completion_and_log", side_effect=DagsterExecutionInterruptedError()),
        mock.patch.object(launcher.emr_job_runner, "make_emr_client") as client,
    ):
        reference.return_value.step_key = "claims_raw"
        with pytest.raises(DagsterExecutionInterruptedError):
            list(launcher.launch_step(context))
    client.return_value.cancel_steps.assert_called_once_with(
        ClusterId="j-ABCDEFGH1234", StepIds=["s-STEP1"], StepCancellationOption="TERMINATE_PROCESS"
    )
    assert json.dumps(launcher.step_env) == "{}"
