"""Statistics over seeds and test videos: means with intervals, paired tests, and their families.

The paper reports single runs. With several seeds per condition the study reports, for each
metric, the mean, the sample standard deviation (ddof=1) and a Student-t confidence interval of
the mean, and compares two methods trained with the same seeds (same splits, same
initialisation stream) by a paired test over seeds: the paired t-test (``scipy.stats.ttest_rel``)
and, as a check that does not assume normal differences, the exact Wilcoxon signed-rank test
(``scipy.stats.wilcoxon``). With five seeds the smallest two-sided Wilcoxon p-value is 0.0625, so
it can never reach 0.05: read it as a sign-consistency check, not as the test of record.
``holm`` adjusts a family of such p-values (Holm 1979), and ``detectable_difference`` says how
large a true paired difference the seeds at hand could detect (noncentral t power).

The seeds' spread is not the only thing that moves an accuracy: which videos the test fold holds
does too (31 videos, 686 segments). Two bootstraps, for an interval of a mean accuracy or of a
paired difference:

- ``video_bootstrap`` holds the trained models (the runs) fixed and resamples only the test
  videos: it covers which videos the test fold holds, NOT the seeds' spread.
- ``two_level_bootstrap`` resamples the seeds and the test videos in each replicate: it covers
  both.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
from scipy import optimize
from scipy import stats as sps


def _as_1d(values: Any, name: str) -> np.ndarray:
    """``values`` as a 1-d float array; non-finite values are an error naming ``name``."""
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


def _eval_videos(groups: list[list[dict[str, np.ndarray]]], split: str, name: str) -> np.ndarray:
    """Check one or two aligned groups of runs; return the sorted videos with ``split`` rows."""
    if not 1 <= len(groups) <= 2 or any(len(g) == 0 for g in groups):
        raise ValueError(
            f"{name}: need one or two non-empty groups of runs, got {[len(g) for g in groups]}"
        )
    if len(groups) == 2 and len(groups[0]) != len(groups[1]):
        raise ValueError(
            f"{name}: paired groups need one run each per seed, got "
            f"{len(groups[0])} and {len(groups[1])}"
        )
    videos = np.unique(
        np.concatenate([p["video"][p["split"] == split] for g in groups for p in g])
    )
    if len(videos) == 0:
        raise ValueError(f"{name}: no row of split {split!r} in the predictions")
    return videos


def _resampled_accuracy(
    group: list[dict[str, np.ndarray]],
    split: str,
    zero_policy: str,
    videos: np.ndarray,
    counts: np.ndarray,
) -> np.ndarray:
    """Each run's accuracy (a fraction) on each video resample: counts (K, V) -> (K, R).

    A resample with no row for a run (e.g. only zero labels under ``non0``) gives NaN.
    """
    correct, rows = _video_sums(group, split, zero_policy, videos)
    with np.errstate(invalid="ignore", divide="ignore"):
        return (counts @ correct) / (counts @ rows)


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
    percentile interval (Efron & Tibshirani 1993, ch. 13) of the mean over the group's runs.
    With two groups (``[a, b]``, runs aligned by seed) it is the interval of
    ``mean(a) - mean(b)``: paired per seed and per resampled video set. Draws:
    ``np.random.default_rng(seed).multinomial(V, [1 / V] * V, size=n_boot)``, the videos' counts.

    What it covers: the trained models (the runs) are held fixed and only the test videos are
    resampled, so the interval covers which videos the test fold holds and NOT the seeds'
    spread: the same runs are in every replicate. For both, use ``two_level_bootstrap``.

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
        ValueError: no group, more than two, an empty group, two groups of unequal size, or no
            row of ``split``.
    """
    videos = _eval_videos(groups, split, "video_bootstrap")
    rng = np.random.default_rng(seed)
    counts = rng.multinomial(len(videos), np.full(len(videos), 1 / len(videos)), size=n_boot)
    counts = np.vstack([np.ones(len(videos)), counts])  # row 0: the observed sample

    def mean_acc(group):
        """Mean accuracy over the group's runs, points of %, per resample -> (1 + B,)."""
        acc = _resampled_accuracy(group, split, zero_policy, videos, counts)  # (1 + B, R)
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


