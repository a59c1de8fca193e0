"""Single-run recipes: each call trains one model and writes one run folder.

Notebooks 02-04 call these (through ``mosi_lib.study.experiments``); they bind the ``train``
fits to ``runs`` bookkeeping with hooks:

* ``train_classifier``: the transformer classifier from scratch or DEC-initialised, on the
  labeled pool (``labels="labeled"``, e.g. 40%) or on every training label (``labels="all"``);
  ``train_classifiers``: the same for several seeds (in workers, or one by one).
* ``pretrain_dec``: both DEC stages on every segment's features (labels of the labeled training
  pool only); writes latents for the t-SNE figure and cluster metrics.
* ``resume_classifier``: continue an interrupted classifier run from ``checkpoints/last.pt``.
* ``logistic_reference(s)``: the logistic-regression reference as runs.
"""

from __future__ import annotations

import contextlib
import copy
import json
import time
from typing import Any

import numpy as np
import torch

from mosi_lib import files, metrics, models
from mosi_lib.config import Config, DataConfig, config_from_dict
from mosi_lib.data.preprocess import Processed
from mosi_lib.study import guard, runs
from mosi_lib.study.workers import in_workers, seed_workers
from mosi_lib.train import system
from mosi_lib.train.batches import DeviceData
from mosi_lib.train.classifier import fit_classifier
from mosi_lib.train.dec import fit_dec
from mosi_lib.train.evaluate import evaluate_classifier, predict_logits
from mosi_lib.train.loop import Event, Hook

# ----------------------------------------------------------------------------- helpers


def _setup(cfg: Config, data: Processed) -> tuple[torch.device, DeviceData]:
    system.seed_everything(cfg.system.seed, cfg.system.deterministic)
    if cfg.system.num_threads:
        torch.set_num_threads(cfg.system.num_threads)
    device = system.select_device(cfg.system.device)
    return device, DeviceData(data, device)


def _data_info(data: Processed) -> dict[str, Any]:
    return {
        "data_source": data.meta.get("source"),
        "synthetic": data.synthetic,
        "data_description": data.meta.get("description"),
        "protocol": data.meta.get("protocol"),
        "modalities": data.modalities,
        "data_key": data.meta.get("key") or data.meta.get("cache", {}).get("key"),
        "n_segments": len(data),
    }


def data_for(cfg: Config, data: Processed) -> Processed:
    """``data`` drawn with ``cfg``'s ``data.split_seed``: ``data`` itself, or it drawn again.

    With ``data.draw=seed`` every seed has its own labeled draw, so a study's data set (drawn
    for one seed) is drawn again for another seed: the same data config but the split seed,
    through ``prepare_data`` and its cache (seconds). Every run entry point calls this, so a
    grid or notebook may pass one data set for all its seeds.

    Raises:
        ValueError: the draws differ and ``data`` was not made by ``prepare_data`` (it cannot
            be drawn again: set ``data.draw=fixed``).
    """
    have = data.meta.get("config", {})
    if have.get("split_seed", cfg.data.split_seed) == cfg.data.split_seed:
        return data
    from mosi_lib.data.preprocess import prepare_data

    if not data.meta.get("cache"):
        raise ValueError(f"data drawn with data.split_seed={have['split_seed']}, the run needs "
                         f"{cfg.data.split_seed} (data.draw=seed, system.seed="
                         f"{cfg.system.seed}); data not made by prepare_data cannot be drawn "
                         "again: set data.draw=fixed")  # fmt: skip
    return prepare_data(DataConfig(**{**have, "split_seed": cfg.data.split_seed}))


@contextlib.contextmanager
def _failing_marks(*runs_: runs.Run):
    """Mark ``runs_`` failed if the block raises, ``interrupted`` on Ctrl-C; track them meanwhile.

    The status file gets a one-line reason; while the block runs the runs are this process's
    runs in flight (``guard.track``).
    A run killed outright (SIGKILL, power) stays ``running`` until ``guard.sweep_stale`` finds
    its process gone; either way it never enters a table (``runs.find_runs``: finished only).
    """
    for run in runs_:
        guard.track(run)
    try:
        yield
    except KeyboardInterrupt:
        for run in runs_:
            run.mark_interrupted("KeyboardInterrupt (Ctrl-C)")
        raise
    except BaseException as exc:
        for run in runs_:
            run.mark_failed(f"{type(exc).__name__}: {exc}".splitlines()[0][:500])
        raise
    finally:
        for run in runs_:
            guard.untrack(run)


