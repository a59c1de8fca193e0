"""How a classifier run trains under ``semi.method``, and what it records of it (issue 34).

``fit_for_method`` is the one place a classifier run picks its fit: ``none`` is
``train.classifier.fit_classifier`` (every earlier run), ``self_training`` is
``train.self_training.fit_self_training`` on the labeled rows plus the unlabeled training
rows' confident pseudo-labels, ``mean_teacher`` is ``train.mean_teacher.fit_mean_teacher`` with
every training row in the consistency batches. The rows each may read are chosen here from the
data's split and pools: never a validation or test row.

``semi_record`` is what ``metrics.json`` records of the method (its ``semi`` key): per
self-training round the number of pseudo-labels and how many agree with the true labels, which
are read only here, after training, for the report.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from mosi_lib.config import Config
from mosi_lib.data.preprocess import Processed
from mosi_lib.train.batches import DeviceData
from mosi_lib.train.classifier import fit_classifier
from mosi_lib.train.mean_teacher import fit_mean_teacher
from mosi_lib.train.self_training import fit_self_training, pseudo_candidates


def fit_for_method(cfg: Config, data: Processed, model, dd: DeviceData, cfg_train=None,
                   cfg_system=None, *, train_idx, val_idx, zero_policy=None, hooks=None,
                   resume=None) -> dict[str, Any]:
    """Fit the classifier as ``cfg.semi.method`` says; the result of ``fit_classifier``'s form.

    Called as ``fit_classifier`` is after binding ``cfg`` and ``data`` (``cfg_train``,
    ``cfg_system`` and ``zero_policy`` are read from ``cfg``; accepted for that call form).
    A ``self_training`` or ``mean_teacher`` result also carries ``semi`` (``semi_record``).

    Raises:
        ValueError: ``resume`` of a run whose method is not ``none`` (its rounds or teacher
            are not in the checkpoint: such a run is trained again).
    """
    method = cfg.semi.method
    common = dict(val_idx=val_idx, zero_policy=cfg.data.zero_policy, hooks=hooks)
    if method == "none":
        return fit_classifier(model, dd, cfg.train, cfg.system, train_idx=train_idx,
                              resume=resume, **common)
    if resume is not None:
        raise ValueError(f"semi.method={method!r}: a run of it cannot be resumed from a "
                         "checkpoint; train it again")
    train_idx = np.asarray(train_idx, dtype=np.int64)
    if method == "self_training":
        candidates = np.setdiff1d(pseudo_candidates(data.split, data.pool, data.labeled),
                                  train_idx)
        res = fit_self_training(model, dd, cfg.train, cfg.system, cfg.semi,
                                train_idx=train_idx, candidates=candidates, **common)
    elif method == "mean_teacher":
        res = fit_mean_teacher(model, dd, cfg.train, cfg.system, cfg.semi,
                               train_idx=train_idx, extra_idx=data.rows("train"), **common)
    else:
        raise ValueError(f"config semi.method={method!r}: expected 'none', 'self_training' "
                         "or 'mean_teacher'")
    res["semi"] = semi_record(cfg, data, res)
    return res


def semi_record(cfg: Config, data: Processed, res: dict[str, Any]) -> dict[str, Any]:
    """The ``semi`` entry of ``metrics.json``: the method, its recipe values and what it did.

    ``self_training``: per round ``round``, ``n_candidates``, ``n_pseudo``, ``n_pseudo_pos``
    (pseudo-labeled positive), ``n_agree`` and ``agree_share`` (the pseudo-label's class, output
    > 0, equals the true class under has0, score >= 0: read after training, for the report
    only), ``best_epoch`` and ``best_valid_acc`` (the round's selected epoch: a run of R rounds
    shows every budget up to R). ``mean_teacher``: the rows of its consistency batches and the
    last epoch's consistency.
    """
    method = cfg.semi.method
    fields = {k: v for k, v in cfg.semi.__dict__.items()
              if k.startswith({"self_training": "pseudo_", "mean_teacher": "mt_"}[method])}
    out: dict[str, Any] = {"method": method, **fields}
    if method == "self_training":
        rounds = []
        for r in res["rounds"]:
            rows, targets = np.asarray(r["rows"]), np.asarray(r["targets"])
            truth_pos = data.labels[rows] >= 0  # has0: for the report only, never trained on
            agree = int(((targets > 0) == truth_pos).sum())
            rounds.append({"round": r["round"], "n_candidates": r["n_candidates"],
                           "n_pseudo": int(len(rows)), "n_pseudo_pos": int((targets > 0).sum()),
                           "n_agree": agree,
                           "agree_share": agree / len(rows) if len(rows) else None,
                           "best_epoch": r["best_epoch"],
                           "best_valid_acc": r["best_val"].get("acc")})
        out["rounds"] = rounds
    else:
        last = res["history"][-1] if res["history"] else {}
        out.update(n_consistency_rows=int(len(data.rows("train"))),
                   last_consistency=last.get("consistency"),
                   last_cons_weight=last.get("cons_weight"))
    return out
