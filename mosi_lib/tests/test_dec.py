"""DEC pretraining (``train.dec``: centres, both stages) and its run folders."""

import copy
import dataclasses
import warnings

import numpy as np
import pandas as pd
import pytest
import torch

from mosi_lib import losses, models
from mosi_lib.config import SystemConfig
from mosi_lib.data.preprocess import preprocess
from mosi_lib.study import classifier_runs, pretrain_runs
from mosi_lib.tests.conftest import make_raw
from mosi_lib.train.dec import fit_dec, init_centers
from mosi_lib.train.loop import DeviceData

QUIET = SystemConfig(amp=False, progress=False)
"""How the direct ``fit_dec`` calls run: seed 0, fp32, no bar, eager steps."""


@pytest.fixture
def data(tiny_config):
    return preprocess(make_raw(n=160), tiny_config.data)


def test_dec_pretrain_and_transfer(tiny_config, data, tmp_path):
    tiny_config.dec.stage1_epochs, tiny_config.dec.stage2_epochs = 15, 3
    tiny_config.dec.stage1_lr = 3e-3
    run = pretrain_runs.pretrain_dec(tiny_config, data, root=tmp_path, run_id="dec")
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
    ft = classifier_runs.train_classifier(tiny_config, data,
        root=tmp_path, run_id="ft", init_run=run)
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
    with pytest.warns(
        UserWarning,
        match=r"k-means start is degenerate: cluster sizes \[\d+, "
        rf"\d+\] .*< 10% of the rows\); remedy: {remedy}",
    ):
        assign, info = init_centers(
            model,
            z,
            n_clusters=2,
            n_init=3,
            seed=0,
            labeled_pos=labeled,
            min_share=0.1,
            remedy=remedy,
        )
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
        assign, info = init_centers(
            model,
            z[:200],
            n_clusters=2,
            n_init=3,
            seed=0,
            labeled_pos=labeled[:200],
            min_share=0.1,
            remedy=remedy,
        )
    assert not info["degenerate"] and info["remedy"] is None
    assert (assign == cls).mean() > 0.95  # ordered: cluster 1 holds the positive labeled rows
    if remedy == "labeled_means":  # three clusters: kept, and the warning says why
        model.cluster_centers.data = torch.zeros(3, 4)
        with pytest.warns(UserWarning, match=r"remedy: none \(labeled_means needs two clusters"):
            _, info = init_centers(
                model,
                z,
                n_clusters=3,
                n_init=3,
                seed=0,
                labeled_pos=labeled,
                min_share=0.1,
                remedy=remedy,
            )
        assert info["degenerate"] and info["remedy"] is None


def test_dec_records_why_stage2_stopped(tiny_config, data):
    tiny_config.dec.stage1_epochs, tiny_config.dec.stage2_epochs = 1, 3
    dd = DeviceData(data, torch.device("cpu"))
    lab = data.train_rows("labeled", "has0")

    def fit(tol):
        tiny_config.dec.tol = tol
        model = models.build_dec(tiny_config.model, tiny_config.dec, data.dims, data.max_len)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # a collapse warning of the tiny model is not tested
            return fit_dec(
                model, dd, tiny_config.dec, QUIET, rows=np.arange(len(data)), labeled_rows=lab
            )

    res = fit(0.0)  # a share of changed rows never falls below 0: the budget ends stage 2
    assert res["stage2_stop"]["reason"] == "budget" and res["stage2_stop"]["epoch"] == 3
    assert not res["stopped_early"] and "kmeans_sizes" in res["center_init"]
    res = fit(0.999)  # below 99.9% after the first epoch: stops at the second target update
    assert res["stage2_stop"] == {
        "reason": "tol",
        "epoch": 1,
        "delta_label": res["stage2_stop"]["delta_label"],
    }
    assert res["stopped_early"] and res["stage2_stop"]["delta_label"] < 0.999
    assert sum(h["stage"] == 2 for h in res["history"]) == 1


