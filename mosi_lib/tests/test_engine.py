import copy
import warnings

import numpy as np
import pytest
import torch

from mosi_lib import files, models
from mosi_lib.data.preprocess import preprocess
from mosi_lib.study import experiments, recipes, runs
from mosi_lib.tests.conftest import make_raw
from mosi_lib.train import engine, system


@pytest.fixture
def data(tiny_config):
    return preprocess(make_raw(n=160), tiny_config.data)


def test_minibatches_cover_rows_once_and_drop_lone_row():
    idx = torch.arange(10)
    got = list(engine.minibatches(idx, 4, torch.Generator().manual_seed(0)))
    assert [len(b) for b in got] == [4, 4, 2]
    assert sorted(torch.cat(got).tolist()) == list(range(10))
    got = list(engine.minibatches(torch.arange(9), 4, None))
    assert [len(b) for b in got] == [4, 4]  # a lone final row cannot train BatchNorm


def test_training_lowers_loss(tiny_config, data):
    system.seed_everything(0)
    dd = engine.DeviceData(data, torch.device("cpu"))
    model = models.build_classifier(tiny_config.model, data.dims, data.max_len)
    res = engine.fit_classifier(
        model, dd, train_idx=data.train_rows("all", "has0"), val_idx=data.rows("valid"),
        epochs=60, batch_size=32, lr=3e-3, weight_decay=0.0, progress=False,
    )  # ~240 steps
    hist = res["history"]
    assert set(hist[0]) >= {"epoch", "train_loss", "val_loss", "val_acc", "val_f1", "lr",
                            "seconds", "val_seconds"}
    assert all(0 < h["val_seconds"] < h["seconds"] for h in hist)
    first = np.mean([h["train_loss"] for h in hist[:3]])
    last = np.mean([h["train_loss"] for h in hist[-3:]])
    assert last < 0.7 * first
    assert res["best"]["acc"] == max(h["val_acc"] for h in hist)
    assert res["best"]["acc"] > 0.75  # the text sign is learnable


def test_l1_objective_lowers_its_loss_and_learns_the_sign(tiny_config, data):
    system.seed_everything(0)
    dd = engine.DeviceData(data, torch.device("cpu"))
    model = models.build_classifier(tiny_config.model, data.dims, data.max_len)
    res = engine.fit_classifier(
        model, dd, train_idx=data.train_rows("all", "has0"), val_idx=data.rows("valid"),
        epochs=60, batch_size=32, lr=3e-3, weight_decay=0.0, progress=False, objective="l1",
    )
    hist = res["history"]
    # the first epochs' L1 is about the mean |score| (~1.5); it must fall well below that
    assert np.mean([h["train_loss"] for h in hist[-3:]]) < 0.8 * hist[0]["train_loss"]
    assert res["best"]["acc"] > 0.75
    # the validation loss is the L1 too: recompute it from the outputs
    va = torch.as_tensor(data.rows("valid"))
    ev = engine.evaluate_classifier(model, dd, va, "has0", objective="l1")
    out = engine.predict_logits(model, dd, va)
    assert ev["loss"] == pytest.approx((out - dd.scores[va]).abs().mean().item(), rel=1e-5)


def test_seeds_together_l1_equal_seeds_alone_without_dropout(tiny_config, data):
    seeds = [0, 1]
    dd = engine.DeviceData(data, torch.device("cpu"))
    kw = dict(train_idx=data.train_rows("all", "has0"), val_idx=data.rows("valid"), epochs=3,
              batch_size=32, lr=3e-3, weight_decay=1e-2, progress=False, objective="l1")
    _together_equals_alone(_no_dropout_models(tiny_config, data, seeds), dd, seeds, kw, 1e-5)


def test_best_checkpoint_ties_go_to_lower_loss(tiny_config, data):
    dd = engine.DeviceData(data, torch.device("cpu"))
    model = models.build_classifier(tiny_config.model, data.dims, data.max_len)
    res = engine.fit_classifier(
        model, dd, train_idx=data.train_rows("labeled", "has0"), val_idx=data.rows("valid"),
        epochs=8, batch_size=32, lr=1e-3, weight_decay=0.0, progress=False,
    )
    best_acc = max(h["val_acc"] for h in res["history"])
    ties = [h for h in res["history"] if h["val_acc"] == best_acc]
    assert res["best"]["epoch"] == min(ties, key=lambda h: h["val_loss"])["epoch"]


