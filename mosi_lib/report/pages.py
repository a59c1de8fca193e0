"""Tables as a person reads them: compact display forms, and generated blocks in Markdown pages.

Tables a person reads: the compact display form of the comparison and summary tables.

The full tables (``tables.comparison_table``: 21 columns, the data description on every row;
``tables.summary_table``: four numbers per metric) are what ``outputs.save_table`` writes
for machines and papers. What a notebook page or a terminal shows is their compact form: the
model and its Acc-2 (mean ± std over seeds), 95% interval over seeds, F1, MAE / Corr / Acc-7
where the objective regresses the score, and the seeds, with **one line of provenance per
table** (the data, the protocol, smoke or synthetic, rows left out) instead of a long string
on every row, and where the full files are.

``Compact`` shows itself as HTML in Jupyter (``display(compact_table(table))``) and as text
(``print``), which is what the CLI ends a study with (``print_table_file``).

Generated blocks in Markdown pages: tables between markers, filled from committed summaries.

A block in README.md or docs/*.md looks like::

    <!-- BEGIN generated: docs/results/minilm_standard_table.csv rows="Transformer" seeds=0,1 -->
    | Model | Acc-2 has0 |
    ...
    <!-- END generated -->

The path names a CSV under ``docs/results/`` (relative to the project root). Its provenance is
the JSON sidecar in the same folder whose ``files`` list names the CSV: the command, commit,
machine and date that made it, what data, and the config (``profile``, ``protocol``,
``seeds``, ...). Attributes:

- ``columns="A|B"``: these columns, in this order (default: all);
- ``rows="x|y"``: the rows whose first column contains ``x`` or ``y`` (default: all);
- ``form=answer``: instead of a table, one sentence per row of a paired-family summary
  (``tools/family_table.py``'s columns), saying what the row establishes or rules out
  (``answer_sentence``);
- any other ``key=value``: an assertion that the sidecar's ``config[key]`` is that value (a list
  is written comma-separated: ``seeds=0,1,2,3,4``), so a page cannot say one config produced a
  table that another produced.

``fill`` rewrites the text between the markers (the table and one source line); ``check`` says
where a page differs from what ``fill`` would write. ``python -m mosi_lib docs`` fills every
page, ``--check`` only checks (the test suite runs the check).

Some summaries are themselves computed from committed per-run records (a sidecar whose
``generated_by`` runs one of ``DERIVING_TOOLS``: the paired family and the arm tables).
``rederive`` runs those commands again before the pages are filled, so every interval and p on
a page is recomputed from the records by ``python -m mosi_lib docs``; with ``check`` it writes
to a temporary folder and names every summary that differs from its records.
"""

from __future__ import annotations

import json
import math
import os
import re
import shlex
import subprocess
import sys
import tempfile
from dataclasses import dataclass, field
from html import escape
from pathlib import Path
from typing import Any

import pandas as pd

from mosi_lib.report.outputs import to_markdown

# =============================================================================
# Tables a person reads: the compact display form of the comparison and summary tables.

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


# =============================================================================
# Generated blocks in Markdown pages: tables between markers, filled from committed summaries.

BLOCK = re.compile(
    r"<!-- BEGIN generated: (?P<path>\S+)(?P<attrs>[^\n]*?)-->\n"
    r"(?P<body>.*?)<!-- END generated -->",
    re.S,
)
ATTR = re.compile(r'(\w+)=(?:"([^"]*)"|(\S+))')
SIDECAR_KEYS = ("files", "command", "commit", "machine", "date", "data", "config")


@dataclass
class Block:
    """One generated block of a page: where it stands and what it asks for."""

    path: str
    columns: list[str] | None = None
    rows: list[str] | None = None
    form: str = "table"  # table | answer
    expect: dict[str, str] = field(default_factory=dict)
    span: tuple[int, int] = (0, 0)  # the body's start and end in the page text


def parse_blocks(text: str) -> list[Block]:
    """The generated blocks of a page, in order."""
    blocks = []
    for m in BLOCK.finditer(text):
        attrs = {k: quoted or bare for k, quoted, bare in ATTR.findall(m["attrs"])}
        columns, rows = attrs.pop("columns", None), attrs.pop("rows", None)
        form = attrs.pop("form", "table")
        blocks.append(
            Block(
                path=m["path"],
                columns=columns.split("|") if columns else None,
                rows=rows.split("|") if rows else None,
                form=form,
                expect=attrs,
                span=m.span("body"),
            )
        )
    return blocks


