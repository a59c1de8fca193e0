"""Tests for ``mosi_lib.api.setup``: no hidden state when a notebook picks its study.

A notebook without ``run_id`` continues only a study of its very config; a named study of
another protocol or profile is refused in one line; an explicit override beats ``smoke``.
"""

import json

import pytest

from mosi_lib import api, paths, runs
from mosi_lib.runs import MissingRun, StudyMismatch
from mosi_lib.study import studies


def _setup(overrides=None, **kw):
    return api.setup("quick.yaml", overrides, load_data=False, show=False, **kw)


def test_without_run_id_a_study_of_another_protocol_is_never_joined():
    _, paper, _ = _setup({"data.protocol": "paper"})
    _, again, _ = _setup({"data.protocol": "paper", "system.num_threads": 1}, seed=3)
    assert again == paper  # another seed or thread count is the same study
    _, standard, _ = _setup({"data.protocol": "standard"})
    assert standard != paper  # the later study of another protocol is a new study...
    _, back, _ = _setup({"data.protocol": "paper"})
    assert back == paper  # ...and the paper one is still found by its config
    setup = json.loads((standard / "study.json").read_text())["setup"]
    assert setup == {"profile": "quick", "protocol": "standard", "smoke": False,
                     "overrides": {"data.protocol": "standard"}}
    _, smoke, _ = _setup({"data.protocol": "paper"}, smoke=True)
    assert smoke not in (paper, standard)  # smoke runs never join a real study


def test_a_named_study_of_another_config_is_refused_in_one_line():
    _setup({"data.protocol": "paper"}, run_id="s")
    with pytest.raises(StudyMismatch) as err:
        _setup({"data.protocol": "standard"}, run_id="s")
    msg = str(err.value)
    assert "\n" not in msg and "protocol='paper'" in msg and "protocol='standard'" in msg
    assert "run_id" in msg  # says what to do
    assert err.value._render_traceback_() == [f"StudyMismatch: {msg}"]  # one line in Jupyter
    with pytest.raises(StudyMismatch, match="profile='quick'.*profile='paper'"):
        api.setup("paper.yaml", {"data.protocol": "paper"}, run_id="s", load_data=False,
                       show=False)
    _setup({"data.protocol": "paper", "system.num_threads": 2}, run_id="s", seed=1)  # same


def test_a_cli_study_takes_the_first_notebooks_config_then_refuses_another():
    studies.open_study("cli", params={"config_file": "quick.yaml", "overrides": {},
                                      "smoke": False, "seed": 0})
    _setup(run_id="cli")
    assert "setup" in studies.study_info(paths.runs_dir() / "cli")
    with pytest.raises(StudyMismatch, match="smoke"):
        _setup(run_id="cli", smoke=True)


def test_reporting_without_a_study_of_this_config_names_it():
    _setup({"data.protocol": "paper"})
    with pytest.raises(FileNotFoundError, match="protocol 'standard'"):
        _setup({"data.protocol": "standard"}, create=False)


def test_an_explicit_setting_beats_smoke():
    cfg, _, _ = _setup({"train.epochs": 5}, smoke=True)
    assert cfg.train.epochs == 5  # as set, not smoke's 2
    assert cfg.dec.stage1_epochs == 2 and cfg.system.progress is False  # the rest is smoke
    cfg, _, _ = _setup({"train": {"epochs": 1}}, smoke=True)
    assert cfg.train.epochs == 1
    cfg, _, _ = _setup(smoke=True)
    assert cfg.train.epochs == 2


def test_smoke_config_names_the_keys_it_kept():
    from mosi_lib.config import load_config

    cfg = load_config("quick.yaml", {"train.epochs": 7, "train.lr": 0.01})
    assert api.smoke_config(cfg, {"train.epochs": 7, "train.lr": 0.01}) == ["train.epochs"]
    assert cfg.train.epochs == 7 and cfg.dec.stage2_epochs == 2


@pytest.mark.parametrize(("match", "notebook_name"), [
    ({"kind": "dec"}, "03_dec_pretrain"),
    ({"kind": "classifier", "init": "scratch", "labels": "labeled"}, "02_baseline"),
    ({"kind": "classifier", "init": "dec", "labels": "labeled"}, "04_finetune"),
])
def test_a_missing_run_names_the_notebook_that_makes_it(tmp_path, match, notebook_name):
    with pytest.raises(MissingRun) as err:
        runs.seed_run(tmp_path, 0, **match)
    assert f"notebooks/{notebook_name}.ipynb" in str(err.value)
    assert len(err.value._render_traceback_()) == 1
    with pytest.raises(FileNotFoundError, match=notebook_name):  # still a FileNotFoundError
        runs.latest_run(tmp_path, seed=0, **match)
