"""Tables a person reads: the compact display form of the comparison and summary tables.

The full tables (``tables.comparison_table``: 21 columns, the data description on every row;
``tables.summary_table``: four numbers per metric) are what ``table_files.save_table`` writes
for machines and papers. What a notebook page or a terminal shows is their compact form: the
model and its Acc-2 (mean ± std over seeds), 95% interval over seeds, F1, MAE / Corr / Acc-7
where the objective regresses the score, and the seeds, with **one line of provenance per
table** (the data, the protocol, smoke or synthetic, rows left out) instead of a long string
on every row, and where the full files are.

``Compact`` shows itself as HTML in Jupyter (``display(compact_table(table))``) and as text
(``print``), which is what the CLI ends a study with (``print_table_file``).
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from html import escape
from pathlib import Path

import pandas as pd

COMPACT_COLUMNS = ["Model", "Acc-2 has0", "95% CI has0", "F1 has0", "MAE", "Corr", "Acc-7",
                   "Seeds"]
"""The comparison table's columns its compact form keeps (MAE, Corr and Acc-7 only where a row
has them: runs that regress the score)."""
OPTIONAL = ("MAE", "Corr", "Acc-7")
SHARED = ("Source", "Protocol")
"""Columns said once in the provenance line when every measured row has the same value (else
kept as a column)."""


@dataclass
class Compact:
    """A table to read: ``rows`` (a few short columns), one ``note`` of provenance, ``files``."""

    rows: pd.DataFrame
    note: str
    files: list[str] = field(default_factory=list)

    def lines(self) -> list[str]:
        """The note, the rows as text and where the full table is."""
        body = _text(self.rows) if len(self.rows) else ["(no measured row)"]
        where = [f"full table: {', '.join(self.files)}"] if self.files else []
        return [self.note, *body, *where]

    def __str__(self) -> str:
        return "\n".join(self.lines())

    def _repr_html_(self) -> str:
        where = (f"<p style='font-size:smaller'>full table: "
                 f"{escape(', '.join(self.files))}</p>" if self.files else "")
        return (f"<p>{escape(self.note)}</p>"
                + self.rows.to_html(index=False, na_rep="", escape=True) + where)


def _text(df: pd.DataFrame) -> list[str]:
    """``df`` as left-aligned text columns two spaces apart, header first."""
    cols = [[str(c), *map(str, df[c])] for c in df.columns]
    widths = [max(map(len, col)) for col in cols]
    return ["  ".join(col[i].ljust(w) for col, w in zip(cols, widths, strict=True)).rstrip()
            for i in range(len(df) + 1)]


def _cell(v: object) -> str:
    """A cell as text: NaN (an empty CSV cell read back) is ``""``."""
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return ""
    return str(v)


def compact_table(table: pd.DataFrame, *, title: str = "Comparison table",
                  files: list[str | Path] | None = None) -> Compact:
    """The compact form of ``tables.comparison_table`` output (or its CSV read back).

    Only measured rows are kept (the paper's reported rows, the majority baselines, labels,
    pretraining, parameters and recipe stay in the full files). ``Source`` and ``Protocol`` go
    into the note when every measured row shares them, else they stay columns; rows of runs
    that could not be read ("left out: run ...") are counted in the note.

    Args:
        table: the comparison table (``TABLE_COLUMNS``), as built or read from its CSV.
        title: the note's first words.
        files: the full table's files, named under the rows.

    Returns:
        A ``Compact`` table.

    Raises:
        ValueError: ``table`` lacks a compact column (not a comparison table).
    """
    missing = [c for c in ("Model", "Source", "Acc-2 has0", "Seeds") if c not in table.columns]
    if missing:
        raise ValueError(f"compact_table: missing columns {missing}; expected "
                         "tables.comparison_table output (TABLE_COLUMNS)")
    df = table.map(_cell) if len(table) else table.astype(str)
    left = df[df["Model"].str.startswith("left out:")]
    df = df[df["Source"].str.startswith("measured") & ~df.index.isin(left.index)]
    cols = [c for c in COMPACT_COLUMNS if c in df.columns
            and (c not in OPTIONAL or (df[c] != "").any())]
    parts = [title]
    for col in SHARED:
        values = sorted(set(df[col])) if col in df.columns else []
        if len(values) == 1:
            parts.append(values[0].removeprefix("measured: ") if col == "Source"
                         else f"protocol {values[0]}")
        elif len(values) > 1:
            cols.insert(1, col)
    parts.append(f"{len(df)} measured row(s)")
    if len(left):
        named = ", ".join(f"{m.removeprefix('left out: run ')} ({_reason(src)})"
                          for m, src in zip(left["Model"], left["Source"], strict=True))
        parts.append(f"{len(left)} run(s) left out: {named}; see the full table")
    return Compact(df[cols].reset_index(drop=True), " · ".join(parts),
                   [str(f) for f in files or []])


def _reason(source: str) -> str:
    """A left-out row's Source (``<run folder>/<file>: <reason>``), each path by its file name."""
    return re.sub(r"(?:[^\s(]*/)+([^/\s:]+)", r"\1", source)


