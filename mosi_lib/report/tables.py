"""Tables of collected runs: the comparison table (paper Table 1), summaries, paired comparisons.

Tables of collected runs: the comparison table (paper Table 1) and summaries over seeds.

* ``LITERATURE``: the rows the paper reports in its Table 1 (status "reported"; never measured
  here).
* ``comparison_table``: our runs aggregated over seeds (mean ± sample std, ddof=1) next to the
  reported rows; every measured row says whether its data were synthetic.
* ``summary_table``: mean, std and 95% interval per group of runs (label sweep, ablations).
* ``best_by_valid``: the group with the best validation accuracy, for choices that must not
  read the test fold.

Paired comparisons are ``report.tables``; writing a table to files is ``report.outputs``.

Paired comparisons over seeds: DEC-initialised against from-scratch, variants against one.

Runs are matched by seed within one recipe and compared by ``stats.paired_test`` (paired
t-test and Wilcoxon); accuracy differences are also bootstrapped over the evaluation videos
(``stats.video_bootstrap``) where the runs kept their predictions.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from mosi_lib.metrics import REGRESSION_KEYS
from mosi_lib.report import stats
from mosi_lib.report.collect import (
    RUN_COLUMNS,
    keep_left_out,
    latest_per_seed,
    left_out,
    one_run_per_seed,
    run_predictions,
    variant_name,
)
from mosi_lib.runs import REFERENCES

# =============================================================================
# Tables of collected runs: the comparison table (paper Table 1) and summaries over seeds.

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
    "Model",
    "Source",
    "Protocol",
    "Acc-2 reported",
    "Acc-2 has0",
    "95% CI has0",
    "95% video bootstrap has0",
    "F1 has0",
    "Acc-2 non0",
    "F1 non0",
    "Majority has0",
    "Majority non0",
    "Params",
    "Epochs",
    "Seeds",
    "Labels (train + selection)",
    "Pretraining",
    "Recipe",
    "MAE",
    "Corr",
    "Acc-7",
]
"""The comparison table's columns. ``MAE``, ``Corr`` and ``Acc-7`` (MMSA's regression metrics,
``metrics.regression_metrics``) are filled for runs whose output regresses the score
(``train.objective=l1``) and empty for ``bce`` runs (a logit) and runs that did not record them.
"""


# ----------------------------------------------------------------------------- comparison table


def _pct(values: pd.Series) -> str:
    """``mean`` or ``mean ± std`` (sample std, ddof=1) in % with 2 decimals; NaNs skipped."""
    v = values.dropna().to_numpy(float) * 100
    if len(v) == 0:
        return ""
    if len(v) == 1:
        return f"{v[0]:.2f}"
    return f"{v.mean():.2f} ± {v.std(ddof=1):.2f}"


def _num(values: pd.Series) -> str:
    """``mean`` or ``mean ± std`` (sample std) with 3 decimals; NaNs skipped, empty if none."""
    v = values.dropna().to_numpy(float)
    if len(v) == 0:
        return ""
    if len(v) == 1:
        return f"{v[0]:.3f}"
    return f"{v.mean():.3f} ± {v.std(ddof=1):.3f}"


def _ci(values: pd.Series) -> str:
    """95% Student-t interval of the mean in %, ``[low, high]``; empty below two values."""
    v = values.dropna().to_numpy(float) * 100
    if len(v) < 2:
        return ""
    ci = stats.mean_ci(v)
    return f"[{ci['ci_low']:.2f}, {ci['ci_high']:.2f}]"


def source_label(data_source: Any, synthetic: bool, description: Any = "") -> str:
    """The ``Source`` cell of a measured row: synthetic, the data description or the source."""
    if synthetic:
        return "measured: SYNTHETIC data"
    if isinstance(description, str) and description:
        return f"measured: {description}"
    return f"measured: real data ({data_source})"


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
    rows = (
        f"all segments (transductive: incl. the {first['report_split']} rows' features)"
        if first["dec_rows"] == "all"
        else "training rows only"
    )
    if first["init"] == "ae":  # stage 1 only: reconstruction, no label, no clustering
        return f"autoencoder (DEC stage 1) on {rows}"
    text = f"DEC on {rows}, {100 * float(first['dec_fraction']):g}% labels"
    ep = g["dec_stage2_epochs"].dropna()
    if len(ep):
        lo, hi = int(ep.min()), int(ep.max())
        ran = str(lo) if lo == hi else f"{lo}-{hi}"
        text += f"; stage 2 ran {ran} of {int(first['dec_stage2_max'])} epochs"
    return text


def _boot_cell(g: pd.DataFrame, zero_policy: str) -> str:
    """``[lo, hi]`` of ``stats.video_bootstrap`` for the mean accuracy of ``g``'s runs."""
    preds = run_predictions(g)
    if preds is None:
        return "-"
    res = stats.video_bootstrap(
        [preds], split=str(g["report_split"].iloc[0]), zero_policy=zero_policy
    )
    return f"[{res['ci_low']:.2f}, {res['ci_high']:.2f}]"


