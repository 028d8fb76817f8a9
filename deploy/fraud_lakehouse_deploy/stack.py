"""fraud_lakehouse on AWS, as one CDK stack: buckets, the EMR 7 cluster and its roles, Glue and Athena over the
Delta tables, and the Dagster host (webserver and daemon on ECS Fargate, runs and events in PostgreSQL)."""

from __future__ import annotations

from pathlib import Path

import aws_cdk as cdk
from aws_cdk import aws_athena as athena
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_ecs as ecs
from aws_cdk import aws_elasticloadbalancingv2 as elbv2
from aws_cdk import aws_emr as emr
from aws_cdk import aws_glue as glue
from aws_cdk import aws_iam as iam
from aws_cdk import aws_logs as logs
from aws_cdk import aws_rds as rds
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_s3_deployment as s3deploy
from aws_cdk import aws_ssm as ssm
from constructs import Construct

from fraud_lakehouse_deploy.requirements import cluster_requirements

REPO = Path(__file__).resolve().parents[2]
EMR_RELEASE = "emr-7.13.0"
GLUE_DATABASE = "fraud_lakehouse"
# The Delta tables Athena reads, by the names the saved queries use (fraud_lakehouse/sql/).
ATHENA_TABLES = {
    "claims": "silver/claims",
    "claims_quarantine": "silver/claims_quarantine",
    "flagged_claims": "gold/flagged_claims",
    "provider_risk": "gold/provider_risk",
    "fraud_by_rule": "gold/fraud_by_rule",
    "detection_quality": "gold/detection_quality",
}
SAVED_QUERIES = {
    "high_risk_providers.sql": "High risk providers",
    "duplicate_claims.sql": "Duplicate claims",
    "fraud_by_rule.sql": "Fraud by rule type",
}
# What the project's source in the image and on the nodes leaves out.
SOURCE_EXCLUDES = [
    ".git",
    ".venv*",
    ".lakehouse",
    "test-artifacts",
    "**/__pycache__",
    "*.egg-info",
    "deploy/cdk.out",
    "benchmarks/results",
    ".pytest_cache",
    ".ruff_cache",
    "node_modules",
]
STAGING_PREFIX = "emr-staging"
GLUE_METASTORE_FACTORY = "com.amazonaws.glue.catalog.metastore.AWSGlueDataCatalogHiveClientFactory"
KEY_PARAMETER = "/fraud-lakehouse/pseudonym-key"


DATE_PLACEHOLDER = "DATE '${date}'"


def athena_query(text: str) -> str:
    """A saved query of fraud_lakehouse/sql/ as an Athena parameterized query: the console asks for the date."""
    body = "\n".join(line for line in text.splitlines() if not line.startswith("--")).strip()
    if DATE_PLACEHOLDER not in body:
        raise ValueError(f"a saved query without {DATE_PLACEHOLDER}: {body[:80]!r}")
    query = body.replace(DATE_PLACEHOLDER, "CAST(? AS DATE)")
    if "${" in query:
        raise ValueError(f"a saved query with a placeholder other than {DATE_PLACEHOLDER}: {body[:80]!r}")
    return query


