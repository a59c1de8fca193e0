"""Fit the sentiment classifier (paper section 4.2): Adam, and the best epoch by validation.

``fit_classifier`` reads the recipe from the config's ``train`` section and how to run from its
``system`` section. Its step is the ordinary one (``zero_grad``, forward, loss, ``backward``,
``step``); ``fit_epochs``, the skeleton every classifier fit shares (the mean teacher's too,
``train.semi``), trains through ``loop.train_epoch``, validates after every epoch and keeps the
best weights by the checkpoint rule (``select_epoch``). Its hooks' ``epoch_end`` and
``improved`` events carry a checkpoint (``Event.state``) that ``resume`` continues from
exactly.

Speed: the data live on the device (``loop.DeviceData``); bf16 autocast on CUDA
(``system.amp``); the whole step as a CUDA graph on request (``system.cuda_graphs``,
``graphs.StepRunner`` wraps the ordinary step).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from functools import partial
from typing import Any

import numpy as np
import torch
from torch import nn

from mosi_lib import metrics
from mosi_lib.config import SystemConfig, TrainConfig
from mosi_lib.losses import classifier_loss
from mosi_lib.train import graphs
from mosi_lib.train.loop import (
    DeviceData,
    Event,
    Hook,
    autocast,
    evaluate_classifier,
    fire,
    minibatches,
    predict_logits,
    rng_state,
    set_rng_state,
    train_epoch,
)

# ----------------------------------------------------------------------------- selection


def new_result(model: nn.Module) -> dict[str, Any]:
    """A training result before epoch 1: no history, the initial weights as "best"."""
    return {
        "history": [],
        "best": {"epoch": 0, "acc": -math.inf, "loss": math.inf, "val": {}},
        "best_state": {k: v.detach().clone() for k, v in model.state_dict().items()},
    }


def epoch_row(
    epoch: int,
    train_loss: float,
    train_acc: float,
    val: dict[str, Any],
    lr: float,
    seconds: float,
    val_seconds: float,
) -> dict[str, Any]:
    """One epoch's history row (the columns of ``history.csv``).

    ``seconds`` is the epoch's wall time, validation included; ``val_seconds`` the part of it
    spent validating (forward of the validation rows, loss, metrics): what is left when the
    training steps are fast (``system.cuda_graphs``).
    """
    return {
        "epoch": epoch,
        "train_loss": train_loss,
        "train_acc": train_acc,
        "val_loss": val["loss"],
        "val_acc": val["acc"],
        "val_f1": val["f1"],
        "val_acc_has0": val["acc_has0"],
        "val_acc_non0": val["acc_non0"],
        "lr": lr,
        "seconds": seconds,
        "val_seconds": val_seconds,
    }


def select_epoch(res: dict[str, Any], epoch: int, val: dict[str, Any], model: nn.Module) -> bool:
    """The checkpoint rule (one place): keep this epoch if it improves the selection.

    Improves: higher validation accuracy, or equal accuracy with a lower validation loss. Then
    ``res["best"]`` and ``res["best_state"]`` take this epoch and ``model``'s weights.

    Returns:
        Whether this epoch improved.
    """
    best = res["best"]
    improved = val["acc"] > best["acc"] or (
        val["acc"] == best["acc"] and val["loss"] < best["loss"]
    )
    if improved:
        res["best"] = {"epoch": epoch, "acc": val["acc"], "loss": val["loss"], "val": val}
        res["best_state"] = {k: v.detach().clone() for k, v in model.state_dict().items()}
    return improved


# ----------------------------------------------------------------------------- fit


def fit_classifier(
    model: nn.Module,
    dd: DeviceData,
    cfg_train: TrainConfig,
    cfg_system: SystemConfig,
    *,
    train_idx: np.ndarray,
    val_idx: np.ndarray,
    zero_policy: str = "has0",
    hooks: list[Hook] | None = None,
    resume: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Train the classifier with ``train.objective`` and Adam; keep the best by val accuracy.

    Selection: highest validation accuracy under ``zero_policy``; ties go to the lower
    validation loss. The best weights are loaded back into ``model`` at the end.

    Args:
        model: maps ``(x, masks)`` to logits (B,).
        dd: data on the device.
        cfg_train: the recipe, a ``TrainConfig``: ``epochs``, ``batch_size``, ``lr``,
            ``weight_decay`` (paper: 500, 128, 4e-5, 1e-2) and ``objective`` (``bce``, the
            paper, or ``l1``: regression on the score; ``losses.classifier_loss``).
        cfg_system: how to run, a ``SystemConfig``: ``seed`` (seeds the shuffling generator),
            ``amp`` (bf16 autocast on CUDA), ``progress`` (a tqdm bar with live
            loss/accuracy) and ``cuda_graphs`` (on CUDA, replay each batch size's whole
            training step as a CUDA graph, ``graphs.StepRunner``, with Adam built
            ``capturable=True``, and the validation forward as another,
            ``graphs.ForwardRunner``; ignored elsewhere).
        train_idx, val_idx: row indices (the caller applies the zero policy to ``train_idx``).
        zero_policy: ``has0`` or ``non0`` binary target.
        hooks: called with ``Event("epoch_end")`` after each epoch and ``Event("improved")``
            when the selected metric improves (state holds what a checkpoint needs).
        resume: a checkpoint dict (from ``Event.state``) to continue from.

    Returns:
        ``{"history": [rows], "best": {"epoch", "val": metrics}, "best_state": state_dict,
        "steps": {"eager", "graph_replays"}, "val_forwards": {"eager", "graph_replays"}}``
        (how the training steps and the epochs' validation forwards ran).
    """
    device, amp = dd.device, cfg_system.amp
    tr = torch.as_tensor(np.asarray(train_idx), dtype=torch.long, device=device)
    va = torch.as_tensor(np.asarray(val_idx), dtype=torch.long, device=device)
    if len(tr) < 2:
        raise ValueError(f"need at least 2 training rows, got {len(tr)}")
    target_all = metrics.binary_target(dd.scores, zero_policy)[0].float()
    lossf = partial(classifier_loss, objective=cfg_train.objective, zero_policy=zero_policy)
    use_graphs = cfg_system.cuda_graphs and graphs.supported(device)
    opt = torch.optim.Adam(
        model.parameters(),
        lr=cfg_train.lr,
        weight_decay=cfg_train.weight_decay,
        capturable=graphs.capturable(use_graphs, device),
    )
    gen = torch.Generator().manual_seed(cfg_system.seed)
    res = new_result(model)
    start_epoch = 1
    if resume is not None:
        model.load_state_dict(resume["model_state"])
        opt.load_state_dict(resume["optimizer_state"])
        set_rng_state(gen, resume["rng"])
        res = {
            "history": list(resume["history"]),
            "best": resume["best"],
            "best_state": resume["best_state"],
        }
        start_epoch = resume["epoch"] + 1
    # the epoch's running sums (loss x rows, correct predictions) stay on the device and are
    # changed in place only: a captured step (cuda_graphs) adds into this very tensor
    sums = torch.zeros(2, device=device)

    def step(bidx: torch.Tensor) -> None:
        opt.zero_grad(set_to_none=True)
        x, masks = dd.batch(bidx)
        with autocast(device, amp, cache=not use_graphs):
            logits = model(x, masks).float()
        loss = lossf(logits, dd.scores.index_select(0, bidx))
        loss.backward()
        opt.step()
        with torch.no_grad():
            y = target_all.index_select(0, bidx)
            sums[0] += loss.detach() * len(bidx)
            sums[1] += ((logits.detach() > 0).float() == y).sum()

    # system.cuda_graphs: the step replayed as a CUDA graph per batch size, the validation
    # forward (the same rows every epoch) as another; both run eagerly otherwise
    runner = graphs.StepRunner(step, optimizer=opt, device=device, enabled=use_graphs)
    val_forward = graphs.ForwardRunner(
        lambda: predict_logits(model, dd, va, amp=amp, cache=not use_graphs),
        device=device,
        enabled=use_graphs,
        what="validation forward",
    )
    res = fit_epochs(model, dd, cfg_train, cfg_system, step=runner, optimizer=opt, sums=sums,
                     train_rows=tr, val_rows=va, val_forward=val_forward,
                     zero_policy=zero_policy, hooks=hooks, gen=gen, res=res,
                     start_epoch=start_epoch)
    res["steps"] = runner.counts()
    res["val_forwards"] = val_forward.counts()
    return res


