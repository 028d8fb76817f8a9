"""An independent insurance-claims fraud injector: normal claims of a made-up practice network, and the common
billing-fraud typologies injected into them, labelled.

Kept apart from the detection code on purpose: it imports nothing from ``fraud_lakehouse`` and was written
from the typologies' descriptions, not from the rules. Its normal data has what real claims have and the
rules must not mistake for fraud: procedures of very different prices, procedures billed at round fee-schedule
prices, patients who see a provider across a state line, urgent-care providers open on weekends, repeat
visits, and the occasional legitimate identical second claim of a day.

Every run draws the typologies' parameters from ranges (``draw_parameters``), so a seed is a different fraud
mix; the evaluation uses seeds the weights were not fitted on.

Typologies (``fraud_type``):
- ``inflated``: the charge multiplied by a factor drawn from the run's range;
- ``upcoded``: the procedure replaced by the most expensive code of its family, billed at that code's price;
- ``round_amount``: the charge replaced by a round amount above it;
- ``duplicate``: an existing claim billed again under a new claim id, submitted days later (some with the amount
  altered by a few percent);
- ``impossible_volume``: a provider billing one procedure for dozens of patients in one day;
- ``out_of_state``: a distant provider billing patients of another state;
- ``new_provider_burst``: a provider that appears after weeks of data and bills a burst of claims on one or two
  days.

How providers price is a setting (``PRICES``): ``usual`` (the evaluation's: providers near the list price), or
``wide`` (one procedure's prices 3x apart across providers, and milder inflation).

    python benchmarks/claims_injector.py --seed 11 --days 60 --out /tmp/claims   # one CSV per submitted date
"""

from __future__ import annotations

import argparse
import datetime as dt
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import pandas as pd

STATES = ("CA", "TX", "NY", "FL", "IL", "PA", "OH", "GA", "NC", "MI", "WA", "AZ")
NEIGHBOURS = {
    "CA": ("AZ",), "AZ": ("CA",), "TX": ("AZ",), "NY": ("PA",), "PA": ("NY", "OH"), "OH": ("PA", "MI"),
    "MI": ("OH",), "FL": ("GA",), "GA": ("FL", "NC"), "NC": ("GA",), "IL": ("MI",), "WA": ("CA",),
}  # fmt: skip
# procedure families: code, base price; the last of each family is its most expensive level
FAMILIES = {
    "office_visit": (("99211", 45.0), ("99212", 80.0), ("99213", 125.0), ("99214", 190.0), ("99215", 260.0)),
    "imaging": (("70450", 420.0), ("71250", 650.0), ("72148", 1100.0)),
    "lab": (("80053", 28.0), ("85025", 18.0), ("83036", 22.0), ("80061", 35.0)),
    "therapy": (("97110", 70.0), ("97140", 65.0), ("97530", 85.0)),
    "surgery": (("29881", 3200.0), ("27447", 14500.0), ("47562", 9800.0)),
    "injection": (("96372", 40.0), ("20610", 150.0)),
}
# procedures billed at a fixed round fee schedule (their charges are round by design, not by fraud)
FEE_SCHEDULE = {"20610": (100.0, 200.0), "97530": (100.0,)}
PROVIDER_KINDS = {
    "clinic": ("office_visit", "lab", "injection"),
    "imaging_center": ("imaging",),
    "rehab": ("therapy", "office_visit"),
    "surgery_center": ("surgery", "office_visit"),
    "urgent_care": ("office_visit", "lab", "injection", "imaging"),
}
TYPOLOGIES = ("inflated", "upcoded", "round_amount", "duplicate", "impossible_volume", "out_of_state",
              "new_provider_burst")  # fmt: skip
COLUMNS = ("claim_id", "patient_id", "provider_id", "provider_name", "procedure_code", "diagnosis_code",
           "service_date", "submitted_date", "charge_amount", "paid_amount", "patient_state", "provider_state",
           "place_of_service")  # fmt: skip


@dataclass(frozen=True)
class Parameters:
    """One run's fraud mix, drawn from ranges."""

    fraud_share: float  # of normal claims turned into inflated / upcoded / round ones
    inflation: tuple[float, float]
    duplicate_share: float
    duplicate_altered_share: float
    volume_events: int
    volume_claims: tuple[int, int]
    out_of_state_claims: int
    new_providers: int
    new_provider_claims: tuple[int, int]


