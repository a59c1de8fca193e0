"""Training curves: a classifier's loss and accuracy per epoch (paper Figure 3), DEC's losses.

``best_epoch`` is the classifier's checkpoint rule, which the curves mark.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

from mosi_lib.report.collect import run_variant
from mosi_lib.report.figure_style import SIZE_ROW, new_figure, require_columns, wrap_title
from mosi_lib.study import runs


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
