import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from mosi_lib import losses
from mosi_lib.losses import (
    classifier_loss,
    dec_loss,
    disentanglement,
    kl_divergence,
    masked_mse,
    soft_assignment,
    supervised_cluster_ce,
    target_distribution,
)

# ---- soft assignment


def test_soft_assignment_hand_value():
    # z at the origin, centres at distance^2 1 and 4: kernels 1/2 and 1/5 (alpha = 1)
    z = torch.zeros(1, 2)
    centers = torch.tensor([[1.0, 0.0], [0.0, 2.0]])
    q = soft_assignment(z, centers)
    torch.testing.assert_close(q, torch.tensor([[5 / 7, 2 / 7]]))
    # alpha = 2: kernels (1 + 1/2)^-1.5 and (1 + 2)^-1.5
    k = np.array([1.5**-1.5, 3.0**-1.5])
    torch.testing.assert_close(
        soft_assignment(z, centers, alpha=2.0)[0].double(),
        torch.tensor(k / k.sum()),
        rtol=1e-6,
        atol=1e-7,
    )


@pytest.mark.parametrize("alpha", [1.0, 0.5, 3.0])
def test_soft_assignment_matches_numpy(alpha):
    rng = np.random.default_rng(0)
    z, mu = rng.normal(size=(7, 4)), rng.normal(size=(3, 4))
    d2 = ((z[:, None, :] - mu[None]) ** 2).sum(-1)
    k = (1 + d2 / alpha) ** (-(alpha + 1) / 2)
    expected = k / k.sum(1, keepdims=True)
    q = soft_assignment(torch.tensor(z), torch.tensor(mu), alpha)
    np.testing.assert_allclose(q.numpy(), expected, rtol=1e-12)


def test_soft_assignment_gradients_reach_z_and_centers():
    z = torch.randn(5, 3, requires_grad=True)
    centers = torch.randn(2, 3, requires_grad=True)
    q = soft_assignment(z, centers)
    p = target_distribution(q)
    kl_divergence(p, q).backward()
    assert z.grad.abs().sum() > 0 and centers.grad.abs().sum() > 0
    assert torch.isfinite(z.grad).all() and torch.isfinite(centers.grad).all()


def test_soft_assignment_rejects_mismatched_widths():
    with pytest.raises(ValueError, match="soft_assignment"):
        soft_assignment(torch.zeros(2, 3), torch.zeros(2, 4))


# ---- target distribution and KL


def test_target_distribution_hand_value():
    q = torch.tensor([[0.8, 0.2], [0.4, 0.6]])
    # f = (1.2, 0.8); row 0: (0.64/1.2, 0.04/0.8) = (0.5333, 0.05) -> normalise
    w = torch.tensor([[0.64 / 1.2, 0.04 / 0.8], [0.16 / 1.2, 0.36 / 0.8]])
    torch.testing.assert_close(target_distribution(q), w / w.sum(1, keepdim=True))


def test_target_distribution_sharpens_and_is_detached():
    torch.manual_seed(0)
    q = torch.softmax(torch.randn(50, 4), dim=1).requires_grad_()
    p = target_distribution(q)
    assert not p.requires_grad
    torch.testing.assert_close(p.sum(1), torch.ones(50))
    assert (p.max(1).values >= q.max(1).values - 1e-6).all()
    q = q.detach()
    assert -(p * p.log()).sum(1).mean() < -(q * q.log()).sum(1).mean()  # entropy drops


def test_kl_hand_value_and_reference():
    p = torch.tensor([[0.5, 0.5], [1.0, 0.0]])
    q = torch.tensor([[0.25, 0.75], [0.5, 0.5]])
    row0 = 0.5 * math.log(0.5 / 0.25) + 0.5 * math.log(0.5 / 0.75)
    row1 = 1.0 * math.log(1.0 / 0.5)  # p = 0 term counts 0
    expected = (row0 + row1) / 2
    assert kl_divergence(p, q).item() == pytest.approx(expected, rel=1e-6)
    assert kl_divergence(p, q).item() == pytest.approx(
        F.kl_div(q.log(), p, reduction="batchmean").item(), rel=1e-6
    )


def test_kl_nonnegative_and_zero_at_equal():
    torch.manual_seed(0)
    q = torch.softmax(torch.randn(20, 3), 1)
    p = torch.softmax(torch.randn(20, 3), 1)
    assert kl_divergence(p, q) > 0
    assert kl_divergence(q, q).abs() < 1e-7
    # a zero entry in both P and Q gives 0, not NaN
    pz = torch.tensor([[1.0, 0.0]])
    assert kl_divergence(pz, pz).item() == 0.0


# ---- reconstruction


def test_masked_mse_ignores_padded_steps_and_matches_mse_loss():
    torch.manual_seed(0)
    mask = torch.tensor([[True, True, False], [True, False, False]])
    recon = {"text": torch.randn(2, 3, 4), "audio": torch.randn(2, 3, 2)}
    target = {m: torch.randn_like(r) for m, r in recon.items()}
    masks = {m: mask for m in recon}
    expected = torch.stack(
        [F.mse_loss(recon[m][mask], target[m][mask]) for m in ("text", "audio")]
    ).mean()
    loss = masked_mse(recon, target, masks)
    torch.testing.assert_close(loss, expected)
    # garbage in padded steps changes nothing
    noisy = {m: torch.where(mask[..., None], r, 1e6) for m, r in recon.items()}
    torch.testing.assert_close(masked_mse(noisy, target, masks), expected)


