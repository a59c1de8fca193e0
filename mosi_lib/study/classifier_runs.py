"""Classifier runs: the transformer (supervised or semi-supervised) and the linear references.

Classifier runs: train the transformer classifier (one seed or several), resume one.

Each call trains from scratch or from a DEC run's encoder and writes one run folder per seed,
binding ``train.classifier.fit_classifier`` to the folder with hooks (``classifier_hooks``):

* ``train_classifier``: on the labeled pool (``labels="labeled"``, e.g. 40%) or on every
  training label (``labels="all"``); ``train_classifiers``: the same for several seeds;
* ``finetune_runs``: notebook 04's three runs (from DEC on the labeled pool and on all labels,
  from scratch on all labels);
* ``resume_classifier``: continue an interrupted run from ``checkpoints/last.pt``.

Several runs go through the worker pool (``execution.in_workers``).

Linear references: logistic regressions a reader compares the transformer with (scikit-learn).

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

How a classifier run trains under ``semi.method``, and what it records of it (issue 34).

``fit_for_method`` is the one place a classifier run picks its fit: ``none`` is
``train.classifier.fit_classifier`` (every earlier run), ``self_training`` is
``train.semi.fit_self_training`` on the labeled rows plus the unlabeled training
rows' confident pseudo-labels, ``mean_teacher`` is ``train.semi.fit_mean_teacher`` with
every training row in the consistency batches. The rows each may read are chosen here from the
data's split and pools: never a validation or test row.

``semi_record`` is what ``metrics.json`` records of the method (its ``semi`` key): per
self-training round the number of pseudo-labels and how many agree with the true labels, which
are read only here, after training, for the report.

What a classifier run reports when it ends: every split scored, ``metrics.json``, predictions.

``report_classifier`` evaluates the selected weights on the validation and test rows and writes
the run's ``metrics.json`` (the keys ``report.collect`` reads) and ``predictions``;
``save_predictions`` writes the outputs of a split, for the linear references too.

Linear reference runs: logistic regression (and TF-IDF) fits written as classifier runs.

``logistic_reference`` fits one reference (``runs.REFERENCES``) and writes its run;
``logistic_references`` makes each reference a study carries (``reference_inits``) once per data
set and tag.
"""

from __future__ import annotations

import json
import time
from functools import partial
from typing import Any

import numpy as np
import torch

from mosi_lib import files, metrics, models, runs
from mosi_lib.config import Config, config_from_dict
from mosi_lib.data import text_audio
from mosi_lib.data.preprocess import Processed
from mosi_lib.runs import REFERENCES
from mosi_lib.study.execution import (
    data_for,
    data_info,
    failing_marks,
    find_reusable,
    in_workers,
    maybe_compile,
    say,
    seed_workers,
    setup_run,
    variant_cfg,
)
from mosi_lib.study.pretrain_runs import checkpoint_dict, load_checkpoint, model_from_checkpoint
from mosi_lib.train.classifier import fit_classifier
from mosi_lib.train.loop import DeviceData, Event, Hook, evaluate_classifier, predict_logits
from mosi_lib.train.semi import fit_mean_teacher, fit_self_training, pseudo_candidates

# =============================================================================
# Linear references: logistic regressions a reader compares the transformer with (scikit-learn).

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


# =============================================================================
# How a classifier run trains under ``semi.method``, and what it records of it (issue 34).

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


# =============================================================================
# What a classifier run reports when it ends: every split scored, ``metrics.json``, predictions.

