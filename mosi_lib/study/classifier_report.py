"""What a classifier run reports when it ends: every split scored, ``metrics.json``, predictions.

``report_classifier`` evaluates the selected weights on the validation and test rows and writes
the run's ``metrics.json`` (the keys ``report.collect`` reads) and ``predictions``;
``save_predictions`` writes the outputs of a split, for the linear references too.
"""

from __future__ import annotations

import numpy as np
import torch

from mosi_lib import metrics, models
from mosi_lib.config import Config
from mosi_lib.data.preprocess import Processed
from mosi_lib.study import runs
from mosi_lib.study.run_support import data_info
from mosi_lib.train.batches import DeviceData
from mosi_lib.train.evaluate import evaluate_classifier, predict_logits


def report_classifier(cfg: Config, data: Processed, dd: DeviceData, model, run: runs.Run,
                      train_idx, res, seconds, *, init, labels, transfer, tag) -> runs.Run:
    """Evaluate the selected weights (in ``model``) on every split and write metrics.json.

    Args:
        cfg, data, dd: the run's config, data and the data on its device.
        model: the classifier holding the selected (best validation) weights.
        run: the run folder.
        train_idx: the rows it trained on.
        res, seconds: what ``fit_classifier`` returned, and how long it took.
        init, labels, transfer, tag: what ``metrics.json`` records of the run's recipe.

    Returns:
        ``run``, with ``metrics.json`` and the predictions written.
    """
    train_scores = data.labels[train_idx]
    evals, outputs = {}, {}
    for split in ("valid", "test"):
        idx = data.rows(split)
        if len(idx) == 0:
            evals[split] = None
            continue
        rows = torch.as_tensor(idx, device=dd.device)
        logits = predict_logits(model, dd, rows, amp=cfg.system.amp)
        ev = evaluate_classifier(model, dd, rows, cfg.data.zero_policy,
                                 objective=cfg.train.objective, logits=logits)
        ev.update(metrics.majority_metrics(train_scores, data.labels[idx]))
        evals[split], outputs[split] = ev, logits.cpu().numpy()
    save_predictions(run, data, outputs)
    n_train_total = int((data.split == "train").sum())
    out = {
        "kind": "classifier", "run_id": run.run_id, "name": cfg.name, "tag": tag, "init": init,
        "labels": labels, "label_fraction": len(train_idx) / max(n_train_total, 1),
        "labeled_fraction_cfg": cfg.data.labeled_fraction if labels == "labeled" else 1.0,
        "n_train": len(train_idx), "n_params": models.count_parameters(model),
        "seed": cfg.system.seed, "zero_policy": cfg.data.zero_policy,
        # l1: the output is a score and every split has mae/corr/acc7; bce: a logit, they are None
        "objective": cfg.train.objective,
        **data_info(data), "best_epoch": res["best"]["epoch"],
        "epochs": cfg.train.epochs, "train_seconds": seconds, "device": str(dd.device),
        "select_split": "valid", "report_split": data.report_split,
        "valid": evals["valid"], "test": evals["test"], "report": evals[data.report_split],
        "transfer": transfer,
        # how the training steps and the epochs' validation forwards ran: eagerly or replayed
        # from CUDA graphs (system.cuda_graphs)
        "steps": res["steps"], "val_forwards": res["val_forwards"],
        # semi.method other than none: its recipe and what it did (study.semi_runs.semi_record)
        **({"semi": res["semi"]} if "semi" in res else {}),
    }
    run.save_metrics(out)
    return run


def save_predictions(run: runs.Run, data: Processed, outputs: dict[str, np.ndarray]) -> None:
    """``Run.save_predictions`` of ``outputs`` (split -> output on ``data.rows(split)``)."""
    idx = np.concatenate([data.rows(s) for s in outputs])
    run.save_predictions(ids=data.ids[idx], video=data.video[idx], split=data.split[idx],
                         label=data.labels[idx], output=np.concatenate(list(outputs.values())))
