"""Fit the rule weights by maximum likelihood of the score's own model on labelled training data.

The procedure (how the weights in ``fraud_lakehouse/detection/scoring.py`` were set):

1. Training data, never used for evaluation, one set per domain: insurance claims from the independent
   injector (``benchmarks/claims_injector.py``) on seeds 1, 2 and 3 (90 days each); card transactions from this
   project's generator on March 2025 (the evaluation uses January, and Sparkov's own output);
   each run as a user runs it (``benchmarks/detection_quality.py``: landed files, one CLI backfill), with the
   registry's current rules (their hits do not depend on the weights).
2. Per domain (``scoring.DOMAINS``: a claim's source decides it), the model is the score itself, noisy-OR:
   P(fraud | hits) = 1 - (1 - leak) x prod(1 - w_r) over the rules that fired; ``leak`` is fraud no rule
   explains (fitted, not used in the score). Fitted by expectation-maximization, the textbook method for
   noisy-OR (every step raises the likelihood); claims are grouped by their pattern of hits first.
3. Each weight is capped at 0.97 (a rule that was never wrong in training is not certain), rounded to 0.01.
   A rule that never fired in a domain's training data (night rules on insurance claims, which have no time
   of day; state rules on card transactions, which have no provider state; copies and volumes the synthetic
   month does not hold) takes the other domain's fitted weight: no evidence either way; the table says so.
   Except the rules in ``NOT_BORROWED``, each with its reason.
4. Also printed: each rule's precision over the claims it flagged, for reading the weights.

Then the weights are copied into the registry by hand (a reviewed change, not a file read at run time) and
``benchmarks/detection_quality.py`` measures them on the held-out sources.

    python benchmarks/fit_weights.py              # prints the table: rule, flagged, precision, proposed, current
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import shutil
import sys
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent))

import detection_quality

TRAINING_SEEDS = (1, 2, 3)
TRAINING_SYNTHETIC_START = dt.date(2025, 3, 1)


WEIGHT_CAP = 0.97
# Rules that never fire in a domain's training data and do not borrow the other domain's weight, and why.
NOT_BORROWED = {
    # a merchant has no daily capacity: a busy day is no evidence against a card
    ("provider_procedure_volume", "card"): 0.0,
}


def fit_noisy_or(hits: np.ndarray, labels: np.ndarray, steps: int = 3000) -> tuple[np.ndarray, float]:
    """Maximum-likelihood weights of P(y | h) = 1 - (1 - leak) prod (1 - w)^h, by expectation-maximization
    (each hit is a cause that fires with chance w; a fraud's causes share the credit w / P(fraud), a normal
    claim's causes all stayed off), which climbs the likelihood at every step; returns (weights, leak)."""
    patterns, inverse = np.unique(hits, axis=0, return_inverse=True)
    inverse = inverse.reshape(-1)
    count = np.bincount(inverse, minlength=len(patterns)).astype(float)
    positive = np.bincount(inverse, weights=labels.astype(float), minlength=len(patterns))
    design = np.hstack([np.ones((len(patterns), 1)), patterns.astype(float)])  # column 0: the leak
    present = design.T @ count  # claims each cause could explain
    weights = np.full(design.shape[1], 0.1)
    for _ in range(steps):
        survive = np.exp(design @ np.log1p(-weights))
        fraud_chance = np.maximum(1 - survive, 1e-12)
        credit = design.T @ (positive / fraud_chance)  # sum over positives of 1 / P(y=1), per cause
        weights = np.where(present > 0, np.minimum(weights * credit / np.maximum(present, 1), WEIGHT_CAP), 0.0)
    return weights[1:], float(weights[0])


def training_claims(work: Path, seeds: tuple[int, ...]) -> pd.DataFrame:
    frames = []
    for seed in seeds:
        flagged, _, _ = detection_quality.run_injected(work, seed)
        frames.append(flagged)
    flagged, _, _ = detection_quality.run_synthetic(work, TRAINING_SYNTHETIC_START)
    frames.append(flagged)
    return pd.concat(frames, ignore_index=True)


def main() -> None:
    from fraud_lakehouse.detection.scoring import CARD_SOURCES, DOMAINS, RULES

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seeds", type=int, nargs="+", default=list(TRAINING_SEEDS))
    parser.add_argument("--work", type=Path, help="keep the lakes here (default: a temporary folder)")
    args = parser.parse_args()
    work = args.work or Path(tempfile.mkdtemp(prefix="fit-weights-"))
    claims = training_claims(work, tuple(args.seeds))
    labelled = claims[claims["is_fraud"].notna()]
    names = [rule.name for rule in RULES]
    domain_of = np.where(labelled["source"].isin(CARD_SOURCES), "card", "insurance")
    proposals: dict[str, dict[str, float]] = {name: {} for name in names}
    tables = {}
    for domain in DOMAINS:
        rows = labelled[domain_of == domain]
        labels = rows["is_fraud"].astype(int).to_numpy()
        hits = np.array([[name in fired for name in names] for fired in rows["rules_triggered"]], dtype=bool)
        weights, leak = fit_noisy_or(hits, labels)
        tables[domain] = (len(rows), int(labels.sum()), leak, hits, labels)
        for index, rule in enumerate(RULES):
            if hits[:, index].any():
                proposals[rule.name][domain] = round(float(weights[index]), 2)
    for rule in RULES:  # never fired in a domain: the other domain's fitted weight, unless set apart
        for domain, other in zip(DOMAINS, DOMAINS[::-1], strict=True):
            if domain not in proposals[rule.name]:
                proposals[rule.name][domain] = NOT_BORROWED.get(
                    (rule.name, domain), proposals[rule.name].get(other, 0.0)
                )
    for domain in DOMAINS:
        count, fraud_count, leak, hits, labels = tables[domain]
        print(f"\n{domain}: training claims {count:,}, fraud {fraud_count:,}; fitted leak {leak:.4f}")
        print("| rule | flagged | fraud | precision | proposed weight | current weight |")
        print("|---|---:|---:|---:|---:|---:|")
        for index, rule in enumerate(RULES):
            flagged = int(hits[:, index].sum())
            fraud = int(labels[hits[:, index]].sum())
            precision = f"{fraud / flagged:.3f}" if flagged else "never fired"
            print(f"| {rule.name} | {flagged:,} | {fraud:,} | {precision} | {proposals[rule.name][domain]} | "
                  f"{rule.weight(domain)} |")  # fmt: skip
    print(json.dumps(proposals))
    if args.work is None:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
