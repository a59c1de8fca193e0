"""Diagnose a classifier recipe on the data of a config: one long run, every epoch evaluated.

    python tools/recipe_curves.py --labels labeled --epochs 200 \
        --set data.protocol=standard train.objective=l1 train.lr=3e-4 train.weight_decay=0

Trains the transformer from scratch (``classifier.fit_classifier``) and evaluates the report split
(test under the standard protocol) after every epoch, next to the validation accuracy the
checkpoint selection sees. Because the learning rate is constant, the first E epochs of a long
run are exactly a run of E epochs, so the table shows what a run of E epochs would report
(best validation epoch among the first E, its test accuracy) and the mean accuracies over
epoch ranges (less noisy than one selected epoch). This is how the quick profile's recipe was
diagnosed (README, "A recipe that learns on real data"); the recipe was chosen by the
*validation* numbers, the test column only shows what the selection leads to.
"""

from __future__ import annotations

import argparse
import json
import time

import numpy as np
import torch
import yaml

from mosi_lib import models
from mosi_lib.config import load_config
from mosi_lib.data.preprocess import prepare_data
from mosi_lib.train import loop
from mosi_lib.train.classifier import fit_classifier
from mosi_lib.train.loop import DeviceData, Event, evaluate_classifier

RANGES = ((0, 10), (10, 30), (30, 60), (60, 100), (100, 150), (150, 200), (200, 300),
          (300, 400), (400, 500))
EPOCHS = (10, 20, 30, 50, 75, 100, 150, 200, 300, 400, 500)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--labels", choices=("labeled", "all"), default="labeled")
    ap.add_argument("--epochs", type=int, default=200)
    ap.add_argument("--config", default=None, help="profile YAML (default: the paper's defaults)")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--set", nargs="*", default=[], metavar="KEY=VALUE")
    ap.add_argument("--save", help="write the per-epoch array (.npy) here")
    args = ap.parse_args()
    overrides = {k: yaml.safe_load(v) for k, v in (s.split("=", 1) for s in args.set)}
    overrides.update({"train.epochs": args.epochs, "system.progress": False})
    cfg = load_config(args.config, overrides)
    torch.set_num_threads(args.threads)
    data = prepare_data(cfg.data)
    loop.seed_everything(cfg.system.seed)
    dd = DeviceData(data, torch.device("cpu"))
    model = models.build_classifier(cfg.model, data.dims, data.max_len)
    report = torch.as_tensor(data.rows(data.report_split))
    rows = []

    def hook(ev: Event) -> None:
        if ev.name == "epoch_end":
            rep = evaluate_classifier(ev.model, dd, report, cfg.data.zero_policy,
                                      objective=cfg.train.objective)
            rows.append((ev.epoch, ev.row["val_acc"], ev.row["val_loss"], rep["acc_has0"],
                         ev.row["train_acc"]))

    t0 = time.perf_counter()
    fit_classifier(
        model, dd, cfg.train, cfg.system,
        train_idx=data.train_rows(args.labels, cfg.data.zero_policy), val_idx=data.rows("valid"),
        zero_policy=cfg.data.zero_policy, hooks=[hook],
    )
    a = np.array(rows)
    out = {"data": data.meta["description"], "protocol": cfg.data.protocol,
           "report_split": data.report_split, "labels": args.labels, "set": args.set,
           "seed": cfg.system.seed, "seconds": round(time.perf_counter() - t0)}
    for e in EPOCHS:
        if e <= len(a):
            sub = a[:e]
            b = int(np.lexsort((sub[:, 2], -sub[:, 1]))[0])  # best val acc, ties: lower loss
            out[f"run of {e}: {data.report_split} acc (epoch)"] = f"{100 * sub[b, 3]:.1f} ({b + 1})"
    for lo, hi in RANGES:
        if hi <= len(a):
            seg = a[lo:hi]
            out[f"epochs {lo + 1}-{hi}: mean valid / {data.report_split} / train acc"] = (
                f"{100 * seg[:, 1].mean():.1f} / {100 * seg[:, 3].mean():.1f} / "
                f"{100 * seg[:, 4].mean():.1f}")
    print(json.dumps(out, indent=1))
    if args.save:
        np.save(args.save, a)


if __name__ == "__main__":
    main()
