"""The comparison table (paper Table 1) and DEC summaries, built only from ``runs/*/metrics.json``.

* ``LITERATURE``: the rows the paper reports in its Table 1 (status "reported"; never measured
  here).
* ``collect_runs``: one row per finished classifier run, with both binary conventions (has0,
  non0; see ``mosi_lib.metrics``).
* ``comparison_table``: our runs aggregated over seeds (mean ± sample std, ddof=1) next to the
  reported rows; every measured row says whether its data were synthetic.
* ``paired_table``: DEC-initialised vs from-scratch classifiers over the seeds both have (paired
  t-test and Wilcoxon, ``mosi_lib.report.stats``).
* ``save_table``: CSV (for machines), Markdown (for the README) and LaTeX, regenerated, never
  hand-edited (style guide section 5).
* ``dec_summary``: cluster metrics of the DEC runs.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from mosi_lib import config, paths
from mosi_lib.reference import REFERENCES
from mosi_lib.report import stats
from mosi_lib.report.outputs import Output, stem_of
from mosi_lib.study import runs

# ----------------------------------------------------------------------------- literature

_PAPER = "reported in the paper, Table 1"
_QUOTED = "reported in the paper, Table 1 (quoted from the original publication)"


def _reported(model: str, acc: float, params: int | None, source: str) -> dict[str, Any]:
    return {"model": model, "acc": acc, "params": params, "source": source, "status": "reported"}


LITERATURE: tuple[dict[str, Any], ...] = (
    _reported("TFN", 74.60, 14_707_911, _QUOTED),
    _reported("DF", 72.30, None, _QUOTED),
    _reported("MARNN", 84.31, 1_350_389, _QUOTED),
    _reported("MMUU-BA", 82.31, 2_424_965, _QUOTED),
    _reported("Transformer (40%)", 73.14, 851_713, _PAPER),
    _reported("Transformer + DEC (40%)", 75.86, 851_713, _PAPER),
    _reported("Transformer + DEC (all labels)", 81.50, 851_713, _PAPER),
)
"""The paper's Table 1: binary accuracy (%) and parameter count (None: not reported).

