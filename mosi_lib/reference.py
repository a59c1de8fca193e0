"""Linear references: logistic regressions a reader compares the transformer with (scikit-learn).

Every comparison table carries these rows, so that a reader sees at a glance what a linear model
reaches on the same data, split, labels and selection rule as the transformer
(``REFERENCES``, the ``init`` of their runs):

* ``logreg``: per modality, the mean of the scaled features over the valid steps (the same
  ``Processed`` arrays the transformer reads), concatenated over modalities;
* ``logreg_text``: the text modality alone: the mean of the segment's word vectors (the same
  vectors the transformer reads), when the data hold another modality too;
* ``tfidf``: TF-IDF of word 1- and 2-grams of the transcripts (``sklearn``'s
  ``TfidfVectorizer``, ``sublinear_tf``, the vocabulary and IDF fitted on the training rows'
  transcripts only, labels unused), for sources that carry transcripts (the embedded default);

and for each:

* training rows: ``Processed.train_rows(labels, zero_policy)``, exactly the classifier's rows;
* target: positive = score >= 0 (``has0``) or > 0 (``non0``), as ``data.zero_policy``;
* model: ``LogisticRegression`` (L2, lbfgs, ``max_iter=5000``, balanced nothing), with the inverse
  regularisation strength ``C`` chosen from ``C_GRID`` by validation accuracy under the zero policy
  (ties: the smaller ``C``, the simpler model), like the transformer's checkpoint selection;
* reported on the same split as the classifiers (valid under the paper protocol, test under the
  standard one), with the same metrics (``mosi_lib.metrics``), among them the majority-class
  accuracy of the training rows (the tables' "Majority" columns).

They are deterministic (lbfgs on fixed data): one run per data split and label condition, so
their rows carry no seed spread.
"""

from __future__ import annotations

import numpy as np

from mosi_lib import metrics
from mosi_lib.data.preprocess import Processed

C_GRID = (0.001, 0.003, 0.01, 0.03, 0.1, 0.3, 1.0, 3.0, 10.0, 30.0, 100.0)
"""Candidate inverse regularisation strengths, chosen on the validation rows."""


def pooled_features(data: Processed, modalities=None) -> np.ndarray:
    """(N, sum D_m) mean of each modality's scaled features over its valid steps.

    ``modalities``: which (canonical order kept by the caller); None: every one of ``data``.
    """
    parts = []
    for m in modalities or data.modalities:
        mask = data.masks[m][..., None]
        n = np.maximum(mask.sum(axis=1), 1)
        parts.append((data.x[m] * mask).sum(axis=1) / n)
    return np.concatenate(parts, axis=1).astype(np.float64)


REFERENCES = {
    "logreg": "Logistic regression, mean-pooled",
    "logreg_text": "Logistic regression, mean word vectors",
    "tfidf": "TF-IDF 1-2 grams + logistic regression",
}
"""``init`` of a reference run -> its model name in the tables."""


def tfidf_features(data: Processed, texts: dict[str, str]):
    """(N, V) sparse TF-IDF of word 1-2 grams, fitted on the training rows' transcripts.

    Raises:
        ValueError: a segment of ``data`` without a transcript in ``texts``.
    """
    from sklearn.feature_extraction.text import TfidfVectorizer

    missing = [s for s in data.ids if s not in texts]
    if missing:
        raise ValueError(
            f"TF-IDF reference: {len(missing)} segments have no transcript, e.g. {missing[:3]}"
        )
    docs = [texts[s].lower() for s in data.ids]
    vec = TfidfVectorizer(ngram_range=(1, 2), sublinear_tf=True)
    vec.fit([docs[i] for i in data.rows("train")])
    return vec.transform(docs)


def reference_features(data: Processed, init: str, texts: dict[str, str] | None = None):
    """Features of the reference ``init`` (``REFERENCES``) for every row of ``data``."""
    if init == "logreg":
        return pooled_features(data)
    if init == "logreg_text":
        if "text" not in data.x:
            raise ValueError("logreg_text reference: the data hold no text modality")
        return pooled_features(data, ["text"])
    if init == "tfidf":
        if texts is None:
            raise ValueError("tfidf reference: needs the transcripts (texts)")
        return tfidf_features(data, texts)
    raise ValueError(f"reference init={init!r}: expected one of {list(REFERENCES)}")


def fit_logistic(
    data: Processed,
    *,
    labels: str,
    zero_policy: str,
    init: str = "logreg",
    texts: dict[str, str] | None = None,
) -> dict:
    """Fit a reference on ``labels`` rows, choose ``C`` on valid, evaluate every split.

    Args:
        data: preprocessed data.
        labels: ``labeled`` (the labeled pool's training rows) or ``all``.
        zero_policy: ``has0`` or ``non0`` training target and selection metric.
        init: which reference (``REFERENCES``).
        texts: segment id -> transcript (``tfidf`` only).

    Returns:
        ``{"C", "n_train", "n_features", "valid": metrics, "test": metrics or None,
        "report": metrics, "search": [{"C", "valid_acc"}], "outputs": {split: decision
        values}}``; metrics as
        ``metrics.binary_metrics`` plus the majority-class baseline of the training rows.
    """
    from sklearn.linear_model import LogisticRegression

    x = reference_features(data, init, texts)
    tr = data.train_rows(labels, zero_policy)
    va = data.rows("valid")
    y = data.labels
    target = metrics.binary_target(y, zero_policy)[0]
    if len(np.unique(target[tr])) < 2:
        raise ValueError(
            f"logistic reference: the {len(tr)} training rows ({labels}) hold one class only"
        )
    search, best = [], None
    for c in C_GRID:
        model = LogisticRegression(C=c, max_iter=5000).fit(x[tr], target[tr])
        acc = metrics.binary_metrics(model.predict(x[va]), y[va])[f"acc_{zero_policy}"]
        search.append({"C": c, "valid_acc": acc})
        if best is None or acc > best[0]:
            best = (acc, c, model)
    _, c, model = best
    out = {
        "C": c,
        "n_train": int(len(tr)),
        "search": search,
        "n_features": int(x.shape[1]),
        "outputs": {},
    }
    for split in ("valid", "test"):
        idx = data.rows(split)
        if len(idx) == 0:
            out[split] = None
            continue
        ev = metrics.binary_metrics(model.predict(x[idx]), y[idx])
        ev.update(metrics.majority_metrics(y[tr], y[idx]))
        out[split] = ev
        # decision values: > 0 exactly where predict() says positive
        out["outputs"][split] = model.decision_function(x[idx])
    out["report"] = out[data.report_split]
    return out
