"""The pseudonymisation key, from the environment."""

from __future__ import annotations

import logging

from dagster import ConfigurableResource
from pydantic import Field

from fraud_lakehouse.claims.privacy import DEVELOPMENT_KEY, KEY_ENV, MIN_KEY_CHARS, check_key, key_fingerprint

log = logging.getLogger(__name__)

__all__ = ["MIN_KEY_CHARS", "Pseudonymizer"]


class Pseudonymizer(ConfigurableResource):
    """HMAC key for card numbers and patient ids. Bind ``key`` to ``EnvVar("FRAUD_LAKEHOUSE_PSEUDONYM_KEY")``;
    only the local profile, and only when the variable is unset, uses the development key, labelled as such in
    every materialization. A key that is set but empty, blank or short is an error, never a fallback."""

    key: str = Field(default=DEVELOPMENT_KEY, description=f"secret HMAC key; set {KEY_ENV} outside development")

    @property
    def is_development_key(self) -> bool:
        return self.key == DEVELOPMENT_KEY

    def secret(self) -> str:
        check_key(self.key)
        if self.is_development_key:
            log.warning("pseudonymising with the DEVELOPMENT key: set %s for real data", KEY_ENV)
        return self.key

    def metadata(self) -> dict[str, str]:
        return {
            "pseudonym_key": "DEVELOPMENT key (not for real data)" if self.is_development_key else "from environment",
            "pseudonym_key_fingerprint": key_fingerprint(self.key),
        }
