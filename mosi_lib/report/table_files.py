"""Writing a table to files: CSV (for machines), Markdown (for the README) and LaTeX.

Tables are regenerated, never hand-edited (style guide section 5). A caption says when a table
holds synthetic measurements or no row at all, and a footnote names the runs left out.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from mosi_lib import paths
from mosi_lib.files import naming
from mosi_lib.report.collect import has_synthetic, left_out
from mosi_lib.report.outputs import Output, stem_of


def _cell(v: Any) -> str:
    if v is None or (isinstance(v, float) and np.isnan(v)):
        return ""
    if isinstance(v, float | np.floating):
        return f"{v:.4g}"
    return str(v)


def _escape(text: str) -> str:
    """A Markdown table cell: pipes escaped, one line."""
    return text.replace("|", "\\|").replace("\n", " ")


def to_markdown(df: pd.DataFrame) -> str:
    """A GitHub-flavoured Markdown table without ``tabulate``; floats get 4 significant digits.

    Columns whose every cell looks numeric (digits, ``±``, ``,`` ``.`` ``-``) are right-aligned.
    """
    cells = [[_escape(_cell(v)) for v in row] for row in df.itertuples(index=False)]
    numeric = re.compile(r"^[\d\s.,±%+-]*$")
    align = []
    for j, _ in enumerate(df.columns):
        col = [r[j] for r in cells]
        is_num = any(col) and all(numeric.match(c) for c in col)
        align.append("---:" if is_num else "---")
    header = "| " + " | ".join(_escape(str(c)) for c in df.columns) + " |"
    lines = [header, "|" + "|".join(align) + "|"]
    lines += ["| " + " | ".join(r) + " |" for r in cells]
    return "\n".join(lines) + "\n"


_TEX_ESCAPES = {
    "\\": r"\textbackslash{}",
    "&": r"\&",
    "%": r"\%",
    "$": r"\$",
    "#": r"\#",
    "_": r"\_",
    "{": r"\{",
    "}": r"\}",
    "~": r"\textasciitilde{}",
    "^": r"\textasciicircum{}",
}


def _tex(text: Any) -> str:
    s = "".join(_TEX_ESCAPES.get(ch, ch) for ch in _cell(text))
    return s.replace("±", r"$\pm$")


SMOKE_CAPTION = "SMOKE (tiny test run, not a result):"
"""How the caption of a smoke run's table starts."""
EMPTY_NOTE = "EMPTY: no finished run of this part in the study (skipped, or not run yet)."


def footnote(left: dict[str, str]) -> str:
    """The table footnote that counts and names the runs left out; "" when there are none."""
    if not left:
        return ""
    items = "; ".join(f"{rid}: {why}" for rid, why in sorted(left.items()))
    return f"Left out: {len(left)} run(s) not counted in this table ({items})."


def save_table(
    df: pd.DataFrame,
    name: str | Output,
    out_dir: str | Path | None = None,
    *,
    caption: str,
    smoke: bool = False,
) -> dict[str, Path]:
    """Write ``<name>.csv``, ``<name>.md`` and ``<name>.tex``.

    The Markdown starts with the caption line (``Table: ...``); the LaTeX is a ``table`` with the
    caption and label ``tab:<name>``. When ``has_synthetic(df)``, both captions start with
    "SYNTHETIC DATA" (unless the caption already starts so). A table without rows (a part of
    the study that was skipped or has not finished a run yet) is still written, so that no table
    of an earlier study stays under its name, and its caption ends with ``EMPTY_NOTE``. Runs
    that ``collect_runs`` could not count (``left_out(df)``, carried by the tables built from
    it) are counted in the caption and named with their reason in a footnote under the
    Markdown table.

    Args:
        df: the table (e.g. ``comparison_table`` output).
        name: an ``outputs.OUTPUTS`` entry (how the study names its tables), or a file stem
            for a table of your own.
        out_dir: folder; None uses ``paths.figures_dir()``.
        caption: what the table shows (and the command or notebook that made it).
        smoke: drawn from a smoke run: the caption starts with ``SMOKE_CAPTION``.

    Returns:
        ``{"<name>.csv": path, "<name>.md": path, "<name>.tex": path}``.
    """
    name = stem_of(name, "table")
    paths.check_stem(name, "05_comparison_table")
    out = Path(out_dir) if out_dir is not None else paths.figures_dir()
    out.mkdir(parents=True, exist_ok=True)
    if has_synthetic(df) and not caption.upper().startswith("SYNTHETIC DATA"):
        caption = (
            f"SYNTHETIC DATA: measured rows come from generated data, not CMU-MOSI. {caption}"
        )
    if smoke and not caption.startswith(SMOKE_CAPTION):
        caption = f"{SMOKE_CAPTION} {caption}"
    if df.empty:
        caption = f"{caption} {EMPTY_NOTE}"
    note = footnote(left_out(df))
    if note:
        caption = f"{caption} {len(left_out(df))} run(s) left out (footnote)."
    files = {f"{name}.{ext}": out / f"{name}.{ext}" for ext in ("csv", "md", "tex")}
    with naming(out):  # a full disk names the folder, not the bare errno
        df.to_csv(files[f"{name}.csv"], index=False)
        files[f"{name}.md"].write_text(
            f"Table: {caption}\n\n{to_markdown(df)}" + (f"\n{note}\n" if note else "")
        )
        tex = df.map(_tex).rename(columns=_tex)
        files[f"{name}.tex"].write_text(
            tex.to_latex(index=False, escape=False, caption=_tex(caption), label=f"tab:{name}")
        )
    return files