def fit_epochs(
    model: nn.Module,
    dd: DeviceData,
    cfg_train: TrainConfig,
    cfg_system: SystemConfig,
    *,
    step: Callable[[torch.Tensor], Any],
    optimizer: torch.optim.Optimizer,
    sums: torch.Tensor,
    train_rows: torch.Tensor,
    val_rows: torch.Tensor,
    zero_policy: str,
    hooks: list[Hook] | None,
    gen: torch.Generator,
    res: dict[str, Any],
    start_epoch: int = 1,
    selected: nn.Module | None = None,
    val_forward: Callable[[], torch.Tensor] | None = None,
    before_epoch: Callable[[int], None] | None = None,
    more_columns: Callable[[list[float], int], dict[str, Any]] | None = None,
    more_state: Callable[[], dict[str, Any]] | None = None,
    desc: str = "classifier",
) -> dict[str, Any]:
    """The epochs every classifier fit shares: train, validate, select, report.

    Per epoch: ``before_epoch(epoch)`` (what a fit changes per epoch), ``model`` in train
    mode, ``step`` once per shuffled mini-batch of ``train_rows`` (``loop.train_epoch``; it adds
    loss x rows and correct predictions into ``sums[0]`` and ``sums[1]``, a fit's own sums
    after them), the validation rows' logits of ``selected`` (``val_forward()``, by default
    ``loop.predict_logits``) scored (``loop.evaluate_classifier``), the history row
    (``epoch_row`` and ``more_columns(the other sums, rows trained)``), the checkpoint rule
    (``select_epoch`` on ``selected``), then the hooks' ``improved`` and ``epoch_end`` events
    with a checkpoint (``more_state()`` adds to it). ``selected``'s best weights are loaded into
    ``model`` at the end.

    Args:
        model, dd, cfg_train, cfg_system, zero_policy, hooks: as ``fit_classifier``.
        step: one training step (``optimizer.zero_grad``, forward, loss, backward, step).
        optimizer, gen: the fit's optimizer and its shuffling generator (checkpointed).
        res: ``new_result(model)``, or a resumed run's; ``start_epoch``: its first epoch.
        selected: the model whose validation accuracy selects (default ``model``; the mean
            teacher's teacher).

    Returns:
        ``res``: ``history``, ``best`` and ``best_state``.
    """
    from tqdm import tqdm

    selected = model if selected is None else selected
    amp = cfg_system.amp
    if val_forward is None:
        def val_forward():
            return predict_logits(selected, dd, val_rows, amp=amp)

    bar = tqdm(
        range(start_epoch, cfg_train.epochs + 1),
        desc=desc,
        disable=not cfg_system.progress,
        initial=start_epoch - 1,
        total=cfg_train.epochs,
        leave=False,
    )
    for epoch in bar:
        t0 = time.perf_counter()
        if before_epoch is not None:
            before_epoch(epoch)
        model.train()
        n_seen, values = train_epoch(
            step, minibatches(train_rows, cfg_train.batch_size, gen), sums=sums
        )
        t_val = time.perf_counter()
        val = evaluate_classifier(selected, dd, val_rows, zero_policy, amp=amp,
                                  objective=cfg_train.objective, logits=val_forward())
        now = time.perf_counter()
        lr = optimizer.param_groups[0]["lr"]
        row = epoch_row(epoch, values[0] / n_seen, values[1] / n_seen, val, lr, now - t0,
                        now - t_val)
        if more_columns is not None:
            row.update(more_columns(values[2:], n_seen))
        res["history"].append(row)
        improved = select_epoch(res, epoch, val, selected)
        if hooks:
            ckpt = {
                "epoch": epoch,
                "model_state": model.state_dict(),
                **(more_state() if more_state is not None else {}),
                "optimizer_state": optimizer.state_dict(),
                "rng": rng_state(gen),
                "best": res["best"],
                "best_state": res["best_state"],
                "history": res["history"],
            }
            if improved:
                fire(hooks, Event("improved", epoch, model, optimizer, row, ckpt))
            fire(hooks, Event("epoch_end", epoch, model, optimizer, row, ckpt))
        bar.set_postfix(
            loss=f"{row['train_loss']:.3f}",
            val_acc=f"{row['val_acc']:.3f}",
            best=f"{res['best']['acc']:.3f}@{res['best']['epoch']}",
        )
    bar.close()
    model.load_state_dict(res["best_state"])
    return res
