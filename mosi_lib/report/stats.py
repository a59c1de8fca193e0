"""Statistics over seeds: mean with a t confidence interval, and paired tests between methods.

The paper reports single runs. With several seeds per condition the study reports, for each
metric, the mean, the sample standard deviation (ddof=1) and a Student-t confidence interval of
the mean, and compares two methods trained with the same seeds (same splits, same
initialisation stream) by a paired test over seeds: the paired t-test (``scipy.stats.ttest_rel``)
and, as a check that does not assume normal differences, the exact Wilcoxon signed-rank test
(``scipy.stats.wilcoxon``). With five seeds the smallest two-sided Wilcoxon p-value is 0.0625, so
it can never reach 0.05: read it as a sign-consistency check, not as the test of record.

The seeds' spread is not the only thing that moves an accuracy: which videos the test fold holds
does too (31 videos, 686 segments). ``video_bootstrap`` resamples the evaluation videos, the same
resample for every run, for an interval of a mean accuracy or of a paired difference.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
from scipy import stats as sps


def _as_1d(values: Any, name: str) -> np.ndarray:
    x = np.asarray(values, dtype=np.float64).reshape(-1)
    if x.size and not np.isfinite(x).all():
        raise ValueError(f"{name}: {int((~np.isfinite(x)).sum())} non-finite value(s) in {x}")
    return x


def mean_ci(values: Any, confidence: float = 0.95) -> dict[str, float]:
    """Mean, sample std and Student-t confidence interval of the mean.

    ``mean ± t_{(1+c)/2, n-1} * std / sqrt(n)`` with ``std`` the sample standard deviation.

    Args:
        values: the per-seed values (1-d; NaN/inf are an error).
        confidence: coverage of the interval, in (0, 1).

    Returns:
        ``n``, ``mean``, ``std`` (ddof=1), ``half_width``, ``ci_low``, ``ci_high``. With one value
        std and the interval are NaN (no spread can be estimated); with none everything but ``n``
        is NaN.

    Raises:
        ValueError: ``confidence`` outside (0, 1) or non-finite values.
    """
    if not 0.0 < confidence < 1.0:
        raise ValueError(f"confidence={confidence}: expected a value in (0, 1)")
    x = _as_1d(values, "values")
    n = len(x)
    nan = float("nan")
    if n == 0:
        return {"n": 0, "mean": nan, "std": nan, "half_width": nan, "ci_low": nan, "ci_high": nan}
    mean = float(x.mean())
    if n == 1:
        return {"n": 1, "mean": mean, "std": nan, "half_width": nan, "ci_low": nan, "ci_high": nan}
    std = float(x.std(ddof=1))
    half = float(sps.t.ppf(0.5 + confidence / 2, n - 1) * std / math.sqrt(n))
    return {
        "n": n,
        "mean": mean,
        "std": std,
        "half_width": half,
        "ci_low": mean - half,
        "ci_high": mean + half,
    }


def paired_test(a: Any, b: Any, confidence: float = 0.95) -> dict[str, float]:
    """Paired comparison of method ``a`` against method ``b`` over the same seeds.

    Args:
        a, b: per-seed values, aligned (``a[i]`` and ``b[i]`` share seed i).
        confidence: coverage of the interval of the mean difference.

    Returns:
        ``n``, ``mean_diff`` (a - b), ``std_diff``, ``ci_low``/``ci_high`` of the mean difference
        (Student t), ``t`` and ``p_ttest`` (two-sided paired t-test; NaN when the differences
        have no spread, e.g. all equal), ``p_wilcoxon`` (two-sided
        exact signed-rank test; NaN when every difference is 0) and ``wins`` (seeds where a > b).
        Fewer than two pairs give NaN statistics.

    Raises:
        ValueError: different lengths or non-finite values.
    """
    xa, xb = _as_1d(a, "a"), _as_1d(b, "b")
    if xa.shape != xb.shape:
        raise ValueError(f"paired_test: a has {len(xa)} values, b has {len(xb)}; need pairs")
    d = xa - xb
    ci = mean_ci(d, confidence)
    out = {
        "n": len(d),
        "mean_diff": ci["mean"],
        "std_diff": ci["std"],
        "ci_low": ci["ci_low"],
        "ci_high": ci["ci_high"],
        "t": float("nan"),
        "p_ttest": float("nan"),
        "p_wilcoxon": float("nan"),
        "wins": int((d > 0).sum()),
    }
    if len(d) < 2:
        return out
    if ci["std"] > 0:
        res = sps.ttest_rel(xa, xb)
        out["t"], out["p_ttest"] = float(res.statistic), float(res.pvalue)
    # identical differences (no spread): the t statistic is undefined, and so is its p-value;
    # NaN, not 0, so that a table never reads "p = 0" for e.g. two copies of one run
    if (d != 0).any():
        out["p_wilcoxon"] = float(sps.wilcoxon(xa, xb, method="exact").pvalue)
    return out


def _video_sums(
    preds: list[dict[str, np.ndarray]], split: str, zero_policy: str, videos: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Per run and video: correct predictions and rows on ``split`` -> two (V, R) arrays."""
    correct = np.zeros((len(videos), len(preds)))
    rows = np.zeros((len(videos), len(preds)))
    for r, p in enumerate(preds):
        sel = p["split"] == split
        y, out, vid = p["label"][sel], p["output"][sel], p["video"][sel]
        if zero_policy == "non0":
            keep = y != 0
            y, out, vid = y[keep], out[keep], vid[keep]
            truth = y > 0
        elif zero_policy == "has0":
            truth = y >= 0
        else:
            raise ValueError(f"zero_policy={zero_policy!r}: expected 'has0' or 'non0'")
        v = np.searchsorted(videos, vid)
        np.add.at(correct[:, r], v, (out > 0) == truth)
        np.add.at(rows[:, r], v, 1.0)
    return correct, rows