def report_classifier(cfg: Config, data: Processed, dd: DeviceData, model, run: runs.Run, *,
                      train_idx, res, seconds, init, labels, transfer, tag) -> runs.Run:
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
    run.save_metrics(runs.ClassifierRecord(
        run_id=run.run_id, name=cfg.name, tag=tag, init=init, labels=labels,
        label_fraction=len(train_idx) / max(n_train_total, 1),
        labeled_fraction_cfg=cfg.data.labeled_fraction if labels == "labeled" else 1.0,
        n_train=len(train_idx), n_params=models.count_parameters(model), seed=cfg.system.seed,
        zero_policy=cfg.data.zero_policy,
        # l1: the output is a score and every split has mae/corr/acc7; bce: a logit, they are None
        objective=cfg.train.objective,
        **data_info(data), best_epoch=res["best"]["epoch"], epochs=cfg.train.epochs,
        train_seconds=seconds, device=str(dd.device), select_split="valid",
        report_split=data.report_split, valid=evals["valid"], test=evals["test"],
        report=evals[data.report_split], transfer=transfer,
        # how the training steps and the epochs' validation forwards ran: eagerly or replayed
        # from CUDA graphs (system.cuda_graphs)
        steps=res["steps"], val_forwards=res["val_forwards"],
        # semi.method other than none: its recipe and what it did (semi_record)
        semi=res.get("semi", runs.ABSENT),
    ))
    return run


def save_predictions(run: runs.Run, data: Processed, outputs: dict[str, np.ndarray]) -> None:
    """``Run.save_predictions`` of ``outputs`` (split -> output on ``data.rows(split)``)."""
    idx = np.concatenate([data.rows(s) for s in outputs])
    run.save_predictions(ids=data.ids[idx], video=data.video[idx], split=data.split[idx],
                         label=data.labels[idx], output=np.concatenate(list(outputs.values())))


# =============================================================================
# Linear reference runs: logistic regression (and TF-IDF) fits written as classifier runs.

def logistic_reference(cfg: Config, data: Processed, *, labels: str = "labeled",
                       run_id: str | None = None, root=None, tag: str | None = None,
                       init: str = "logreg") -> runs.Run:
    """Fit a linear reference (``init``: one of ``runs.REFERENCES``) and write its run.

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
    res = fit_logistic(data, labels=labels, zero_policy=cfg.data.zero_policy,
                                 init=init, texts=texts)
    run = runs.create_run(cfg, kind="classifier", run_id=run_id, root=root,
                          extra={**data_info(data), "init": init, "labels": labels, "tag": tag})
    n_train_total = int((data.split == "train").sum())
    run.save_metrics(runs.ClassifierRecord(
        run_id=run.run_id, name=cfg.name, tag=tag, init=init, labels=labels,
        label_fraction=res["n_train"] / n_train_total,
        labeled_fraction_cfg=cfg.data.labeled_fraction if labels == "labeled" else 1.0,
        n_train=res["n_train"], n_params=res["n_features"] + 1, seed=cfg.system.seed,
        zero_policy=cfg.data.zero_policy, **data_info(data), best_epoch=0, epochs=0,
        train_seconds=time.perf_counter() - t0, device="cpu", select_split="valid",
        report_split=data.report_split, valid=res["valid"], test=res["test"],
        report=res["report"], C=res["C"], search=res["search"],
    ))
    save_predictions(run, data, res["outputs"])
    return run


def reference_inits(cfg: Config, data: Processed) -> list[str]:
    """The references a study of ``data`` carries (``runs.REFERENCES``).

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


# =============================================================================
# Classifier runs: train the transformer classifier (one seed or several), resume one.

def classifier_hooks(run: runs.Run, cfg: Config, model) -> list[Hook]:
    """The run folder's hooks: ``history.csv`` every epoch, checkpoints at a time cadence.

    ``checkpoints/last.pt`` (everything a resume needs, the best weights included) is written
    after epoch 1, then whenever ``system.checkpoint_every_s`` seconds have passed since the
    last write, and after the final epoch; ``best.pt`` is written with it when the selected
    epoch changed since. A write (the model with its Adam moments) costs a real share of a GPU
    epoch; an interrupted run resumes from ``last.pt`` and so repeats at most that many
    seconds of training. ``checkpoint_every_s = 0`` writes both every epoch.
    """
    every = cfg.system.checkpoint_every_s
    pending_best: dict[str, Any] | None = None
    saved_at = -float("inf")

    def on_event(ev: Event) -> None:
        nonlocal pending_best, saved_at
        if ev.name == "improved":
            # best_state is replaced, never mutated, by a later improvement: safe to hold
            pending_best = {"epoch": ev.epoch, "model_state": ev.state["best_state"],
                            "best": ev.state["best"]}
        elif ev.name == "epoch_end":
            run.append_history(ev.row)
            due = time.monotonic() - saved_at >= every
            if ev.epoch == 1 or ev.epoch >= cfg.train.epochs or due:
                if pending_best is not None:
                    files.save_checkpoint(checkpoint_dict("classifier", model, cfg, pending_best),
                                          run.checkpoints / "best.pt")
                    pending_best = None
                files.save_checkpoint(checkpoint_dict("classifier", model, cfg, ev.state),
                                      run.checkpoints / "last.pt")
                saved_at = time.monotonic()

    return [on_event]


