"""Every figure: one shared look, then the data, curve, sweep and t-SNE figures.

The look every figure shares: theme, fixed sizes, the red synthetic-data and smoke marks.

Rules (style guide section 5):

* Plot functions build a ``matplotlib.figure.Figure`` directly (``new_figure``, not through
  ``pyplot``), so nothing is ever shown or kept open behind the caller's back; notebooks
  ``display(fig)``.
* Sizes are fixed per figure kind (``SIZE_*``) and ``outputs.save_figure`` writes at a
  fixed ``DPI``, so regenerated files are comparable. Constrained layout keeps text from
  overlapping.
* Synthetic data are always labelled: ``save_figure`` has a required ``synthetic`` argument and
  adds a red "SYNTHETIC DATA" prefix to the figure title when it is True (``mark_synthetic``).
  Figures drawn from a ``Processed`` data set carry the mark from the start and remember it
  (``shows_synthetic``), and ``save_figure`` refuses to save such a figure with
  ``synthetic=False``.
* A smoke run's figures (``smoke=True``: 2 epochs, a test of the code, not a result) carry a
  "SMOKE" prefix in their title (``mark_smoke``) and are written into the smoke study's own
  folder, never over the real figures (``outputs.OutputSet``).

The figures: ``data_plots`` (the data), ``curve_plots`` (training curves, paper Figure 3),
``tsne_plots`` (the DEC latent space, paper Figure 4) and ``sweep_plots`` (label efficiency).

Figures of the preprocessed data: sentiment scores, sequence lengths and scaled features.

Notebook 01 draws them from a ``Processed`` data set; a figure of synthetic data carries the
mark from the start (``plots.mark_synthetic``).

Training curves: a classifier's loss and accuracy per epoch (paper Figure 3), DEC's losses.

``best_epoch`` is the classifier's checkpoint rule, which the curves mark.

The label-efficiency figure: accuracy against the labeled fraction, per initialisation.

Drawn from ``tables.summary_table`` of the label sweep (notebook 06).

t-SNE of the DEC latent space, coloured by true sentiment and by cluster (paper Figure 4).

Its randomness is fixed: the subsample and scikit-learn's ``TSNE`` take one seed, and the
returned ``info`` goes into the figure's sidecar.
"""

from __future__ import annotations

import textwrap
from typing import Any

import numpy as np
import pandas as pd
import seaborn as sns
from matplotlib.figure import Figure
from matplotlib.patches import Patch
from matplotlib.ticker import MaxNLocator, NullLocator

from mosi_lib import runs
from mosi_lib.data.preprocess import SPLITS, Processed
from mosi_lib.report.collect import run_variant
from mosi_lib.runs import REFERENCES

# =============================================================================
# The look every figure shares: theme, fixed sizes, the red synthetic-data and smoke marks.

DPI = 200  # dots per inch of every saved PNG (and of rasterised parts of PDFs)
SIZE_SINGLE = (6.4, 4.0)  # inches: one panel
SIZE_ROW = (11.0, 4.0)  # inches: two or three panels side by side
SYNTHETIC_MARK = "SYNTHETIC DATA"
SYNTHETIC_COLOR = "#b2182b"
SMOKE_MARK = "SMOKE (tiny test run, not a result)"
_SYNTH_ATTR = "_mosi_synthetic"  # set on a Figure known to show synthetic data
_CHAR_WIDTH = 0.7  # a generous average character width, in font sizes (bold DejaVu: ~0.6)
# the data note under every figure: 8 points, legible where a notebook shows the figure scaled
# to its output width (6 points was about 6 px there); wrapped to the figure's width
NOTE_FONTSIZE = 8.0


def set_style() -> None:
    """Apply the project's seaborn theme to matplotlib's rcParams (idempotent).

    Every plot function calls it, so figures look the same whether or not a notebook did.
    """
    sns.set_theme(
        context="paper",
        style="whitegrid",
        palette="colorblind",
        rc={
            "axes.titlesize": 10,
            "figure.titlesize": 12,
            "legend.fontsize": 8,
            "legend.framealpha": 0.85,
            "savefig.dpi": DPI,
        },
    )


