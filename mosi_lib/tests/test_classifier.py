"""Fitting the classifier (``train.classifier``) and its run folders
(``study.classifier_runs``)."""

import copy

import numpy as np
import pytest
import torch

from mosi_lib import files, metrics, models, runs
from mosi_lib.config import SystemConfig, TrainConfig
from mosi_lib.data.preprocess import preprocess
from mosi_lib.study import classifier_runs, pretrain_runs
from mosi_lib.study.execution import maybe_compile
from mosi_lib.tests.conftest import make_raw
from mosi_lib.train import loop
from mosi_lib.train.classifier import fit_classifier
from mosi_lib.train.loop import DeviceData, evaluate_classifier, predict_logits

QUIET = SystemConfig(amp=False, progress=False)
"""How the direct ``fit_classifier`` calls run: seed 0, fp32, no bar, eager steps."""


@pytest.fixture
def data(tiny_config):
    return preprocess(make_raw(n=160), tiny_config.data)


def test_training_lowers_loss(tiny_config, data):
    loop.seed_everything(0)
    dd = DeviceData(data, torch.device("cpu"))
    model = models.build_classifier(tiny_config.model, data.dims, data.max_len)
    recipe = TrainConfig(epochs=60, batch_size=32, lr=3e-3, weight_decay=0.0)
    res = fit_classifier(
        model,
        dd,
        recipe,
        QUIET,
        train_idx=data.train_rows("all", "has0"),
        val_idx=data.rows("valid"),
    )  # ~240 steps
    hist = res["history"]
    assert set(hist[0]) >= {
        "epoch",
        "train_loss",
        "val_loss",
        "val_acc",
        "val_f1",
        "lr",
        "seconds",
        "val_seconds",
    }
    assert all(0 < h["val_seconds"] < h["seconds"] for h in hist)
    first = np.mean([h["train_loss"] for h in hist[:3]])
    last = np.mean([h["train_loss"] for h in hist[-3:]])
    assert last < 0.7 * first
    assert res["best"]["acc"] == max(h["val_acc"] for h in hist)
    assert res["best"]["acc"] > 0.75  # the text sign is learnable


def test_l1_objective_lowers_its_loss_and_learns_the_sign(tiny_config, data):
    loop.seed_everything(0)
    dd = DeviceData(data, torch.device("cpu"))
    model = models.build_classifier(tiny_config.model, data.dims, data.max_len)
    recipe = TrainConfig(epochs=60, batch_size=32, lr=3e-3, weight_decay=0.0, objective="l1")
    res = fit_classifier(
        model,
        dd,
        recipe,
        QUIET,
        train_idx=data.train_rows("all", "has0"),
        val_idx=data.rows("valid"),
    )
    hist = res["history"]
    # the first epochs' L1 is about the mean |score| (~1.5); it must fall well below that
    assert np.mean([h["train_loss"] for h in hist[-3:]]) < 0.8 * hist[0]["train_loss"]
    assert res["best"]["acc"] > 0.75
    # the validation loss is the L1 too: recompute it from the outputs
    va = torch.as_tensor(data.rows("valid"))
    ev = evaluate_classifier(model, dd, va, "has0", objective="l1")
    out = predict_logits(model, dd, va)
    assert ev["loss"] == pytest.approx((out - dd.scores[va]).abs().mean().item(), rel=1e-5)


def test_best_checkpoint_ties_go_to_lower_loss(tiny_config, data):
    dd = DeviceData(data, torch.device("cpu"))
    model = models.build_classifier(tiny_config.model, data.dims, data.max_len)
    recipe = TrainConfig(epochs=8, batch_size=32, lr=1e-3, weight_decay=0.0)
    res = fit_classifier(
        model,
        dd,
        recipe,
        QUIET,
        train_idx=data.train_rows("labeled", "has0"),
        val_idx=data.rows("valid"),
    )
    best_acc = max(h["val_acc"] for h in res["history"])
    ties = [h for h in res["history"] if h["val_acc"] == best_acc]
    assert res["best"]["epoch"] == min(ties, key=lambda h: h["val_loss"])["epoch"]


def test_same_seed_same_metrics(tiny_config, data, tmp_path):
    a = classifier_runs.train_classifier(tiny_config, data, root=tmp_path, run_id="a").metrics()
    b = classifier_runs.train_classifier(tiny_config, data, root=tmp_path, run_id="b").metrics()
    assert a["valid"] == b["valid"] and a["best_epoch"] == b["best_epoch"]


