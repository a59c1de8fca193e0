"""Pretraining runs (DEC, contrastive) and the self-describing checkpoints classifiers start from.

DEC runs: pretrain both DEC stages and write a run folder with latents and cluster metrics.

``pretrain_dec`` binds ``train.dec.fit_dec`` to a run folder: ``history.csv`` every epoch, a
checkpoint after each stage (``stage1.pt``, ``last.pt``), then ``latents.npz`` for the t-SNE
figure and ``metrics.json`` with the cluster metrics.

Stage 1 reads no label, so one stage 1 serves every labeled share of a seed (``stage1_key``,
``find_stage1``): a DEC run whose stage 1 is the stage 1 of a finished run (same key) starts
stage 2 from that run's ``stage1.pt`` and says so (``metrics.json`` ``stage1_from``). The result
is the one training stage 1 again would give (the random states are restored too; a test
checks it bit for bit), so this is how a run is computed, not what it computes: not part of
the recipe (``system.share_stage1``).

Self-describing checkpoints: what a run's checkpoint holds, reading it, rebuilding its model.

A checkpoint alone is enough to rebuild the model (``kind`` and ``model_kwargs``) and to resume
the run (its config and the training state the fit hands to its hooks).

Contrastive (CMC) pretraining runs: one run folder per seed, and those of a grid point.

``pretrain_contrastive`` binds ``train.contrastive.fit_contrastive`` to a run folder of kind
``contrastive``: ``history.csv`` every epoch, ``checkpoints/last.pt`` (the model with its
encoder: a classifier starts from it as from a DEC run, ``classifier_runs.train_classifier``'s
``init_run``), ``metrics.json``. ``grids.pretrainings_for`` finds or pretrains the runs of one
grid point, as for DEC. Label-free: no label of any row is read.
"""

from __future__ import annotations

import hashlib
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

from mosi_lib import files, metrics, models, paths, runs
from mosi_lib.config import Config, config_hash
from mosi_lib.data.preprocess import Processed
from mosi_lib.study.execution import (
    data_for,
    data_info,
    failing_marks,
    find_reusable,
    maybe_compile,
    say,
    setup_run,
)
from mosi_lib.study.studies import STUDY_FILE
from mosi_lib.train.dec import fit_dec
from mosi_lib.train.loop import Event
from mosi_lib.train.semi import ContrastiveModel, build_contrastive, fit_contrastive, usable_rows

# =============================================================================
# Self-describing checkpoints: what a run's checkpoint holds, reading it, rebuilding its model.

def checkpoint_dict(kind: str, model, cfg: Config, state: dict[str, Any]) -> dict[str, Any]:
    """A self-describing checkpoint: enough to rebuild the model and to resume."""
    return {"kind": kind, "model_kwargs": model.init_kwargs, "config": cfg.to_dict(), **state}


def load_checkpoint(path) -> dict[str, Any]:
    """Read a checkpoint written by a run (``weights_only=False``: it holds our own dicts)."""
    return files.load_checkpoint(path, map_location="cpu")


def model_from_checkpoint(ckpt: dict[str, Any], which: str = "model_state") -> torch.nn.Module:
    """Rebuild the model a checkpoint describes and load its weights (``best_state`` or last).

    Kinds: ``classifier``, ``dec`` (``models.rebuild``) and ``contrastive``
    (``train.contrastive.ContrastiveModel``).
    """
    if ckpt["kind"] == "contrastive":
        model = ContrastiveModel.rebuild(ckpt["model_kwargs"])
    else:
        model = models.rebuild(ckpt["kind"], ckpt["model_kwargs"])
    model.load_state_dict(ckpt[which])
    return model


