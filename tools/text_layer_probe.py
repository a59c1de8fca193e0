"""Choose the encoder layer of the contextual word vectors on the validation fold (data.text_layer).

    python tools/text_layer_probe.py [--word-vectors minilm-l6] [--labeled-fraction 0.4]

One forward over every transcript gives all hidden states; for each candidate layer (0 = the
embedding output, 1..N, ``mean`` of the layers, ``mean_all`` of all hidden states; the last
layer, ``mean`` and ``mean_all`` once more as a float16 cache would store them) a logistic
regression on the mean of the segment's word vectors is fit on the standard train fold (all its
labels, and a labeled draw of ``--labeled-fraction``), its C chosen on the validation fold (``reference.C_GRID``), and the
validation accuracy (Acc-2 has0) printed. Also printed: the mean accuracy of a 5-fold grouped
(by video) cross-validation inside the train fold, a second look that does not rest on the 229
validation segments alone. The test fold is never read. Writes the table as CSV (--out).
"""

from __future__ import annotations

import argparse
import csv
import json
import time

import numpy as np
import torch

from mosi_lib import paths
from mosi_lib.config import DataConfig
from mosi_lib.data import contextual, text_audio
from mosi_lib.data.preprocess import make_splits
from mosi_lib.study import classifier_runs


def _fit(x, y, tr, va):
    from sklearn.linear_model import LogisticRegression

    best = None
    for c in classifier_runs.C_GRID:
        m = LogisticRegression(C=c, max_iter=5000).fit(x[tr], y[tr])
        acc = float((m.predict(x[va]) == y[va]).mean())
        if best is None or acc > best[0]:
            best = (acc, c)
    return best


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--word-vectors", default="minilm-l6")
    ap.add_argument("--labeled-fraction", type=float, default=0.4)
    ap.add_argument("--out", default=None, help="CSV of the table")
    args = ap.parse_args()
    torch.set_num_threads(1)
    raw = text_audio.read_text_audio(modalities=["text"], word_vectors="glove-6b-50d")
    texts = text_audio.read_transcripts()
    words = [text_audio.tokenize(texts[s]) for s in raw.ids]
    enc = contextual.locate(args.word_vectors)
    tok, model = contextual.load(enc)
    layers = [str(k) for k in range(model.config.num_hidden_layers + 1)] + ["mean", "mean_all"]
    t0 = time.perf_counter()
    out, counts = contextual.encode_words(words, tok, model, layers=layers, progress=True)
    print(f"{enc.name}: {len(words)} segments, {counts['words']} words, "
          f"{time.perf_counter() - t0:.1f} s (all layers, 1 thread)")
    cfg = DataConfig(protocol="standard", labeled_fraction=args.labeled_fraction)
    split, pool = make_splits(raw.labels, raw.video, cfg)
    y = (raw.labels >= 0).astype(int)
    tr, va = np.flatnonzero(split == "train"), np.flatnonzero(split == "valid")
    lab = np.flatnonzero((split == "train") & (pool == "labeled"))
    vids = np.unique(raw.video[tr])
    fold_of = {v: i % 5 for i, v in enumerate(np.random.default_rng(0).permutation(vids))}
    folds = np.array([fold_of[v] for v in raw.video[tr]])
    table = []
    last = layers[-3]
    # the float16 rows: the same vectors rounded as a float16 cache stores them
    half = {f"{k} float16": [v.astype(np.float16) for v in out[k]]
            for k in (last, "mean", "mean_all")}
    for layer in layers + list(half):
        vecs = half[layer] if layer in half else out[layer]
        x = np.stack([v.astype(np.float32).mean(0) for v in vecs]).astype(np.float64)
        acc_all, c_all = _fit(x, y, tr, va)
        acc_lab, c_lab = _fit(x, y, lab, va)
        cv = np.mean([_fit(x, y, tr[folds != k], tr[folds == k])[0] for k in range(5)])
        name = "last" if layer == last else layer
        table.append({"layer": layer if name == layer else f"{layer} (last)",
                      "valid_acc_all": round(100 * acc_all, 2), "C_all": c_all,
                      f"valid_acc_{args.labeled_fraction:g}": round(100 * acc_lab, 2),
                      "C_labeled": c_lab, "cv5_train_fold": round(100 * cv, 2)})
    cols = list(table[0])
    print("| " + " | ".join(cols) + " |\n|" + "---|" * len(cols))
    for r in table:
        print("| " + " | ".join(str(r[c]) for c in cols) + " |")
    if args.out:
        with open(args.out, "w", newline="") as fh:
            w = csv.DictWriter(fh, cols)
            w.writeheader()
            w.writerows(table)
    print(json.dumps({"encoder": enc.name, "sha256": contextual.check_weights(enc),
                      "folds": str(paths.STD_FOLDS_FILE.name)}))


if __name__ == "__main__":
    main()