def test_dec_uses_only_labeled_training_labels(tiny_config, data, monkeypatch):
    seen = {}
    orig = losses.supervised_cluster_ce

    def spy(q, y, labeled, class_head=None, **kw):
        seen.setdefault("n", 0)
        seen["n"] += int(labeled.sum())
        return orig(q, y, labeled, class_head=class_head, **kw)

    monkeypatch.setattr(losses, "supervised_cluster_ce", spy)
    tiny_config.dec.stage1_epochs, tiny_config.dec.stage2_epochs = 1, 1
    dd = DeviceData(data, torch.device("cpu"))
    model = models.build_dec(tiny_config.model, tiny_config.dec, data.dims, data.max_len)
    lab = data.train_rows("labeled", "has0")
    fit_dec(model, dd, tiny_config.dec, QUIET, rows=np.arange(len(data)), labeled_rows=lab)
    # one stage-2 epoch visits every row once: exactly the labeled training rows are supervised
    assert seen["n"] == len(lab)


@pytest.mark.slow  # integration-scale: a DEC fit under torch.compile (aot_eager)
def test_dec_stage1_gives_the_centres_no_gradient(tiny_config, data):
    """Stage 1 leaves the centres without a gradient, also when the model is compiled (AOT
    autograd makes the whole forward one autograd node, whose backward also returns a zero
    gradient for the unused centres; kept outside the optimizer, it would accumulate), and
    stage 2 trains them."""
    tiny_config.dec.stage1_epochs, tiny_config.dec.stage2_epochs = 2, 1
    dd = DeviceData(data, torch.device("cpu"))
    model = models.build_dec(tiny_config.model, tiny_config.dec, data.dims, data.max_len)
    model.compile(backend="aot_eager")  # AOT autograd as under inductor, without its compile
    seen = {}

    def on_event(ev):
        if ev.name == "epoch_end" and ev.row["stage"] == 1:  # the last one is kept
            c = model.cluster_centers
            seen.update(grad=c.grad, requires_grad=c.requires_grad)

    fit_dec(
        model,
        dd,
        tiny_config.dec,
        QUIET,
        rows=np.arange(len(data)),
        labeled_rows=data.train_rows("labeled", "has0"),
        hooks=[on_event],
    )
    assert seen["grad"] is None and seen["requires_grad"] is False
    assert model.cluster_centers.requires_grad and model.cluster_centers.grad is not None


@pytest.mark.parametrize("mode", ["eval", "train"])
def test_dec_stage2_q_in_the_mode_of_p(tiny_config, data, mode):
    """Stage 2's batch Q comes from the same (eval-mode) function as P unless told otherwise."""
    tiny_config.dec.stage1_epochs, tiny_config.dec.stage2_epochs = 1, 2
    tiny_config.dec.tol = 0.0  # never stop early: two stage-2 epochs
    tiny_config.dec.stage2_mode = mode
    dd = DeviceData(data, torch.device("cpu"))
    model = models.build_dec(tiny_config.model, tiny_config.dec, data.dims, data.max_len)
    modes = []
    stage = {"n": 1}

    def on_event(ev):
        if ev.name == "stage_end":
            stage["n"] += 1

    handle = model.register_forward_pre_hook(
        lambda mod, args: modes.append((stage["n"], torch.is_grad_enabled(), mod.training))
    )
    fit_dec(
        model,
        dd,
        tiny_config.dec,
        QUIET,
        rows=np.arange(len(data)),
        labeled_rows=data.train_rows("labeled", "has0"),
        hooks=[on_event],
    )
    handle.remove()
    # forward passes that train (gradients on) in each stage, and their mode
    s1 = {tr for st, grad, tr in modes if st == 1 and grad}
    s2 = {tr for st, grad, tr in modes if st == 2 and grad}
    assert s1 == {True} and s2 == {mode == "train"}
    assert all(not tr for _, grad, tr in modes if not grad)  # P's passes: eval mode


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_cuda_graphs_train_dec_both_stages(tiny_config, data):
    """DEC under CUDA graphs (reduce-overhead), both stages: it stopped in stage 1 on an H100
    before the centres were kept out of stage 1's backward."""
    tiny_config.dec.stage1_epochs, tiny_config.dec.stage2_epochs = 3, 2
    tiny_config.dec.tol = 0.0  # never stop early
    dd = DeviceData(data, torch.device("cuda"))
    torch.manual_seed(0)
    model = models.build_dec(tiny_config.model, tiny_config.dec, data.dims, data.max_len).cuda()
    model.compile(mode="reduce-overhead")
    res = fit_dec(
        model,
        dd,
        tiny_config.dec,
        SystemConfig(amp=True, progress=False),
        rows=np.arange(len(data)),
        labeled_rows=data.train_rows("labeled", "has0"),
    )
    recon = [h["recon"] for h in res["history"] if h["stage"] == 1]
    assert [h["stage"] for h in res["history"]] == [1, 1, 1, 2, 2]
    assert all(np.isfinite(recon)) and recon[-1] < recon[0]
    assert np.allclose(res["q"].sum(1), 1.0, atol=1e-4)


