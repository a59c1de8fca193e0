"""Tests for ``mosi_lib.study.studies``: study folders and their ``study.json``."""

import json
import os
import re

import pytest

from mosi_lib.study import studies


def test_open_study_latest_or_new(tmp_path):
    s1 = studies.open_study("s1", root=tmp_path)
    assert (s1 / "study.json").exists()
    s2 = studies.open_study("s2", root=tmp_path)
    assert studies.open_study(None, root=tmp_path) == s2
    assert studies.open_study(None, root=tmp_path / "empty", name="q").name.endswith("_q")


def test_open_study_kinds_do_not_mix(tmp_path):
    main = studies.open_study("a_main", root=tmp_path)
    sweep = studies.open_study("b_sweep", root=tmp_path, kind="sweep")
    assert studies.open_study(None, root=tmp_path) == main  # a later sweep is not "the latest"
    assert studies.open_study(None, root=tmp_path, kind="sweep") == sweep
    assert json.loads((sweep / "study.json").read_text())["kind"] == "sweep"


def _set_created(study, created, created_ts=None):
    info = json.loads((study / "study.json").read_text())
    info["created"] = created
    info.pop("created_ts", None)
    if created_ts is not None:
        info["created_ts"] = created_ts
    (study / "study.json").write_text(json.dumps(info))


def test_latest_study_is_chosen_by_creation_time_not_name(tmp_path):
    newer = studies.open_study("a_newer", root=tmp_path)
    older = studies.open_study("b_older", root=tmp_path)  # sorts last by name
    _set_created(newer, "2026-02-01T10:00:00+0000")
    _set_created(older, "2026-01-01T10:00:00+0000")
    assert studies.open_study(None, root=tmp_path) == newer
    assert studies.latest_study(tmp_path) == newer
    # a study.json without a creation time falls back to the folder's time
    legacy = studies.open_study("0_legacy", root=tmp_path)
    info = json.loads((legacy / "study.json").read_text())
    del info["created"], info["created_ts"]
    (legacy / "study.json").write_text(json.dumps(info))
    os.utime(legacy, (2_000_000_000, 2_000_000_000))  # 2033: later than both
    assert studies.open_study(None, root=tmp_path) == legacy


@pytest.mark.parametrize("bad", ["../x", "/tmp/x", "a/b", "..", ".hidden", "a/../../b"])
def test_open_study_refuses_run_ids_that_leave_the_runs_folder(tmp_path, bad):
    root = tmp_path / "runs"
    with pytest.raises(ValueError, match=re.escape(f"run_id={bad!r}")):
        studies.open_study(bad, root=root)
    assert not root.exists() and sorted(p.name for p in tmp_path.iterdir()) == []


def test_open_study_stores_params_and_refuses_another_config(tmp_path):
    params = {"config_file": "paper.yaml", "overrides": {"train.epochs": 3}, "smoke": True,
              "seed": 0}
    study = studies.open_study("s", root=tmp_path, params=params)
    assert studies.study_info(study)["params"] == params
    studies.open_study("s", root=tmp_path, params={**params, "seed": 2})  # another seed: fine
    assert studies.study_info(study)["params"]["seed"] == 2
    studies.open_study("s", root=tmp_path)  # notebooks open it without params
    with pytest.raises(ValueError, match=r"study .*s: was run with config_file='paper.yaml'"):
        studies.open_study("s", root=tmp_path, params={**params, "config_file": "quick.yaml"})
    assert studies.study_info(study)["params"]["config_file"] == "paper.yaml"
    # overrides that do not change a result (recipe_hash leaves them out) are the same study
    free = {"train.epochs": 3, "system.progress": False, "system": {"num_threads": 1},
            "data.clip": None}
    studies.open_study("s", root=tmp_path, params={**params, "overrides": free})
    assert studies.study_info(study)["params"]["overrides"] == free
    with pytest.raises(ValueError, match=r"was run with overrides=.*'train.epochs': 3"):
        studies.open_study("s", root=tmp_path, params={**params, "overrides": {"train.epochs": 4}})
    with pytest.raises(ValueError, match="was run with overrides="):  # a result key dropped
        studies.open_study("s", root=tmp_path, params={**params, "overrides": {}})


def test_reporting_never_creates_a_study(tmp_path):
    with pytest.raises(FileNotFoundError, match="no main study under"):
        studies.open_study(root=tmp_path, create=False)
    with pytest.raises(FileNotFoundError, match="study .*/nope: no such study"):
        studies.open_study("nope", root=tmp_path, create=False)
    assert list(tmp_path.iterdir()) == []