def test_same_seed_same_metrics(tiny_config, data, tmp_path):
    a = experiments.train_classifier(tiny_config, data, root=tmp_path, run_id="a").metrics()
    b = experiments.train_classifier(tiny_config, data, root=tmp_path, run_id="b").metrics()
    assert a["valid"] == b["valid"] and a["best_epoch"] == b["best_epoch"]


def test_classifier_run_folder(tiny_config, data, tmp_path):
    run = experiments.train_classifier(tiny_config, data, root=tmp_path, run_id="r1")
    names = {p.name for p in run.path.iterdir()}
    assert {"config.yaml", "history.csv", "metrics.json", "checkpoints",
            "predictions.npz"} <= names
    assert {p.name for p in run.checkpoints.iterdir()} == {"best.pt", "last.pt"}
    m = run.metrics()
    # the selected model's outputs on every evaluation row give the reported accuracy
    p = run.predictions()
    assert list(p["ids"]) == list(data.ids[data.rows("valid")]) and set(p["split"]) == {"valid"}
    assert np.mean((p["output"] > 0) == (p["label"] >= 0)) == pytest.approx(m["valid"]["acc_has0"])
    assert m["n_params"] == models.count_parameters(
        models.build_classifier(tiny_config.model, data.dims, data.max_len))
    assert m["synthetic"] is True and m["report_split"] == "valid" and m["test"] is None
    assert 0 <= m["valid"]["acc_has0"] <= 1 and "majority_acc_has0" in m["valid"]
    assert len(run.history()) == tiny_config.train.epochs
    assert m["steps"]["graph_replays"] == 0 and m["steps"]["eager"] >= tiny_config.train.epochs
    assert m["val_forwards"] == {"eager": tiny_config.train.epochs, "graph_replays": 0}
    prov = run.config()["provenance"]
    assert prov["kind"] == "classifier" and "commit" in prov["git"]
    # a checkpoint alone rebuilds the model
    ckpt = experiments.load_checkpoint(run.checkpoints / "best.pt")
    model = experiments.model_from_checkpoint(ckpt)
    assert isinstance(model, models.SentimentClassifier)
    with pytest.raises(FileExistsError, match="never overwritten"):
        experiments.train_classifier(tiny_config, data, root=tmp_path, run_id="r1")


@pytest.mark.parametrize("every", [0.0, 3600.0])
def test_checkpoint_cadence(tiny_config, data, tmp_path, monkeypatch, every):
    """last.pt after epoch 1, on the time cadence and after the last epoch; best.pt with it."""
    tiny_config.train.epochs = 6
    tiny_config.system.checkpoint_every_s = every
    saved = []
    orig = files.save_checkpoint

    def record(obj, path):
        saved.append((path.name, obj["epoch"]))
        return orig(obj, path)

    monkeypatch.setattr(files, "save_checkpoint", record)
    run = experiments.train_classifier(tiny_config, data, root=tmp_path, run_id="c")
    last = [e for name, e in saved if name == "last.pt"]
    best = [e for name, e in saved if name == "best.pt"]
    assert last == ([1, 2, 3, 4, 5, 6] if every == 0 else [1, 6])
    on_disk = experiments.load_checkpoint(run.checkpoints / "best.pt")["epoch"]
    assert best[-1] == on_disk == run.metrics()["best_epoch"]
    if every == 0:  # every improvement, as it happens
        improved, top = [], -1.0
        for row in run.history().itertuples():
            if row.val_acc > top:
                improved.append(row.epoch)
            top = max(top, row.val_acc)
        assert set(improved) <= set(best)
    else:  # at most one best.pt per last.pt write
        assert len(best) <= 2
    assert len(run.history()) == 6  # the history is written every epoch regardless