def compact_summary(summary: pd.DataFrame, by: list[str], *, title: str = "Summary",
                    metric: str = "acc_has0",
                    files: list[str | Path] | None = None) -> Compact:
    """The compact form of ``tables.summary_table`` output: ``by``, Acc-2, interval, seeds.

    Args:
        summary: ``summary_table`` output (or its CSV read back).
        by: its grouping columns, shown first.
        title: the note's first words.
        metric: the metric shown (``<metric>_mean``, ``_std``, ``_ci_low``, ``_ci_high``).
        files: the full table's files.

    Returns:
        A ``Compact`` table: ``by``, ``Acc-2 has0`` (mean ± std in %), ``95% CI``, ``Seeds``.
    """
    need = [*by, "n", "seeds", "protocol", f"{metric}_mean"]
    missing = [c for c in need if c not in summary.columns]
    if missing:
        raise ValueError(f"compact_summary: missing columns {missing}; expected "
                         "tables.summary_table output")

    def num(v: object) -> str:
        return "" if v is None or pd.isna(v) else f"{float(v):.2f}"

    rows = pd.DataFrame({c: summary[c].map(_cell) for c in by})
    mean, std = summary[f"{metric}_mean"].map(num), summary[f"{metric}_std"].map(num)
    rows["Acc-2 has0" if metric == "acc_has0" else metric] = [
        f"{m} ± {s}" if s else m for m, s in zip(mean, std, strict=True)]
    rows["95% CI"] = [f"[{num(lo)}, {num(hi)}]" if num(lo) else "" for lo, hi in
                      zip(summary[f"{metric}_ci_low"], summary[f"{metric}_ci_high"],
                          strict=True)]
    rows["Seeds"] = [f"{int(n)} ({_cell(s)})" for n, s in
                     zip(summary["n"], summary["seeds"], strict=True)]
    parts = [title]
    protocols = sorted(set(summary["protocol"].map(_cell)))
    if len(protocols) == 1:
        parts.append(f"protocol {protocols[0]}")
    else:
        rows.insert(len(by), "protocol", summary["protocol"].map(_cell))
    if "synthetic" in summary.columns and summary["synthetic"].astype(str).isin(
            ["True", "true", "1"]).any():
        parts.append("SYNTHETIC data")
    parts.append(f"{len(rows)} row(s)")
    return Compact(rows, " · ".join(parts), [str(f) for f in files or []])


def print_table_file(csv: str | Path, *, by: list[str] | None = None, title: str) -> bool:
    """Print the compact form of a table written by ``save_table``; False if there is none.

    Args:
        csv: the table's ``.csv`` (its ``.md`` and ``.tex`` are named beside it).
        by: a summary table's grouping columns; None: a comparison table.
        title: the note's first words.
    """
    csv = Path(csv)
    if not csv.exists():
        return False
    table = pd.read_csv(csv, dtype=str, keep_default_na=False) if by is None else pd.read_csv(csv)
    files = [csv, *(p for p in (csv.with_suffix(".md"), csv.with_suffix(".tex")) if p.exists())]
    out = (compact_table(table, title=title, files=files) if by is None
           else compact_summary(table, by, title=title, files=files))
    print(out, flush=True)
    return True