def _reusable(cfg: Config, data: Processed, root, *, kind: str, init_run=None,
              init_checkpoint: str = "last.pt", **match: Any) -> runs.Run | None:  # fmt: skip
    """A finished run under ``root`` that is this very experiment, or None.

    Same kind, seed, data, recipe (``hashing.recipe_hash``), ``match`` fields and, for a
    DEC-initialised classifier, the same DEC run and checkpoint.
    """
    found = runs.find_same(root, cfg, kind=kind, seed=cfg.system.seed,
                           data_key=_data_info(data_for(cfg, data))["data_key"],
                           **match)  # fmt: skip
    if init_run is not None:
        dec_id = runs.load_run(init_run).run_id
        found = [r for r in found if (r.metrics().get("transfer") or {}).get("dec_run") == dec_id
                 and r.metrics()["transfer"].get("checkpoint") == init_checkpoint]  # fmt: skip
    return found[-1] if found else None


def _maybe_compile(model: torch.nn.Module, cfg: Config) -> torch.nn.Module:
    """``torch.compile`` ``model`` in place with ``system.compile_mode`` when ``system.compile``.

    ``nn.Module.compile`` keeps the state_dict keys free of the ``_orig_mod.`` prefix, so
    checkpoints of compiled and eager runs are interchangeable.
    """
    if cfg.system.compile:
        model.compile(mode=cfg.system.compile_mode)
    return model


def _checkpoint(kind: str, model, cfg: Config, state: dict[str, Any]) -> dict[str, Any]:
    """A self-describing checkpoint: enough to rebuild the model and to resume."""
    return {"kind": kind, "model_kwargs": model.init_kwargs, "config": cfg.to_dict(), **state}


def load_checkpoint(path) -> dict[str, Any]:
    """Read a checkpoint written by a run (``weights_only=False``: it holds our own dicts)."""
    return files.load_checkpoint(path, map_location="cpu")


def model_from_checkpoint(ckpt: dict[str, Any], which: str = "model_state") -> torch.nn.Module:
    """Rebuild the model a checkpoint describes and load its weights (``best_state`` or last)."""
    model = models.rebuild(ckpt["kind"], ckpt["model_kwargs"])
    model.load_state_dict(ckpt[which])
    return model


def _classifier_hooks(run: runs.Run, cfg: Config, model) -> list[Hook]:
    """The run folder's hooks: ``history.csv`` every epoch, checkpoints at a time cadence.

    ``checkpoints/last.pt`` (everything a resume needs, the best weights included) is written
    after epoch 1, then whenever ``system.checkpoint_every_s`` seconds have passed since the
    last write, and after the final epoch; ``best.pt`` is written with it when the selected
    epoch changed since. Each write costs tens of milliseconds (9 MB for the paper's model with
    its Adam moments, 18 ms on the 2-core CPU), a real share of a GPU epoch; an interrupted run
    resumes from ``last.pt`` and so repeats at most that many seconds of training.
    ``checkpoint_every_s = 0`` writes both every epoch.
    """
    every = cfg.system.checkpoint_every_s
    pending_best: dict[str, Any] | None = None
    saved_at = -float("inf")

    def on_event(ev: Event) -> None:
        nonlocal pending_best, saved_at
        if ev.name == "improved":
            # best_state is replaced, never mutated, by a later improvement: safe to hold
            pending_best = {"epoch": ev.epoch, "model_state": ev.state["best_state"],
                            "best": ev.state["best"]}  # fmt: skip
        elif ev.name == "epoch_end":
            run.append_history(ev.row)
            due = time.monotonic() - saved_at >= every
            if ev.epoch == 1 or ev.epoch >= cfg.train.epochs or due:
                if pending_best is not None:
                    files.save_checkpoint(_checkpoint("classifier", model, cfg, pending_best),
                                         run.checkpoints / "best.pt")  # fmt: skip
                    pending_best = None
                files.save_checkpoint(_checkpoint("classifier", model, cfg, ev.state),
                                     run.checkpoints / "last.pt")  # fmt: skip
                saved_at = time.monotonic()

    return [on_event]