def test_resume_equals_uninterrupted(tiny_config, data, tmp_path, monkeypatch):
    tiny_config.train.epochs = 6
    full = experiments.train_classifier(tiny_config, data, root=tmp_path, run_id="full")

    class Stop(Exception):
        pass

    orig = recipes._classifier_hooks

    def interrupting(run, cfg, model):
        hooks = orig(run, cfg, model)

        def stop(ev):
            if ev.name == "epoch_end" and ev.epoch == 3:
                raise Stop

        return [*hooks, stop]

    monkeypatch.setattr(recipes, "_classifier_hooks", interrupting)
    with pytest.raises(Stop):
        experiments.train_classifier(tiny_config, data, root=tmp_path, run_id="cut")
    monkeypatch.undo()
    cut = runs.load_run(tmp_path / "cut")
    assert len(cut.history()) == 3 and not cut.metrics()
    assert cut.status() == "failed"  # marked, never in a table
    resumed = experiments.resume_classifier(cut, data)
    assert resumed.status() == "finished"
    assert resumed.metrics()["valid"] == full.metrics()["valid"]
    a = experiments.load_checkpoint(full.checkpoints / "last.pt")
    b = experiments.load_checkpoint(resumed.checkpoints / "last.pt")
    for k in a["model_state"]:
        assert torch.equal(a["model_state"][k], b["model_state"][k]), k
    np.testing.assert_allclose(resumed.history()["train_loss"], full.history()["train_loss"])


def test_dec_pretrain_and_transfer(tiny_config, data, tmp_path):
    tiny_config.dec.stage1_epochs, tiny_config.dec.stage2_epochs = 15, 3
    tiny_config.dec.stage1_lr = 3e-3
    run = experiments.pretrain_dec(tiny_config, data, root=tmp_path, run_id="dec")
    hist = run.history()
    s1 = hist[hist["stage"] == 1]
    assert s1["recon"].iloc[-1] < s1["recon"].iloc[0]  # the autoencoder learns
    s2 = hist[hist["stage"] == 2]
    assert len(s2) >= 1 and {"kl", "sup", "delta_label", "size_0", "size_1"} <= set(s2)
    m = run.metrics()
    assert set(m["cluster"]) == {"all", "valid"} and sum(m["cluster_sizes"]) == len(data)
    lat = run.latents()
    assert lat["z"].shape == (len(data), tiny_config.model.latent_dim)
    np.testing.assert_allclose(lat["q"].sum(1), 1.0, rtol=1e-5)
    # fine-tune from the DEC encoder: the transfer report lists copied tensors
    ft = experiments.train_classifier(tiny_config, data, root=tmp_path, run_id="ft",
                                      init_run=run)
    t = ft.metrics()["transfer"]
    assert t["dec_run"] == "dec" and all(k.startswith("encoder.") for k in t["copied"])
    assert t["not_copied"] and all(k.startswith("head.") for k in t["not_copied"])


def _outlier_latents():
    """Two classes 2 apart along axis 0, and three rows 1000 away: k-means' start is 3 / 200."""
    rng = np.random.default_rng(0)
    cls = np.repeat([0, 1], 100)
    z = rng.normal(size=(203, 4)) * 0.3
    z[:200, 0] += 2.0 * cls
    z[200:] += 1000.0
    labeled = np.full(203, -1)
    labeled[:200:4] = cls[::4]  # every 4th row of each class labeled
    return torch.tensor(z, dtype=torch.float32), torch.tensor(labeled), cls


