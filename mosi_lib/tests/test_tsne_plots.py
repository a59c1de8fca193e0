import matplotlib
import numpy as np
import pytest
from threadpoolctl import threadpool_limits

from mosi_lib.report import plots

matplotlib.use("Agg")  # never a GUI; the plot functions build Figures without pyplot anyway


@pytest.fixture(autouse=True)
def _one_thread():
    """t-SNE on a few dozen points: extra OpenMP/BLAS threads only add contention.

    On a busy machine a second OpenMP thread makes a 40-point t-SNE many times slower.
    threadpoolctl only limits libraries already loaded, so scikit-learn's OpenMP runtime is
    loaded first (``plot_tsne_latent`` imports ``sklearn.manifold`` lazily).
    """
    import sklearn.manifold  # noqa: F401

    with threadpool_limits(1):
        yield


def _legend(ax) -> list[str]:
    return [t.get_text() for t in ax.get_legend().get_texts()]


def _latent(n: int = 40, seed: int = 0):
    rng = np.random.default_rng(seed)
    z = rng.normal(size=(n, 4))
    z[n // 2 :] += 4.0  # two blobs
    labels = np.linspace(-3, 3, n)
    labels[n // 2] = 0.0  # 0 counts as positive under has0
    clusters = np.arange(n) % 3
    return z, labels, clusters


def test_tsne_has0_panels_and_info():
    z, labels, clusters = _latent()
    fig, info = plots.plot_tsne_latent(z, labels, clusters, seed=0, perplexity=10)
    ax_s, ax_c = fig.axes
    assert _legend(ax_s) == ["negative, < 0 (n = 20)", "positive, >= 0 (n = 20)"]
    assert _legend(ax_c) == ["cluster 0 (n = 14)", "cluster 1 (n = 13)", "cluster 2 (n = 13)"]
    assert sum(len(c.get_offsets()) for c in ax_c.collections) == 40
    assert info["kl_divergence"] >= 0
    assert {k: v for k, v in info.items() if k != "kl_divergence"} == {
        "n_points": 40,
        "n_total": 40,
        "perplexity": 10.0,
        "seed": 0,
        "init": "pca",
        "color_by": "has0",
        "run_seed": None,
    }
    assert "(40 points, perplexity 10, init pca, t-SNE seed 0)" in fig.get_suptitle()


def test_tsne_subsample_is_seeded():
    z, labels, clusters = _latent()
    fig, info = plots.plot_tsne_latent(
        z, labels, clusters, seed=3, perplexity=5, max_points=30, init="random"
    )
    assert (info["n_points"], info["n_total"], info["init"]) == (30, 40, "random")
    assert "30 of 40 points" in fig.get_suptitle()
    idx = np.sort(np.random.default_rng(3).choice(40, size=30, replace=False))
    n_pos = int((labels[idx] >= 0).sum())
    assert _legend(fig.axes[0]) == [
        f"negative, < 0 (n = {30 - n_pos})",
        f"positive, >= 0 (n = {n_pos})",
    ]
    counts = np.bincount(clusters[idx], minlength=3)
    assert _legend(fig.axes[1]) == [f"cluster {c} (n = {counts[c]})" for c in range(3)]
    fig2, info2 = plots.plot_tsne_latent(
        z, labels, clusters, seed=3, perplexity=5, max_points=30, init="random"
    )
    for a, b in zip(fig.axes[1].collections, fig2.axes[1].collections, strict=True):
        np.testing.assert_array_equal(a.get_offsets(), b.get_offsets())
    assert info2 == info
    assert "t-SNE seed 3)" in fig.get_suptitle() and "run" not in fig.get_suptitle()
    fig3, info3 = plots.plot_tsne_latent(
        z, labels, clusters, seed=3, perplexity=5, max_points=30, init="random", run_seed=4
    )
    assert "of the seed-4 run" in fig3.get_suptitle() and info3["run_seed"] == 4
    # max_points above N embeds every row
    _, info = plots.plot_tsne_latent(
        z[:12], labels[:12], clusters[:12], seed=0, perplexity=3, max_points=100
    )
    assert (info["n_points"], info["n_total"]) == (12, 12)


def test_tsne_color_by_score():
    z, labels, clusters = _latent(n=20)
    fig, info = plots.plot_tsne_latent(
        z, labels, clusters, seed=0, perplexity=5, color_by="score"
    )
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
        plots.plot_tsne_latent(**kw)


def test_tsne_rejects_nan_rows():
    z, labels, clusters = _latent()
    z[[3, 7], 1] = np.nan
    z[7, 2] = np.inf
    with pytest.raises(ValueError, match="2 rows with NaN/inf"):
        plots.plot_tsne_latent(z, labels, clusters, seed=0, perplexity=10)
