"""Dagster config of the synthetic data generator, shared by both bronze assets.

One resource (not per-asset config) so customers and transactions are always
generated from the same seed, customer count and epoch: their card numbers
must match.
"""

from __future__ import annotations

import os

from dagster import ConfigurableResource
from pydantic import Field

from fraud_lakehouse.generator.params import (
    DEFAULT_CUSTOMERS,
    DEFAULT_FRAUD_SHARE,
    DEFAULT_SEED,
    GenerationConfigError,
    GeneratorParams,
    parse_date,
)
from fraud_lakehouse.partitions import partitions_start_date


class SyntheticData(ConfigurableResource):
    """Parameters of the Sparkov-pattern generator (see README, "Synthetic data")."""

    customers: int = Field(default=DEFAULT_CUSTOMERS, description="number of card holders")
    seed: int = Field(default=DEFAULT_SEED, description="same seed, same rows")
    fraud_share: float = Field(
        default=DEFAULT_FRAUD_SHARE, description="share of customers with a fraud episode per 365-day window, in [0, 1]"
    )
    epoch: str = Field(
        default_factory=lambda: partitions_start_date().isoformat(),
        description="calendar origin (YYYY-MM-DD) of ages, year weights and fraud windows; "
        "default: the partitions' start date",
    )
    spark_partitions: int = Field(
        default=0, description="Spark partitions of the generation; 0 = one per core. Rows do not depend on it."
    )

    def params(self) -> GeneratorParams:
        """Validated parameters; raises GenerationConfigError naming the bad field."""
        return GeneratorParams(
            seed=self.seed,
            customers=self.customers,
            fraud_share=self.fraud_share,
            epoch=parse_date("epoch", self.epoch),
        )

    def partitions(self) -> int:
        if self.spark_partitions < 0:
            raise GenerationConfigError(
                "spark_partitions", f"must be 0 (one per core) or more, got {self.spark_partitions}"
            )
        return self.spark_partitions or os.cpu_count() or 1
