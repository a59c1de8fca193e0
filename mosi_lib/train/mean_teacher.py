"""Mean teacher: a student fitted to the labels and to an EMA teacher's outputs under noise.

Reference: Tarvainen & Valpola 2017, "Mean teachers are better role models: Weight-averaged
consistency targets improve semi-supervised deep learning results" (the teacher's weights are an
exponential moving average of the student's; the consistency cost is applied to labeled and
unlabeled rows alike; each model sees its own noise).

* ``ema_decay_at``, ``ema_update``: the teacher's update, the reference implementation's start;
* ``perturb``: the noise that fits these inputs (pre-extracted feature sequences): Gaussian
  feature noise, word (step) dropout, modality dropout; dropout inside both models too;
* ``fit_mean_teacher``: the loop, with the classifier fit's selection and hook events
  (``train.classifier``), so a run folder records it like any classifier run.

One epoch is one pass over the labeled training rows in mini-batches of ``train.batch_size``
(as a scratch run's epoch); each step adds an equal batch drawn with replacement from all the
training rows (labeled and unlabeled; never a validation or test row), and the consistency cost
covers both batches. Eager steps only (``system.cuda_graphs`` is not used here).
"""

from __future__ import annotations

import copy
import time
from functools import partial
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn

from mosi_lib import metrics
from mosi_lib.config import SystemConfig, TrainConfig
from mosi_lib.losses import classifier_loss, consistency_loss, sigmoid_rampup
from mosi_lib.semi_config import SemiConfig
from mosi_lib.train.batches import DeviceData, minibatches
from mosi_lib.train.classifier import epoch_row, new_result, select_epoch
from mosi_lib.train.evaluate import evaluate_classifier
from mosi_lib.train.loop import Event, Hook, fire, train_epoch
from mosi_lib.train.system import autocast

# ----------------------------------------------------------------------------- teacher


def ema_decay_at(step: int, decay: float) -> float:
    """The decay of update ``step`` (1, 2, ...): min(1 - 1/(step + 1), decay).

    Early on the teacher is the plain average of the students so far (the reference
    implementation's start), later the exponential average with ``decay``.
    """
    return min(1.0 - 1.0 / (step + 1), decay)


@torch.no_grad()
def ema_update(teacher: nn.Module, student: nn.Module, decay: float) -> None:
    """theta_teacher <- decay * theta_teacher + (1 - decay) * theta_student, every parameter.

    Buffers (BatchNorm's running statistics) are not averaged: the teacher's follow its own
    forward passes in train mode, as in the reference implementation.

    Raises:
        ValueError: ``decay`` outside [0, 1] or the two models' parameters differ in number.
    """
    if not 0.0 <= decay <= 1.0:
        raise ValueError(f"ema_update: decay={decay}: need [0, 1]")
    pt, ps = list(teacher.parameters()), list(student.parameters())
    if len(pt) != len(ps):
        raise ValueError(f"ema_update: teacher has {len(pt)} parameters, student {len(ps)}")
    for t, s in zip(pt, ps, strict=True):
        t.mul_(decay).add_(s.detach(), alpha=1.0 - decay)


# ----------------------------------------------------------------------------- noise


