"""The semi-supervised arms beyond DEC: self-training, mean teacher, contrastive pretraining.

Self-training with pseudo-labels: rounds of the classifier fit on labeled + confident rows.

References: Lee 2013, "Pseudo-Label: The Simple and Efficient Semi-Supervised Learning Method
for Deep Neural Networks"; Xie et al. 2020, "Self-training with Noisy Student" (rounds, each
student trained afresh on the teacher's confident labels).

* ``pseudo_candidates``: the rows that may ever be pseudo-labeled: training rows of the
  unlabeled pool (never a validation or test row, never a labeled one);
* ``select_pseudo_labels``: pure: the outputs on the candidates -> the confident rows and the
  targets they are trained on;
* ``fit_self_training``: round 0 is ``fit_classifier`` on the labeled rows; each further round
  labels the candidates with the previous round's selected model (afresh each round) and fits
  again, from the run's initial weights, on the labeled plus pseudo-labeled rows.

The fit never reads a candidate's true label: the pseudo-labels replace the candidates' scores
in a copy of the device data (``with_targets``); how many agree with the truth is counted
afterwards by the caller, for the report only (``study.classifier_runs``).

Mean teacher: a student fitted to the labels and to an EMA teacher's outputs under noise.

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

Contrastive multimodal pretraining (CMC-style): the encoder the classifier then starts from.

Reference: Tian, Krishnan & Isola 2020, "Contrastive Multiview Coding" (CMC, the paper's
reference [2]): one encoder per view, each segment's views pulled together and the batch's other
segments pushed apart by InfoNCE (``losses.multimodal_info_nce``), no label read.

* ``ContrastiveModel``: the classifier's own ``MultimodalEncoder`` (so ``models.transfer_encoder``
  copies it into a classifier exactly as a DEC encoder) plus one linear head per modality on
  its pooled output. Only the per-modality encoders are trained: the fusion layer (FC ->
  BatchNorm) is not on the contrastive path and is transferred at its initial values;
* ``fit_contrastive``: Adam over the pretraining rows, a history row per epoch with the
  held-out contrastive loss of the validation rows (features only) to choose the budget on.
"""

from __future__ import annotations

import copy
import time
from dataclasses import asdict
from functools import partial
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn

from mosi_lib import metrics
from mosi_lib.config import ModelConfig, SemiConfig, SystemConfig, TrainConfig
from mosi_lib.losses import classifier_loss, consistency_loss, multimodal_info_nce, sigmoid_rampup
from mosi_lib.models import MultimodalEncoder
from mosi_lib.train.classifier import fit_classifier, fit_epochs, new_result
from mosi_lib.train.loop import (
    DeviceData,
    Event,
    Hook,
    autocast,
    fire,
    minibatches,
    predict_logits,
    train_epoch,
)

# =============================================================================
# Self-training with pseudo-labels: rounds of the classifier fit on labeled + confident rows.

SCORE_RANGE = 3.0
"""CMU-MOSI scores lie in [-3, 3]: an ``l1`` pseudo-target (a predicted score) is clipped to it."""


def pseudo_candidates(split: np.ndarray, pool: np.ndarray, labeled: np.ndarray) -> np.ndarray:
    """Rows that may be pseudo-labeled: training rows of the unlabeled pool, label hidden.

    Args:
        split, pool, labeled: the data's per-row arrays (``Processed.split``, ``.pool``,
            ``.labeled``).

    Returns:
        Row indices (int64), sorted.
    """
    split, pool, labeled = np.asarray(split), np.asarray(pool), np.asarray(labeled, bool)
    return np.flatnonzero((split == "train") & (pool == "unlabeled") & ~labeled)


