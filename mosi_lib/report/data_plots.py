"""Figures of the preprocessed data: sentiment scores, sequence lengths and scaled features.

Notebook 01 draws them from a ``Processed`` data set; a figure of synthetic data carries the
mark from the start (``figure_style.mark_synthetic``).
"""

from __future__ import annotations

import numpy as np
import seaborn as sns
from matplotlib.figure import Figure

from mosi_lib.data.preprocess import Processed
from mosi_lib.data.splits import SPLITS
from mosi_lib.report.figure_style import SIZE_ROW, SIZE_SINGLE, mark_synthetic, new_figure

SPLIT_COLORS = dict(zip(SPLITS, sns.color_palette("colorblind", 3).as_hex(), strict=True))


def _finish_data_figure(fig: Figure, data: Processed) -> Figure:
    if data.synthetic:
        mark_synthetic(fig)
    return fig


def plot_label_histogram(data: Processed, *, synthetic: bool | None = None) -> Figure:
    """Stacked histogram of the sentiment scores, coloured by split.

    Args:
        data: preprocessed data (``labels`` (N,) in [-3, 3], ``split`` (N,)).
        synthetic: optional check; must equal ``data.synthetic`` when given (the mark itself
            always follows ``data.synthetic``).

    Returns:
        One-panel figure; a dashed line marks score 0 (the has0/non0 boundary).
    """
    if synthetic is not None and bool(synthetic) != data.synthetic:
        raise ValueError(f"synthetic={synthetic} contradicts data.synthetic={data.synthetic}")
    if len(data) == 0:
        raise ValueError("plot_label_histogram: the data set has no rows")
    fig = new_figure(SIZE_SINGLE)
    ax = fig.subplots()
    present = [s for s in SPLITS if (data.split == s).any()]
    groups = [data.labels[data.split == s] for s in present]
    bins = np.linspace(-3, 3, 25)  # width 0.25
    ax.hist(
        groups,
        bins=bins,
        stacked=True,
        color=[SPLIT_COLORS[s] for s in present],
        label=[f"{s} (n = {len(g)})" for s, g in zip(present, groups, strict=True)],
        edgecolor="white",
        linewidth=0.5,
    )
    n_zero = int((data.labels == 0).sum())
    ax.axvline(0, color="0.25", ls="--", lw=1, label=f"score = 0 ({n_zero} segments)")
    ax.set(
        xlim=(-3, 3),
        xlabel="sentiment score",
        ylabel="segments",
        title=f"Sentiment scores by split ({len(data)} segments)",
    )
    ax.legend(loc="upper left")
    return _finish_data_figure(fig, data)


def plot_length_histogram(data: Processed) -> Figure:
    """Valid sequence length per modality (from the masks), with ``max_len`` marked.

    Args:
        data: preprocessed data (``masks[m]`` (N, T) bool).

    Returns:
        One panel per modality; the legend gives the mean length and, when the loader reported
        it, how many segments were truncated to ``max_len``.
    """
    fig = new_figure(SIZE_ROW)
    mods = data.modalities
    axes = fig.subplots(1, len(mods), sharey=True, squeeze=False)[0]
    t = data.max_len
    bins = np.arange(t + 2) - 0.5  # one bin per integer length 0..T
    report = data.meta.get("report", {})
    for ax, m in zip(axes, mods, strict=True):
        lengths = data.masks[m].sum(1)
        ax.hist(
            lengths,
            bins=bins,
            color=SPLIT_COLORS["train"],
            label=f"mean {lengths.mean():.1f} steps",
        )
        trunc = report.get(f"truncated_{m}")
        extra = f" ({int(trunc)} truncated)" if trunc is not None else ""
        ax.axvline(t, color="C3", ls="--", lw=1, label=f"max_len = {t}{extra}")
        ax.set(
            title=f"{m} (D = {data.dims[m]})",
            xlabel="valid steps per segment",
            xlim=(-0.5, t + 1.5),
        )
        ax.legend(loc="upper left")
    axes[0].set_ylabel("segments")
    fig.suptitle("Valid sequence length per modality")
    return _finish_data_figure(fig, data)


def plot_feature_stats(data: Processed) -> Figure:
    """Per-feature mean and std over the valid steps of training rows, after scaling.

    With the paper's scaling (min-max then z-score on training rows) every mean should be 0 and
    every std 1, except constant features (std 0); this plot checks that.

    Args:
        data: preprocessed data (``x[m]`` (N, T, D), ``masks[m]`` (N, T)).

    Returns:
        One panel per modality: feature index on x, mean and std on y.
    """
    train = data.rows("train")
    if len(train) == 0:
        raise ValueError("plot_feature_stats: no training rows (split == 'train')")
    fig = new_figure(SIZE_ROW)
    mods = data.modalities
    axes = fig.subplots(1, len(mods), squeeze=False)[0]
    for ax, m in zip(axes, mods, strict=True):
        vals = data.x[m][train][data.masks[m][train]].astype(np.float64)  # (n_steps, D)
        mean, std = vals.mean(0), vals.std(0)
        idx = np.arange(len(mean))
        ax.axhline(0, color="0.6", lw=0.8)
        ax.axhline(1, color="0.6", lw=0.8, ls=":")
        ax.plot(idx, mean, "o", ms=2.5, label="mean")
        ax.plot(idx, std, "s", ms=2.5, label="std")
        n_const = int((std == 0).sum())
        ax.set(title=f"{m} (D = {len(mean)}, {n_const} constant)", xlabel="feature index")
        ax.legend(loc="best")
    axes[0].set_ylabel("value after scaling")
    fig.suptitle(f"Feature mean and std on training rows after scaling ({len(train)} rows)")
    return _finish_data_figure(fig, data)
