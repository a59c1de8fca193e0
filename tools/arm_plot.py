"""Draw an arm table (``tools/arm_table.py``) as test accuracy against the labeled share.

    python tools/arm_plot.py docs/results/conclusive_arms.csv \
        --out figures/readme/conclusive_arms.png --title "..."

One line per arm across the labeled shares it was run at: the mean test Acc-2 has0 over seeds
(a dot), the 95% two-level bootstrap interval over seeds and test videos (a bar), the arms side
by side at each share and joined across shares; an arm that read test-fold features is drawn
with open markers and a dashed line, and the legend says so with its seed count per share. Reads only the CSV; the footnote names it.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import matplotlib

matplotlib.use("Agg")

import pandas as pd  # noqa: E402

from mosi_lib.report.plots import new_figure, set_style  # noqa: E402

NEED = ["arm", "labeled_fraction", "n", "mean", "boot_low", "boot_high", "test_features"]
COLORS = ["#000000", "#e69f00", "#56b4e9", "#009e73", "#d55e00", "#0072b2", "#cc79a7",
          "#999999", "#f0e442"]


def plot(arms: pd.DataFrame, *, title: str, source: str):
    """The figure of ``arms`` (arms in file order)."""
    missing = [c for c in NEED if c not in arms.columns]
    if missing:
        raise ValueError(f"arm table: missing columns {missing}; expected {NEED}")
    set_style()
    fig = new_figure((9.0, 4.8))
    ax = fig.subplots()
    names = list(dict.fromkeys(arms["arm"]))
    shares = sorted(arms["labeled_fraction"].unique())
    width = 0.7 / max(len(names), 1)
    for i, name in enumerate(names):
        a = arms[arms["arm"] == name].set_index("labeled_fraction").reindex(shares)
        x = [j + (i - (len(names) - 1) / 2) * width for j in range(len(shares))]
        color = COLORS[i % len(COLORS)]
        transductive = (a["test_features"] == "yes").any()
        seeds = "/".join(str(int(n)) for n in a["n"].dropna())
        ax.errorbar(x, a["mean"], yerr=[a["mean"] - a["boot_low"], a["boot_high"] - a["mean"]],
                    fmt="o", color=color, ms=6, capsize=3, lw=1.2, mew=1.5,
                    mfc="white" if transductive else color, ls="--" if transductive else "-",
                    label=f"{name} (n={seeds}{'; reads test features' if transductive else ''})")
    ax.set_xticks(range(len(shares)), [f"{100 * s:g}%" for s in shares])
    ax.set_xlabel("labeled share of the training rows")
    ax.set_ylabel("test Acc-2 has0 (%)")
    ax.legend(fontsize=8, frameon=False, loc="upper left", bbox_to_anchor=(1.01, 1.0))
    ax.set_title(title, fontsize=11, loc="left")
    fig.text(0.01, 0.01, source, fontsize=8, color="#555555", va="bottom")
    engine = fig.get_layout_engine()
    if engine is not None:  # room below the axes for the source line
        engine.set(rect=(0, 0.08, 1, 0.92))
    return fig


def main(argv: list[str] | None = None) -> int:
    """Draw the figure; 0, or 2 with one error line on stderr."""
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("arms", type=Path, help="a CSV written by tools/arm_table.py")
    ap.add_argument("--out", required=True, type=Path, help="PNG to write")
    ap.add_argument("--title", default="Test accuracy by labeled share")
    args = ap.parse_args(argv)
    try:
        arms = pd.read_csv(args.arms)
        source = (f"{args.arms.name}: mean over seeds; bars: the 95% two-level bootstrap "
                  "(seeds, then test videos);\nopen markers: pretrained on every segment's "
                  "features, the test fold's included")
        fig = plot(arms, title=args.title, source=source)
    except (OSError, ValueError) as e:
        print(f"{args.arms}: {e}", file=sys.stderr)
        return 2
    args.out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(args.out, dpi=150)
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
