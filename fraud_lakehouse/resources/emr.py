"""The production step launcher: Dagster's EMR PySpark step launcher, with what this project needs around it.

``EmrStepLauncher`` is dagster-aws's ``EmrPySparkStepLauncher`` (it stages
the step's pickle, the code and the entry script on S3, submits one EMR step
per Dagster step running ``spark-submit``, and streams the step's events
back from S3), changed where its defaults do not fit:

- the code it stages is the ``fraud_lakehouse`` package alone: its own zip
  of the whole ``local_job_package_path`` takes ``.venv``, ``.git`` and the
  local lake along;
- every setting the Dagster host decided (engine, lake, landing, synthetic
  feed, ...) is passed to the step's driver as its environment, so the
  remote process builds exactly the host's resources and never falls back
  to a local default because a variable is unset on the cluster; the one
  secret, the pseudonymisation key, is read from SSM Parameter Store on the
  cluster by the step's command, never written into the step;
- ``action_on_failure`` is ``CONTINUE``: the default ``CANCEL_AND_WAIT``
  cancels other runs' steps, and EMR refuses it on clusters that run steps
  concurrently;
- a run that is stopped cancels its EMR step (the launcher never did);
- the cluster, the staging bucket and the credentials are checked before
  anything is staged, each failure naming its setting;
- ``describe_step`` is polled every ``poll_interval_s`` (15 s, as before, by
  default: AWS rate-limits the call).

dagster-aws marks the launcher "superseded" by Dagster Pipes (a
``SupersessionWarning`` on every import and call). It is still supported and
is the EMR integration this project is built on, so the warning is filtered
here, where the launcher is used, instead of reaching users' terminals.
"""

from __future__ import annotations

import os
import shlex
import tempfile
import warnings
import zipfile
from pathlib import Path
from typing import Any

from dagster._core.errors import DagsterExecutionInterruptedError
from dagster._core.execution.plan.external_step import step_context_to_step_run_ref

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    from dagster_aws.emr import EmrError
    from dagster_aws.emr.pyspark_step_launcher import CODE_ZIP_NAME, EmrPySparkStepLauncher

import fraud_lakehouse
from fraud_lakehouse.claims.privacy import KEY_ENV

warnings.filterwarnings("ignore", message=".*superseded.*", category=FutureWarning)

EMR_PYTHON = "python3.11"
# How long a failed step waits for its stderr to reach the log bucket, and how much of it the run's log shows.
STDERR_WAIT_S = 90
STDERR_CHARS = 20_000


class EmrSettingError(RuntimeError):
    """A production setting that is missing or wrong; the message names it."""


def package_zip(path: str) -> None:
    """The ``fraud_lakehouse`` package (code and package data, no caches) as a zip importable from its root."""
    package = Path(fraud_lakehouse.__file__).parent
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        for file in sorted(package.rglob("*")):
            if file.is_dir() or "__pycache__" in file.parts or file.suffix == ".pyc":
                continue
            archive.write(file, file.relative_to(package.parent))