@pytest.mark.parametrize("remedy", ["none", "labeled_means"])
def test_degenerate_kmeans_start_is_named_and_remedied(tiny_config, data, remedy):
    model = models.build_dec(tiny_config.model, tiny_config.dec, {"text": 4}, 2)
    model.cluster_centers.data = torch.zeros(2, 4)
    z, labeled, cls = _outlier_latents()
    with pytest.warns(UserWarning, match=r"k-means start is degenerate: cluster sizes \[\d+, "
                                         rf"\d+\] .*< 10% of the rows\); remedy: {remedy}"):
        assign, info = engine.init_centers(model, z, n_clusters=2, n_init=3, seed=0,
                                           labeled_pos=labeled, min_share=0.1, remedy=remedy)
    assert info["degenerate"] and sorted(info["kmeans_sizes"]) == [3, 200]
    centres = model.cluster_centers.detach().numpy()
    if remedy == "none":
        assert info["remedy"] is None and info["sizes"] == info["kmeans_sizes"]
    else:  # centre j: mean z of the labeled rows of class j; rows go to the nearest centre
        assert info["remedy"] == "labeled_means"
        want = np.stack([z.numpy()[labeled.numpy() == j].mean(0) for j in range(2)])
        np.testing.assert_allclose(centres, want, rtol=1e-5)
        assert (assign[:200] == cls).mean() > 0.95
        assert info["sizes"] == np.bincount(assign).tolist()
    # a start that is a real split is left alone, without a warning
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assign, info = engine.init_centers(model, z[:200], n_clusters=2, n_init=3, seed=0,
                                           labeled_pos=labeled[:200], min_share=0.1,
                                           remedy=remedy)  # fmt: skip
    assert not info["degenerate"] and info["remedy"] is None
    assert (assign == cls).mean() > 0.95  # ordered: cluster 1 holds the positive labeled rows
    if remedy == "labeled_means":  # three clusters: kept, and the warning says why
        model.cluster_centers.data = torch.zeros(3, 4)
        with pytest.warns(UserWarning, match=r"remedy: none \(labeled_means needs two clusters"):
            _, info = engine.init_centers(model, z, n_clusters=3, n_init=3, seed=0,
                                          labeled_pos=labeled, min_share=0.1, remedy=remedy)
        assert info["degenerate"] and info["remedy"] is None


def test_dec_records_why_stage2_stopped(tiny_config, data):
    tiny_config.dec.stage1_epochs, tiny_config.dec.stage2_epochs = 1, 3
    dd = engine.DeviceData(data, torch.device("cpu"))
    lab = data.train_rows("labeled", "has0")

    def fit(tol):
        tiny_config.dec.tol = tol
        model = models.build_dec(tiny_config.model, tiny_config.dec, data.dims, data.max_len)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # a collapse warning of the tiny model is not tested
            return engine.fit_dec(model, dd, rows=np.arange(len(data)), labeled_rows=lab,
                                  cfg_dec=tiny_config.dec, progress=False)  # fmt: skip

    res = fit(0.0)  # a share of changed rows never falls below 0: the budget ends stage 2
    assert res["stage2_stop"]["reason"] == "budget" and res["stage2_stop"]["epoch"] == 3
    assert not res["stopped_early"] and "kmeans_sizes" in res["center_init"]
    res = fit(0.999)  # below 99.9% after the first epoch: stops at the second target update
    assert res["stage2_stop"] == {"reason": "tol", "epoch": 1,
                                  "delta_label": res["stage2_stop"]["delta_label"]}
    assert res["stopped_early"] and res["stage2_stop"]["delta_label"] < 0.999
    assert sum(h["stage"] == 2 for h in res["history"]) == 1


def test_dec_uses_only_labeled_training_labels(tiny_config, data, monkeypatch):
    seen = {}
    orig = engine.losses.supervised_cluster_ce

    def spy(q, y, labeled, class_head=None):
        seen.setdefault("n", 0)
        seen["n"] += int(labeled.sum())
        return orig(q, y, labeled, class_head=class_head)

    monkeypatch.setattr(engine.losses, "supervised_cluster_ce", spy)
    tiny_config.dec.stage1_epochs, tiny_config.dec.stage2_epochs = 1, 1
    dd = engine.DeviceData(data, torch.device("cpu"))
    model = models.build_dec(tiny_config.model, tiny_config.dec, data.dims, data.max_len)
    lab = data.train_rows("labeled", "has0")
    engine.fit_dec(model, dd, rows=np.arange(len(data)), labeled_rows=lab,
                   cfg_dec=tiny_config.dec, progress=False)
    # one stage-2 epoch visits every row once: exactly the labeled training rows are supervised
    assert seen["n"] == len(lab)