def video_bootstrap(
    groups: list[list[dict[str, np.ndarray]]],
    *,
    split: str,
    zero_policy: str = "has0",
    n_boot: int = 2000,
    confidence: float = 0.95,
    seed: int = 0,
) -> dict[str, Any]:
    """Video-level bootstrap of the mean accuracy over runs (seeds), one or two groups.

    The evaluation rows' videos are resampled with replacement (a test fold of 31 videos is
    31 draws), the same resample for every run of every group, and each run's accuracy is
    recomputed on the resampled rows (a video drawn twice counts twice). The interval is the
    percentile interval of the mean over the group's runs. With two groups (``[a, b]``, runs
    aligned by seed) it is the interval of ``mean(a) - mean(b)``: paired per seed and per
    resampled video set. What it covers: which videos the evaluation happened to hold, on top
    of the seeds' spread that the mean already averages.

    Args:
        groups: one or two lists of ``Run.predictions()`` dicts (``video``, ``split``,
            ``label``, ``output``; positive class: output > 0).
        split: the evaluation split (``test`` under the standard protocol).
        zero_policy: ``has0`` (positive = score >= 0) or ``non0`` (zero scores left out).
        n_boot, confidence, seed: resamples, coverage and the resampling seed.

    Returns:
        ``estimate`` (the observed value, points of %), ``ci_low``, ``ci_high``, ``n_videos``,
        ``n_boot``.

    Raises:
        ValueError: no group, more than two, an empty group, or two groups of unequal size.
    """
    if not 1 <= len(groups) <= 2 or any(len(g) == 0 for g in groups):
        raise ValueError(
            f"video_bootstrap: need one or two non-empty groups of runs, got "
            f"{[len(g) for g in groups]}"
        )
    if len(groups) == 2 and len(groups[0]) != len(groups[1]):
        raise ValueError(
            f"video_bootstrap: paired groups need one run each per seed, got "
            f"{len(groups[0])} and {len(groups[1])}"
        )
    videos = np.unique(
        np.concatenate([p["video"][p["split"] == split] for g in groups for p in g])
    )
    if len(videos) == 0:
        raise ValueError(f"video_bootstrap: no row of split {split!r} in the predictions")
    rng = np.random.default_rng(seed)
    counts = rng.multinomial(len(videos), np.full(len(videos), 1 / len(videos)), size=n_boot)
    counts = np.vstack([np.ones(len(videos)), counts])  # row 0: the observed sample

    def mean_acc(group):
        correct, rows = _video_sums(group, split, zero_policy, videos)
        with np.errstate(invalid="ignore", divide="ignore"):
            acc = (counts @ correct) / (counts @ rows)  # (1 + B, runs)
        return 100 * np.nanmean(acc, axis=1)

    value = mean_acc(groups[0]) - (mean_acc(groups[1]) if len(groups) == 2 else 0.0)
    lo, hi = np.nanpercentile(value[1:], [50 * (1 - confidence), 50 * (1 + confidence)])
    return {
        "estimate": float(value[0]),
        "ci_low": float(lo),
        "ci_high": float(hi),
        "n_videos": int(len(videos)),
        "n_boot": int(n_boot),
    }