class FraudLakehouseStack(cdk.Stack):
    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        existing_cluster_id: str | None = None,
        key_parameter: str = KEY_PARAMETER,
        idle_timeout_minutes: int = 60,
        cluster_generation: int = 1,
        ui_cidr: str | None = None,
        **kwargs,
    ):
        super().__init__(scope, construct_id, **kwargs)
        self.ui_cidr = ui_cidr
        self.idle_timeout_minutes = idle_timeout_minutes
        self.cluster_generation = cluster_generation
        if not key_parameter.startswith("/"):
            raise ValueError(f"key_parameter={key_parameter!r}: an SSM parameter path, like {KEY_PARAMETER}")
        self.vpc = ec2.Vpc(self, "Network", max_azs=2, nat_gateways=1)
        # S3 traffic of the cluster and the host stays off the NAT gateway (and its per-GB charge)
        self.vpc.add_gateway_endpoint("S3", service=ec2.GatewayVpcEndpointAwsService.S3)
        # AmazonEMRServicePolicy_v2 acts only on network resources carrying this tag
        cdk.Tags.of(self.vpc).add("for-use-with-amazon-emr-managed-policies", "true")
        self.landing, self.lake, self.staging, self.logs = self._buckets()
        self.key_arn = cdk.Arn.format(
            cdk.ArnComponents(service="ssm", resource="parameter", resource_name=key_parameter.lstrip("/")), self
        )
        self._bootstrap_files()
        if existing_cluster_id:
            cluster_id = existing_cluster_id
        else:
            cluster_id = self._emr_cluster().ref
        self.cluster_id = cluster_id
        self._catalog()
        self._dagster_host(cluster_id, key_parameter)
        for name, value in {
            "LandingBucket": self.landing.bucket_name,
            "LakeBucket": self.lake.bucket_name,
            "StagingBucket": self.staging.bucket_name,
            "LogsBucket": self.logs.bucket_name,
            "EmrClusterId": cluster_id,
            "GlueDatabase": GLUE_DATABASE,
            "AthenaWorkgroup": "fraud-lakehouse",
            "ProdEnvironment": cdk.Fn.join(
                " ",
                [
                    "FRAUD_LAKEHOUSE_DEPLOYMENT=prod",
                    cdk.Fn.join("", ["FRAUD_LAKEHOUSE_EMR_CLUSTER_ID=", cluster_id]),
                    cdk.Fn.join("", ["FRAUD_LAKEHOUSE_EMR_STAGING_BUCKET=", self.staging.bucket_name]),
                    cdk.Fn.join("", ["FRAUD_LAKEHOUSE_LAKE_ROOT=s3://", self.lake.bucket_name, "/lake"]),
                    cdk.Fn.join("", ["FRAUD_LAKEHOUSE_LANDING=s3://", self.landing.bucket_name, "/claims"]),
                    cdk.Fn.join("", ["FRAUD_LAKEHOUSE_PSEUDONYM_KEY_PARAMETER=", key_parameter]),
                    cdk.Fn.join("", ["AWS_REGION=", self.region]),
                ],
            ),
        }.items():
            cdk.CfnOutput(self, name, value=value)

    # -- storage --------------------------------------------------------------------------------------------

    def _bucket(self, name: str, lifecycle: list[s3.LifecycleRule] | None = None) -> s3.Bucket:
        return s3.Bucket(
            self,
            name,
            encryption=s3.BucketEncryption.S3_MANAGED,
            versioned=True,
            block_public_access=s3.BlockPublicAccess.BLOCK_ALL,
            enforce_ssl=True,
            object_ownership=s3.ObjectOwnership.BUCKET_OWNER_ENFORCED,
            lifecycle_rules=lifecycle,
            removal_policy=cdk.RemovalPolicy.RETAIN,
        )

    def _buckets(self) -> tuple[s3.Bucket, s3.Bucket, s3.Bucket, s3.Bucket]:
        landing = self._bucket("Landing")
        lake = self._bucket("Lake", [s3.LifecycleRule(noncurrent_version_expiration=cdk.Duration.days(30))])
        staging = self._bucket(
            "Staging",
            [
                s3.LifecycleRule(prefix=f"{STAGING_PREFIX}/", expiration=cdk.Duration.days(7)),
                s3.LifecycleRule(noncurrent_version_expiration=cdk.Duration.days(1)),
            ],
        )
        logs_bucket = self._bucket(
            "Logs",
            [
                s3.LifecycleRule(
                    transitions=[
                        s3.Transition(
                            storage_class=s3.StorageClass.INFREQUENT_ACCESS, transition_after=cdk.Duration.days(30)
                        )
                    ],
                    expiration=cdk.Duration.days(90),
                    noncurrent_version_expiration=cdk.Duration.days(7),
                )
            ],
        )
        return landing, lake, staging, logs_bucket

    def _bootstrap_files(self) -> None:
        """The bootstrap script, the nodes' requirements and the project's source, staged for the cluster."""
        with_dependencies, without = cluster_requirements()
        s3deploy.BucketDeployment(
            self,
            "BootstrapFiles",
            destination_bucket=self.staging,
            destination_key_prefix="bootstrap",
            sources=[
                s3deploy.Source.asset(str(REPO / "deploy" / "emr")),
                s3deploy.Source.data("requirements-cluster.txt", with_dependencies),
                s3deploy.Source.data("requirements-cluster-nodeps.txt", without),
            ],
            prune=False,
        )
        s3deploy.BucketDeployment(
            self,
            "BootstrapProject",
            destination_bucket=self.staging,
            destination_key_prefix="bootstrap/project",
            sources=[s3deploy.Source.asset(str(REPO), exclude=[*SOURCE_EXCLUDES, "fraud_lakehouse_tests", "deploy"])],
        )

    # -- EMR ------------------------------------------------------------------------------------------------

    def _emr_roles(self) -> tuple[iam.Role, iam.CfnInstanceProfile]:
        service = iam.Role(
            self,
            "EmrServiceRole",
            assumed_by=iam.ServicePrincipal("elasticmapreduce.amazonaws.com"),
            managed_policies=[iam.ManagedPolicy.from_aws_managed_policy_name("service-role/AmazonEMRServicePolicy_v2")],
        )
        instance = iam.Role(self, "EmrInstanceRole", assumed_by=iam.ServicePrincipal("ec2.amazonaws.com"))
        # The steps read landed files and the lake, write the lake and the staging area's events, and nothing else.
        self.landing.grant_read(instance)
        self.lake.grant_read_write(instance)
        self.staging.grant_read(instance)
        self.staging.grant_read_write(instance, f"{STAGING_PREFIX}/*")
        self.logs.grant_read_write(instance, "emr/*")
        instance.add_to_policy(
            iam.PolicyStatement(
                actions=[
                    "glue:GetDatabase",
                    "glue:GetTable",
                    "glue:GetTables",
                    "glue:GetPartitions",
                    "glue:CreateTable",
                    "glue:UpdateTable",
                ],
                resources=[
                    self.format_arn(service="glue", resource="catalog"),
                    self.format_arn(service="glue", resource="database", resource_name=GLUE_DATABASE),
                    # Spark's Glue client looks up the default database when a session starts
                    self.format_arn(service="glue", resource="database", resource_name="default"),
                    self.format_arn(service="glue", resource="table", resource_name=f"{GLUE_DATABASE}/*"),
                ],
            )
        )
        instance.add_to_policy(iam.PolicyStatement(actions=["ssm:GetParameter"], resources=[self.key_arn]))
        profile = iam.CfnInstanceProfile(self, "EmrInstanceProfile", roles=[instance.role_name])
        service.add_to_policy(iam.PolicyStatement(actions=["iam:PassRole"], resources=[instance.role_arn]))
        return service, profile

    def _emr_cluster(self) -> emr.CfnCluster:
        service, profile = self._emr_roles()
        primary_group = ec2.SecurityGroup(self, "EmrPrimary", vpc=self.vpc, allow_all_outbound=True)
        workers_group = ec2.SecurityGroup(self, "EmrWorkers", vpc=self.vpc, allow_all_outbound=True)
        service_group = ec2.SecurityGroup(self, "EmrServiceAccess", vpc=self.vpc, allow_all_outbound=False)
        service_group.add_ingress_rule(primary_group, ec2.Port.tcp(9443), "EMR service access from the primary")
        service_group.add_egress_rule(primary_group, ec2.Port.tcp(8443), "EMR service to the primary")
        service_group.add_egress_rule(workers_group, ec2.Port.tcp(8443), "EMR service to the workers")
        bootstrap = f"s3://{self.staging.bucket_name}/bootstrap"
        fleet_types = ["m5.xlarge", "m5a.xlarge", "m6i.xlarge"]
        for group in (primary_group, workers_group, service_group):
            cdk.Tags.of(group).add("for-use-with-amazon-emr-managed-policies", "true")
        cluster = emr.CfnCluster(
            self,
            "EmrCluster",
            # a new name replaces the cluster: `-c cluster_generation=N` after an idle one has ended itself
            name="fraud-lakehouse" if self.cluster_generation == 1 else f"fraud-lakehouse-{self.cluster_generation}",
            release_label=EMR_RELEASE,
            applications=[
                emr.CfnCluster.ApplicationProperty(name="Spark"),
                emr.CfnCluster.ApplicationProperty(name="Hadoop"),
            ],
            service_role=service.role_arn,
            job_flow_role=profile.ref,
            log_uri=f"s3://{self.logs.bucket_name}/emr/",
            visible_to_all_users=True,
            # steps of different runs at once; the step launcher submits with ActionOnFailure CONTINUE
            step_concurrency_level=4,
            bootstrap_actions=[
                emr.CfnCluster.BootstrapActionConfigProperty(
                    name="fraud_lakehouse",
                    script_bootstrap_action=emr.CfnCluster.ScriptBootstrapActionConfigProperty(
                        path=f"{bootstrap}/bootstrap.sh", args=[bootstrap]
                    ),
                )
            ],
            configurations=[
                emr.CfnCluster.ConfigurationProperty(
                    classification="delta-defaults", configuration_properties={"delta.enabled": "true"}
                ),
                emr.CfnCluster.ConfigurationProperty(
                    classification="spark-hive-site",
                    configuration_properties={"hive.metastore.client.factory.class": GLUE_METASTORE_FACTORY},
                ),
                emr.CfnCluster.ConfigurationProperty(
                    classification="spark-defaults",
                    configuration_properties={
                        "spark.sql.extensions": "io.delta.sql.DeltaSparkSessionExtension",
                        "spark.sql.catalog.spark_catalog": "org.apache.spark.sql.delta.catalog.DeltaCatalog",
                        "spark.sql.session.timeZone": "UTC",
                    },
                ),
                emr.CfnCluster.ConfigurationProperty(
                    classification="spark-env",
                    configurations=[
                        emr.CfnCluster.ConfigurationProperty(
                            classification="export",
                            configuration_properties={
                                "PYSPARK_PYTHON": "/usr/bin/python3.11",
                                "PYSPARK_DRIVER_PYTHON": "/usr/bin/python3.11",
                            },
                        )
                    ],
                ),
            ],
            instances=emr.CfnCluster.JobFlowInstancesConfigProperty(
                ec2_subnet_ids=[self.vpc.private_subnets[0].subnet_id],
                emr_managed_master_security_group=primary_group.security_group_id,
                emr_managed_slave_security_group=workers_group.security_group_id,
                service_access_security_group=service_group.security_group_id,
                keep_job_flow_alive_when_no_steps=True,
                master_instance_fleet=emr.CfnCluster.InstanceFleetConfigProperty(
                    name="primary",
                    target_on_demand_capacity=1,
                    instance_type_configs=[emr.CfnCluster.InstanceTypeConfigProperty(instance_type="m5.xlarge")],
                ),
                core_instance_fleet=emr.CfnCluster.InstanceFleetConfigProperty(
                    name="core",
                    target_on_demand_capacity=1,
                    instance_type_configs=[emr.CfnCluster.InstanceTypeConfigProperty(instance_type="m5.xlarge")],
                ),
            ),
            managed_scaling_policy=emr.CfnCluster.ManagedScalingPolicyProperty(
                compute_limits=emr.CfnCluster.ComputeLimitsProperty(
                    unit_type="InstanceFleetUnits",
                    minimum_capacity_units=1,
                    maximum_capacity_units=12,
                    maximum_on_demand_capacity_units=2,
                    maximum_core_capacity_units=2,
                )
            ),
            # an idle cluster stops costing; a run launched after that fails at launch naming the cluster
            auto_termination_policy=(
                emr.CfnCluster.AutoTerminationPolicyProperty(idle_timeout=self.idle_timeout_minutes * 60)
                if self.idle_timeout_minutes
                else None
            ),
        )
        emr.CfnInstanceFleetConfig(
            self,
            "EmrSpotTasks",
            cluster_id=cluster.ref,
            instance_fleet_type="TASK",
            name="spot-tasks",
            target_spot_capacity=2,
            instance_type_configs=[
                emr.CfnInstanceFleetConfig.InstanceTypeConfigProperty(instance_type=t) for t in fleet_types
            ],
            launch_specifications=emr.CfnInstanceFleetConfig.InstanceFleetProvisioningSpecificationsProperty(
                spot_specification=emr.CfnInstanceFleetConfig.SpotProvisioningSpecificationProperty(
                    timeout_action="SWITCH_TO_ON_DEMAND",
                    timeout_duration_minutes=10,
                    allocation_strategy="capacity-optimized",
                )
            ),
        )
        return cluster

    # -- Glue and Athena ------------------------------------------------------------------------------------

    def _catalog(self) -> None:
        database = glue.CfnDatabase(
            self,
            "CatalogDatabase",
            catalog_id=self.account,
            database_input=glue.CfnDatabase.DatabaseInputProperty(name=GLUE_DATABASE),
        )
        for name, path in ATHENA_TABLES.items():
            table = glue.CfnTable(
                self,
                f"Table{name.title().replace('_', '')}",
                catalog_id=self.account,
                database_name=GLUE_DATABASE,
                table_input=glue.CfnTable.TableInputProperty(
                    name=name,
                    table_type="EXTERNAL_TABLE",
                    # Athena reads the schema and the files from the Delta log
                    parameters={"table_type": "DELTA", "EXTERNAL": "TRUE"},
                    storage_descriptor=glue.CfnTable.StorageDescriptorProperty(
                        location=f"s3://{self.lake.bucket_name}/lake/{path}"
                    ),
                ),
            )
            table.node.add_dependency(database)
        workgroup = athena.CfnWorkGroup(
            self,
            "Workgroup",
            name="fraud-lakehouse",
            state="ENABLED",
            work_group_configuration=athena.CfnWorkGroup.WorkGroupConfigurationProperty(
                enforce_work_group_configuration=True,
                engine_version=athena.CfnWorkGroup.EngineVersionProperty(
                    selected_engine_version="Athena engine version 3"
                ),
                result_configuration=athena.CfnWorkGroup.ResultConfigurationProperty(
                    output_location=f"s3://{self.logs.bucket_name}/athena-results/",
                    encryption_configuration=athena.CfnWorkGroup.EncryptionConfigurationProperty(
                        encryption_option="SSE_S3"
                    ),
                ),
            ),
        )
        for file_name, title in SAVED_QUERIES.items():
            query = athena.CfnNamedQuery(
                self,
                f"Query{Path(file_name).stem.title().replace('_', '')}",
                database=GLUE_DATABASE,
                name=title,
                work_group=workgroup.name,
                description=f"fraud_lakehouse/sql/{file_name}; asks for the detection date, quoted: '2025-01-06'",
                query_string=athena_query((REPO / "fraud_lakehouse" / "sql" / file_name).read_text()),
            )
            query.node.add_dependency(workgroup)

    # -- the Dagster host -----------------------------------------------------------------------------------

    def _dagster_host(self, cluster_id: str, key_parameter: str) -> None:
        database = rds.DatabaseInstance(
            self,
            "DagsterDatabase",
            engine=rds.DatabaseInstanceEngine.postgres(version=rds.PostgresEngineVersion.VER_17_6),
            instance_type=ec2.InstanceType("t4g.micro"),
            vpc=self.vpc,
            vpc_subnets=ec2.SubnetSelection(subnet_type=ec2.SubnetType.PRIVATE_WITH_EGRESS),
            credentials=rds.Credentials.from_generated_secret("dagster"),
            database_name="dagster",
            storage_encrypted=True,
            # runs and events of a small team: 20 GiB, growing by itself up to 100
            allocated_storage=20,
            max_allocated_storage=100,
            backup_retention=cdk.Duration.days(7),
            deletion_protection=True,
            removal_policy=cdk.RemovalPolicy.SNAPSHOT,
        )
        cluster = ecs.Cluster(self, "DagsterCluster", vpc=self.vpc, container_insights_v2=ecs.ContainerInsights.ENABLED)
        image = ecs.ContainerImage.from_asset(str(REPO), file="deploy/dagster/Dockerfile", exclude=SOURCE_EXCLUDES)
        task_role = iam.Role(self, "DagsterTaskRole", assumed_by=iam.ServicePrincipal("ecs-tasks.amazonaws.com"))
        # The host lists the landing area (sensor), reads the lake (UI), stages steps, and runs them on the cluster.
        self.landing.grant_read(task_role)
        self.lake.grant_read(task_role)
        self.staging.grant_read_write(task_role, f"{STAGING_PREFIX}/*")
        self.staging.grant_read(task_role)
        self.logs.grant_read_write(task_role, "dagster-compute-logs/*")
        self.logs.grant_read(task_role, "emr/*")
        task_role.add_to_policy(
            iam.PolicyStatement(
                actions=[
                    "elasticmapreduce:AddJobFlowSteps",
                    "elasticmapreduce:DescribeStep",
                    "elasticmapreduce:CancelSteps",
                    "elasticmapreduce:DescribeCluster",
                    "elasticmapreduce:ListSteps",
                ],
                resources=[self.format_arn(service="elasticmapreduce", resource="cluster", resource_name=cluster_id)],
            )
        )
        environment = {
            "FRAUD_LAKEHOUSE_DEPLOYMENT": "prod",
            "FRAUD_LAKEHOUSE_EMR_CLUSTER_ID": cluster_id,
            "FRAUD_LAKEHOUSE_EMR_STAGING_BUCKET": self.staging.bucket_name,
            "FRAUD_LAKEHOUSE_EMR_STAGING_PREFIX": STAGING_PREFIX,
            "FRAUD_LAKEHOUSE_LAKE_ROOT": f"s3://{self.lake.bucket_name}/lake",
            "FRAUD_LAKEHOUSE_LANDING": f"s3://{self.landing.bucket_name}/claims",
            "FRAUD_LAKEHOUSE_PSEUDONYM_KEY_PARAMETER": key_parameter,
            "FRAUD_LAKEHOUSE_LOGS_BUCKET": self.logs.bucket_name,
            "AWS_REGION": self.region,
            "DAGSTER_PG_HOST": database.db_instance_endpoint_address,
            "DAGSTER_PG_PORT": database.db_instance_endpoint_port,
            "DAGSTER_PG_DB": "dagster",
        }
        secrets = {
            "DAGSTER_PG_USERNAME": ecs.Secret.from_secrets_manager(database.secret, "username"),
            "DAGSTER_PG_PASSWORD": ecs.Secret.from_secrets_manager(database.secret, "password"),
            "FRAUD_LAKEHOUSE_PSEUDONYM_KEY": ecs.Secret.from_ssm_parameter(
                ssm.StringParameter.from_secure_string_parameter_attributes(
                    self, "PseudonymKey", parameter_name=key_parameter, simple_name=False
                )
            ),
        }
        log_group = logs.LogGroup(self, "DagsterLogs", retention=logs.RetentionDays.ONE_MONTH)
        services = {}
        for name, command, cpu, memory in (
            ("webserver", ["dagster-webserver", "-h", "0.0.0.0", "-p", "3000", "-w", "workspace.yaml"], 1024, 2048),
            # runs are launched here (processes beside the daemon, watched by run monitoring)
            ("daemon", ["dagster-daemon", "run", "-w", "workspace.yaml"], 2048, 8192),
        ):
            task = ecs.FargateTaskDefinition(
                self, f"{name.title()}Task", cpu=cpu, memory_limit_mib=memory, task_role=task_role
            )
            task.add_container(
                name,
                image=image,
                command=command,
                environment=environment,
                secrets=secrets,
                logging=ecs.LogDriver.aws_logs(stream_prefix=name, log_group=log_group),
                port_mappings=[ecs.PortMapping(container_port=3000)] if name == "webserver" else None,
            )
            service = ecs.FargateService(
                self,
                f"{name.title()}Service",
                cluster=cluster,
                task_definition=task,
                desired_count=1,
                vpc_subnets=ec2.SubnetSelection(subnet_type=ec2.SubnetType.PRIVATE_WITH_EGRESS),
            )
            database.connections.allow_default_port_from(service)
            services[name] = service
        # Dagster's webserver has no sign-in: by default an internal load balancer, reached from inside the VPC
        # (a VPN, a bastion); `ui_cidr` opens it to one address range of yours, and to nothing else.
        balancer = elbv2.ApplicationLoadBalancer(self, "DagsterUi", vpc=self.vpc, internet_facing=bool(self.ui_cidr))
        listener = balancer.add_listener("Http", port=80, open=False)
        listener.connections.allow_default_port_from(
            ec2.Peer.ipv4(self.ui_cidr) if self.ui_cidr else ec2.Peer.ipv4(self.vpc.vpc_cidr_block)
        )
        listener.add_targets(
            "Webserver",
            port=3000,
            protocol=elbv2.ApplicationProtocol.HTTP,
            targets=[services["webserver"]],
            health_check=elbv2.HealthCheck(path="/server_info"),
        )
        cdk.CfnOutput(self, "DagsterUiUrl", value=f"http://{balancer.load_balancer_dns_name}")
