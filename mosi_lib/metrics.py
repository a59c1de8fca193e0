"""Evaluation metrics: binary sentiment accuracy/F1 under both MOSI conventions, clustering.

Binary conventions (CMU-MOSI literature, e.g. MMSA's ``Has0_acc_2`` / ``Non0_acc_2``):

* ``has0``: every row counts; a score >= 0 is positive (zero counts as positive).
* ``non0``: rows with score exactly 0 are dropped; a score > 0 is positive.

F1 is scikit-learn's support-weighted F1 (``average="weighted"``, ``zero_division=0``), computed
here from the two classes' counts (``acc_f1``, which the classifier loops call every epoch): the
same float64 arithmetic, equal to the bit (tested against ``sklearn.metrics.f1_score``).
The regression metrics of the field (``regression_metrics``: MAE, Pearson correlation and Acc-7)
are MMSA's (``MetricsTop.__eval_mosi_regression``); they are defined for an output that
regresses the score (``train.objective=l1``), not for a logit (``bce``: recorded as None).
Clustering metrics follow Xie et al. 2016 (DEC): unsupervised accuracy with the Hungarian best
one-to-one matching of clusters to classes, plus NMI and ARI.

Numpy arrays in, python floats out.
"""

from __future__ import annotations

import numpy as np
from scipy.optimize import linear_sum_assignment
from sklearn.metrics import adjusted_rand_score, normalized_mutual_info_score

from mosi_lib.config import ZERO_POLICIES

# ---- helpers


def _as_1d(name: str, a: np.ndarray, n: int | None = None) -> np.ndarray:
    """Return ``a`` as a 1-D array; raise naming ``name`` on a wrong shape or length."""
    a = np.asarray(a)
    if a.ndim != 1 or a.size == 0:
        raise ValueError(f"{name} has shape {a.shape}; expected a non-empty 1-D array")
    if n is not None and a.shape[0] != n:
        raise ValueError(f"{name} has {a.shape[0]} rows; expected {n}")
    return a


def _scores(name: str, scores: np.ndarray) -> np.ndarray:
    s = _as_1d(name, scores).astype(np.float64)
    if not np.isfinite(s).all():
        raise ValueError(f"{name}: {int((~np.isfinite(s)).sum())} non-finite sentiment scores")
    return s


def acc_f1(y_true: np.ndarray, y_pred: np.ndarray) -> tuple[float, float]:
    """Accuracy and support-weighted F1 of boolean labels and predictions.

    Per class c (False, True): F1 = 2 tp / (support + predicted), 0 where both are 0 (sklearn's
    ``zero_division=0``, its formula since 1.3); averaged with the supports as weights. A class
    absent from both arrays has weight 0, as in sklearn (which drops it).
    """
    if y_true.size == 0:
        return float("nan"), float("nan")
    t, p = y_true.astype(bool), y_pred.astype(bool)
    hit = t == p
    tp = np.array([np.count_nonzero(hit & ~t), np.count_nonzero(hit & t)], dtype=np.float64)
    support = np.array([t.size - np.count_nonzero(t), np.count_nonzero(t)], dtype=np.float64)
    predicted = np.array([p.size - np.count_nonzero(p), np.count_nonzero(p)], dtype=np.float64)
    denom = support + predicted
    f1 = np.divide(2.0 * tp, denom, out=np.zeros(2), where=denom > 0)
    return float(np.count_nonzero(hit) / t.size), float((f1 * support).sum() / support.sum())


# ---- sentiment


def binary_target(scores, zero_policy: str):
    """The binary target rule, in one place: ``(positive, keep)`` for scores under a convention.

    ``has0``: positive = score >= 0, every row kept; ``non0``: positive = score > 0, rows with
    score exactly 0 dropped (``keep`` False). Works on numpy arrays and torch tensors alike
    (elementwise comparisons); returns boolean arrays/tensors of the same shape.

    Raises:
        ValueError: an unknown ``zero_policy``.
    """
    if zero_policy == "has0":
        return scores >= 0, scores == scores  # noqa: PLR0124 - all True (NaN-free scores)
    if zero_policy == "non0":
        return scores > 0, scores != 0
    raise ValueError(f"zero_policy={zero_policy!r}: expected one of {list(ZERO_POLICIES)}")


def binary_metrics(pred_pos: np.ndarray, scores: np.ndarray) -> dict[str, float]:
    """Binary accuracy and weighted F1 under the has0 and non0 conventions.

    Args:
        pred_pos: (N,) bool or 0/1, the prediction "positive".
        scores: (N,) true sentiment scores in [-3, 3].

    Returns:
        ``acc_has0``, ``f1_has0`` (all rows, positive = score >= 0), ``acc_non0``, ``f1_non0``
        (rows with score != 0, positive = score > 0; NaN if there are none), ``n_has0``,
        ``n_non0`` (row counts).

    """
    s = _scores("scores", scores)
    pred = _as_1d("pred_pos", pred_pos, len(s))
    if not np.isin(pred, (0, 1)).all():
        raise ValueError("pred_pos must hold only bool or 0/1 values")
    pred = pred.astype(bool)
    out: dict[str, float] = {}
    for conv in ZERO_POLICIES:
        pos, keep = binary_target(s, conv)
        out[f"acc_{conv}"], out[f"f1_{conv}"] = acc_f1(pos[keep], pred[keep])
    out.update({f"n_{conv}": int(binary_target(s, conv)[1].sum()) for conv in ZERO_POLICIES})
    return out