def new_figure(size: tuple[float, float]) -> Figure:
    """An empty ``Figure`` of ``size`` inches in the project's style, with constrained layout."""
    set_style()
    return Figure(figsize=size, layout="constrained")


def title_width(fig: Figure, fontsize: float = 12.0) -> int:
    """Characters of a title line that fit the width of ``fig`` at ``fontsize`` points."""
    return max(20, int(fig.get_figwidth() * 72 / (_CHAR_WIDTH * fontsize)))


def wrap_title(fig: Figure, text: str, fontsize: float = 12.0) -> str:
    """``text`` wrapped into lines that fit the width of ``fig`` (``title_width``).

    Lines already in ``text`` are kept; each is wrapped on its own. ``fontsize`` is the title's
    (``figure.titlesize`` of ``set_style``, 12 points, for a suptitle).
    """
    width = title_width(fig, fontsize)
    return "\n".join(textwrap.fill(line, width) or line for line in text.split("\n"))


def mark_synthetic(fig: Figure) -> Figure:
    """Prefix the figure title with a red "SYNTHETIC DATA" mark (idempotent).

    Args:
        fig: any figure; its suptitle (if any) is kept after the mark.

    Returns:
        The same figure, flagged as synthetic for ``save_figure``.
    """
    old = fig.get_suptitle()
    if SYNTHETIC_MARK not in old:
        text = f"{SYNTHETIC_MARK} · {old}" if old else SYNTHETIC_MARK
        fig.suptitle(wrap_title(fig, text), color=SYNTHETIC_COLOR, fontweight="bold")
    setattr(fig, _SYNTH_ATTR, True)
    return fig


def mark_smoke(fig: Figure) -> Figure:
    """Prefix the figure title with the red "SMOKE" mark (idempotent): a smoke run's figure.

    Args:
        fig: any figure; its suptitle (if any) is kept after the mark.

    Returns:
        The same figure.
    """
    old = fig.get_suptitle()
    if SMOKE_MARK not in old:
        text = f"{SMOKE_MARK} · {old}" if old else SMOKE_MARK
        fig.suptitle(wrap_title(fig, text), color=SYNTHETIC_COLOR, fontweight="bold")
    return fig


def shows_synthetic(fig: Figure) -> bool:
    """True when ``fig`` was flagged by ``mark_synthetic`` as showing synthetic data."""
    return bool(getattr(fig, _SYNTH_ATTR, False))


def require_columns(df: pd.DataFrame, cols: list[str], what: str) -> None:
    """Raise ``ValueError`` naming ``what`` when ``df`` lacks one of ``cols`` or has no row."""
    missing = [c for c in cols if c not in df.columns]
    if missing:
        raise ValueError(f"{what}: missing columns {missing}; has {list(df.columns)}")
    if len(df) == 0:
        raise ValueError(f"{what}: no rows to plot")


# =============================================================================
# Figures of the preprocessed data: sentiment scores, sequence lengths and scaled features.

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


# =============================================================================
# Training curves: a classifier's loss and accuracy per epoch (paper Figure 3), DEC's losses.

def _log_if_positive(ax, values: list[np.ndarray]) -> None:
    """Log y-scale when every plotted value is positive (loss terms differ by decades)."""
    vals = np.concatenate([np.asarray(v, float) for v in values]) if values else np.array([])
    vals = vals[np.isfinite(vals)]
    if len(vals) and (vals > 0).all():
        ax.set_yscale("log")


def best_epoch(history: pd.DataFrame) -> int:
    """Epoch the classifier keeps: highest ``val_acc``, ties to lower ``val_loss``, then earlier.

    The same rule as ``train.classifier.fit_classifier``.

    Args:
        history: ``history.csv`` of a classifier run (columns epoch, val_acc, val_loss).

    Returns:
        The epoch number.
    """
    require_columns(history, ["epoch", "val_acc", "val_loss"], "classifier history")
    h = history.dropna(subset=["val_acc"])
    if len(h) == 0:
        raise ValueError("classifier history: every val_acc is NaN")
    h = h.sort_values(["val_acc", "val_loss", "epoch"], ascending=[False, True, True])
    return int(h["epoch"].iloc[0])