def test_dec_stage1_gives_the_centres_no_gradient(tiny_config, data):
    """Stage 1 leaves the centres without a gradient, also when the model is compiled (AOT
    autograd makes the whole forward one autograd node, whose backward also returns a zero
    gradient for the unused centres; kept outside the optimizer, it would accumulate), and
    stage 2 trains them."""
    tiny_config.dec.stage1_epochs, tiny_config.dec.stage2_epochs = 2, 1
    dd = engine.DeviceData(data, torch.device("cpu"))
    model = models.build_dec(tiny_config.model, tiny_config.dec, data.dims, data.max_len)
    model.compile(backend="aot_eager")  # AOT autograd as under inductor, without its compile
    seen = {}

    def on_event(ev):
        if ev.name == "epoch_end" and ev.row["stage"] == 1:  # the last one is kept
            c = model.cluster_centers
            seen.update(grad=c.grad, requires_grad=c.requires_grad)

    engine.fit_dec(model, dd, rows=np.arange(len(data)), labeled_rows=data.train_rows(
        "labeled", "has0"), cfg_dec=tiny_config.dec, progress=False, hooks=[on_event])
    assert seen["grad"] is None and seen["requires_grad"] is False
    assert model.cluster_centers.requires_grad and model.cluster_centers.grad is not None


@pytest.mark.parametrize("mode", ["eval", "train"])
def test_dec_stage2_q_in_the_mode_of_p(tiny_config, data, mode):
    """Stage 2's batch Q comes from the same (eval-mode) function as P unless told otherwise."""
    tiny_config.dec.stage1_epochs, tiny_config.dec.stage2_epochs = 1, 2
    tiny_config.dec.tol = 0.0  # never stop early: two stage-2 epochs
    tiny_config.dec.stage2_mode = mode
    dd = engine.DeviceData(data, torch.device("cpu"))
    model = models.build_dec(tiny_config.model, tiny_config.dec, data.dims, data.max_len)
    modes = []
    stage = {"n": 1}

    def on_event(ev):
        if ev.name == "stage_end":
            stage["n"] += 1

    handle = model.register_forward_pre_hook(
        lambda mod, args: modes.append((stage["n"], torch.is_grad_enabled(), mod.training)))
    engine.fit_dec(model, dd, rows=np.arange(len(data)), labeled_rows=data.train_rows(
        "labeled", "has0"), cfg_dec=tiny_config.dec, progress=False, hooks=[on_event])
    handle.remove()
    # forward passes that train (gradients on) in each stage, and their mode
    s1 = {tr for st, grad, tr in modes if st == 1 and grad}
    s2 = {tr for st, grad, tr in modes if st == 2 and grad}
    assert s1 == {True} and s2 == {mode == "train"}
    assert all(not tr for _, grad, tr in modes if not grad)  # P's passes: eval mode


# ---- seeds trained together (torch.func.vmap over stacked parameters)


def _no_dropout_models(cfg, data, seeds):
    cfg.model.dropout = cfg.model.enc_dropout = 0.0
    out = []
    for s in seeds:
        torch.manual_seed(s)
        out.append(models.build_classifier(cfg.model, data.dims, data.max_len))
    return out


def _together_equals_alone(together, dd, seeds, kw, rtol):
    """Seeds trained in one vmapped loop give the training losses of the same seeds alone."""
    alone = [copy.deepcopy(m) for m in together]
    res_t = engine.fit_classifier_seeds(together, dd, seeds=seeds, **kw)
    for s, m_alone, r_t in zip(seeds, alone, res_t, strict=True):
        r_a = engine.fit_classifier(m_alone, dd, seed=s, **kw)
        np.testing.assert_allclose([h["train_loss"] for h in r_t["history"]],
                                   [h["train_loss"] for h in r_a["history"]], rtol=rtol)


