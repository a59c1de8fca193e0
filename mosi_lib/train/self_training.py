"""Self-training with pseudo-labels: rounds of the classifier fit on labeled + confident rows.

References: Lee 2013, "Pseudo-Label: The Simple and Efficient Semi-Supervised Learning Method
for Deep Neural Networks"; Xie et al. 2020, "Self-training with Noisy Student" (rounds, each
student trained afresh on the teacher's confident labels).

* ``pseudo_candidates``: the rows that may ever be pseudo-labeled: training rows of the
  unlabeled pool (never a validation or test row, never a labeled one);
* ``select_pseudo_labels``: pure: the outputs on the candidates -> the confident rows and the
  targets they are trained on;
* ``fit_self_training``: round 0 is ``fit_classifier`` on the labeled rows; each further round
  labels the candidates with the previous round's selected model (afresh each round) and fits
  again, from the run's initial weights, on the labeled plus pseudo-labeled rows.

The fit never reads a candidate's true label: the pseudo-labels replace the candidates' scores
in a copy of the device data (``with_targets``); how many agree with the truth is counted
afterwards by the caller, for the report only (``study.semi_runs``).
"""

from __future__ import annotations

import copy
from typing import Any

import numpy as np
import torch
from torch import nn

from mosi_lib.config import SystemConfig, TrainConfig
from mosi_lib.semi_config import SemiConfig
from mosi_lib.train.batches import DeviceData
from mosi_lib.train.classifier import fit_classifier
from mosi_lib.train.evaluate import predict_logits
from mosi_lib.train.loop import Event, Hook, fire

SCORE_RANGE = 3.0
"""CMU-MOSI scores lie in [-3, 3]: an ``l1`` pseudo-target (a predicted score) is clipped to it."""


def pseudo_candidates(split: np.ndarray, pool: np.ndarray, labeled: np.ndarray) -> np.ndarray:
    """Rows that may be pseudo-labeled: training rows of the unlabeled pool, label hidden.

    Args:
        split, pool, labeled: the data's per-row arrays (``Processed.split``, ``.pool``,
            ``.labeled``).

    Returns:
        Row indices (int64), sorted.
    """
    split, pool, labeled = np.asarray(split), np.asarray(pool), np.asarray(labeled, bool)
    return np.flatnonzero((split == "train") & (pool == "unlabeled") & ~labeled)