LOSS_NAMES = {"bce": "binary cross-entropy", "l1": "L1 loss on the score"}
"""The loss axis label of each ``train.objective`` in ``plot_loss_curves``."""


def plot_loss_curves(history: pd.DataFrame, *, title: str, objective: str = "bce") -> Figure:
    """Training and validation loss, and accuracy, per epoch of a classifier run (paper Fig. 3).

    Args:
        history: ``history.csv`` rows (epoch, train_loss, val_loss, val_acc; train_acc optional).
        title: figure title (say which run and data); wrapped to the figure's width.
        objective: the run's ``train.objective`` (labels the loss axis, ``LOSS_NAMES``);
            ``plot_run_loss_curves`` reads it from the run.

    Returns:
        Two panels: the loss (left) and accuracy in % (right); a dashed line marks the kept
        epoch (``best_epoch``).
    """
    if objective not in LOSS_NAMES:
        raise ValueError(f"objective={objective!r}: expected one of {list(LOSS_NAMES)}")
    require_columns(history, ["epoch", "train_loss", "val_loss", "val_acc"], "classifier history")
    h = history.sort_values("epoch")
    best = best_epoch(h)
    best_acc = float(h.loc[h["epoch"] == best, "val_acc"].iloc[0])
    fig = new_figure(SIZE_ROW)
    ax_loss, ax_acc = fig.subplots(1, 2)
    ax_loss.plot(h["epoch"], h["train_loss"], label="train")
    ax_loss.plot(h["epoch"], h["val_loss"], label="validation")
    ax_loss.set(title="Loss", xlabel="epoch", ylabel=LOSS_NAMES[objective])
    if "train_acc" in h:
        ax_acc.plot(h["epoch"], 100 * h["train_acc"], label="train")
    ax_acc.plot(h["epoch"], 100 * h["val_acc"], label="validation (selection metric)")
    ax_acc.plot([best], [100 * best_acc], "k*", ms=9)
    ax_acc.set(title="Accuracy", xlabel="epoch", ylabel="accuracy (%)")
    for ax in (ax_loss, ax_acc):
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    for ax in (ax_loss, ax_acc):
        ax.axvline(
            best,
            color="0.3",
            ls="--",
            lw=1,
            label=f"best epoch {best} (val acc {100 * best_acc:.2f}%)",
        )
        ax.legend(loc="best")
    fig.suptitle(wrap_title(fig, title))
    return fig


def plot_run_loss_curves(run: runs.Run, *, context: str = "") -> Figure:
    """``plot_loss_curves`` of a classifier run, titled and labelled from the run's own records.

    Args:
        run: a finished classifier run (``history.csv``, ``metrics.json``, ``config.yaml``).
        context: appended to the title, e.g. the data description.

    Returns:
        The figure: titled with the run's arm as the comparison table names it
        (``collect.run_variant``, e.g. "Transformer + DEC (40%)"), its loss axis labelled by
        the run's ``train.objective`` (``bce`` for runs written before the field).
    """
    cfg, m = run.config(), run.metrics()
    title = run_variant(m, cfg) + (f": {context}" if context else "")
    objective = cfg.get("train", {}).get("objective", "bce")
    return plot_loss_curves(run.history(), title=title, objective=objective)


