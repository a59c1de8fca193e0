"""Run results collected into frames, read only from ``runs/*/metrics.json``.

* ``collect_runs``: one row per finished classifier run, with both binary conventions (has0,
  non0; see ``mosi_lib.metrics``); a seed of one experiment counts once (``one_run_per_seed``)
  and the runs that could not be counted travel with the frame (``left_out``).
* ``dec_summary``: cluster metrics of the DEC runs.
* ``variant_name``: a classifier run's model label, as in the paper's Table 1 (``run_variant``:
  of a run's records).

The tables built from these frames are ``report.tables``; writing them
to files is ``report.outputs``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from mosi_lib import runs
from mosi_lib.metrics import REGRESSION_KEYS
from mosi_lib.runs import REFERENCES

RUN_COLUMNS = [
    "run_id",
    "variant",
    "init",
    "labels",
    "labeled_fraction",
    "acc_has0",
    "f1_has0",
    "acc_non0",
    "f1_non0",
    "majority_acc_has0",
    "majority_acc_non0",
    "n_params",
    "seed",
    "data_source",
    "synthetic",
    "protocol",
    "report_split",
    "zero_policy",
    "epochs",
    "best_epoch",
    "tag",
    "modalities",
    "valid_acc_has0",
    "valid_acc_non0",
    "data_description",
    "recipe",
    "created",
    "n_train",
    "n_select",
    "n_segments",
    "dec_rows",
    "dec_fraction",
    "dec_stage2_epochs",
    "dec_stage2_max",
    "mae",
    "corr",
    "acc7",
    "path",
]


# ----------------------------------------------------------------------------- runs


def variant_name(
    init: str, labels: str, labeled_fraction: float, dec_fraction: float | None = None
) -> str:
    """Model label of a classifier run, as in the paper's Table 1.

    Args:
        init: ``scratch``, ``dec``, ``ae`` (the stage-1 autoencoder of a DEC run) or a linear
            reference (``runs.REFERENCES``).
        labels: ``labeled`` (the labeled pool) or ``all``.
        labeled_fraction: share of labeled segments (config ``data.labeled_fraction``).
        dec_fraction: share of labels the DEC pretraining used (``init="dec"``); named when the
            classifier is fine-tuned on more labels than its DEC saw (the paper's "+ DEC (all
            labels)" fine-tunes a DEC pretrained with the 40% pool).

    Returns:
        E.g. ``Transformer (40%)``, ``Transformer + DEC (all labels; DEC pretrained with 40%)``.
    """
    model = {
        "scratch": "Transformer",
        "dec": "Transformer + DEC",
        "ae": "Transformer + autoencoder",
        # the arms beyond DEC (issue 34; docs/semi_supervised.md)
        "cmc": "Transformer + CMC",
        "self_training": "Transformer, self-training",
        "mean_teacher": "Transformer, mean teacher",
        **REFERENCES,
    }.get(init)
    if model is None:
        raise ValueError(
            f"init={init!r}: expected 'scratch', 'dec', 'ae', 'cmc', 'self_training', "
            f"'mean_teacher' or one of {list(REFERENCES)}"
        )
    if labels == "all":
        if init == "dec" and dec_fraction is not None and dec_fraction < 1:
            return f"{model} (all labels; DEC pretrained with {100 * dec_fraction:g}%)"
        return f"{model} (all labels)"
    if labels == "labeled":
        return f"{model} ({100 * labeled_fraction:g}%)"
    raise ValueError(f"labels={labels!r}: expected 'labeled' or 'all'")


def _dec_fraction(rec: runs.ClassifierRecord, cfg: dict[str, Any]) -> Any:
    """Share of labels the DEC pretraining behind a run saw (its transfer record, else config)."""
    transfer = rec.transfer or {}
    return transfer.get("dec_labeled_fraction", cfg.get("data", {}).get("labeled_fraction"))


def run_variant(rec: runs.ClassifierRecord | dict[str, Any], cfg: dict[str, Any]) -> str:
    """The model label (``variant_name``) of a classifier run, as its table row names it.

    Args:
        rec: the run's record (``Run.record``; or ``metrics.json`` as a dict): its ``init``,
            ``labels``, ``labeled_fraction_cfg``, ``transfer`` and ``semi``.
        cfg: the run's ``config.yaml``.

    Returns:
        E.g. ``Transformer + DEC (40%)`` for notebook 04's ``dec_ft_labeled`` run.
    """
    if isinstance(rec, dict):
        rec = runs.ClassifierRecord.read(rec, check=False)
    # a classifier trained by semi.method (self_training, mean_teacher) is named by it
    init = (rec.semi or {}).get("method") or rec.init
    frac = float(rec.labeled_fraction_cfg)
    dec = _dec_fraction(rec, cfg) if init in ("dec", "ae") else None
    return variant_name(init, rec.labels, frac, dec)


def _field(metrics: dict[str, Any], key: str, file: Path) -> Any:
    """A DEC record's field (``dec_summary``), refused when missing or null."""
    if metrics.get(key) is None:
        raise ValueError(f"{file}: field {key!r} is missing or null")
    return metrics[key]