def test_classifier_run_folder(tiny_config, data, tmp_path):
    run = classifier_runs.train_classifier(tiny_config, data, root=tmp_path, run_id="r1")
    names = {p.name for p in run.path.iterdir()}
    assert {
        "config.yaml",
        "history.csv",
        "metrics.json",
        "checkpoints",
        "predictions.npz",
    } <= names
    assert {p.name for p in run.checkpoints.iterdir()} == {"best.pt", "last.pt"}
    m = run.metrics()
    # the selected model's outputs on every evaluation row give the reported accuracy
    p = run.predictions()
    assert list(p["ids"]) == list(data.ids[data.rows("valid")]) and set(p["split"]) == {"valid"}
    assert np.mean((p["output"] > 0) == (p["label"] >= 0)) == pytest.approx(m["valid"]["acc_has0"])
    assert m["n_params"] == models.count_parameters(
        models.build_classifier(tiny_config.model, data.dims, data.max_len)
    )
    assert m["synthetic"] is True and m["report_split"] == "valid" and m["test"] is None
    assert 0 <= m["valid"]["acc_has0"] <= 1 and "majority_acc_has0" in m["valid"]
    assert len(run.history()) == tiny_config.train.epochs
    assert m["steps"]["graph_replays"] == 0 and m["steps"]["eager"] >= tiny_config.train.epochs
    assert m["val_forwards"] == {"eager": tiny_config.train.epochs, "graph_replays": 0}
    prov = run.config()["provenance"]
    assert prov["kind"] == "classifier" and "commit" in prov["git"]
    # a checkpoint alone rebuilds the model
    ckpt = pretrain_runs.load_checkpoint(run.checkpoints / "best.pt")
    model = pretrain_runs.model_from_checkpoint(ckpt)
    assert isinstance(model, models.SentimentClassifier)
    with pytest.raises(FileExistsError, match="never overwritten"):
        classifier_runs.train_classifier(tiny_config, data, root=tmp_path, run_id="r1")


@pytest.mark.parametrize("every", [0.0, 3600.0])
def test_checkpoint_cadence(tiny_config, data, tmp_path, monkeypatch, every):
    """last.pt after epoch 1, on the time cadence and after the last epoch; best.pt with it."""
    tiny_config.train.epochs = 6
    tiny_config.system.checkpoint_every_s = every
    saved = []
    orig = files.save_checkpoint

    def record(obj, path):
        saved.append((path.name, obj["epoch"]))
        return orig(obj, path)

    monkeypatch.setattr(files, "save_checkpoint", record)
    run = classifier_runs.train_classifier(tiny_config, data, root=tmp_path, run_id="c")
    last = [e for name, e in saved if name == "last.pt"]
    best = [e for name, e in saved if name == "best.pt"]
    assert last == ([1, 2, 3, 4, 5, 6] if every == 0 else [1, 6])
    on_disk = pretrain_runs.load_checkpoint(run.checkpoints / "best.pt")["epoch"]
    assert best[-1] == on_disk == run.metrics()["best_epoch"]
    if every == 0:  # every improvement, as it happens
        improved, top = [], -1.0
        for row in run.history().itertuples():
            if row.val_acc > top:
                improved.append(row.epoch)
            top = max(top, row.val_acc)
        assert set(improved) <= set(best)
    else:  # at most one best.pt per last.pt write
        assert len(best) <= 2
    assert len(run.history()) == 6  # the history is written every epoch regardless


def test_resume_equals_uninterrupted(tiny_config, data, tmp_path, monkeypatch):
    tiny_config.train.epochs = 6
    full = classifier_runs.train_classifier(tiny_config, data, root=tmp_path, run_id="full")

    class Stop(Exception):
        pass

    orig = classifier_runs.classifier_hooks

    def interrupting(run, cfg, model):
        hooks = orig(run, cfg, model)

        def stop(ev):
            if ev.name == "epoch_end" and ev.epoch == 3:
                raise Stop

        return [*hooks, stop]

    monkeypatch.setattr(classifier_runs, "classifier_hooks", interrupting)
    with pytest.raises(Stop):
        classifier_runs.train_classifier(tiny_config, data, root=tmp_path, run_id="cut")
    monkeypatch.undo()
    cut = runs.load_run(tmp_path / "cut")
    assert len(cut.history()) == 3 and not cut.metrics()
    assert cut.status() == "failed"  # marked, never in a table
    resumed = classifier_runs.resume_classifier(cut, data)
    assert resumed.status() == "finished"
    assert resumed.metrics()["valid"] == full.metrics()["valid"]
    a = pretrain_runs.load_checkpoint(full.checkpoints / "last.pt")
    b = pretrain_runs.load_checkpoint(resumed.checkpoints / "last.pt")
    for k in a["model_state"]:
        assert torch.equal(a["model_state"][k], b["model_state"][k]), k
    np.testing.assert_allclose(resumed.history()["train_loss"], full.history()["train_loss"])


