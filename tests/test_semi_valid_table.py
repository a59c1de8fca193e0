"""tools/semi_valid_table.py: the validation choice of the arms beyond DEC, on hand rows."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pandas as pd

_SPEC = importlib.util.spec_from_file_location(
    "semi_valid_table", Path(__file__).resolve().parents[1] / "tools" / "semi_valid_table.py")
svt = importlib.util.module_from_spec(_SPEC)
_SPEC.loader.exec_module(svt)


def _rows(arm, setting, value, budget, accs, scratch=80.0):
    return [{"arm": arm, "setting": setting, "value": value, "budget": budget, "seed": s,
             "valid_acc": a, "minus_scratch": a - scratch} for s, a in enumerate(accs)]


def test_highest_mean_wins_a_tie_goes_to_the_default_round_0_never_chosen():
    st = "semi.pseudo_min_score"
    df = pd.DataFrame(
        _rows("self_training", st, 1.0, "rounds=0", [90, 90, 90])      # best, but not an arm
        + _rows("self_training", st, 1.0, "rounds=1", [81, 81, 81])    # default, within 0.5
        + _rows("self_training", st, 0.5, "rounds=1", [81.4, 81.4, 81.4])
        + _rows("self_training", st, 1.5, "rounds=2", [95, 95])[1:]    # seed 0 missing
        + _rows("mean_teacher", "semi.mt_consistency_weight", 1.0, "", [80, 80, 80])
        + _rows("mean_teacher", "semi.mt_consistency_weight", 10.0, "", [82, 81, 83]))
    s = svt.summarise(df, planned=None)
    chosen = s[s["chosen"]].set_index("arm")
    assert (chosen.loc["self_training", "value"], chosen.loc["self_training", "budget"]) == (
        1.0, "rounds=1")
    assert chosen.loc["mean_teacher", "value"] == 10.0
    assert chosen.loc["mean_teacher", "minus_scratch"] == 2.0
    assert s["chosen"].sum() == 2
    # the incomplete setting is listed with its seeds, never chosen
    row = s[(s["value"] == 1.5)].iloc[0]
    assert row["seeds"] == "1" and not row["chosen"]


def test_a_tie_goes_to_the_default_of_the_rows_own_setting():
    df = pd.DataFrame(
        _rows("cmc_train_rows", "semi.cmc_temperature", 0.2, "epochs=100", [83, 83, 83])
        + _rows("cmc_train_rows", "semi.cmc_epochs", 2.0, "epochs=2", [83.2, 83.2, 83.2])
        + _rows("cmc_train_rows", "semi.cmc_temperature", 0.07, "epochs=100", [82, 82, 82]))
    chosen = svt.summarise(df, planned=None).query("chosen")
    # 0.2 and 2 epochs are tied (0.2 points apart); neither is its setting's default, so the
    # higher mean wins
    assert (chosen["setting"].item(), chosen["value"].item()) == ("semi.cmc_epochs", 2.0)
    df = pd.DataFrame(
        _rows("cmc_train_rows", "semi.cmc_temperature", 0.07, "epochs=100", [83, 83, 83])
        + _rows("cmc_train_rows", "semi.cmc_epochs", 2.0, "epochs=2", [83.3, 83.3, 83.3]))
    chosen = svt.summarise(df, planned=None).query("chosen")
    assert (chosen["setting"].item(), chosen["value"].item()) == ("semi.cmc_temperature", 0.07)


def test_an_arm_with_a_planned_setting_not_yet_run_has_no_choice():
    mt = "semi.mt_consistency_weight"
    df = pd.DataFrame(_rows("mean_teacher", mt, 1.0, "", [80, 80, 80])
                      + _rows("mean_teacher", mt, 10.0, "", [82, 82, 82]))
    s = svt.summarise(df, planned={mt: (1, 10, 100)})
    assert not s["chosen"].any() and not s["complete"].any()
    s = svt.summarise(df, planned={mt: (1, 10)})
    assert s["complete"].all() and s.query("chosen")["value"].item() == 10.0
