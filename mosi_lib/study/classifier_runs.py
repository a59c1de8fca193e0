"""Classifier runs: train the transformer classifier (one seed or several), resume one.

Each call trains from scratch or from a DEC run's encoder and writes one run folder per seed,
binding ``train.classifier.fit_classifier`` to the folder with hooks (``classifier_hooks``):

* ``train_classifier``: on the labeled pool (``labels="labeled"``, e.g. 40%) or on every
  training label (``labels="all"``); ``train_classifiers``: the same for several seeds;
* ``finetune_runs``: notebook 04's three runs (from DEC on the labeled pool and on all labels,
  from scratch on all labels);
* ``resume_classifier``: continue an interrupted run from ``checkpoints/last.pt``.

Several runs go through the worker pool (``parallel.in_workers``).
"""

from __future__ import annotations

import json
import time
from functools import partial
from typing import Any

from mosi_lib import files, models
from mosi_lib.config import Config, config_from_dict
from mosi_lib.data.preprocess import Processed
from mosi_lib.study import runs
from mosi_lib.study.checkpoints import checkpoint_dict, load_checkpoint, model_from_checkpoint
from mosi_lib.study.classifier_report import report_classifier
from mosi_lib.study.parallel import in_workers, seed_workers
from mosi_lib.study.run_support import (
    data_for,
    data_info,
    failing_marks,
    find_reusable,
    maybe_compile,
    say,
    setup_run,
    variant_cfg,
)
from mosi_lib.study.semi_runs import fit_for_method
from mosi_lib.train.classifier import fit_classifier
from mosi_lib.train.loop import Event, Hook


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
        return _fit_and_report(cfg, data, dd, model, run, train_idx,
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


def _fit_and_report(cfg, data, dd, model, run, train_idx, *, init, labels, transfer, tag=None,
                    resume=None) -> runs.Run:
    val_idx = data.rows("valid")
    t0 = time.perf_counter()
    # semi.method none: fit_classifier; self_training, mean_teacher: semi_runs.fit_for_method
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
    return report_classifier(cfg, data, dd, model, run, train_idx, res, seconds, init=init,
                             labels=labels, transfer=transfer, tag=tag)


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
        return _fit_and_report(cfg, data, dd, model, run, train_idx, init=meta["init"],
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
    (``parallel.seed_workers``, ``parallel.in_workers``).

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
    independent: they train at the same time in worker processes (``parallel.seed_workers``:
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
