"""Contrastive multimodal pretraining (CMC-style): the encoder the classifier then starts from.

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

import time
from dataclasses import asdict
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn

from mosi_lib.config import ModelConfig, SystemConfig
from mosi_lib.losses import multimodal_info_nce
from mosi_lib.models import MultimodalEncoder
from mosi_lib.semi_config import SemiConfig
from mosi_lib.train.batches import DeviceData, minibatches
from mosi_lib.train.loop import Event, Hook, fire, train_epoch
from mosi_lib.train.system import autocast


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
