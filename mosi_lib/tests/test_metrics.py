import warnings

import numpy as np
import pytest
from scipy.stats import pearsonr
from sklearn.metrics import (
    accuracy_score,
    adjusted_rand_score,
    f1_score,
    normalized_mutual_info_score,
)

from mosi_lib import metrics
from mosi_lib.metrics import binary_metrics, cluster_accuracy, cluster_metrics, majority_metrics

SCORES = np.array([-2.0, -0.4, 0.0, 0.0, 1.2, 3.0])


def test_binary_metrics_hand_example():
    pred = np.array([0, 1, 1, 0, 1, 0])
    out = binary_metrics(pred, SCORES)
    # has0 truth (score >= 0): 0 0 1 1 1 1 -> correct at rows 0, 2, 4 -> 3/6
    assert out["acc_has0"] == pytest.approx(0.5)
    # non0 rows 0, 1, 4, 5; truth 0 0 1 1, pred 0 1 1 0 -> 2/4
    assert out["acc_non0"] == pytest.approx(0.5)
    assert (out["n_has0"], out["n_non0"]) == (6, 4)
    # weighted F1 by hand, non0: class 0 F1 = 0.5, class 1 F1 = 0.5, supports 2/2 -> 0.5
    assert out["f1_non0"] == pytest.approx(0.5)
    # has0: class 0 (support 2): P 1/3, R 1/2 -> 0.4; class 1 (support 4): P 2/3, R 1/2 -> 4/7
    assert out["f1_has0"] == pytest.approx((2 * 0.4 + 4 * 4 / 7) / 6)
    y_has0 = SCORES >= 0
    assert out["f1_has0"] == pytest.approx(f1_score(y_has0, pred.astype(bool), average="weighted"))


def test_acc_f1_equals_sklearn_to_the_bit():
    """The counted accuracy and weighted F1 are sklearn's values exactly, edge cases included."""
    rng = np.random.default_rng(0)
    cases = [
        (np.array([True]), np.array([True])),
        (np.array([True]), np.array([False])),
        (np.zeros(7, bool), np.zeros(7, bool)),
        (np.zeros(7, bool), np.ones(7, bool)),
        (np.ones(5, bool), np.array([1, 0, 1, 1, 0], bool)),
    ]
    for n in (2, 3, 11, 440, 686, 1000):
        for p_true in (0.05, 0.5, 0.93):
            for p_pred in (0.0, 0.3, 0.5, 1.0):
                cases.append((rng.random(n) < p_true, rng.random(n) < p_pred))
    for y_true, y_pred in cases:
        acc, f1 = metrics.acc_f1(y_true, y_pred)
        assert acc == accuracy_score(y_true, y_pred)
        assert f1 == f1_score(y_true, y_pred, average="weighted", zero_division=0.0), (
            y_true,
            y_pred,
        )
    assert all(np.isnan(metrics.acc_f1(np.zeros(0, bool), np.zeros(0, bool))))


def test_binary_metrics_zero_scores_follow_each_convention():
    scores = np.array([0.0, 0.0, 1.0, -1.0])
    out = binary_metrics(np.array([True, True, True, False]), scores)
    assert out["acc_has0"] == 1.0 and out["acc_non0"] == 1.0
    out = binary_metrics(np.array([False, False, True, False]), scores)
    assert out["acc_has0"] == 0.5 and out["acc_non0"] == 1.0
    only_zero = binary_metrics(np.array([True]), np.array([0.0]))
    assert only_zero["n_non0"] == 0 and np.isnan(only_zero["acc_non0"])


def test_binary_metrics_bad_input():
    with pytest.raises(ValueError, match="pred_pos has 2 rows"):
        binary_metrics(np.array([1, 0]), SCORES)
    with pytest.raises(ValueError, match="non-finite"):
        binary_metrics(np.array([1, 0]), np.array([0.5, np.nan]))
    with pytest.raises(ValueError, match="0/1"):
        binary_metrics(np.array([0.3, 1.0]), np.array([0.5, 1.0]))


def test_majority_metrics():
    # training: has0 positives 3/5 -> predict positive; non0 positives 1/3 -> predict negative
    train = np.array([-1.0, -2.0, 0.0, 0.0, 2.0])
    out = majority_metrics(train, SCORES)
    assert out["majority_acc_has0"] == pytest.approx(4 / 6)  # eval has0 positives: 4 of 6
    assert out["majority_acc_non0"] == pytest.approx(2 / 4)  # eval non0 negatives: 2 of 4
    assert out["majority_f1_has0"] == pytest.approx(
        f1_score(SCORES >= 0, np.ones(6, bool), average="weighted", zero_division=0.0)
    )
    assert out["majority_f1_non0"] == pytest.approx(
        f1_score([0, 0, 1, 1], [0, 0, 0, 0], average="weighted", zero_division=0.0)
    )
    with pytest.raises(ValueError, match="non0"):
        majority_metrics(np.zeros(3), SCORES)