def read_sidecars(folder: Path) -> dict[str, tuple[Path, dict[str, Any]]]:
    """Map each CSV name under ``folder`` to its sidecar (path, content)."""
    out: dict[str, tuple[Path, dict[str, Any]]] = {}
    for side in sorted(folder.glob("*.json")):
        try:
            info = json.loads(side.read_text(encoding="utf-8"))
        except (OSError, ValueError) as e:
            raise ValueError(f"{side}: not a readable JSON sidecar ({e})") from e
        if not isinstance(info, dict) or not isinstance(info.get("files"), list):
            raise ValueError(f"{side}: a sidecar is a JSON object with a 'files' list")
        missing = [k for k in SIDECAR_KEYS if k not in info]
        if missing:
            raise ValueError(f"{side}: sidecar lacks {', '.join(missing)}")
        for name in info["files"]:
            if name in out:
                raise ValueError(f"{side}: {name} is claimed by {out[name][0].name} too")
            out[name] = (side, info)
    return out


def _value(v: Any) -> str:
    return ",".join(str(x) for x in v) if isinstance(v, list) else str(v)


def render(block: Block, root: Path, page: Path) -> str:
    """The body of ``block`` as ``fill`` writes it: the table, then its source line."""
    csv = root / block.path
    if not csv.is_file():
        raise FileNotFoundError(
            f"{page}: generated block names {block.path}, which does not exist"
        )
    side, info = read_sidecars(csv.parent).get(csv.name, (None, None))
    if info is None:
        raise ValueError(
            f"{page}: {block.path} has no sidecar in {csv.parent} listing it in 'files'"
        )
    for key, want in block.expect.items():
        if key not in info["config"]:
            raise ValueError(
                f"{page}: block of {block.path} asserts {key}={want}, but {side.name} records "
                f"no config '{key}' (it records: {', '.join(info['config'])})"
            )
        got = _value(info["config"][key])
        if got != want:
            raise ValueError(f"{page}: block of {block.path} says {key}={want}, but {side.name} "
                             f"records {key}={got}")
    df = pd.read_csv(csv, dtype=str, keep_default_na=False)
    if block.columns:
        unknown = [c for c in block.columns if c not in df.columns]
        if unknown:
            raise ValueError(f"{page}: block of {block.path} asks for column(s) {unknown}; the "
                             f"file has {list(df.columns)}")
        df = df[block.columns]
    if block.rows:
        first = df.iloc[:, 0]
        df = df[first.map(lambda v: any(r in v for r in block.rows))]
        if df.empty:
            raise ValueError(f"{page}: block of {block.path}: no row's first column contains "
                             f"any of {block.rows}")
    link = Path(os.path.relpath(csv, page.parent)).as_posix()
    def each(v: Any, fmt=str, sep: str = ", ") -> str:
        """A sidecar value, or a list of them (one per batch of records), as one phrase."""
        return sep.join(fmt(x) for x in dict.fromkeys(v)) if isinstance(v, list) else fmt(v)

    made = [each(info["command"], lambda c: f"`{c}`", "; ") if info["command"]
            else "command not recorded",
            f"commit {each(info['commit'])}" if info["commit"] else "commit not recorded",
            each(info["machine"]) if info["machine"] else "machine not recorded",
            each(info["date"]) if info["date"] else "date not recorded"]
    if info.get("transcribed"):
        made.append("transcribed from an earlier README")
    source = f"<sub>Generated from [{csv.name}]({link}) ({info['data']}): {', '.join(made)}.</sub>"
    if block.form == "answer":
        body = "\n".join(f"- {answer_sentence(row)}" for row in df.to_dict("records")) + "\n"
    elif block.form == "table":
        body = to_markdown(df)
    else:
        raise ValueError(f"{page}: block of {block.path} says form={block.form}; expected "
                         "table or answer")
    return f"{body}\n{source}\n"


ARM_WORDS = {"scratch": "scratch", "dec": "DEC", "ae": "the autoencoder",
             "dec_inductive": "DEC on the training rows only",
             "ae_inductive": "the autoencoder on the training rows only"}
"""How an answer sentence names the arms of ``tools/conclusive_study.sh`` (others: as written)."""

ANSWER_COLUMNS = ("comparison", "labeled_fraction", "n", "mean_diff", "boot_low", "boot_high",
                  "p_holm", "wins", "detectable")


