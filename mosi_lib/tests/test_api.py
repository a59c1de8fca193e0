"""Tests for ``mosi_lib.run`` (``mosi_lib.api``): one arm, one seed, one call, on tiny data."""

import sys

import pytest

import mosi_lib
from mosi_lib import paths, runs
from mosi_lib.data.preprocess import preprocess
from mosi_lib.runs import StudyMismatch
from mosi_lib.study import studies
from mosi_lib.tests.conftest import make_raw


@pytest.fixture
def data(tiny_config):
    return preprocess(make_raw(n=120), tiny_config.data)


def test_importing_the_package_stays_cheap_and_run_is_documented():
    assert mosi_lib.run.__module__ == "mosi_lib.api"
    assert "arm" in mosi_lib.run.__doc__ and "Returns:" in mosi_lib.run.__doc__
    assert "mosi_lib.run(" in mosi_lib.__doc__
    with pytest.raises(AttributeError, match="no attribute 'nothing'"):
        mosi_lib.nothing  # noqa: B018
    assert "run" in mosi_lib.__all__ and "mosi_lib.api" in sys.modules


def test_run_scratch_and_dec_arms_write_their_runs_and_reuse_them(tiny_config, data, capsys):
    tiny_config.train.epochs = 1
    scratch = mosi_lib.run(tiny_config, arm="scratch", seed=1, data=data, study="api")
    study = paths.runs_dir() / "api"
    assert scratch.path.parent == study and scratch.status() == "finished"
    m = scratch.metrics()
    assert m["init"] == "scratch" and m["labels"] == "labeled" and m["seed"] == 1
    assert 0 <= m["report"]["acc_has0"] <= 1 and "_baseline_labeled_s1" in scratch.run_id
    assert scratch.config()["provenance"]["entry"] == "mosi_lib.run"
    assert tiny_config.system.seed == 0  # the caller's config is never changed

    dec = mosi_lib.run(tiny_config, arm="dec", labels="all", seed=1, data=data, study="api")
    dm = dec.metrics()
    assert dm["init"] == "dec" and dm["labels"] == "all" and "_dec_ft_all_s1" in dec.run_id
    dec_run = runs.load_run(study / dm["transfer"]["dec_run"])
    assert dec_run.metrics()["kind"] == "dec" and dec_run.metrics()["seed"] == 1

    capsys.readouterr()
    again = mosi_lib.run(tiny_config, arm="scratch", seed=1, data=data, study="api")
    assert again.reused and again.run_id == scratch.run_id  # found, not trained again
    assert f"reusing finished run {scratch.run_id}" in capsys.readouterr().out
    assert len(runs.find_runs(study, kind="classifier")) == 2


def test_run_without_a_study_opens_one_of_its_config_and_a_root_is_used_as_is(
        tiny_config, data, tmp_path):
    tiny_config.train.epochs = 1
    first = mosi_lib.run(tiny_config, seed=0, data=data)
    second = mosi_lib.run(tiny_config, seed=2, data=data)
    assert first.path.parent == second.path.parent  # the latest study of this very config
    setup = studies.study_info(first.path.parent)["setup"]
    assert setup["profile"] == "default" and setup["overrides"]["data.source"] == "synthetic"
    other = mosi_lib.run(tiny_config, seed=0, data=data, overrides={"train.lr": 1e-3})
    assert other.path.parent != first.path.parent  # another recipe: another study
    with pytest.raises(StudyMismatch, match="overrides"):
        mosi_lib.run(tiny_config, seed=0, data=data, overrides={"train.lr": 1e-3},
                     study=first.path.parent.name)
    mine = mosi_lib.run(tiny_config, seed=0, data=data, root=tmp_path / "mine")
    assert mine.path.parent == tmp_path / "mine"


@pytest.mark.parametrize(("kw", "line"), [
    ({"arm": "ae"}, "arm='ae': expected one of ['scratch', 'dec']"),
    ({"labels": "some"}, "labels='some': expected one of ['labeled', 'all']"),
    ({"overrides": {"train.epochs": 0}}, "train.epochs=0: need >= 1"),
    ({"config": 3}, "config=3: expected a profile YAML name or path, or a Config"),
])
def test_run_refuses_bad_input_in_one_line_before_any_folder(tiny_config, kw, line):
    kw = {"config": tiny_config, **kw}
    with pytest.raises(ValueError) as err:
        mosi_lib.run(kw.pop("config"), **kw)
    assert line in str(err.value) and "\n" not in str(err.value)
    assert not paths.runs_dir().exists()


def test_run_smoke_keeps_an_explicit_setting(tiny_config, data):
    r = mosi_lib.run("quick.yaml", seed=0, smoke=True, data=data, root=paths.runs_dir() / "q",
                     overrides={"train.epochs": 3, "data.source": "synthetic",
                                "data.modalities": ["text", "audio", "visual"],
                                "model.d_model": 16, "model.ff_dim": 32, "model.latent_dim": 8,
                                "model.head_dims": [4], "data.max_len": 6, "data.draw": "fixed"})
    assert len(r.history()) == 3  # the explicit 3 epochs, not smoke's 2
    assert r.config()["dec"]["stage1_epochs"] == 2  # the rest is shrunk
