"""Sample claims files with injected fraud, for users to drop into the landing area.

``insurance``: the 13-column layout, no labels. Injected: exact duplicates,
near duplicates, a provider billing one procedure too often in a day, a
patient with too many claims in a day, round charges from one provider,
amounts far above their procedure, and patients treated out of state.

``sparkov``: the Kaggle fraudTrain layout, made by this project's generator
(labels included), with exact duplicates injected (labelled as fraud).

The format follows the file name: .csv, .csv.gz, .jsonl or .parquet.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import numpy as np
import pandas as pd

from fraud_lakehouse.claims.model import INSURANCE_COLUMNS

STATES = ["CA", "TX", "NY", "FL", "IL", "PA", "OH", "GA", "NC", "MI"]
PROCEDURES = {"99213": 110.0, "99214": 165.0, "80053": 45.0, "71046": 95.0, "93000": 60.0, "97110": 80.0}
DIAGNOSES = ["J45", "E11", "I10", "M54", "F41", "K21"]


def insurance_claims(count: int, day: dt.date, seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    patients = max(10, count // 3)
    providers = max(5, count // 40)
    procedure = rng.choice(list(PROCEDURES), size=count)
    base = np.array([PROCEDURES[p] for p in procedure])
    amount = np.round(rng.gamma(16.0, base / 16.0), 2)
    state = rng.choice(STATES, size=count)
    frame = pd.DataFrame(
        {
            "claim_id": [f"CLM{seed:04d}{i:07d}" for i in range(count)],
            "patient_id": [f"PAT{p:06d}" for p in rng.integers(0, patients, count)],
            "provider_id": [f"PRV{p:04d}" for p in rng.integers(0, providers, count)],
            "procedure_code": procedure,
            "diagnosis_code": rng.choice(DIAGNOSES, size=count),
            "service_date": day.isoformat(),
            "submitted_date": (day + dt.timedelta(days=1)).isoformat(),
            "charge_amount": amount,
            "paid_amount": np.round(amount * rng.uniform(0.6, 0.95, count), 2),
            "patient_state": state,
            "provider_state": state,
            "place_of_service": rng.choice(["11", "21", "22", "81"], size=count),
        }
    )
    frame["provider_name"] = "Clinic " + frame["provider_id"].str[3:]
    # Rows per kind of fraud: four kinds take disjoint rows, so a tiny file gets fewer kinds.
    injected = min(max(1, count // 50), count // 4)
    round_rows, huge_rows, state_rows, near_rows = rng.choice(count, size=(4, injected), replace=False)
    frame.loc[round_rows, "provider_id"] = "PRV9001"
    frame.loc[round_rows, "provider_name"] = "Clinic Round"
    frame.loc[round_rows, "charge_amount"] = rng.integers(2, 9, injected) * 100.0
    frame.loc[huge_rows, "charge_amount"] = np.round(frame.loc[huge_rows, "charge_amount"] * 25, 2)
    frame.loc[state_rows, "provider_state"] = "AK"
    near = frame.loc[near_rows].copy()
    near["claim_id"] = near["claim_id"] + "N"
    near["charge_amount"] = np.round(near["charge_amount"] * 1.02, 2)
    exact = frame.sample(n=max(1, count // 50), random_state=seed).copy()
    exact["claim_id"] = exact["claim_id"] + "D"
    volume = frame.iloc[[0] * 60].copy()  # one provider, one procedure, 60 times in a day
    volume["claim_id"] = [f"VOL{seed:04d}{i:05d}" for i in range(60)]
    volume["patient_id"] = [f"PAT9{i:05d}" for i in range(60)]
    busy = frame.iloc[[min(1, count - 1)] * 8].copy()  # one patient, 8 claims in a day
    busy["claim_id"] = [f"BSY{seed:04d}{i:05d}" for i in range(8)]
    busy["provider_id"] = [f"PRV{8000 + i}" for i in range(8)]
    sample = pd.concat([frame, near, exact, volume, busy], ignore_index=True)
    return sample[list(INSURANCE_COLUMNS)]


def sparkov_claims(count: int, day: dt.date, seed: int) -> pd.DataFrame:
    """Kaggle-layout rows from the project's generator (numpy, no Spark), with exact duplicates added."""
    from fraud_lakehouse.generator.customers import customer_batch
    from fraud_lakehouse.generator.params import GeneratorParams
    from fraud_lakehouse.generator.transactions import transaction_batches

    customers = max(10, count // 2)
    params = GeneratorParams(seed=seed, customers=customers, fraud_share=0.93)
    ids = np.arange(customers)
    people = customer_batch(params, ids).to_pandas()
    batches = list(transaction_batches(params, ids, day, day + dt.timedelta(days=max(1, count // customers + 1))))
    rows = pd.concat([b.to_pandas() for b in batches], ignore_index=True).head(count)
    joined = rows.merge(people, on="cc_num", suffixes=("", "_customer"))
    joined["trans_date_trans_time"] = joined["trans_date"].astype(str) + " " + joined["trans_time"]
    columns = [
        "trans_date_trans_time", "cc_num", "merchant", "category", "amt", "first", "last", "gender", "street",
        "city", "state", "zip", "lat", "long", "city_pop", "job", "dob", "trans_num", "unix_time", "merch_lat",
        "merch_long", "is_fraud",
    ]  # fmt: skip
    frame = joined[columns]
    copies = frame.sample(n=max(1, len(frame) // 100), random_state=seed).copy()
    copies["trans_num"] = copies["trans_num"].str[:-1] + "d"
    copies["is_fraud"] = 1
    return pd.concat([frame, copies], ignore_index=True)


def write_sample(frame: pd.DataFrame, out: str) -> Path:
    path = Path(out)
    path.parent.mkdir(parents=True, exist_ok=True)
    name = path.name.lower()
    if name.endswith(".parquet"):
        frame.to_parquet(path, index=False)
    elif name.endswith((".jsonl", ".ndjson", ".json")):
        frame.to_json(path, orient="records", lines=True)
    elif name.endswith((".csv", ".csv.gz")):
        frame.to_csv(path, index=False, compression="gzip" if name.endswith(".gz") else None)
    else:
        raise ValueError(f"unknown format for {out}: use .csv, .csv.gz, .jsonl or .parquet")
    return path
