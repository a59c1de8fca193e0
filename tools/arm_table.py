"""Each arm of a study at each labeled share, recomputed from its committed per-run records.

    python tools/arm_table.py docs/results/<batch1> [docs/results/<batch2> ...] \
        --arm scratch="tag=pretrain:none" --arm dec="tag=pretrain:dec_semi" \
        --out docs/results/<name>_arms.csv

Reads ``<batch>_runs.csv`` and ``<batch>_predictions.csv.gz`` (``tools/run_records.py``; several
batches of one study are read as one, ``family_table.read_batches``), never a run folder. An arm
is given as in ``tools/family_table.py``. One row per arm and share, on test Acc-2 has0 in %:

- ``n``, ``seeds``; ``mean``, ``sd`` (sample) and the Student-t interval over seeds
  (``ci_low``/``ci_high``); the two-level bootstrap interval of the mean (seeds, then test
  videos: ``stats.two_level_bootstrap``), ``boot_low``/``boot_high``;
- the means of F1 has0, MAE, Pearson r and Acc-7 (empty where not recorded);
- ``test_features``: whether the arm's pretraining read the test fold's features (``dec_rows``
  ``all``: transductive), ``no`` for an arm without pretraining;
- for the DEC arms (``dec_checkpoint`` last.pt): ``start_label_free`` (runs whose stage 2
  began from a start with every cluster holding at least ``--min-share`` of the rows, placed
  without a label: no ``labeled_means`` remedy), ``stage2_by_tol`` (runs whose stage 2 stopped
  because fewer than 0.1% of the rows changed cluster, not on its budget) and
  ``stage2_epochs`` (min-max); for every pretrained arm ``stage1_shared`` (runs whose stage 1
  was another share's run's).
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import shlex
import sys
from pathlib import Path

import numpy as np
import pandas as pd

from mosi_lib.report import stats

_SPEC = importlib.util.spec_from_file_location(
    "family_table", Path(__file__).with_name("family_table.py"))
family_table = importlib.util.module_from_spec(_SPEC)
_SPEC.loader.exec_module(family_table)

COLUMNS = ["arm", "labeled_fraction", "n", "seeds", "mean", "sd", "ci_low", "ci_high",
           "boot_low", "boot_high", "f1", "mae", "corr", "acc7", "test_features",
           "start_label_free", "stage2_by_tol", "stage2_epochs", "stage1_shared"]
"""The columns of the arm table, in order."""


def _balanced(sizes: str, min_share: float) -> bool:
    """Whether a ``"a/b"`` start gives every cluster at least ``min_share`` of the rows."""
    counts = [int(c) for c in str(sizes).split("/") if c.strip()]
    return bool(counts) and min(counts) >= min_share * sum(counts)


def _count(flags: pd.Series) -> str:
    return f"{int(flags.sum())}/{len(flags)}"


def arm_rows(df: pd.DataFrame, preds: dict[str, dict[str, np.ndarray]],
             arms: dict[str, dict[str, str]], *, metric: str = "acc_has0",
             min_share: float = 0.1, n_boot: int = 2000, seed: int = 0) -> pd.DataFrame:
    """The arm table (``COLUMNS``).

    Raises:
        ValueError: an arm with no run, or with two runs of one seed at one share.
    """
    rows = []
    for name, where in arms.items():
        runs_ = family_table.select(df, where)
        if runs_.empty:
            raise ValueError(f"arm {name!r}: no run matches {where}")
        for frac, g in runs_.groupby("labeled_fraction", sort=True):
            if not g["seed"].is_unique:
                raise ValueError(f"arm {name!r} at share {frac:g}: several runs of one seed")
            g = g.sort_values("seed")
            acc = 100 * g[metric].to_numpy(float)
            ci = stats.mean_ci(acc)
            boot = stats.two_level_bootstrap([[preds[r] for r in g["run_id"]]],
                                             split=str(g["report_split"].iloc[0]),
                                             n_boot=n_boot, seed=seed)
            pretrained = g["dec_rows"].astype(str).ne("").any()
            dec = g["dec_checkpoint"].astype(str).eq("last.pt").all() and pretrained
            row = {
                "arm": name, "labeled_fraction": frac, "n": ci["n"],
                "seeds": ",".join(map(str, g["seed"].astype(int))),
                "mean": ci["mean"], "sd": ci["std"],
                "ci_low": ci["ci_low"], "ci_high": ci["ci_high"],
                "boot_low": boot["ci_low"], "boot_high": boot["ci_high"],
                **{col: (float(g[src].mean()) * scale if src in g and g[src].notna().any()
                         else np.nan)
                   for col, src, scale in (("f1", "f1_has0", 100), ("mae", "mae", 1),
                                           ("corr", "corr", 1), ("acc7", "acc7", 100))},
                "test_features": ("yes" if g["dec_rows"].astype(str).eq("all").all()
                                  else "no"),
                "start_label_free": "", "stage2_by_tol": "", "stage2_epochs": "",
                "stage1_shared": _count(g["dec_stage1_from"].astype(str).ne(""))
                if pretrained else "",
            }
            if dec:
                used = g["dec_start_used_sizes"].astype(str)
                free = used.map(lambda s: _balanced(s, min_share)) & g[
                    "dec_start_remedy"].astype(str).ne("labeled_means")
                epochs = g["dec_stage2_epochs_run"].astype(int)
                row.update(start_label_free=_count(free),
                           stage2_by_tol=_count(g["dec_stage2_stop"].astype(str).eq("tol")),
                           stage2_epochs=f"{epochs.min()}-{epochs.max()}")
            rows.append(row)
    return pd.DataFrame(rows, columns=COLUMNS)


def main(argv: list[str] | None = None) -> int:
    """Write the arm table of the records named; 0, or 2 with one error line on stderr."""
    argv = sys.argv[1:] if argv is None else list(argv)
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("records", nargs="+", help="the --out stem(s) of tools/run_records.py")
    ap.add_argument("--arm", action="append", required=True, metavar="NAME=KEY=VALUE ...",
                    help="an arm: the runs whose columns equal these values")
    ap.add_argument("--metric", default="acc_has0", help="a column of the runs file")
    ap.add_argument("--min-share", type=float, default=0.1,
                    help="a DEC start is balanced when every cluster holds this share")
    ap.add_argument("--out", required=True, help="CSV to write")
    args = ap.parse_args(argv)
    try:
        arms = dict(family_table.parse_arm(a) for a in args.arm)
        df, preds = family_table.read_batches(args.records)
        table = arm_rows(df, preds, arms, metric=args.metric, min_share=args.min_share)
    except (OSError, ValueError, KeyError) as err:
        print(f"arm_table: error: {err}", file=sys.stderr)
        return 2
    out = Path(args.out)
    table.to_csv(out, index=False, float_format="%.4g")
    side = json.loads(family_table.write_sidecar(out, [Path(r) for r in args.records],
                                                 argv).read_text())
    side["generated_by"] = "python " + " ".join(["tools/arm_table.py", *map(shlex.quote, argv)])
    out.with_suffix(".json").write_text(json.dumps(side, indent=2) + "\n")
    print(table.to_string(index=False))
    return 0


if __name__ == "__main__":
    sys.exit(main())