def select_pseudo_labels(
    outputs: np.ndarray,
    rows: np.ndarray,
    *,
    objective: str,
    min_prob: float,
    min_score: float,
    allowed: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """The confident candidates and their pseudo-targets.

    ``bce``: p = sigmoid(output), confident where max(p, 1 - p) >= ``min_prob``; the target is
    the predicted class as a score, +1 (output > 0, the positive class) or -1 (the objective
    reads only its sign). ``l1``: confident where |output| >= ``min_score``; the target is the
    predicted score, clipped to [-3, 3].

    Args:
        outputs: (C,) the model's logits (``bce``) or scores (``l1``) on ``rows``.
        rows: (C,) the candidates' row numbers.
        objective: ``bce`` or ``l1`` (``train.objective``).
        min_prob, min_score: ``semi.pseudo_min_prob``, ``semi.pseudo_min_score``.
        allowed: the rows that may be pseudo-labeled (``pseudo_candidates``); a candidate
            outside it is refused.

    Returns:
        ``(rows (S,) int64, targets (S,) float32)``, in the order of ``rows``.

    Raises:
        ValueError: shapes differ, an unknown objective, or a candidate outside ``allowed``
            (e.g. a validation or test row).
    """
    outputs = np.asarray(outputs, dtype=np.float64)
    rows = np.asarray(rows, dtype=np.int64)
    if outputs.shape != rows.shape or outputs.ndim != 1:
        raise ValueError(f"select_pseudo_labels: outputs {outputs.shape} and rows {rows.shape} "
                         "must be equal (C,)")
    if allowed is not None and not np.isin(rows, allowed).all():
        bad = rows[~np.isin(rows, allowed)]
        raise ValueError(f"select_pseudo_labels: rows {bad[:5].tolist()} are not unlabeled "
                         "training rows (a validation, test or labeled row is never "
                         "pseudo-labeled)")
    if objective == "bce":
        p = 1.0 / (1.0 + np.exp(-outputs))
        keep = np.maximum(p, 1.0 - p) >= min_prob
        targets = np.where(outputs > 0, 1.0, -1.0)
    elif objective == "l1":
        keep = np.abs(outputs) >= min_score
        targets = np.clip(outputs, -SCORE_RANGE, SCORE_RANGE)
    else:
        raise ValueError(f"objective={objective!r}: expected 'bce' or 'l1'")
    return rows[keep], targets[keep].astype(np.float32)


def with_targets(dd: DeviceData, rows: np.ndarray, targets: np.ndarray) -> DeviceData:
    """A shallow copy of ``dd`` whose scores of ``rows`` are ``targets`` (the rest unchanged)."""
    out = copy.copy(dd)
    out.scores = dd.scores.clone()
    if len(rows):
        idx = torch.as_tensor(rows, dtype=torch.long, device=dd.device)
        out.scores[idx] = torch.as_tensor(targets, dtype=dd.scores.dtype, device=dd.device)
    return out


def _round_hooks(hooks: list[Hook] | None, rnd: int, offset: int) -> list[Hook]:
    """``hooks`` seeing each history row with ``round`` and the epoch counted over all rounds.

    ``Event.epoch`` stays the round's own, so checkpoint cadences (after a round's first and
    last epoch) work per round.
    """
    def relay(ev: Event) -> None:
        row = {**ev.row, "epoch": offset + ev.row.get("epoch", ev.epoch), "round": rnd}
        fire(hooks, Event(ev.name, ev.epoch, ev.model, ev.optimizer, row, ev.state))

    return [relay] if hooks else []


def fit_self_training(
    model: nn.Module,
    dd: DeviceData,
    cfg_train: TrainConfig,
    cfg_system: SystemConfig,
    cfg_semi: SemiConfig,
    *,
    train_idx: np.ndarray,
    candidates: np.ndarray,
    val_idx: np.ndarray,
    zero_policy: str = "has0",
    hooks: list[Hook] | None = None,
) -> dict[str, Any]:
    """Self-training: ``semi.pseudo_rounds`` rounds of pseudo-labeling after a labeled fit.

    Every round trains ``train.epochs`` epochs with ``fit_classifier`` from the weights
    ``model`` held at the start (from scratch, or a pretraining's encoder) and a fresh
    optimizer, and keeps its best epoch by validation accuracy. Round r >= 1 predicts the
    ``candidates`` with round r - 1's selected weights (eval mode), keeps the confident ones
    (``select_pseudo_labels``) and trains on ``train_idx`` plus them. The final round's
    selected weights are left in ``model``.

    Args:
        model, dd, cfg_train, cfg_system, zero_policy: as ``fit_classifier``.
        cfg_semi: ``pseudo_rounds``, ``pseudo_min_prob``, ``pseudo_min_score``.
        train_idx: the labeled training rows.
        candidates: the rows that may be pseudo-labeled (``pseudo_candidates``, less any row of
            ``train_idx``).
        val_idx: the validation rows (selection); never a candidate.
        hooks: as ``fit_classifier``'s; each history row also carries ``round`` and its epoch
            counts over all rounds.

    Returns:
        The final round's ``fit_classifier`` result (``history`` over every round, ``best``'s
        epoch counted as there), with ``rounds``: per round ``round``, ``rows`` and ``targets``
        (the pseudo-labels), ``n_candidates``, ``best_epoch`` (the round's own), ``best_val``
        (its validation metrics); ``steps`` and ``val_forwards`` summed over the rounds.
    """
    candidates = np.asarray(candidates, dtype=np.int64)
    if np.isin(candidates, val_idx).any() or np.isin(candidates, train_idx).any():
        raise ValueError("fit_self_training: a candidate is a validation or labeled row")
    init_state = {k: v.detach().clone() for k, v in model.state_dict().items()}
    rows, targets = np.zeros(0, np.int64), np.zeros(0, np.float32)
    history, rounds, res = [], [], {}
    steps = {"eager": 0, "graph_replays": 0}
    forwards = {"eager": 0, "graph_replays": 0}
    for rnd in range(cfg_semi.pseudo_rounds + 1):
        if rnd:
            cand = torch.as_tensor(candidates, dtype=torch.long, device=dd.device)
            out = predict_logits(model, dd, cand, amp=cfg_system.amp).cpu().numpy()
            rows, targets = select_pseudo_labels(
                out, candidates, objective=cfg_train.objective, min_prob=cfg_semi.pseudo_min_prob,
                min_score=cfg_semi.pseudo_min_score, allowed=candidates)
            model.load_state_dict(init_state)  # every round starts where round 0 did
        res = fit_classifier(
            model, with_targets(dd, rows, targets), cfg_train, cfg_system,
            train_idx=np.concatenate([np.asarray(train_idx, np.int64), rows]), val_idx=val_idx,
            zero_policy=zero_policy, hooks=_round_hooks(hooks, rnd, rnd * cfg_train.epochs))
        history += [{**h, "epoch": rnd * cfg_train.epochs + h["epoch"], "round": rnd}
                    for h in res["history"]]
        for total, part in ((steps, res["steps"]), (forwards, res["val_forwards"])):
            for k in total:
                total[k] += part.get(k, 0)
        rounds.append({"round": rnd, "rows": rows, "targets": targets,
                       "n_candidates": int(len(candidates) if rnd else 0),
                       "best_epoch": res["best"]["epoch"], "best_val": res["best"]["val"]})
    last = cfg_semi.pseudo_rounds * cfg_train.epochs  # history.csv counts over the rounds
    return {**res, "best": {**res["best"], "epoch": last + res["best"]["epoch"]},
            "history": history, "rounds": rounds, "steps": steps, "val_forwards": forwards}