def plot_dec_curves(history: pd.DataFrame, *, title: str = "DEC pretraining") -> Figure:
    """Loss terms of both DEC stages and the share of changed cluster assignments.

    Args:
        history: ``history.csv`` of a DEC run (stage, epoch, loss, recon; kl, sup, disent and,
            in stage 2, delta_label optional).
        title: figure title.

    Returns:
        Two panels: stage 1 reconstruction (and disentanglement) and stage 2 total loss with its
        unweighted terms; ``delta_label`` (% of rows whose hard cluster changed at the last
        target update) on a twin right axis of the stage-2 panel.
    """
    require_columns(history, ["stage", "epoch", "loss", "recon"], "DEC history")
    fig = new_figure((SIZE_ROW[0], SIZE_ROW[1] + 1.0))  # + the legends below the panels
    ax1, ax2 = fig.subplots(1, 2)
    s1 = history[history["stage"] == 1].sort_values("epoch")
    s2 = history[history["stage"] == 2].sort_values("epoch")

    terms1 = [c for c in ("recon", "disent") if c in s1]
    for c in terms1:
        ax1.plot(
            s1["epoch"],
            s1[c],
            label={"recon": "reconstruction (masked MSE)", "disent": "disentanglement"}[c],
        )
    _log_if_positive(ax1, [s1[c] for c in terms1])
    ax1.set(
        title=f"Stage 1: autoencoder ({len(s1)} epochs)",
        xlabel="epoch",
        ylabel="loss (unweighted terms)",
    )
    # legends below the panels: inside the stage-2 panel "best" could not see the twin axis's
    # line and covered it
    below = dict(loc="upper center", bbox_to_anchor=(0.5, -0.16))
    if len(s1):
        ax1.legend(ncol=2, **below)

    ax2.set(
        title=f"Stage 2: clustering ({len(s2)} epoch{'' if len(s2) == 1 else 's'})",
        xlabel="epoch",
        ylabel="loss",
    )
    for ax in (ax1, ax2):
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    if len(s2) == 0:
        ax2.text(0.5, 0.5, "no stage-2 epochs", ha="center", va="center", transform=ax2.transAxes)
    else:
        names = {
            "loss": "total (weighted)",
            "kl": "KL(P||Q)",
            "recon": "reconstruction",
            "sup": "supervised CE",
        }
        terms2 = [c for c in names if c in s2]
        for c in terms2:
            # markers: a stage 2 that stopped after an epoch or two would be invisible as lines
            ax2.plot(
                s2["epoch"],
                s2[c],
                label=names[c],
                lw=2 if c == "loss" else 1.2,
                marker="o" if len(s2) < 5 else None,
                ms=5,
            )
        _log_if_positive(ax2, [s2[c] for c in terms2])
        handles, labels = ax2.get_legend_handles_labels()
        if "delta_label" in s2:
            tw = ax2.twinx()
            tw.plot(
                s2["epoch"],
                100 * s2["delta_label"],
                color="0.4",
                ls=":",
                marker=".",
                label="changed assignments",
            )
            tw.set_ylabel("changed assignments (%)")
            tw.set_ylim(bottom=0)
            tw.grid(False)
            h2, l2 = tw.get_legend_handles_labels()
            handles, labels = handles + h2, labels + l2
        ax2.legend(handles, labels, ncol=3, **below)
    fig.suptitle(title)
    return fig


# =============================================================================
# The label-efficiency figure: accuracy against the labeled fraction, per initialisation.

_INIT_STYLE = {
    "scratch": ("Transformer (from scratch)", "#0072b2", "o"),
    "ae": ("Transformer + autoencoder (DEC stage 1)", "#e69f00", "P"),
    "dec": ("Transformer + DEC", "#d55e00", "s"),
    "logreg": ("logistic regression, mean-pooled (reference)", "#009e73", "^"),
    "logreg_text": ("logistic regression, mean word vectors (reference)", "#cc79a7", "v"),
    "tfidf": ("TF-IDF 1-2 grams + logistic regression (reference)", "#7f7f7f", "D"),
}


