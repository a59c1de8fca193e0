import pytest
import torch

from mosi_lib.config import DECConfig, ModelConfig
from mosi_lib.models import (
    DECModel,
    MultimodalEncoder,
    SentimentClassifier,
    build_classifier,
    build_dec,
    count_parameters,
    rebuild,
    transfer_encoder,
)

DIMS = {"text": 6, "audio": 4, "visual": 3}
T = 5
TINY = ModelConfig(
    d_model=8,
    n_layers=1,
    n_heads=2,
    ff_dim=16,
    enc_dropout=0.1,
    latent_dim=4,
    dropout=0.3,
    head_dims=[3],
)


def make_batch(dims, b=3, t=T, seed=0):
    """Random features; row 0 full length, row 1 three valid steps, others two."""
    g = torch.Generator().manual_seed(seed)
    x = {m: torch.randn(b, t, d, generator=g) for m, d in dims.items()}
    lengths = torch.tensor([t, 3] + [2] * (b - 2))
    mask = torch.arange(t)[None, :] < lengths[:, None]  # (B, T)
    return x, {m: mask.clone() for m in dims}


def tiny_clf(dims=DIMS):
    return SentimentClassifier(TINY, dims, T)


def tiny_dec(dims=DIMS, n_clusters=2):
    return DECModel(TINY, DECConfig(n_clusters=n_clusters, decoder_hidden=7, alpha=1.0), dims, T)


# ---- shapes


def test_classifier_shapes():
    torch.manual_seed(0)
    model = tiny_clf()
    x, masks = make_batch(DIMS)
    assert model(x, masks).shape == (3,)
    assert model.encode(x, masks).shape == (3, TINY.latent_dim)
    assert list(model.encoder.encoders) == ["text", "audio", "visual"]


@pytest.mark.parametrize("n_clusters", [2, 3])
def test_dec_shapes(n_clusters):
    torch.manual_seed(0)
    model = tiny_dec(n_clusters=n_clusters)
    x, masks = make_batch(DIMS)
    out = model(x, masks)
    assert out["z"].shape == (3, TINY.latent_dim)
    assert {m: tuple(r.shape) for m, r in out["recon"].items()} == {
        m: (3, T, d) for m, d in DIMS.items()
    }
    assert out["q"].shape == (3, n_clusters)
    torch.testing.assert_close(out["q"].sum(1), torch.ones(3))
    assert model.cluster_centers.shape == (n_clusters, TINY.latent_dim)
    if n_clusters == 2:
        assert model.class_head is None
    else:
        assert model.class_head.in_features == n_clusters
        assert model.class_head.out_features == 2


def test_shorter_batch_than_max_len_and_too_long_raises():
    model = tiny_dec().eval()
    x, masks = make_batch(DIMS, t=T - 2)
    assert model(x, masks)["recon"]["text"].shape == (3, T - 2, DIMS["text"])
    x, masks = make_batch(DIMS, t=T + 1)
    with pytest.raises(ValueError, match="max_len"):
        model(x, masks)


@pytest.mark.parametrize("mods", [["text"], ["audio", "visual"], ["visual", "text"]])
def test_any_subset_of_modalities(mods):
    dims = {m: DIMS[m] for m in mods}
    clf, dec = tiny_clf(dims=dims), tiny_dec(dims=dims)
    # canonical order whatever the order of dims
    assert list(clf.encoder.encoders) == [m for m in DIMS if m in mods]
    assert clf.encoder.fusion[0].in_features == len(mods) * TINY.d_model
    x, masks = make_batch(dims)
    assert clf(x, masks).shape == (3,)
    assert set(dec(x, masks)["recon"]) == set(mods)


def test_default_parameter_count_near_paper():
    model = build_classifier(ModelConfig(), {"text": 300, "audio": 74, "visual": 47}, 30)
    n = count_parameters(model)
    print(f"default classifier parameters: {n:,} (paper 851,713, {n / 851713 - 1:+.2%})")
    assert abs(n / 851_713 - 1) < 0.05
    # frozen parameters drop out of the trainable count only
    model.head.requires_grad_(False)
    assert count_parameters(model) == n - count_parameters(model.head, trainable_only=False)
    assert count_parameters(model, trainable_only=False) == n


# ---- masking


def test_fully_padded_row_is_finite_and_pools_to_zero():
    torch.manual_seed(0)
    model = tiny_dec()
    x, masks = make_batch(DIMS)
    masks["audio"][1] = False  # row 1 has no audio at all
    for train in (True, False):
        model.train(train)
        out = model(x, masks)
        assert all(torch.isfinite(t).all() for t in [out["z"], out["q"], *out["recon"].values()])
    # some attention kernels return NaN for a row whose keys are all masked: the transformer
    # itself must never see one (CPU SDPA happens to return zeros, so check its input)
    seen = []
    enc = model.encoder.encoders["audio"].eval()
    hook = enc.transformer.register_forward_pre_hook(
        lambda mod, args, kwargs: seen.append(kwargs["src_key_padding_mask"]), with_kwargs=True
    )
    enc(x["audio"], masks["audio"])
    hook.remove()
    assert not seen[0].all(dim=1).any()  # True = ignored key; no row ignores every key
    assert torch.equal(seen[0][0], ~masks["audio"][0])  # other rows keep their padding mask
    pooled = enc(x["audio"], masks["audio"])
    assert torch.equal(pooled[1], torch.zeros(TINY.d_model))
    assert pooled[0].abs().sum() > 0