# ----------------------------------------------------------------------------- one run


def train_classifier(
    cfg: Config,
    data: Processed,
    *,
    labels: str = "labeled",
    init_run: str | runs.Run | None = None,
    init_checkpoint: str = "last.pt",
    run_id: str | None = None,
    root=None,
    tag: str | None = None,
    extra: dict[str, Any] | None = None,
    reuse: bool = False,
) -> runs.Run:
    """Train the transformer classifier and write a run folder.

    Args:
        cfg: resolved config (``train``, ``model``, ``system`` sections are used).
        data: preprocessed data.
        labels: ``labeled`` (the labeled pool's training rows) or ``all`` (every training row).
        init_run: a DEC or contrastive pretraining run whose encoder initialises the
            classifier (``None``: from scratch).
        init_checkpoint: which checkpoint of ``init_run``: ``last.pt`` (after stage 2, the
            paper) or ``stage1.pt`` (autoencoder only, the pretraining ablation).
        run_id, root: run folder name and parent (defaults: auto id under ``runs/``).
        tag: experiment label stored in ``metrics.json`` (e.g. ``sweep``, ``pretrain:ae``) so
            tables can group runs of one experiment; None for the main study.
        extra: more provenance for ``config.yaml`` (e.g. papermill parameters).
        reuse: return a finished run under ``root`` of this very experiment (same recipe, seed,
            data, labels, init and DEC run) instead of training again: how notebooks 02..04
            continue an interrupted study (``reproduce --run-id``). Unfinished runs are never
            reused; a new run folder is made instead.

    Returns:
        The finished ``Run`` (``metrics.json`` written). If training fails or is interrupted,
        the run folder is marked ``failed`` and the error raised.
    """
    data = data_for(cfg, data)
    train_idx = data.train_rows(labels, cfg.data.zero_policy)  # bad labels: no run folder
    if reuse:
        found = find_reusable(cfg, data, root, kind="classifier", init_run=init_run,
                              init_checkpoint=init_checkpoint, labels=labels,
                              init=init_name(init_run, init_checkpoint), tag=tag)
        if found is not None:
            say(f"reusing finished run {found.run_id} (same recipe, seed and data; not "
                "trained again)")
            return found
    device, dd = setup_run(cfg, data)
    model, transfer = _build_classifier(cfg, data, init_run, init_checkpoint)
    model.to(device)
    run = _classifier_run(cfg, data, labels=labels, init_run=init_run, transfer=transfer,
                          run_id=run_id, root=root, tag=tag, extra=extra)
    with failing_marks(run):
        return _fit_and_report(cfg, data, dd, model, run, train_idx=train_idx,
                               init=init_name(init_run, init_checkpoint), labels=labels,
                               transfer=transfer, tag=tag)