def answer_sentence(row: dict[str, str]) -> str:
    """One row of a paired family (``tools/family_table.py``) as the sentence a reader takes in.

    The decision uses the two-level (seeds, then test videos) 95% bootstrap interval
    ``[boot_low, boot_high]`` and the Holm-adjusted p over the family: a gain (or loss) is
    *established* when the interval excludes 0 and ``p_holm`` < 0.05, and then it is at least
    the interval's near end; otherwise nothing is established and a gain larger than the
    interval's upper end is *ruled out* (at 95%, uncorrected for the family).
    """
    missing = [c for c in ANSWER_COLUMNS if c not in row]
    if missing:
        raise ValueError(f"form=answer needs the paired-family columns; missing {missing}")
    a, _, b = row["comparison"].partition(" - ")
    name = f"{ARM_WORDS.get(a, a)} − {ARM_WORDS.get(b, b)}"
    d, lo, hi = (float(row[k]) for k in ("mean_diff", "boot_low", "boot_high"))
    p, n = float(row["p_holm"]), int(row["n"])
    def signed(x: float) -> str:
        return f"{round(x, 2) + 0.0:+.2f}".replace("-", "−")  # + 0.0: no "−0.00"

    head = (f"**{name[0].upper() + name[1:]}, {100 * float(row['labeled_fraction']):.0f}% of "
            f"the labels** ({n} paired seeds): {signed(d)} points, 95% interval over seeds and "
            f"test videos [{signed(lo)}, {signed(hi)}], Holm-adjusted p {p:.2f}, ahead in "
            f"{row['wins']} of {n} seeds.")
    if p < 0.05 and lo > 0:
        return f"{head} A gain of at least {lo:.2f} points is established."
    if p < 0.05 and hi < 0:
        return f"{head} It hurts: a loss of at least {-hi:.2f} points is established."
    tail = (f"a gain larger than {hi:.2f} points is ruled out" if hi > 0
            else "any gain is ruled out")
    return (f"{head} Nothing is established; {tail} (the design detects "
            f"{float(row['detectable']):.2f} points with 80% power).")


def fill(page: Path, root: Path) -> str:
    """The text of ``page`` with every generated block rewritten from its summary."""
    text = page.read_text(encoding="utf-8")
    out, last = [], 0
    for block in parse_blocks(text):
        start, end = block.span
        out += [text[last:start], render(block, root, page)]
        last = end
    return "".join(out) + text[last:]


def pages(root: Path) -> list[Path]:
    """The pages that may hold generated blocks: README.md and docs/*.md."""
    return [p for p in [root / "README.md", *sorted((root / "docs").glob("*.md"))] if p.is_file()]


def check(root: Path) -> list[str]:
    """One line per page whose generated blocks differ from their summaries (or cannot be made)."""
    problems = []
    for page in pages(root):
        try:
            want = fill(page, root)
        except (OSError, ValueError) as e:
            problems.append(str(e))
            continue
        have = page.read_text(encoding="utf-8")
        if want != have:
            for a, b in zip(parse_blocks(have), parse_blocks(want), strict=True):
                if have[a.span[0]:a.span[1]] != want[b.span[0]:b.span[1]]:
                    problems.append(f"{page}: the block of {a.path} differs from the file; run "
                                    f"`python -m mosi_lib docs` (never edit it by hand)")
    return problems


def write_all(root: Path) -> list[Path]:
    """Fill every page in place; return those that changed."""
    changed = []
    for page in pages(root):
        text = fill(page, root)
        if text != page.read_text(encoding="utf-8"):
            page.write_text(text, encoding="utf-8")
            changed.append(page)
    return changed


DERIVING_TOOLS = ("tools/family_table.py", "tools/arm_table.py")
"""Tools whose output is a pure function of committed files (per-run records): ``rederive``
runs their recorded commands again."""


def derived(root: Path) -> list[tuple[Path, list[str]]]:
    """``(csv, argv)`` of every summary under docs/results/ made by a ``DERIVING_TOOLS`` tool."""
    out = []
    for side in sorted((root / "docs" / "results").glob("*.json")):
        try:
            made = json.loads(side.read_text(encoding="utf-8")).get("generated_by") or ""
        except (OSError, ValueError, AttributeError):
            continue
        argv = shlex.split(made)
        if len(argv) > 1 and argv[0] == "python" and argv[1] in DERIVING_TOOLS:
            if "--out" not in argv:
                raise ValueError(f"{side}: generated_by has no --out: {made}")
            out.append((root / argv[argv.index("--out") + 1], argv[1:]))
    return out


def rederive(root: Path, *, check: bool = False) -> list[str]:
    """Run every ``derived`` command again (from ``root``); return one line per problem.

    ``check=False``: the summaries are rewritten in place (the same bytes when the records did
    not change). ``check=True``: each is written to a temporary folder and compared with the
    committed CSV, which is left as it is.
    """
    problems = []
    for csv, argv in derived(root):
        with tempfile.TemporaryDirectory() as tmp:
            args = list(argv)
            if check:
                args[args.index("--out") + 1] = str(Path(tmp) / csv.name)
            done = subprocess.run([sys.executable, *args], cwd=root, capture_output=True,
                                  text=True)
            if done.returncode != 0:
                last = (done.stderr.strip().splitlines() or ["no message"])[-1]
                problems.append(f"{csv.relative_to(root)}: {argv[0]} failed: {last}")
                continue
            if check and (Path(tmp) / csv.name).read_bytes() != csv.read_bytes():
                problems.append(f"{csv.relative_to(root)}: differs from what {argv[0]} computes "
                                "from its records; run `python -m mosi_lib docs`")
    return problems