def comparison_table(runs_df: pd.DataFrame, *, include_literature: bool = True) -> pd.DataFrame:
    """The comparison table: reported rows, then our runs aggregated over seeds.

    Measured runs are grouped by variant, data, protocol (with report split), training zero
    policy, epochs and recipe (``runs.recipe_hash``), so that different recipes are never
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
        (``stats.video_bootstrap``; "-" for runs without ``predictions.npz``). ``MAE`` and
        ``Corr`` with 3 decimals, ``Acc-7`` in %; empty where no run of the row recorded them.
    """
    runs_df, _ = one_run_per_seed(runs_df)
    # frames of records written before the regression metrics (e.g. a committed run csv)
    runs_df = runs_df.assign(**{k: np.nan for k in REGRESSION_KEYS if k not in runs_df.columns})
    missing = [c for c in RUN_COLUMNS if c not in runs_df.columns]
    if missing:
        raise ValueError(f"runs_df: missing columns {missing}; expected collect_runs output")
    rows = []
    if include_literature:
        for lit in LITERATURE:
            rows.append(
                {
                    "Model": lit["model"],
                    "Source": lit["source"],
                    "Protocol": "as reported",
                    "Acc-2 reported": f"{lit['acc']:.2f}",
                    "Params": "not reported" if lit["params"] is None else f"{lit['params']:,}",
                }
            )
    df = runs_df.assign(
        _dec=(runs_df["init"] == "dec").astype(int), _src=runs_df["data_source"].astype(str)
    )
    df = df.sort_values(
        [
            "synthetic",
            "_src",
            "protocol",
            "zero_policy",
            "epochs",
            "labeled_fraction",
            "_dec",
            "run_id",
        ]
    )
    keys = [
        "variant",
        "_src",
        "synthetic",
        "protocol",
        "report_split",
        "zero_policy",
        "epochs",
        "tag",
        "modalities",
        "data_description",
        "recipe",
    ]
    for _, g in df.groupby(keys, sort=False, dropna=False):
        first = g.iloc[0]
        params = sorted(set(g["n_params"].astype(int)))
        seeds = ",".join(str(s) for s in g["seed"])
        rows.append(
            {
                "Model": first["variant"],
                "Source": source_label(
                    first["data_source"], first["synthetic"], first["data_description"]
                ),
                "Protocol": (
                    f"{first['protocol']}, {first['report_split']} split, "
                    f"{first['zero_policy']} training"
                ),
                "Acc-2 has0": _pct(g["acc_has0"]),
                "95% CI has0": _ci(g["acc_has0"]),
                "95% video bootstrap has0": _boot_cell(g, "has0"),
                "F1 has0": _pct(g["f1_has0"]),
                "Acc-2 non0": _pct(g["acc_non0"]),
                "F1 non0": _pct(g["f1_non0"]),
                "Majority has0": _pct(g["majority_acc_has0"]),
                "Majority non0": _pct(g["majority_acc_non0"]),
                "Params": "-".join(f"{p:,}" for p in params),
                "Epochs": "-" if first["init"] in REFERENCES else str(int(first["epochs"])),
                "Seeds": f"{len(g)} ({seeds})",
                "Labels (train + selection)": _budget(g),
                "Pretraining": _pretraining(g),
                "Recipe": str(first["recipe"])[:8],
                "MAE": _num(g["mae"]),
                "Corr": _num(g["corr"]),
                "Acc-7": _pct(g["acc7"]),
            }
        )
    left = left_out(runs_df)
    for run_id, why in left.items():  # a run that could not be read stays a row, marked
        rows.append({"Model": f"left out: run {run_id}", "Source": why, "Seeds": "0"})
    # cells a row does not fill are "" (fillna("") on an all-NaN float column is deprecated)
    rows = [dict.fromkeys(TABLE_COLUMNS, "") | r for r in rows]
    return keep_left_out(pd.DataFrame(rows, columns=TABLE_COLUMNS), left)


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
        protocols = g["protocol"].astype(str) + ", " + g["report_split"].astype(str) + " split"
        row.update(
            {
                "n": len(g),
                "seeds": ",".join(str(x) for x in sorted(g["seed"])),
                "synthetic": bool(g["synthetic"].any()),
                "protocol": "; ".join(sorted(set(protocols))),
            }
        )
        for metric in SUMMARY_METRICS:
            ci = stats.mean_ci(g[metric].dropna().to_numpy(float) * 100)
            row.update(
                {
                    f"{metric}_mean": ci["mean"],
                    f"{metric}_std": ci["std"],
                    f"{metric}_ci_low": ci["ci_low"],
                    f"{metric}_ci_high": ci["ci_high"],
                }
            )
        rows.append(row)
    cols = (
        group
        + ["n", "seeds", "synthetic", "protocol"]
        + [f"{m}_{k}" for m in SUMMARY_METRICS for k in ("mean", "std", "ci_low", "ci_high")]
    )
    return keep_left_out(pd.DataFrame(rows, columns=cols), left_out(runs_df))


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
    groups = {k: latest_per_seed(g)[metric] for k, g in df.groupby(by, sort=True)}
    common = sorted(set.intersection(*(set(v.index) for v in groups.values())))
    if not common:
        raise ValueError(f"groups of {by!r} share no seed: {sorted(groups)}")
    rows = [
        {
            by: k,
            "n": len(common),
            "seeds": ",".join(map(str, common)),
            "mean": float(v.loc[common].mean()) * 100,
        }
        for k, v in groups.items()
    ]
    table = pd.DataFrame(rows).sort_values("mean", ascending=False, kind="stable")
    top = table[table["mean"] == table["mean"].iloc[0]][by].tolist()
    best = prefer if prefer in top else top[0]
    return best, table.reset_index(drop=True)


