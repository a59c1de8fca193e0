"""tools/arm_table.py: each arm at each share, recomputed from committed per-run records."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from mosi_lib.report import stats

_SPEC = importlib.util.spec_from_file_location(
    "arm_table", Path(__file__).resolve().parents[1] / "tools" / "arm_table.py")
at = importlib.util.module_from_spec(_SPEC)
_SPEC.loader.exec_module(at)

RECORDS = at.family_table.run_records.ROOT / "docs" / "results" / "mpnet_standard"


def test_the_committed_headline_row_by_row():
    """The mpnet 5-seed table's 40% rows and their DEC diagnostics, from the records alone."""
    df, preds = at.family_table.read_batches([str(RECORDS)])
    arms = {"scratch": {"init": "scratch", "labels": "labeled"},
            "dec": {"init": "dec", "labels": "labeled"}}
    table = at.arm_rows(df, preds, arms, n_boot=200).set_index("arm")
    headline = pd.read_csv(f"{RECORDS}_table.csv").set_index("Model")
    for arm, model in (("scratch", "Transformer (40%)"), ("dec", "Transformer + DEC (40%)")):
        row = table.loc[arm]
        assert headline.loc[model, "Acc-2 has0"] == f"{row['mean']:.2f} ± {row['sd']:.2f}"
        assert headline.loc[model, "95% CI has0"] == f"[{row['ci_low']:.2f}, {row['ci_high']:.2f}]"
        assert row["boot_low"] < row["mean"] < row["boot_high"]
    runs = df[(df["init"] == "dec") & (df["labels"] == "labeled")].sort_values("seed")
    boot = stats.two_level_bootstrap([[preds[r] for r in runs["run_id"]]], split="test",
                                     n_boot=200)
    assert (table.loc["dec", "boot_low"], table.loc["dec", "boot_high"]) == (
        boot["ci_low"], boot["ci_high"])
    # those DEC runs started from the labeled classes' means and ran out their 10 epochs
    assert table.loc["dec", "test_features"] == "yes" and table.loc["scratch",
                                                                   "test_features"] == "no"
    assert (table.loc["dec", "start_label_free"], table.loc["dec", "stage2_by_tol"],
            table.loc["dec", "stage2_epochs"]) == ("0/5", "0/5", "10-10")


def test_label_free_balanced_start_and_stops_counted():
    base = {"labeled_fraction": 0.4, "report_split": "test", "acc_has0": 0.8, "f1_has0": 0.8,
            "dec_rows": "all", "dec_checkpoint": "last.pt", "dec_stage1_from": ""}
    rows = [
        {**base, "run_id": "a", "seed": 0, "dec_start_used_sizes": "1100/1099",
         "dec_start_remedy": "clipped", "dec_stage2_stop": "tol", "dec_stage2_epochs_run": 25},
        {**base, "run_id": "b", "seed": 1, "dec_start_used_sizes": "2/2197",
         "dec_start_remedy": "none", "dec_stage2_stop": "tol", "dec_stage2_epochs_run": 1},
        {**base, "run_id": "c", "seed": 2, "dec_start_used_sizes": "1000/1199",
         "dec_start_remedy": "labeled_means", "dec_stage2_stop": "budget",
         "dec_stage2_epochs_run": 100, "dec_stage1_from": "x"},
    ]
    video = np.repeat(["v0", "v1"], 5)
    preds = {r["run_id"]: {"video": video, "split": np.full(10, "test"),
                           "label": np.linspace(-1, 1, 10).astype(np.float32),
                           "output": np.linspace(-1, 1, 10).astype(np.float32)} for r in rows}
    row = at.arm_rows(pd.DataFrame(rows), preds, {"dec": {"dec_rows": "all"}}, n_boot=50).iloc[0]
    # b: a degenerate start kept; c: placed by the labels
    assert (row["start_label_free"], row["stage2_by_tol"], row["stage2_epochs"],
            row["stage1_shared"]) == ("1/3", "2/3", "1-100", "1/3")
    with pytest.raises(ValueError, match=r"arm 'none': no run matches"):
        at.arm_rows(pd.DataFrame(rows), preds, {"none": {"dec_rows": "train"}})
