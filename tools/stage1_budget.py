"""DEC stage 1's budget on the validation fold: when has the held-out reconstruction flattened?

    python tools/stage1_budget.py --seeds 0 1 --epochs 200 --out docs/results/stage1_budget.csv

Per seed: the autoencoder of DEC stage 1 (``train.dec.fit_dec`` with no stage 2) is trained on
the training fold's features only (``dec.pretrain_rows=train``, both pools; no label enters
stage 1), and after every epoch its masked reconstruction error is measured, in eval mode, on
the validation fold's features (rows it never trains on) and on the training rows. Written:
one row per seed and epoch (``seed, epoch, train_recon, valid_recon, seconds``), every 20th
epoch side by side (``<out>_by_epoch.csv``: each seed's validation error, the mean, the mean's
gain in % over the previous 20 epochs) and a JSON sidecar with the command. ``--merge`` builds
the files from per-seed CSVs of earlier calls instead of training (seeds run in parallel). The test fold is never read. Summary printed per seed: the epoch of
the lowest validation error and the first epoch whose validation error is within 1% of it.
"""

from __future__ import annotations

import argparse
import json
import sys
from datetime import date
from pathlib import Path

import pandas as pd
import torch
import yaml

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from mosi_lib import losses, models  # noqa: E402
from mosi_lib.config import load_config  # noqa: E402
from mosi_lib.data.preprocess import prepare_data  # noqa: E402
from mosi_lib.study.execution import setup_run  # noqa: E402
from mosi_lib.train.dec import fit_dec  # noqa: E402
from tools import results_summary  # noqa: E402


@torch.no_grad()
def held_out_recon(model, dd, idx: torch.Tensor, chunk: int = 512) -> float:
    """Mean masked reconstruction error (``losses.masked_mse``) over rows ``idx``, eval mode."""
    was = model.training
    model.eval()
    total = 0.0
    for start in range(0, len(idx), chunk):
        x, masks = dd.batch(idx[start:start + chunk])
        out = model(x, masks)
        total += float(losses.masked_mse(out["recon"], x, masks)) * len(idx[start:start + chunk])
    model.train(was)
    return total / len(idx)


def run_seed(seed: int, epochs: int, overrides: dict) -> list[dict]:
    cfg = load_config("quick.yaml", {**overrides, "system.seed": seed,
                                     "dec.pretrain_rows": "train",
                                     "dec.stage1_epochs": epochs, "dec.stage2_epochs": 0,
                                     "system.progress": False})
    data = prepare_data(cfg.data)
    device, dd = setup_run(cfg, data)
    torch.manual_seed(seed)
    model = models.build_dec(cfg.model, cfg.dec, data.dims, data.max_len).to(device)
    train_idx = torch.as_tensor(data.rows("train"), dtype=torch.long)
    valid_idx = torch.as_tensor(data.rows("valid"), dtype=torch.long)
    rows: list[dict] = []

    def on_event(ev) -> None:
        if ev.name == "epoch_end" and ev.row.get("stage") == 1:
            rows.append({"seed": seed, "epoch": ev.epoch,
                         "train_recon": held_out_recon(ev.model, dd, train_idx),
                         "valid_recon": held_out_recon(ev.model, dd, valid_idx),
                         "seconds": ev.row["seconds"]})
            if ev.epoch % 10 == 0:
                print(rows[-1], flush=True)

    fit_dec(model, dd, cfg.dec, cfg.system, rows=data.rows("train"),
            labeled_rows=data.train_rows("labeled", "has0"), hooks=[on_event])
    return rows


def summarise(df: pd.DataFrame) -> pd.DataFrame:
    out = []
    for seed, g in df.groupby("seed"):
        best = g.loc[g["valid_recon"].idxmin()]
        within = g[g["valid_recon"] <= 1.01 * best["valid_recon"]]["epoch"].min()
        out.append({"seed": seed, "best epoch": int(best["epoch"]),
                    "best valid recon": best["valid_recon"],
                    "first epoch within 1%": int(within),
                    **{f"valid @{e}": float(g.loc[g["epoch"] == e, "valid_recon"].iloc[0])
                       for e in (20, 50, 100, 150, 200) if (g["epoch"] == e).any()}})
    return pd.DataFrame(out)


def by_epoch(df: pd.DataFrame, every: int = 20) -> pd.DataFrame:
    """Every ``every``-th epoch: each seed's validation error, their mean, and the mean's gain
    (%) over the previous row: the table the budget is read from."""
    wide = df[df["epoch"] % every == 0].pivot(index="epoch", columns="seed",
                                                values="valid_recon")
    wide.columns = [f"valid_recon_seed{s}" for s in wide.columns]
    wide["mean"] = wide.mean(axis=1)
    wide[f"gain_over_{every}_epochs_pct"] = -100 * wide["mean"].pct_change()
    return wide.reset_index()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1])
    ap.add_argument("--epochs", type=int, default=200)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--out", type=Path, default=None)
    ap.add_argument("--set", nargs="*", default=[], metavar="KEY=VALUE")
    ap.add_argument("--merge", nargs="+", type=Path, default=None, metavar="CSV",
                    help="per-seed CSVs of earlier calls: merge them, train nothing")
    ap.add_argument("--command", default=None,
                    help="with --merge: the calls that made the CSVs (recorded in the sidecar)")
    args = ap.parse_args()
    overrides = {k: yaml.safe_load(v) for k, v in (s.split("=", 1) for s in args.set)}
    torch.set_num_threads(args.threads)
    if args.merge:
        df = pd.concat([pd.read_csv(p) for p in args.merge], ignore_index=True)
        args.seeds = sorted(int(s) for s in df["seed"].unique())
    else:
        df = pd.DataFrame([r for s in args.seeds for r in run_seed(s, args.epochs, overrides)])
    print(summarise(df).round(4).to_string(index=False))
    table = by_epoch(df)
    print(table.round(4).to_string(index=False))
    if args.out is not None:
        df.to_csv(args.out, index=False, float_format="%.6g")
        short = args.out.with_name(args.out.stem + "_by_epoch.csv")
        table.to_csv(short, index=False, float_format="%.4g")
        argv = sys.argv[:]
        if "--command" in argv:  # recorded as the first part, not twice
            del argv[argv.index("--command"):argv.index("--command") + 2]
        this = " ".join(["python"] + argv)
        sidecar = {"files": [args.out.name, short.name],
                   "command": f"{args.command}; then {this}" if args.command else this,
                   "commit": results_summary.head_commit(), "machine": results_summary.machine(),
                   "date": date.today().isoformat(),
                   "data": "real CMU-MOSI, the default input; training and validation folds' "
                           "features only (no label, no test row)",
                   "config": {"profile": "quick", "dec.pretrain_rows": "train",
                              "epochs": args.epochs, "seeds": args.seeds, **overrides},
                   "transcribed": False}
        args.out.with_name(args.out.name + ".json").write_text(
            json.dumps(sidecar, indent=2) + "\n")
        print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
