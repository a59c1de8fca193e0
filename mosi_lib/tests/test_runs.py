"""Tests for ``mosi_lib.runs``: run folders, their status, finding runs."""

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


def test_classifier_record_writes_its_fields_in_order_and_reads_old_records(tmp_path):
    """One type for what a classifier run's metrics.json holds: written without the fields a
    run of its kind does not write, read back (an older record's missing field as None), and a
    record without a field the tables need refused, naming it."""
    rec = runs.ClassifierRecord(run_id="r", name="quick", tag=None, init="logreg",
                                labels="labeled", labeled_fraction_cfg=0.4, report={"acc": 1})
    assert list(rec.to_dict()) == ["kind", "run_id", "name", "tag", "init", "labels",
                                   "labeled_fraction_cfg", "report"]  # tag None is written
    run = runs.create_run(Config(), kind="classifier", run_id="r", root=tmp_path)
    run.save_metrics(rec)
    assert list(run.metrics())[:-1] == list(rec.to_dict()) and "recipe" in run.metrics()
    back = runs.ClassifierRecord.read(run.metrics(), check=False)
    assert back.init == "logreg" and back.transfer is None and back.semi is None
    with pytest.raises(ValueError, match=r"m.json: field 'n_params' is missing or null"):
        runs.ClassifierRecord.read(run.metrics(), "m.json")


def test_seed_run_takes_the_asked_seed_else_the_lowest(tmp_path):
    for run_id, seed in [("r1", 3), ("r2", 0), ("r3", 4), ("r4", 0)]:
        runs.create_run(Config(), kind="dec", root=tmp_path, run_id=run_id).save_metrics(
            {"kind": "dec", "seed": seed})
    assert runs.latest_run(tmp_path, kind="dec").run_id == "r4"
    assert runs.seed_run(tmp_path, 3, kind="dec").run_id == "r1"
    assert runs.seed_run(tmp_path, 0, kind="dec").run_id == "r4"  # newest of that seed
    assert runs.seed_run(tmp_path, 7, kind="dec").metrics()["seed"] == 0  # lowest seed
    with pytest.raises(FileNotFoundError, match="classifier"):
        runs.seed_run(tmp_path, 0, kind="classifier")


class _Unpicklable:
    def __reduce__(self):
        raise RuntimeError("cannot pickle")


def test_failed_latents_write_keeps_previous_file(tmp_path):
    run = runs.create_run(Config(), kind="dec", root=tmp_path, run_id="d")
    run.save_latents(z=np.ones((2, 2)))
    with pytest.raises(RuntimeError, match="cannot pickle"):  # fails after z was written
        run.save_latents(z=np.zeros((2, 2)), bad=np.array([_Unpicklable()], dtype=object))
    assert run.latents()["z"].tolist() == [[1, 1], [1, 1]]
    assert not [p for p in run.path.iterdir() if ".tmp" in p.name]


# ----------------------------------------------------------------------------- run status


def test_run_status_lifecycle_and_find_runs_only_finished(tmp_path):
    from mosi_lib.runs import recipe_hash

    cfg = Config()
    done = runs.create_run(cfg, kind="classifier", root=tmp_path, run_id="a")
    running = runs.create_run(cfg, kind="classifier", root=tmp_path, run_id="b")
    failed = runs.create_run(cfg, kind="classifier", root=tmp_path, run_id="c")
    status = json.loads((running.path / "status.json").read_text())
    assert status["state"] == "running" and status["started"]
    done.save_metrics({"kind": "classifier", "seed": 0})
    failed.save_metrics({"kind": "classifier", "seed": 0})  # metrics, then a failure
    failed.mark_failed("RuntimeError: boom")
    assert (done.status(), running.status(), failed.status()) == ("finished", "running", "failed")
    assert json.loads((failed.path / "status.json").read_text())["error"] == "RuntimeError: boom"
    assert done.metrics()["recipe"] == recipe_hash(cfg) == done.config()["provenance"]["recipe"]
    assert [r.run_id for r in runs.find_runs(tmp_path, kind="classifier")] == ["a"]
    assert runs.latest_run(tmp_path, kind="classifier").run_id == "a"
    assert [r.run_id for r in runs.unfinished_runs(tmp_path, kind="classifier")] == ["b", "c"]
    # folders written before status.json existed: metrics.json means finished
    (done.path / "status.json").unlink()
    (running.path / "status.json").unlink()
    assert (done.status(), running.status()) == ("finished", "unknown")