def _run_recipe(run: runs.Run, cfg: dict[str, Any], init: str) -> str:
    """``Run.recipe``; a linear reference depends on the data section only."""
    if init in REFERENCES:
        data = {k: v for k, v in cfg.get("data", {}).items() if k != "data_dir"}
        if data.get("draw") == "seed":  # each seed's own draw: seeds of one reference pool
            data.pop("split_seed", None)
        return runs.config_hash(data)
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


def _unfinished_why(run: runs.Run) -> str:
    """Why an unfinished run is left out: its state, or its unreadable ``status.json``."""
    state = run.status()
    if state == "unknown" and (run.path / runs.STATUS_FILE).exists():
        return f"unfinished ({run.path / runs.STATUS_FILE}: unreadable, state unknown)"
    return f"unfinished ({state})"


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
        must not look at the test fold; ``recipe`` = ``runs.recipe_hash`` of the run's config;
        ``n_train``/``n_select`` labels used for training / checkpoint selection; ``dec_*`` the
        DEC pretraining of ``init="dec"`` runs; ``mae``, ``corr``, ``acc7``: the report split's
        ``metrics.regression_metrics``, NaN for a ``bce`` run and for runs written before they
        were recorded), sorted by creation time.
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
        print(
            f"collect_runs({root}): {len(skipped)} unfinished classifier run(s) left out "
            f"(running, failed or interrupted: {names})"
        )
    broken = runs.broken_runs(root)
    for run, why in broken:
        print(
            f"collect_runs({root}): run {run.run_id} left out, its results cannot be read: {why}"
        )
    rows = []
    for run in runs.find_runs(root, kind="classifier"):
        m = run.metrics()
        file = run.path / "metrics.json"
        try:
            cfg = run.config()
        except (OSError, ValueError) as err:  # a damaged run folder is a row left out
            print(f"collect_runs({root}): run {run.run_id} left out, its results cannot be "
                  f"read: {err}")
            broken.append((run, str(err)))
            continue
        rec = runs.ClassifierRecord.read(m, file)
        rep, init, labels = rec.report, rec.init, rec.labels
        frac = float(rec.labeled_fraction_cfg)
        transfer = rec.transfer or {}
        dec_frac = _dec_fraction(rec, cfg)
        row = {
            "run_id": run.run_id,
            "path": str(run.path),
            "init": init,
            "labels": labels,
            "labeled_fraction": frac,
            "variant": run_variant(rec, cfg),
            "recipe": _run_recipe(run, cfg, init),
            "created": str(cfg.get("provenance", {}).get("created", "")),
            "n_train": np.nan if rec.n_train is None else rec.n_train,
            "n_select": (rec.valid or {}).get("n_has0", np.nan),
            "n_segments": np.nan if rec.n_segments is None else rec.n_segments,
            "dec_rows": (
                transfer.get("dec_rows", cfg.get("dec", {}).get("pretrain_rows"))
                if init in ("dec", "ae")
                else ""
            ),
            "dec_fraction": dec_frac if init in ("dec", "ae") else np.nan,
            "dec_stage2_epochs": transfer.get("dec_stage2_epochs", np.nan),
            "dec_stage2_max": cfg.get("dec", {}).get("stage2_epochs", np.nan),
        }
        for k in (
            "acc_has0",
            "f1_has0",
            "acc_non0",
            "f1_non0",
            "majority_acc_has0",
            "majority_acc_non0",
        ):
            if k not in rep:
                raise ValueError(f"{file}: field 'report.{k}' is missing")
            row[k] = np.nan if rep[k] is None else float(rep[k])
        for k in (
            "n_params",
            "seed",
            "data_source",
            "synthetic",
            "protocol",
            "report_split",
            "zero_policy",
            "epochs",
            "best_epoch",
        ):
            row[k] = getattr(rec, k)
        for k in REGRESSION_KEYS:  # None under bce (a logit); absent in runs written before
            row[k] = np.nan if rep.get(k) is None else float(rep[k])
        row["data_description"] = rec.data_description or ""
        row["modalities"] = "+".join(rec.modalities or [])
        val = rec.valid or {}
        for k in ("acc_has0", "acc_non0"):
            row[f"valid_{k}"] = np.nan if val.get(k) is None else float(val[k])
        # one row per experiment tag the run counts under ("" = main study; Run.tags)
        rows += [{**row, "tag": tag or ""} for tag in run.tags()]
    if broken:
        print(
            f"collect_runs({root}): {len(broken)} finished run(s) left out for missing or "
            "unreadable metrics.json or config.yaml"
        )
    df = pd.DataFrame(rows, columns=RUN_COLUMNS)
    if not keep_repeats:
        df, repeats = one_run_per_seed(df)
        if repeats:
            print(
                f"collect_runs({root}): {repeats} repeated run(s) of a seed already counted "
                "were left out (the latest run of each seed counts; keep_repeats=True lists "
                "them)"
            )
        df = df.reset_index(drop=True)
    # what did not enter, for a table's footnote: run id -> why
    df.attrs["left_out"] = {
        **{r.run_id: _unfinished_why(r) for r in skipped},
        **{r.run_id: why for r, why in broken},
    }
    return df


