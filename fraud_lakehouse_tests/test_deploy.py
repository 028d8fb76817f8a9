"""deploy/: the CDK app synthesized offline, its template asserted and linted, the production Dagster instance
and the cluster's requirements checked, and shellcheck on the EMR bootstrap script."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

from fraud_lakehouse.resources.deployments import (
    CLUSTER_ENV,
    EMR_SPARK_CONFIG,
    KEY_PARAMETER_ENV,
    STAGING_BUCKET_ENV,
    ProdSettings,
)
from fraud_lakehouse_tests.conftest import REPO_ROOT, debian_tool

DEPLOY = REPO_ROOT / "deploy"
# This machine's Node.js (20) is past jsii's support date; the banner it prints says nothing about the stack.
os.environ.setdefault("JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION", "20")
sys.path.insert(0, str(DEPLOY))

import aws_cdk as cdk  # noqa: E402
from aws_cdk.assertions import Match, Template  # noqa: E402
from fraud_lakehouse_deploy.requirements import NEVER, cluster_requirements  # noqa: E402
from fraud_lakehouse_deploy.stack import (  # noqa: E402
    ATHENA_TABLES,
    EMR_RELEASE,
    KEY_PARAMETER,
    SAVED_QUERIES,
    STAGING_PREFIX,
    FraudLakehouseStack,
    athena_query,
)

ACCOUNT, REGION = "123456789012", "eu-west-1"
CLUSTER_ID = "j-1ABCDEFGHIJKL"


def synthesize(tmp: Path, **options) -> tuple[Template, dict]:
    # environment-agnostic, as `cdk synth` without credentials: the account, region and zones stay references
    app = cdk.App(outdir=str(tmp))
    stack = FraudLakehouseStack(app, "FraudLakehouse", **options)
    app.synth()
    template = Template.from_stack(stack)
    return template, template.to_json()


@pytest.fixture(scope="module")
def synthesized(tmp_path_factory) -> tuple[Template, dict, Path]:
    out = tmp_path_factory.mktemp("cdk.out")
    template, document = synthesize(out)
    return template, document, out / "FraudLakehouse.template.json"


@pytest.fixture(scope="module")
def template(synthesized) -> Template:
    return synthesized[0]


@pytest.fixture(scope="module")
def document(synthesized) -> dict:
    return synthesized[1]


def resources(document: dict, kind: str) -> dict[str, dict]:
    return {name: r for name, r in document["Resources"].items() if r["Type"] == kind}


def resolve(value, document: dict):
    """A template value with its references replaced by stand-ins, as CloudFormation would fill them in."""
    if isinstance(value, str):
        return value
    if isinstance(value, dict) and len(value) == 1:
        ((function, argument),) = value.items()
        if function == "Ref":
            if argument == "AWS::Region":
                return REGION
            if argument == "AWS::AccountId":
                return ACCOUNT
            if argument == "AWS::Partition":
                return "aws"
            if argument == "AWS::StackName":
                return "FraudLakehouse"
            kind = document["Resources"][argument]["Type"]
            return {"AWS::EMR::Cluster": CLUSTER_ID}.get(kind, f"{argument.lower()}-bucket")
        if function == "Fn::Join":
            separator, parts = argument
            return separator.join(resolve(part, document) for part in parts)
        if function == "Fn::GetAtt":
            return f"{argument[0].lower()}.{argument[1].lower()}.example"
    raise AssertionError(f"unexpected template value {value!r}")


# -- buckets ------------------------------------------------------------------------------------------------


def test_buckets_are_encrypted_versioned_private_and_ssl_only(template, document):
    buckets = resources(document, "AWS::S3::Bucket")
    assert len(buckets) == 4
    for bucket in buckets.values():
        properties = bucket["Properties"]
        assert (
            properties["BucketEncryption"]["ServerSideEncryptionConfiguration"][0]["ServerSideEncryptionByDefault"][
                "SSEAlgorithm"
            ]
            == "AES256"
        )
        assert properties["VersioningConfiguration"] == {"Status": "Enabled"}
        assert properties["PublicAccessBlockConfiguration"] == {
            "BlockPublicAcls": True,
            "BlockPublicPolicy": True,
            "IgnorePublicAcls": True,
            "RestrictPublicBuckets": True,
        }
        assert bucket["DeletionPolicy"] == "Retain"
    # every bucket refuses requests without TLS
    policies = resources(document, "AWS::S3::BucketPolicy")
    assert len(policies) == 4
    for policy in policies.values():
        statements = policy["Properties"]["PolicyDocument"]["Statement"]
        assert any(
            s["Effect"] == "Deny" and s["Condition"] == {"Bool": {"aws:SecureTransport": "false"}} for s in statements
        )


def test_staging_and_logs_have_lifecycle_rules(document):
    rules = {
        name: bucket["Properties"].get("LifecycleConfiguration", {}).get("Rules", [])
        for name, bucket in resources(document, "AWS::S3::Bucket").items()
    }
    staging = next(r for name, r in rules.items() if name.startswith("Staging"))
    assert {"ExpirationInDays": 7, "Prefix": f"{STAGING_PREFIX}/", "Status": "Enabled"}.items() <= staging[0].items()
    logs = next(r for name, r in rules.items() if name.startswith("Logs"))
    assert logs[0]["ExpirationInDays"] == 90 and logs[0]["Transitions"][0]["StorageClass"] == "STANDARD_IA"
    # the landing area keeps what users upload: no expiry
    assert next(r for name, r in rules.items() if name.startswith("Landing")) == []


# -- roles --------------------------------------------------------------------------------------------------


def _role_statements(document: dict, role_prefix: str) -> list[dict]:
    role = next(name for name in resources(document, "AWS::IAM::Role") if name.startswith(role_prefix))
    statements = []
    for policy in resources(document, "AWS::IAM::Policy").values():
        if {"Ref": role} in policy["Properties"]["Roles"]:
            statements += policy["Properties"]["PolicyDocument"]["Statement"]
    assert statements, f"no policy on {role_prefix}"
    return statements


def _resources_of(statement: dict, document: dict) -> list[str]:
    found = statement["Resource"]
    return [resolve(r, document) for r in (found if isinstance(found, list) else [found])]


def _writes(statements: list[dict], document: dict) -> set[str]:
    return {
        resource
        for s in statements
        if any(a in ("s3:PutObject", "s3:DeleteObject*") for a in s["Action"])
        for resource in _resources_of(s, document)
    }


@pytest.mark.parametrize("role", ["EmrInstanceRole", "DagsterTaskRole"])
def test_roles_name_their_resources(document, role):
    for statement in _role_statements(document, role):
        actions = statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]]
        assert not any(a == "*" or a.endswith(":*") for a in actions), statement
        assert "*" not in _resources_of(statement, document), statement


def test_cluster_writes_only_the_lake_its_staging_prefix_and_its_logs(document):
    statements = _role_statements(document, "EmrInstanceRole")
    lake, staging, logs = (
        resolve(
            {"Fn::GetAtt": [next(n for n in resources(document, "AWS::S3::Bucket") if n.startswith(p)), "Arn"]},
            document,
        )
        for p in ("Lake", "Staging", "Logs")
    )
    assert _writes(statements, document) == {
        lake,
        f"{lake}/*",
        staging,
        f"{staging}/{STAGING_PREFIX}/*",
        logs,
        f"{logs}/emr/*",
    }
    # the key: read, one parameter
    (ssm,) = [s for s in statements if s["Action"] == "ssm:GetParameter"]
    assert _resources_of(ssm, document) == [f"arn:aws:ssm:{REGION}:{ACCOUNT}:parameter{KEY_PARAMETER}"]
    (glue,) = [s for s in statements if any(a.startswith("glue:") for a in s["Action"])]
    assert all(
        ":glue:" in r and ("fraud_lakehouse" in r or r.endswith((":catalog", "/default")))
        for r in _resources_of(glue, document)
    )


def test_host_drives_only_its_cluster_and_writes_only_staging_and_compute_logs(document):
    statements = _role_statements(document, "DagsterTaskRole")
    emr = [s for s in statements if any(a.startswith("elasticmapreduce:") for a in s["Action"])]
    assert [_resources_of(s, document) for s in emr] == [
        [f"arn:aws:elasticmapreduce:{REGION}:{ACCOUNT}:cluster/{CLUSTER_ID}"]
    ]
    assert "elasticmapreduce:CancelSteps" in emr[0]["Action"]
    written = {r.rsplit(":::", 1)[-1] for r in _writes(statements, document)}
    assert {path.split("/", 1)[1] if "/" in path else "" for path in written} == {
        "",
        f"{STAGING_PREFIX}/*",
        "dagster-compute-logs/*",
    }


def test_emr_service_role_uses_the_v2_managed_policy_and_tagged_network(template, document):
    template.has_resource_properties(
        "AWS::IAM::Role",
        {
            "AssumeRolePolicyDocument": Match.object_like(
                {"Statement": [Match.object_like({"Principal": {"Service": "elasticmapreduce.amazonaws.com"}})]}
            ),
            "ManagedPolicyArns": [
                Match.object_like(
                    {"Fn::Join": ["", Match.array_with([":iam::aws:policy/service-role/AmazonEMRServicePolicy_v2"])]}
                )
            ],
        },
    )
    # the v2 policy acts only on tagged subnets and security groups
    tag = {"Key": "for-use-with-amazon-emr-managed-policies", "Value": "true"}
    for kind in ("AWS::EC2::Subnet", "AWS::EC2::SecurityGroup"):
        tagged = [r for name, r in resources(document, kind).items() if tag in r["Properties"].get("Tags", [])]
        assert tagged, kind
    for name in ("EmrPrimary", "EmrWorkers", "EmrServiceAccess"):
        group = next(r for n, r in resources(document, "AWS::EC2::SecurityGroup").items() if n.startswith(name))
        assert tag in group["Properties"]["Tags"]


# -- EMR ------------------------------------------------------------------------------------------------------


def test_emr_cluster_release_delta_glue_python_scaling_and_idle_end(document):
    (cluster,) = resources(document, "AWS::EMR::Cluster").values()
    properties = cluster["Properties"]
    assert properties["ReleaseLabel"] == EMR_RELEASE == "emr-7.13.0"
    configurations = {c["Classification"]: c for c in properties["Configurations"]}
    assert configurations["delta-defaults"]["ConfigurationProperties"] == {"delta.enabled": "true"}
    assert (
        configurations["spark-hive-site"]["ConfigurationProperties"]["hive.metastore.client.factory.class"]
        == "com.amazonaws.glue.catalog.metastore.AWSGlueDataCatalogHiveClientFactory"
    )
    defaults = configurations["spark-defaults"]["ConfigurationProperties"]
    session = EMR_SPARK_CONFIG["spark"]["sql"]
    assert defaults["spark.sql.extensions"] == session["extensions"]
    assert defaults["spark.sql.catalog.spark_catalog"] == session["catalog"]["spark_catalog"]
    (export,) = configurations["spark-env"]["Configurations"]
    assert export["ConfigurationProperties"]["PYSPARK_PYTHON"] == "/usr/bin/python3.11"
    assert properties["StepConcurrencyLevel"] > 1
    assert properties["AutoTerminationPolicy"] == {"IdleTimeout": 3600}
    limits = properties["ManagedScalingPolicy"]["ComputeLimits"]
    assert (
        limits["UnitType"] == "InstanceFleetUnits" and limits["MaximumCapacityUnits"] > limits["MinimumCapacityUnits"]
    )
    (bootstrap,) = properties["BootstrapActions"]
    path = resolve(bootstrap["ScriptBootstrapAction"]["Path"], document)
    assert path.startswith("s3://staging") and path.endswith("/bootstrap/bootstrap.sh")
    (tasks,) = resources(document, "AWS::EMR::InstanceFleetConfig").values()
    assert tasks["Properties"]["InstanceFleetType"] == "TASK"
    assert tasks["Properties"]["TargetSpotCapacity"] > 0
    assert "TargetOnDemandCapacity" not in tasks["Properties"]
    assert len(tasks["Properties"]["InstanceTypeConfigs"]) >= 2


def test_an_existing_cluster_and_a_public_ui_range_are_options(tmp_path):
    template, document = synthesize(
        tmp_path, existing_cluster_id=CLUSTER_ID, ui_cidr="203.0.113.7/32", idle_timeout_minutes=0
    )
    assert resources(document, "AWS::EMR::Cluster") == {}
    assert resources(document, "AWS::EMR::InstanceFleetConfig") == {}
    assert document["Outputs"]["EmrClusterId"]["Value"] == CLUSTER_ID
    template.has_resource_properties("AWS::ElasticLoadBalancingV2::LoadBalancer", {"Scheme": "internet-facing"})
    template.has_resource_properties(
        "AWS::EC2::SecurityGroup",
        {"SecurityGroupIngress": Match.array_with([Match.object_like({"CidrIp": "203.0.113.7/32", "FromPort": 80})])},
    )


def test_cluster_generation_replaces_the_cluster_and_no_idle_end_is_an_option(tmp_path):
    _, document = synthesize(tmp_path, cluster_generation=2, idle_timeout_minutes=0)
    (cluster,) = resources(document, "AWS::EMR::Cluster").values()
    assert cluster["Properties"]["Name"] == "fraud-lakehouse-2"
    assert "AutoTerminationPolicy" not in cluster["Properties"]


def test_the_ui_is_internal_by_default(template):
    template.has_resource_properties("AWS::ElasticLoadBalancingV2::LoadBalancer", {"Scheme": "internal"})


# -- Glue and Athena --------------------------------------------------------------------------------------


def test_glue_tables_are_the_silver_and_gold_delta_tables(document):
    (database,) = resources(document, "AWS::Glue::Database").values()
    assert database["Properties"]["DatabaseInput"]["Name"] == "fraud_lakehouse"
    tables = {
        t["Properties"]["TableInput"]["Name"]: t["Properties"]["TableInput"]
        for t in resources(document, "AWS::Glue::Table").values()
    }
    assert set(tables) == set(ATHENA_TABLES)
    lake = resolve({"Ref": next(n for n in resources(document, "AWS::S3::Bucket") if n.startswith("Lake"))}, document)
    for name, table in tables.items():
        assert table["Parameters"]["table_type"] == "DELTA"
        assert resolve(table["StorageDescriptor"]["Location"], document) == f"s3://{lake}/lake/{ATHENA_TABLES[name]}"
    # the paths the Delta IO manager writes: {lake_root}/{asset key}
    from fraud_lakehouse.definitions import defs

    keys = {"/".join(key.path) for key in defs.resolve_asset_graph().get_all_asset_keys()}
    assert set(ATHENA_TABLES.values()) <= keys


def test_athena_workgroup_holds_the_saved_queries(document):
    (workgroup,) = resources(document, "AWS::Athena::WorkGroup").values()
    configuration = workgroup["Properties"]["WorkGroupConfiguration"]
    assert configuration["EnforceWorkGroupConfiguration"] is True
    assert configuration["ResultConfiguration"]["EncryptionConfiguration"] == {"EncryptionOption": "SSE_S3"}
    queries = {
        q["Properties"]["Name"]: q["Properties"] for q in resources(document, "AWS::Athena::NamedQuery").values()
    }
    assert set(queries) == set(SAVED_QUERIES.values())
    saved = {p.name for p in (REPO_ROOT / "fraud_lakehouse" / "sql").glob("*.sql")}
    assert saved == set(SAVED_QUERIES)
    for file_name, title in SAVED_QUERIES.items():
        query = queries[title]
        assert query["WorkGroup"] == "fraud-lakehouse" and query["Database"] == "fraud_lakehouse"
        text = (REPO_ROOT / "fraud_lakehouse" / "sql" / file_name).read_text()
        assert query["QueryString"] == athena_query(text)
        assert "CAST(? AS DATE)" in query["QueryString"] and "${" not in query["QueryString"]


def test_a_saved_query_without_the_date_placeholder_is_refused():
    with pytest.raises(ValueError, match="without"):
        athena_query("SELECT 1 FROM flagged_claims")
    with pytest.raises(ValueError, match="other than"):
        athena_query("SELECT * FROM t WHERE d = DATE '${date}' AND p = '${provider}'")


# -- the Dagster host --------------------------------------------------------------------------------------


def _environment(container: dict, document: dict) -> dict[str, str]:
    return {item["Name"]: resolve(item["Value"], document) for item in container["Environment"]}


def test_dagster_host_runs_webserver_and_daemon_on_postgres(document):
    (database,) = resources(document, "AWS::RDS::DBInstance").values()
    assert database["Properties"]["Engine"] == "postgres"
    assert database["Properties"]["StorageEncrypted"] is True
    assert database["Properties"].get("PubliclyAccessible") in (None, False)
    tasks = resources(document, "AWS::ECS::TaskDefinition")
    commands = {}
    for task in tasks.values():
        (container,) = task["Properties"]["ContainerDefinitions"]
        commands[container["Name"]] = container["Command"]
        secrets = {s["Name"] for s in container["Secrets"]}
        assert {"DAGSTER_PG_USERNAME", "DAGSTER_PG_PASSWORD", "FRAUD_LAKEHOUSE_PSEUDONYM_KEY"} <= secrets
        environment = _environment(container, document)
        assert "FRAUD_LAKEHOUSE_PSEUDONYM_KEY" not in environment  # a secret, never plain environment
        assert {"DAGSTER_PG_HOST", "DAGSTER_PG_PORT", "DAGSTER_PG_DB", "FRAUD_LAKEHOUSE_LOGS_BUCKET"} <= set(
            environment
        )
    assert commands["webserver"][0] == "dagster-webserver" and commands["daemon"][:2] == ["dagster-daemon", "run"]
    assert len(resources(document, "AWS::ECS::Service")) == 2


def test_the_host_environment_loads_the_prod_profile(document, monkeypatch):
    """What the stack hands the host is exactly what the prod profile reads."""
    for task in resources(document, "AWS::ECS::TaskDefinition").values():
        (container,) = task["Properties"]["ContainerDefinitions"]
        environment = _environment(container, document)
        for name in list(os.environ):
            if name.startswith(("FRAUD_LAKEHOUSE_", "AWS_")):
                monkeypatch.delenv(name)
        for name, value in environment.items():
            monkeypatch.setenv(name, value)
        settings = ProdSettings.from_environment()
        assert settings.cluster_id == CLUSTER_ID and settings.region == REGION
        assert settings.lake_root.startswith("s3://lake") and settings.landing.startswith("s3://landing")
        assert settings.staging_bucket.startswith("staging") and settings.staging_prefix == STAGING_PREFIX
        assert settings.key_parameter == KEY_PARAMETER


def test_the_prod_environment_output_loads_the_prod_profile(document, monkeypatch):
    """The ProdEnvironment output is the line a laptop exports to launch production runs."""
    line = resolve(document["Outputs"]["ProdEnvironment"]["Value"], document)
    for name in list(os.environ):
        if name.startswith(("FRAUD_LAKEHOUSE_", "AWS_")):
            monkeypatch.delenv(name)
    for pair in line.split(" "):
        name, value = pair.split("=", 1)
        monkeypatch.setenv(name, value)
    settings = ProdSettings.from_environment()
    assert settings.cluster_id == CLUSTER_ID
    assert {CLUSTER_ENV, STAGING_BUCKET_ENV, KEY_PARAMETER_ENV} <= {p.split("=", 1)[0] for p in line.split(" ")}
    for output in ("LandingBucket", "LakeBucket", "StagingBucket", "LogsBucket", "EmrClusterId", "DagsterUiUrl"):
        assert output in document["Outputs"]


def test_production_instance_config_is_valid_with_the_local_queue_limits(monkeypatch):
    import yaml
    from dagster._core.instance.config import dagster_instance_config

    for name, value in {
        "DAGSTER_PG_HOST": "db",
        "DAGSTER_PG_PORT": "5432",
        "DAGSTER_PG_DB": "dagster",
        "DAGSTER_PG_USERNAME": "dagster",
        "DAGSTER_PG_PASSWORD": "secret",
        "FRAUD_LAKEHOUSE_LOGS_BUCKET": "logs",
        "AWS_REGION": REGION,
    }.items():
        monkeypatch.setenv(name, value)
    production, _ = dagster_instance_config(str(DEPLOY / "dagster"))  # raises on any key the schema refuses
    local = yaml.safe_load((REPO_ROOT / "dagster.yaml").read_text())
    assert "postgres_db" in production["storage"]["postgres"]
    assert production["compute_logs"]["class"] == "S3ComputeLogManager"
    for section in ("run_coordinator", "run_launcher", "run_retries"):
        assert production[section] == local[section], section
    # run monitoring too, with longer timeouts: a step waits for EMR, a run worker on Fargate takes longer to start
    assert production["run_monitoring"]["enabled"] is True


def test_dockerfile_installs_the_host_extra_and_the_production_instance():
    dockerfile = (DEPLOY / "dagster" / "Dockerfile").read_text()
    assert "pip install --no-cache-dir '.[host]'" in dockerfile
    assert 'cp deploy/dagster/dagster.yaml "$DAGSTER_HOME/dagster.yaml"' in dockerfile
    assert re.search(r"^FROM python:3\.11", dockerfile, re.M)


# -- what the nodes install ---------------------------------------------------------------------------------


def _names(requirements: str) -> set[str]:
    return {
        re.split(r"[=<>!~\[; ]", line, maxsplit=1)[0].lower()
        for line in requirements.splitlines()
        if line.strip() and not line.startswith("#")
    }


def test_cluster_gets_the_host_dagster_and_nothing_of_the_laptop_engine():
    from importlib.metadata import version

    with_dependencies, without = cluster_requirements()
    assert f"dagster=={version('dagster')}" in with_dependencies.splitlines()
    assert f"dagster-aws=={version('dagster-aws')}" in with_dependencies.splitlines()
    assert f"dagster-pyspark=={version('dagster-pyspark')}" in without.splitlines()
    assert not (_names(with_dependencies) | _names(without)) & {*NEVER, "pyspark", "pysail", "delta-spark"}
    # the core dependencies are what a node installs; the laptop engine and the UI come only with extras
    project = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text())["project"]
    core = _names("\n".join(project["dependencies"]))
    assert not core & {"pyspark", "pysail", "delta-spark", "dagster-webserver"}
    local = _names("\n".join(project["optional-dependencies"]["local"]))
    assert {"pyspark", "pysail", "delta-spark", "dagster-webserver"} <= local
    host = project["optional-dependencies"]["host"]
    assert "pyspark==3.5.6" in host and "pysail" not in _names("\n".join(host))
    # every core dependency is on the node, where the steps run (a landed workbook is read there too)
    assert core <= _names(with_dependencies) | _names(without), core - _names(with_dependencies) - _names(without)


# -- lint -----------------------------------------------------------------------------------------------------


def test_template_passes_cfn_lint(synthesized):
    template_file = synthesized[2]
    # W3005: CDK's own constructs (BucketDeployment, the load balancer target group) add a DependsOn that a
    # reference already implies; harmless, and not in code of this project.
    result = subprocess.run(
        [str(Path(sys.executable).with_name("cfn-lint")), "--ignore-checks", "W3005", "--", str(template_file)],
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.fixture(scope="session")
def shellcheck() -> str:
    """Debian's shellcheck, installed by the test set-up when the machine lacks it."""
    return debian_tool("shellcheck")


def test_bootstrap_script_passes_shellcheck(shellcheck):
    scripts = sorted(DEPLOY.rglob("*.sh"))
    assert DEPLOY / "emr" / "bootstrap.sh" in scripts
    result = subprocess.run([shellcheck, "--severity=style", *map(str, scripts)], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr


def test_bootstrap_script_refuses_a_wrong_source():
    result = subprocess.run(
        ["bash", str(DEPLOY / "emr" / "bootstrap.sh"), "/tmp/not-s3"], capture_output=True, text=True
    )
    assert result.returncode == 2 and "usage:" in result.stderr


def test_app_synthesizes_from_the_command_line(tmp_path):
    """`python app.py`, as the README runs it, writes the template."""
    env = {**os.environ, "CDK_OUTDIR": str(tmp_path), "CDK_DEFAULT_REGION": REGION, "CDK_DEFAULT_ACCOUNT": ACCOUNT}
    result = subprocess.run([sys.executable, "app.py"], cwd=DEPLOY, env=env, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr[-3000:]
    written = json.loads((tmp_path / "FraudLakehouse.template.json").read_text())
    assert written["Outputs"]["GlueDatabase"]["Value"] == "fraud_lakehouse"
