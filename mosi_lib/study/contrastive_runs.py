"""Contrastive (CMC) pretraining runs: one run folder per seed, and those of a grid point.

``pretrain_contrastive`` binds ``train.contrastive.fit_contrastive`` to a run folder of kind
``contrastive``: ``history.csv`` every epoch, ``checkpoints/last.pt`` (the model with its
encoder: a classifier starts from it as from a DEC run, ``classifier_runs.train_classifier``'s
``init_run``), ``metrics.json``. ``contrastives_for`` finds or pretrains the runs of one grid
point, as ``grids.decs_for`` does for DEC. Label-free: no label of any row is read.
"""

from __future__ import annotations

import time
from typing import Any

import numpy as np

from mosi_lib import files, models
from mosi_lib.config import Config
from mosi_lib.data.preprocess import Processed
from mosi_lib.study import runs
from mosi_lib.study.checkpoints import checkpoint_dict
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
from mosi_lib.train.contrastive import build_contrastive, fit_contrastive, usable_rows
from mosi_lib.train.loop import Event


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
    (``hashing.recipe_hash(cfg, "contrastive")``), seed, data and tag instead.

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


def contrastives_for(cfg: Config, data: Processed, *, root, seeds, tag: str, what: str,
                     prefix: str) -> dict[int, runs.Run]:
    """The contrastive runs of one grid point, one per seed: found under ``root`` or pretrained.

    A run is found by tag, or is the same experiment under another tag of the study (same
    recipe, seed, data, modalities), which then counts under this tag too (``Run.add_tag``).
    Missing seeds pretrain one after the other, or in worker processes (``seed_workers``).

    Returns:
        seed -> contrastive run (``<prefix>_cmc_s<seed>`` when pretrained here).
    """
    found: dict[int, runs.Run | None] = {}
    for s in map(int, seeds):
        hits = [r for r in runs.find_same(root, cfg, kind="contrastive", seed=s, tag=tag)
                if r.metrics().get("modalities") == data.modalities]
        other = None if hits else find_reusable(variant_cfg(cfg, {"system.seed": s}), data,
                                                root, kind="contrastive",
                                                modalities=data.modalities)
        if other is not None:
            say(f"{what}, seed {s}: the same experiment as {other.run_id}; counted under "
                f"{tag!r} too, not trained again")
            other.add_tag(tag)
        found[s] = hits[-1] if hits else other
    todo = [s for s, r in found.items() if r is None]
    if todo:
        say(f"{what}, seed{'s' if len(todo) > 1 else ''} {', '.join(map(str, todo))}: "
            "contrastive pretraining")
        jobs = [(variant_cfg(cfg, {"system.seed": s}),
                 dict(root=root, tag=tag, run_id=runs.make_run_id(f"{prefix}_cmc", s)))
                for s in todo]
        new = in_workers(pretrain_contrastive, jobs, data, seed_workers(cfg, len(todo)))
        found.update(zip(todo, new, strict=True))
    return found
