"""Split protocols: which rows train, select and report, and which labels are visible.

``make_splits`` assigns each segment a split (``train``/``valid``/``test``) and a pool
(``labeled``/``unlabeled``/``eval``) under ``data.protocol`` (``paper``, ``paper_strict``,
``standard``); the protocols and their label budgets are described in
``mosi_lib.data.preprocess`` (module docstring) and the README.
"""

from __future__ import annotations

import json

import numpy as np

from mosi_lib import paths
from mosi_lib.config import PROTOCOLS, DataConfig

SPLITS = ("train", "valid", "test")

def _stratified_take(rng: np.random.Generator, idx: np.ndarray, strata: np.ndarray, frac: float):
    """Split ``idx`` into (taken, rest) with ``frac`` of each stratum taken (rounded)."""
    taken = []
    for s in np.unique(strata[idx]):
        members = idx[strata[idx] == s]
        members = rng.permutation(members)
        taken.append(members[: int(round(frac * len(members)))])
    taken = np.sort(np.concatenate(taken)) if taken else np.array([], int)
    return taken, np.setdiff1d(idx, taken)

def make_splits(
    labels: np.ndarray, video: np.ndarray, cfg: DataConfig
) -> tuple[np.ndarray, np.ndarray]:
    """Assign each row a split and a pool under ``cfg.protocol``.

    Args:
        labels: (N,) scores (only their has0 sign is used, to stratify the draws).
        video: (N,) video ids (standard protocol).
        cfg: protocol, labeled_fraction, val_fraction, split_seed.

    Returns:
        ``(split, pool)`` string arrays (N,).
    """
    n = len(labels)
    rng = np.random.default_rng(cfg.split_seed)
    strata = (labels >= 0).astype(int)
    split = np.empty(n, dtype=object)
    pool = np.empty(n, dtype=object)
    if cfg.protocol in ("paper", "paper_strict"):
        lab, unl = _stratified_take(rng, np.arange(n), strata, cfg.labeled_fraction)
        pool[lab], pool[unl] = "labeled", "unlabeled"
        for members in (lab, unl):
            val, tr = _stratified_take(rng, members, strata, cfg.val_fraction)
            split[val], split[tr] = "valid", "train"
        if cfg.protocol == "paper_strict":  # same draws; held-out rows report, never select
            split[(pool == "unlabeled") & (split == "valid")] = "test"
    elif cfg.protocol == "standard":
        folds = json.loads(paths.STD_FOLDS_FILE.read_text())
        fold_of = {v: s for s in SPLITS for v in folds[f"standard_{s}_fold"]}
        unknown = sorted({v for v in video if v not in fold_of})
        if unknown:
            raise ValueError(
                f"protocol='standard': {len(unknown)} video ids are not in the standard folds "
                f"({paths.STD_FOLDS_FILE.name}), e.g. {unknown[:3]}"
            )
        split[:] = [fold_of[v] for v in video]
        pool[:] = "eval"
        train = np.flatnonzero(split == "train")
        lab, unl = _stratified_take(rng, train, strata, cfg.labeled_fraction)
        pool[lab], pool[unl] = "labeled", "unlabeled"
    else:
        raise ValueError(f"protocol={cfg.protocol!r}: expected one of {list(PROTOCOLS)}")
    return split.astype(str), pool.astype(str)