# =============================================================================
# Paired comparisons over seeds: DEC-initialised against from-scratch, variants against one.

_PAIRED_FIELDS = ("n", "mean_diff", "ci_low", "ci_high", "wins", "t", "p_ttest", "p_wilcoxon")
_ZERO_OF = {"acc_has0": "has0", "acc_non0": "non0"}
"""Accuracy metrics whose paired difference is also bootstrapped over videos."""


def _paired_rows(
    a: pd.DataFrame, b: pd.DataFrame, metrics, *, skip_unpaired: bool
) -> list[dict[str, Any]]:
    """``stats.paired_test`` of runs ``a`` minus runs ``b`` per metric over their common seeds.

    Values in points of %; a seed whose metric is undefined (NaN) on either side is left out.
    Without a common seed: no rows if ``skip_unpaired``, else rows with ``n`` = 0 (and NaN
    statistics) that show the missing partner.
    """
    a, b = latest_per_seed(a), latest_per_seed(b)
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
        pa, pb = run_predictions(a.loc[used]), run_predictions(b.loc[used])
        if used and metric in _ZERO_OF and pa is not None and pb is not None:
            r = stats.video_bootstrap(
                [pa, pb], split=str(a["report_split"].iloc[0]), zero_policy=_ZERO_OF[metric]
            )
            boot = {"boot_ci_low": r["ci_low"], "boot_ci_high": r["ci_high"]}
        rows.append(
            {
                "metric": metric,
                "seeds": ",".join(map(str, used)),
                **{k: res[k] for k in _PAIRED_FIELDS},
                **boot,
            }
        )
    return rows