def two_level_bootstrap(
    groups: list[list[dict[str, np.ndarray]]],
    *,
    split: str,
    zero_policy: str = "has0",
    n_boot: int = 2000,
    confidence: float = 0.95,
    seed: int = 0,
) -> dict[str, Any]:
    """Two-level bootstrap (seeds, then test videos) of the mean accuracy over runs.

    Seeds and test videos are crossed (every run is scored on every video), so each replicate
    resamples both factors independently, with replacement, as in Owen's pigeonhole bootstrap
    for crossed data (Owen 2007, Ann. Appl. Stat. 1(2)); see Davison & Hinkley (1997, sec. 3.8)
    for resampling at every stage of multi-level data. In replicate b:

    1. the seeds: R run indices ``runs[b]`` drawn from the R runs (for two groups the same
       indices in both, so a drawn seed brings its pair and the pairing is kept);
    2. the videos: V draws from the V test videos, ``counts[b]`` (how often each is drawn), one
       resample shared by all drawn runs;
    3. each drawn run's accuracy on the resampled rows (a video drawn twice counts twice), and
       their mean over the R drawn runs in draw order (runs with no row left out), times 100;
       for two groups ``mean(a) - mean(b)``.

    The interval is the percentile interval (Efron & Tibshirani 1993, ch. 13) of the B values;
    the estimate is the same statistic on the observed sample (every run and every video once).
    It covers both the seeds' spread and which videos the test fold holds, where
    ``video_bootstrap`` covers only the latter. Owen shows this resampling errs on the
    conservative side for crossed random effects; with few seeds the seed level is, in the other
    direction, a bootstrap of a mean of R values (no t tail, variance (R - 1) / R of s^2 / R).

    Draw order, so that a check can repeat it with ``rng = np.random.default_rng(seed)``:
    ``counts = rng.multinomial(V, [1 / V] * V, size=n_boot)`` first (the very video resamples
    ``video_bootstrap`` draws for this seed, so one run per group gives its interval), then
    ``runs = rng.integers(0, R, size=(n_boot, R))``; V = the sorted test videos.

    Args:
        groups: one or two lists of ``Run.predictions()`` dicts (``video``, ``split``,
            ``label``, ``output``; positive class: output > 0), two groups aligned by seed.
        split: the evaluation split (``test`` under the standard protocol).
        zero_policy: ``has0`` (positive = score >= 0) or ``non0`` (zero scores left out).
        n_boot, confidence, seed: replicates, coverage and the resampling seed.

    Returns:
        ``estimate`` (the observed value, points of %), ``ci_low``, ``ci_high``, ``n_videos``,
        ``n_boot``, ``n_seeds`` (runs per group).

    Raises:
        ValueError: no group, more than two, an empty group, two groups of unequal size, or no
            row of ``split``.
    """
    videos = _eval_videos(groups, split, "two_level_bootstrap")
    n_videos, n_seeds = len(videos), len(groups[0])
    rng = np.random.default_rng(seed)
    counts = rng.multinomial(n_videos, np.full(n_videos, 1 / n_videos), size=n_boot)  # (B, V)
    runs = rng.integers(0, n_seeds, size=(n_boot, n_seeds))  # (B, R)
    # row 0: the observed sample, every video once and every run once
    counts = np.vstack([np.ones(n_videos), counts])  # (1 + B, V)
    runs = np.vstack([np.arange(n_seeds), runs])  # (1 + B, R)
    replicate = np.arange(n_boot + 1)[:, None]

    def mean_acc(group):
        """Mean accuracy over the drawn runs, points of %, per replicate -> (1 + B,)."""
        # (1 + B, R): drawn run j's accuracy on replicate b's videos
        acc = _resampled_accuracy(group, split, zero_policy, videos, counts)[replicate, runs]
        total, kept = np.zeros(n_boot + 1), np.zeros(n_boot + 1)
        for j in range(n_seeds):  # summed in draw order: a plain loop repeats it bit for bit
            ok = ~np.isnan(acc[:, j])
            total += np.where(ok, acc[:, j], 0.0)
            kept += ok
        with np.errstate(invalid="ignore", divide="ignore"):
            return 100 * (total / kept)

    value = mean_acc(groups[0]) - (mean_acc(groups[1]) if len(groups) == 2 else 0.0)
    lo, hi = np.nanpercentile(value[1:], [50 * (1 - confidence), 50 * (1 + confidence)])
    return {
        "estimate": float(value[0]),
        "ci_low": float(lo),
        "ci_high": float(hi),
        "n_videos": int(n_videos),
        "n_boot": int(n_boot),
        "n_seeds": int(n_seeds),
    }