def test_seeds_together_equal_seeds_alone_without_dropout(tiny_config, data):
    """With dropout 0 nothing random is shared, so the batched loop must reproduce E solo runs:
    same batch order per seed, same gradients, same Adam moments, same BatchNorm statistics.

    Compared through the losses, not weight by weight: a few parameters get no gradient in
    exact arithmetic (attention key biases; biases that the fusion BatchNorm cancels), and Adam
    turns their rounding-level gradients into full-size steps of arbitrary sign. They do not
    change the training loss, and move validation logits by ~1e-4 only.
    """
    seeds = [0, 1, 2]
    dd = engine.DeviceData(data, torch.device("cpu"))
    kw = dict(train_idx=data.train_rows("all", "has0"), val_idx=data.rows("valid"), epochs=4,
              batch_size=32, lr=3e-3, weight_decay=1e-2, progress=False)  # fmt: skip
    together = _no_dropout_models(tiny_config, data, seeds)
    alone = [copy.deepcopy(m) for m in together]
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        res_t = engine.fit_classifier_seeds(together, dd, seeds=seeds, **kw)
    # the CPU attention kernel's vmap fallback warning is filtered (engine._vmap_attention)
    assert not [w for w in caught if "batching rule" in str(w.message)]
    for s, m_alone, m_together, r_t in zip(seeds, alone, together, res_t, strict=True):
        r_a = engine.fit_classifier(m_alone, dd, seed=s, **kw)
        for key, rtol in (("train_loss", 1e-5), ("val_loss", 1e-3)):
            np.testing.assert_allclose([h[key] for h in r_t["history"]],
                                       [h[key] for h in r_a["history"]], rtol=rtol, err_msg=key)
        assert m_together.state_dict().keys() == m_alone.state_dict().keys()
    # the seeds really are different models
    assert not torch.equal(together[0].head[-1].weight, together[1].head[-1].weight)


def test_vmap_attention_picks_the_math_kernel_on_cuda_only():
    """Under vmap on CUDA the efficient/flash kernels fail in backward (seen on an H200):
    the seeds-together loop must select the math kernel there, and only there."""
    flags = (torch.backends.cuda.flash_sdp_enabled, torch.backends.cuda.mem_efficient_sdp_enabled,
             torch.backends.cuda.math_sdp_enabled)  # fmt: skip
    before = [f() for f in flags]
    with engine._vmap_attention(torch.device("cuda")):
        assert [f() for f in flags] == [False, False, True]
    assert [f() for f in flags] == before
    with engine._vmap_attention(torch.device("cpu")):
        assert [f() for f in flags] == before


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_seeds_together_on_cuda(tiny_config, data):
    seeds = [0, 1]
    dd = engine.DeviceData(data, torch.device("cuda"))
    kw = dict(train_idx=data.train_rows("all", "has0"), val_idx=data.rows("valid"), epochs=3,
              batch_size=32, lr=3e-3, weight_decay=1e-2, progress=False)  # fmt: skip
    models_ = [m.cuda() for m in _no_dropout_models(tiny_config, data, seeds)]
    _together_equals_alone(models_, dd, seeds, kw, 1e-3)  # other attention kernels: 1e-3


