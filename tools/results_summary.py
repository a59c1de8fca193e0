"""Write a study's result summaries (CSV + a provenance sidecar) for README.md and docs/.

    python tools/results_summary.py runs/<study> --out docs/results/<name> --command "..."
    python tools/results_summary.py runs/<sweep study> --sweep --out docs/results/<name> ...

Reads only the study's run folders (``metrics.json``, ``predictions.npz``, ``config.yaml``;
``report.collect``, ``report.tables``, ``report.pairing``); never trains. A main study gives
``<out>_table.csv`` (the comparison table's measured rows: accuracy mean ± std over seeds, the
Student-t and the video-bootstrap intervals, F1, seeds, label budget), ``<out>_paired.csv``
(DEC - scratch paired by seed) and ``<out>_dec.csv`` (DEC's start and stop per seed). A label
sweep (``--sweep``) gives ``<out>_table.csv`` (one row per labeled share, one column per arm) and
``<out>_paired.csv`` (each pretrained arm against scratch, per share). ``<out>.json`` records
the command that made the study, the commit its runs were made at (``study.json``), the
machine and date, the data and the config
(profile, protocol, seeds, ...) that ``python -m mosi_lib docs`` checks the pages against.
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import yaml

from mosi_lib.report import collect, tables

MAIN = [
    "Model",
    "Acc-2 has0",
    "95% CI has0",
    "95% video bootstrap has0",
    "F1 has0",
    "Acc-2 non0",
    "Seeds",
    "Labels (train + selection)",
]
ARMS = {
    "scratch": "from scratch",
    "ae": "+ autoencoder",
    "dec": "+ DEC",
    "logreg_text": "LR, mean word vectors",
    "logreg": "LR, mean-pooled text + audio",
    "tfidf": "TF-IDF + LR",
}


def paired_rows(df: pd.DataFrame) -> pd.DataFrame:
    """Acc-2 has0 differences paired by seed, formatted (points, intervals, wins, p)."""
    paired = tables.paired_table(df)
    paired = paired[paired["metric"] == "acc_has0"]
    return pd.DataFrame(
        {
            "comparison": paired["comparison"],
            "seeds": paired["seeds"],
            "difference (points)": paired["mean_diff"].map("{:+.2f}".format),
            "95% CI over seeds": [
                f"[{a:+.2f}, {b:+.2f}]"
                for a, b in zip(paired["ci_low"], paired["ci_high"], strict=True)
            ],
            "95% video bootstrap": [
                f"[{a:+.2f}, {b:+.2f}]"
                for a, b in zip(paired["boot_ci_low"], paired["boot_ci_high"], strict=True)
            ],
            "wins": paired["wins"].astype(str) + "/" + paired["n"].astype(str),
            "p (t)": paired["p_ttest"].map("{:.2f}".format),
        }
    )


def main_tables(study: Path, df: pd.DataFrame) -> dict[str, pd.DataFrame]:
    """The comparison table, the paired differences and DEC's start and stop per seed."""
    dec = collect.dec_summary(study)
    dt = pd.DataFrame(
        {
            "seed": dec["seed"],
            "k-means start": dec["start_sizes"],
            "degenerate": dec["start_degenerate"],
            "remedy": dec["start_remedy"],
            "stage 2 stop": dec["stage2_stop"],
            "stage-2 epochs": dec["stage2_epochs_run"],
            "final clusters": dec["cluster_sizes"],
            "agreement (report split)": (100 * dec["acc_report"]).round(1),
            "one-cluster floor": (100 * dec["floor_report"]).round(1),
        }
    ).sort_values("seed")
    table = tables.comparison_table(df, include_literature=False)[MAIN]
    return {"table": table, "paired": paired_rows(df), "dec": dt}


def complete_shares(df: pd.DataFrame, seeds: list[int]) -> tuple[pd.DataFrame, dict[str, str]]:
    """The runs of the labeled shares where every arm has every seed; what is left out, why."""
    have = df.groupby(["labeled_fraction", "init"])["seed"].apply(lambda s: sorted(set(s)))
    every_arm = sorted(set(df["init"]))
    left = {}
    for frac, arms in have.groupby(level=0):
        got = {a: s for (_, a), s in arms.items()}
        short = {a: got.get(a, []) for a in every_arm if got.get(a, []) != sorted(seeds)}
        if short:
            left[f"{100 * frac:g}%"] = "; ".join(f"{a}: seeds {s}" for a, s in short.items())
    keep = ~df["labeled_fraction"].map(lambda f: f"{100 * f:g}%").isin(left)
    return df[keep], left


