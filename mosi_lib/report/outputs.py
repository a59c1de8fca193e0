"""Every figure and table the study writes: named once, written to files with sidecars, as a set.

Every figure and table the study writes, named once: key -> file stem, kind, notebook, subject.

The notebooks save through these entries (``outputs.save_figure(fig,
OUTPUTS["loss_curves"], ...)``, ``outputs.save_table(df, OUTPUTS["comparison_table"],
...)``); the smoke tests, the ``make figures`` test and the README check read the same table, so
renaming an output is one edit here. A stem starts with the number of the notebook whose data
it shows (``02_loss_curves`` shows the baseline run of notebook 02, drawn by 05); ``where`` says
the folder: ``figures`` is ``paths.figures_dir()`` (a smoke run's: ``runs/<study>/figures/``,
``output_dir``) and ``study`` is ``runs/<study>/01_preprocess``.

``OutputSet`` writes one notebook's figures and tables for one study as a set: staged, then put
in place together with a manifest naming the study and the runs behind each file.

Saving a figure: PNG and PDF at a fixed dpi, and a JSON sidecar of its runs, data and commit.

Figures are regenerated, never edited: saving replaces the files of the same name.

Writing a table to files: CSV (for machines), Markdown (for the README) and LaTeX.

Tables are regenerated, never hand-edited (style guide section 5). A caption says when a table
holds synthetic measurements or no row at all, and a footnote names the runs left out.
"""

from __future__ import annotations

import atexit
import json
import os
import re
import shutil
import time
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

if TYPE_CHECKING:
    from matplotlib.figure import Figure

from mosi_lib import paths
from mosi_lib.files import atomic_path, git_info, json_default, naming, read_json_object

# =============================================================================
# Every figure and table the study writes, named once: key -> file stem, kind, notebook, subject.

@dataclass(frozen=True)
class Output:
    """One figure (``.png``, ``.pdf``, ``.json`` sidecar) or table (``.csv``, ``.md``, ``.tex``).

    Attributes: ``stem`` the file name without extension; ``kind`` ``figure`` or ``table``;
    ``notebook`` the notebook that writes it; ``shows`` what it shows; ``where`` its folder.
    """

    stem: str
    kind: str
    notebook: str
    shows: str
    where: str = "figures"

    @property
    def files(self) -> tuple[str, ...]:
        """The file names it is written as."""
        exts = ("png", "pdf", "json") if self.kind == "figure" else ("csv", "md", "tex")
        return tuple(f"{self.stem}.{e}" for e in exts)


def _o(stem: str, kind: str, notebook: str, shows: str, where: str = "figures") -> Output:
    return Output(stem, kind, notebook, shows, where)


OUTPUTS: dict[str, Output] = {
    # 01_preprocess: the data, in the study folder
    "label_histogram": _o(
        "label_histogram",
        "figure",
        "01_preprocess",
        "sentiment scores per split and pool",
        "study",
    ),
    "length_histogram": _o(
        "length_histogram",
        "figure",
        "01_preprocess",
        "valid steps per segment and modality",
        "study",
    ),
    "feature_stats": _o(
        "feature_stats",
        "figure",
        "01_preprocess",
        "scaled feature means and spreads per modality",
        "study",
    ),
    # 05_results: the paper's figures and table
    "loss_curves": _o(
        "02_loss_curves",
        "figure",
        "05_results",
        "training and validation loss of the baseline (40%)",
    ),
    "dec_curves": _o(
        "03_dec_curves", "figure", "05_results", "DEC losses of both stages, cluster accuracy"
    ),
    "tsne_latent": _o(
        "03_tsne_latent",
        "figure",
        "05_results",
        "t-SNE of the DEC latent space by label and by cluster",
    ),
    "comparison_table": _o(
        "05_comparison_table",
        "table",
        "05_results",
        "accuracy and F1 of every condition beside the paper's Table 1",
    ),
    "paired_tests": _o(
        "05_paired_tests",
        "table",
        "05_results",
        "DEC-initialised minus from-scratch, paired by seed",
    ),
    "dec_clusters": _o(
        "05_dec_clusters",
        "table",
        "05_results",
        "DEC clusters: sizes, agreement with the labels, stage-2 epochs",
    ),
    # 06_label_sweep
    "label_sweep": _o(
        "06_label_sweep",
        "figure",
        "06_label_sweep",
        "accuracy against the labeled fraction, scratch and DEC",
    ),
    "label_sweep_table": _o(
        "06_label_sweep",
        "table",
        "06_label_sweep",
        "the sweep's numbers per fraction and initialisation",
    ),
    "sweep_paired_tests": _o(
        "06_sweep_paired_tests",
        "table",
        "06_label_sweep",
        "DEC minus scratch per fraction, paired by seed",
    ),
    # 07_ablations
    "pretrain_ablation": _o(
        "07_pretrain_ablation", "table", "07_ablations", "pretraining variants against none"
    ),
    "pretrain_paired_tests": _o(
        "07_pretrain_paired_tests",
        "table",
        "07_ablations",
        "each pretraining variant minus none, paired by seed",
    ),
    "modality_ablation": _o("07_modality_ablation", "table", "07_ablations", "modality subsets"),
    "protocols": _o("07_protocols", "table", "07_ablations", "the evaluation protocols"),
}
"""Key -> ``Output``: the one place where an output's file name is written."""