# ----------------------------------------------------------------------------- seeds


def latest_per_seed(df: pd.DataFrame) -> pd.DataFrame:
    """One run per seed, indexed by seed: a seed run twice counts once, its latest run."""
    return df.sort_values("run_id").drop_duplicates("seed", keep="last").set_index("seed")


def run_predictions(g: pd.DataFrame) -> list[dict[str, np.ndarray]] | None:
    """The runs' ``predictions.npz`` (in ``g``'s order), None if one run has none."""
    if "path" not in g.columns or g["path"].isna().any():  # rows not read from run folders
        return None
    preds = [runs.load_run(p).predictions() for p in g["path"]]
    return None if any(p is None for p in preds) else preds


# ----------------------------------------------------------------------------- frames


def left_out(df: pd.DataFrame) -> dict[str, str]:
    """Run id -> why, for the runs ``collect_runs`` could not count (``attrs["left_out"]``)."""
    return dict(df.attrs.get("left_out") or {})


def keep_left_out(out: pd.DataFrame, left: dict[str, str]) -> pd.DataFrame:
    """``out`` carrying ``left`` on to ``save_table``'s footnote (a new frame drops attrs)."""
    out.attrs["left_out"] = dict(left)
    return out


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


def describe_runs(runs_df: pd.DataFrame) -> str:
    """The data of ``runs_df`` in words (its runs' ``data_description``), for captions."""
    if "data_description" not in runs_df.columns or not len(runs_df):
        return "no runs"
    found = sorted({str(d) for d in runs_df["data_description"] if str(d)})
    if has_synthetic(runs_df) and not any("SYNTHETIC" in d for d in found):
        found.insert(0, "SYNTHETIC data")
    return "; ".join(found) or "data not described"


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
        ``start_degenerate``, ``start_remedy``, ``start_used_sizes`` (the start stage 2 began from;
        ``train.dec.init_centers``), ``stage1_from`` (the run whose stage 1 was reused) and
        ``stage2_stop`` (``tol``: the assignments settled; ``budget``: the epochs ran out).
    """
    cols = [
        "run_id",
        "seed",
        "data_source",
        "synthetic",
        "protocol",
        "n_rows",
        "report_split",
        "acc_all",
        "nmi_all",
        "ari_all",
        "acc_report",
        "floor_report",
        "nmi_report",
        "ari_report",
        "cluster_sizes",
        "min_cluster_share",
        "start_sizes",
        "start_degenerate",
        "start_remedy",
        "start_used_sizes",
        "stage1_from",
        "n_target_updates",
        "stopped_early",
        "stage2_stop",
        "stage2_epochs_run",
    ]
    rows = []
    for run in runs.find_runs(root, kind="dec"):
        m = run.metrics()
        file = run.path / "metrics.json"
        cluster = _field(m, "cluster", file)
        splits = [k for k in cluster if k != "all"]
        if "all" not in cluster or len(splits) != 1:
            raise ValueError(
                f"{file}: 'cluster' should hold 'all' and one report split, has {sorted(cluster)}"
            )
        sizes = [int(s) for s in _field(m, "cluster_sizes", file)]
        row = {
            "run_id": run.run_id,
            "report_split": splits[0],
            "cluster_sizes": "/".join(map(str, sizes)),
            "min_cluster_share": min(sizes) / max(sum(sizes), 1),
            "n_target_updates": len(m.get("target_updates") or []),
            "stage2_epochs_run": m.get("stage2_epochs_run", np.nan),
        }
        init, stop = m.get("center_init") or {}, m.get("stage2_stop") or {}
        row.update(
            {
                "start_sizes": "/".join(map(str, init.get("kmeans_sizes", []))) or np.nan,
                "start_degenerate": init.get("degenerate", np.nan),
                "start_remedy": init.get("remedy") or ("none" if init else np.nan),
                "start_used_sizes": "/".join(map(str, init.get("sizes", []))) or np.nan,
                "stage1_from": m.get("stage1_from") or np.nan,
                "stage2_stop": stop.get("reason", np.nan),
                "floor_report": (cluster[splits[0]] or {}).get("floor", np.nan),
            }
        )
        for k in ("seed", "data_source", "synthetic", "protocol", "n_rows", "stopped_early"):
            row[k] = _field(m, k, file)
        for part, key in (("all", "all"), ("report", splits[0])):
            for met in ("acc", "nmi", "ari"):  # None: no report row among the DEC rows
                row[f"{met}_{part}"] = np.nan if cluster[key] is None else float(cluster[key][met])
        rows.append(row)
    return pd.DataFrame(rows, columns=cols)
