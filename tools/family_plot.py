"""Draw a family table (``tools/family_table.py``) as a forest plot of paired differences.

    python tools/family_plot.py docs/results/conclusive_family.csv \
        --out figures/readme/conclusive_family.png --title "..."

One row per comparison and labeled share: the paired mean difference (points of test Acc-2
has0), its Student-t interval over seeds (thick) and its two-level bootstrap interval over seeds
and test videos (thin), a dashed line at 0, and at the right the seeds (n), the wins and the
Holm-adjusted Wilcoxon p. Reads only the CSV; the footnote names it and its sidecar's command.
"""

from __future__ import annotations

import argparse
import json
import sys
import textwrap
from pathlib import Path

import matplotlib

matplotlib.use("Agg")

import pandas as pd  # noqa: E402

from mosi_lib.report.plots import new_figure, set_style  # noqa: E402

NEED = ["comparison", "labeled_fraction", "n", "mean_diff", "ci_low", "ci_high", "boot_low",
        "boot_high", "wins", "p_holm"]


def plot(family: pd.DataFrame, *, title: str, source: str):
    """The forest plot of ``family`` (rows in file order, top to bottom)."""
    missing = [c for c in NEED if c not in family.columns]
    if missing:
        raise ValueError(f"family table: missing columns {missing}; expected {NEED}")
    set_style()
    rows = family.reset_index(drop=True)
    fig = new_figure((9.0, 2.0 + 0.45 * len(rows)))
    ax = fig.subplots()
    y = list(range(len(rows)))[::-1]
    for yi, (_, r) in zip(y, rows.iterrows(), strict=True):
        ax.plot([r["ci_low"], r["ci_high"]], [yi + 0.12] * 2, color="#0072b2", lw=4,
                solid_capstyle="butt")
        ax.plot([r["boot_low"], r["boot_high"]], [yi - 0.12] * 2, color="#555555", lw=1.5,
                marker="|", ms=8)
        ax.plot(r["mean_diff"], yi, "o", color="#d55e00", ms=7, zorder=3)
        ax.annotate(f"n={int(r['n'])}  wins {int(r['wins'])}  p_Holm {r['p_holm']:.2g}",
                    xy=(1.01, yi), xycoords=("axes fraction", "data"), va="center", fontsize=8)
    ax.axvline(0, color="black", ls="--", lw=0.8)
    ax.set_yticks(y, [f"{r['comparison']} ({100 * r['labeled_fraction']:g}%)"
                      for _, r in rows.iterrows()])
    ax.set_xlabel("paired difference, test Acc-2 has0 (points)")
    from matplotlib.lines import Line2D

    ax.legend(handles=[
        Line2D([], [], color="#d55e00", marker="o", ls="", label="mean over seeds"),
        Line2D([], [], color="#0072b2", lw=4, label="95% t interval over seeds"),
        Line2D([], [], color="#555555", lw=1.5, marker="|",
               label="95% two-level bootstrap (seeds, test videos)")],
        loc="upper center", bbox_to_anchor=(0.5, -0.35 / max(len(rows), 1) - 0.12), ncol=3,
        fontsize=8, frameon=False)
    ax.set_ylim(-0.7, len(rows) - 0.3)
    ax.set_title(title, fontsize=11, loc="left")
    fig.text(0.01, 0.01, source, fontsize=8, color="#555555", va="bottom")
    engine = fig.get_layout_engine()
    if engine is not None:  # room below the axes for the legend and the source line
        engine.set(rect=(0, 0.07, 0.86, 0.93))
    return fig


def main(argv: list[str] | None = None) -> int:
    """Draw the figure; 0, or 2 with one error line on stderr."""
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("family", type=Path, help="a CSV written by tools/family_table.py")
    ap.add_argument("--out", required=True, type=Path, help="PNG to write")
    ap.add_argument("--title", default="Paired differences")
    args = ap.parse_args(argv)
    try:
        family = pd.read_csv(args.family)
        side = json.loads(args.family.with_suffix(".json").read_text())
        cmd = side.get("command", "")
        made = (f"{len(cmd)} batches of runs (their commands in the sidecar)"
                if isinstance(cmd, list) else cmd)
        commits = side.get("commit")
        commits = ", ".join(dict.fromkeys(commits)) if isinstance(commits, list) else commits
        source = (f"{args.family.name}: {side.get('data', '')}; {made}, commit {commits}, "
                  f"{side.get('machine')}")
        fig = plot(family, title=args.title, source="\n".join(textwrap.wrap(source, 150)[:2]))
    except (OSError, ValueError) as err:
        print(f"family_plot: error: {err}", file=sys.stderr)
        return 2
    args.out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(args.out, dpi=130)
    print(args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
