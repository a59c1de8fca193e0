import dataclasses
import json
from pathlib import Path

import matplotlib
import matplotlib.image as mpimg
import numpy as np
import pandas as pd
import pytest
from matplotlib.figure import Figure
from threadpoolctl import threadpool_limits

from mosi_lib.data.preprocess import preprocess
from mosi_lib.report import plotting
from mosi_lib.tests.conftest import make_raw

matplotlib.use("Agg")  # never a GUI; plotting builds Figures without pyplot anyway

MARK = plotting.SYNTHETIC_MARK


@pytest.fixture(autouse=True)
def _one_thread():
    """t-SNE on a few dozen points: extra OpenMP/BLAS threads only add contention.

    On a busy 2-core machine a 40-point t-SNE took 30 s with 2 OpenMP threads, 0.1 s with one.
    threadpoolctl only limits libraries already loaded, so scikit-learn's OpenMP runtime is
    loaded first (``plot_tsne_latent`` imports ``sklearn.manifold`` lazily).
    """
    import sklearn.manifold  # noqa: F401

    with threadpool_limits(1):
        yield


@pytest.fixture
def synth(tiny_config):
    return preprocess(make_raw(n=60), tiny_config.data)


@pytest.fixture
def real(tiny_config):
    raw = dataclasses.replace(make_raw(n=60), synthetic=False, source="csd")
    return preprocess(raw, tiny_config.data)


def _legend(ax) -> list[str]:
    return [t.get_text() for t in ax.get_legend().get_texts()]


def _classifier_history() -> pd.DataFrame:
    # epoch 2 and 3 tie on val_acc; 3 has the lower val_loss; epoch 5 has no validation
    return pd.DataFrame({
        "epoch": [1, 2, 3, 4, 5],
        "train_loss": [0.9, 0.7, 0.6, 0.5, 0.4],
        "val_loss": [0.8, 0.55, 0.45, 0.5, np.nan],
        "val_acc": [0.6, 0.8, 0.8, 0.7, np.nan],
        "train_acc": [0.55, 0.7, 0.75, 0.8, 0.85],
    })  # fmt: skip


def _dec_history(stage2: bool = True) -> pd.DataFrame:
    s1 = pd.DataFrame({"stage": 1, "epoch": [1, 2, 3], "loss": [2.0, 1.0, 0.5],
                       "recon": [1.5, 0.8, 0.4], "disent": [0.5, 0.2, 0.1]})  # fmt: skip
    if not stage2:
        return s1
    s2 = pd.DataFrame({"stage": 2, "epoch": [1, 2], "loss": [0.9, 0.7], "recon": [0.4, 0.35],
                       "kl": [0.3, 0.2], "sup": [0.6, 0.5],
                       "delta_label": [0.1, 0.02]})  # fmt: skip
    return pd.concat([s1, s2], ignore_index=True)


