"""Paired comparisons over seeds: DEC-initialised against from-scratch, variants against one.

Runs are matched by seed within one recipe and compared by ``stats.paired_test`` (paired
t-test and Wilcoxon); accuracy differences are also bootstrapped over the evaluation videos
(``stats.video_bootstrap``) where the runs kept their predictions.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from mosi_lib.reference import REFERENCES
from mosi_lib.report import stats
from mosi_lib.report.collect import (
    keep_left_out,
    latest_per_seed,
    left_out,
    one_run_per_seed,
    run_predictions,
    variant_name,
)
from mosi_lib.report.tables import source_label

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

    Pairs are formed within one recipe (``hashing.recipe_hash``: data, protocol, zero policy,
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
