"""The arms beyond DEC (issue 34): their open recipe values chosen on the validation fold.

    tools/semi_valid.sh                 # the studies: one per setting, seeds 0-2, 40% labels
    python tools/semi_valid_table.py <runs folder> --out docs/results/semi_valid.csv

Each setting is a study of its own, ``<runs>/sv-<arm>-<value>-ablations`` (``arm``: ``st``
self-training, its ``semi.pseudo_min_score``; ``mt`` mean teacher, its
``semi.mt_consistency_weight``; ``cmc`` contrastive pretraining on the training rows, its
``semi.cmc_temperature``; ``cmcep`` the same, its ``semi.cmc_epochs``). Read from each study's runs, validation numbers only:

* self-training: the validation accuracy (Acc-2 has0) of every round's selected model: a run
  of two rounds gives the budgets 0 (the labeled rows only), 1 and 2; per round the
  pseudo-labels' count and their agreement with the true labels (read after training, for the
  report; the labels never reach the choice, which uses validation accuracy only);
* mean teacher: the selected model's validation accuracy, the last epoch's consistency;
* CMC: the fine-tuned classifier's validation accuracy, and the pretraining's held-out
  contrastive loss (validation rows' features, no label) every 20 epochs: has it flattened?

Beside each, the from-scratch arm's validation accuracy of the same seed and labeled draw,
from the committed records of the conclusive study (``docs/results/conclusive40_*_runs.csv``).

Written: ``<out>`` (one row per arm, setting, budget and seed), ``<out>_summary.csv`` (per arm
and setting: the mean over seeds, the mean paired difference to scratch, which is chosen) and
a JSON sidecar. The rule: per arm, the setting with the highest mean validation accuracy; a
difference smaller than half a point (about one validation segment of 229 per seed on average)
is a tie, and a tie goes to the literature default (``mosi_lib/config.py``). The test fold
is never read.
"""

from __future__ import annotations

import argparse
import json
import sys
from datetime import date
from pathlib import Path

import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tools import results_summary  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
ARMS = {"st": ("self_training", "semi.pseudo_min_score", 1.0),
        "mt": ("mean_teacher", "semi.mt_consistency_weight", 1.0),
        "cmc": ("cmc_train_rows", "semi.cmc_temperature", 0.07),
        "cmcep": ("cmc_train_rows", "semi.cmc_epochs", 100)}
"""Study prefix: (the study's variant, the setting it varies, its literature default)."""

PLANNED = {"semi.pseudo_min_score": (0.5, 1.0, 1.5), "semi.mt_consistency_weight": (1, 10, 100),
           "semi.cmc_temperature": (0.07, 0.2), "semi.cmc_epochs": (2,)}
"""The settings ``tools/semi_valid.sh`` runs: an arm is chosen for only when all of its have."""

TIE = 0.5
"""Points of mean validation accuracy below which two settings count as tied."""


def scratch_valid() -> pd.Series:
    """The from-scratch arm's validation accuracy (%) per seed, 40% labels (committed records)."""
    files = sorted((ROOT / "docs/results").glob("conclusive40_s*_runs.csv"))
    if not files:
        sys.exit("docs/results/conclusive40_s*_runs.csv: no records of the conclusive study; "
                 "expected its scratch arm's validation accuracy")
    df = pd.concat([pd.read_csv(f) for f in files])
    df = df[(df["init"] == "scratch") & (df["labels"] == "labeled")]
    return 100 * df.set_index("seed")["valid_acc_has0"]


def read_study(study: Path) -> list[dict]:
    """One dict per finished run of the study (its metrics.json, and the folder)."""
    out = []
    for f in sorted(study.glob("*/metrics.json")):
        m = json.loads(f.read_text())
        m["_dir"] = f.parent
        out.append(m)
    return out


