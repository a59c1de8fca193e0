"""Statistics over seeds: mean with a t confidence interval, and paired tests between methods.

The paper reports single runs. With several seeds per condition the study reports, for each
metric, the mean, the sample standard deviation (ddof=1) and a Student-t confidence interval of
the mean, and compares two methods trained with the same seeds (same splits, same
initialisation stream) by a paired test over seeds: the paired t-test (``scipy.stats.ttest_rel``)
and, as a check that does not assume normal differences, the exact Wilcoxon signed-rank test
(``scipy.stats.wilcoxon``). With five seeds the smallest two-sided Wilcoxon p-value is 0.0625, so
it can never reach 0.05: read it as a sign-consistency check, not as the test of record.
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
        return {"n": 0, "mean": nan, "std": nan, "half_width": nan, "ci_low": nan,
                "ci_high": nan}  # fmt: skip
    mean = float(x.mean())
    if n == 1:
        return {"n": 1, "mean": mean, "std": nan, "half_width": nan, "ci_low": nan,
                "ci_high": nan}  # fmt: skip
    std = float(x.std(ddof=1))
    half = float(sps.t.ppf(0.5 + confidence / 2, n - 1) * std / math.sqrt(n))
    return {"n": n, "mean": mean, "std": std, "half_width": half, "ci_low": mean - half,
            "ci_high": mean + half}  # fmt: skip


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
    out = {"n": len(d), "mean_diff": ci["mean"], "std_diff": ci["std"], "ci_low": ci["ci_low"],
           "ci_high": ci["ci_high"], "t": float("nan"), "p_ttest": float("nan"),
           "p_wilcoxon": float("nan"), "wins": int((d > 0).sum())}  # fmt: skip
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