def test_find_same_matches_the_recipe(tmp_path):
    cfg_a, cfg_b = Config(), Config()
    cfg_b.train.lr = 1e-3
    a = runs.create_run(cfg_a, kind="classifier", root=tmp_path, run_id="a")
    b = runs.create_run(cfg_b, kind="classifier", root=tmp_path, run_id="b")
    runs.create_run(cfg_a, kind="classifier", root=tmp_path, run_id="c")  # unfinished
    for run in (a, b):
        run.save_metrics({"kind": "classifier", "seed": 0, "tag": "sweep"})
    ids = lambda found: [r.run_id for r in found]  # noqa: E731
    assert ids(runs.find_same(tmp_path, cfg_a, kind="classifier", seed=0, tag="sweep")) == ["a"]
    assert ids(runs.find_same(tmp_path, cfg_b, kind="classifier", seed=0)) == ["b"]
    assert runs.find_same(tmp_path, cfg_a, kind="classifier", seed=1) == []
    assert runs.find_same(tmp_path, cfg_a, kind="classifier", seed=0, tag="other") == []
    # the seed and where/how fast a run trains are not part of the recipe
    cfg_c = Config()
    cfg_c.system.seed, cfg_c.system.num_threads = 3, 1
    assert ids(runs.find_same(tmp_path, cfg_c, kind="classifier", seed=0)) == ["a"]
    # DEC runs do not read the train section: another lr is the same DEC recipe
    d = runs.create_run(cfg_a, kind="dec", root=tmp_path, run_id="d")
    d.save_metrics({"kind": "dec", "seed": 0})
    assert ids(runs.find_same(tmp_path, cfg_b, kind="dec", seed=0)) == ["d"]


def test_collect_runs_skips_unfinished_runs_and_says_how_many(tmp_path, capsys):
    from mosi_lib.report import collect

    rep = {"acc_has0": 0.7, "f1_has0": 0.6, "acc_non0": 0.7, "f1_non0": 0.6,
           "majority_acc_has0": 0.5, "majority_acc_non0": 0.5}
    metrics = {"kind": "classifier", "init": "scratch", "labels": "labeled",
               "labeled_fraction_cfg": 0.4, "n_params": 10, "seed": 0, "data_source": "csd",
               "synthetic": False, "protocol": "paper", "report_split": "valid",
               "zero_policy": "has0", "epochs": 2, "best_epoch": 1, "report": rep,
               "valid": rep, "test": None}
    runs.create_run(Config(), kind="classifier", root=tmp_path, run_id="a").save_metrics(metrics)
    runs.create_run(Config(), kind="classifier", root=tmp_path, run_id="b")  # interrupted
    bad = runs.create_run(Config(), kind="classifier", root=tmp_path, run_id="c")
    bad.save_metrics({**metrics, "seed": 1})
    bad.mark_failed("killed")
    df = collect.collect_runs(tmp_path)
    assert df["run_id"].tolist() == ["a"]
    out = capsys.readouterr().out
    assert "2 unfinished classifier run(s) left out" in out and "b, c" in out


def test_add_tag_counts_a_run_under_another_tag(tmp_path):
    from mosi_lib.report import collect

    rep = {"acc_has0": 0.7, "f1_has0": 0.6, "acc_non0": 0.7, "f1_non0": 0.6,
           "majority_acc_has0": 0.5, "majority_acc_non0": 0.5}
    metrics = {"kind": "classifier", "init": "scratch", "labels": "labeled",
               "tag": "pretrain:none", "labeled_fraction_cfg": 0.4, "n_params": 10, "seed": 0,
               "data_source": "csd",
               "synthetic": False, "protocol": "paper", "report_split": "valid",
               "zero_policy": "has0", "epochs": 2, "best_epoch": 1, "report": rep,
               "valid": rep, "test": None}
    run = runs.create_run(Config(), kind="classifier", root=tmp_path, run_id="a")
    with pytest.raises(ValueError, match="has not finished"):
        run.add_tag("protocol:paper")
    run.save_metrics(metrics)
    before = (run.path / "metrics.json").read_text()
    assert run.tags() == ["pretrain:none"]
    run.add_tag("protocol:paper")
    run.add_tag("protocol:paper")  # once only
    assert run.tags() == ["pretrain:none", "protocol:paper"]
    assert (run.path / "metrics.json").read_text() == before  # the result record is kept
    for tag in ("pretrain:none", "protocol:paper"):
        assert [r.run_id for r in runs.find_runs(tmp_path, tag=tag)] == ["a"]
    assert runs.find_runs(tmp_path, tag="protocol:standard") == []
    df = collect.collect_runs(tmp_path)  # one row per tag, same numbers
    assert df["tag"].tolist() == ["pretrain:none", "protocol:paper"]
    assert df["run_id"].tolist() == ["a", "a"] and df["acc_has0"].nunique() == 1
    (run.path / "tags.json").write_text('{"also": "protocol:paper"}')
    with pytest.raises(ValueError, match="tags.json"):
        run.tags()