# ----------------------------------------------------------------------------- classifier


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
        init_run: a DEC run whose encoder initialises the classifier (``None``: from scratch).
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
        found = _reusable(cfg, data, root, kind="classifier", init_run=init_run,
                          init_checkpoint=init_checkpoint, labels=labels,
                          init=init_name(init_run, init_checkpoint), tag=tag)  # fmt: skip
        if found is not None:
            _say(f"reusing finished run {found.run_id} (same recipe, seed and data)")
            return found
    device, dd = _setup(cfg, data)
    model, transfer = _build_classifier(cfg, data, init_run, init_checkpoint)
    model.to(device)
    run = _classifier_run(cfg, data, labels=labels, init_run=init_run, transfer=transfer,
                          run_id=run_id, root=root, tag=tag, extra=extra)  # fmt: skip
    with _failing_marks(run):
        return _fit_and_report(cfg, data, dd, model, run, train_idx,
                               init=init_name(init_run, init_checkpoint), labels=labels,
                               transfer=transfer, tag=tag)  # fmt: skip


def _build_classifier(cfg: Config, data: Processed, init_run, init_checkpoint: str):
    """The classifier, from scratch or with the encoder of a DEC run's checkpoint."""
    model = models.build_classifier(cfg.model, data.dims, data.max_len)
    if init_run is None:
        return model, None
    if init_checkpoint not in ("last.pt", "stage1.pt"):
        raise ValueError(f"init_checkpoint={init_checkpoint!r}: expected 'last.pt' or "
                         "'stage1.pt'")  # fmt: skip
    dec_run = runs.load_run(init_run)
    dec = model_from_checkpoint(load_checkpoint(dec_run.checkpoints / init_checkpoint))
    transfer = models.transfer_encoder(dec, model)
    transfer["dec_run"] = dec_run.run_id
    transfer["checkpoint"] = init_checkpoint
    # what the pretraining saw, for the tables: rows (all = transductive), labels, stage 2 length
    dec_cfg = dec_run.config()
    dec_m = dec_run.metrics() if (dec_run.path / "metrics.json").exists() else {}
    transfer["dec_rows"] = dec_cfg.get("dec", {}).get("pretrain_rows")
    transfer["dec_labeled_fraction"] = dec_cfg.get("data", {}).get("labeled_fraction")
    transfer["dec_stage2_epochs"] = (0 if init_checkpoint == "stage1.pt"
                                     else dec_m.get("stage2_epochs_run"))  # fmt: skip
    return model, transfer


def _classifier_run(cfg: Config, data: Processed, *, labels, init_run, transfer, run_id, root,
                    tag, extra) -> runs.Run:  # fmt: skip
    run = runs.create_run(cfg, kind="classifier", run_id=run_id, root=root,
                          extra={**_data_info(data),
                                 "init": init_name(init_run, (transfer or {}).get("checkpoint")),
                                 "labels": labels, "tag": tag, **(extra or {})})  # fmt: skip
    if transfer is not None:
        run.save_json("transfer.json", transfer)
    return run


def init_name(init_run, init_checkpoint: str = "last.pt") -> str:
    """``scratch``; ``dec`` (a DEC run's final encoder); ``ae`` (its stage-1 autoencoder)."""
    if init_run is None:
        return "scratch"
    return "ae" if init_checkpoint == "stage1.pt" else "dec"


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
    (``seed_workers``, ``in_workers``).

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
                         f"entry per seed ({len(seeds)})")  # fmt: skip
    cfgs = [_variant_cfg(cfg, {"system.seed": s}) for s in seeds]
    kws = [dict(labels=labels, init_run=ir, init_checkpoint=init_checkpoint, run_id=rid,
                root=root, tag=tag, extra=extra)
           for ir, rid in zip(init_runs, run_ids, strict=True)]  # fmt: skip
    return in_workers("classifier", list(zip(cfgs, kws, strict=True)), data,
                      seed_workers(cfg, len(seeds)))  # fmt: skip