class EmrStepLauncher(EmrPySparkStepLauncher):
    def __init__(self, *, step_env: dict[str, str], key_parameter: str, poll_interval_s: float = 15.0, **kwargs: Any):
        kwargs.setdefault("action_on_failure", "CONTINUE")
        kwargs.setdefault("wait_for_logs", False)
        kwargs.setdefault("deploy_local_job_package", True)
        kwargs.setdefault("local_job_package_path", str(Path(fraud_lakehouse.__file__).parent.parent))
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            super().__init__(**kwargs)
        self.step_env = dict(step_env)
        self.key_parameter = key_parameter
        self.poll_interval_s = poll_interval_s

    # -- checks -------------------------------------------------------------------------------------------

    def check_ready(self) -> None:
        """The cluster is up, the staging bucket exists, the credentials work: else one line naming the setting."""
        import boto3
        from botocore.exceptions import BotoCoreError, ClientError, NoCredentialsError

        try:
            boto3.client("s3", region_name=self.region_name).head_bucket(Bucket=self.staging_bucket)
        except NoCredentialsError:
            raise EmrSettingError("AWS credentials: none found (environment, profile or instance role)") from None
        except ClientError as error:
            code = error.response.get("Error", {}).get("Code", "")
            if code in ("403", "InvalidAccessKeyId", "SignatureDoesNotMatch", "AccessDenied"):
                raise EmrSettingError(f"AWS credentials: refused by S3 ({code})") from None
            raise EmrSettingError(
                f"FRAUD_LAKEHOUSE_EMR_STAGING_BUCKET={self.staging_bucket}: the bucket does not exist ({code})"
            ) from None
        except BotoCoreError as error:
            raise EmrSettingError(f"AWS_REGION={self.region_name} / the S3 endpoint: {error}") from None
        try:
            cluster = boto3.client("emr", region_name=self.region_name).describe_cluster(ClusterId=self.cluster_id)
        except ClientError as error:
            raise EmrSettingError(
                f"FRAUD_LAKEHOUSE_EMR_CLUSTER_ID={self.cluster_id}: {error.response.get('Error', {}).get('Message')}"
            ) from None
        state = cluster["Cluster"]["Status"]["State"]
        if state.startswith("TERMINAT"):
            raise EmrSettingError(
                f"FRAUD_LAKEHOUSE_EMR_CLUSTER_ID={self.cluster_id}: the cluster is {state} (an idle cluster ends "
                "itself; deploy/README.md, 'A new cluster', starts the next one)"
            )

    # -- staging and the step ----------------------------------------------------------------------------

    def _post_artifacts(self, log, step_run_ref, run_id, step_key):  # type: ignore[no-untyped-def]
        """As the parent does, with the package's own zip (see the module docstring)."""
        import pickle

        import boto3
        from dagster._core.execution.plan.external_step import PICKLED_STEP_RUN_REF_FILE_NAME

        s3 = boto3.client("s3", region_name=self.region_name)
        with tempfile.TemporaryDirectory() as folder:

            def upload(local_path: str, name: str) -> None:
                key = self._artifact_s3_key(run_id, step_key, name)
                log.debug(f"Uploading {local_path} to s3://{self.staging_bucket}/{key}")
                s3.upload_file(Filename=local_path, Bucket=self.staging_bucket, Key=key)

            upload(self._main_file_local_path(), self._main_file_name())
            code = os.path.join(folder, CODE_ZIP_NAME)
            package_zip(code)
            upload(code, CODE_ZIP_NAME)
            reference = os.path.join(folder, PICKLED_STEP_RUN_REF_FILE_NAME)
            with open(reference, "wb") as handle:
                pickle.dump(step_run_ref, handle)
            upload(reference, PICKLED_STEP_RUN_REF_FILE_NAME)

    def _get_emr_step_def(self, run_id, step_key, solid_name):  # type: ignore[no-untyped-def]
        """The parent's step (``spark-submit`` of the staged entry script), run by bash with the host's settings as
        its environment; the pseudonymisation key is read from SSM on the cluster, so it is never in the step's
        arguments (EMR shows them)."""
        step = super()._get_emr_step_def(run_id, step_key, solid_name)
        command = step["HadoopJarStep"]["Args"]
        settings = " ".join(shlex.quote(f"{name}={value}") for name, value in sorted(self.step_env.items()))
        key = (
            f"aws ssm get-parameter --name {shlex.quote(self.key_parameter)} --with-decryption "
            f"--query Parameter.Value --output text --region {shlex.quote(self.region_name)}"
        )
        script = f'{KEY_ENV}="$({key})" && export {KEY_ENV} && exec env {settings} {shlex.join(command)}'
        step["HadoopJarStep"]["Args"] = ["bash", "-c", script]
        return step

    def wait_for_completion(self, step_context, s3, run_id, step_key, emr_step_id, check_interval=15):  # type: ignore[no-untyped-def]
        yield from super().wait_for_completion(
            step_context, s3, run_id, step_key, emr_step_id, check_interval=self.poll_interval_s
        )

    def launch_step(self, step_context):  # type: ignore[no-untyped-def]
        """The parent's launch (stage, submit, stream the events back), after the checks; a stopped run cancels
        its EMR step, and a failed step's stderr comes to the run's log."""
        self.check_ready()
        log = step_context.log
        step_run_ref = step_context_to_step_run_ref(step_context, self.local_job_package_path)
        run_id, step_key = step_context.dagster_run.run_id, step_run_ref.step_key
        self._post_artifacts(log, step_run_ref, run_id, step_key)
        emr_step = self._get_emr_step_def(run_id, step_key, step_context.op.name)
        (step_id,) = self.emr_job_runner.add_job_flow_steps(log, self.cluster_id, [emr_step])
        try:
            yield from self.wait_for_completion_and_log(run_id, step_key, step_id, step_context)
        except (DagsterExecutionInterruptedError, KeyboardInterrupt):
            log.warning(f"the run was stopped: cancelling EMR step {step_id} on {self.cluster_id}")
            self.emr_job_runner.make_emr_client().cancel_steps(
                ClusterId=self.cluster_id, StepIds=[step_id], StepCancellationOption="TERMINATE_PROCESS"
            )
            raise
        except EmrError:
            self._log_stderr(log, step_id)
            raise

    def _log_stderr(self, log, step_id: str) -> None:  # type: ignore[no-untyped-def]
        """The failed step's stderr, from the cluster's log bucket (EMR copies it there within minutes)."""
        import gzip
        import time

        import boto3

        try:
            bucket, prefix = self.emr_job_runner.log_location_for_cluster(self.cluster_id)
        except Exception as error:  # no log location configured on the cluster
            log.error(f"EMR step {step_id} failed; its stderr is on the cluster ({error})")
            return
        key = f"{prefix.rstrip('/')}/{self.cluster_id}/steps/{step_id}/stderr.gz".lstrip("/")
        s3 = boto3.client("s3", region_name=self.region_name)
        deadline = time.monotonic() + STDERR_WAIT_S
        while True:
            try:
                text = gzip.decompress(s3.get_object(Bucket=bucket, Key=key)["Body"].read()).decode(errors="replace")
                log.error(f"EMR step {step_id} failed; its stderr (s3://{bucket}/{key}):\n{text[-STDERR_CHARS:]}")
                return
            except Exception:
                if time.monotonic() > deadline:
                    log.error(f"EMR step {step_id} failed; its stderr will be at s3://{bucket}/{key}")
                    return
                time.sleep(10)
