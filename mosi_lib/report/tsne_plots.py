"""t-SNE of the DEC latent space, coloured by true sentiment and by cluster (paper Figure 4).

Its randomness is fixed: the subsample and scikit-learn's ``TSNE`` take one seed, and the
returned ``info`` goes into the figure's sidecar.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import seaborn as sns
from matplotlib.figure import Figure

from mosi_lib.report.figure_style import SIZE_ROW, new_figure

SENTIMENT_CMAP = "RdBu_r"  # diverging: negative blue, positive red
NEG_COLOR, POS_COLOR = "#2166ac", "#b2182b"


def plot_tsne_latent(
    z: np.ndarray,
    labels: np.ndarray,
    clusters: np.ndarray,
    *,
    seed: int,
    perplexity: float,
    init: str = "pca",
    max_points: int | None = None,
    color_by: str = "has0",
    run_seed: int | None = None,
) -> tuple[Figure, dict[str, Any]]:
    """t-SNE of the DEC latent space, coloured by true sentiment and by cluster (paper Fig. 4).

    Args:
        z: (N, L) latent vectors.
        labels: (N,) true sentiment scores in [-3, 3] (reporting only).
        clusters: (N,) hard cluster ids.
        seed: seeds the subsample and scikit-learn's ``TSNE(random_state=seed)``.
        perplexity: t-SNE perplexity; must be below the number of points embedded.
        init: ``pca`` or ``random`` (``TSNE(init=...)``).
        max_points: embed a seeded random subsample of this many rows (None: all rows).
        color_by: ``has0`` (two classes, score >= 0 positive) or ``score`` (continuous, diverging
            colormap centred at 0).
        run_seed: the seed of the DEC run whose latents these are, named in the title beside
            the t-SNE seed (the two differ when a study's figure run is not the t-SNE's seed).

    Returns:
        ``(fig, info)``: two panels (left: sentiment, right: clusters; ``score`` adds a colorbar
        axes), and ``info`` with n_points, n_total, perplexity, seed, init, color_by and the
        final t-SNE KL divergence (for the figure's JSON sidecar).
    """
    from sklearn.manifold import TSNE

    z = np.asarray(z, dtype=np.float64)
    if z.ndim != 2 or len(z) == 0:
        raise ValueError(f"z has shape {z.shape}; expected (N, L) with N >= 1")
    n_total = len(z)
    labels = np.asarray(labels, dtype=np.float64)
    clusters = np.asarray(clusters)
    for name, a in (("labels", labels), ("clusters", clusters)):
        if a.shape != (n_total,):
            raise ValueError(f"{name} has shape {a.shape}; expected ({n_total},) like z")
    if not np.isfinite(z).all():
        raise ValueError(f"z has {int((~np.isfinite(z)).any(1).sum())} rows with NaN/inf")
    if color_by not in ("has0", "score"):
        raise ValueError(f"color_by={color_by!r}: expected 'has0' or 'score'")
    if init not in ("pca", "random"):
        raise ValueError(f"init={init!r}: expected 'pca' or 'random'")
    idx = np.arange(n_total)
    if max_points is not None:
        if max_points < 2:
            raise ValueError(f"max_points={max_points}: expected at least 2")
        if max_points < n_total:
            rng = np.random.default_rng(seed)
            idx = np.sort(rng.choice(n_total, size=max_points, replace=False))
    n = len(idx)
    if not 0 < perplexity < n:
        raise ValueError(f"perplexity={perplexity} must be > 0 and < the number of points ({n})")
    tsne = TSNE(n_components=2, perplexity=perplexity, init=init, random_state=seed)
    emb = tsne.fit_transform(z[idx])  # (n, 2)
    lab, clu = labels[idx], clusters[idx]

    fig = new_figure(SIZE_ROW)
    ax_s, ax_c = fig.subplots(1, 2)
    kw = {"s": 8, "alpha": 0.75, "linewidths": 0}
    if color_by == "has0":
        pos = lab >= 0
        ax_s.scatter(
            *emb[~pos].T, color=NEG_COLOR, label=f"negative, < 0 (n = {(~pos).sum()})", **kw
        )
        ax_s.scatter(*emb[pos].T, color=POS_COLOR, label=f"positive, >= 0 (n = {pos.sum()})", **kw)
        ax_s.legend(loc="best", markerscale=2)
    else:
        sc = ax_s.scatter(*emb.T, c=lab, cmap=SENTIMENT_CMAP, vmin=-3, vmax=3, **kw)
        fig.colorbar(sc, ax=ax_s, label="sentiment score")
    ax_s.set_title("True sentiment" + (" (has0 classes)" if color_by == "has0" else ""))
    ids = np.unique(clu)
    colors = sns.color_palette("Set2", len(ids))
    for c, col in zip(ids, colors, strict=True):
        sel = clu == c
        ax_c.scatter(*emb[sel].T, color=col, label=f"cluster {c} (n = {sel.sum()})", **kw)
    ax_c.legend(loc="best", markerscale=2)
    ax_c.set_title("DEC cluster assignment")
    for ax in (ax_s, ax_c):
        ax.set(xlabel="t-SNE 1", ylabel="t-SNE 2", xticklabels=[], yticklabels=[])
    sub = f"{n} of {n_total} points" if n < n_total else f"{n} points"
    of_run = "" if run_seed is None else f" of the seed-{run_seed} run"
    fig.suptitle(
        f"t-SNE of the DEC latent z{of_run} ({sub}, perplexity {perplexity:g}, "
        f"init {init}, t-SNE seed {seed})"
    )
    info = {
        "n_points": int(n),
        "n_total": int(n_total),
        "perplexity": float(perplexity),
        "seed": int(seed),
        "init": init,
        "color_by": color_by,
        "run_seed": run_seed,
        "kl_divergence": float(tsne.kl_divergence_),
    }
    return fig, info