The paper does not say which zero convention (has0 or non0) these accuracies use, so the
comparison table shows them in their own column ("Acc-2 reported"). The paper gives one parameter
count (851,713) for its transformer; the DEC-initialised classifier has the same architecture.
"""

TABLE_COLUMNS = [
    "Model", "Source", "Protocol", "Acc-2 reported", "Acc-2 has0", "95% CI has0",
    "95% video bootstrap has0", "F1 has0",
    "Acc-2 non0",
    "F1 non0", "Majority has0", "Majority non0", "Params", "Epochs", "Seeds",
    "Labels (train + selection)", "Pretraining", "Recipe",
]  # fmt: skip

RUN_COLUMNS = [
    "run_id", "variant", "init", "labels", "labeled_fraction", "acc_has0", "f1_has0", "acc_non0",
    "f1_non0", "majority_acc_has0", "majority_acc_non0", "n_params", "seed", "data_source",
    "synthetic", "protocol", "report_split", "zero_policy", "epochs", "best_epoch", "tag",
    "modalities", "valid_acc_has0", "valid_acc_non0", "data_description", "recipe", "created",
    "n_train", "n_select", "n_segments", "dec_rows", "dec_fraction", "dec_stage2_epochs",
    "dec_stage2_max", "path",
]  # fmt: skip

# ----------------------------------------------------------------------------- runs


def variant_name(init: str, labels: str, labeled_fraction: float,
                 dec_fraction: float | None = None) -> str:  # fmt: skip
    """Model label of a classifier run, as in the paper's Table 1.

    Args:
        init: ``scratch``, ``dec``, ``ae`` (the stage-1 autoencoder of a DEC run) or a linear
            reference (``reference.REFERENCES``).
        labels: ``labeled`` (the labeled pool) or ``all``.
        labeled_fraction: share of labeled segments (config ``data.labeled_fraction``).
        dec_fraction: share of labels the DEC pretraining used (``init="dec"``); named when the
            classifier is fine-tuned on more labels than its DEC saw (the paper's "+ DEC (all
            labels)" fine-tunes a DEC pretrained with the 40% pool).

    Returns:
        E.g. ``Transformer (40%)``, ``Transformer + DEC (all labels; DEC pretrained with 40%)``.
    """
    model = {"scratch": "Transformer", "dec": "Transformer + DEC",
             "ae": "Transformer + autoencoder", **REFERENCES}.get(init)
    if model is None:
        raise ValueError(f"init={init!r}: expected 'scratch', 'dec', 'ae' or one of "
                         f"{list(REFERENCES)}")  # fmt: skip
    if labels == "all":
        if init == "dec" and dec_fraction is not None and dec_fraction < 1:
            return f"{model} (all labels; DEC pretrained with {100 * dec_fraction:g}%)"
        return f"{model} (all labels)"
    if labels == "labeled":
        return f"{model} ({100 * labeled_fraction:g}%)"
    raise ValueError(f"labels={labels!r}: expected 'labeled' or 'all'")


def _field(metrics: dict[str, Any], key: str, file: Path) -> Any:
    if metrics.get(key) is None:
        raise ValueError(f"{file}: field {key!r} is missing or null")
    return metrics[key]


def _run_recipe(run: runs.Run, cfg: dict[str, Any], init: str) -> str:
    """``Run.recipe``; a linear reference depends on the data section only."""
    if init in REFERENCES:
        data = {k: v for k, v in cfg.get("data", {}).items() if k != "data_dir"}
        if data.get("draw") == "seed":  # each seed's own draw: seeds of one reference pool
            data.pop("split_seed", None)
        return config.config_hash(data)
    return run.recipe()


_SAME_RUN = ("recipe", "data_key", "init", "labels", "tag", "seed")
"""Columns that make two runs the same experiment: a repeat of one seed counts once."""


def one_run_per_seed(runs_df: pd.DataFrame) -> tuple[pd.DataFrame, int]:
    """Keep the latest run of each seed of each experiment (``_SAME_RUN``); count the rest.

    Returns:
        ``(runs, n_repeats)``: rows sorted by creation time then run id, and how many were
        dropped because the same seed of the same recipe ran again.
    """
    if runs_df.empty or "seed" not in runs_df.columns:
        return runs_df, 0
    order = [c for c in ("created", "run_id") if c in runs_df.columns]
    df = runs_df.sort_values(order, kind="stable") if order else runs_df
    keys = [k for k in _SAME_RUN if k in df.columns]
    out = df.drop_duplicates(keys, keep="last")
    return out, len(df) - len(out)


def collect_runs(root: str | Path | None = None, *, keep_repeats: bool = False) -> pd.DataFrame:
    """One row per finished classifier run under ``root`` and tag; a repeated seed counts once.

    A run that counts under several experiment tags (``Run.tags``: a grid found the same
    experiment under another tag) gives one row per tag, each with the same numbers.

    Unfinished runs (``runs.find_runs`` returns finished ones only) never enter; how many were
    left out (running, failed, interrupted: ``runs.unfinished_runs``) is printed. When a seed of
    one experiment (same recipe, data, init, labels, tag) ran more than once, only its latest run
    is kept and the count of dropped repeats is printed; ``keep_repeats=True`` keeps them all.

    Args:
        root: folder holding run folders (a study); None uses ``paths.runs_dir()``.
        keep_repeats: keep every run (e.g. to inspect repeats).

    Returns:
        DataFrame with ``RUN_COLUMNS`` (accuracies as fractions in [0, 1], from
        ``metrics["report"]``, i.e. the report split of the best checkpoint; ``valid_acc_*``
        from ``metrics["valid"]``, the split the checkpoint was selected on, for choices that
        must not look at the test fold; ``recipe`` = ``config.recipe_hash`` of the run's config;
        ``n_train``/``n_select`` labels used for training / checkpoint selection; ``dec_*`` the
        DEC pretraining of ``init="dec"`` runs), sorted by creation time.
        Empty (with the columns) when there is no finished classifier run.

        ``attrs["left_out"]``: run id -> why, for every classifier run left out (unfinished)
        and every finished run whose ``metrics.json`` is missing or unreadable (each also
        printed, with its file and the reason, and counted).

    Raises:
        ValueError: a metrics.json lacks a needed field (the file and field are named).
    """
    skipped = runs.unfinished_runs(root, kind="classifier")
    if skipped:
        names = ", ".join(r.run_id for r in skipped[:3]) + (", ..." if len(skipped) > 3 else "")
        print(f"collect_runs({root}): {len(skipped)} unfinished classifier run(s) left out "
              f"(running, failed or interrupted: {names})")  # fmt: skip
    broken = runs.broken_runs(root)
    for run, why in broken:
        print(f"collect_runs({root}): run {run.run_id} left out, its results cannot be read: "
              f"{why}")  # fmt: skip
    if broken:
        print(f"collect_runs({root}): {len(broken)} finished run(s) left out for missing or "
              "unreadable metrics.json")  # fmt: skip
    rows = []
    for run in runs.find_runs(root, kind="classifier"):
        m = run.metrics()
        file = run.path / "metrics.json"
        cfg = run.config()
        rep = _field(m, "report", file)
        init, labels = _field(m, "init", file), _field(m, "labels", file)
        frac = float(_field(m, "labeled_fraction_cfg", file))
        transfer = m.get("transfer") or {}
        dec_frac = transfer.get("dec_labeled_fraction",
                                cfg.get("data", {}).get("labeled_fraction"))  # fmt: skip
        row = {"run_id": run.run_id, "path": str(run.path), "init": init, "labels": labels,
               "labeled_fraction": frac,
               "variant": variant_name(init, labels, frac,
                                       dec_frac if init in ("dec", "ae") else None),
               "recipe": _run_recipe(run, cfg, init),
               "created": str(cfg.get("provenance", {}).get("created", "")),
               "n_train": m.get("n_train", np.nan),
               "n_select": (m.get("valid") or {}).get("n_has0", np.nan),
               "n_segments": m.get("n_segments", np.nan),
               "dec_rows": transfer.get("dec_rows", cfg.get("dec", {}).get("pretrain_rows"))
               if init in ("dec", "ae") else "",
               "dec_fraction": dec_frac if init in ("dec", "ae") else np.nan,
               "dec_stage2_epochs": transfer.get("dec_stage2_epochs", np.nan),
               "dec_stage2_max": cfg.get("dec", {}).get("stage2_epochs", np.nan)}  # fmt: skip
        for k in ("acc_has0", "f1_has0", "acc_non0", "f1_non0", "majority_acc_has0",
                  "majority_acc_non0"):  # fmt: skip
            if k not in rep:
                raise ValueError(f"{file}: field 'report.{k}' is missing")
            row[k] = np.nan if rep[k] is None else float(rep[k])
        for k in ("n_params", "seed", "data_source", "synthetic", "protocol", "report_split",
                  "zero_policy", "epochs", "best_epoch"):  # fmt: skip
            row[k] = _field(m, k, file)
        row["data_description"] = m.get("data_description") or ""
        row["modalities"] = "+".join(m.get("modalities") or [])
        val = m.get("valid") or {}
        for k in ("acc_has0", "acc_non0"):
            row[f"valid_{k}"] = np.nan if val.get(k) is None else float(val[k])
        # one row per experiment tag the run counts under ("" = main study; Run.tags)
        rows += [{**row, "tag": tag or ""} for tag in run.tags()]
    df = pd.DataFrame(rows, columns=RUN_COLUMNS)
    if not keep_repeats:
        df, repeats = one_run_per_seed(df)
        if repeats:
            print(f"collect_runs({root}): {repeats} repeated run(s) of a seed already counted "
                  "were left out (the latest run of each seed counts; keep_repeats=True lists "
                  "them)")  # fmt: skip
        df = df.reset_index(drop=True)
    # what did not enter, for a table's footnote: run id -> why
    df.attrs["left_out"] = {**{r.run_id: f"unfinished ({r.status()})" for r in skipped},
                            **{r.run_id: why for r, why in broken}}  # fmt: skip
    return df


# ----------------------------------------------------------------------------- table


def _pct(values: pd.Series) -> str:
    """``mean`` or ``mean ± std`` (sample std, ddof=1) in % with 2 decimals; NaNs skipped."""
    v = values.dropna().to_numpy(float) * 100
    if len(v) == 0:
        return ""
    if len(v) == 1:
        return f"{v[0]:.2f}"
    return f"{v.mean():.2f} ± {v.std(ddof=1):.2f}"


def _ci(values: pd.Series) -> str:
    """95% Student-t interval of the mean in %, ``[low, high]``; empty below two values."""
    v = values.dropna().to_numpy(float) * 100
    if len(v) < 2:
        return ""
    ci = stats.mean_ci(v)
    return f"[{ci['ci_low']:.2f}, {ci['ci_high']:.2f}]"


def _source(data_source: Any, synthetic: bool, description: Any = "") -> str:
    if synthetic:
        return "measured: SYNTHETIC data"
    if isinstance(description, str) and description:
        return f"measured: {description}"
    return f"measured: real data ({data_source})"


def describe_runs(runs_df: pd.DataFrame) -> str:
    """The data of ``runs_df`` in words (its runs' ``data_description``), for captions."""
    if "data_description" not in runs_df.columns or not len(runs_df):
        return "no runs"
    found = sorted({str(d) for d in runs_df["data_description"] if str(d)})
    if has_synthetic(runs_df) and not any("SYNTHETIC" in d for d in found):
        found.insert(0, "SYNTHETIC data")
    return "; ".join(found) or "data not described"


def _budget(g: pd.DataFrame) -> str:
    """Labels used for training + for checkpoint selection, e.g. ``704 + 440 = 52% of 2199``."""
    first = g.iloc[0]
    n_tr, n_sel, n = first["n_train"], first["n_select"], first["n_segments"]
    if pd.isna(n_tr):
        return "not recorded"
    if pd.isna(n_sel) or pd.isna(n) or not n:
        return f"{int(n_tr)} + ?"
    return f"{int(n_tr)} + {int(n_sel)} = {100 * (n_tr + n_sel) / n:.0f}% of {int(n)}"


def _pretraining(g: pd.DataFrame) -> str:
    """What the DEC pretraining of a group saw and how long its stage 2 ran ("-": none)."""
    first = g.iloc[0]
    if first["init"] not in ("dec", "ae"):
        return "-"
    rows = ("all segments (transductive: incl. the "
            f"{first['report_split']} rows' features)" if first["dec_rows"] == "all"
            else "training rows only")  # fmt: skip
    if first["init"] == "ae":  # stage 1 only: reconstruction, no label, no clustering
        return f"autoencoder (DEC stage 1) on {rows}"
    text = f"DEC on {rows}, {100 * float(first['dec_fraction']):g}% labels"
    ep = g["dec_stage2_epochs"].dropna()
    if len(ep):
        lo, hi = int(ep.min()), int(ep.max())
        ran = str(lo) if lo == hi else f"{lo}-{hi}"
        text += f"; stage 2 ran {ran} of {int(first['dec_stage2_max'])} epochs"
    return text


def _predictions(g: pd.DataFrame) -> list[dict[str, np.ndarray]] | None:
    """The runs' ``predictions.npz`` (in ``g``'s order), None if one run has none."""
    if "path" not in g.columns or g["path"].isna().any():  # rows not read from run folders
        return None
    preds = [runs.load_run(p).predictions() for p in g["path"]]
    return None if any(p is None for p in preds) else preds


def _boot_cell(g: pd.DataFrame, zero_policy: str) -> str:
    """``[lo, hi]`` of ``stats.video_bootstrap`` for the mean accuracy of ``g``'s runs."""
    preds = _predictions(g)
    if preds is None:
        return "-"
    res = stats.video_bootstrap([preds], split=str(g["report_split"].iloc[0]),
                                zero_policy=zero_policy)  # fmt: skip
    return f"[{res['ci_low']:.2f}, {res['ci_high']:.2f}]"


def comparison_table(runs_df: pd.DataFrame, *, include_literature: bool = True) -> pd.DataFrame:
    """The comparison table: reported rows, then our runs aggregated over seeds.

    Measured runs are grouped by variant, data, protocol (with report split), training zero
    policy, epochs and recipe (``config.recipe_hash``), so that different recipes are never
    averaged together: two recipes of one variant are two rows, told apart by ``Recipe``. A seed
    counts once (``one_run_per_seed``). Each row states its label budget (labels used for
    training + labels used for checkpoint selection, and their share of all segments) and, for
    DEC-initialised rows, which rows' features the pretraining saw (every segment = transductive:
    it sees the features, never the labels, of the rows it is evaluated on) and how many stage-2
    epochs ran before the stopping rule.

    Args:
        runs_df: ``collect_runs`` output.
        include_literature: put the ``LITERATURE`` rows first.

    Returns:
        DataFrame of strings with ``TABLE_COLUMNS``: accuracies and F1 in % with 2 decimals,
        ``mean ± std`` when a group has several runs (std only then), ``Seeds`` = number of runs
        and their seeds, e.g. ``3 (0,1,2)``. ``95% CI has0``: Student t over the seeds;
        ``95% video bootstrap has0``: the evaluation videos resampled
        (``stats.video_bootstrap``; "-" for runs without ``predictions.npz``).
    """
    runs_df, _ = one_run_per_seed(runs_df)
    missing = [c for c in RUN_COLUMNS if c not in runs_df.columns]
    if missing:
        raise ValueError(f"runs_df: missing columns {missing}; expected collect_runs output")
    rows = []
    if include_literature:
        for lit in LITERATURE:
            rows.append({"Model": lit["model"], "Source": lit["source"], "Protocol": "as reported",
                         "Acc-2 reported": f"{lit['acc']:.2f}",
                         "Params": "not reported" if lit["params"] is None
                         else f"{lit['params']:,}"})  # fmt: skip
    df = runs_df.assign(_dec=(runs_df["init"] == "dec").astype(int),
                        _src=runs_df["data_source"].astype(str))  # fmt: skip
    df = df.sort_values(["synthetic", "_src", "protocol", "zero_policy", "epochs",
                         "labeled_fraction", "_dec", "run_id"])  # fmt: skip
    keys = ["variant", "_src", "synthetic", "protocol", "report_split", "zero_policy", "epochs",
            "tag", "modalities", "data_description", "recipe"]  # fmt: skip
    for _, g in df.groupby(keys, sort=False, dropna=False):
        first = g.iloc[0]
        params = sorted(set(g["n_params"].astype(int)))
        seeds = ",".join(str(s) for s in g["seed"])
        rows.append({
            "Model": first["variant"], "Source": _source(first["data_source"], first["synthetic"],
                                                        first["data_description"]),
            "Protocol": f"{first['protocol']}, {first['report_split']} split, "
                        f"{first['zero_policy']} training",
            "Acc-2 has0": _pct(g["acc_has0"]), "95% CI has0": _ci(g["acc_has0"]),
            "95% video bootstrap has0": _boot_cell(g, "has0"),
            "F1 has0": _pct(g["f1_has0"]),
            "Acc-2 non0": _pct(g["acc_non0"]), "F1 non0": _pct(g["f1_non0"]),
            "Majority has0": _pct(g["majority_acc_has0"]),
            "Majority non0": _pct(g["majority_acc_non0"]),
            "Params": "-".join(f"{p:,}" for p in params),
            "Epochs": "-" if first["init"] in REFERENCES else str(int(first["epochs"])),
            "Seeds": f"{len(g)} ({seeds})",
            "Labels (train + selection)": _budget(g), "Pretraining": _pretraining(g),
            "Recipe": str(first["recipe"])[:8],
        })  # fmt: skip
    left = left_out(runs_df)
    for run_id, why in left.items():  # a run that could not be read stays a row, marked
        rows.append({"Model": f"left out: run {run_id}", "Source": why, "Seeds": "0"})
    # cells a row does not fill are "" (fillna("") on an all-NaN float column is deprecated)
    rows = [dict.fromkeys(TABLE_COLUMNS, "") | r for r in rows]
    return _keep_left_out(pd.DataFrame(rows, columns=TABLE_COLUMNS), left)


def left_out(df: pd.DataFrame) -> dict[str, str]:
    """Run id -> why, for the runs ``collect_runs`` could not count (``attrs["left_out"]``)."""
    return dict(df.attrs.get("left_out") or {})


def _keep_left_out(out: pd.DataFrame, left: dict[str, str]) -> pd.DataFrame:
    """``out`` carrying ``left`` on to ``save_table``'s footnote (a new frame drops attrs)."""
    out.attrs["left_out"] = dict(left)
    return out


def footnote(left: dict[str, str]) -> str:
    """The table footnote that counts and names the runs left out; "" when there are none."""
    if not left:
        return ""
    items = "; ".join(f"{rid}: {why}" for rid, why in sorted(left.items()))
    return f"Left out: {len(left)} run(s) not counted in this table ({items})."


# ----------------------------------------------------------------------------- writers


def has_synthetic(df: pd.DataFrame) -> bool:
    """True when a table holds synthetic measurements.

    Looks at a boolean ``synthetic`` column (``collect_runs``/``dec_summary``) or a ``Source``
    column mentioning "synthetic" (``comparison_table``).
    """
    if "synthetic" in df.columns and df["synthetic"].astype(bool).any():
        return True
    if "Source" in df.columns:
        return bool(df["Source"].astype(str).str.contains("synthetic", case=False).any())
    return False


def _cell(v: Any) -> str:
    if v is None or (isinstance(v, float) and np.isnan(v)):
        return ""
    if isinstance(v, float | np.floating):
        return f"{v:.4g}"
    return str(v)


def to_markdown(df: pd.DataFrame) -> str:
    """A GitHub-flavoured Markdown table without ``tabulate``; floats get 4 significant digits.

    Columns whose every cell looks numeric (digits, ``±``, ``,`` ``.`` ``-``) are right-aligned.
    """
    cells = [[_cell(v).replace("|", "\\|").replace("\n", " ") for v in row]
             for row in df.itertuples(index=False)]  # fmt: skip
    numeric = re.compile(r"^[\d\s.,±%+-]*$")
    align = []
    for j, _ in enumerate(df.columns):
        col = [r[j] for r in cells]
        is_num = any(col) and all(numeric.match(c) for c in col)
        align.append("---:" if is_num else "---")
    lines = ["| " + " | ".join(str(c) for c in df.columns) + " |", "|" + "|".join(align) + "|"]
    lines += ["| " + " | ".join(r) + " |" for r in cells]
    return "\n".join(lines) + "\n"


_TEX_ESCAPES = {"\\": r"\textbackslash{}", "&": r"\&", "%": r"\%", "$": r"\$", "#": r"\#",
                "_": r"\_", "{": r"\{", "}": r"\}", "~": r"\textasciitilde{}",
                "^": r"\textasciicircum{}"}  # fmt: skip


def _tex(text: Any) -> str:
    s = "".join(_TEX_ESCAPES.get(ch, ch) for ch in _cell(text))
    return s.replace("±", r"$\pm$")


EMPTY_NOTE = "EMPTY: no finished run of this part in the study (skipped, or not run yet)."


def save_table(
    df: pd.DataFrame, name: str | Output, out_dir: str | Path | None = None, *, caption: str
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
    if df.empty:
        caption = f"{caption} {EMPTY_NOTE}"
    note = footnote(left_out(df))
    if note:
        caption = f"{caption} {len(left_out(df))} run(s) left out (footnote)."
    files = {f"{name}.{ext}": out / f"{name}.{ext}" for ext in ("csv", "md", "tex")}
    df.to_csv(files[f"{name}.csv"], index=False)
    files[f"{name}.md"].write_text(f"Table: {caption}\n\n{to_markdown(df)}"
                                   + (f"\n{note}\n" if note else ""))
    tex = df.map(_tex).rename(columns=_tex)
    files[f"{name}.tex"].write_text(tex.to_latex(index=False, escape=False, caption=_tex(caption),
                                                 label=f"tab:{name}"))  # fmt: skip
    return files


# ----------------------------------------------------------------------------- DEC


def dec_summary(root: str | Path | None = None) -> pd.DataFrame:
    """Cluster metrics of every finished DEC run under ``root``.

    Args:
        root: folder holding run folders; None uses ``paths.runs_dir()``.

    Returns:
        One row per run: run_id, seed, data_source, synthetic, protocol, n_rows, report_split,
        ``{acc,nmi,ari}_all`` (every pretraining row) and ``{acc,nmi,ari}_report`` (the report
        split's rows) against the has0 classes, cluster_sizes (e.g. ``"812/1387"``),
        min_cluster_share, n_target_updates, stopped_early, stage2_epochs_run; and, NaN for
        runs written before they were recorded: ``floor_report`` (the report rows' majority
        share: what one cluster for every row scores), ``start_sizes`` (k-means' start),
        ``start_degenerate``, ``start_remedy`` (``train.dec.init_centers``) and
        ``stage2_stop`` (``tol``: the assignments settled; ``budget``: the epochs ran out).
    """
    cols = ["run_id", "seed", "data_source", "synthetic", "protocol", "n_rows", "report_split",
            "acc_all", "nmi_all", "ari_all", "acc_report", "floor_report", "nmi_report",
            "ari_report", "cluster_sizes", "min_cluster_share", "start_sizes",
            "start_degenerate", "start_remedy", "n_target_updates", "stopped_early",
            "stage2_stop", "stage2_epochs_run"]  # fmt: skip
    rows = []
    for run in runs.find_runs(root, kind="dec"):
        m = run.metrics()
        file = run.path / "metrics.json"
        cluster = _field(m, "cluster", file)
        splits = [k for k in cluster if k != "all"]
        if "all" not in cluster or len(splits) != 1:
            raise ValueError(f"{file}: 'cluster' should hold 'all' and one report split, "
                             f"has {sorted(cluster)}")  # fmt: skip
        sizes = [int(s) for s in _field(m, "cluster_sizes", file)]
        row = {"run_id": run.run_id, "report_split": splits[0],
               "cluster_sizes": "/".join(map(str, sizes)),
               "min_cluster_share": min(sizes) / max(sum(sizes), 1),
               "n_target_updates": len(m.get("target_updates") or []),
               "stage2_epochs_run": m.get("stage2_epochs_run", np.nan)}  # fmt: skip
        init, stop = m.get("center_init") or {}, m.get("stage2_stop") or {}
        row.update({"start_sizes": "/".join(map(str, init.get("kmeans_sizes", []))) or np.nan,
                    "start_degenerate": init.get("degenerate", np.nan),
                    "start_remedy": init.get("remedy") or ("none" if init else np.nan),
                    "stage2_stop": stop.get("reason", np.nan),
                    "floor_report": (cluster[splits[0]] or {}).get("floor", np.nan)})  # fmt: skip
        for k in ("seed", "data_source", "synthetic", "protocol", "n_rows", "stopped_early"):
            row[k] = _field(m, k, file)
        for part, key in (("all", "all"), ("report", splits[0])):
            for met in ("acc", "nmi", "ari"):  # None: no report row among the DEC rows
                row[f"{met}_{part}"] = np.nan if cluster[key] is None else float(cluster[key][met])
        rows.append(row)
    return pd.DataFrame(rows, columns=cols)


# ----------------------------------------------------------------------------- paired tests

_PAIRED_FIELDS = ("n", "mean_diff", "ci_low", "ci_high", "wins", "t", "p_ttest", "p_wilcoxon")
_ZERO_OF = {"acc_has0": "has0", "acc_non0": "non0"}
"""Accuracy metrics whose paired difference is also bootstrapped over videos."""


def _latest_per_seed(df: pd.DataFrame) -> pd.DataFrame:
    """One run per seed, indexed by seed: a seed run twice counts once, its latest run."""
    return df.sort_values("run_id").drop_duplicates("seed", keep="last").set_index("seed")


def _paired_rows(
    a: pd.DataFrame, b: pd.DataFrame, metrics, *, skip_unpaired: bool
) -> list[dict[str, Any]]:
    """``stats.paired_test`` of runs ``a`` minus runs ``b`` per metric over their common seeds.

    Values in points of %; a seed whose metric is undefined (NaN) on either side is left out.
    Without a common seed: no rows if ``skip_unpaired``, else rows with ``n`` = 0 (and NaN
    statistics) that show the missing partner.
    """
    a, b = _latest_per_seed(a), _latest_per_seed(b)
    seeds = sorted(set(a.index) & set(b.index))
    if not seeds and skip_unpaired:
        return []
    rows = []
    for metric in metrics:
        va = a.loc[seeds, metric].to_numpy(float) * 100
        vb = b.loc[seeds, metric].to_numpy(float) * 100
        ok = np.isfinite(va) & np.isfinite(vb)
        res = stats.paired_test(va[ok], vb[ok])
        used = [s for s, k in zip(seeds, ok, strict=True) if k]
        boot = {"boot_ci_low": np.nan, "boot_ci_high": np.nan}
        pa, pb = _predictions(a.loc[used]), _predictions(b.loc[used])
        if used and metric in _ZERO_OF and pa is not None and pb is not None:
            r = stats.video_bootstrap([pa, pb], split=str(a["report_split"].iloc[0]),
                                      zero_policy=_ZERO_OF[metric])  # fmt: skip
            boot = {"boot_ci_low": r["ci_low"], "boot_ci_high": r["ci_high"]}
        rows.append({"metric": metric, "seeds": ",".join(map(str, used)),
                     **{k: res[k] for k in _PAIRED_FIELDS}, **boot})  # fmt: skip
    return rows


def paired_table(
    runs_df: pd.DataFrame, *, metrics: tuple[str, ...] = ("acc_has0", "acc_non0")
) -> pd.DataFrame:
    """Paired comparison over seeds of DEC-initialised against from-scratch classifiers.

    Pairs are formed within one recipe (``config.recipe_hash``: data, protocol, zero policy,
    epochs, labeled fraction, ...) and matched by seed: only seeds that both variants ran count.
    Pairs: ``Transformer + DEC`` vs ``Transformer`` on the labeled pool (e.g. 40%) and on all
    labels, and ``Transformer + autoencoder`` (``init="ae"``: DEC's stage-1 encoder) vs
    ``Transformer`` where the study has such runs (the label sweep).

    Args:
        runs_df: ``collect_runs`` output.
        metrics: ``RUN_COLUMNS`` metrics to compare (fractions; reported in points of %).

    Returns:
        One row per recipe, pair and metric: ``comparison``, ``metric``, ``source``,
        ``synthetic``, ``protocol``, ``seeds``, ``n``, ``mean_diff`` and its 95% CI in points
        of % (Student t over seeds; ``boot_ci_*``: paired per seed and per resampled set of
        evaluation videos, ``stats.video_bootstrap``, NaN without predictions), ``wins``
        (seeds where DEC is better), ``t``, ``p_ttest``, ``p_wilcoxon``. Empty when no pair
        has a common seed.
    """
    cols = ["comparison", "metric", "source", "synthetic", "protocol", "seeds", "n", "mean_diff",
            "ci_low", "ci_high", "boot_ci_low", "boot_ci_high", "wins", "t", "p_ttest",
            "p_wilcoxon"]  # fmt: skip
    rows = []
    if len(runs_df) == 0:
        return _keep_left_out(pd.DataFrame(rows, columns=cols), left_out(runs_df))
    runs_df, _ = one_run_per_seed(runs_df)
    keys = ["data_source", "synthetic", "protocol", "report_split", "zero_policy", "epochs",
            "labeled_fraction", "tag", "modalities", "data_description", "recipe"]  # fmt: skip
    for _, g in runs_df[~runs_df["init"].isin(list(REFERENCES))].groupby(keys, sort=True,
                                                                           dropna=False):
        frac = float(g["labeled_fraction"].iloc[0])
        first = g.iloc[0]
        for labels in ("labeled", "all"):
            same = g[g["labels"] == labels]
            decs = same.loc[same["init"] == "dec", "dec_fraction"].dropna()
            scratch = variant_name("scratch", labels, frac)
            dec = variant_name("dec", labels, frac, decs.iloc[0] if len(decs) else None)
            for init, arm in (("dec", dec), ("ae", variant_name("ae", labels, frac))):
                for row in _paired_rows(same[same["init"] == init],
                                        same[same["init"] == "scratch"], metrics,
                                        skip_unpaired=True):  # fmt: skip
                    rows.append({"comparison": f"{arm} vs {scratch}",
                                 "source": _source(first["data_source"], first["synthetic"],
                                                   first["data_description"]),
                                 "synthetic": bool(first["synthetic"]),
                                 "protocol": f"{first['protocol']}, "
                                             f"{first['report_split']} split",
                                 **row})  # fmt: skip
    return _keep_left_out(pd.DataFrame(rows, columns=cols), left_out(runs_df))


# ----------------------------------------------------------------------------- summaries

SUMMARY_METRICS = ("acc_has0", "f1_has0", "acc_non0", "f1_non0", "majority_acc_has0")


def summary_table(runs_df: pd.DataFrame, by: list[str]) -> pd.DataFrame:
    """Mean, sample std and 95% Student-t interval of each metric per group of runs.

    Used for the label sweep (``by=["init", "labeled_fraction"]``) and the ablations
    (``by=["tag"]``, ``by=["modalities"]``). Groups are also split by ``recipe`` (a ``recipe``
    column), so runs pooled in one row differ only by seed, each seed counted once.

    Args:
        runs_df: ``collect_runs`` output (metrics as fractions).
        by: grouping columns of ``runs_df``.

    Returns:
        One row per group, sorted by ``by``: the ``by`` columns, ``n``, ``seeds``, ``synthetic``,
        ``protocol`` and for each metric of ``SUMMARY_METRICS`` ``<metric>_mean``, ``_std``,
        ``_ci_low`` and ``_ci_high`` in % (std and interval NaN for a single run).
    """
    missing = [c for c in list(by) + list(SUMMARY_METRICS) if c not in runs_df.columns]
    if missing:
        raise ValueError(f"runs_df: missing columns {missing}; expected collect_runs output")
    runs_df, _ = one_run_per_seed(runs_df)
    group = list(by) + (["recipe"] if "recipe" in runs_df.columns and "recipe" not in by else [])
    rows = []
    for key, g in runs_df.groupby(group, sort=True, dropna=False):
        key = key if isinstance(key, tuple) else (key,)
        row = dict(zip(group, key, strict=True))
        row.update({"n": len(g), "seeds": ",".join(str(x) for x in sorted(g["seed"])),
                    "synthetic": bool(g["synthetic"].any()),
                    "protocol": "; ".join(sorted(set(
                        g["protocol"].astype(str) + ", " + g["report_split"].astype(str)
                        + " split")))})  # fmt: skip
        for metric in SUMMARY_METRICS:
            ci = stats.mean_ci(g[metric].dropna().to_numpy(float) * 100)
            row.update({f"{metric}_mean": ci["mean"], f"{metric}_std": ci["std"],
                        f"{metric}_ci_low": ci["ci_low"], f"{metric}_ci_high": ci["ci_high"]})
        rows.append(row)
    cols = group + ["n", "seeds", "synthetic", "protocol"] + [
        f"{m}_{k}" for m in SUMMARY_METRICS for k in ("mean", "std", "ci_low", "ci_high")]
    return _keep_left_out(pd.DataFrame(rows, columns=cols), left_out(runs_df))


def paired_vs(
    runs_df: pd.DataFrame, *, by: str, reference: str,
    metrics: tuple[str, ...] = ("acc_has0", "acc_non0"),
) -> pd.DataFrame:
    """Each group of ``by`` against the ``reference`` group, paired by seed (points of %).

    Args:
        runs_df: ``collect_runs`` rows of one experiment (e.g. the pretraining ablation).
        by: column naming the variant (e.g. ``tag``).
        reference: the variant every other one is compared with (e.g. ``pretrain:none``).
        metrics: metrics to compare.

    Returns:
        One row per variant and metric: ``variant``, ``reference``, ``metric``, ``synthetic``,
        ``seeds``, ``n`` and the ``stats.paired_test`` fields (variant minus reference), with
        ``boot_ci_*`` as in ``paired_table``. Empty when the reference has no run.
    """
    cols = ["variant", "reference", "metric", "synthetic", "seeds", "n", "mean_diff", "ci_low",
            "ci_high", "boot_ci_low", "boot_ci_high", "wins", "t", "p_ttest",
            "p_wilcoxon"]  # fmt: skip
    if by not in runs_df.columns:
        raise ValueError(f"runs_df has no column {by!r}")

    ref = runs_df[runs_df[by] == reference]
    rows = []
    if len(ref) == 0:
        return _keep_left_out(pd.DataFrame(rows, columns=cols), left_out(runs_df))
    for variant, g in runs_df[runs_df[by] != reference].groupby(by, sort=True):
        for row in _paired_rows(g, ref, metrics, skip_unpaired=False):
            rows.append({"variant": variant, "reference": reference,
                         "synthetic": bool(g["synthetic"].any()), **row})  # fmt: skip
    return _keep_left_out(pd.DataFrame(rows, columns=cols), left_out(runs_df))


def best_by_valid(
    runs_df: pd.DataFrame, *, by: str, metric: str = "valid_acc_has0", prefer: str | None = None
) -> tuple[str, pd.DataFrame]:
    """The group of ``by`` with the highest mean *validation* accuracy over common seeds.

    Used to pick "the best configuration" (e.g. the pretraining variant the modality ablation
    uses) without looking at the test fold: the choice reads only the split the checkpoints
    were already selected on. Means are taken over the seeds every group has, so a group with
    an extra lucky seed does not win by it. A tie (equal means) goes to ``prefer`` when it is
    among the tied groups, else to the first in sort order.

    Args:
        runs_df: ``collect_runs`` rows of one experiment.
        by: column naming the groups (e.g. ``tag``).
        metric: a ``valid_acc_*`` column.
        prefer: tie-break (e.g. the simpler ``pretrain:none``).

    Returns:
        ``(best group, table)``: the table has one row per group (``by``, ``n``, ``seeds``,
        ``mean`` in %), best first.

    Raises:
        ValueError: unknown column, no runs, or no seed shared by all groups.
    """
    for col in (by, metric, "seed"):
        if col not in runs_df.columns:
            raise ValueError(f"runs_df has no column {col!r}; expected collect_runs output")
    df = runs_df.dropna(subset=[metric])
    if df.empty:
        raise ValueError(f"no run with a {metric!r} value to choose from")
    groups = {k: _latest_per_seed(g)[metric] for k, g in df.groupby(by, sort=True)}
    common = sorted(set.intersection(*(set(v.index) for v in groups.values())))
    if not common:
        raise ValueError(f"groups of {by!r} share no seed: {sorted(groups)}")
    rows = [{by: k, "n": len(common), "seeds": ",".join(map(str, common)),
             "mean": float(v.loc[common].mean()) * 100} for k, v in groups.items()]  # fmt: skip
    table = pd.DataFrame(rows).sort_values("mean", ascending=False, kind="stable")
    top = table[table["mean"] == table["mean"].iloc[0]][by].tolist()
    best = prefer if prefer in top else top[0]
    return best, table.reset_index(drop=True)
