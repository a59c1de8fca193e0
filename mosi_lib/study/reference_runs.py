"""Linear reference runs: logistic regression (and TF-IDF) fits written as classifier runs.

``logistic_reference`` fits one reference (``reference.REFERENCES``) and writes its run;
``logistic_references`` makes each reference a study carries (``reference_inits``) once per data
set and tag.
"""

from __future__ import annotations

import time

from mosi_lib import reference
from mosi_lib.config import Config
from mosi_lib.data import text_audio
from mosi_lib.data.preprocess import Processed
from mosi_lib.study import runs
from mosi_lib.study.classifier_report import save_predictions
from mosi_lib.study.run_support import data_for, data_info


def logistic_reference(cfg: Config, data: Processed, *, labels: str = "labeled",
                       run_id: str | None = None, root=None, tag: str | None = None,
                       init: str = "logreg") -> runs.Run:
    """Fit a linear reference (``init``: one of ``reference.REFERENCES``) and write its run.

    The run is a ``classifier`` run with ``init`` naming the reference, so the comparison
    table, the summaries and the statistics read it like any classifier; ``epochs`` and
    ``best_epoch`` are 0 (no epochs), ``n_params`` counts the weights and the bias, ``search``
    holds the validation accuracy of every ``C``. ``tfidf`` reads the transcripts of the
    embedded source (``text_audio.read_transcripts``).
    """
    t0 = time.perf_counter()
    data = data_for(cfg, data)
    texts = None
    if init == "tfidf":
        texts = text_audio.read_transcripts(cfg.data.data_dir)
    res = reference.fit_logistic(data, labels=labels, zero_policy=cfg.data.zero_policy,
                                 init=init, texts=texts)
    run = runs.create_run(cfg, kind="classifier", run_id=run_id, root=root,
                          extra={**data_info(data), "init": init, "labels": labels, "tag": tag})
    n_train_total = int((data.split == "train").sum())
    run.save_metrics({
        "kind": "classifier", "run_id": run.run_id, "name": cfg.name, "tag": tag,
        "init": init, "labels": labels, "label_fraction": res["n_train"] / n_train_total,
        "labeled_fraction_cfg": cfg.data.labeled_fraction if labels == "labeled" else 1.0,
        "n_train": res["n_train"], "n_params": res["n_features"] + 1, "seed": cfg.system.seed,
        "zero_policy": cfg.data.zero_policy, **data_info(data), "best_epoch": 0, "epochs": 0,
        "train_seconds": time.perf_counter() - t0, "device": "cpu", "select_split": "valid",
        "report_split": data.report_split, "valid": res["valid"], "test": res["test"],
        "report": res["report"], "C": res["C"], "search": res["search"],
    })
    save_predictions(run, data, res["outputs"])
    return run


def reference_inits(cfg: Config, data: Processed) -> list[str]:
    """The references a study of ``data`` carries (``reference.REFERENCES``).

    ``logreg`` always; ``logreg_text`` when the text modality sits beside another; ``tfidf``
    for the embedded source's transcripts.
    """
    out = ["logreg"]
    if "text" in data.modalities and len(data.modalities) > 1:
        out.append("logreg_text")
    if cfg.data.source == "mosi_text_audio" and "text" in data.modalities:
        out.append("tfidf")
    return out


def logistic_references(cfg: Config, data: Processed, *, root, tag: str | None = None,
                        labels=("labeled", "all"), inits=None) -> list[runs.Run]:
    """Each reference (``inits``; None: ``reference_inits``) for each of ``labels``, once.

    Once per data set and ``tag`` in ``root``: a reference already in ``root`` for the same
    cached data (``data_key``), labels, zero policy and tag is reused, so re-running notebook
    01 (or a sweep) never adds a second copy (which the tables would count as a second seed).
    """
    data = data_for(cfg, data)
    key = data_info(data)["data_key"]
    out = []
    for init in inits or reference_inits(cfg, data):
        for lab in labels:
            found = runs.find_runs(root, kind="classifier", init=init, labels=lab, tag=tag,
                                   data_key=key, zero_policy=cfg.data.zero_policy)
            name = f"{cfg.name}_{init}_{lab}" + (f"_{tag}{100 * cfg.data.labeled_fraction:g}"
                                                 if tag else "")
            out.append(found[-1] if found else logistic_reference(
                cfg, data, labels=lab, root=root, tag=tag, init=init,
                run_id=runs.make_run_id(name, cfg.system.seed)))
    return out
