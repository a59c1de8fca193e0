import json

import numpy as np
import pytest

from mosi_lib import runs
from mosi_lib.config import Config


def test_create_run_writes_config_and_refuses_overwrite(tmp_path):
    run = runs.create_run(Config(), kind="classifier", root=tmp_path, run_id="x",
                          extra={"notebook": "02"})
    cfg = run.config()
    assert cfg["train"]["lr"] == 4e-5 and cfg["provenance"]["notebook"] == "02"
    assert set(cfg["provenance"]["versions"]) >= {"python", "torch", "numpy"}
    assert run.checkpoints.is_dir()
    with pytest.raises(FileExistsError):
        runs.create_run(Config(), kind="classifier", root=tmp_path, run_id="x")


def test_history_appends_and_grows_columns(tmp_path):
    run = runs.create_run(Config(), kind="dec", root=tmp_path, run_id="h")
    run.append_history({"epoch": 1, "loss": 1.0})
    run.append_history({"epoch": 2, "loss": 0.5, "kl": 0.1})
    run.append_history({"epoch": 3, "loss": 0.25, "kl": 0.05})
    h = run.history()
    assert list(h.columns) == ["epoch", "loss", "kl"] and h["loss"].tolist() == [1, 0.5, 0.25]
    assert np.isnan(h["kl"][0]) and h["kl"][2] == 0.05


def test_metrics_latents_and_find(tmp_path):
    a = runs.create_run(Config(), kind="classifier", root=tmp_path, run_id="a")
    b = runs.create_run(Config(), kind="dec", root=tmp_path, run_id="b")
    runs.create_run(Config(), kind="dec", root=tmp_path, run_id="c")  # unfinished
    a.save_metrics({"kind": "classifier", "acc": np.float32(0.5)})
    b.save_metrics({"kind": "dec"})
    b.save_latents(z=np.ones((3, 2)), ids=np.array(["u", "v", "w"]))
    assert json.loads((a.path / "metrics.json").read_text())["acc"] == 0.5
    assert [r.run_id for r in runs.find_runs(tmp_path, kind="dec")] == ["b"]
    assert runs.latest_run(tmp_path, kind="classifier").run_id == "a"
    assert b.latents()["ids"].tolist() == ["u", "v", "w"]
    with pytest.raises(FileNotFoundError, match="kind"):
        runs.latest_run(tmp_path, kind="other")
    with pytest.raises(FileNotFoundError, match="config.yaml"):
        runs.load_run(tmp_path / "nothing")


def test_open_study_latest_or_new(tmp_path):
    s1 = runs.open_study("s1", root=tmp_path)
    assert (s1 / "study.json").exists()
    s2 = runs.open_study("s2", root=tmp_path)
    assert runs.open_study(None, root=tmp_path) == s2
    assert runs.open_study(None, root=tmp_path / "empty", name="q").name.endswith("_q")


def test_open_study_kinds_do_not_mix(tmp_path):
    main = runs.open_study("a_main", root=tmp_path)
    sweep = runs.open_study("b_sweep", root=tmp_path, kind="sweep")
    assert runs.open_study(None, root=tmp_path) == main  # a later sweep is not "the latest"
    assert runs.open_study(None, root=tmp_path, kind="sweep") == sweep
    assert json.loads((sweep / "study.json").read_text())["kind"] == "sweep"