def test_masked_mse_hand_value_and_empty_modality():
    mask = torch.tensor([[True, False]])
    recon = {"text": torch.tensor([[[1.0, 3.0], [9.0, 9.0]]]), "audio": torch.zeros(1, 2, 1)}
    target = {"text": torch.zeros(1, 2, 2), "audio": torch.ones(1, 2, 1)}
    # text: (1 + 9) / 2 = 5; audio has no valid step -> skipped, not averaged as 0
    masks = {"text": mask, "audio": torch.zeros(1, 2, dtype=torch.bool)}
    assert masked_mse(recon, target, masks).item() == pytest.approx(5.0)
    r = {"text": recon["text"].requires_grad_()}
    empty = masked_mse(r, target, {"text": torch.zeros(1, 2, dtype=torch.bool)})
    assert empty.item() == 0.0
    empty.backward()  # still attached to the graph
    with pytest.raises(ValueError, match="'text'"):
        masked_mse(recon, {"text": torch.zeros(1, 3, 2)}, masks)
    with pytest.raises(ValueError, match="no modality"):
        masked_mse({}, target, masks)


# ---- disentanglement


def test_disentanglement_zero_for_uncorrelated_columns():
    # centred columns (1,-1,1,-1) and (1,1,-1,-1) are exactly orthogonal
    z = torch.tensor([[1.0, 1.0], [-1.0, 1.0], [1.0, -1.0], [-1.0, -1.0]]) + 3.0
    assert disentanglement(z).item() == 0.0


def test_disentanglement_hand_value():
    # centred: a = (-1, 0, 1), b = (-2, 0, 2); cov_ab = (2 + 0 + 2) / (3 - 1) = 2
    z = torch.tensor([[0.0, 0.0], [1.0, 2.0], [2.0, 4.0]])
    assert disentanglement(z).item() == pytest.approx(2 * 2.0**2)  # both off-diagonal cells
    zs = torch.randn(6, 3, requires_grad=True)
    disentanglement(zs).backward()
    assert zs.grad.abs().sum() > 0
    with pytest.raises(ValueError, match="B >= 2"):
        disentanglement(torch.zeros(1, 3))


# ---- supervision


def test_supervised_cluster_ce_two_clusters_hand_value():
    q = torch.tensor([[0.8, 0.2], [0.3, 0.7], [0.5, 0.5]], requires_grad=True)
    y = torch.tensor([0, 0, -1])  # the unlabeled row may carry any placeholder
    labeled = torch.tensor([True, True, False])
    loss = supervised_cluster_ce(q, y, labeled)
    assert loss.item() == pytest.approx(-(math.log(0.8) + math.log(0.3)) / 2, rel=1e-6)
    loss.backward()
    assert q.grad[2].abs().sum() == 0 and q.grad[:2].abs().sum() > 0


def test_supervised_cluster_ce_no_labels_is_zero_and_backprops():
    q = torch.softmax(torch.randn(4, 2), 1).requires_grad_()
    loss = supervised_cluster_ce(q, torch.zeros(4, dtype=torch.long), torch.zeros(4, dtype=bool))
    assert loss.item() == 0.0
    loss.backward()
    assert torch.equal(q.grad, torch.zeros_like(q))


def test_supervised_cluster_ce_with_class_head():
    torch.manual_seed(0)
    head = torch.nn.Linear(3, 2)
    q = torch.softmax(torch.randn(4, 3), 1)
    y, labeled = torch.tensor([1, 0, 1, 0]), torch.tensor([True, False, True, True])
    expected = F.cross_entropy(head(q[labeled]), y[labeled])
    torch.testing.assert_close(supervised_cluster_ce(q, y, labeled, head), expected)
    supervised_cluster_ce(q, y, labeled, head).backward()
    assert head.weight.grad.abs().sum() > 0
    with pytest.raises(ValueError, match="class_head"):
        supervised_cluster_ce(q, y, labeled)
    with pytest.raises(ValueError, match=r"\[0, 2\)"):
        supervised_cluster_ce(q[:, :2], torch.tensor([0, 1, 2, 0]), labeled)


@pytest.mark.parametrize("k", [2, 3])
@pytest.mark.parametrize("n_labeled", [0, 1, 5])
def test_supervised_cluster_ce_under_capture_is_the_same_loss(k, n_labeled):
    """The static-shape form a CUDA graph captures (labeled rows weighted 1, others 0) gives
    the loss and the gradients of the selection form."""
    torch.manual_seed(k)
    head = torch.nn.Linear(k, 2) if k != 2 else None
    logits = torch.randn(8, k)
    labeled = torch.zeros(8, dtype=torch.bool)
    labeled[torch.randperm(8)[:n_labeled]] = True
    y = torch.where(labeled, torch.randint(0, 2, (8,)), -1)
    got = {}
    for capture in (False, True):
        q = torch.softmax(logits, 1).requires_grad_()
        loss = supervised_cluster_ce(q, y.clamp(min=0), labeled, head, static_shapes=capture)
        loss.backward()
        got[capture] = (loss.detach(), q.grad)
    # float32: the two forms sum in another order, so they agree to rounding, not to the bit
    # (6e-8 apart on one CI processor); a wrong weight or normalisation is off by far more.
    torch.testing.assert_close(got[True][0], got[False][0], rtol=1e-5, atol=1e-7)
    torch.testing.assert_close(got[True][1], got[False][1], rtol=1e-5, atol=1e-7)


