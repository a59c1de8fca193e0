"""Split protocols: which rows train, select and report, and which labels are visible.

``make_splits`` assigns each segment a split (``train``/``valid``/``test``) and a pool
(``labeled``/``unlabeled``/``eval``) under ``data.protocol`` (``paper``, ``paper_strict``,
``standard``); the protocols and their label budgets are described in
``mosi_lib.data.preprocess`` (module docstring) and docs/method.md.
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
    split, pool = split.astype(str), pool.astype(str)
    check_labeled_counts(strata, split, pool, cfg)
    return split, pool


MIN_PER_CLASS = 2
"""Labeled segments of each binary class (has0) that every split which trains or selects on
labels must hold: fewer cannot train a classifier or choose a checkpoint."""


def check_labeled_counts(strata: np.ndarray, split: np.ndarray, pool: np.ndarray,
                         cfg: DataConfig) -> None:
    """Refuse a draw with fewer than ``MIN_PER_CLASS`` labeled rows of a class in a split.

    The labeled training rows, and the validation rows checkpoints are chosen on (the labeled
    pool's under the paper protocols; the whole validation fold under the standard one).

    Raises:
        ValueError: naming ``data.labeled_fraction``, the split and the counts.
    """
    train = (split == "train") & (pool == "labeled")
    valid = (split == "valid") & ((pool == "labeled") | (pool == "eval"))
    for name, rows in (("labeled training", train), ("validation", valid)):
        neg, pos = (int(((strata == c) & rows).sum()) for c in (0, 1))
        if min(neg, pos) < MIN_PER_CLASS:
            raise ValueError(f"data.labeled_fraction={cfg.labeled_fraction}: the {name} rows "
                             f"hold {pos} positive and {neg} negative segments (protocol "
                             f"{cfg.protocol}, data.split_seed={cfg.split_seed}); at least "
                             f"{MIN_PER_CLASS} of each class are needed: raise "
                             "data.labeled_fraction")