# ----------------------------------------------------------------------------- synthetic data


def test_synthetic_generation_never_writes_into_a_folder_of_other_files(tmp_path):
    from mosi_lib.config import DataConfig
    from mosi_lib.data import synthetic
    from mosi_lib.data.sdk import CSD_FILES
    from mosi_lib.data.sources import load_raw

    real = tmp_path / "real"
    real.mkdir()
    labels = real / CSD_FILES["labels"]
    labels.write_bytes(b"real labels")
    msg = rf"{real}: holds {CSD_FILES['labels']}, not written by mosi_lib.data.synthetic"
    with pytest.raises(FileExistsError, match=msg):
        synthetic.ensure_synthetic(real, 0)
    with pytest.raises(FileExistsError, match=msg):
        load_raw(DataConfig(source="synthetic", data_dir=str(real)))
    assert labels.read_bytes() == b"real labels" and [p.name for p in real.iterdir()] == [
        labels.name]


def test_interrupted_generation_stays_marked_and_is_regenerated(tmp_path, monkeypatch):
    from mosi_lib.data import synthetic

    def killed(seed):
        raise KeyboardInterrupt

    out = tmp_path / "syn"
    monkeypatch.setattr(synthetic, "build_synthetic", killed)
    with pytest.raises(KeyboardInterrupt):
        synthetic.ensure_synthetic(out, 0)
    info = json.loads((out / synthetic.MARKER_FILE).read_text())
    assert info["synthetic"] is True and info["complete"] is False
    synthetic.check_target(out)  # still ours: generation may write there again


@pytest.fixture(scope="module")
def generated(tmp_path_factory):
    from mosi_lib.data import synthetic

    return synthetic.generate_synthetic(tmp_path_factory.mktemp("gen") / "any_name", seed=1)


def test_generated_files_read_as_csd_are_marked_synthetic(generated, tmp_path, monkeypatch):
    from mosi_lib.config import DataConfig
    from mosi_lib.data import preprocess
    from mosi_lib.data.sdk import SYNTHETIC_MARKER, read_csd_dataset
    from mosi_lib.data.sources import resolve_source

    monkeypatch.setenv("MOSI_DATA_DIR", str(tmp_path / "data"))
    cfg = DataConfig(source="csd", data_dir=str(generated), modalities=["text"])
    data = preprocess.prepare_data(cfg)
    assert data.synthetic is True and data.meta["source"] == "csd"
    assert data.meta["description"].startswith("SYNTHETIC")
    assert preprocess.prepare_data(cfg).synthetic is True  # also from the cache
    # the marker is part of the cache key: the same files without it are another entry
    key = preprocess.cache_key(cfg, resolve_source(cfg).files)
    marker = generated / SYNTHETIC_MARKER
    moved = marker.rename(tmp_path / SYNTHETIC_MARKER)
    try:
        assert preprocess.cache_key(cfg, resolve_source(cfg).files) != key
        # without the marker the files' own metadata still say they are generated
        assert read_csd_dataset(generated, modalities=["text"]).synthetic is True
    finally:
        moved.rename(marker)


def test_data_for_draws_another_seeds_labeled_pool(generated, tmp_path, monkeypatch):
    from mosi_lib.config import DataConfig, load_config
    from mosi_lib.data import preprocess
    from mosi_lib.study.execution import data_for
    from mosi_lib.tests.conftest import make_raw

    monkeypatch.setenv("MOSI_DATA_DIR", str(tmp_path / "data"))
    over = {"data.source": "csd", "data.data_dir": str(generated), "data.modalities": ["text"],
            "data.protocol": "standard"}
    cfg0, cfg1 = (load_config(overrides={**over, "system.seed": s}) for s in (0, 1))
    data = preprocess.prepare_data(cfg0.data)
    assert data_for(cfg0, data) is data
    other = data_for(cfg1, data)
    assert other.meta["config"]["split_seed"] == 1 and other.meta["key"] != data.meta["key"]
    # the standard folds stay; the labeled pool inside the train fold is another draw
    assert (other.split == data.split).all() and (other.labeled != data.labeled).any()
    assert other.labeled.sum() == data.labeled.sum()
    hand = preprocess.preprocess(make_raw(), DataConfig(source="synthetic"))  # no cache entry
    with pytest.raises(ValueError, match=r"data drawn with data.split_seed=0, the run needs 1 "
                                         r".*set data.draw=fixed"):
        data_for(cfg1, hand)
