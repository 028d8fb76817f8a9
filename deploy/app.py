"""The CDK app: `python app.py` (or `cdk synth`, with npm's aws-cdk) writes the CloudFormation template to cdk.out/.

Context: `-c existing_cluster_id=j-...` uses an EMR cluster you already run instead of creating one;
`-c key_parameter=/path/name` names the SSM SecureString holding the pseudonymisation key
(default /fraud-lakehouse/pseudonym-key; create it before deploying); `-c idle_timeout_minutes=N` ends an idle
cluster after N minutes (default 60, 0 keeps it running); `-c cluster_generation=N` replaces an ended cluster;
`-c ui_cidr=203.0.113.7/32` puts the Dagster UI on the internet for that address range only (no sign-in: keep it
narrow), instead of inside the VPC.
With `python app.py`, put them in cdk.json's "context" instead.
"""

import os
import sys
from pathlib import Path

import aws_cdk as cdk

sys.path.insert(0, str(Path(__file__).resolve().parent))

from fraud_lakehouse_deploy.stack import KEY_PARAMETER, FraudLakehouseStack


def context(name: str, default):
    value = app.node.try_get_context(name)
    return default if value is None or value == "" else type(default)(value)


# `cdk synth` names the output folder itself; `python app.py` writes beside this file
app = cdk.App(outdir=None if os.environ.get("CDK_OUTDIR") else str(Path(__file__).resolve().parent / "cdk.out"))
FraudLakehouseStack(
    app,
    "FraudLakehouse",
    existing_cluster_id=app.node.try_get_context("existing_cluster_id"),
    key_parameter=context("key_parameter", KEY_PARAMETER),
    idle_timeout_minutes=context("idle_timeout_minutes", 60),
    cluster_generation=context("cluster_generation", 1),
    ui_cidr=context("ui_cidr", "") or None,
    env=cdk.Environment(account=os.environ.get("CDK_DEFAULT_ACCOUNT"), region=os.environ.get("CDK_DEFAULT_REGION")),
)
app.synth()
