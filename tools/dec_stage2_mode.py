"""Compare DEC stage 2 in eval mode (default) and in train mode on the data of a config.

    python tools/dec_stage2_mode.py --config quick.yaml --seeds 0 1 2 --set data.protocol=paper

Per seed and mode: DEC pretraining (both stages, ``experiments.pretrain_dec``), then the
classifier fine-tuned from its encoder on the labeled pool (``experiments.train_classifier``).
Printed per run: stage-2 epochs actually run, the share of hard assignments on which a
train-mode pass and an eval-mode pass of the final model disagree, KL(P || Q) of the last
stage-2 epoch, cluster accuracy (Hungarian) against the classes, and the fine-tuned classifier's
validation and report-split accuracy. The two modes share stage 1 exactly (same seed, same
code path), so they differ from k-means on. Runs go to a temporary folder.
"""

from __future__ import annotations

import argparse
import tempfile

import numpy as np
import pandas as pd
import torch
import yaml

from mosi_lib import files, models, runs
from mosi_lib.config import load_config
from mosi_lib.data.preprocess import prepare_data
from mosi_lib.study import classifier_runs, pretrain_runs
from mosi_lib.train.loop import DeviceData, dec_forward_all


def _train_mode_disagreement(run: runs.Run, cfg, data) -> float:
    """Share of rows whose argmax Q differs between a train-mode and an eval-mode pass."""
    ckpt = files.load_checkpoint(run.checkpoints / "last.pt")
    model = models.build_dec(cfg.model, cfg.dec, data.dims, data.max_len)
    model.load_state_dict(ckpt["model_state"])
    dd = DeviceData(data, torch.device("cpu"))
    idx = torch.arange(len(data))
    q_eval = dec_forward_all(model, dd, idx)["q"].argmax(1)
    model.train()
    torch.manual_seed(0)
    with torch.no_grad():
        x, masks = dd.batch(idx)
        q_train = model(x, masks)["q"].argmax(1)
    return float((q_eval != q_train).float().mean())


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--config", default="quick.yaml")
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    ap.add_argument("--modes", nargs="+", default=["eval", "train"])
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--set", nargs="*", default=[], metavar="KEY=VALUE")
    args = ap.parse_args()
    overrides = {k: yaml.safe_load(v) for k, v in (s.split("=", 1) for s in args.set)}
    overrides["system.progress"] = False
    torch.set_num_threads(args.threads)
    rows = []
    with tempfile.TemporaryDirectory() as root:
        for seed in args.seeds:
            for mode in args.modes:
                cfg = load_config(args.config, {**overrides, "system.seed": seed,
                                                "dec.stage2_mode": mode})
                data = prepare_data(cfg.data)
                dec = pretrain_runs.pretrain_dec(cfg, data, root=root, run_id=f"dec_{mode}_s{seed}")
                ft = classifier_runs.train_classifier(cfg, data, root=root, init_run=dec,
                                                  run_id=f"ft_{mode}_s{seed}")
                m, f = dec.metrics(), ft.metrics()
                hist = dec.history()
                s2 = hist[hist["stage"] == 2]
                rows.append({
                    "seed": seed, "mode": mode, "stage2 epochs": len(s2),
                    "train/eval Q disagree %": 100 * _train_mode_disagreement(dec, cfg, data),
                    "last KL": float(s2["kl"].iloc[-1]) if len(s2) else np.nan,
                    "cluster acc %": 100 * m["cluster"]["all"]["acc"],
                    "cluster sizes": m["cluster_sizes"],
                    "valid acc %": 100 * f["valid"]["acc_has0"],
                    f"{f['report_split']} acc %": 100 * f["report"]["acc_has0"],
                })
                print(rows[-1], flush=True)
    df = pd.DataFrame(rows)
    print(df.round(2).to_string(index=False))
    num = df.drop(columns=["seed", "cluster sizes"]).groupby("mode").mean()
    print("\nmean over seeds\n" + num.round(2).to_string())


if __name__ == "__main__":
    main()