def paired_table(
    runs_df: pd.DataFrame, *, metrics: tuple[str, ...] = ("acc_has0", "acc_non0")
) -> pd.DataFrame:
    """Paired comparison over seeds of DEC-initialised against from-scratch classifiers.

    Pairs are formed within one recipe (``runs.recipe_hash``: data, protocol, zero policy,
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
    cols = [
        "comparison",
        "metric",
        "source",
        "synthetic",
        "protocol",
        "seeds",
        "n",
        "mean_diff",
        "ci_low",
        "ci_high",
        "boot_ci_low",
        "boot_ci_high",
        "wins",
        "t",
        "p_ttest",
        "p_wilcoxon",
    ]
    rows = []
    if len(runs_df) == 0:
        return keep_left_out(pd.DataFrame(rows, columns=cols), left_out(runs_df))
    runs_df, _ = one_run_per_seed(runs_df)
    keys = [
        "data_source",
        "synthetic",
        "protocol",
        "report_split",
        "zero_policy",
        "epochs",
        "labeled_fraction",
        "tag",
        "modalities",
        "data_description",
        "recipe",
    ]
    classifiers = runs_df[~runs_df["init"].isin(list(REFERENCES))]  # references are not paired
    for _, g in classifiers.groupby(keys, sort=True, dropna=False):
        frac = float(g["labeled_fraction"].iloc[0])
        first = g.iloc[0]
        for labels in ("labeled", "all"):
            same = g[g["labels"] == labels]
            decs = same.loc[same["init"] == "dec", "dec_fraction"].dropna()
            scratch = variant_name("scratch", labels, frac)
            dec = variant_name("dec", labels, frac, decs.iloc[0] if len(decs) else None)
            for init, arm in (("dec", dec), ("ae", variant_name("ae", labels, frac))):
                for row in _paired_rows(
                    same[same["init"] == init],
                    same[same["init"] == "scratch"],
                    metrics,
                    skip_unpaired=True,
                ):
                    rows.append(
                        {
                            "comparison": f"{arm} vs {scratch}",
                            "source": source_label(
                                first["data_source"], first["synthetic"], first["data_description"]
                            ),
                            "synthetic": bool(first["synthetic"]),
                            "protocol": f"{first['protocol']}, {first['report_split']} split",
                            **row,
                        }
                    )
    return keep_left_out(pd.DataFrame(rows, columns=cols), left_out(runs_df))


def paired_vs(
    runs_df: pd.DataFrame,
    *,
    by: str,
    reference: str,
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
    cols = [
        "variant",
        "reference",
        "metric",
        "synthetic",
        "seeds",
        "n",
        "mean_diff",
        "ci_low",
        "ci_high",
        "boot_ci_low",
        "boot_ci_high",
        "wins",
        "t",
        "p_ttest",
        "p_wilcoxon",
    ]
    if by not in runs_df.columns:
        raise ValueError(f"runs_df has no column {by!r}")

    ref = runs_df[runs_df[by] == reference]
    rows = []
    if len(ref) == 0:
        return keep_left_out(pd.DataFrame(rows, columns=cols), left_out(runs_df))
    for variant, g in runs_df[runs_df[by] != reference].groupby(by, sort=True):
        for row in _paired_rows(g, ref, metrics, skip_unpaired=False):
            rows.append(
                {
                    "variant": variant,
                    "reference": reference,
                    "synthetic": bool(g["synthetic"].any()),
                    **row,
                }
            )
    return keep_left_out(pd.DataFrame(rows, columns=cols), left_out(runs_df))