def of_notebook(notebook: str) -> list[Output]:
    """The outputs ``notebook`` (e.g. ``05_results``) writes."""
    return [o for o in OUTPUTS.values() if o.notebook == notebook]


def stem_of(name: str | Output, kind: str) -> str:
    """File stem of ``name`` (an ``Output`` of ``kind``, or a plain stem for ad-hoc use).

    Raises:
        ValueError: an ``Output`` of the other kind (a table saved as a figure).
    """
    if isinstance(name, Output):
        if name.kind != kind:
            raise ValueError(f"output {name.stem!r} is a {name.kind}, saved as a {kind}")
        return name.stem
    return name


MANIFEST_SUFFIX = ".manifest.json"
"""``<figures>/<notebook>.manifest.json``: what ``OutputSet.commit`` put in place last."""


class EmptyReport(ValueError):
    """A report of a study that holds no finished run: refused, and nothing is written."""


def kept_line(notebook: str, study: str | Path, out_dir: str | Path | None = None) -> str:
    """One line: ``study`` holds no finished run, so ``notebook`` keeps the files in place.

    Names the study the files in place were drawn from (their manifest), if any.
    """
    target = Path(out_dir) if out_dir is not None else paths.figures_dir()
    try:
        earlier = read_manifest(target / f"{notebook}{MANIFEST_SUFFIX}").get("study")
    except ValueError:
        earlier = None
    kept = (f"its files in {target} (study {earlier}) are kept" if earlier
            else "nothing is written")
    return f"{notebook}: study {Path(study).name} holds no finished run; {kept}"


def output_dir(study: str | Path, *, smoke: bool = False) -> Path:
    """Where a study's figures and tables go (a smoke run's never replace real ones).

    ``paths.figures_dir()``; for a smoke run the study's own ``runs/<study>/figures/``.

    Args:
        study: the study folder, or its name under ``paths.runs_dir()``.
        smoke: the notebook's ``smoke``.
    """
    if not smoke:
        return paths.figures_dir()
    study = Path(study)
    if len(study.parts) == 1:  # a name
        study = paths.runs_dir() / study
    return study / "figures"


