"""The label-efficiency figure: accuracy against the labeled fraction, per initialisation.

Drawn from ``tables.summary_table`` of the label sweep (notebook 06).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from matplotlib.patches import Patch
from matplotlib.ticker import NullLocator

from mosi_lib.reference import REFERENCES
from mosi_lib.report.figure_style import SIZE_SINGLE, mark_synthetic, new_figure, require_columns

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
