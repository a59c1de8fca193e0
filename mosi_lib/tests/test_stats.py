import math

import numpy as np
import pytest
from scipy import stats as sps

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


# ---- two_level_bootstrap ----------------------------------------------------------------------


def _tiny_table():
    """3 runs x 3 videos (a: 2 rows, b: 3 rows, c: 1 row), hand-made outputs; two groups."""
    video = ["a", "a", "b", "b", "b", "c"]
    label = [1, -1, 2, 0, -2, 1]  # has0 truth: +, -, +, +, -, +
    a = [
        _preds(video, label, [1, -1, 1, 1, -1, 1]),  # 6/6 right
        _preds(video, label, [1, 1, -1, 1, -1, -1]),  # a: 1/2, b: 2/3, c: 0/1
        _preds(video, label, [-1, 1, 1, -1, 1, 1]),  # a: 0/2, b: 1/3, c: 1/1
    ]
    b = [
        _preds(video, label, [1, -1, -1, -1, -1, 1]),  # a: 2/2, b: 1/3, c: 1/1
        _preds(video, label, [-1, -1, 1, 1, 1, -1]),  # a: 1/2, b: 2/3, c: 0/1
        _preds(video, label, [-1, 1, -1, -1, -1, -1]),  # a: 0/2, b: 1/3, c: 0/1
    ]
    return a, b


def _brute_two_level(groups, n_boot, seed, confidence=0.95):
    """Every replicate by plain loops over drawn runs and drawn videos, the documented draws."""
    videos = sorted({v for g in groups for p in g for v in p["video"]})
    n_runs, n_videos = len(groups[0]), len(videos)
    rng = np.random.default_rng(seed)
    counts = rng.multinomial(n_videos, [1 / n_videos] * n_videos, size=n_boot)
    runs = rng.integers(0, n_runs, size=(n_boot, n_runs))

    def mean_acc(group, video_counts, drawn_runs):
        accs = []
        for r in drawn_runs:
            p = group[r]
            right = rows = 0
            for v, k in zip(videos, video_counts, strict=True):
                for _ in range(int(k)):
                    for vid, y, out in zip(p["video"], p["label"], p["output"], strict=True):
                        if vid == v:
                            right += int((out > 0) == (y >= 0))
                            rows += 1
            accs.append(right / rows)
        return 100 * (sum(accs) / len(accs))

    def value(video_counts, drawn_runs):
        out = mean_acc(groups[0], video_counts, drawn_runs)
        return out - mean_acc(groups[1], video_counts, drawn_runs) if len(groups) == 2 else out

    estimate = value([1] * n_videos, range(n_runs))
    values = [value(counts[i], runs[i]) for i in range(n_boot)]
    lo, hi = np.percentile(values, [50 * (1 - confidence), 50 * (1 + confidence)])
    return estimate, lo, hi


@pytest.mark.parametrize("paired", [False, True])
def test_two_level_bootstrap_matches_brute_force(paired):
    a, b = _tiny_table()
    groups = [a, b] if paired else [a]
    res = stats.two_level_bootstrap(groups, split="test", n_boot=60, confidence=0.9, seed=3)
    estimate, lo, hi = _brute_two_level(groups, n_boot=60, seed=3, confidence=0.9)
    assert (res["estimate"], res["ci_low"], res["ci_high"]) == (estimate, lo, hi)
    assert (res["n_videos"], res["n_boot"], res["n_seeds"]) == (3, 60, 3)
    # observed: a's runs 100, 50, 33.33 -> 550 / 9; b's runs 66.67, 50, 16.67 -> 400 / 9
    assert res["estimate"] == pytest.approx(150 / 9 if paired else 550 / 9)
    assert res["ci_low"] < res["ci_high"]


def test_two_level_bootstrap_one_run_is_the_video_bootstrap():
    a, b = _tiny_table()
    for groups in ([a[1:2]], [a[1:2], b[1:2]]):
        two = stats.two_level_bootstrap(groups, split="test", n_boot=500, seed=7)
        assert two.pop("n_seeds") == 1
        assert two == stats.video_bootstrap(groups, split="test", n_boot=500, seed=7)
    # with several runs the seed level widens the video-only interval
    two = stats.two_level_bootstrap([a], split="test", n_boot=2000)
    video = stats.video_bootstrap([a], split="test", n_boot=2000)
    assert two["estimate"] == pytest.approx(video["estimate"])
    assert two["ci_high"] - two["ci_low"] > video["ci_high"] - video["ci_low"]


