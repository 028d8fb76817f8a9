#!/usr/bin/env bash
# EMR bootstrap action: installs fraud_lakehouse and its step dependencies into the nodes' Python 3.11, beside
# EMR's own Spark. Nothing of the laptop engine comes along: no pysail, no Spark Connect client, no second pyspark
# (dagster-pyspark and dagster-spark are installed without their dependencies for that reason).
#
# Usage (set by the CDK stack): bootstrap.sh s3://STAGING_BUCKET/bootstrap
set -euo pipefail

if [[ $# -ne 1 || "$1" != s3://* ]]; then
  echo "usage: $0 s3://bucket/prefix-holding-the-bootstrap-files" >&2
  exit 2
fi
source_uri="${1%/}"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

aws s3 cp --quiet "$source_uri/requirements-cluster.txt" "$work/requirements-cluster.txt"
aws s3 cp --quiet "$source_uri/requirements-cluster-nodeps.txt" "$work/requirements-cluster-nodeps.txt"
aws s3 cp --quiet --recursive "$source_uri/project/" "$work/project/"

python="/usr/bin/python3.11"
# EMR 7 (Amazon Linux 2023) ships Python 3.11 without its pip
if ! "$python" -m pip --version >/dev/null 2>&1; then
  sudo dnf install -y -q python3.11-pip
fi
sudo "$python" -m pip install --quiet --upgrade pip
sudo "$python" -m pip install --quiet -r "$work/requirements-cluster.txt"
sudo "$python" -m pip install --quiet --no-deps -r "$work/requirements-cluster-nodeps.txt"
sudo "$python" -m pip install --quiet --no-deps "$work/project"
echo "fraud_lakehouse installed for $python: $("$python" -c 'import fraud_lakehouse, dagster; print(dagster.__version__)')"
