"""The AWS deployment of fraud_lakehouse as a CDK app (``deploy/app.py``)."""