def perturb(
    x: dict[str, Tensor],
    masks: dict[str, Tensor],
    *,
    noise_std: float,
    step_dropout: float,
    modality_dropout: float,
) -> tuple[dict[str, Tensor], dict[str, Tensor]]:
    """A noisy copy of a batch (torch's global generator, seeded by the run).

    * Gaussian noise of ``noise_std`` added to every feature (the features are scaled to unit
      variance on the training rows, so it is in standard deviations);
    * each valid step dropped from its mask with ``step_dropout`` (word dropout), a row keeping
      its mask when every step would go (so a one-step modality is never emptied);
    * each modality of a row masked whole with ``modality_dropout``, a row keeping every
      modality when all would go.

    A masked step never reaches the pooled output (``models.ModalityEncoder``), so dropping
    from the mask is dropping the step.

    Args:
        x: modality -> (B, T, D_m) features; masks: modality -> (B, T) bool, True = valid.
        noise_std, step_dropout, modality_dropout: ``semi.mt_*``.

    Returns:
        ``(x, masks)``, new tensors (the inputs are not changed).
    """
    out_x = {m: v + noise_std * torch.randn_like(v) if noise_std > 0 else v for m, v in x.items()}
    out_m = {}
    for m, mask in masks.items():
        if step_dropout > 0:
            kept = mask & (torch.rand(mask.shape, device=mask.device) >= step_dropout)  # (B, T)
            mask = torch.where(kept.any(dim=1, keepdim=True), kept, mask)
        out_m[m] = mask
    if modality_dropout > 0 and len(out_m) > 1:
        names = list(out_m)
        b = out_m[names[0]].shape[0]
        keep = torch.rand(b, len(names), device=out_m[names[0]].device) >= modality_dropout
        keep |= ~keep.any(dim=1, keepdim=True)  # (B, M): never every modality of a row
        out_m = {m: out_m[m] & keep[:, i, None] for i, m in enumerate(names)}
    return out_x, out_m


# ----------------------------------------------------------------------------- fit