def _build_classifier(cfg: Config, data: Processed, init_run, init_checkpoint: str):
    """The classifier, from scratch or with the encoder of a DEC or contrastive run."""
    model = models.build_classifier(cfg.model, data.dims, data.max_len)
    if init_run is None:
        return model, None
    if init_checkpoint not in ("last.pt", "stage1.pt"):
        raise ValueError(f"init_checkpoint={init_checkpoint!r}: expected 'last.pt' or "
                         "'stage1.pt'")
    dec_run = runs.load_run(init_run)
    dec = model_from_checkpoint(load_checkpoint(dec_run.checkpoints / init_checkpoint))
    transfer = models.transfer_encoder(dec, model)
    transfer["dec_run"] = dec_run.run_id
    transfer["checkpoint"] = init_checkpoint
    # what the pretraining saw, for the tables: rows (all = transductive), labels, stage 2 length
    dec_cfg = dec_run.config()
    dec_m = dec_run.metrics() if (dec_run.path / "metrics.json").exists() else {}
    transfer["dec_rows"] = dec_cfg.get("dec", {}).get("pretrain_rows")
    if dec.kind == "contrastive":  # CMC: its own rows field; no DEC stage 2
        transfer["pretrain_kind"] = "contrastive"
        transfer["dec_rows"] = dec_cfg.get("semi", {}).get("cmc_pretrain_rows")
    transfer["dec_labeled_fraction"] = dec_cfg.get("data", {}).get("labeled_fraction")
    transfer["dec_stage2_epochs"] = (0 if init_checkpoint == "stage1.pt"
                                     else dec_m.get("stage2_epochs_run"))
    return model, transfer


def _classifier_run(cfg: Config, data: Processed, *, labels, init_run, transfer, run_id, root,
                    tag, extra) -> runs.Run:
    run = runs.create_run(cfg, kind="classifier", run_id=run_id, root=root,
                          extra={**data_info(data),
                                 "init": init_name(init_run, (transfer or {}).get("checkpoint")),
                                 "labels": labels, "tag": tag, **(extra or {})})
    if transfer is not None:
        run.save_json("transfer.json", transfer)
    return run


def init_name(init_run, init_checkpoint: str = "last.pt") -> str:
    """What initialised a classifier: ``scratch``, ``dec``, ``ae`` or ``cmc``.

    ``dec``: a DEC run's final encoder; ``ae``: its stage-1 autoencoder; ``cmc``: a
    contrastive pretraining run's encoder.
    """
    if init_run is None:
        return "scratch"
    if init_checkpoint == "stage1.pt":
        return "ae"
    kind = (runs.load_run(init_run).config().get("provenance") or {}).get("kind")
    return "cmc" if kind == "contrastive" else "dec"


def _fit_and_report(cfg, data, dd, model, run, *, train_idx, init, labels, transfer, tag=None,
                    resume=None) -> runs.Run:
    """Fit the classifier as ``semi.method`` says, with the run's hooks; then its record."""
    val_idx = data.rows("valid")
    t0 = time.perf_counter()
    # semi.method none: fit_classifier; self_training, mean_teacher: fit_for_method
    fit = fit_classifier if cfg.semi.method == "none" else partial(fit_for_method, cfg, data)
    res = fit(
        maybe_compile(model, cfg),
        dd,
        cfg.train,
        cfg.system,
        train_idx=train_idx,
        val_idx=val_idx,
        zero_policy=cfg.data.zero_policy,
        hooks=classifier_hooks(run, cfg, model),
        resume=resume,
    )
    seconds = time.perf_counter() - t0
    return report_classifier(cfg, data, dd, model, run, train_idx=train_idx, res=res,
                             seconds=seconds, init=init, labels=labels, transfer=transfer,
                             tag=tag)


def resume_classifier(run: str | runs.Run, data: Processed) -> runs.Run:
    """Continue an interrupted classifier run from its ``checkpoints/last.pt``.

    The history rows after the checkpoint's epoch are discarded and the RNG states restored,
    so the finished run equals an uninterrupted one.
    """
    run = runs.load_run(run)
    ckpt = load_checkpoint(run.checkpoints / "last.pt")
    cfg = config_from_dict(ckpt["config"])
    device, dd = setup_run(cfg, data)
    model = models.rebuild("classifier", ckpt["model_kwargs"]).to(device)
    hist = run.history()
    hist[hist["epoch"] <= ckpt["epoch"]].to_csv(run.path / "history.csv", index=False)
    meta = run.config()["provenance"]
    train_idx = data.train_rows(meta["labels"], cfg.data.zero_policy)
    tfile = run.path / "transfer.json"
    transfer = json.loads(tfile.read_text()) if tfile.exists() else None
    run.mark_running()
    with failing_marks(run):
        return _fit_and_report(cfg, data, dd, model, run, train_idx=train_idx, init=meta["init"],
                               labels=meta["labels"], transfer=transfer, tag=meta.get("tag"),
                               resume=ckpt)


