"""The look every figure shares: theme, fixed sizes, the red synthetic-data and smoke marks.

Rules (style guide section 5):

* Plot functions build a ``matplotlib.figure.Figure`` directly (``new_figure``, not through
  ``pyplot``), so nothing is ever shown or kept open behind the caller's back; notebooks
  ``display(fig)``.
* Sizes are fixed per figure kind (``SIZE_*``) and ``figure_files.save_figure`` writes at a
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
"""

from __future__ import annotations

import textwrap

import pandas as pd
import seaborn as sns
from matplotlib.figure import Figure

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