def test_dec_on_training_rows_only(tiny_config, data, tmp_path):
    """dec.pretrain_rows="train" (the dec_train_rows ablation): the report split is not among
    the pretraining rows, so its cluster metrics are None instead of an error."""
    from mosi_lib.report import collect

    tiny_config.dec.pretrain_rows = "train"
    run = pretrain_runs.pretrain_dec(tiny_config, data, root=tmp_path, run_id="dec_train")
    m = run.metrics()
    assert m["n_rows"] == len(data.rows("train")) and m["cluster"][data.report_split] is None
    assert set(run.latents()["split"]) == {"train"}
    row = collect.dec_summary(tmp_path).iloc[0]
    assert np.isnan(row["acc_report"]) and 0 <= row["acc_all"] <= 1
    ft = classifier_runs.train_classifier(tiny_config, data, root=tmp_path, init_run=run)
    assert ft.metrics()["transfer"]["dec_rows"] == "train"


def test_tables_bootstrap_over_videos_from_the_runs_predictions(tiny_config, data, tmp_path):
    from mosi_lib.report import collect, tables

    tiny_config.dec.stage1_epochs, tiny_config.dec.stage2_epochs = 2, 1
    for s in (0, 1):
        cfg = copy.deepcopy(tiny_config)
        cfg.system.seed = s
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # the tiny DEC's collapse warnings are not tested
            dec = pretrain_runs.pretrain_dec(cfg, data, root=tmp_path, run_id=f"dec{s}")
        classifier_runs.train_classifier(cfg, data, root=tmp_path, run_id=f"scratch{s}")
        classifier_runs.train_classifier(cfg, data, root=tmp_path, run_id=f"ft{s}", init_run=dec)
    df = collect.collect_runs(tmp_path)
    table = tables.comparison_table(df, include_literature=False)
    cell = table.set_index("Model").loc["Transformer (40%)", "95% video bootstrap has0"]
    lo, hi = (float(v) for v in cell.strip("[]").split(", "))
    mean = 100 * df[df["init"] == "scratch"]["acc_has0"].mean()
    assert lo <= mean <= hi and hi - lo > 0  # 12 videos resampled
    paired = tables.paired_table(df)
    row = paired[paired["metric"] == "acc_has0"].iloc[0]
    diff = 100 * (
        df[df["init"] == "dec"]["acc_has0"].mean() - df[df["init"] == "scratch"]["acc_has0"].mean()
    )
    assert row["n"] == 2 and row["mean_diff"] == pytest.approx(diff)
    assert row["boot_ci_low"] <= diff <= row["boot_ci_high"]