def fit_mean_teacher(
    model: nn.Module,
    dd: DeviceData,
    cfg_train: TrainConfig,
    cfg_system: SystemConfig,
    cfg_semi: SemiConfig,
    *,
    train_idx: np.ndarray,
    extra_idx: np.ndarray,
    val_idx: np.ndarray,
    zero_policy: str = "has0",
    hooks: list[Hook] | None = None,
) -> dict[str, Any]:
    """Train ``model`` (the student) with a mean teacher; keep the best epoch by validation.

    Loss per step: ``classifier_loss`` on the labeled batch + w(epoch) x ``consistency_loss``
    between student and teacher on the labeled batch and an equal batch of ``extra_idx``, each
    model on its own ``perturb`` noise and in train mode; w = ``semi.mt_consistency_weight`` x
    ``sigmoid_rampup`` over ``semi.mt_rampup_epochs``. After each step ``ema_update`` with
    ``ema_decay_at(step, semi.mt_ema_decay)``. The teacher starts as a copy of the student.
    Selection: the validation accuracy of ``semi.mt_select`` (teacher or student) after every
    epoch, ties to the lower validation loss (``classifier.select_epoch``); those weights are
    left in ``model``.

    Args:
        model, dd, cfg_train, cfg_system, zero_policy, hooks: as ``fit_classifier`` (the
            checkpoint of an event also holds ``teacher_state``).
        cfg_semi: the ``mt_*`` fields.
        train_idx: the labeled training rows.
        extra_idx: the rows of the consistency batches: every training row.
        val_idx: the validation rows.

    Returns:
        As ``fit_classifier``; history rows add ``sup_loss``, ``consistency`` and
        ``cons_weight`` (the epoch's means and weight).
    """
    from tqdm import tqdm

    device, amp = dd.device, cfg_system.amp
    tr = torch.as_tensor(np.asarray(train_idx), dtype=torch.long, device=device)
    ex = torch.as_tensor(np.asarray(extra_idx), dtype=torch.long, device=device)
    va = torch.as_tensor(np.asarray(val_idx), dtype=torch.long, device=device)
    if len(tr) < 2 or len(ex) < 1:
        raise ValueError(f"need at least 2 labeled and 1 extra training row, got {len(tr)} "
                         f"and {len(ex)}")
    if np.isin(np.asarray(extra_idx), np.asarray(val_idx)).any():
        raise ValueError("fit_mean_teacher: a consistency row is a validation row")
    target_all = metrics.binary_target(dd.scores, zero_policy)[0].float()
    lossf = partial(classifier_loss, objective=cfg_train.objective, zero_policy=zero_policy)
    noise = dict(noise_std=cfg_semi.mt_noise_std, step_dropout=cfg_semi.mt_step_dropout,
                 modality_dropout=cfg_semi.mt_modality_dropout)
    teacher = copy.deepcopy(model)
    teacher.requires_grad_(False)
    opt = torch.optim.Adam(model.parameters(), lr=cfg_train.lr,
                           weight_decay=cfg_train.weight_decay)
    gen = torch.Generator().manual_seed(cfg_system.seed)
    gen_extra = torch.Generator().manual_seed(cfg_system.seed + 1)
    res = new_result(model)
    sums = torch.zeros(4, device=device)  # loss x rows, correct, sup x rows, consistency x rows
    n_steps = 0
    weight = 0.0

    def step(bidx: Tensor) -> None:
        nonlocal n_steps
        pick = torch.randint(len(ex), (len(bidx),), generator=gen_extra).to(device)
        both = torch.cat([bidx, ex.index_select(0, pick)])  # (2B,) labeled first
        x, masks = dd.batch(both)
        with autocast(device, amp):
            out = model(*perturb(x, masks, **noise)).float()  # (2B,)
            with torch.no_grad():
                target = teacher(*perturb(x, masks, **noise)).float()
        sup = lossf(out[: len(bidx)], dd.scores.index_select(0, bidx))
        cons = consistency_loss(out, target, objective=cfg_train.objective)
        loss = sup + weight * cons
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        n_steps += 1
        ema_update(teacher, model, ema_decay_at(n_steps, cfg_semi.mt_ema_decay))
        with torch.no_grad():
            y = target_all.index_select(0, bidx)
            correct = ((out[: len(bidx)].detach() > 0).float() == y).sum()
            sums.add_(torch.stack([loss.detach() * len(bidx), correct,
                                   sup.detach() * len(bidx), cons.detach() * len(bidx)]))

    chosen = teacher if cfg_semi.mt_select == "teacher" else model
    bar = tqdm(range(1, cfg_train.epochs + 1), desc="mean teacher",
               disable=not cfg_system.progress, leave=False)
    for epoch in bar:
        t0 = time.perf_counter()
        weight = cfg_semi.mt_consistency_weight * sigmoid_rampup(epoch - 1,
                                                                 cfg_semi.mt_rampup_epochs)
        model.train()
        teacher.train()  # dropout noise in the teacher too (Tarvainen & Valpola)
        n_seen, (tot, correct, sup_sum, cons_sum) = train_epoch(
            step, minibatches(tr, cfg_train.batch_size, gen), sums=sums)
        t_val = time.perf_counter()
        val = evaluate_classifier(chosen, dd, va, zero_policy, amp=amp,
                                  objective=cfg_train.objective)
        now = time.perf_counter()
        row = epoch_row(epoch, tot / n_seen, correct / n_seen, val, opt.param_groups[0]["lr"],
                        now - t0, now - t_val)
        row.update(sup_loss=sup_sum / n_seen, consistency=cons_sum / n_seen, cons_weight=weight)
        res["history"].append(row)
        improved = select_epoch(res, epoch, val, chosen)
        if hooks:
            ckpt = {"epoch": epoch, "model_state": model.state_dict(),
                    "teacher_state": teacher.state_dict(), "optimizer_state": opt.state_dict(),
                    "best": res["best"], "best_state": res["best_state"],
                    "history": res["history"]}
            if improved:
                fire(hooks, Event("improved", epoch, model, opt, row, ckpt))
            fire(hooks, Event("epoch_end", epoch, model, opt, row, ckpt))
        bar.set_postfix(loss=f"{row['train_loss']:.3f}", val_acc=f"{row['val_acc']:.3f}")
    bar.close()
    model.load_state_dict(res["best_state"])
    res["steps"] = {"eager": n_steps, "graph_replays": 0}
    res["val_forwards"] = {"eager": cfg_train.epochs, "graph_replays": 0}
    return res