def test_cluster_accuracy_permutation_invariant():
    rng = np.random.default_rng(0)
    y = rng.integers(0, 4, size=100)
    perm = np.array([2, 0, 3, 1])
    assert cluster_accuracy(y, perm[y]) == 1.0
    assert cluster_accuracy(y, perm[y] + 10) == 1.0  # any cluster ids
    # hand case: best map 0->1, 1->0 gets 4 of 5
    assert cluster_accuracy(np.array([0, 0, 1, 1, 1]), np.array([1, 1, 0, 0, 1])) == 0.8
    # more clusters than classes: the extra cluster matches nothing
    assert cluster_accuracy(np.array([0, 0, 1, 1]), np.array([0, 1, 2, 2])) == 0.75


def test_cluster_metrics_match_sklearn():
    rng = np.random.default_rng(1)
    y = rng.integers(0, 2, size=60)
    c = np.where(rng.random(60) < 0.8, y, 1 - y)
    out = cluster_metrics(y, c)
    assert out["nmi"] == pytest.approx(normalized_mutual_info_score(y, c))
    assert out["ari"] == pytest.approx(adjusted_rand_score(y, c))
    assert out["acc"] == pytest.approx(max((y == c).mean(), (y != c).mean()))
    assert set(out) == {"acc", "nmi", "ari"}
    with pytest.raises(ValueError, match="y_pred has 3 rows"):
        cluster_metrics(y, c[:3])


def test_binary_target_one_rule_for_numpy_and_torch():
    import torch

    s = np.array([-1.5, 0.0, 0.2, -0.0, 3.0])
    pos, keep = metrics.binary_target(s, "has0")
    assert pos.tolist() == [False, True, True, True, True] and keep.all()
    pos, keep = metrics.binary_target(s, "non0")
    assert pos.tolist() == [False, False, True, False, True]
    assert keep.tolist() == [True, False, True, False, True]
    tpos, tkeep = metrics.binary_target(torch.as_tensor(s), "non0")
    assert tpos.tolist() == pos.tolist() and tkeep.tolist() == keep.tolist()
    with pytest.raises(ValueError, match="zero_policy='zero'"):
        metrics.binary_target(s, "zero")


# ---- regression (MMSA's MAE, Corr, Acc-7)


def test_regression_metrics_hand_example_clips_and_rounds_like_numpy():
    pred = np.array([0.5, 1.5, -0.5, 2.5, 4.0, -3.6, 0.4])
    true = np.array([0.0, 2.0, -1.0, 2.4, 3.0, -2.6, 0.6])
    out = metrics.regression_metrics(pred, true)
    # MAE on the unclipped values: .5 + .5 + .5 + .1 + 1 + 1 + .2 = 3.8 over 7 rows
    assert out["mae"] == pytest.approx(3.8 / 7)
    # clipped to [-3, 3] then rounded half to even:
    #   pred 0.5->0, 1.5->2, -0.5->-0, 2.5->2, 4->3->3, -3.6->-3->-3, 0.4->0
    #   true 0->0,   2->2,   -1->-1,   2.4->2, 3->3,    -2.6->-3,      0.6->1
    # equal on rows 0, 1, 3, 4, 5: 5 of 7
    assert out["acc7"] == pytest.approx(5 / 7)
    # Pearson r against scipy's
    assert out["corr"] == pytest.approx(pearsonr(pred, true).statistic)


def test_regression_metrics_pearson_by_hand_and_undefined_cases():
    # deviations (-1, 0, 1) and (-1, 1, 0): r = 1 / sqrt(2 * 2) = 0.5
    out = metrics.regression_metrics(np.array([1.0, 2.0, 3.0]), np.array([1.0, 3.0, 2.0]))
    assert out["corr"] == pytest.approx(0.5)
    assert out["mae"] == pytest.approx(2 / 3) and out["acc7"] == pytest.approx(1 / 3)
    # a constant output: r is undefined (NaN), without a warning; MAE and Acc-7 still defined
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        flat = metrics.regression_metrics(np.zeros(3), np.array([-1.0, 0.0, 1.0]))
    assert np.isnan(flat["corr"]) and flat["mae"] == pytest.approx(2 / 3)
    # a diverged (NaN) output gives NaN, never an error in the training loop
    assert all(np.isnan(v) for v in metrics.regression_metrics(
        np.array([np.nan, 1.0]), np.array([0.0, 1.0])).values())
    with pytest.raises(ValueError, match="rows"):
        metrics.regression_metrics(np.zeros(2), np.zeros(3))
