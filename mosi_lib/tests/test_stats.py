import math

import numpy as np
import pytest

from mosi_lib.report import stats


def test_mean_ci_hand_computed():
    ci = stats.mean_ci([1, 2, 3, 4, 5])
    # std = sqrt(10 / 4) = 1.5811; t_{0.975, 4} = 2.776445 (tables); half = t * std / sqrt(5)
    assert ci["n"] == 5 and ci["mean"] == 3.0
    assert ci["std"] == pytest.approx(1.5811388, abs=1e-6)
    assert ci["half_width"] == pytest.approx(2.776445 * 1.5811388 / math.sqrt(5), abs=1e-5)
    assert (ci["ci_low"], ci["ci_high"]) == pytest.approx((1.036757, 4.963243), abs=1e-5)
    # 90% interval: t_{0.95, 4} = 2.131847
    assert stats.mean_ci([1, 2, 3, 4, 5], 0.9)["half_width"] == pytest.approx(1.507443, abs=1e-5)


def test_mean_ci_small_and_bad_input():
    one = stats.mean_ci([0.7])
    assert one["mean"] == 0.7 and math.isnan(one["std"]) and math.isnan(one["ci_low"])
    assert stats.mean_ci([])["n"] == 0
    with pytest.raises(ValueError, match="non-finite"):
        stats.mean_ci([1.0, float("nan")])
    with pytest.raises(ValueError, match="confidence"):
        stats.mean_ci([1, 2], confidence=1.0)


def test_paired_test_hand_computed():
    a = [75, 77, 76, 78, 74]
    b = [73, 74, 75, 74, 72]
    # d = 2, 3, 1, 4, 2: mean 2.4, sd sqrt(5.2 / 4) = 1.140175, t = 2.4 / (sd / sqrt 5) = 4.7068
    res = stats.paired_test(a, b)
    assert res["n"] == 5 and res["wins"] == 5
    assert res["mean_diff"] == pytest.approx(2.4)
    assert res["std_diff"] == pytest.approx(1.140175, abs=1e-6)
    assert res["t"] == pytest.approx(4.706787, abs=1e-5)
    assert res["p_ttest"] == pytest.approx(0.009258, abs=2e-5)  # two-sided, df 4
    # exact signed-rank: all 5 differences positive -> p = 2 / 2^5 = 0.0625 (ties in |d| aside)
    assert res["p_wilcoxon"] == pytest.approx(0.0625, abs=1e-9)
    half = 2.776445 * 1.140175 / math.sqrt(5)
    assert (res["ci_low"], res["ci_high"]) == pytest.approx((2.4 - half, 2.4 + half), abs=1e-5)
    swapped = stats.paired_test(b, a)
    assert swapped["t"] == pytest.approx(-res["t"]) and swapped["wins"] == 0


def test_paired_test_degenerate_and_errors():
    same = stats.paired_test([1, 2, 3], [1, 2, 3])
    assert same["mean_diff"] == 0
    assert math.isnan(same["p_ttest"]) and math.isnan(same["p_wilcoxon"])
    shifted = stats.paired_test([2, 3, 4], [1, 2, 3])  # constant difference: no spread
    # no spread: t and its p-value are undefined (NaN), never p = 0
    assert math.isnan(shifted["p_ttest"]) and math.isnan(shifted["t"])
    assert shifted["mean_diff"] == 1 and shifted["wins"] == 3
    assert math.isnan(stats.paired_test([1], [0])["p_ttest"])
    with pytest.raises(ValueError, match="pairs"):
        stats.paired_test([1, 2], [1, 2, 3])


def _preds(video, label, output, split="test"):
    n = len(label)
    return {
        "video": np.asarray(video),
        "split": np.full(n, split),
        "label": np.asarray(label, float),
        "output": np.asarray(output, float),
    }


def test_video_bootstrap_by_hand():
    # video a: 2 rows, both right; video b: 2 rows, both wrong (has0). Observed accuracy 50%.
    p = _preds(["a", "a", "b", "b"], [1, -1, 2, 0], [1, -1, -1, -1])
    res = stats.video_bootstrap([[p]], split="test", n_boot=4000, seed=0)
    assert res["estimate"] == 50.0 and res["n_videos"] == 2
    # resamples: {a,a} 100%, {b,b} 0%, {a,b} 50%: the 95% interval spans 0..100
    assert (res["ci_low"], res["ci_high"]) == (0.0, 100.0)
    # non0 leaves the zero score out: b holds one row, wrong -> observed 2/3
    assert stats.video_bootstrap([[p]], split="test", zero_policy="non0")["estimate"] == (
        pytest.approx(200 / 3)
    )
    # every video alike: no spread
    same = _preds(["a", "b", "c"], [1, 1, 1], [1, 1, 1])
    res = stats.video_bootstrap([[same]], split="test")
    assert (res["estimate"], res["ci_low"], res["ci_high"]) == (100.0, 100.0, 100.0)


def test_video_bootstrap_paired_difference_is_per_seed_and_resample():
    rng = np.random.default_rng(1)
    video = np.repeat([f"v{i}" for i in range(20)], 10)
    label = rng.choice([-1.0, 1.0], size=200)
    a = [_preds(video, label, np.where(rng.random(200) < 0.8, label, -label)) for _ in range(3)]
    # b: each of a's runs with one right row flipped wrong in each of videos v0..v9
    b = []
    for p in a:
        out = p["output"].copy()
        right = np.sign(out) == np.sign(p["label"])
        out[[np.flatnonzero(right & (video == f"v{i}"))[0] for i in range(10)]] *= -1
        b.append({**p, "output": out})
    res = stats.video_bootstrap([a, b], split="test", n_boot=1000)
    assert res["estimate"] == pytest.approx(5.0)  # 10 of 200 rows, in every seed
    assert 0 < res["ci_low"] <= 5.0 <= res["ci_high"]
    single_a = stats.video_bootstrap([a], split="test", n_boot=1000)
    # pairing removes what both share: the difference's interval is narrower than a's
    assert res["ci_high"] - res["ci_low"] < single_a["ci_high"] - single_a["ci_low"]
    with pytest.raises(ValueError, match="paired groups need one run each per seed"):
        stats.video_bootstrap([a, b[:2]], split="test")
    with pytest.raises(ValueError, match="no row of split 'valid'"):
        stats.video_bootstrap([a], split="valid")