class OutputSet:
    """The figures and tables one notebook writes for one study, put in place together.

    Save into ``folder`` (a hidden staging folder, ``<figures>/.<notebook>.staging/``), then call
    ``commit``: it moves every staged file into the figures folder, removes the files of this
    notebook's earlier set that the new one did not write (a study without DEC runs must not
    leave another study's t-SNE under the name), and writes ``<notebook>.manifest.json`` last.
    Until ``commit`` the files in place are the previous set, whole: a report that fails half-way
    changes nothing, and its staging folder is removed when the next set starts.

    Args:
        notebook: the writing notebook, e.g. ``05_results`` (its ``OUTPUTS`` entries are the
            names an earlier set may have left).
        study: the study folder (or its name) the outputs are drawn from.
        runs: run ids that feed the tables (a figure's own runs come from its JSON sidecar).
        out_dir: the figures folder; None uses ``output_dir(study, smoke=smoke)``.
        smoke: a smoke run's outputs: they go to the study's own ``figures/`` folder
            (``output_dir``), never over the real figures.

    Raises:
        EmptyReport: ``runs`` is empty: a study without a finished run never replaces the
            files in place with header-only tables (one line, ``kept_line``).
    """

    def __init__(
        self,
        notebook: str,
        study: str | Path,
        *,
        runs: Iterable[str] = (),
        out_dir: str | Path | None = None,
        smoke: bool = False,
    ) -> None:
        self.notebook = notebook
        self.study = Path(study).name
        self.runs = [str(r) for r in runs]
        self.smoke = bool(smoke)
        self.target = Path(out_dir) if out_dir is not None else output_dir(study, smoke=smoke)
        if not self.runs:
            raise EmptyReport(kept_line(notebook, study, self.target))
        self.folder = self.target / f".{notebook}.staging"
        if self.folder.exists():  # left by a report that failed (a kernel killed mid-set)
            shutil.rmtree(self.folder)
        self.folder.mkdir(parents=True)
        atexit.register(self.discard)  # a set never committed leaves no staging folder

    def discard(self) -> None:
        """Remove the staging folder of a set not committed; run when the kernel ends.

        A cell that failed (a full disk) never leaves a half set behind; the files in place
        stay as they were.
        """
        shutil.rmtree(self.folder, ignore_errors=True)

    @property
    def manifest_path(self) -> Path:
        """``<figures>/<notebook>.manifest.json``."""
        return self.target / f"{self.notebook}{MANIFEST_SUFFIX}"

    def commit(self) -> dict[str, Path]:
        """Put the staged files in place; ``{file name: final path}`` (manifest included)."""
        if not self.folder.is_dir():
            raise FileNotFoundError(f"{self.folder}: this set was committed already or removed")
        staged = sorted(p.name for p in self.folder.iterdir() if p.is_file())
        earlier = {f for o in of_notebook(self.notebook) if o.where == "figures" for f in o.files}
        earlier |= set(read_manifest(self.manifest_path).get("files", {}))
        for name in sorted(earlier - set(staged)):
            (self.target / name).unlink(missing_ok=True)
        files: dict[str, dict[str, object]] = {}
        for name in staged:
            feeds = self.runs
            if name.endswith(".json"):
                try:
                    feeds = json.loads((self.folder / name).read_text()).get("runs", feeds)
                except (OSError, ValueError):
                    pass
            files[name] = {"runs": feeds}
        for name in staged:  # a figure's png/pdf share its sidecar's runs
            side = files.get(f"{Path(name).stem}.json")
            if side is not None:
                files[name] = side
            os.replace(self.folder / name, self.target / name)
        shutil.rmtree(self.folder)
        manifest = {
            "notebook": self.notebook,
            "study": self.study,
            "git": git_info(),
            "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
            "files": files,
        }
        with atomic_path(self.manifest_path) as tmp:
            tmp.write_text(json.dumps(manifest, indent=1) + "\n")
        out = {name: self.target / name for name in staged}
        out[self.manifest_path.name] = self.manifest_path
        return out


def read_manifest(path: str | Path) -> dict[str, object]:
    """A manifest written by ``OutputSet.commit``; ``{}`` when there is none.

    Raises:
        ValueError: the file exists but is not a JSON object (named, with the reason).
    """
    return read_json_object(Path(path), "delete it to start over")


# =============================================================================
# Saving a figure: PNG and PDF at a fixed dpi, and a JSON sidecar of its runs, data and commit.