def select_pseudo_labels(
    outputs: np.ndarray,
    rows: np.ndarray,
    *,
    objective: str,
    min_prob: float,
    min_score: float,
    allowed: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """The confident candidates and their pseudo-targets.

    ``bce``: p = sigmoid(output), confident where max(p, 1 - p) >= ``min_prob``; the target is
    the predicted class as a score, +1 (output > 0, the positive class) or -1 (the objective
    reads only its sign). ``l1``: confident where |output| >= ``min_score``; the target is the
    predicted score, clipped to [-3, 3].

    Args:
        outputs: (C,) the model's logits (``bce``) or scores (``l1``) on ``rows``.
        rows: (C,) the candidates' row numbers.
        objective: ``bce`` or ``l1`` (``train.objective``).
        min_prob, min_score: ``semi.pseudo_min_prob``, ``semi.pseudo_min_score``.
        allowed: the rows that may be pseudo-labeled (``pseudo_candidates``); a candidate
            outside it is refused.

    Returns:
        ``(rows (S,) int64, targets (S,) float32)``, in the order of ``rows``.

    Raises:
        ValueError: shapes differ, an unknown objective, or a candidate outside ``allowed``
            (e.g. a validation or test row).
    """
    outputs = np.asarray(outputs, dtype=np.float64)
    rows = np.asarray(rows, dtype=np.int64)
    if outputs.shape != rows.shape or outputs.ndim != 1:
        raise ValueError(f"select_pseudo_labels: outputs {outputs.shape} and rows {rows.shape} "
                         "must be equal (C,)")
    if allowed is not None and not np.isin(rows, allowed).all():
        bad = rows[~np.isin(rows, allowed)]
        raise ValueError(f"select_pseudo_labels: rows {bad[:5].tolist()} are not unlabeled "
                         "training rows (a validation, test or labeled row is never "
                         "pseudo-labeled)")
    if objective == "bce":
        p = 1.0 / (1.0 + np.exp(-outputs))
        keep = np.maximum(p, 1.0 - p) >= min_prob
        targets = np.where(outputs > 0, 1.0, -1.0)
    elif objective == "l1":
        keep = np.abs(outputs) >= min_score
        targets = np.clip(outputs, -SCORE_RANGE, SCORE_RANGE)
    else:
        raise ValueError(f"objective={objective!r}: expected 'bce' or 'l1'")
    return rows[keep], targets[keep].astype(np.float32)


def with_targets(dd: DeviceData, rows: np.ndarray, targets: np.ndarray) -> DeviceData:
    """A shallow copy of ``dd`` whose scores of ``rows`` are ``targets`` (the rest unchanged)."""
    out = copy.copy(dd)
    out.scores = dd.scores.clone()
    if len(rows):
        idx = torch.as_tensor(rows, dtype=torch.long, device=dd.device)
        out.scores[idx] = torch.as_tensor(targets, dtype=dd.scores.dtype, device=dd.device)
    return out


def _round_hooks(hooks: list[Hook] | None, rnd: int, offset: int) -> list[Hook]:
    """``hooks`` seeing each history row with ``round`` and the epoch counted over all rounds.

    ``Event.epoch`` stays the round's own, so checkpoint cadences (after a round's first and
    last epoch) work per round.
    """
    def relay(ev: Event) -> None:
        row = {**ev.row, "epoch": offset + ev.row.get("epoch", ev.epoch), "round": rnd}
        fire(hooks, Event(ev.name, ev.epoch, ev.model, ev.optimizer, row, ev.state))

    return [relay] if hooks else []


def fit_self_training(
    model: nn.Module,
    dd: DeviceData,
    cfg_train: TrainConfig,
    cfg_system: SystemConfig,
    cfg_semi: SemiConfig,
    *,
    train_idx: np.ndarray,
    candidates: np.ndarray,
    val_idx: np.ndarray,
    zero_policy: str = "has0",
    hooks: list[Hook] | None = None,
) -> dict[str, Any]:
    """Self-training: ``semi.pseudo_rounds`` rounds of pseudo-labeling after a labeled fit.

    Every round trains ``train.epochs`` epochs with ``fit_classifier`` from the weights
    ``model`` held at the start (from scratch, or a pretraining's encoder) and a fresh
    optimizer, and keeps its best epoch by validation accuracy. Round r >= 1 predicts the
    ``candidates`` with round r - 1's selected weights (eval mode), keeps the confident ones
    (``select_pseudo_labels``) and trains on ``train_idx`` plus them. The final round's
    selected weights are left in ``model``.

    Args:
        model, dd, cfg_train, cfg_system, zero_policy: as ``fit_classifier``.
        cfg_semi: ``pseudo_rounds``, ``pseudo_min_prob``, ``pseudo_min_score``.
        train_idx: the labeled training rows.
        candidates: the rows that may be pseudo-labeled (``pseudo_candidates``, less any row of
            ``train_idx``).
        val_idx: the validation rows (selection); never a candidate.
        hooks: as ``fit_classifier``'s; each history row also carries ``round`` and its epoch
            counts over all rounds.

    Returns:
        The final round's ``fit_classifier`` result (``history`` over every round, ``best``'s
        epoch counted as there), with ``rounds``: per round ``round``, ``rows`` and ``targets``
        (the pseudo-labels), ``n_candidates``, ``best_epoch`` (the round's own), ``best_val``
        (its validation metrics); ``steps`` and ``val_forwards`` summed over the rounds.
    """
    candidates = np.asarray(candidates, dtype=np.int64)
    if np.isin(candidates, val_idx).any() or np.isin(candidates, train_idx).any():
        raise ValueError("fit_self_training: a candidate is a validation or labeled row")
    init_state = {k: v.detach().clone() for k, v in model.state_dict().items()}
    rows, targets = np.zeros(0, np.int64), np.zeros(0, np.float32)
    history, rounds, res = [], [], {}
    steps = {"eager": 0, "graph_replays": 0}
    forwards = {"eager": 0, "graph_replays": 0}
    for rnd in range(cfg_semi.pseudo_rounds + 1):
        if rnd:
            cand = torch.as_tensor(candidates, dtype=torch.long, device=dd.device)
            out = predict_logits(model, dd, cand, amp=cfg_system.amp).cpu().numpy()
            rows, targets = select_pseudo_labels(
                out, candidates, objective=cfg_train.objective, min_prob=cfg_semi.pseudo_min_prob,
                min_score=cfg_semi.pseudo_min_score, allowed=candidates)
            model.load_state_dict(init_state)  # every round starts where round 0 did
        res = fit_classifier(
            model, with_targets(dd, rows, targets), cfg_train, cfg_system,
            train_idx=np.concatenate([np.asarray(train_idx, np.int64), rows]), val_idx=val_idx,
            zero_policy=zero_policy, hooks=_round_hooks(hooks, rnd, rnd * cfg_train.epochs))
        history += [{**h, "epoch": rnd * cfg_train.epochs + h["epoch"], "round": rnd}
                    for h in res["history"]]
        for total, part in ((steps, res["steps"]), (forwards, res["val_forwards"])):
            for k in total:
                total[k] += part.get(k, 0)
        rounds.append({"round": rnd, "rows": rows, "targets": targets,
                       "n_candidates": int(len(candidates) if rnd else 0),
                       "best_epoch": res["best"]["epoch"], "best_val": res["best"]["val"]})
    last = cfg_semi.pseudo_rounds * cfg_train.epochs  # history.csv counts over the rounds
    return {**res, "best": {**res["best"], "epoch": last + res["best"]["epoch"]},
            "history": history, "rounds": rounds, "steps": steps, "val_forwards": forwards}


# =============================================================================
# Mean teacher: a student fitted to the labels and to an EMA teacher's outputs under noise.

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

    def before_epoch(epoch: int) -> None:
        nonlocal weight
        weight = cfg_semi.mt_consistency_weight * sigmoid_rampup(epoch - 1,
                                                                 cfg_semi.mt_rampup_epochs)
        teacher.train()  # dropout noise in the teacher too (Tarvainen & Valpola)

    def more_columns(values: list[float], n_seen: int) -> dict[str, Any]:
        sup_sum, cons_sum = values
        return {"sup_loss": sup_sum / n_seen, "consistency": cons_sum / n_seen,
                "cons_weight": weight}

    res = fit_epochs(model, dd, cfg_train, cfg_system, step=step, optimizer=opt, sums=sums,
                     train_rows=tr, val_rows=va, zero_policy=zero_policy, hooks=hooks, gen=gen,
                     res=new_result(model), desc="mean teacher",
                     selected=teacher if cfg_semi.mt_select == "teacher" else model,
                     before_epoch=before_epoch, more_columns=more_columns,
                     more_state=lambda: {"teacher_state": teacher.state_dict()})
    res["steps"] = {"eager": n_steps, "graph_replays": 0}
    res["val_forwards"] = {"eager": cfg_train.epochs, "graph_replays": 0}
    return res


# =============================================================================
# Contrastive multimodal pretraining (CMC-style): the encoder the classifier then starts from.

class ContrastiveModel(nn.Module):
    """The classifier's multimodal encoder with a linear projection head per modality."""

    kind = "contrastive"

    def __init__(self, cfg: ModelConfig, dims: dict[str, int], max_len: int, *, proj_dim: int):
        """Build from the model section.

        Args:
            cfg: ``cfg.model`` (the encoder, exactly as the classifier's).
            dims: modality -> D_m.
            max_len: the padded length T.
            proj_dim: E, the heads' width (``semi.cmc_proj_dim``).
        """
        super().__init__()
        self.init_kwargs: dict[str, Any] = {"model": asdict(cfg), "dims": dict(dims),
                                            "max_len": int(max_len), "proj_dim": int(proj_dim)}
        # the classifier's encoder class: its weights map one-to-one (models.transfer_encoder)
        self.encoder = MultimodalEncoder(cfg, dims, max_len)
        if len(self.encoder.dims) < 2:
            raise ValueError(f"contrastive pretraining needs two modalities or more, got "
                             f"{list(self.encoder.dims)}")
        self.heads = nn.ModuleDict({m: nn.Linear(cfg.d_model, proj_dim)
                                    for m in self.encoder.dims})

    @classmethod
    def rebuild(cls, kwargs: dict[str, Any]) -> ContrastiveModel:
        """A freshly initialised model from a checkpoint's ``init_kwargs``."""
        return cls(ModelConfig(**kwargs["model"]), kwargs["dims"], kwargs["max_len"],
                   proj_dim=kwargs["proj_dim"])

    def forward(self, x: dict[str, Tensor], masks: dict[str, Tensor]) -> dict[str, Tensor]:
        """Each modality's pooled encoder output through its head: modality -> (B, E)."""
        return {m: self.heads[m](enc(x[m], masks[m]))  # (B, d_model) -> (B, E)
                for m, enc in self.encoder.encoders.items()}


def build_contrastive(cfg_model: ModelConfig, cfg_semi: SemiConfig, dims: dict[str, int],
                      max_len: int) -> ContrastiveModel:
    """The contrastive model whose encoder matches ``models.build_classifier(cfg_model, ...)``."""
    return ContrastiveModel(cfg_model, dims, max_len, proj_dim=cfg_semi.cmc_proj_dim)


def usable_rows(masks: dict[str, np.ndarray], rows: np.ndarray) -> np.ndarray:
    """The ``rows`` with a valid step in every modality (a row without one has no view to pair).

    Args:
        masks: modality -> (N, T) bool (``Processed.masks``).
        rows: candidate row indices.
    """
    rows = np.asarray(rows, dtype=np.int64)
    ok = np.ones(len(rows), bool)
    for mask in masks.values():
        ok &= np.asarray(mask)[rows].any(axis=1)
    return rows[ok]


@torch.no_grad()
def heldout_loss(model: ContrastiveModel, dd: DeviceData, rows: Tensor, *, batch_size: int,
                 temperature: float, amp: bool = False) -> float:
    """Mean contrastive loss over fixed consecutive batches of ``rows`` in eval mode (NaN: none).

    A final batch of one row is left out (it has no negative).
    """
    was = model.training
    model.eval()
    losses, sizes = [], []
    for start in range(0, len(rows), batch_size):
        chunk = rows[start:start + batch_size]
        if len(chunk) < 2:
            continue
        with autocast(dd.device, amp):
            emb = model(*dd.batch(chunk))
        losses.append(float(multimodal_info_nce(emb, temperature)))
        sizes.append(len(chunk))
    model.train(was)
    return float(np.average(losses, weights=sizes)) if losses else float("nan")


def fit_contrastive(
    model: ContrastiveModel,
    dd: DeviceData,
    cfg_semi: SemiConfig,
    cfg_system: SystemConfig,
    *,
    rows: np.ndarray,
    val_rows: np.ndarray,
    hooks: list[Hook] | None = None,
) -> dict[str, Any]:
    """Pretrain ``model`` by ``multimodal_info_nce`` for ``semi.cmc_epochs`` epochs.

    Adam (``semi.cmc_lr``), shuffled batches of ``semi.cmc_batch_size`` rows of ``rows`` (a
    final single row is dropped: it has no negative), the model in train mode (its dropout).
    After each epoch the loss of ``val_rows`` in eval mode (``heldout_loss``; label-free).

    Args:
        model: a ``ContrastiveModel``.
        dd: the data on the device.
        cfg_semi: the ``cmc_*`` fields.
        cfg_system: ``seed`` (the shuffling), ``amp``, ``progress``.
        rows: the pretraining rows (``usable_rows``).
        val_rows: rows whose held-out loss is recorded (may be empty).
        hooks: called with ``Event("epoch_end")`` after each epoch.

    Returns:
        ``{"history": [rows: epoch, train_loss, train_top1 (the share of a batch's segments
        whose own other view is the most similar, first pair of modalities), val_loss, lr,
        seconds], "steps": {"eager", "graph_replays"}}``.
    """
    from tqdm import tqdm

    device, amp = dd.device, cfg_system.amp
    tr = torch.as_tensor(np.asarray(rows), dtype=torch.long, device=device)
    va = torch.as_tensor(np.asarray(val_rows), dtype=torch.long, device=device)
    if len(tr) < 2:
        raise ValueError(f"contrastive pretraining needs at least 2 rows, got {len(tr)}")
    opt = torch.optim.Adam(model.parameters(), lr=cfg_semi.cmc_lr)
    gen = torch.Generator().manual_seed(cfg_system.seed)
    tau = cfg_semi.cmc_temperature
    sums = torch.zeros(2, device=device)  # loss x rows, rows whose positive ranks first
    n_steps = 0

    def step(bidx: Tensor) -> None:
        nonlocal n_steps
        with autocast(device, amp):
            emb = model(*dd.batch(bidx))
        loss = multimodal_info_nce(emb, tau)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        n_steps += 1
        with torch.no_grad():
            a, b = list(emb)[:2]
            sim = emb[a].float() @ emb[b].float().T  # (B, B); the ranking needs no norm of a
            top = (sim.argmax(dim=1) == torch.arange(len(bidx), device=device)).sum()
            sums.add_(torch.stack([loss.detach() * len(bidx), top.float()]))

    history = []
    bar = tqdm(range(1, cfg_semi.cmc_epochs + 1), desc="contrastive",
               disable=not cfg_system.progress, leave=False)
    for epoch in bar:
        t0 = time.perf_counter()
        model.train()
        n_seen, (tot, top) = train_epoch(step, minibatches(tr, cfg_semi.cmc_batch_size, gen),
                                         sums=sums)
        val = heldout_loss(model, dd, va, batch_size=cfg_semi.cmc_batch_size, temperature=tau,
                           amp=amp)
        row = {"epoch": epoch, "train_loss": tot / n_seen, "train_top1": top / n_seen,
               "val_loss": val, "lr": cfg_semi.cmc_lr, "seconds": time.perf_counter() - t0}
        history.append(row)
        fire(hooks, Event("epoch_end", epoch, model, opt, row))
        bar.set_postfix(loss=f"{row['train_loss']:.3f}", val=f"{val:.3f}")
    bar.close()
    return {"history": history, "steps": {"eager": n_steps, "graph_replays": 0}}