def test_two_level_bootstrap_single_video_is_a_seed_bootstrap():
    # one video, 4 runs with accuracies 100, 75, 50, 25 on its 4 rows
    outs = [[1, 1, 1, 1], [1, 1, 1, -1], [1, 1, -1, -1], [1, -1, -1, -1]]
    group = [_preds(["v"] * 4, [1, 1, 1, 1], o) for o in outs]
    video = stats.video_bootstrap([group], split="test", n_boot=1000)
    assert video["ci_low"] == video["ci_high"] == video["estimate"] == 62.5  # no video spread
    res = stats.two_level_bootstrap([group], split="test", n_boot=1000, seed=5)
    rng = np.random.default_rng(5)
    rng.multinomial(1, [1.0], size=1000)  # the video draws: always the one video
    runs = rng.integers(0, 4, size=(1000, 4))
    means = np.array([100.0, 75.0, 50.0, 25.0])[runs].mean(axis=1)
    lo, hi = np.percentile(means, [2.5, 97.5])
    assert res["estimate"] == 62.5
    assert (res["ci_low"], res["ci_high"]) == pytest.approx((lo, hi), abs=1e-12)
    assert 25 <= res["ci_low"] < 62.5 < res["ci_high"] <= 100


def test_two_level_bootstrap_errors():
    a, b = _tiny_table()
    with pytest.raises(ValueError, match="two_level_bootstrap: paired groups need one run each "
                       "per seed, got 3 and 2") as err:
        stats.two_level_bootstrap([a, b[:2]], split="test")
    assert "\n" not in str(err.value)
    with pytest.raises(ValueError, match="one or two non-empty groups"):
        stats.two_level_bootstrap([a, b, a], split="test")
    with pytest.raises(ValueError, match="no row of split 'valid'"):
        stats.two_level_bootstrap([a], split="valid")


# ---- holm, detectable_difference --------------------------------------------------------------


def test_holm_hand_computed():
    # sorted 0.005, 0.01, 0.03, 0.04 times 4, 3, 2, 1 = 0.02, 0.03, 0.06, 0.04 -> running max
    assert stats.holm([0.01, 0.04, 0.03, 0.005]) == pytest.approx([0.03, 0.06, 0.06, 0.02])
    assert stats.holm([0.5, 0.6]).tolist() == [1.0, 1.0]  # capped at 1
    assert stats.holm([0.02, 0.02]) == pytest.approx([0.04, 0.04])
    assert stats.holm([0.2]).tolist() == [0.2] and stats.holm([]).size == 0
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        stats.holm([0.5, 1.5])


def test_holm_leaves_nan_out_of_the_family():
    # m = 3, not 4: 0.01 * 3, 0.03 * 2, max(0.04 * 1, 0.06)
    out = stats.holm([0.01, float("nan"), 0.04, 0.03])
    assert math.isnan(out[1])
    assert out[[0, 2, 3]] == pytest.approx([0.03, 0.06, 0.06])
    assert np.isnan(stats.holm([float("nan")] * 2)).all()


def test_detectable_difference_reaches_the_power():
    delta = stats.detectable_difference(1.0, 20)
    assert delta == pytest.approx(0.66, abs=0.005)
    # independent power at delta: two-sided paired t, df 19, ncp = delta * sqrt(20) / sd
    crit = sps.t.ppf(0.975, 19)
    ncp = delta * math.sqrt(20)
    power = sps.nct.sf(crit, 19, ncp) + sps.nct.cdf(-crit, 19, ncp)
    assert power == pytest.approx(0.8, abs=1e-6)
    assert stats.detectable_difference(2.5, 20) == pytest.approx(2.5 * delta)
    # large n: the normal approximation (z_.975 + z_.8) * sd / sqrt(n)
    approx = (sps.norm.ppf(0.975) + sps.norm.ppf(0.8)) / math.sqrt(5000)
    assert stats.detectable_difference(1.0, 5000) == pytest.approx(approx, rel=1e-3)


def test_detectable_difference_shape_and_edges():
    deltas = [stats.detectable_difference(1.0, n) for n in range(2, 41)]
    assert all(np.isfinite(deltas)) and all(np.diff(deltas) < 0)  # decreasing in n
    assert math.isnan(stats.detectable_difference(1.0, 1))
    assert math.isnan(stats.detectable_difference(float("nan"), 10))
    assert stats.detectable_difference(0.0, 10) == 0.0
    with pytest.raises(ValueError, match="alpha"):
        stats.detectable_difference(1.0, 10, alpha=0.05, power=0.04)
    with pytest.raises(ValueError, match="negative"):
        stats.detectable_difference(-1.0, 10)