def resume_classifier(run: str | runs.Run, data: Processed) -> runs.Run:
    """Continue an interrupted classifier run from its ``checkpoints/last.pt``.

    The history rows after the checkpoint's epoch are discarded and the RNG states restored,
    so the finished run equals an uninterrupted one.
    """
    run = runs.load_run(run)
    ckpt = load_checkpoint(run.checkpoints / "last.pt")
    cfg = config_from_dict(ckpt["config"])
    device, dd = _setup(cfg, data)
    model = models.rebuild("classifier", ckpt["model_kwargs"]).to(device)
    hist = run.history()
    hist[hist["epoch"] <= ckpt["epoch"]].to_csv(run.path / "history.csv", index=False)
    meta = run.config()["provenance"]
    train_idx = data.train_rows(meta["labels"], cfg.data.zero_policy)
    tfile = run.path / "transfer.json"
    transfer = json.loads(tfile.read_text()) if tfile.exists() else None
    run.mark_running()
    with _failing_marks(run):
        return _fit_and_report(cfg, data, dd, model, run, train_idx, init=meta["init"],
                               labels=meta["labels"], transfer=transfer, tag=meta.get("tag"),
                               resume=ckpt)  # fmt: skip


def _fit_and_report(cfg, data, dd, model, run, train_idx, *, init, labels, transfer, tag=None,
                    resume=None) -> runs.Run:  # fmt: skip
    val_idx = data.rows("valid")
    t0 = time.perf_counter()
    res = fit_classifier(
        _maybe_compile(model, cfg),
        dd,
        cfg.train,
        cfg.system,
        train_idx=train_idx,
        val_idx=val_idx,
        zero_policy=cfg.data.zero_policy,
        hooks=_classifier_hooks(run, cfg, model),
        resume=resume,
    )
    seconds = time.perf_counter() - t0
    return _report(cfg, data, dd, model, run, train_idx, res, seconds, init=init, labels=labels,
                   transfer=transfer, tag=tag)  # fmt: skip


def _report(cfg, data, dd, model, run, train_idx, res, seconds, *, init, labels, transfer,
            tag) -> runs.Run:  # fmt: skip
    """Evaluate the selected weights (in ``model``) on every split and write metrics.json."""
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
    _save_predictions(run, data, outputs)
    n_train_total = int((data.split == "train").sum())
    out = {
        "kind": "classifier", "run_id": run.run_id, "name": cfg.name, "tag": tag, "init": init,
        "labels": labels, "label_fraction": len(train_idx) / max(n_train_total, 1),
        "labeled_fraction_cfg": cfg.data.labeled_fraction if labels == "labeled" else 1.0,
        "n_train": len(train_idx), "n_params": models.count_parameters(model),
        "seed": cfg.system.seed, "zero_policy": cfg.data.zero_policy,
        **_data_info(data), "best_epoch": res["best"]["epoch"],
        "epochs": cfg.train.epochs, "train_seconds": seconds, "device": str(dd.device),
        "select_split": "valid", "report_split": data.report_split,
        "valid": evals["valid"], "test": evals["test"], "report": evals[data.report_split],
        "transfer": transfer,
        # how the training steps and the epochs' validation forwards ran: eagerly or replayed
        # from CUDA graphs (system.cuda_graphs)
        "steps": res["steps"], "val_forwards": res["val_forwards"],
    }  # fmt: skip
    run.save_metrics(out)
    return run


def _save_predictions(run: runs.Run, data: Processed, outputs: dict[str, np.ndarray]) -> None:
    """``Run.save_predictions`` of ``outputs`` (split -> output on ``data.rows(split)``)."""
    idx = np.concatenate([data.rows(s) for s in outputs])
    run.save_predictions(ids=data.ids[idx], video=data.video[idx], split=data.split[idx],
                         label=data.labels[idx],
                         output=np.concatenate(list(outputs.values())))  # fmt: skip


# ----------------------------------------------------------------------------- reference