def test_compile_uses_the_configured_mode(tiny_config, monkeypatch):
    seen = []
    monkeypatch.setattr(torch.nn.Module, "compile", lambda self, **kw: seen.append(kw))
    model = torch.nn.Linear(2, 1)
    assert maybe_compile(model, tiny_config) is model and seen == []  # compile off
    tiny_config.system.compile, tiny_config.system.compile_mode = True, "reduce-overhead"
    maybe_compile(model, tiny_config)
    assert seen == [{"mode": "reduce-overhead"}]


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_cuda_graphs_train_and_keep_every_output(tiny_config, data):
    """torch.compile with CUDA graphs (reduce-overhead): training lowers the loss, and outputs
    gathered over several chunks are not overwritten by later graph replays."""
    dd = DeviceData(data, torch.device("cuda"))
    torch.manual_seed(0)
    model = models.build_classifier(tiny_config.model, data.dims, data.max_len).cuda()
    eager = copy.deepcopy(model)
    model.compile(mode="reduce-overhead")
    rows = torch.arange(dd.n, device="cuda")
    a = predict_logits(model, dd, rows, chunk=48)  # 4 chunks, the last one shorter
    b = predict_logits(eager, dd, rows, chunk=48)
    torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-4)
    recipe = TrainConfig(epochs=8, batch_size=32, lr=3e-3, weight_decay=0.0)
    res = fit_classifier(
        model,
        dd,
        recipe,
        QUIET,
        train_idx=data.train_rows("all", "has0"),
        val_idx=data.rows("valid"),
    )
    losses_ = [h["train_loss"] for h in res["history"]]
    assert all(np.isfinite(losses_)) and losses_[-1] < losses_[0]


# ---- interrupted studies: failed runs are marked, finished ones reused


def test_failed_run_is_marked_and_a_rerun_continues(tiny_config, data, tmp_path, monkeypatch,
                                                    capsys):
    """An interrupted run is marked (never in a table), and a rerun counts each run once."""
    from mosi_lib.report import collect

    tiny_config.train.epochs = 1
    done = classifier_runs.train_classifier(tiny_config, data,
        root=tmp_path, run_id="a", reuse=True)
    orig = classifier_runs.fit_classifier

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(classifier_runs, "fit_classifier", interrupted)
    with pytest.raises(KeyboardInterrupt):
        classifier_runs.train_classifier(
            tiny_config, data, root=tmp_path, run_id="b", labels="all", reuse=True
        )
    assert runs.load_run(tmp_path / "b").status() == "interrupted"  # Ctrl-C
    assert collect.collect_runs(tmp_path)["run_id"].tolist() == ["a"]  # never in a table
    monkeypatch.setattr(classifier_runs, "fit_classifier", orig)
    # the rerun (reproduce --run-id on the same study): the finished run is reused, the
    # failed one is trained again in a new folder
    again = classifier_runs.train_classifier(tiny_config, data,
        root=tmp_path, run_id="a2", reuse=True)
    assert again.run_id == "a" and not (tmp_path / "a2").exists()
    assert again.reused and not done.reused  # and said where the notebook shows it
    assert "reusing finished run a (same recipe, seed and data; not trained again)" in (
        capsys.readouterr().out)
    redo = classifier_runs.train_classifier(
        tiny_config, data, root=tmp_path, run_id="b2", labels="all", reuse=True
    )
    assert redo.run_id == "b2" and redo.status() == "finished"
    assert sorted(collect.collect_runs(tmp_path)["run_id"]) == ["a", "b2"]
    # another recipe is not this run
    tiny_config.train.lr *= 2
    other = classifier_runs.train_classifier(tiny_config, data,
        root=tmp_path, run_id="c", reuse=True)
    assert other.run_id == "c"
    assert done.run_id == "a"


def test_evaluation_has_mae_corr_acc7_for_l1_and_none_for_bce(tiny_config, data):
    dd = DeviceData(data, torch.device("cpu"))
    model = models.build_classifier(tiny_config.model, data.dims, data.max_len)
    va = torch.as_tensor(data.rows("valid"))
    out = predict_logits(model, dd, va).numpy()
    l1 = evaluate_classifier(model, dd, va, "has0", objective="l1")
    ref = metrics.regression_metrics(out, dd.scores[va].numpy())
    assert {k: l1[k] for k in metrics.REGRESSION_KEYS} == pytest.approx(ref, nan_ok=True)
    bce = evaluate_classifier(model, dd, va, "has0", objective="bce")
    assert all(bce[k] is None for k in metrics.REGRESSION_KEYS)  # a logit is not a score


def test_l1_run_writes_mae_corr_acc7_to_metrics_json_and_the_table_row(tiny_config, data,
                                                                        tmp_path):
    from mosi_lib.report import collect

    cfg = copy.deepcopy(tiny_config)
    cfg.train.objective = "l1"
    m = classifier_runs.train_classifier(cfg, data, root=tmp_path, run_id="l1").metrics()
    assert m["objective"] == "l1"
    for split in ("valid", "report"):
        assert all(isinstance(m[split][k], float) for k in metrics.REGRESSION_KEYS)
    assert 0 <= m["report"]["acc7"] <= 1 and m["report"]["mae"] >= 0
    row = collect.collect_runs(tmp_path).iloc[0]
    assert row["mae"] == m["report"]["mae"] and row["acc7"] == m["report"]["acc7"]
    bce = classifier_runs.train_classifier(tiny_config, data, root=tmp_path, run_id="b").metrics()
    assert bce["objective"] == "bce"
    assert all(bce["report"][k] is None for k in metrics.REGRESSION_KEYS)