def rows_for(prefix: str, value: float, runs: list[dict], scratch: pd.Series) -> list[dict]:
    """The table's rows of one setting's study."""
    variant, key, _ = ARMS[prefix]
    clfs = {m["seed"]: m for m in runs if m.get("kind") == "classifier"}
    pre = {m["seed"]: m for m in runs if m.get("kind") == "contrastive"}
    rows = []
    for seed, m in sorted(clfs.items()):
        base = {"arm": variant, "setting": key, "value": value, "seed": seed,
                "scratch_valid_acc": round(float(scratch.get(seed, float("nan"))), 2)}
        if prefix == "st":
            for r in m["semi"]["rounds"]:
                rows.append({**base, "budget": f"rounds={r['round']}",
                             "valid_acc": round(100 * r["best_valid_acc"], 2),
                             "n_pseudo": r["n_pseudo"], "pseudo_agree_share": r["agree_share"]})
        elif prefix == "mt":
            rows.append({**base, "budget": "",
                         "valid_acc": round(100 * m["valid"]["acc_has0"], 2),
                         "last_consistency": m["semi"]["last_consistency"]})
        else:
            row = {**base, "budget": f"epochs={pre[seed]['epochs']}" if seed in pre else "",
                   "valid_acc": round(100 * m["valid"]["acc_has0"], 2)}
            if seed in pre:
                hist = pd.read_csv(pre[seed]["_dir"] / "history.csv")
                for e in range(20, int(hist["epoch"].max()) + 1, 20):
                    row[f"heldout_loss@{e}"] = round(float(
                        hist.loc[hist["epoch"] == e, "val_loss"].iloc[0]), 4)
                best = hist.loc[hist["val_loss"].idxmin()]
                row["heldout_loss_best_epoch"] = int(best["epoch"])
                row["heldout_loss_best"] = round(float(best["val_loss"]), 4)
                row["chance_loss"] = round(pre[seed]["chance_loss"], 4)
            rows.append(row)
    for r in rows:
        r["minus_scratch"] = round(r["valid_acc"] - r["scratch_valid_acc"], 2)
    return rows


def summarise(df: pd.DataFrame, planned: dict | None = PLANNED) -> pd.DataFrame:
    """Per arm, setting and budget: seeds, mean validation accuracy, mean minus scratch; chosen.

    ``complete`` says whether every ``planned`` setting of the arm ran on every seed; an arm
    that is not complete has no ``chosen`` row yet (``planned=None``: what ran is complete).
    """
    g = (df.groupby(["arm", "setting", "value", "budget"], dropna=False)
         .agg(seeds=("seed", lambda s: " ".join(map(str, sorted(s)))),
              n_seeds=("seed", "nunique"), valid_acc=("valid_acc", "mean"), minus_scratch=("minus_scratch", "mean"))
         .round(2).reset_index())
    g["chosen"] = False
    g["complete"] = True
    defaults = {key: d for _, key, d in ARMS.values()}
    for arm, a in g.groupby("arm"):
        done = {(k, float(v)) for k, v, n in zip(a["setting"], a["value"], a["n_seeds"],
                                                 strict=True) if n == a["n_seeds"].max()}
        keys = {key for variant, key, _ in ARMS.values() if variant == arm}
        if planned and any((k, float(v)) not in done for k in keys
                           for v in planned.get(k, ())):
            g.loc[a.index, "complete"] = False
            continue
        # only settings with every seed compete, and self-training's round 0 (the labeled rows
        # only: the scratch recipe) is shown, not chosen
        full = a[(a["n_seeds"] == a["n_seeds"].max()) & (a["budget"] != "rounds=0")]
        best = full["valid_acc"].max()
        tied = full[full["valid_acc"] >= best - TIE]
        pick = tied[[v == defaults[k] for k, v in zip(tied["setting"], tied["value"], strict=True)]]
        # a tie goes to the default, and among its budgets to the smallest (the first listed)
        g.loc[(pick if len(pick) else tied.loc[[tied["valid_acc"].idxmax()]]).index[0],
              "chosen"] = True
    return g


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("runs", type=Path, help="the runs folder holding the sv-* studies")
    ap.add_argument("--out", type=Path, default=ROOT / "docs/results/semi_valid.csv")
    args = ap.parse_args()
    scratch = scratch_valid()
    rows = []
    for study in sorted(args.runs.glob("sv-*-ablations")):
        prefix, value = study.name[3:-len("-ablations")].split("-", 1)
        if prefix not in ARMS:
            sys.exit(f"{study}: unknown arm prefix {prefix!r}; expected one of {sorted(ARMS)}")
        rows += rows_for(prefix, float(value), read_study(study), scratch)
    if not rows:
        sys.exit(f"{args.runs}: no finished run in any sv-*-ablations study")
    df = pd.DataFrame(rows)
    df.to_csv(args.out, index=False)
    summary = summarise(df)
    short = args.out.with_name(args.out.stem + "_summary.csv")
    summary.to_csv(short, index=False)
    sidecar = {"files": [args.out.name, short.name],
               "command": "tools/semi_valid.sh (the studies); python tools/semi_valid_table.py "
                          f"{args.runs} --out {args.out}",
               "commit": results_summary.head_commit(), "machine": results_summary.machine(),
               "date": date.today().isoformat(),
               "data": "real CMU-MOSI, the default input; validation fold only (229 segments)",
               "config": {"profile": "quick", "protocol": "standard", "labeled_fraction": 0.4,
                          "seeds": sorted(df["seed"].unique().tolist()),
                          "rule": f"highest mean validation accuracy; within {TIE} points a tie, "
                                  "resolved to the literature default"},
               "transcribed": False}
    args.out.with_suffix(".json").write_text(json.dumps(sidecar, indent=2) + "\n")
    print(summary.to_string(index=False))


if __name__ == "__main__":
    main()