@dataclass(frozen=True)
class Prices:
    """How the network prices its procedures: each provider's factor on a procedure's list price (uniform in
    ``provider_factor``), each charge's lognormal spread around that (``charge_sigma``), and the ranges an
    inflated claim's factor range is drawn from (its low end, and its width above that)."""

    provider_factor: tuple[float, float]
    charge_sigma: float
    inflation_low: tuple[float, float]
    inflation_width: tuple[float, float]


PRICES = {
    # providers close to the list price; inflated charges at least twice the charge
    "usual": Prices(provider_factor=(0.85, 1.2), charge_sigma=0.12, inflation_low=(2.0, 3.5),
                    inflation_width=(1.0, 5.0)),
    # providers' prices for one procedure 3x apart (a hospital's charges and a clinic's), charges spread twice as
    # wide, inflated charges 1.6 to 3.7 times the charge: a procedure's spread across providers hides most of them
    "wide": Prices(provider_factor=(0.6, 1.8), charge_sigma=0.25, inflation_low=(1.6, 2.2),
                   inflation_width=(0.5, 1.5)),
}  # fmt: skip


def draw_parameters(rng: np.random.Generator, prices: Prices = PRICES["usual"]) -> Parameters:
    low = rng.uniform(*prices.inflation_low)
    return Parameters(
        fraud_share=float(rng.uniform(0.004, 0.012)),
        inflation=(float(low), float(low + rng.uniform(*prices.inflation_width))),
        duplicate_share=float(rng.uniform(0.002, 0.008)),
        duplicate_altered_share=float(rng.uniform(0.1, 0.4)),
        volume_events=int(rng.integers(2, 6)),
        volume_claims=(int(rng.integers(55, 80)), int(rng.integers(90, 160))),
        out_of_state_claims=int(rng.integers(40, 120)),
        new_providers=int(rng.integers(1, 4)),
        new_provider_claims=(int(rng.integers(15, 30)), int(rng.integers(35, 80))),
    )


def _list_prices() -> dict[str, tuple[str, float]]:
    return {code: (family, price) for family, codes in FAMILIES.items() for code, price in codes}


def normal_claims(
    rng: np.random.Generator,
    start: dt.date,
    days: int,
    patients: int,
    providers: int,
    pricing: Prices = PRICES["usual"],
) -> pd.DataFrame:
    prices = _list_prices()
    patient_state = rng.choice(STATES, size=patients)
    kinds = rng.choice(list(PROVIDER_KINDS), size=providers, p=[0.45, 0.1, 0.15, 0.1, 0.2])
    provider_state = rng.choice(STATES, size=providers)
    price_factor = rng.uniform(*pricing.provider_factor, size=providers)
    by_state = {state: np.nonzero(provider_state == state)[0] for state in STATES}
    rows = []
    claim_number = 0
    for patient in range(patients):
        home = patient_state[patient]
        visits = rng.poisson(days / 30 * rng.uniform(0.3, 2.5))
        usual = [p for p in by_state[home]] or list(range(providers))
        for _ in range(visits):
            # most care is in the patient's state; some across a state line, at a neighbour's providers; a little
            # anywhere (travellers, snowbirds)
            draw = rng.random()
            if draw < 0.06:
                near = [p for s in NEIGHBOURS[home] for p in by_state[s]]
                provider = int(rng.choice(near)) if near else int(rng.choice(usual))
            elif draw < 0.07:
                provider = int(rng.integers(0, providers))
            else:
                provider = int(rng.choice(usual))
            kind = kinds[provider]
            weekend_ok = kind == "urgent_care"
            day = int(rng.integers(0, days))
            date = start + dt.timedelta(days=day)
            while date.weekday() >= 5 and not (weekend_ok or rng.random() < 0.03):
                date -= dt.timedelta(days=1)
            families = PROVIDER_KINDS[kind]
            billed: set[str] = set()
            for _ in range(int(rng.choice([1, 1, 1, 2, 2, 3]))):
                family = rng.choice(families)
                codes = FAMILIES[family]
                code = codes[int(min(rng.geometric(0.45) - 1, len(codes) - 1))][0]
                if code in billed:  # one claim per procedure and visit
                    continue
                billed.add(code)
                if code in FEE_SCHEDULE:
                    charge = float(rng.choice(FEE_SCHEDULE[code]))
                else:
                    spread = float(rng.lognormal(0, pricing.charge_sigma))
                    charge = round(prices[code][1] * price_factor[provider] * spread, 2)
                claim_number += 1
                rows.append((f"CLM{claim_number:08d}", f"PAT{patient:06d}", f"PRV{provider:04d}",
                             f"{kind.replace('_', ' ').title()} {provider}", code, f"Z{int(rng.integers(0, 99)):02d}",
                             date, date + dt.timedelta(days=int(rng.integers(1, 15))), charge, kind, home,
                             provider_state[provider]))  # fmt: skip
                if rng.random() < 0.001:  # a legitimate second identical claim (two units billed apart)
                    claim_number += 1
                    rows.append((f"CLM{claim_number:08d}", *rows[-1][1:]))
    frame = pd.DataFrame(
        rows,
        columns=["claim_id", "patient_id", "provider_id", "provider_name", "procedure_code", "diagnosis_code",
                 "service_date", "submitted_date", "charge_amount", "kind", "patient_state", "provider_state"],
    )  # fmt: skip
    frame["fraud_type"] = ""
    return frame