def logistic_reference(cfg: Config, data: Processed, *, labels: str = "labeled",
                       run_id: str | None = None, root=None, tag: str | None = None,
                       init: str = "logreg") -> runs.Run:  # fmt: skip
    """Fit a linear reference (``init``: one of ``reference.REFERENCES``) and write its run.

    The run is a ``classifier`` run with ``init`` naming the reference, so the comparison
    table, the summaries and the statistics read it like any classifier; ``epochs`` and
    ``best_epoch`` are 0 (no epochs), ``n_params`` counts the weights and the bias, ``search``
    holds the validation accuracy of every ``C``. ``tfidf`` reads the transcripts of the
    embedded source (``text_audio.read_transcripts``).
    """
    from mosi_lib import reference

    t0 = time.perf_counter()
    data = data_for(cfg, data)
    texts = None
    if init == "tfidf":
        from mosi_lib.data import text_audio

        texts = text_audio.read_transcripts(cfg.data.data_dir)
    res = reference.fit_logistic(data, labels=labels, zero_policy=cfg.data.zero_policy,
                                 init=init, texts=texts)  # fmt: skip
    run = runs.create_run(cfg, kind="classifier", run_id=run_id, root=root,
                          extra={**_data_info(data), "init": init, "labels": labels,
                                 "tag": tag})  # fmt: skip
    n_train_total = int((data.split == "train").sum())
    run.save_metrics({
        "kind": "classifier", "run_id": run.run_id, "name": cfg.name, "tag": tag,
        "init": init, "labels": labels, "label_fraction": res["n_train"] / n_train_total,
        "labeled_fraction_cfg": cfg.data.labeled_fraction if labels == "labeled" else 1.0,
        "n_train": res["n_train"], "n_params": res["n_features"] + 1, "seed": cfg.system.seed,
        "zero_policy": cfg.data.zero_policy, **_data_info(data), "best_epoch": 0, "epochs": 0,
        "train_seconds": time.perf_counter() - t0, "device": "cpu", "select_split": "valid",
        "report_split": data.report_split, "valid": res["valid"], "test": res["test"],
        "report": res["report"], "C": res["C"], "search": res["search"],
    })  # fmt: skip
    _save_predictions(run, data, res["outputs"])
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
                        labels=("labeled", "all"), inits=None) -> list[runs.Run]:  # fmt: skip
    """Each reference (``inits``; None: ``reference_inits``) for each of ``labels``, once.

    Once per data set and ``tag`` in ``root``: a reference already in ``root`` for the same
    cached data (``data_key``), labels, zero policy and tag is reused, so re-running notebook
    01 (or a sweep) never adds a second copy (which the tables would count as a second seed).
    """
    data = data_for(cfg, data)
    key = _data_info(data)["data_key"]
    out = []
    for init in inits or reference_inits(cfg, data):
        for lab in labels:
            found = runs.find_runs(root, kind="classifier", init=init, labels=lab, tag=tag,
                                   data_key=key, zero_policy=cfg.data.zero_policy)  # fmt: skip
            name = f"{cfg.name}_{init}_{lab}" + (f"_{tag}{100 * cfg.data.labeled_fraction:g}"
                                                 if tag else "")  # fmt: skip
            out.append(found[-1] if found else logistic_reference(
                cfg, data, labels=lab, root=root, tag=tag, init=init,
                run_id=runs.make_run_id(name, cfg.system.seed)))
    return out


# ----------------------------------------------------------------------------- DEC