# ---- families of tests and power -------------------------------------------------------------


def holm(p_values: Any) -> np.ndarray:
    """Holm-Bonferroni step-down adjusted p-values, in the input's order.

    Holm (1979, Scand. J. Stat. 6(2), 65-70), as adjusted p-values (Wright 1992, Biometrics 48):
    with the m non-NaN p-values sorted, ``p_(1) <= ... <= p_(m)``, the i-th adjusted value is
    ``min(1, max_{j <= i} (m - j + 1) * p_(j))``. Rejecting where the adjusted value is <= alpha
    is Holm's test, which controls the family-wise error rate at alpha under any dependence.

    Args:
        p_values: the family's p-values (1-d); NaN marks a test that was not done.

    Returns:
        The adjusted p-values (float array, same order and length): monotone in the raw ones,
        at most 1; NaN entries stay NaN and do not count toward the family size m.

    Raises:
        ValueError: a value outside [0, 1] (NaN aside).
    """
    p = np.asarray(p_values, dtype=np.float64).reshape(-1)
    done = np.flatnonzero(~np.isnan(p))
    if ((p[done] < 0) | (p[done] > 1)).any():
        raise ValueError(f"holm: p-values must lie in [0, 1], got {p}")
    m = len(done)
    order = done[np.argsort(p[done], kind="stable")]
    out = np.full(p.shape, np.nan)
    out[order] = np.minimum(np.maximum.accumulate((m - np.arange(m)) * p[order]), 1.0)
    return out


def detectable_difference(
    sd_diff: float, n: int, *, alpha: float = 0.05, power: float = 0.8
) -> float:
    """Smallest true mean paired difference a two-sided paired t-test detects with ``power``.

    With n pairs, df = n - 1 and critical value ``c = t_{1 - alpha/2, df}``, the test's power
    at noncentrality ``ncp = delta * sqrt(n) / sd_diff`` is ``P(T > c) + P(T < -c)`` for T
    noncentral t (``scipy.stats.nct``), the exact power of the one-sample t-test on the
    differences (Cohen 1988, Statistical Power Analysis, ch. 2; as in G*Power, Faul et al.
    2007). ``scipy.optimize.brentq`` solves power(ncp) = ``power`` for ncp > 0, and the result
    is ``delta = ncp * sd_diff / sqrt(n)``, in the units of ``sd_diff``. It treats the observed
    ``sd_diff`` as the true one, so it is a guide to resolution, not an exact bound.

    Args:
        sd_diff: the standard deviation of the paired differences (e.g. ``std_diff`` of
            ``paired_test``).
        n: the number of pairs (seeds).
        alpha: the two-sided significance level, in (0, 1).
        power: the power to reach, in (alpha, 1).

    Returns:
        delta >= 0; NaN when n < 2 or ``sd_diff`` is not finite, 0 when ``sd_diff`` is 0.

    Raises:
        ValueError: ``alpha`` or ``power`` out of range, or a negative ``sd_diff``.
    """
    if not 0.0 < alpha < 1.0 or not alpha < power < 1.0:
        raise ValueError(f"alpha={alpha}, power={power}: expected 0 < alpha < power < 1")
    if n < 2 or not math.isfinite(sd_diff):
        return float("nan")
    if sd_diff < 0:
        raise ValueError(f"sd_diff={sd_diff}: a standard deviation cannot be negative")
    if sd_diff == 0:
        return 0.0
    df = n - 1
    crit = sps.t.ppf(1 - alpha / 2, df)

    def shortfall(ncp: float) -> float:
        """Power at noncentrality ``ncp`` minus the power to reach."""
        # lower tail P(T_ncp < -c) written as P(T_-ncp > c) (T_-ncp = -T_ncp in law): scipy's
        # nct.cdf returns NaN far in that tail (df 1, ncp ~ 8-15), its sf a finite value there
        return sps.nct.sf(crit, df, ncp) + sps.nct.sf(crit, df, -ncp) - power

    # shortfall(0) = alpha - power < 0; widen the bracket until the power is reached
    high = crit + sps.norm.ppf(power) + 1.0
    while shortfall(high) < 0:
        high *= 2
    ncp = optimize.brentq(shortfall, 0.0, high, xtol=1e-12)
    return float(ncp * sd_diff / math.sqrt(n))
