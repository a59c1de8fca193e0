"""Fake runs for the report tests: metrics.json contents, run folders and collect_runs frames."""

from pathlib import Path

import numpy as np
import pandas as pd

from mosi_lib import runs
from mosi_lib.config import Config
from mosi_lib.report import collect

# three seeds of one recipe, with known report metrics (fractions)
ACC_HAS0 = [0.70, 0.72, 0.77]  # mean 73.00, sample std sqrt(13) = 3.61 (population: 2.94)
F1_HAS0 = [0.60, 0.60, 0.60]
ACC_NON0 = [0.71, None, 0.75]  # None skipped: mean 73.00, std sqrt(8) = 2.83
F1_NON0 = [0.50, 0.60, 0.70]


def report_metrics(acc_has0=0.7, f1_has0=0.6, acc_non0=0.71, f1_non0=0.5) -> dict:
    """The metrics of one split (``metrics["report"]``, ``metrics["valid"]``)."""
    return {
        "acc_has0": acc_has0,
        "f1_has0": f1_has0,
        "acc_non0": acc_non0,
        "f1_non0": f1_non0,
        "majority_acc_has0": 0.55,
        "majority_acc_non0": 0.5,
    }


def classifier_metrics(seed: int = 0, **over) -> dict:
    """The keys ``grids.train_classifier`` writes that ``collect_runs`` reads."""
    m = {
        "kind": "classifier",
        "init": "scratch",
        "labels": "labeled",
        "labeled_fraction_cfg": 0.4,
        "n_params": 851_713,
        "seed": seed,
        "data_source": "synthetic",
        "synthetic": True,
        "protocol": "paper",
        "report_split": "valid",
        "zero_policy": "has0",
        "epochs": 2,
        "best_epoch": 1,
        "report": report_metrics(),
        "valid": report_metrics(),
        "test": None,
    }
    m.update(over)
    return m


def write_run(root: Path, run_id: str, metrics: dict | None, kind: str = "classifier") -> runs.Run:
    """A run folder under ``root``; finished with ``metrics`` unless they are None."""
    run = runs.create_run(Config(), kind=kind, root=root, run_id=run_id)
    if metrics is not None:
        run.save_metrics(metrics)
    return run


def three_seeds(root: Path, **over) -> None:
    """Seeds 0, 1, 2 of one recipe with the metrics ``ACC_HAS0``, ``F1_HAS0``, ... ."""
    for s in range(3):
        rep = report_metrics(ACC_HAS0[s], F1_HAS0[s], ACC_NON0[s], F1_NON0[s])
        write_run(root, f"run{s}_s{s}", classifier_metrics(s, report=rep, **over))


def runs_frame(rows: list[dict]) -> pd.DataFrame:
    """A ``collect_runs``-shaped frame from partial rows (defaults: one synthetic run)."""
    base = {
        "run_id": "r",
        "variant": "Transformer (40%)",
        "init": "scratch",
        "labels": "labeled",
        "labeled_fraction": 0.4,
        "acc_has0": 0.7,
        "f1_has0": 0.6,
        "acc_non0": 0.7,
        "f1_non0": 0.6,
        "majority_acc_has0": 0.55,
        "majority_acc_non0": 0.5,
        "n_params": 851_713,
        "seed": 0,
        "data_source": "synthetic",
        "synthetic": True,
        "protocol": "paper",
        "report_split": "valid",
        "zero_policy": "has0",
        "epochs": 2,
        "best_epoch": 1,
        "recipe": "recipe-a",
        "created": "",
        "n_train": 100,
        "n_select": 40,
        "n_segments": 200,
    }
    return pd.DataFrame([{**base, **r} for r in rows], columns=collect.RUN_COLUMNS)


def seeded_runs(rows):
    """A ``collect_runs``-shaped frame from ``(init, labels, seed, acc_has0)`` rows."""
    base = {
        "f1_has0": 0.7,
        "f1_non0": 0.7,
        "majority_acc_has0": 0.55,
        "majority_acc_non0": 0.5,
        "n_params": 10,
        "data_source": "synthetic",
        "synthetic": True,
        "protocol": "paper",
        "report_split": "valid",
        "zero_policy": "has0",
        "epochs": 30,
        "best_epoch": 3,
        "labeled_fraction": 0.4,
    }
    out = []
    for i, (init, labels, seed, acc) in enumerate(rows):
        out.append(
            {
                **base,
                "run_id": f"r{i:02d}",
                "init": init,
                "labels": labels,
                "seed": seed,
                "variant": collect.variant_name(init, labels, 0.4),
                "acc_has0": acc,
                "acc_non0": acc + 0.01,
            }
        )
    return pd.DataFrame(out, columns=collect.RUN_COLUMNS)


def classifier_history() -> pd.DataFrame:
    """A classifier run's ``history.csv`` rows."""
    # epoch 2 and 3 tie on val_acc; 3 has the lower val_loss; epoch 5 has no validation
    return pd.DataFrame(
        {
            "epoch": [1, 2, 3, 4, 5],
            "train_loss": [0.9, 0.7, 0.6, 0.5, 0.4],
            "val_loss": [0.8, 0.55, 0.45, 0.5, np.nan],
            "val_acc": [0.6, 0.8, 0.8, 0.7, np.nan],
            "train_acc": [0.55, 0.7, 0.75, 0.8, 0.85],
        }
    )
