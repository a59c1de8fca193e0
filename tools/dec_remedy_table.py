"""DEC's k-means start remedies compared on the validation fold, one row per remedy and seed.

    python -m mosi_lib study --only 07_ablations --seeds 0 1 2 --variants dec_semi \
        --modality-sets --protocols --run-id remedy-<r> \
        --set dec.degenerate_remedy=<r> dec.stage2_epochs=100 system.num_threads=1
    python tools/dec_remedy_table.py <runs folder> docs/results/dec_remedy_valid_mpnet.csv

for <r> in trimmed, clipped, labeled_means. Reads each study's DEC and fine-tuned (40%)
classifier runs: the k-means start, the start used, why and when stage 2 stopped, and the
classifier's validation accuracy, beside the from-scratch arm's of the same seed and draw (from
the committed records ``docs/results/mpnet_standard_runs.csv``). Validation numbers only.
"""

import csv
import json
import sys
from pathlib import Path

import pandas as pd

root = Path(sys.argv[1])
rows = []
scratch = pd.read_csv(Path(__file__).resolve().parents[1] / "docs/results/mpnet_standard_runs.csv")
scratch = scratch[(scratch.init == "scratch") & (scratch.labels == "labeled")].set_index("seed")
for remedy in ("trimmed", "clipped", "labeled_means"):
    study = root / f"remedy-{remedy}-ablations"
    decs, clfs = {}, {}
    for f in study.glob("*/metrics.json"):
        m = json.loads(f.read_text())
        seed = int(f.parent.name.rsplit("_s", 1)[1])
        (decs if m.get("kind") == "dec" else clfs)[seed] = m
    for seed in sorted(decs):
        d, c = decs[seed], clfs.get(seed, {})
        ci, st = d.get("center_init") or {}, d.get("stage2_stop") or {}
        rows.append({"remedy": remedy, "seed": seed,
                     "kmeans_start": "/".join(map(str, ci.get("kmeans_sizes", []))),
                     "degenerate": ci.get("degenerate"),
                     "start_used": "/".join(map(str, ci.get("sizes", []))),
                     "stage2_stop": st.get("reason"), "stage2_epochs": st.get("epoch"),
                     "finetuned_valid_acc": round(100 * c["valid"]["acc_has0"], 2) if c else "",
                     "scratch_valid_acc": round(100 * scratch.loc[seed, "valid_acc_has0"], 2)})
with open(sys.argv[2], "w", newline="") as fh:
    w = csv.DictWriter(fh, list(rows[0]))
    w.writeheader()
    w.writerows(rows)
df = pd.DataFrame(rows)
print(df.to_string(index=False))
print(df.groupby("remedy")[["finetuned_valid_acc", "scratch_valid_acc"]].mean())
