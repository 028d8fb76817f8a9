"""Dagster resources; the set for each deployment is chosen in `deployments`."""
