"""A linear reference: logistic regression on mean-pooled features (scikit-learn).

Every comparison table carries this row so that a reader sees at a glance what a linear model
reaches on the same data, modalities, split, labels and selection rule as the transformer:

* features: per modality, the mean of the scaled features over the valid steps (the same
  ``Processed`` arrays the transformer reads), concatenated over modalities;
* training rows: ``Processed.train_rows(labels, zero_policy)``, exactly the classifier's rows;
* target: positive = score >= 0 (``has0``) or > 0 (``non0``), as ``data.zero_policy``;
* model: ``LogisticRegression`` (L2, lbfgs, ``max_iter=5000``, balanced nothing), with the inverse
  regularisation strength ``C`` chosen from ``C_GRID`` by validation accuracy under the zero policy
  (ties: the smaller ``C``, the simpler model), like the transformer's checkpoint selection;
* reported on the same split as the classifiers (valid under the paper protocol, test under the
  standard one), with the same metrics (``mosi_lib.metrics``).

It is deterministic (lbfgs on fixed data): one run per data split and label condition, so its
rows carry no seed spread.
"""

from __future__ import annotations

import numpy as np

from mosi_lib import metrics
from mosi_lib.data.preprocess import Processed

C_GRID = (0.001, 0.003, 0.01, 0.03, 0.1, 0.3, 1.0, 3.0, 10.0, 30.0, 100.0)
"""Candidate inverse regularisation strengths, chosen on the validation rows."""


def pooled_features(data: Processed) -> np.ndarray:
    """(N, sum D_m) mean of each modality's scaled features over its valid steps."""
    parts = []
    for m in data.modalities:
        mask = data.masks[m][..., None]
        n = np.maximum(mask.sum(axis=1), 1)
        parts.append((data.x[m] * mask).sum(axis=1) / n)
    return np.concatenate(parts, axis=1).astype(np.float64)


def fit_logistic(data: Processed, *, labels: str, zero_policy: str) -> dict:
    """Fit the reference on ``labels`` rows, choose ``C`` on valid, evaluate every split.

    Args:
        data: preprocessed data.
        labels: ``labeled`` (the labeled pool's training rows) or ``all``.
        zero_policy: ``has0`` or ``non0`` training target and selection metric.

    Returns:
        ``{"C", "n_train", "valid": metrics, "test": metrics or None, "report": metrics,
        "search": [{"C", "valid_acc"}]}``; metrics as ``metrics.binary_metrics`` plus the
        majority-class baseline of the training rows.
    """
    from sklearn.linear_model import LogisticRegression

    x = pooled_features(data)
    tr = data.train_rows(labels, zero_policy)
    va = data.rows("valid")
    y = data.labels
    target = metrics.binary_target(y, zero_policy)[0]
    if len(np.unique(target[tr])) < 2:
        raise ValueError(f"logistic reference: the {len(tr)} training rows ({labels}) hold one "
                         "class only")  # fmt: skip
    search, best = [], None
    for c in C_GRID:
        model = LogisticRegression(C=c, max_iter=5000).fit(x[tr], target[tr])
        acc = metrics.binary_metrics(model.predict(x[va]), y[va])[f"acc_{zero_policy}"]
        search.append({"C": c, "valid_acc": acc})
        if best is None or acc > best[0]:
            best = (acc, c, model)
    _, c, model = best
    out = {"C": c, "n_train": int(len(tr)), "search": search}
    for split in ("valid", "test"):
        idx = data.rows(split)
        if len(idx) == 0:
            out[split] = None
            continue
        ev = metrics.binary_metrics(model.predict(x[idx]), y[idx])
        ev.update(metrics.majority_metrics(y[tr], y[idx]))
        out[split] = ev
    out["report"] = out[data.report_split]
    return out