def save_figure(
    fig: Figure,
    name: str | Output,
    *,
    runs: list[str],
    synthetic: bool,
    out_dir: str | Path | None = None,
    extra: dict[str, Any] | None = None,
    data: str | None = None,
    smoke: bool = False,
) -> dict[str, Path]:
    """Write ``<name>.png`` and ``<name>.pdf`` at ``DPI`` plus a ``<name>.json`` sidecar.

    Existing files of the same name are replaced (figures are regenerated, never edited).

    Args:
        fig: the figure (its size is kept).
        name: an ``outputs.OUTPUTS`` entry (how the study names its figures), or a file stem
            for a figure of your own.
        runs: run ids (or study names) the figure was drawn from.
        synthetic: whether the data are synthetic; required so that it cannot be forgotten.
            True adds the "SYNTHETIC DATA" mark to the figure before saving.
        out_dir: folder; None uses ``paths.figures_dir()``.
        extra: more JSON-serialisable provenance (e.g. the t-SNE ``info``).
        data: what the data are (``Processed.meta["description"]``, e.g. "real CMU-MOSI
            (transcripts + all-MiniLM-L6-v2 last-layer word vectors, openSMILE); not the paper's
            SDK features"); written at the bottom of the figure (``NOTE_FONTSIZE`` points,
            wrapped to its width) and into the sidecar.
        smoke: drawn from a smoke run (the notebook's ``smoke``): the title is marked "SMOKE"
            (``plots.mark_smoke``) and the sidecar says so.

    Returns:
        ``{"<name>.png": path, "<name>.pdf": path, "<name>.json": path}``.

    Raises:
        ValueError: bad name (or a table's entry), ``runs`` not a list of strings, or
            ``synthetic=False`` for a figure drawn from synthetic data.
    """
    # the figures' look is imported here, when a figure is saved: the CLI reads this module's
    # names without matplotlib
    import matplotlib

    from mosi_lib.report.plots import (
        DPI,
        NOTE_FONTSIZE,
        mark_smoke,
        mark_synthetic,
        shows_synthetic,
        wrap_title,
    )

    name = stem_of(name, "figure")
    paths.check_stem(name, "02_loss_curves")
    if isinstance(runs, str) or not all(isinstance(r, str) for r in runs):
        raise ValueError(f"runs={runs!r}: expected a list of run id strings")
    if shows_synthetic(fig) and not synthetic:
        raise ValueError(f"{name}: the figure shows synthetic data but synthetic=False was given")
    if synthetic:
        mark_synthetic(fig)
    if smoke:  # after the synthetic mark, so that SMOKE reads first
        mark_smoke(fig)
    if data and not any(getattr(t, "_mosi_data", False) for t in fig.texts):
        text = wrap_title(fig, f"data: {data}", NOTE_FONTSIZE)
        # keep a strip free below the axes: the note's lines at 1.3 line spacing, plus 3 points
        strip = (text.count("\n") + 1) * NOTE_FONTSIZE * 1.3 + 3
        engine = fig.get_layout_engine()
        if engine is not None and hasattr(engine, "set"):
            low = strip / (fig.get_figheight() * 72)
            engine.set(rect=(0, low, 1, 1 - low))
        note = fig.text(0.995, 0.004, text, ha="right", va="bottom", fontsize=NOTE_FONTSIZE,
                        color="0.35")
        note._mosi_data = True  # idempotent: a figure saved twice keeps one note
    out = Path(out_dir) if out_dir is not None else paths.figures_dir()
    out.mkdir(parents=True, exist_ok=True)
    files = {}
    for ext in ("png", "pdf"):
        path = out / f"{name}.{ext}"
        with naming(path):  # a full disk names the file
            fig.savefig(path, dpi=DPI)
        files[path.name] = path
    meta = {
        "name": name,
        "files": sorted(files),
        "runs": list(runs),
        "synthetic": bool(synthetic),
        "smoke": bool(smoke),
        "data": data,
        "git": git_info(),
        "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "dpi": DPI,
        "size_inches": [float(v) for v in fig.get_size_inches()],
        "matplotlib": matplotlib.__version__,
        "extra": extra or {},
    }
    side = out / f"{name}.json"
    with naming(side):
        side.write_text(json.dumps(meta, indent=2, default=json_default))
    files[side.name] = side
    return files


# =============================================================================
# Writing a table to files: CSV (for machines), Markdown (for the README) and LaTeX.

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
    from mosi_lib.report.collect import has_synthetic, left_out  # as save_figure's imports

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
