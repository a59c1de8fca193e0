"""Saving a figure: PNG and PDF at a fixed dpi, and a JSON sidecar of its runs, data and commit.

Figures are regenerated, never edited: saving replaces the files of the same name.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import matplotlib
from matplotlib.figure import Figure

from mosi_lib import paths
from mosi_lib.files import json_default, naming
from mosi_lib.provenance import git_info
from mosi_lib.report.figure_style import (
    DPI,
    NOTE_FONTSIZE,
    mark_smoke,
    mark_synthetic,
    shows_synthetic,
    wrap_title,
)
from mosi_lib.report.outputs import Output, stem_of


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
            (``figure_style.mark_smoke``) and the sidecar says so.

    Returns:
        ``{"<name>.png": path, "<name>.pdf": path, "<name>.json": path}``.

    Raises:
        ValueError: bad name (or a table's entry), ``runs`` not a list of strings, or
            ``synthetic=False`` for a figure drawn from synthetic data.
    """
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