# ---- totals


def test_classifier_loss_hand_values():
    out, scores = torch.tensor([0.0, 2.0, -1.0]), torch.tensor([1.5, -0.5, 0.0])
    # bce, has0: targets 1, 0, 1 (a zero score is positive)
    expected = (math.log(2) + math.log(1 + math.exp(2)) + math.log(1 + math.exp(1))) / 3
    got = classifier_loss(out, scores, objective="bce", zero_policy="has0")
    assert got.item() == pytest.approx(expected, rel=1e-6)
    # bce, non0: the zero score is a negative target
    expected = (math.log(2) + math.log(1 + math.exp(2)) + math.log(1 + math.exp(-1))) / 3
    got = classifier_loss(out, scores, objective="bce", zero_policy="non0")
    assert got.item() == pytest.approx(expected, rel=1e-6)
    # l1: mean |out - score| = (1.5 + 2.5 + 1) / 3
    got = classifier_loss(out, scores, objective="l1", zero_policy="has0")
    assert got.item() == pytest.approx(5 / 3, rel=1e-6)
    per = classifier_loss(out, scores, objective="l1", zero_policy="has0", reduction="none")
    assert per.tolist() == [1.5, 2.5, 1.0]
    with pytest.raises(ValueError, match="objective='mse'"):
        classifier_loss(out, scores, objective="mse", zero_policy="has0")


def test_the_config_offers_the_objectives_the_loss_implements():
    from mosi_lib import config

    assert config.OBJECTIVES == losses.OBJECTIVES


def test_dec_loss_weights():
    total = dec_loss(
        kl=torch.tensor(1.0),
        recon=torch.tensor(2.0),
        sup=torch.tensor(3.0),
        disent=torch.tensor(4.0),
        recon_weight=0.1,
        sup_weight=0.5,
        disent_weight=0.01,
    )
    assert total.item() == pytest.approx(1.0 + 0.2 + 1.5 + 0.04)
    stage1 = dec_loss(
        kl=0.0,
        recon=torch.tensor(2.0),
        sup=0.0,
        disent=torch.tensor(4.0),
        recon_weight=1.0,
        sup_weight=0.0,
        disent_weight=0.001,
    )
    assert stage1.item() == pytest.approx(2.004)


def test_dec_objective_composes_the_terms_with_the_stage_weights():
    from mosi_lib import losses
    from mosi_lib.config import DECConfig

    cfg = DECConfig(
        stage1_recon_weight=2.0,
        stage1_disent_weight=0.5,
        stage2_recon_weight=0.1,
        stage2_sup_weight=0.5,
        stage2_disent_weight=0.25,
    )
    assert losses.dec_stage_weights(cfg, 1) == {
        "recon_weight": 2.0,
        "sup_weight": 0.0,
        "disent_weight": 0.5,
    }
    with pytest.raises(ValueError, match="stage=3"):
        losses.dec_stage_weights(cfg, 3)
    torch.manual_seed(0)
    x = {"text": torch.randn(4, 3, 2)}
    masks = {"text": torch.ones(4, 3, dtype=torch.bool)}
    z = torch.randn(4, 5)
    q = torch.softmax(torch.randn(4, 2), 1)
    out = {"z": z, "recon": {"text": torch.zeros(4, 3, 2)}, "q": q}
    recon = (x["text"] ** 2).mean()  # reconstruction of zeros, every step valid
    s1 = losses.dec_objective(out, x, masks, weights=losses.dec_stage_weights(cfg, 1))
    assert s1["kl"] == 0 and s1["sup"] == 0
    torch.testing.assert_close(s1["recon"], recon)
    torch.testing.assert_close(s1["loss"], 2.0 * recon + 0.5 * disentanglement(z))
    p = target_distribution(q)
    y = torch.tensor([1, -1, 0, -1])  # rows 1 and 3 hidden
    s2 = losses.dec_objective(out, x, masks, weights=losses.dec_stage_weights(cfg, 2), p=p, y=y)
    sup = -(q[0, 1].log() + q[2, 0].log()) / 2  # cluster j = class j, labeled rows only
    torch.testing.assert_close(s2["sup"], sup)
    torch.testing.assert_close(
        s2["loss"], kl_divergence(p, q) + 0.1 * recon + 0.5 * sup + 0.25 * disentanglement(z)
    )
    with pytest.raises(ValueError, match="needs y"):
        losses.dec_objective(out, x, masks, weights=losses.dec_stage_weights(cfg, 2), p=p)
