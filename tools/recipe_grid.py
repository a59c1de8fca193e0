"""Compare classifier recipes on the validation fold: several recipes x seeds, one CSV.

    python tools/recipe_grid.py --out docs/results/quick_recipe_grid.csv --jobs 2 \
        --seeds 0 1 2 --epochs 60 \
        --recipe base= --recipe max_len50=data.max_len=50 --recipe lr1e-4=train.lr=1e-4 \
        --recipe bce=train.objective=bce \
        --recipe dropout0.5="model.dropout=0.5 model.enc_dropout=0.2"

Each (recipe, seed) is one ``tools/recipe_curves.py`` run (quick profile, standard protocol,
the labeled pool of ``--labels``), in ``--jobs`` processes of one thread each; its per-epoch
array is kept in ``--work``. The CSV has one row per run with **validation numbers only** (mean
validation accuracy over epochs 11-E and 21-E, the best validation epoch and its accuracy, the
epoch of the lowest validation loss, the training accuracy of the last 10 epochs), so that a
recipe is chosen without a look at the test fold. A run whose array is already in ``--work`` is
not trained again (an array of another length than ``--epochs`` is refused, named).

``--budgets 100 150 200`` summarises each run as runs of those lengths too (one row per run and
budget, with the mean validation accuracy of the budget's last 50 epochs): the learning rate is
constant, so the first B epochs of a long run are a run of B epochs, and one long run per seed
answers how long the budget should be::

    python tools/recipe_grid.py --out docs/results/quick_recipe_grid_all.csv --labels all \
        --jobs 2 --seeds 0 1 2 --epochs 200 --budgets 100 150 200 \
        --recipe base= --recipe lr1e-4=train.lr=1e-4 \
        --recipe dropout0.5="model.dropout=0.5 model.enc_dropout=0.2"
"""

from __future__ import annotations

import argparse
import csv
import shlex
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np

TOOLS = Path(__file__).resolve().parent


def check_budget(budget: int, epochs: int) -> None:
    """Refuse a budget that is not a run of 1..``epochs`` epochs (the length of the long run)."""
    if not 0 < budget <= epochs:
        raise ValueError(f"budget {budget}: need 1..{epochs} (the run has {epochs} epochs)")


def summarise(a: np.ndarray, budget: int | None = None) -> dict:
    """Validation summary of one ``recipe_curves`` array (epoch, val_acc, val_loss, _, train).

    ``budget``: summarise the first ``budget`` epochs only (a run of that length, since the
    learning rate is constant); it adds the mean validation accuracy of its last 50 epochs.
    """
    if budget is not None:
        check_budget(budget, len(a))
        a = a[:budget]
    v, loss = a[:, 1], a[:, 2]
    best = int(np.lexsort((loss, -v))[0])  # as the checkpoint selection: ties to lower loss
    row = {"epochs": len(a), "valid_mean_11_end": round(100 * v[10:].mean(), 2),
           "valid_mean_21_end": round(100 * v[20:].mean(), 2)}
    if budget is not None:
        row["valid_mean_last50"] = round(100 * v[-50:].mean(), 2)
    return {**row, "best_valid": round(100 * v[best], 2), "best_epoch": best + 1,
            "min_val_loss_epoch": int(loss.argmin()) + 1,
            "train_acc_last10": round(100 * a[-10:, 4].mean(), 2)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--recipe", action="append", required=True, metavar="NAME=KEY=VALUE ...")
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    ap.add_argument("--epochs", type=int, default=60)
    ap.add_argument("--budgets", type=int, nargs="+", metavar="B",
                    help="also summarise each run as runs of B epochs (each B <= --epochs)")
    ap.add_argument("--labels", choices=("labeled", "all"), default="labeled")
    ap.add_argument("--jobs", type=int, default=2)
    ap.add_argument("--work", default="runs/recipe_grid", help="folder of the per-run arrays")
    ap.add_argument("--out", required=True, help="CSV to write")
    args = ap.parse_args()
    for b in args.budgets or []:  # before any training, not after it
        try:
            check_budget(b, args.epochs)
        except ValueError as e:
            ap.error(f"--budgets: {e}")
    work = Path(args.work)
    work.mkdir(parents=True, exist_ok=True)
    recipes = dict(r.split("=", 1) for r in args.recipe)
    todo = []
    for name, sets in recipes.items():
        for seed in args.seeds:
            npy = work / f"{name}_{args.labels}_s{seed}.npy"
            cmd = [sys.executable, str(TOOLS / "recipe_curves.py"), "--config", "quick.yaml",
                   "--labels", args.labels, "--epochs", str(args.epochs), "--save", str(npy),
                   "--set", "data.protocol=standard", f"system.seed={seed}", *shlex.split(sets)]
            todo.append((name, seed, npy, cmd))

    def run(job):
        name, seed, npy, cmd = job
        if not npy.exists():
            subprocess.run(cmd, check=True, capture_output=True)
        a = np.load(npy)
        if len(a) != args.epochs:
            raise SystemExit(f"{npy}: a run of {len(a)} epochs, kept from an earlier grid; this "
                             f"grid asks for --epochs {args.epochs} (remove the file, or give "
                             f"another --work)")
        head = {"recipe": name, "set": recipes[name], "labels": args.labels, "seed": seed}
        return [{**head, **summarise(a, b)} for b in args.budgets or [None]]

    with ThreadPoolExecutor(args.jobs) as pool:
        rows = [row for rows_of_run in pool.map(run, todo) for row in rows_of_run]
    with open(args.out, "w", newline="") as fh:
        w = csv.DictWriter(fh, list(rows[0]))
        w.writeheader()
        w.writerows(rows)
    for name in recipes:
        for e in args.budgets or [args.epochs]:
            sel = [r for r in rows if r["recipe"] == name and r["epochs"] == e]
            last50 = (f", last 50 {np.mean([r['valid_mean_last50'] for r in sel]):.2f}"
                      if args.budgets else "")
            print(f"{name:>12}: valid mean 11-{e} "
                  f"{np.mean([r['valid_mean_11_end'] for r in sel]):.2f}{last50} over seeds "
                  f"{[r['seed'] for r in sel]}, best epochs {[r['best_epoch'] for r in sel]}")


if __name__ == "__main__":
    main()
