"""Loss functions of the multimodal semi-supervised DEC pretraining and the classifier.

References:
    * Xie, Girshick & Farhadi 2016, "Unsupervised Deep Embedding for Clustering Analysis"
      (DEC): Student-t soft assignment (eq. 1), target distribution (eq. 3) and the KL
      clustering loss (eq. 2).
    * Paper section 3.3: the total pretraining loss adds a masked reconstruction term, a
      supervised cross-entropy on the labeled rows and a latent disentanglement penalty.
    * Tarvainen & Valpola 2017, "Mean teachers are better role models" (consistency cost,
      section 2) and Laine & Aila 2017, "Temporal Ensembling" (its sigmoid ramp-up):
      ``consistency_loss``, ``sigmoid_rampup``.
    * van den Oord, Li & Vinyals 2018, "Representation Learning with Contrastive Predictive
      Coding" (InfoNCE, eq. 4) and Tian, Krishnan & Isola 2020, "Contrastive Multiview Coding"
      (two views, both directions, every pair of views: eq. 2-6): ``info_nce``,
      ``multimodal_info_nce``.

The loss functions are pure: tensors in, tensor out (``dec_stage_weights`` reads a stage's
weights from the ``dec`` config section it is given). Shapes: B batch (N: whole data set),
T time steps, D features, L latent width, K clusters, E embedding width.

"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from mosi_lib.config import OBJECTIVES  # the classifier objectives classifier_loss implements
from mosi_lib.metrics import binary_target

# ---- DEC clustering


def soft_assignment(z: Tensor, centers: Tensor, alpha: float = 1.0) -> Tensor:
    """Student-t similarity between embeddings and cluster centres (DEC eq. 1).

    q_ij = k_ij / sum_j' k_ij',  k_ij = (1 + ||z_i - mu_j||^2 / alpha)^(-(alpha + 1) / 2)

    Args:
        z: (B, L) embeddings.
        centers: (K, L) cluster centres mu.
        alpha: Student-t degrees of freedom.

    Returns:
        q: (B, K), rows sum to 1.

    """
    if z.dim() != 2 or centers.dim() != 2 or z.shape[1] != centers.shape[1]:
        raise ValueError(
            f"soft_assignment: z {tuple(z.shape)} and centers {tuple(centers.shape)} must be "
            "(B, L) and (K, L)"
        )
    # explicit difference, not cdist: exact and with a finite gradient at zero distance
    dist2 = (z[:, None, :] - centers[None, :, :]).pow(2).sum(-1)  # (B, K)
    num = (1.0 + dist2 / alpha).pow(-(alpha + 1.0) / 2.0)  # (B, K)
    return num / num.sum(dim=1, keepdim=True)


def target_distribution(q: Tensor) -> Tensor:
    """Sharpened auxiliary target P from soft assignments Q (DEC eq. 3).

    p_ij = (q_ij^2 / f_j) / sum_j' (q_ij'^2 / f_j'),  with cluster frequency f_j = sum_i q_ij.
    The caller passes Q of the whole data set so f_j is the data-set frequency.

    Args:
        q: (N, K) soft assignments.

    Returns:
        p: (N, K), detached, rows sum to 1.

    """
    if q.dim() != 2:
        raise ValueError(f"target_distribution: q has shape {tuple(q.shape)}; expected (N, K)")
    q = q.detach()
    weight = q.pow(2) / q.sum(dim=0, keepdim=True)  # (N, K) q^2 / f
    return weight / weight.sum(dim=1, keepdim=True)


def kl_divergence(p: Tensor, q: Tensor) -> Tensor:
    """Clustering loss KL(P || Q) (DEC eq. 2), averaged over rows.

    KL = (1/B) sum_i sum_j p_ij log(p_ij / q_ij); terms with p_ij = 0 count as 0.

    Args:
        p: (B, K) target distribution (no gradient needed).
        q: (B, K) soft assignments.

    Returns:
        Scalar tensor (same value as ``F.kl_div(q.log(), p, reduction="batchmean")``).

    """
    if p.shape != q.shape or p.dim() != 2:
        raise ValueError(
            f"kl_divergence: p {tuple(p.shape)} and q {tuple(q.shape)} must be equal (B, K)"
        )
    # xlogy(0, .) = 0, so zero targets contribute nothing (and no NaN)
    return (torch.xlogy(p, p) - torch.xlogy(p, q)).sum() / p.shape[0]


# ---- autoencoder


def masked_mse(
    recon: dict[str, Tensor], target: dict[str, Tensor], masks: dict[str, Tensor]
) -> Tensor:
    """Reconstruction error over valid steps only.

    Per modality m: sum over valid steps and features of (recon - target)^2, divided by
    (number of valid steps x D_m), i.e. the mean over valid entries. The result is the plain
    mean of these per-modality values over modalities with at least one valid step, so each
    modality weighs the same whatever its width D_m.

    Args:
        recon: modality -> (B, T, D_m) reconstruction.
        target: modality -> (B, T, D_m) input features.
        masks: modality -> (B, T) bool, True = valid step.

    Returns:
        Scalar tensor; 0 (still attached to ``recon``) when no step is valid at all.

    Written without a host synchronisation (the "modality has a valid step" choice is a 0/1
    weight, not a Python branch), so a CUDA graph can capture it (``system.cuda_graphs``).

    """
    if not recon:
        raise ValueError("masked_mse: no modality to reconstruct")
    per_mod, has_step = [], []
    for m, r in recon.items():
        if m not in target or m not in masks:
            raise ValueError(f"masked_mse: modality {m!r} missing from target or masks")
        t, mask = target[m], masks[m]
        if r.shape != t.shape or tuple(mask.shape) != tuple(r.shape[:2]):
            raise ValueError(
                f"masked_mse[{m!r}]: recon {tuple(r.shape)}, target {tuple(t.shape)} and mask "
                f"{tuple(mask.shape)} must be (B, T, D), (B, T, D) and (B, T)"
            )
        n_valid = mask.sum()
        sq = (r - t).pow(2).masked_fill(~mask[..., None], 0.0)  # (B, T, D), padded -> 0
        per_mod.append(sq.sum() / (n_valid.clamp_min(1) * r.shape[-1]))  # 0 without a step
        has_step.append(n_valid > 0)
    w = torch.stack(has_step).to(per_mod[0].dtype)  # (M,) 1 = the modality has a valid step
    # equals the mean over modalities with a valid step (and 0 when none has one)
    return (torch.stack(per_mod) * w).sum() / w.sum().clamp_min(1)


def disentanglement(z: Tensor) -> Tensor:
    """Penalty on correlated latent dimensions.

    Sum of squared off-diagonal entries of the batch covariance C = zc^T zc / (B - 1) of the
    centred latent zc = z - mean(z) (unbiased normaliser B - 1).

    Args:
        z: (B, L) latent batch, B >= 2.

    Returns:
        Scalar tensor, 0 when the latent dimensions are uncorrelated in the batch.

    """
    if z.dim() != 2 or z.shape[0] < 2:
        raise ValueError(f"disentanglement: z has shape {tuple(z.shape)}; need (B, L), B >= 2")
    zc = z - z.mean(dim=0, keepdim=True)  # (B, L)
    cov = zc.T @ zc / (z.shape[0] - 1)  # (L, L)
    return cov.pow(2).sum() - torch.diagonal(cov).pow(2).sum()


# ---- supervision


def supervised_cluster_ce(
    q: Tensor,
    y: Tensor,
    labeled: Tensor,
    class_head: nn.Module | None = None,
    *,
    static_shapes: bool = False,
) -> Tensor:
    """Cross-entropy between the visible labels and the soft cluster assignments.

    With K == 2 and no ``class_head``, cluster j stands for class j:
    loss = -(1/|S|) sum_{i in S} log q_{i, y_i}, S = labeled rows.
    With K != 2, ``logits = class_head(q)`` and the loss is ``F.cross_entropy`` on S.

    Args:
        q: (B, K) soft assignments.
        y: (B,) long class labels; values of unlabeled rows are ignored (may be -1).
        labeled: (B,) bool, True where the label is visible.
        class_head: module mapping (B, K) -> (B, n_classes); required when K != 2.
        static_shapes: weight the labeled rows 1 and the others 0 instead of selecting them
            (a selection's size is known only on the host): the form a CUDA graph can capture
            (``system.cuda_graphs``). The same loss to rounding (tested); the label check is
            left to the selecting form.

    Returns:
        Scalar tensor; 0 (still attached to ``q``) when no row is labeled.

    """
    if q.dim() != 2 or y.shape != q.shape[:1] or labeled.shape != q.shape[:1]:
        raise ValueError(
            f"supervised_cluster_ce: q {tuple(q.shape)}, y {tuple(y.shape)} and labeled "
            f"{tuple(labeled.shape)} must be (B, K), (B,) and (B,)"
        )
    if class_head is None and q.shape[1] != 2:
        raise ValueError(f"supervised_cluster_ce: K={q.shape[1]} != 2 needs a class_head")
    if static_shapes:
        return _supervised_cluster_ce_weighted(q, y, labeled, class_head)
    if not labeled.any():
        return q.sum() * 0.0
    q_l, y_l = q[labeled], y[labeled].long()  # (S, K), (S,)
    logits = None if class_head is None else class_head(q_l)  # (S, n_classes)
    n_out = q.shape[1] if logits is None else logits.shape[1]
    if (y_l < 0).any() or (y_l >= n_out).any():
        raise ValueError(f"supervised_cluster_ce: labeled y must be in [0, {n_out})")
    if logits is not None:
        return F.cross_entropy(logits, y_l)
    # clamp keeps log finite if an assignment underflows to 0
    return -q_l.gather(1, y_l[:, None]).clamp_min(1e-12).log().mean()


def _supervised_cluster_ce_weighted(
    q: Tensor, y: Tensor, labeled: Tensor, class_head: nn.Module | None
) -> Tensor:
    """``supervised_cluster_ce`` with static shapes: every row, weight 1 where labeled."""
    w = labeled.to(q.dtype)  # (B,)
    y_any = torch.where(labeled, y.long(), 0)  # hidden rows: any class (weight 0)
    if class_head is not None:
        per_row = F.cross_entropy(class_head(q), y_any, reduction="none")  # (B,)
    else:
        per_row = -q.gather(1, y_any[:, None]).squeeze(1).clamp_min(1e-12).log()  # (B,)
    return (per_row * w).sum() / w.sum().clamp_min(1)


def dec_loss(
    *,
    kl: Tensor | float,
    recon: Tensor | float,
    sup: Tensor | float,
    disent: Tensor | float,
    recon_weight: float,
    sup_weight: float,
    disent_weight: float,
) -> Tensor:
    """Total DEC pretraining loss: kl + a * recon + b * sup + g * disent.

    Stage 1 (autoencoder only) passes ``kl=0`` and ``sup=0``.

    Args:
        kl: KL(P || Q) clustering loss.
        recon: masked reconstruction MSE.
        sup: supervised cluster cross-entropy.
        disent: latent disentanglement penalty.
        recon_weight: a.
        sup_weight: b.
        disent_weight: g.

    Returns:
        Scalar tensor.

    """
    total = kl + recon_weight * recon + sup_weight * sup + disent_weight * disent
    return torch.as_tensor(total)


def dec_stage_weights(cfg_dec, stage: int) -> dict[str, float]:
    """The weights a, b, g of DEC stage 1 or 2, read from a ``DECConfig`` (the one place).

    Stage 1 trains the autoencoder only: no supervision (b = 0) and no clustering term.
    """
    if stage == 1:
        return {
            "recon_weight": cfg_dec.stage1_recon_weight,
            "sup_weight": 0.0,
            "disent_weight": cfg_dec.stage1_disent_weight,
        }
    if stage == 2:
        return {
            "recon_weight": cfg_dec.stage2_recon_weight,
            "sup_weight": cfg_dec.stage2_sup_weight,
            "disent_weight": cfg_dec.stage2_disent_weight,
        }
    raise ValueError(f"DEC stage={stage!r}: expected 1 or 2")


def dec_objective(
    out: dict[str, Any],
    x: dict[str, Tensor],
    masks: dict[str, Tensor],
    *,
    weights: dict[str, float],
    p: Tensor | None = None,
    y: Tensor | None = None,
    class_head: nn.Module | None = None,
    static_shapes: bool = False,
) -> dict[str, Tensor]:
    """Every term of the DEC pretraining loss for one batch, and their weighted sum.

    Used by ``train.dec.fit_dec`` and the benchmark, so the objective is written once.

    Args:
        out: a ``DECModel`` forward output (``z``, ``recon``, ``q``); cast to float32 here.
        x, masks: the batch's inputs and masks (the reconstruction targets).
        weights: ``dec_stage_weights`` of the stage.
        p: (B, K) target distribution of the batch rows; None in stage 1 (no KL, no
            supervision).
        y: (B,) class index of each row, -1 where the label is hidden (stage 2).
        class_head: the model's ``class_head`` (K != 2).
        static_shapes: the supervised term in the form a CUDA graph can capture
            (``supervised_cluster_ce``).

    Returns:
        ``loss`` (``dec_loss``), ``kl``, ``recon``, ``sup``, ``disent`` (scalar tensors).
    """
    recon = masked_mse({m: r.float() for m, r in out["recon"].items()}, x, masks)
    disent = disentanglement(out["z"].float())
    if p is None:
        kl = sup = recon.new_zeros(())
    else:
        if y is None:
            raise ValueError("dec_objective: stage 2 (p given) needs y (-1 = hidden label)")
        q = out["q"].float()
        kl = kl_divergence(p, q)
        sup = supervised_cluster_ce(
            q, y.clamp(min=0), y >= 0, class_head=class_head, static_shapes=static_shapes
        )
    loss = dec_loss(kl=kl, recon=recon, sup=sup, disent=disent, **weights)
    return {"loss": loss, "kl": kl, "recon": recon, "sup": sup, "disent": disent}


def classifier_loss(
    out: Tensor, scores: Tensor, *, objective: str, zero_policy: str, reduction: str = "mean"
) -> Tensor:
    """Loss of the classifier's output ``out`` against the sentiment ``scores``.

    ``bce`` is the paper's: one logit, binary cross-entropy on the sign. ``l1``: the output is a
    predicted sentiment score, trained with the mean absolute error to the annotated score, and
    its sign gives the class (MulT/MMSA-style CMU-MOSI training).

    ``out > 0`` is the positive class under either objective.

    Args:
        out: (..., B) logits (``bce``) or predicted scores (``l1``).
        scores: (..., B) annotated scores in [-3, 3].
        objective: ``bce``: target 1 for score >= 0 (``has0``) or > 0 (``non0``), binary
            cross-entropy with logits; ``l1``: ``|out - score|``.
        zero_policy: ``has0`` or ``non0`` (the caller drops zero scores from ``non0`` training).
        reduction: ``mean`` over every element, or ``none``.

    Returns:
        The loss (scalar for ``mean``).
    """
    scores = scores.to(out.dtype)
    if objective == "bce":
        target = binary_target(scores, zero_policy)[0].to(out.dtype)
        return F.binary_cross_entropy_with_logits(out, target, reduction=reduction)
    if objective == "l1":
        return F.l1_loss(out, scores, reduction=reduction)
    raise ValueError(f"objective={objective!r}: expected one of {list(OBJECTIVES)}")


# ---- semi-supervised arms beyond DEC (issue 34)


def consistency_loss(student: Tensor, teacher: Tensor, *, objective: str) -> Tensor:
    """Mean teacher's consistency cost: squared distance of student and teacher outputs.

    J = (1/B) sum_i (f(s_i) - f(t_i))^2 with f = sigmoid under ``bce`` (the class probability,
    as Tarvainen & Valpola's MSE between softmax outputs) and f = identity under ``l1`` (the
    predicted scores). The teacher is a target: no gradient flows into it.

    Args:
        student: (B,) the student's logits (``bce``) or scores (``l1``).
        teacher: (B,) the teacher's, on the same rows under other noise.
        objective: ``bce`` or ``l1`` (``train.objective``).

    Returns:
        Scalar tensor, 0 when the outputs agree.
    """
    if student.shape != teacher.shape or student.dim() != 1:
        raise ValueError(f"consistency_loss: student {tuple(student.shape)} and teacher "
                         f"{tuple(teacher.shape)} must be equal (B,)")
    teacher = teacher.detach().to(student.dtype)
    if objective == "bce":
        return (torch.sigmoid(student) - torch.sigmoid(teacher)).pow(2).mean()
    if objective == "l1":
        return (student - teacher).pow(2).mean()
    raise ValueError(f"objective={objective!r}: expected one of {list(OBJECTIVES)}")


def sigmoid_rampup(epoch: float, rampup: float) -> float:
    """Ramp-up factor exp(-5 (1 - t)^2), t = min(epoch / rampup, 1) (Laine & Aila 2017).

    Rises from exp(-5) = 0.0067 at epoch 0 to 1 at ``rampup``, and stays 1; ``rampup = 0``:
    always 1.
    """
    if rampup <= 0:
        return 1.0
    t = min(max(epoch, 0.0) / rampup, 1.0)
    return float(torch.exp(torch.tensor(-5.0 * (1.0 - t) ** 2)))


def info_nce(sim: Tensor, temperature: float) -> Tensor:
    """InfoNCE of a similarity matrix whose diagonal holds the positive pairs, one direction.

    L = -(1/B) sum_i log( exp(s_ii / tau) / sum_j exp(s_ij / tau) ): row i's positive is
    column i, every other column of the row a negative (the batch's other segments). Equals
    ``F.cross_entropy(sim / tau, arange(B))``.

    Args:
        sim: (B, B) similarities, row = anchor of one view, column = candidate of the other.
        temperature: tau > 0.

    Returns:
        Scalar tensor; log B for a matrix of equal entries (chance).
    """
    if sim.dim() != 2 or sim.shape[0] != sim.shape[1] or sim.shape[0] < 2:
        raise ValueError(f"info_nce: sim has shape {tuple(sim.shape)}; need (B, B), B >= 2")
    if temperature <= 0:
        raise ValueError(f"info_nce: temperature={temperature}: need > 0")
    target = torch.arange(sim.shape[0], device=sim.device)
    return F.cross_entropy(sim / temperature, target)


def multimodal_info_nce(emb: dict[str, Tensor], temperature: float) -> Tensor:
    """CMC's objective: symmetric InfoNCE over every pair of modalities of the same segments.

    Each modality's embedding is L2-normalised, s_ij = <u_i, v_j> (cosine similarity), and a
    pair (u, v) costs (``info_nce(S)`` + ``info_nce(S^T)``) / 2 (both directions, CMC eq. 5);
    the loss is the mean over the M (M - 1) / 2 pairs (CMC's "full graph"; with text and
    audio, the one pair).

    Args:
        emb: modality -> (B, E) embeddings of the same B segments, at least two modalities.
        temperature: tau > 0.

    Returns:
        Scalar tensor.
    """
    names = list(emb)
    if len(names) < 2:
        raise ValueError(f"multimodal_info_nce: needs two modalities or more, got {names}")
    shapes = {tuple(e.shape) for e in emb.values()}
    if len(shapes) != 1 or len(next(iter(shapes))) != 2:
        raise ValueError(f"multimodal_info_nce: embeddings must share one (B, E) shape, got "
                         f"{ {m: tuple(e.shape) for m, e in emb.items()} }")
    unit = {m: F.normalize(e.float(), dim=1) for m, e in emb.items()}  # (B, E), norm 1
    pairs = [(a, b) for i, a in enumerate(names) for b in names[i + 1:]]
    total = []
    for a, b in pairs:
        sim = unit[a] @ unit[b].T  # (B, B): row a's segment i, column b's segment j
        total.append((info_nce(sim, temperature) + info_nce(sim.T, temperature)) / 2)
    return torch.stack(total).mean()
