"""Benchmark: detection quality on every evaluation source, each run as a user runs it, in one table.

Each source gets a new Dagster home with its files landed under ``.lakehouse/landing/claims/<date>/`` and
one single-run backfill through the CLI (``fraud-lakehouse backfill [--claims-only] --from A --to B``); the
scores are then read from ``gold/flagged_claims`` and compared with the source's labels:

- ``synthetic``: this project's generator (1,000 customers, 30 days), the synthetic feed on;
- ``sparkov``: the original Sparkov generator's real output (``--sparkov FILE``, e.g.
  ``../shared/reference/sparkov/output/sparkov_250cust_2024_seed7.csv.gz``), landed one file per
  ``trans_date`` in its native ``|`` layout, labels in its ``is_fraud`` column;
- ``injected-<seed>``: the independent insurance-claims injector (``benchmarks/claims_injector.py``) on held-out
  seeds, landed one file per submitted date with an ``is_fraud`` column; recall is also reported per typology.
  With ``--prices wide``, ``injected-wide-<seed>``: the same injector with providers whose prices for one
  procedure are 3x apart and milder inflation (``claims_injector.PRICES``).

Figures per source: ROC-AUC of fraud_score (ties count one half; for the injector also without the typologies
a claims file cannot reveal, ``HIDDEN_TYPOLOGIES``), precision and recall at high risk, the precision of each
band, and the rules behind the high band's false alarms. Nothing is fitted here: the
weights were fitted on other seeds (``benchmarks/fit_weights.py``).

Two more figures say how far a source's shortfall comes from the data rather than the weights:

- ``best_rule_weighting``: the highest precision at high that any score computed from the rules' flags could
  reach at the recall target (0.9) on this source, weighted knowing its labels. Such a score gives every claim
  with the same set of rules fired the same value, so its high band is a set of whole rule combinations; taking
  them in order of their share of fraud on this very data, the last one in part, bounds the precision from
  above. Below 0.5, no weighting of these rules meets both targets on the source, not even one fitted on it.
  For the injector, also per typology: that typology's claims against the normal ones, the others left out.
- for the card sources, recall at high of the fraud claims in the night hours and in the day apart (the
  night, gold's ``night_claim`` flag, is where the card fraud episodes mostly fall).

    python benchmarks/detection_quality.py \
        --sparkov ../shared/reference/sparkov/output/sparkov_250cust_2024_seed7.csv.gz
    python benchmarks/detection_quality.py --sources injected --seeds 101 102
    python benchmarks/detection_quality.py --sources injected --prices usual wide
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import shutil
import sys
import tempfile
from collections import Counter
from pathlib import Path

import claims_injector
import numpy as np
import pandas as pd
from user_home import BIN, new_home, timed

EVALUATION_SEEDS = (101, 102, 103)
# Typologies a claims file cannot reveal: an upcoded claim bills its family's top code at that code's normal
# price, spread at random over honest providers, so it is a legitimate top-level claim in every column.
HIDDEN_TYPOLOGIES = ("upcoded",)
# The targets at high risk: recall of every typology the data can reveal, and precision.
RECALL_TARGET = 0.9
PRECISION_TARGET = 0.5
# the figure's key: see best_rule_weighting
BOUND = "best_rule_weighting_precision_at_recall_target"
INJECTED_START = dt.date(2025, 1, 1)
INJECTED_DAYS = 90
SYNTHETIC_START = dt.date(2025, 1, 1)
SYNTHETIC_DAYS = 30


def backfill(root: Path, env: dict[str, str], start: dt.date, end: dt.date, claims_only: bool) -> float:
    command = [str(BIN / "fraud-lakehouse"), "backfill", "--from", start.isoformat(), "--to", end.isoformat()]
    return timed([*command, "--claims-only"] if claims_only else command, root, env)


def home_for(root: Path, start: dt.date, synthetic_feed: bool) -> dict[str, str]:
    return new_home(
        root,
        FRAUD_LAKEHOUSE_START_DATE=start.isoformat(),
        FRAUD_LAKEHOUSE_SYNTHETIC_FEED="on" if synthetic_feed else "off",
    )


def flagged_claims(root: Path) -> pd.DataFrame:
    from deltalake import DeltaTable

    columns = ["claim_id", "source", "fraud_score", "risk_level", "rules_triggered", "rule_night_claim", "is_fraud",
               "detection_date"]  # fmt: skip
    return DeltaTable(str(root / ".lakehouse" / "lake" / "gold" / "flagged_claims")).to_pandas(columns=columns)


def roc_auc(scores: np.ndarray, labels: np.ndarray) -> float | None:
    """Mann-Whitney: the chance a fraud scores above a normal claim, a tie counting one half."""
    positives, negatives = int(labels.sum()), int((1 - labels).sum())
    if not positives or not negatives:
        return None
    ranks = pd.Series(scores).rank(method="average").to_numpy()
    return float((ranks[labels == 1].sum() - positives * (positives + 1) / 2) / (positives * negatives))


def best_rule_weighting(labelled: pd.DataFrame) -> float | None:
    """The most precision at high any score of the rules' flags could have at ``RECALL_TARGET`` on these
    claims, weighted knowing their labels (an upper bound: whole rule combinations in order of their share of
    fraud, the last in part); None without fraud."""
    combinations = labelled.groupby(labelled["rules_triggered"].map(tuple))["is_fraud"].agg(["size", "sum"])
    if not combinations["sum"].sum():
        return None
    combinations = combinations.assign(share=combinations["sum"] / combinations["size"])
    needed = RECALL_TARGET * combinations["sum"].sum()
    caught = claims = 0.0
    for size, fraud in combinations.sort_values("share", ascending=False)[["size", "sum"]].itertuples(index=False):
        part = min(1.0, (needed - caught) / fraud) if fraud else 0.0
        caught, claims = caught + part * fraud, claims + part * size
        if caught >= needed:
            break
    return round(caught / claims, 4)


def recall_high_by_time_of_day(labelled: pd.DataFrame) -> dict:
    """Recall at high of the fraud claims in the night hours (gold's own ``night_claim`` flag) and in the day
    (card sources: claims with a time)."""
    fraud = labelled[labelled["is_fraud"] == 1]
    night = fraud["rule_night_claim"].fillna(False).astype(bool)
    return {
        part: {"claims": len(rows), "recall_high": round(float((rows["risk_level"] == "high").mean()), 4)}
        for part, rows in (("night", fraud[night]), ("day", fraud[~night]))
        if len(rows)
    }


def quality(flagged: pd.DataFrame, truth: pd.Series | None = None) -> dict:
    """Figures of one source; ``truth`` (claim id -> typology) adds recall per typology."""
    labelled = flagged[flagged["is_fraud"].notna()]
    labels = labelled["is_fraud"].astype(int).to_numpy()
    high = (labelled["risk_level"] == "high").to_numpy()
    true_positives = int((high & (labels == 1)).sum())
    bands = {}
    for band in ("high", "medium", "low"):
        in_band = (labelled["risk_level"] == band).to_numpy()
        bands[band] = {
            "claims": int(in_band.sum()),
            "precision": round(float(labels[in_band].mean()), 4) if in_band.any() else None,
        }
    false_alarms = labelled[(labelled["risk_level"] == "high") & (labelled["is_fraud"] == 0)]
    alarm_rules = Counter(rule for rules in false_alarms["rules_triggered"] for rule in rules)
    result = {
        "claims": len(flagged),
        "labelled": len(labelled),
        "positives": int(labels.sum()),
        "roc_auc": round(roc_auc(labelled["fraud_score"].to_numpy(), labels), 4) if len(labelled) else None,
        "precision_high": round(true_positives / high.sum(), 4) if high.any() else None,
        "recall_high": round(true_positives / labels.sum(), 4) if labels.sum() else None,
        "bands": bands,
        "false_alarm_rules_at_high": dict(alarm_rules.most_common(6)),
        BOUND: best_rule_weighting(labelled),
    }
    if truth is None and labels.sum():
        result["recall_high_by_time_of_day"] = recall_high_by_time_of_day(labelled)
    if truth is not None:
        typed = labelled.assign(fraud_type=labelled["claim_id"].map(truth).fillna(""))
        revealable = typed[~typed["fraud_type"].isin(HIDDEN_TYPOLOGIES)]
        result["roc_auc_revealable"] = round(
            roc_auc(revealable["fraud_score"].to_numpy(), revealable["is_fraud"].astype(int).to_numpy()), 4
        )
        result["recall_high_by_typology"] = {
            typology: {
                "claims": len(rows),
                "recall_high": round(float((rows["risk_level"] == "high").mean()), 4),
                "recall_medium_or_high": round(float((rows["risk_level"] != "low").mean()), 4),
                # this typology's claims against the normal ones, the other typologies left out
                BOUND: best_rule_weighting(typed[(typed["fraud_type"] == typology) | (typed["is_fraud"] == 0)]),
            }
            for typology, rows in typed[typed["fraud_type"] != ""].groupby("fraud_type")
        }
    return result


def run_synthetic(work: Path, start: dt.date = SYNTHETIC_START) -> tuple[pd.DataFrame, None, float]:
    root = work / "synthetic"
    env = home_for(root, start, synthetic_feed=True)
    end = start + dt.timedelta(days=SYNTHETIC_DAYS - 1)
    seconds = backfill(root, env, start, end, claims_only=False)
    return flagged_claims(root), None, seconds


def run_sparkov(work: Path, path: Path) -> tuple[pd.DataFrame, None, float]:
    root = work / "sparkov"
    transactions = pd.read_csv(path, sep="|", dtype=str)
    days = sorted(transactions["trans_date"].unique())
    start, end = dt.date.fromisoformat(days[0]), dt.date.fromisoformat(days[-1])
    env = home_for(root, start, synthetic_feed=False)
    for day, rows in transactions.groupby("trans_date"):
        target = root / ".lakehouse" / "landing" / "claims" / day / "sparkov.csv"
        target.parent.mkdir(parents=True, exist_ok=True)
        rows.to_csv(target, sep="|", index=False)
    seconds = backfill(root, env, start, end, claims_only=True)
    return flagged_claims(root), None, seconds


def run_injected(work: Path, seed: int, prices: str = "usual") -> tuple[pd.DataFrame, pd.Series, float]:
    root = work / injected_name(seed, prices)
    claims, _ = claims_injector.labelled_claims(seed, INJECTED_START, INJECTED_DAYS, prices=prices)
    env = home_for(root, INJECTED_START, synthetic_feed=False)
    files = claims_injector.land(claims, root / ".lakehouse" / "landing" / "claims")
    end = max(dt.date.fromisoformat(path.parent.name) for path in files)
    seconds = backfill(root, env, INJECTED_START, end, claims_only=True)
    return flagged_claims(root), claims.set_index("claim_id")["fraud_type"], seconds


def injected_name(seed: int, prices: str) -> str:
    return f"injected-{seed}" if prices == "usual" else f"injected-{prices}-{seed}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sources", nargs="+", default=["synthetic", "sparkov", "injected"],
                        choices=["synthetic", "sparkov", "injected"])  # fmt: skip
    parser.add_argument("--sparkov", type=Path, help="a Sparkov output file (| separated, gzip or not)")
    parser.add_argument("--seeds", type=int, nargs="+", default=list(EVALUATION_SEEDS), help="injector seeds")
    parser.add_argument("--prices", nargs="+", default=["usual"], choices=sorted(claims_injector.PRICES),
                        help="how the injector's providers price (claims_injector.PRICES); 'wide' sources are "
                             "named injected-wide-<seed>")  # fmt: skip
    parser.add_argument("--work", type=Path, help="keep the lakes here (default: a temporary folder)")
    parser.add_argument("--json", type=Path, help="also write the figures here")
    args = parser.parse_args()
    work = args.work or Path(tempfile.mkdtemp(prefix="detection-quality-"))
    runs: dict[str, tuple] = {}
    if "synthetic" in args.sources:
        runs["synthetic"] = run_synthetic(work)
    if "sparkov" in args.sources:
        if args.sparkov is None:
            print("sparkov: no --sparkov file given: not evaluated", file=sys.stderr)
        else:
            runs["sparkov"] = run_sparkov(work, args.sparkov)
    if "injected" in args.sources:
        for prices in args.prices:
            for seed in args.seeds:
                runs[injected_name(seed, prices)] = run_injected(work, seed, prices)
    figures = {}
    for name, (flagged, truth, seconds) in runs.items():
        figures[name] = quality(flagged, truth) | {"backfill_seconds": round(seconds, 1)}
        print(f"{name}: {json.dumps(figures[name])}", file=sys.stderr)
    print("\n| source | claims | fraud | ROC-AUC | ROC-AUC, revealable | precision at high | recall at high | "
          "precision by band h / m / l |")  # fmt: skip
    print("|---|---:|---:|---:|---:|---:|---:|---|")
    for name, figure in figures.items():
        bands = " / ".join(str(figure["bands"][band]["precision"]) for band in ("high", "medium", "low"))
        print(f"| {name} | {figure['labelled']:,} | {figure['positives']:,} | {figure['roc_auc']} | "
              f"{figure.get('roc_auc_revealable', figure['roc_auc'])} | {figure['precision_high']} | "
              f"{figure['recall_high']} | {bands} |")  # fmt: skip
    typologies = sorted({t for f in figures.values() for t in f.get("recall_high_by_typology", {})})
    injected = [name for name in figures if name.startswith("injected")]
    tables = [("typology (recall at high)", "recall_high"),
              (f"typology: best precision of any rule weighting at recall {RECALL_TARGET}", BOUND)]  # fmt: skip
    for title, key in tables if typologies else []:
        print(f"\n| {title} | " + " | ".join(injected) + " |")
        print("|---|" + "---:|" * len(injected))
        for typology in typologies:
            cells = [str(figures[n]["recall_high_by_typology"].get(typology, {}).get(key)) for n in injected]
            print(f"| {typology} | " + " | ".join(cells) + " |")
    print(f"\n| source | recall at high | night fraud | day fraud | best precision of any rule weighting "
          f"at recall {RECALL_TARGET} (target {PRECISION_TARGET}) |")  # fmt: skip
    print("|---|---:|---:|---:|---:|")
    for name, figure in figures.items():
        parts = figure.get("recall_high_by_time_of_day", {})
        cells = [f"{parts[p]['recall_high']} ({parts[p]['claims']:,})" if p in parts else "" for p in ("night", "day")]
        print(f"| {name} | {figure['recall_high']} | {' | '.join(cells)} | "
              f"{figure[BOUND]} |")  # fmt: skip
    if args.json:
        args.json.write_text(json.dumps(figures, indent=2))
    if args.work is None:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