def sweep_tables(df: pd.DataFrame) -> dict[str, pd.DataFrame]:
    """One row per labeled share: each arm's mean ± std [95% CI] over seeds; paired rows."""
    summary = tables.summary_table(df, ["init", "labeled_fraction"])
    cell = summary.apply(
        lambda r: f"{r.acc_has0_mean:.2f} ± {r.acc_has0_std:.2f} "
        f"[{r.acc_has0_ci_low:.2f}, {r.acc_has0_ci_high:.2f}]",
        axis=1,
    )
    wide = summary.assign(cell=cell).pivot(index="labeled_fraction", columns="init", values="cell")
    order = [a for a in ARMS if a in wide.columns] + [a for a in wide.columns if a not in ARMS]
    wide = wide[order].rename(columns=lambda a: ARMS.get(a, a))
    wide.insert(0, "labeled share", [f"{100 * f:g}%" for f in wide.index])
    seeds = summary.groupby("labeled_fraction")["seeds"].first()
    wide["seeds"] = [seeds[f] for f in wide.index]
    return {"table": wide.reset_index(drop=True).fillna(""), "paired": paired_rows(df)}


def recorded_config(study: Path, params: dict) -> dict:
    """Profile, protocol, seeds, text input and draw of the study's runs (their config.yaml).

    ``params``: the study's parameters (``study.json``); a sweep's fractions come from there.
    """
    cfgs = [yaml.safe_load(p.read_text()) for p in sorted(study.glob("*/config.yaml"))]
    if not cfgs:
        raise SystemExit(f"{study}: no run folder with a config.yaml")

    def one(get) -> object:
        values = sorted({str(get(c)) for c in cfgs})
        return values[0] if len(values) == 1 else values

    return {
        "profile": one(lambda c: c["name"]),
        "protocol": one(lambda c: c["data"]["protocol"]),
        "seeds": sorted({int(c["system"]["seed"]) for c in cfgs}),
        "word_vectors": one(lambda c: c["data"]["word_vectors"]),
        "draw": one(lambda c: c["data"]["draw"]),
        **({"fractions": params["fractions"]} if "fractions" in params else {}),
    }


def head_commit() -> str:
    """The short commit this checkout is at (what made a summary), or "" outside git."""
    return subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True,
                          text=True, cwd=Path(__file__).resolve().parents[1]).stdout.strip()


def machine() -> str:
    """What this machine is, in words (the summary says where its study ran)."""
    import torch

    if torch.cuda.is_available():
        return torch.cuda.get_device_name(0)
    return f"{os.cpu_count()}-core CPU"


def main() -> None:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("study", help="study folder (runs/<study>)")
    ap.add_argument("--out", required=True, help="path stem of the files to write")
    ap.add_argument("--command", required=True, help="the command that made the study")
    ap.add_argument("--sweep", action="store_true", help="the study is a label sweep (06)")
    ap.add_argument("--machine", default=None, help="where the study ran (default: this one)")
    args = ap.parse_args()
    study, out = Path(args.study), Path(args.out)
    df = collect.collect_runs(study)
    if df.empty:
        raise SystemExit(f"{study}: no finished classifier run")
    info = json.loads((study / "study.json").read_text())
    left: dict[str, str] = {}
    if args.sweep:  # a share still training is left out whole, and named
        df, left = complete_shares(df, info["params"]["seeds"])
        for share, why in left.items():
            print(f"left out {share}, not every arm has every seed yet ({why})")
    frames = sweep_tables(df) if args.sweep else main_tables(study, df)
    out.parent.mkdir(parents=True, exist_ok=True)
    for name, frame in frames.items():
        frame.to_csv(f"{out}_{name}.csv", index=False)
    made_at = info.get("git", {})
    summary_commit = head_commit()
    sidecar = {
        "files": [f"{out.name}_{name}.csv" for name in frames],
        "command": args.command,
        "generated_by": shlex.join(["python", "tools/results_summary.py", *sys.argv[1:]]),
        "commit": str(made_at.get("commit", "not recorded"))[:7]
        + ("-dirty" if made_at.get("dirty") else ""),
        "summary_commit": summary_commit,
        "machine": args.machine or machine(),
        "date": time.strftime("%Y-%m-%d"),
        "data": collect.describe_runs(df),
        "config": recorded_config(study, info.get("params", {})),
        "transcribed": False,
        **({"left_out": left} if left else {}),
    }
    Path(f"{out}.json").write_text(json.dumps(sidecar, indent=2) + "\n")
    for name, frame in frames.items():
        print(f"{out}_{name}.csv\n{frame.to_string(index=False)}\n")


if __name__ == "__main__":
    main()