def test_compile_uses_the_configured_mode(tiny_config, monkeypatch):
    seen = []
    monkeypatch.setattr(torch.nn.Module, "compile", lambda self, **kw: seen.append(kw))
    model = torch.nn.Linear(2, 1)
    assert recipes._maybe_compile(model, tiny_config) is model and seen == []  # compile off
    tiny_config.system.compile, tiny_config.system.compile_mode = True, "reduce-overhead"
    recipes._maybe_compile(model, tiny_config)
    assert seen == [{"mode": "reduce-overhead"}]


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_cuda_graphs_train_and_keep_every_output(tiny_config, data):
    """torch.compile with CUDA graphs (reduce-overhead): training lowers the loss, and outputs
    gathered over several chunks are not overwritten by later graph replays."""
    dd = engine.DeviceData(data, torch.device("cuda"))
    torch.manual_seed(0)
    model = models.build_classifier(tiny_config.model, data.dims, data.max_len).cuda()
    eager = copy.deepcopy(model)
    model.compile(mode="reduce-overhead")
    rows = torch.arange(dd.n, device="cuda")
    a = engine.predict_logits(model, dd, rows, chunk=48)  # 4 chunks, the last one shorter
    b = engine.predict_logits(eager, dd, rows, chunk=48)
    torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-4)
    res = engine.fit_classifier(model, dd, train_idx=data.train_rows("all", "has0"),
                                val_idx=data.rows("valid"), epochs=8, batch_size=32, lr=3e-3,
                                weight_decay=0.0, progress=False)  # fmt: skip
    losses_ = [h["train_loss"] for h in res["history"]]
    assert all(np.isfinite(losses_)) and losses_[-1] < losses_[0]


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_cuda_graphs_train_dec_both_stages(tiny_config, data):
    """DEC under CUDA graphs (reduce-overhead), both stages: it stopped in stage 1 on an H100
    before the centres were kept out of stage 1's backward."""
    tiny_config.dec.stage1_epochs, tiny_config.dec.stage2_epochs = 3, 2
    tiny_config.dec.tol = 0.0  # never stop early
    dd = engine.DeviceData(data, torch.device("cuda"))
    torch.manual_seed(0)
    model = models.build_dec(tiny_config.model, tiny_config.dec, data.dims, data.max_len).cuda()
    model.compile(mode="reduce-overhead")
    res = engine.fit_dec(model, dd, rows=np.arange(len(data)), labeled_rows=data.train_rows(
        "labeled", "has0"), cfg_dec=tiny_config.dec, amp=True, progress=False)
    recon = [h["recon"] for h in res["history"] if h["stage"] == 1]
    assert [h["stage"] for h in res["history"]] == [1, 1, 1, 2, 2]
    assert all(np.isfinite(recon)) and recon[-1] < recon[0]
    assert np.allclose(res["q"].sum(1), 1.0, atol=1e-4)


def test_seeds_together_checkpoint_resumes_alone(tiny_config, data):
    """A seed's checkpoint from the batched loop (its slice of the Adam moments included)
    continues under ``fit_classifier`` exactly as an uninterrupted solo run."""
    dd = engine.DeviceData(data, torch.device("cpu"))
    kw = dict(train_idx=data.train_rows("all", "has0"), val_idx=data.rows("valid"),
              batch_size=32, lr=3e-3, weight_decay=0.0, progress=False)  # fmt: skip
    together = _no_dropout_models(tiny_config, data, [3, 4])
    solo = copy.deepcopy(together[1])
    saved = {}

    def keep(ev):
        if ev.name == "epoch_end" and ev.epoch == 2:
            saved.update(copy.deepcopy(ev.state))

    engine.fit_classifier_seeds(together, dd, seeds=[3, 4], epochs=2, hooks=[[], [keep]], **kw)
    resumed = copy.deepcopy(solo)
    r_res = engine.fit_classifier(resumed, dd, seed=4, epochs=4, resume=saved, **kw)
    r_solo = engine.fit_classifier(solo, dd, seed=4, epochs=4, **kw)
    assert [h["epoch"] for h in r_res["history"]] == [1, 2, 3, 4]
    for key, rtol in (("train_loss", 1e-5), ("val_loss", 1e-3)):
        np.testing.assert_allclose([h[key] for h in r_res["history"]],
                                   [h[key] for h in r_solo["history"]], rtol=rtol, err_msg=key)


def test_seeds_together_reject_mismatched_inputs(tiny_config, data):
    dd = engine.DeviceData(data, torch.device("cpu"))
    ms = _no_dropout_models(tiny_config, data, [0, 1])
    kw = dict(train_idx=data.train_rows("all", "has0"), val_idx=data.rows("valid"), epochs=1,
              batch_size=32, lr=1e-3, weight_decay=0.0, progress=False)  # fmt: skip
    with pytest.raises(ValueError, match="one seed per model"):
        engine.fit_classifier_seeds(ms, dd, seeds=[0], **kw)
    tiny_config.model.latent_dim = 6
    other = models.build_classifier(tiny_config.model, data.dims, data.max_len)
    with pytest.raises(ValueError, match="one architecture"):
        engine.fit_classifier_seeds([ms[0], other], dd, seeds=[0, 1], **kw)


# ---- interrupted studies: failed runs are marked, finished ones reused