def pretrain_dec(
    cfg: Config,
    data: Processed,
    *,
    run_id: str | None = None,
    root=None,
    tag: str | None = None,
    extra: dict[str, Any] | None = None,
    reuse: bool = False,
) -> runs.Run:
    """Run both DEC stages and write a run folder with latents and cluster metrics.

    Rows: every segment (``dec.pretrain_rows="all"``, the paper) or training rows only. Labels:
    only the labeled pool's training rows enter the supervised term.

    ``reuse``: return a finished DEC run under ``root`` with the same recipe, seed, data and
    tag instead of pretraining again (as in ``train_classifier``).

    Returns:
        The finished ``Run``: ``checkpoints/stage1.pt`` and ``last.pt``, ``latents.npz`` (z, q,
        cluster, label, split, pool, ids of the used rows), ``metrics.json``. If pretraining
        fails or is interrupted, the run folder is marked ``failed`` and the error raised.
    """
    data = data_for(cfg, data)
    if reuse:
        found = _reusable(cfg, data, root, kind="dec", tag=tag)
        if found is not None:
            _say(f"reusing finished DEC run {found.run_id} (same recipe, seed and data)")
            return found
    device, dd = _setup(cfg, data)
    model = models.build_dec(cfg.model, cfg.dec, data.dims, data.max_len).to(device)
    run = runs.create_run(cfg, kind="dec", run_id=run_id, root=root,
                          extra={**_data_info(data), "tag": tag, **(extra or {})})  # fmt: skip
    rows = np.arange(len(data)) if cfg.dec.pretrain_rows == "all" else data.rows("train")
    updates: list[dict[str, Any]] = []

    def on_event(ev: Event) -> None:
        if ev.name == "epoch_end":
            run.append_history(ev.row)
        elif ev.name == "target_update":
            updates.append({"epoch": ev.epoch, **ev.row})
        elif ev.name == "stage_end":
            name = "stage1.pt" if ev.row["stage"] == 1 else "last.pt"
            state = {"epoch": ev.epoch, "stage": ev.row["stage"],
                     "model_state": model.state_dict()}  # fmt: skip
            files.save_checkpoint(_checkpoint("dec", model, cfg, state), run.checkpoints / name)

    with _failing_marks(run):
        _pretrain_and_report(cfg, data, dd, model, run, rows, tag, updates, on_event)
    return run


def _pretrain_and_report(cfg, data, dd, model, run, rows, tag, updates, on_event) -> None:
    t0 = time.perf_counter()
    res = fit_dec(
        _maybe_compile(model, cfg),
        dd,
        cfg.dec,
        cfg.system,
        rows=rows,
        labeled_rows=data.train_rows("labeled", "has0"),
        zero_policy=cfg.data.zero_policy,
        hooks=[on_event],
    )
    seconds = time.perf_counter() - t0
    truth = (data.labels[rows] >= 0).astype(int)  # for reporting only; never trained on
    split = data.split[rows]
    cluster = {"all": metrics.cluster_metrics(truth, res["assign"])}
    rep = split == data.report_split
    # None when the pretraining rows hold no report-split row (dec.pretrain_rows="train")
    cluster[data.report_split] = (metrics.cluster_metrics(truth[rep], res["assign"][rep])
                                  if rep.any() else None)  # fmt: skip
    for key, sel in (("all", slice(None)), (data.report_split, rep)):
        if cluster[key] is not None:  # what one cluster for every row scores: the floor
            cluster[key]["floor"] = float(max(truth[sel].mean(), 1 - truth[sel].mean()))
    run.save_latents(z=res["z"], q=res["q"], cluster=res["assign"], label=data.labels[rows],
                     split=split, pool=data.pool[rows], ids=data.ids[rows])  # fmt: skip
    last = {k: v for k, v in res["history"][-1].items()} if res["history"] else {}
    out = {
        "kind": "dec", "run_id": run.run_id, "name": cfg.name, "tag": tag,
        "seed": cfg.system.seed, "labeled_fraction_cfg": cfg.data.labeled_fraction,
        **_data_info(data), "n_rows": len(rows),
        "n_labeled_rows": int(len(data.train_rows("labeled", cfg.data.zero_policy))),
        "n_params_total": models.count_parameters(model),
        "n_params_encoder": models.count_parameters(model.encoder),
        "cluster": cluster, "cluster_sizes": np.bincount(res["assign"],
                                                         minlength=cfg.dec.n_clusters).tolist(),
        "target_updates": updates, "stopped_early": res["stopped_early"],
        "stage2_stop": res["stage2_stop"], "center_init": res["center_init"],
        "stage2_epochs_run": sum(1 for h in res["history"] if h["stage"] == 2),
        "final": last, "train_seconds": seconds, "device": str(dd.device),
        "steps": res["steps"], "target_forwards": res["target_forwards"],
    }  # fmt: skip
    run.save_metrics(out)


def _variant_cfg(cfg: Config, changes: dict[str, Any]) -> Config:
    from mosi_lib.config import validate
    from mosi_lib.overrides import apply_overrides

    out = copy.deepcopy(cfg)
    return validate(apply_overrides(out, changes))


def _say(msg: str) -> None:
    print(msg, flush=True)
