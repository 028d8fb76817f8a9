"""Where claims files land: a local folder or an S3 prefix."""

from __future__ import annotations

from dagster import ConfigurableResource
from pydantic import Field

from fraud_lakehouse.claims.landing import LANDING_ENV, Landing, default_landing


class ClaimsLanding(ConfigurableResource):
    """The claims landing area (``claims/YYYY-MM-DD/...``); S3 endpoint and credentials from the AWS variables."""

    root: str = Field(default_factory=default_landing, description=f"folder or s3://bucket/claims/ (${LANDING_ENV})")

    def landing(self) -> Landing:
        return Landing(self.root)