# =============================================================================
# DEC runs: pretrain both DEC stages and write a run folder with latents and cluster metrics.

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
    tag instead of pretraining again (as in ``classifier_runs.train_classifier``).

    Returns:
        The finished ``Run``: ``checkpoints/stage1.pt`` and ``last.pt``, ``latents.npz`` (z, q,
        cluster, label, split, pool, ids of the used rows), ``metrics.json``. If pretraining
        fails or is interrupted, the run folder is marked ``failed`` and the error raised.
    """
    data = data_for(cfg, data)
    if reuse:
        found = find_reusable(cfg, data, root, kind="dec", tag=tag)
        if found is not None:
            say(f"reusing finished DEC run {found.run_id} (same recipe, seed and data)")
            return found
    device, dd = setup_run(cfg, data)
    model = models.build_dec(cfg.model, cfg.dec, data.dims, data.max_len).to(device)
    run = runs.create_run(cfg, kind="dec", run_id=run_id, root=root,
                          extra={**data_info(data), "tag": tag, **(extra or {})})
    rows = np.arange(len(data)) if cfg.dec.pretrain_rows == "all" else data.rows("train")
    key = stage1_key(cfg, data, rows)
    shared = find_stage1(root, cfg.system.seed, key) if cfg.system.share_stage1 else None
    if shared is not None:
        say(f"stage 1 of DEC run {shared[0]} reused (same features, rows, seed and stage-1 "
            "recipe; stage 1 reads no label)")
    updates: list[dict[str, Any]] = []

    def on_event(ev: Event) -> None:
        if ev.name == "epoch_end":
            run.append_history(ev.row)
        elif ev.name == "target_update":
            updates.append({"epoch": ev.epoch, **ev.row})
        elif ev.name == "stage_end":
            name = "stage1.pt" if ev.row["stage"] == 1 else "last.pt"
            state = {"epoch": ev.epoch, "stage": ev.row["stage"],
                     "model_state": model.state_dict()}
            if ev.row["stage"] == 1:  # what a later share's run needs to start stage 2 here
                state.update(rng=ev.row["rng"], history=ev.row["history"], stage1_key=key)
            files.save_checkpoint(checkpoint_dict("dec", model, cfg, state),
                                  run.checkpoints / name)

    with failing_marks(run):
        _pretrain_and_report(cfg, data, dd, model, run, rows=rows, tag=tag, updates=updates,
                             on_event=on_event, shared=shared, s1_key=key)
    return run


def stage1_key(cfg: Config, data: Processed, rows: np.ndarray) -> str:
    """The key of what decides a DEC run's stage 1 (runs with one key train the same stage 1).

    Hashed: the features and masks of ``rows``, the rows, the seed, the model, every ``dec``
    field but stage 2's, and the data config but the labeled share and draw (stage 1 reads no
    label; the features themselves are hashed). Conservative: a field that might matter is
    kept, so runs that differ in any kept field do not share.
    """
    d = cfg.to_dict()
    dec = {k: v for k, v in d["dec"].items()
           if not k.startswith("stage2_") and k not in _STAGE2_FIELDS}
    data_cfg = {k: v for k, v in d["data"].items()
                if k not in ("labeled_fraction", "draw", "split_seed", "data_dir")}
    h = hashlib.sha256()
    for m in sorted(data.x):
        h.update(np.ascontiguousarray(data.x[m][rows]).tobytes())
        h.update(np.ascontiguousarray(data.masks[m][rows]).tobytes())
    h.update(np.asarray(rows, dtype=np.int64).tobytes())
    return config_hash({"features": h.hexdigest(), "seed": cfg.system.seed, "dec": dec,
                        "model": d["model"], "data": data_cfg, "amp": cfg.system.amp,
                        "deterministic": cfg.system.deterministic})


_STAGE2_FIELDS = ("degenerate_remedy", "min_cluster_share", "tol", "update_interval",
                  "kmeans_n_init")
"""``dec`` fields that only stage 2 (or the centres' start) reads, besides ``stage2_*``."""


def find_stage1(root, seed: int, key: str) -> tuple[str, dict[str, Any]] | None:
    """A finished DEC run of ``seed`` whose stage 1 has ``key``, and its ``stage1.pt``.

    Searched: the runs under ``root`` and under the other study folders beside it (those with
    a ``study.json``: a study of another labeled share), oldest first; None when there is none.
    """
    root = Path(root) if root else paths.runs_dir()
    folders = [root, *sorted(p for p in root.parent.iterdir()
                             if p != root and (p / STUDY_FILE).is_file())]
    for folder in folders:
        for found in runs.find_runs(folder, kind="dec", seed=seed, stage1_key=key):
            path = found.checkpoints / "stage1.pt"
            if path.is_file():
                ckpt = files.load_checkpoint(path)
                if ckpt.get("stage1_key") == key and "rng" in ckpt:
                    return found.run_id, ckpt
    return None


def _pretrain_and_report(cfg, data, dd, model, run, *, rows, tag, updates, on_event, shared,
                         s1_key) -> None:
    """Both DEC stages on ``rows`` (``fit_dec``), then the run's latents and its record."""
    t0 = time.perf_counter()
    res = fit_dec(
        maybe_compile(model, cfg),
        dd,
        cfg.dec,
        cfg.system,
        rows=rows,
        labeled_rows=data.train_rows("labeled", "has0"),
        zero_policy=cfg.data.zero_policy,
        hooks=[on_event],
        stage1=None if shared is None else shared[1],
    )
    seconds = time.perf_counter() - t0
    truth = (data.labels[rows] >= 0).astype(int)  # for reporting only; never trained on
    split = data.split[rows]
    cluster = {"all": metrics.cluster_metrics(truth, res["assign"])}
    rep = split == data.report_split
    # None when the pretraining rows hold no report-split row (dec.pretrain_rows="train")
    cluster[data.report_split] = (metrics.cluster_metrics(truth[rep], res["assign"][rep])
                                  if rep.any() else None)
    for key, sel in (("all", slice(None)), (data.report_split, rep)):
        if cluster[key] is not None:  # what one cluster for every row scores: the floor
            cluster[key]["floor"] = float(max(truth[sel].mean(), 1 - truth[sel].mean()))
    run.save_latents(z=res["z"], q=res["q"], cluster=res["assign"], label=data.labels[rows],
                     split=split, pool=data.pool[rows], ids=data.ids[rows])
    last = {k: v for k, v in res["history"][-1].items()} if res["history"] else {}
    out = {
        "kind": "dec", "run_id": run.run_id, "name": cfg.name, "tag": tag,
        "seed": cfg.system.seed, "labeled_fraction_cfg": cfg.data.labeled_fraction,
        **data_info(data), "n_rows": len(rows),
        "n_labeled_rows": int(len(data.train_rows("labeled", cfg.data.zero_policy))),
        "n_params_total": models.count_parameters(model),
        "n_params_encoder": models.count_parameters(model.encoder),
        "cluster": cluster,
        "cluster_sizes": np.bincount(res["assign"], minlength=cfg.dec.n_clusters).tolist(),
        "target_updates": updates, "stopped_early": res["stopped_early"],
        "stage2_stop": res["stage2_stop"], "center_init": res["center_init"],
        "stage2_epochs_run": sum(1 for h in res["history"] if h["stage"] == 2),
        "final": last, "train_seconds": seconds, "device": str(dd.device),
        "steps": res["steps"], "target_forwards": res["target_forwards"],
        "stage1_key": s1_key, "stage1_from": None if shared is None else shared[0],
    }
    run.save_metrics(out)


# =============================================================================
# Contrastive (CMC) pretraining runs: one run folder per seed, and those of a grid point.

def pretrain_contrastive(
    cfg: Config,
    data: Processed,
    *,
    run_id: str | None = None,
    root=None,
    tag: str | None = None,
    extra: dict[str, Any] | None = None,
    reuse: bool = False,
) -> runs.Run:
    """Pretrain the encoder by CMC's InfoNCE and write a run folder of kind ``contrastive``.

    Rows: every segment (``semi.cmc_pretrain_rows="all"``: transductive, as DEC's default) or
    the training rows only, each with a valid step in every modality (``usable_rows``).

    ``reuse``: return a finished contrastive run under ``root`` with the same recipe
    (``runs.recipe_hash(cfg, "contrastive")``), seed, data and tag instead.

    Returns:
        The finished ``Run``: ``checkpoints/last.pt``, ``history.csv``, ``metrics.json``. If
        pretraining fails or is interrupted, the run folder is marked and the error raised.
    """
    data = data_for(cfg, data)
    if reuse:
        found = find_reusable(cfg, data, root, kind="contrastive", tag=tag)
        if found is not None:
            say(f"reusing finished contrastive run {found.run_id} (same recipe, seed and data)")
            return found
    device, dd = setup_run(cfg, data)
    model = build_contrastive(cfg.model, cfg.semi, data.dims, data.max_len).to(device)
    run = runs.create_run(cfg, kind="contrastive", run_id=run_id, root=root,
                          extra={**data_info(data), "tag": tag, **(extra or {})})
    every = np.arange(len(data)) if cfg.semi.cmc_pretrain_rows == "all" else data.rows("train")
    rows = usable_rows(data.masks, every)

    def on_event(ev: Event) -> None:
        if ev.name == "epoch_end":
            run.append_history(ev.row)

    with failing_marks(run):
        t0 = time.perf_counter()
        res = fit_contrastive(maybe_compile(model, cfg), dd, cfg.semi, cfg.system, rows=rows,
                              val_rows=usable_rows(data.masks, data.rows("valid")),
                              hooks=[on_event])
        seconds = time.perf_counter() - t0
        state = {"epoch": cfg.semi.cmc_epochs, "model_state": model.state_dict()}
        files.save_checkpoint(checkpoint_dict("contrastive", model, cfg, state),
                              run.checkpoints / "last.pt")
        last = res["history"][-1] if res["history"] else {}
        run.save_metrics({
            "kind": "contrastive", "run_id": run.run_id, "name": cfg.name, "tag": tag,
            "seed": cfg.system.seed, "labeled_fraction_cfg": cfg.data.labeled_fraction,
            **data_info(data), "pretrain_rows": cfg.semi.cmc_pretrain_rows,
            "n_rows": int(len(rows)), "n_rows_without_a_modality": int(len(every) - len(rows)),
            "n_params_total": models.count_parameters(model),
            "n_params_encoder": models.count_parameters(model.encoder),
            "epochs": cfg.semi.cmc_epochs, "temperature": cfg.semi.cmc_temperature,
            "chance_loss": float(np.log(min(cfg.semi.cmc_batch_size, len(rows)))),
            "final": last, "train_seconds": seconds, "device": str(dd.device),
            "steps": res["steps"],
        })
    return run