def plot_label_sweep(summary: pd.DataFrame, *, metric: str = "acc_has0", title: str) -> Figure:
    """Accuracy against the labeled fraction, one line per initialisation, with 95% bands.

    Args:
        summary: ``tables.summary_table(runs, by=["init", "labeled_fraction"])``.
        metric: a metric of ``tables.SUMMARY_METRICS`` (``acc_has0``, ``acc_non0``, ...).
        title: figure title (the synthetic mark is added when the summary is synthetic).

    Returns:
        One panel: mean over seeds (markers, line) and the Student-t 95% interval of the mean
        as a band where a fraction has at least two seeds; the majority-class accuracy of the
        evaluation rows as a dashed line. x is the labeled fraction in %, on a log scale.
    """
    need = [
        "init",
        "labeled_fraction",
        "n",
        f"{metric}_mean",
        f"{metric}_ci_low",
        f"{metric}_ci_high",
        "majority_acc_has0_mean",
        "synthetic",
    ]
    require_columns(summary, need, "plot_label_sweep")
    unknown = sorted(set(summary["init"]) - set(_INIT_STYLE))
    if unknown:
        raise ValueError(
            f"plot_label_sweep: unknown init {unknown}; expected one of {list(_INIT_STYLE)}"
        )
    fig = new_figure((SIZE_SINGLE[0], SIZE_SINGLE[1] + 1.2))
    ax = fig.subplots()
    any_band = False
    for init, (label, color, marker) in _INIT_STYLE.items():
        g = summary[summary["init"] == init].sort_values("labeled_fraction")
        if len(g) == 0:
            continue
        x = 100 * g["labeled_fraction"].to_numpy(float)
        n = g["n"].to_numpy(int)
        if init in REFERENCES and n.max() == 1:
            seeds = "deterministic, one fit"
        elif init in REFERENCES:  # data.draw=seed: one deterministic fit per seed's draw
            seeds = f"one fit per labeled draw, {n.max()} draws"
        elif n.min() != n.max():
            seeds = f"seeds per point: {n.min()}-{n.max()}"
        else:
            seeds = f"{n.min()} seed" + ("s" if n.min() > 1 else "")
        ax.plot(x, g[f"{metric}_mean"], color=color, marker=marker, label=f"{label} ({seeds})")
        band = n >= 2
        if band.any():
            any_band = True
            ax.fill_between(
                x[band],
                g[f"{metric}_ci_low"][band],
                g[f"{metric}_ci_high"][band],
                color=color,
                alpha=0.2,
                linewidth=0,
            )
    maj = summary.groupby("labeled_fraction")["majority_acc_has0_mean"].mean().sort_index()
    if metric.endswith("has0"):
        ax.plot(
            100 * maj.index.to_numpy(float),
            maj.to_numpy(),
            color="0.4",
            ls="--",
            label="majority class of the training labels",
        )
    # accuracy lives in [0, 100]: a wide interval (few seeds) must not stretch the axis beyond
    shown = [
        summary[f"{metric}_mean"],
        summary[f"{metric}_ci_low"],
        summary[f"{metric}_ci_high"],
    ] + ([maj.to_numpy()] if metric.endswith("has0") else [])
    vals = np.concatenate([np.asarray(v, float) for v in shown])
    vals = vals[np.isfinite(vals)]
    if len(vals):
        ax.set_ylim(max(0.0, vals.min() - 2), min(100.0, vals.max() + 2))
    ax.set_xscale("log")
    ticks = sorted(set(100 * summary["labeled_fraction"].astype(float)))
    ax.set_xticks(ticks, [f"{t:g}%" for t in ticks])
    ax.xaxis.set_minor_locator(NullLocator())
    name = {
        "acc_has0": "accuracy, has0 (%)",
        "acc_non0": "accuracy, non0 (%)",
        "f1_has0": "weighted F1, has0 (%)",
        "f1_non0": "weighted F1, non0 (%)",
    }
    ax.set(xlabel="labeled share of training segments", ylabel=name.get(metric, metric))
    handles, _ = ax.get_legend_handles_labels()
    if any_band:
        handles.append(
            Patch(
                color="0.5",
                alpha=0.3,
                linewidth=0,
                label="shaded: 95% interval of the mean over seeds",
            )
        )
    # below the panel: inside it, the legend covered the low-label points and their bands
    # (an axes legend, so that the constrained layout makes room for it above the data note)
    ax.legend(handles=handles, loc="upper center", bbox_to_anchor=(0.5, -0.16))
    fig.suptitle(title)
    if summary["synthetic"].astype(bool).any():
        mark_synthetic(fig)
    return fig


# =============================================================================
# t-SNE of the DEC latent space, coloured by true sentiment and by cluster (paper Figure 4).

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