# ----------------------------------------------------------------------------- several runs


def train_classifiers(
    cfg: Config,
    data: Processed,
    *,
    seeds,
    labels: str = "labeled",
    init_runs=None,
    init_checkpoint: str = "last.pt",
    run_ids=None,
    root=None,
    tag: str | None = None,
    extra: dict[str, Any] | None = None,
) -> list[runs.Run]:
    """``train_classifier`` for several seeds (``system.seed`` replaced by each); one run each.

    The seeds run through ``train_classifier``, one after the other or in worker processes
    (``execution.seed_workers``, ``execution.in_workers``).

    Args:
        seeds: training seeds.
        init_runs: one DEC run (or None) per seed; None: all from scratch.
        run_ids: one run id (or None) per seed.
        Others: as ``train_classifier``.

    Returns:
        The finished runs, in the order of ``seeds``.
    """
    seeds = [int(s) for s in seeds]
    init_runs = list(init_runs) if init_runs is not None else [None] * len(seeds)
    run_ids = list(run_ids) if run_ids is not None else [None] * len(seeds)
    if not len(init_runs) == len(run_ids) == len(seeds):
        raise ValueError(f"init_runs ({len(init_runs)}) and run_ids ({len(run_ids)}) need one "
                         f"entry per seed ({len(seeds)})")
    cfgs = [variant_cfg(cfg, {"system.seed": s}) for s in seeds]
    kws = [dict(labels=labels, init_run=ir, init_checkpoint=init_checkpoint, run_id=rid,
                root=root, tag=tag, extra=extra)
           for ir, rid in zip(init_runs, run_ids, strict=True)]
    return in_workers(train_classifier, list(zip(cfgs, kws, strict=True)), data,
                      seed_workers(cfg, len(seeds)))


FINETUNE_RUNS: dict[str, dict[str, Any]] = {
    "dec_ft_labeled": {"labels": "labeled", "init": True},
    "dec_ft_all": {"labels": "all", "init": True},
    "baseline_all": {"labels": "all", "init": False},
}
"""Notebook 04's runs: name -> labels, and whether the DEC run initialises the classifier."""


def finetune_runs(cfg: Config, data: Processed, *, root, dec_run: str | runs.Run,
                  extra: dict[str, Any] | None = None) -> dict[str, runs.Run]:
    """Notebook 04's three classifier runs of one seed (``FINETUNE_RUNS``), found or trained.

    From ``dec_run``'s encoder on the labeled pool and on all training labels, and from scratch
    on all training labels (the labeled-pool baseline is notebook 02's). The three are
    independent: they train at the same time in worker processes (``execution.seed_workers``:
    auto = one per run on a CPU or CUDA, 1 = here, one after the other). A finished run of the
    same experiment under ``root`` is reused (``train_classifier``'s ``reuse``).

    Args:
        cfg: the resolved config (its ``system.seed`` names the runs).
        data: preprocessed data.
        root: the study folder.
        dec_run: the DEC run whose final encoder initialises the ``dec_ft_*`` runs.
        extra: more provenance for each run's ``config.yaml``.

    Returns:
        ``FINETUNE_RUNS`` name -> finished run.
    """
    jobs = [(cfg, dict(root=root, run_id=runs.make_run_id(name, cfg.system.seed),
                       extra=dict(extra or {}), reuse=True, labels=how["labels"],
                       init_run=dec_run if how["init"] else None))
            for name, how in FINETUNE_RUNS.items()]
    done = in_workers(train_classifier, jobs, data, seed_workers(cfg, len(jobs)))
    return dict(zip(FINETUNE_RUNS, done, strict=True))