def test_failed_run_is_marked_and_a_rerun_continues(tiny_config, data, tmp_path, monkeypatch):
    """Issue 10 item 9: an interrupted run was not marked, and a rerun counted runs twice."""
    from mosi_lib.report import collect

    tiny_config.train.epochs = 1
    done = experiments.train_classifier(tiny_config, data, root=tmp_path, run_id="a", reuse=True)
    orig = engine.fit_classifier

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(engine, "fit_classifier", interrupted)
    with pytest.raises(KeyboardInterrupt):
        experiments.train_classifier(tiny_config, data, root=tmp_path, run_id="b",
                                     labels="all", reuse=True)
    assert runs.load_run(tmp_path / "b").status() == "interrupted"  # Ctrl-C
    assert collect.collect_runs(tmp_path)["run_id"].tolist() == ["a"]  # never in a table
    monkeypatch.setattr(engine, "fit_classifier", orig)
    # the rerun (reproduce --run-id on the same study): the finished run is reused, the
    # failed one is trained again in a new folder
    again = experiments.train_classifier(tiny_config, data, root=tmp_path, run_id="a2",
                                         reuse=True)
    assert again.run_id == "a" and not (tmp_path / "a2").exists()
    redo = experiments.train_classifier(tiny_config, data, root=tmp_path, run_id="b2",
                                        labels="all", reuse=True)
    assert redo.run_id == "b2" and redo.status() == "finished"
    assert sorted(collect.collect_runs(tmp_path)["run_id"]) == ["a", "b2"]
    # another recipe is not this run
    tiny_config.train.lr *= 2
    other = experiments.train_classifier(tiny_config, data, root=tmp_path, run_id="c",
                                         reuse=True)
    assert other.run_id == "c"
    assert done.run_id == "a"


def test_dec_on_training_rows_only(tiny_config, data, tmp_path):
    """dec.pretrain_rows="train" (the dec_train_rows ablation): the report split is not among
    the pretraining rows, so its cluster metrics are None instead of an error."""
    from mosi_lib.report import collect

    tiny_config.dec.pretrain_rows = "train"
    run = experiments.pretrain_dec(tiny_config, data, root=tmp_path, run_id="dec_train")
    m = run.metrics()
    assert m["n_rows"] == len(data.rows("train")) and m["cluster"][data.report_split] is None
    assert set(run.latents()["split"]) == {"train"}
    row = collect.dec_summary(tmp_path).iloc[0]
    assert np.isnan(row["acc_report"]) and 0 <= row["acc_all"] <= 1
    ft = experiments.train_classifier(tiny_config, data, root=tmp_path, init_run=run)
    assert ft.metrics()["transfer"]["dec_rows"] == "train"


def test_tables_bootstrap_over_videos_from_the_runs_predictions(tiny_config, data, tmp_path):
    from mosi_lib.report import collect, pairing, tables

    tiny_config.dec.stage1_epochs, tiny_config.dec.stage2_epochs = 2, 1
    for s in (0, 1):
        cfg = copy.deepcopy(tiny_config)
        cfg.system.seed = s
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # the tiny DEC's collapse warnings are not tested
            dec = experiments.pretrain_dec(cfg, data, root=tmp_path, run_id=f"dec{s}")
        experiments.train_classifier(cfg, data, root=tmp_path, run_id=f"scratch{s}")
        experiments.train_classifier(cfg, data, root=tmp_path, run_id=f"ft{s}", init_run=dec)
    df = collect.collect_runs(tmp_path)
    table = tables.comparison_table(df, include_literature=False)
    cell = table.set_index("Model").loc["Transformer (40%)", "95% video bootstrap has0"]
    lo, hi = (float(v) for v in cell.strip("[]").split(", "))
    mean = 100 * df[df["init"] == "scratch"]["acc_has0"].mean()
    assert lo <= mean <= hi and hi - lo > 0  # 12 videos resampled
    paired = pairing.paired_table(df)
    row = paired[paired["metric"] == "acc_has0"].iloc[0]
    diff = 100 * (df[df["init"] == "dec"]["acc_has0"].mean()
                  - df[df["init"] == "scratch"]["acc_has0"].mean())
    assert row["n"] == 2 and row["mean_diff"] == pytest.approx(diff)
    assert row["boot_ci_low"] <= diff <= row["boot_ci_high"]
