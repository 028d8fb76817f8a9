"""Generation parameters and their validation (no Spark, no Dagster)."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

# Card bodies, SSNs and account numbers are bijections of the customer index
# over their number spaces; the smallest space (a 12-digit Maestro body with a
# 4-digit prefix) holds 10 million customers.
MAX_CUSTOMERS = 10_000_000
# Day ordinals are packed into 17 bits of the transaction id.
LAST_SUPPORTED_DATE = dt.date(2299, 12, 31)
FIRST_SUPPORTED_DATE = dt.date(1971, 1, 1)
# Fraud episodes recur in windows of this many days after the epoch.
EPISODE_WINDOW_DAYS = 365
# Share of customers with a fraud episode in each 365-day window. With the
# profiles' rates, 0.93 gives about 1% fraudulent rows, as in Sparkov's output
# (see README, "Synthetic data").
DEFAULT_FRAUD_SHARE = 0.93
DEFAULT_EPOCH = dt.date(2025, 1, 1)
DEFAULT_SEED = 42
DEFAULT_CUSTOMERS = 1_000


class GenerationConfigError(ValueError):
    """Invalid generation parameters; the message names the field."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field


@dataclass(frozen=True)
class GeneratorParams:
    """What the synthetic data depends on. Same params, same rows."""

    seed: int = DEFAULT_SEED
    customers: int = DEFAULT_CUSTOMERS
    fraud_share: float = DEFAULT_FRAUD_SHARE
    # The calendar origin: customer ages, year weights and fraud-episode
    # windows count from it, so a day's rows never depend on the run's range.
    epoch: dt.date = DEFAULT_EPOCH

    def __post_init__(self) -> None:
        if isinstance(self.customers, bool) or not isinstance(self.customers, int):
            raise GenerationConfigError("customers", f"must be an integer, got {self.customers!r}")
        if self.customers < 1:
            raise GenerationConfigError("customers", f"must be at least 1, got {self.customers}")
        if self.customers > MAX_CUSTOMERS:
            raise GenerationConfigError("customers", f"must be at most {MAX_CUSTOMERS:,}, got {self.customers:,}")
        if isinstance(self.seed, bool) or not isinstance(self.seed, int):
            raise GenerationConfigError("seed", f"must be an integer, got {self.seed!r}")
        if self.seed < 0 or self.seed >= 2**63:
            raise GenerationConfigError("seed", f"must be in [0, 2**63), got {self.seed}")
        if not isinstance(self.fraud_share, (int, float)) or isinstance(self.fraud_share, bool):
            raise GenerationConfigError("fraud_share", f"must be a number, got {self.fraud_share!r}")
        if not 0.0 <= float(self.fraud_share) <= 1.0:
            raise GenerationConfigError("fraud_share", f"must be within [0, 1], got {self.fraud_share}")
        check_date("epoch", self.epoch)


def check_date(field: str, value: object) -> dt.date:
    if not isinstance(value, dt.date) or isinstance(value, dt.datetime):
        raise GenerationConfigError(field, f"must be a date, got {value!r}")
    if not FIRST_SUPPORTED_DATE <= value <= LAST_SUPPORTED_DATE:
        raise GenerationConfigError(
            field, f"must be between {FIRST_SUPPORTED_DATE} and {LAST_SUPPORTED_DATE}, got {value}"
        )
    return value


def parse_date(field: str, text: str) -> dt.date:
    try:
        value = dt.date.fromisoformat(text)
    except (TypeError, ValueError):
        raise GenerationConfigError(field, f"must be a date as YYYY-MM-DD, got {text!r}") from None
    return check_date(field, value)


def check_range(start: dt.date, end: dt.date) -> None:
    check_date("start", start)
    check_date("end", end)
    if end < start:
        raise GenerationConfigError("end", f"{end} is before start {start}")