def _latent(n: int = 40, seed: int = 0):
    rng = np.random.default_rng(seed)
    z = rng.normal(size=(n, 4))
    z[n // 2 :] += 4.0  # two blobs
    labels = np.linspace(-3, 3, n)
    labels[n // 2] = 0.0  # 0 counts as positive under has0
    clusters = np.arange(n) % 3
    return z, labels, clusters


# ----------------------------------------------------------------------------- synthetic mark


def test_mark_synthetic_prefixes_title_once():
    fig = Figure()
    fig.suptitle("Loss curves")
    plotting.mark_synthetic(fig)
    plotting.mark_synthetic(fig)
    assert fig.get_suptitle() == f"{MARK} · Loss curves"
    assert getattr(fig, plotting._SYNTH_ATTR) is True
    assert plotting.mark_synthetic(Figure()).get_suptitle() == MARK


@pytest.mark.parametrize("plot", [plotting.plot_label_histogram, plotting.plot_length_histogram,
                                  plotting.plot_feature_stats])  # fmt: skip
def test_data_figures_follow_the_synthetic_flag(plot, synth, real, tmp_path):
    fig = plot(synth)
    assert isinstance(fig, Figure) and fig.get_suptitle().startswith(MARK)
    with pytest.raises(ValueError, match="synthetic=False"):
        plotting.save_figure(fig, "x", runs=["r"], synthetic=False, out_dir=tmp_path / "no")
    assert not (tmp_path / "no").exists()  # refused before writing anything
    fig_real = plot(real)
    assert MARK not in fig_real.get_suptitle()
    files = plotting.save_figure(fig_real, "real", runs=["r"], synthetic=False, out_dir=tmp_path)
    assert json.loads(files["real.json"].read_text())["synthetic"] is False


def test_label_histogram_counts(synth):
    with pytest.raises(ValueError, match="contradicts"):
        plotting.plot_label_histogram(synth, synthetic=False)
    fig = plotting.plot_label_histogram(synth, synthetic=True)
    (ax,) = fig.axes
    n_zero = int((synth.labels == 0).sum())
    assert n_zero >= 4  # make_raw sets the first four scores to 0
    expected = {f"{s} (n = {int((synth.split == s).sum())})" for s in ("train", "valid")}
    expected.add(f"score = 0 ({n_zero} segments)")
    assert set(_legend(ax)) == expected  # no test split in the paper protocol: no empty entry
    assert ax.get_title() == "Sentiment scores by split (60 segments)"


def test_length_histogram_reports_truncation(synth):
    fig = plotting.plot_length_histogram(synth)
    assert len(fig.axes) == 3
    for ax, m in zip(fig.axes, synth.modalities, strict=True):
        assert ax.get_title() == f"{m} (D = {synth.dims[m]})"
        trunc = synth.meta["report"][f"truncated_{m}"]
        mean = synth.masks[m].sum(1).mean()
        assert _legend(ax) == [f"mean {mean:.1f} steps", f"max_len = 6 ({trunc} truncated)"]


def test_feature_stats_are_zero_mean_unit_std(synth):
    fig = plotting.plot_feature_stats(synth)
    assert "(48 rows)" in fig.get_suptitle()
    for ax, m in zip(fig.axes, synth.modalities, strict=True):
        mean, std = ax.lines[2].get_ydata(), ax.lines[3].get_ydata()
        assert len(mean) == synth.dims[m]
        np.testing.assert_allclose(mean, 0, atol=1e-5)
        np.testing.assert_allclose(std, 1, atol=1e-4)
        assert ax.get_title() == f"{m} (D = {synth.dims[m]}, 0 constant)"


# ----------------------------------------------------------------------------- training curves


def test_best_epoch_rule():
    h = _classifier_history()
    assert plotting.best_epoch(h) == 3  # tie on val_acc -> lower val_loss
    assert plotting.best_epoch(h.iloc[::-1]) == 3  # row order does not matter
    h.loc[h["epoch"] == 3, "val_loss"] = 0.55
    assert plotting.best_epoch(h) == 2  # full tie -> earlier epoch
    h.loc[h["epoch"] == 5, ["val_acc", "val_loss"]] = [0.9, 0.9]
    assert plotting.best_epoch(h) == 5  # accuracy comes before loss


def test_best_epoch_bad_history():
    with pytest.raises(ValueError, match=r"missing columns \['val_loss'\]"):
        plotting.best_epoch(pd.DataFrame({"epoch": [1], "val_acc": [0.5]}))
    with pytest.raises(ValueError, match="NaN"):
        plotting.best_epoch(pd.DataFrame({"epoch": [1], "val_acc": [np.nan], "val_loss": [1.0]}))
    with pytest.raises(ValueError, match="no rows"):
        plotting.best_epoch(pd.DataFrame(columns=["epoch", "val_acc", "val_loss"]))


def test_loss_curves_mark_best_epoch():
    h = _classifier_history()
    fig = plotting.plot_loss_curves(h.iloc[::-1], title="run r1")
    assert fig.get_suptitle() == "run r1"
    ax_loss, ax_acc = fig.axes
    best = "best epoch 3 (val acc 80.00%)"
    assert _legend(ax_loss) == ["train", "validation", best]
    assert _legend(ax_acc) == ["train", "validation (selection metric)", best]
    val = ax_acc.lines[1]
    np.testing.assert_allclose(val.get_xdata(), h["epoch"])  # sorted by epoch
    np.testing.assert_allclose(val.get_ydata(), 100 * h["val_acc"])  # in %
    star = ax_acc.lines[2]
    assert list(star.get_xdata()) == [3] and list(star.get_ydata()) == pytest.approx([80.0])
    assert ax_acc.lines[3].get_xdata()[0] == 3  # dashed line at the kept epoch
    fig = plotting.plot_loss_curves(h.drop(columns="train_acc"), title="t")
    assert _legend(fig.axes[1]) == ["validation (selection metric)", best]


def test_loss_curves_name_the_objective_and_save_the_data_note(tmp_path):
    h = _classifier_history()
    assert plotting.plot_loss_curves(h, title="t").axes[0].get_title() == (
        "Loss (binary cross-entropy)")
    fig = plotting.plot_loss_curves(h, title="t", objective="l1")
    assert fig.axes[0].get_title() == "Loss (L1 regression of the score)"
    with pytest.raises(ValueError, match="objective='mse'"):
        plotting.plot_loss_curves(h, title="t", objective="mse")
    for _ in range(2):  # saving twice keeps one note
        files = plotting.save_figure(fig, "02_loss_curves", runs=["r"], synthetic=False,
                                     out_dir=tmp_path, data="real CMU-MOSI (test)")
    notes = [t.get_text() for t in fig.texts if t.get_text().startswith("data:")]
    assert notes == ["data: real CMU-MOSI (test)"]
    assert json.loads(files["02_loss_curves.json"].read_text())["data"] == "real CMU-MOSI (test)"


def test_loss_curves_missing_column():
    h = _classifier_history().drop(columns="train_loss")
    with pytest.raises(ValueError, match="train_loss"):
        plotting.plot_loss_curves(h, title="t")


def test_dec_curves_both_stages():
    fig = plotting.plot_dec_curves(_dec_history())
    assert fig.get_suptitle() == "DEC pretraining"
    ax1, ax2, twin = fig.axes
    assert ax1.get_title() == "Stage 1: autoencoder (3 epochs)"
    assert ax2.get_title() == "Stage 2: clustering (2 epochs)"
    assert _legend(ax1) == ["reconstruction (masked MSE)", "disentanglement"]
    assert _legend(ax2) == ["total (weighted)", "KL(P||Q)", "reconstruction", "supervised CE",
                            "changed assignments"]  # fmt: skip
    assert ax1.get_yscale() == "log" and ax2.get_yscale() == "log"
    np.testing.assert_allclose(twin.lines[0].get_ydata(), [10.0, 2.0])  # delta_label in %
    fig.canvas.draw()  # the legends sit below the panels, off every line (the twin's too)
    for ax in (ax1, ax2):
        assert ax.get_legend().get_window_extent().y1 < ax.get_window_extent().y0


def test_dec_curves_stage1_only_and_linear_scale():
    h = _dec_history(stage2=False)
    h.loc[0, "disent"] = -0.1  # a non-positive value: no log scale
    fig = plotting.plot_dec_curves(h, title="run d")
    ax1, ax2 = fig.axes
    assert ax1.get_yscale() == "linear"
    assert [t.get_text() for t in ax2.texts] == ["no stage-2 epochs"]
    with pytest.raises(ValueError, match="recon"):
        plotting.plot_dec_curves(h.drop(columns="recon"))


# ----------------------------------------------------------------------------- t-SNE


def test_tsne_has0_panels_and_info():
    z, labels, clusters = _latent()
    fig, info = plotting.plot_tsne_latent(z, labels, clusters, seed=0, perplexity=10)
    ax_s, ax_c = fig.axes
    assert _legend(ax_s) == ["negative, < 0 (n = 20)", "positive, >= 0 (n = 20)"]
    assert _legend(ax_c) == ["cluster 0 (n = 14)", "cluster 1 (n = 13)", "cluster 2 (n = 13)"]
    assert sum(len(c.get_offsets()) for c in ax_c.collections) == 40
    assert info["kl_divergence"] >= 0
    assert {k: v for k, v in info.items() if k != "kl_divergence"} == {
        "n_points": 40, "n_total": 40, "perplexity": 10.0, "seed": 0, "init": "pca",
        "color_by": "has0", "run_seed": None,
    }  # fmt: skip
    assert "(40 points, perplexity 10, init pca, t-SNE seed 0)" in fig.get_suptitle()


def test_tsne_subsample_is_seeded():
    z, labels, clusters = _latent()
    fig, info = plotting.plot_tsne_latent(z, labels, clusters, seed=3, perplexity=5,
                                          max_points=30, init="random")  # fmt: skip
    assert (info["n_points"], info["n_total"], info["init"]) == (30, 40, "random")
    assert "30 of 40 points" in fig.get_suptitle()
    idx = np.sort(np.random.default_rng(3).choice(40, size=30, replace=False))
    n_pos = int((labels[idx] >= 0).sum())
    assert _legend(fig.axes[0]) == [f"negative, < 0 (n = {30 - n_pos})",
                                    f"positive, >= 0 (n = {n_pos})"]  # fmt: skip
    counts = np.bincount(clusters[idx], minlength=3)
    assert _legend(fig.axes[1]) == [f"cluster {c} (n = {counts[c]})" for c in range(3)]
    fig2, info2 = plotting.plot_tsne_latent(z, labels, clusters, seed=3, perplexity=5,
                                            max_points=30, init="random")  # fmt: skip
    for a, b in zip(fig.axes[1].collections, fig2.axes[1].collections, strict=True):
        np.testing.assert_array_equal(a.get_offsets(), b.get_offsets())
    assert info2 == info
    assert "t-SNE seed 3)" in fig.get_suptitle() and "run" not in fig.get_suptitle()
    fig3, info3 = plotting.plot_tsne_latent(z, labels, clusters, seed=3, perplexity=5,
                                            max_points=30, init="random", run_seed=4)  # fmt: skip
    assert "of the seed-4 run" in fig3.get_suptitle() and info3["run_seed"] == 4
    # max_points above N embeds every row
    _, info = plotting.plot_tsne_latent(z[:12], labels[:12], clusters[:12], seed=0,
                                        perplexity=3, max_points=100)  # fmt: skip
    assert (info["n_points"], info["n_total"]) == (12, 12)


def test_tsne_color_by_score():
    z, labels, clusters = _latent(n=20)
    fig, info = plotting.plot_tsne_latent(z, labels, clusters, seed=0, perplexity=5,
                                          color_by="score")  # fmt: skip
    assert len(fig.axes) == 3 and info["color_by"] == "score"  # two panels + colorbar
    sc = fig.axes[0].collections[0]
    np.testing.assert_allclose(sc.get_array(), labels)
    assert sc.get_clim() == (-3, 3)
    assert fig.axes[0].get_legend() is None


@pytest.mark.parametrize(
    ("change", "match"),
    [
        ({"z": np.zeros(40)}, r"z has shape \(40,\)"),
        ({"z": np.zeros((0, 4))}, "N >= 1"),
        ({"labels": np.zeros(39)}, r"labels has shape \(39,\); expected \(40,\)"),
        ({"clusters": np.zeros((40, 1))}, r"clusters has shape \(40, 1\)"),
        ({"color_by": "rgb"}, "color_by='rgb'"),
        ({"init": "spectral"}, "init='spectral'"),
        ({"max_points": 1}, "max_points=1"),
        ({"perplexity": 40}, r"perplexity=40 must be > 0 and < the number of points \(40\)"),
        ({"perplexity": 0}, "perplexity=0"),
        ({"perplexity": 20, "max_points": 20}, r"number of points \(20\)"),
    ],
)
def test_tsne_rejects_bad_input(change, match):
    z, labels, clusters = _latent()
    kw = {"z": z, "labels": labels, "clusters": clusters, "seed": 0, "perplexity": 10, **change}
    with pytest.raises(ValueError, match=match):
        plotting.plot_tsne_latent(**kw)


def test_tsne_rejects_nan_rows():
    z, labels, clusters = _latent()
    z[[3, 7], 1] = np.nan
    z[7, 2] = np.inf
    with pytest.raises(ValueError, match="2 rows with NaN/inf"):
        plotting.plot_tsne_latent(z, labels, clusters, seed=0, perplexity=10)


# ----------------------------------------------------------------------------- saving


def test_save_figure_writes_png_pdf_and_sidecar(tmp_path):
    fig = plotting.plot_loss_curves(_classifier_history(), title="run r1")
    extra = {"n": np.int64(3), "kl": np.float32(0.5), "arr": np.arange(2), "p": Path("a/b")}
    files = plotting.save_figure(fig, "02_loss_curves", runs=["r1", "r2"], synthetic=False,
                                 out_dir=tmp_path, extra=extra)  # fmt: skip
    names = ["02_loss_curves.png", "02_loss_curves.pdf", "02_loss_curves.json"]
    assert sorted(files) == sorted(names)
    assert all(files[n] == tmp_path / n and files[n].stat().st_size > 0 for n in names)
    assert files["02_loss_curves.png"].read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert files["02_loss_curves.pdf"].read_bytes()[:5] == b"%PDF-"
    h, w = mpimg.imread(files["02_loss_curves.png"]).shape[:2]
    assert (w, h) == (round(11.0 * plotting.DPI), round(4.0 * plotting.DPI))  # fixed size, dpi
    meta = json.loads(files["02_loss_curves.json"].read_text())
    assert meta["name"] == "02_loss_curves"
    assert meta["files"] == ["02_loss_curves.pdf", "02_loss_curves.png"]
    assert meta["runs"] == ["r1", "r2"] and meta["synthetic"] is False
    assert meta["dpi"] == plotting.DPI and meta["size_inches"] == [11.0, 4.0]
    assert set(meta["git"]) == {"commit", "dirty"}
    assert meta["matplotlib"] == matplotlib.__version__ and meta["created"]
    assert meta["extra"] == {"n": 3, "kl": 0.5, "arr": [0, 1], "p": "a/b"}
    assert MARK not in fig.get_suptitle()


def test_save_figure_synthetic_marks_and_default_dir(tmp_path):
    fig = plotting.plot_loss_curves(_classifier_history(), title="smoke")
    files = plotting.save_figure(fig, "02_loss", runs=[], synthetic=True)
    assert files["02_loss.png"].parent == tmp_path / "figures"  # MOSI_FIGURES_DIR
    assert fig.get_suptitle() == f"{MARK} · smoke"
    meta = json.loads(files["02_loss.json"].read_text())
    assert meta["synthetic"] is True and meta["extra"] == {}
    # saving again replaces the files and does not repeat the mark
    plotting.save_figure(fig, "02_loss", runs=[], synthetic=True)
    assert fig.get_suptitle().count(MARK) == 1
    with pytest.raises(ValueError, match="synthetic=False"):
        plotting.save_figure(fig, "02_loss", runs=[], synthetic=False)


@pytest.mark.parametrize("name", ["", "../x", "a b", "_x", "x/y", "fig.png/"])
def test_save_figure_rejects_bad_name(name, tmp_path):
    with pytest.raises(ValueError, match="name="):
        plotting.save_figure(Figure(), name, runs=["r"], synthetic=False, out_dir=tmp_path)
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("bad_runs", ["r1", ["r1", 2]])
def test_save_figure_rejects_bad_runs(bad_runs, tmp_path):
    with pytest.raises(ValueError, match="runs="):
        plotting.save_figure(Figure(), "x", runs=bad_runs, synthetic=False, out_dir=tmp_path)