@pytest.mark.parametrize("remedy", ["clipped", "trimmed"])
def test_label_free_remedy_splits_the_classes_without_reading_a_label(tiny_config, remedy):
    """Two outliers make k-means' start 2 / 200; the label-free remedies find the two classes."""
    model = models.build_dec(tiny_config.model, tiny_config.dec, {"text": 4}, 2)
    model.cluster_centers.data = torch.zeros(2, 4)  # centres in the test's 4-d latent
    z, _, cls = _outlier_latents()
    z = z[:202]  # two outliers
    with pytest.warns(UserWarning, match=rf"cluster sizes \[\d+, \d+\].*remedy: {remedy}"):
        assign, info = init_centers(model, z, n_clusters=2, n_init=3, seed=0, labeled_pos=None,
                                    min_share=0.1, remedy=remedy)
    assert sorted(info["kmeans_sizes"]) == [2, 200] and info["remedy"] == remedy
    assert min(info["sizes"]) >= 95  # balanced: the outliers joined a class's cluster
    agree = (assign[:200] == cls).mean()
    assert max(agree, 1 - agree) > 0.95  # no label read, so the clusters' order is free
    centres = model.cluster_centers.detach().numpy()
    assert np.abs(centres).max() < 5  # far rows did not pull a centre (they sit at 1000)
    # the same start with labels for the order: cluster 1 holds the positive class
    with pytest.warns(UserWarning):
        assign, _ = init_centers(model, z, n_clusters=2, n_init=3, seed=0,
                                 labeled_pos=_outlier_latents()[1][:202], min_share=0.1,
                                 remedy=remedy)
    assert (assign[:200] == cls).mean() > 0.95


def test_one_stage1_serves_every_labeled_share_bit_for_bit(tiny_config, data, tmp_path):
    """A DEC run of another labeled share (same features, rows and seed) starts stage 2 from a
    finished run's stage 1, and ends exactly where training its own stage 1 ends."""
    tiny_config.dec.stage1_epochs, tiny_config.dec.stage2_epochs = 4, 3
    # another share of the same training rows: half the labeled rows (stage 2 reads them)
    fewer = dataclasses.replace(data, labeled=data.labeled & (np.arange(len(data)) % 2 == 0))
    other = copy.deepcopy(tiny_config)
    other.data.labeled_fraction = 0.2
    alone = copy.deepcopy(other)
    alone.system.share_stage1 = False
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the tiny DEC's collapse warnings are not tested
        first = pretrain_runs.pretrain_dec(tiny_config, data, root=tmp_path / "s40", run_id="a")
        # a folder beside the study that is not a study (no study.json) is not searched
        unseen = pretrain_runs.pretrain_dec(other, fewer, root=tmp_path / "s20_first", run_id="u")
        (tmp_path / "s40" / "study.json").write_text("{}")  # a study of another labeled share
        shared = pretrain_runs.pretrain_dec(other, fewer, root=tmp_path / "s20", run_id="b")
        fresh = pretrain_runs.pretrain_dec(alone, fewer, root=tmp_path / "s20_alone", run_id="c")
    assert first.metrics()["stage1_from"] is None and fresh.metrics()["stage1_from"] is None
    assert unseen.metrics()["stage1_from"] is None
    assert shared.metrics()["stage1_from"] == "a"
    assert shared.metrics()["stage1_key"] == fresh.metrics()["stage1_key"]
    for k in ("z", "q", "cluster"):
        np.testing.assert_array_equal(shared.latents()[k], fresh.latents()[k])
    hist = [r.history().drop(columns="seconds") for r in (shared, fresh)]
    pd.testing.assert_frame_equal(*hist)
    assert (hist[0]["stage"] == 1).sum() == 4 and (hist[0]["stage"] == 2).any()
    for name in ("stage1.pt", "last.pt"):  # the autoencoder arm starts from stage1.pt
        a, b = (pretrain_runs.load_checkpoint(r.checkpoints / name)["model_state"]
                for r in (shared, fresh))
        assert all(torch.equal(a[k], b[k]) for k in a)
    # a stage-1 field changed: nothing to share
    lr = copy.deepcopy(other)
    lr.dec.stage1_lr *= 2
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        changed = pretrain_runs.pretrain_dec(lr, fewer, root=tmp_path / "s20_lr", run_id="d")
    assert changed.metrics()["stage1_from"] is None