def majority_metrics(train_scores: np.ndarray, eval_scores: np.ndarray) -> dict[str, float]:
    """Majority-class baseline: predict the training majority on every evaluation row.

    The majority is taken per convention (has0: score >= 0 over all training rows; non0:
    score > 0 over training rows with score != 0); a tie predicts positive.

    Args:
        train_scores: (N_train,) training sentiment scores (labeled rows).
        eval_scores: (N_eval,) evaluation sentiment scores.

    Returns:
        ``majority_acc_has0``, ``majority_f1_has0``, ``majority_acc_non0``,
        ``majority_f1_non0``.

    """
    tr, ev = _scores("train_scores", train_scores), _scores("eval_scores", eval_scores)
    out: dict[str, float] = {}
    for conv in ZERO_POLICIES:
        (pos_tr, keep_tr), (pos_ev, keep_ev) = binary_target(tr, conv), binary_target(ev, conv)
        if not keep_tr.any():
            raise ValueError(f"majority_metrics: no training rows under the {conv} convention")
        majority_pos = pos_tr[keep_tr].mean() >= 0.5
        y_true = pos_ev[keep_ev]
        acc, f1 = acc_f1(y_true, np.full(y_true.shape, majority_pos))
        out[f"majority_acc_{conv}"], out[f"majority_f1_{conv}"] = acc, f1
    return out


REGRESSION_KEYS = ("mae", "corr", "acc7")
"""The keys of ``regression_metrics``: None in a run whose output is a logit (``bce``)."""


def regression_metrics(pred: np.ndarray, scores: np.ndarray) -> dict[str, float]:
    """MAE, Pearson correlation and 7-class accuracy of predicted sentiment scores.

    Defined as MMSA defines them for CMU-MOSI (thuiar/MMSA ``src/MMSA/utils/metricsTop.py``,
    ``__eval_mosi_regression``, which calls ``__eval_mosei_regression``), on every row:

    * ``mae``: mean of ``|pred - score|`` (unclipped);
    * ``corr``: Pearson r of ``pred`` and ``score`` (``np.corrcoef``, unclipped); NaN when
      either is constant (r undefined);
    * ``acc7``: share of rows where ``np.round(clip(pred, -3, 3)) == np.round(clip(score,
      -3, 3))``: numpy rounds halves to even (0.5 -> 0, 1.5 -> 2, -2.5 -> -2), as MMSA does.

    All three are NaN when ``pred`` holds a non-finite value (a diverged run). Only
    meaningful when ``pred`` is a score (``train.objective=l1``); a ``bce`` logit is not.

    Args:
        pred: (N,) predicted sentiment scores.
        scores: (N,) annotated sentiment scores in [-3, 3].

    Returns:
        ``mae``, ``corr`` and ``acc7`` (a fraction in [0, 1]).
    """
    s = _scores("scores", scores)
    p = _as_1d("pred", pred, len(s)).astype(np.float64)  # a diverged NaN output stays NaN
    if not np.isfinite(p).all():
        return {"mae": float("nan"), "corr": float("nan"), "acc7": float("nan")}
    if np.ptp(p) == 0 or np.ptp(s) == 0:  # a constant: r is 0/0 (np.corrcoef warns)
        corr = float("nan")
    else:
        corr = float(np.corrcoef(p, s)[0, 1])
    same = np.round(np.clip(p, -3.0, 3.0)) == np.round(np.clip(s, -3.0, 3.0))
    return {"mae": float(np.abs(p - s).mean()), "corr": corr, "acc7": float(same.mean())}


# ---- clustering


def cluster_accuracy(y_true: np.ndarray, y_pred: np.ndarray) -> float:
    """Unsupervised clustering accuracy (the ACC of Xie et al. 2016).

    acc = max over one-to-one maps m of (1/N) sum_i 1{y_i = m(c_i)}, found with the Hungarian
    algorithm on the cluster-by-class contingency table. Cluster and class ids may be any
    labels and their numbers may differ (unmatched clusters count as wrong).

    Args:
        y_true: (N,) class labels.
        y_pred: (N,) cluster ids.

    Returns:
        Accuracy in [0, 1].

    """
    yt = _as_1d("y_true", y_true)
    yp = _as_1d("y_pred", y_pred, len(yt))
    classes, ti = np.unique(yt, return_inverse=True)
    clusters, pi = np.unique(yp, return_inverse=True)
    counts = np.zeros((len(clusters), len(classes)), dtype=np.int64)  # (K, n_classes)
    np.add.at(counts, (pi, ti), 1)
    rows, cols = linear_sum_assignment(counts, maximize=True)
    return float(counts[rows, cols].sum() / len(yt))


def cluster_metrics(y_true: np.ndarray, y_pred: np.ndarray) -> dict[str, float]:
    """Clustering quality against the classes.

    Args:
        y_true: (N,) class labels.
        y_pred: (N,) cluster ids (e.g. argmax of Q).

    Returns:
        ``acc`` (Hungarian-matched accuracy), ``nmi`` (arithmetic-mean normalisation) and
        ``ari`` (adjusted Rand index).

    """
    yt = _as_1d("y_true", y_true)
    yp = _as_1d("y_pred", y_pred, len(yt))
    return {
        "acc": cluster_accuracy(yt, yp),
        "nmi": float(normalized_mutual_info_score(yt, yp, average_method="arithmetic")),
        "ari": float(adjusted_rand_score(yt, yp)),
    }
