"""Rows far outside the training range after scaling (the cause of DEC's degenerate start).

``python tools/scaled_outliers.py [--protocol standard] [--clip 10] [--top 5]`` prints, per
modality of the configured data (default: the embedded real text + audio, quick profile), the
largest |scaled value| of any training row, the rows with the largest |scaled value| (id, split,
value), and how many values and rows of each split lie beyond ``--clip``. Scaling is the study's
(``data.preprocess``: statistics of the training rows only); nothing here is clipped.
"""

from __future__ import annotations

import argparse

import numpy as np

from mosi_lib.config import load_config
from mosi_lib.data.preprocess import prepare_data


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--protocol", default="standard", choices=["paper", "paper_strict", "standard"])
    ap.add_argument("--clip", type=float, default=10.0)
    ap.add_argument("--top", type=int, default=5)
    args = ap.parse_args(argv)
    data = prepare_data(load_config("quick.yaml", {"data.protocol": args.protocol}).data)
    split, ids = np.asarray(data.split), np.asarray(data.ids)
    print(f"protocol {args.protocol}: {data.meta.get('description', '')}")
    for m in data.modalities:
        x, mask = np.abs(np.asarray(data.x[m])), np.asarray(data.masks[m])
        peak = np.where(mask[..., None], x, 0).max(axis=(1, 2))  # largest |value| per row
        top = np.argsort(-peak)[: args.top]
        print(f"{m}: training rows at most {peak[split == 'train'].max():.1f}; largest rows: "
              + ", ".join(f"{ids[i]} ({split[i]}) {peak[i]:.1f}" for i in top))
        for part in sorted(set(split)):
            rows = split == part
            values = x[rows][mask[rows]]
            print(f"  {part}: {int((values > args.clip).sum())} of {values.size} values beyond "
                  f"{args.clip:g} in {int((peak[rows] > args.clip).sum())} rows")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