def test_padded_steps_do_not_change_output():
    torch.manual_seed(0)
    model = tiny_clf().eval()
    x, masks = make_batch(DIMS)
    masks["visual"][2] = False  # also a fully padded row
    before = model(x, masks)
    x2 = {m: v.clone() for m, v in x.items()}
    for m in x2:
        x2[m][~masks[m]] = 1e3 * torch.randn(int((~masks[m]).sum()), DIMS[m])
    torch.testing.assert_close(model(x2, masks), before, rtol=1e-5, atol=1e-6)
    # ...while a valid step does change it
    x2["text"][0, 0] += 1.0
    assert not torch.allclose(model(x2, masks)[0], before[0])


def test_bad_inputs_raise_naming_the_modality():
    model = tiny_clf()
    x, masks = make_batch(DIMS)
    with pytest.raises(ValueError, match="'audio' missing"):
        model({m: v for m, v in x.items() if m != "audio"}, masks)
    with pytest.raises(ValueError, match=r"x\['text'\]"):
        model({**x, "text": x["text"][..., :2]}, masks)
    with pytest.raises(ValueError, match=r"masks\['visual'\]"):
        model(x, {**masks, "visual": masks["visual"].float()})
    with pytest.raises(ValueError, match="dims"):
        MultimodalEncoder(TINY, {"video": 3}, T)


# ---- transfer and rebuild


def test_transfer_encoder_copies_exactly_and_leaves_head():
    torch.manual_seed(0)
    dec, clf = tiny_dec(n_clusters=3), tiny_clf()
    # make BatchNorm running stats non-default so buffers are really copied
    dec.train()
    dec(*make_batch(DIMS))
    head_before = {k: v.clone() for k, v in clf.head.state_dict().items()}
    report = transfer_encoder(dec, clf)

    src, dst = dec.encoder.state_dict(), clf.state_dict()
    assert len(report["copied"]) == len(src)
    for name in report["copied"]:
        assert torch.equal(dst[name], src[name.removeprefix("encoder.")]), name
    assert "encoder.fusion.1.running_mean" in report["copied"]
    assert sorted(report["not_copied"]) == sorted(f"head.{k}" for k in head_before)
    for k, v in clf.head.state_dict().items():
        assert torch.equal(v, head_before[k])
    assert report["n_copied_params"] == count_parameters(clf.encoder)
    # a copy, not shared storage
    with torch.no_grad():
        dec.encoder.fusion[0].weight.add_(1.0)
    assert not torch.equal(dec.encoder.fusion[0].weight, clf.encoder.fusion[0].weight)


def test_transfer_encoder_raises_on_mismatch():
    clf = tiny_clf()
    with pytest.raises(ValueError, match="encoders.visual"):
        transfer_encoder(tiny_dec(dims={"text": 6, "audio": 4}), clf)
    with pytest.raises(ValueError, match=r"encoders\.text\.proj\.weight.*shape"):
        transfer_encoder(tiny_dec(dims={**DIMS, "text": 7}), clf)


def test_build_and_rebuild_from_init_kwargs():
    dims = {"text": 6, "visual": 3}
    cfg_model = ModelConfig(d_model=8, n_heads=2, ff_dim=16, latent_dim=4, head_dims=[5, 3])
    for model in (
        build_classifier(cfg_model, dims, max_len=T),
        build_dec(cfg_model, DECConfig(n_clusters=4, decoder_hidden=6), dims, max_len=T),
    ):
        again = rebuild(model.kind, model.init_kwargs)
        assert type(again) is type(model)
        a, b = model.state_dict(), again.state_dict()
        assert list(a) == list(b)
        assert all(a[k].shape == b[k].shape for k in a)
    clf = build_classifier(cfg_model, dims, max_len=T)
    assert [layer.out_features for layer in clf.head if hasattr(layer, "out_features")] == [
        5,
        3,
        1,
    ]
    with pytest.raises(ValueError, match="kind"):
        rebuild("gpt", {})


def test_padding_a_short_modality_further_changes_nothing():
    """Preprocessing pads one-step audio to 1 step, not 30: the outputs must be the same."""
    torch.manual_seed(0)
    model = build_classifier(
        ModelConfig(d_model=16, ff_dim=32, latent_dim=8, head_dims=[4]),
        {"text": 5, "audio": 3},
        30,
    ).eval()
    x = {"text": torch.randn(6, 30, 5), "audio": torch.randn(6, 1, 3)}
    masks = {"text": torch.rand(6, 30) > 0.3, "audio": torch.ones(6, 1, dtype=torch.bool)}
    masks["text"][:, 0] = True
    padded_x = dict(x, audio=torch.cat([x["audio"], torch.zeros(6, 29, 3)], 1))
    padded_m = dict(masks, audio=torch.cat([masks["audio"], torch.zeros(6, 29, dtype=bool)], 1))
    with torch.no_grad():
        torch.testing.assert_close(model(x, masks), model(padded_x, padded_m))


def test_rebuild_reads_flat_init_kwargs_of_earlier_checkpoints():
    """Checkpoints written before the models took config sections hold flat keyword lists."""
    flat = dict(
        dims=DIMS,
        d_model=8,
        n_layers=1,
        n_heads=2,
        ff_dim=16,
        enc_dropout=0.1,
        latent_dim=4,
        dropout=0.3,
        max_len=T,
    )
    clf = rebuild("classifier", {**flat, "head_dims": [3]})
    assert clf.init_kwargs == tiny_clf().init_kwargs
    dec = rebuild(
        "dec", {**flat, "n_clusters": 3, "decoder_hidden": 7, "alpha": 1.0, "n_classes": 2}
    )
    want = tiny_dec(n_clusters=3)
    assert list(dec.state_dict()) == list(want.state_dict())
    assert all(dec.state_dict()[k].shape == v.shape for k, v in want.state_dict().items())