def inject(claims: pd.DataFrame, parameters: Parameters, rng: np.random.Generator, start: dt.date, days: int):
    """The claims with every typology injected, labelled (``is_fraud``, ``fraud_type``)."""
    prices = _list_prices()
    frame = claims.copy()
    next_id = [len(frame) + 1]

    def new_id(prefix: str = "CLM") -> str:
        next_id[0] += 1
        return f"{prefix}{next_id[0]:08d}"

    # inflated / upcoded / round amounts on existing claims (not fee-schedule ones)
    eligible = frame.index[~frame["procedure_code"].isin(FEE_SCHEDULE)].to_numpy()
    chosen = rng.choice(eligible, size=int(len(frame) * parameters.fraud_share * 3), replace=False)
    for position, index in enumerate(chosen):
        typology = ("inflated", "upcoded", "round_amount")[position % 3]
        charge = frame.at[index, "charge_amount"]
        if typology == "inflated":
            frame.at[index, "charge_amount"] = round(charge * rng.uniform(*parameters.inflation), 2)
        elif typology == "upcoded":
            family, _ = prices[frame.at[index, "procedure_code"]]
            top_code, top_price = FAMILIES[family][-1]
            if top_code == frame.at[index, "procedure_code"]:
                continue
            frame.at[index, "procedure_code"] = top_code
            frame.at[index, "charge_amount"] = round(top_price * rng.uniform(0.9, 1.15), 2)
        else:
            frame.at[index, "charge_amount"] = float(np.ceil(charge * rng.uniform(1.2, 2.0) / 100) * 100)
        frame.at[index, "fraud_type"] = typology
    added = []
    # duplicates under new claim ids, submitted later, some with the amount altered
    for index in rng.choice(frame.index, size=int(len(frame) * parameters.duplicate_share), replace=False):
        copy = frame.loc[index].copy()
        copy["claim_id"] = new_id("CLX")
        copy["submitted_date"] = copy["submitted_date"] + dt.timedelta(days=int(rng.integers(3, 20)))
        if rng.random() < parameters.duplicate_altered_share:
            copy["charge_amount"] = round(copy["charge_amount"] * rng.uniform(1.01, 1.06), 2)
        copy["fraud_type"] = "duplicate"
        added.append(copy)
    providers = frame.drop_duplicates("provider_id")
    patients = frame.drop_duplicates("patient_id")
    # impossible volumes: one provider, one procedure, dozens of patients in a day
    clinics = providers[providers["kind"].isin(["clinic", "urgent_care"])]
    for _ in range(parameters.volume_events):
        provider = clinics.iloc[int(rng.integers(0, len(clinics)))]
        date = start + dt.timedelta(days=int(rng.integers(days // 3, days)))
        code = "99214"
        for patient in patients.sample(int(rng.integers(*parameters.volume_claims)), random_state=rng).itertuples():
            added.append(_claim(new_id(), patient, provider, code, prices[code][1] * rng.uniform(0.9, 1.1), date,
                                rng, "impossible_volume"))  # fmt: skip
    # out-of-state: distant providers billing patients of another state
    for patient in patients.sample(parameters.out_of_state_claims, random_state=rng).itertuples():
        far = providers[~providers["provider_state"].isin((patient.patient_state, *NEIGHBOURS[patient.patient_state]))]
        provider = far.iloc[int(rng.integers(0, len(far)))]
        code = rng.choice([c for c, _ in FAMILIES[PROVIDER_KINDS[provider.kind][0]]])
        date = start + dt.timedelta(days=int(rng.integers(0, days)))
        added.append(_claim(new_id(), patient, provider, code, prices[code][1] * rng.uniform(0.9, 1.2), date, rng,
                            "out_of_state"))  # fmt: skip
    # new providers billing only a burst, after weeks of data
    for number in range(parameters.new_providers):
        provider = pd.Series({"provider_id": f"PRVN{number:03d}", "provider_name": f"New Care {number}",
                              "kind": "clinic", "provider_state": rng.choice(STATES)})  # fmt: skip
        first = start + dt.timedelta(days=int(rng.integers(max(days // 2, 10), days - 2)))
        billed = patients.sample(int(rng.integers(*parameters.new_provider_claims)), random_state=rng)
        for patient in billed.itertuples():
            date = first + dt.timedelta(days=int(rng.integers(0, 2)))
            code = rng.choice(["99213", "99214", "99215"])
            added.append(_claim(new_id(), patient, provider, code, prices[code][1] * rng.uniform(0.95, 1.3), date,
                                rng, "new_provider_burst"))  # fmt: skip
    frame = pd.concat([frame, pd.DataFrame(added)], ignore_index=True)
    frame["is_fraud"] = (frame["fraud_type"] != "").astype(int)
    return frame


def _claim(claim_id, patient, provider, code, charge, date, rng, typology) -> pd.Series:  # type: ignore[no-untyped-def]
    return pd.Series({
        "claim_id": claim_id, "patient_id": patient.patient_id, "provider_id": provider["provider_id"],
        "provider_name": provider["provider_name"], "procedure_code": code,
        "diagnosis_code": f"Z{int(rng.integers(0, 99)):02d}", "service_date": date,
        "submitted_date": date + dt.timedelta(days=int(rng.integers(1, 10))), "charge_amount": round(float(charge), 2),
        "kind": provider["kind"], "patient_state": patient.patient_state,
        "provider_state": provider["provider_state"], "fraud_type": typology,
    })  # fmt: skip


def labelled_claims(
    seed: int, start: dt.date, days: int, patients: int = 3000, providers: int = 120, prices: str = "usual"
):
    """(claims in the insurance layout with ``is_fraud`` and ``fraud_type``, the run's parameters); ``prices``
    names one of ``PRICES``."""
    rng = np.random.default_rng(seed)
    parameters = draw_parameters(rng, PRICES[prices])
    claims = inject(normal_claims(rng, start, days, patients, providers, PRICES[prices]), parameters, rng, start, days)
    claims["paid_amount"] = (claims["charge_amount"] * 0.8).round(2)
    claims["place_of_service"] = np.where(claims["kind"] == "surgery_center", "24", "11")
    return claims, parameters


def land(claims: pd.DataFrame, landing: Path) -> list[Path]:
    """One CSV per submitted date under ``landing/<date>/``, in the insurance layout plus ``is_fraud``, rows in
    claim order (a later submission lands on a later day)."""
    written = []
    for date, day in claims.sort_values("claim_id").groupby("submitted_date"):
        path = landing / date.isoformat() / "claims.csv"
        path.parent.mkdir(parents=True, exist_ok=True)
        day[[*COLUMNS, "is_fraud"]].to_csv(path, index=False)
        written.append(path)
    return written


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seed", type=int, default=11)
    parser.add_argument("--start", default="2025-01-01")
    parser.add_argument("--days", type=int, default=60)
    parser.add_argument("--out", required=True, help="landing folder: one CSV per submitted date under it")
    parser.add_argument("--prices", choices=sorted(PRICES), default="usual", help="how providers price (PRICES)")
    args = parser.parse_args()
    claims, parameters = labelled_claims(args.seed, dt.date.fromisoformat(args.start), args.days, prices=args.prices)
    files = land(claims, Path(args.out))
    fraud = int(claims["is_fraud"].sum())
    print(f"{len(claims):,} claims ({fraud:,} fraud) in {len(files)} files; {asdict(parameters)}")
    print(claims["fraud_type"].replace("", "normal").value_counts().to_string())


if __name__ == "__main__":
    main()
