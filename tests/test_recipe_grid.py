"""tools/recipe_grid.py's validation summary, on hand-made per-epoch arrays."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import pytest

_SPEC = importlib.util.spec_from_file_location(
    "recipe_grid", Path(__file__).resolve().parents[1] / "tools" / "recipe_grid.py")
recipe_grid = importlib.util.module_from_spec(_SPEC)
_SPEC.loader.exec_module(recipe_grid)


def curves(val_acc, val_loss, train_acc=None) -> np.ndarray:
    """A ``recipe_curves`` array: epoch, val_acc, val_loss, report acc (unused), train acc."""
    n = len(val_acc)
    train_acc = np.full(n, 0.5) if train_acc is None else np.asarray(train_acc, float)
    return np.column_stack([np.arange(1, n + 1), val_acc, val_loss, np.zeros(n), train_acc])


def test_best_epoch_ties_go_to_the_lower_validation_loss():
    v, loss = np.full(25, 0.5), np.ones(25)
    v[[4, 9, 14]], loss[[4, 9, 14]] = 0.8, [0.9, 0.6, 0.7]  # 0.8 three times: epoch 10 has
    loss[2] = 0.5                                          # the lowest loss of the three
    s = recipe_grid.summarise(curves(v, loss))
    assert (s["best_epoch"], s["best_valid"]) == (10, 80.0)
    assert s["min_val_loss_epoch"] == 3
    assert s["valid_mean_11_end"] == round(100 * (14 * 0.5 + 0.8) / 15, 2)
    assert "valid_mean_last50" not in s


def test_a_budget_summarises_the_first_epochs_as_a_run_of_that_length():
    v = np.r_[np.full(60, 0.70), np.full(40, 0.80), [0.90]]  # the best epoch, 101, is past 100
    a = curves(v, np.linspace(1.0, 0.5, 101), train_acc=np.r_[np.full(100, 0.8), [1.0]])
    s = recipe_grid.summarise(a, 100)
    assert s["epochs"] == 100
    assert s["best_epoch"] == 100 and s["best_valid"] == 80.0  # ties to the lower loss: the last
    assert s["valid_mean_11_end"] == round(100 * (50 * 0.70 + 40 * 0.80) / 90, 2)
    assert s["valid_mean_last50"] == round(100 * (10 * 0.70 + 40 * 0.80) / 50, 2)
    assert s["train_acc_last10"] == 80.0
    s101 = recipe_grid.summarise(a, 101)
    assert (s101["best_epoch"], s101["train_acc_last10"]) == (101, 82.0)


@pytest.mark.parametrize("budget", [0, 102])
def test_a_budget_outside_the_run_is_refused(budget):
    a = curves(np.full(101, 0.5), np.ones(101))
    with pytest.raises(ValueError, match=rf"budget {budget}: need 1\.\.101"):
        recipe_grid.summarise(a, budget)
