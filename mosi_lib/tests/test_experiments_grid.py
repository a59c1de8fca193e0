"""The beyond-the-paper grids: pretraining ablation wiring, reuse of finished runs, summaries."""

import copy
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

from mosi_lib import runs
from mosi_lib.data.preprocess import preprocess
from mosi_lib.report import collect, plots, tables
from mosi_lib.study import classifier_runs, execution, grids, pipeline, pretrain_runs
from mosi_lib.study.classifier_runs import train_classifier
from mosi_lib.study.execution import variant_cfg
from mosi_lib.tests.conftest import make_raw
from mosi_lib.train.loop import DeviceData, evaluate_classifier


def test_pretrain_ablation_wiring_and_reuse(tiny_config, tmp_path):
    data = preprocess(make_raw(n=120), tiny_config.data)
    variants = ("none", "ae", "dec_semi", "dec_unsup")
    got = grids.pretrain_ablation(tiny_config, data, seeds=[0], root=tmp_path,
                                        variants=variants)
    tags = [r.metrics()["tag"] for r in got]
    assert tags == [f"pretrain:{v}" for v in variants]
    by_tag = {r.metrics()["tag"]: r.metrics() for r in got}
    assert by_tag["pretrain:none"]["init"] == "scratch"
    assert (by_tag["pretrain:ae"]["init"], by_tag["pretrain:dec_semi"]["init"]) == ("ae", "dec")
    ae, semi = by_tag["pretrain:ae"]["transfer"], by_tag["pretrain:dec_semi"]["transfer"]
    assert ae["checkpoint"] == "stage1.pt" and semi["checkpoint"] == "last.pt"
    assert ae["dec_run"] == semi["dec_run"]  # AE-only = stage 1 of the paper's DEC run
    unsup = by_tag["pretrain:dec_unsup"]["transfer"]["dec_run"]
    assert unsup != semi["dec_run"]
    assert runs.load_run(tmp_path / unsup).config()["dec"]["stage2_sup_weight"] == 0.0
    # the AE-only classifier really starts from stage-1 weights, not the stage-2 ones
    s1 = pretrain_runs.load_checkpoint(tmp_path / semi["dec_run"] / "checkpoints" / "stage1.pt")
    last = pretrain_runs.load_checkpoint(tmp_path / semi["dec_run"] / "checkpoints" / "last.pt")
    key = next(k for k in s1["model_state"] if k.startswith("encoder.") and "weight" in k)
    assert not torch.equal(s1["model_state"][key], last["model_state"][key])
    # a second call finds every run and trains nothing
    n_before = len(list(tmp_path.iterdir()))
    again = grids.pretrain_ablation(tiny_config, data, seeds=[0], root=tmp_path,
                                          variants=variants)
    assert [r.run_id for r in again] == [r.run_id for r in got]
    assert len(list(tmp_path.iterdir())) == n_before
    with pytest.raises(ValueError, match="variants"):
        grids.pretrain_ablation(tiny_config, data, seeds=[0], root=tmp_path,
                                      variants=["bogus"])


def test_grid_reuses_a_run_only_for_the_same_recipe(tiny_config, tmp_path):
    """A grid reuses a finished run only for the same recipe: a rerun with another epoch count
    or protocol trains again, so no old run shows under the new title."""
    data = preprocess(make_raw(n=120), tiny_config.data)
    first = grids.pretrain_ablation(tiny_config, data, seeds=[0], root=tmp_path,
                                          variants=("none", "dec_semi"))
    longer = copy.deepcopy(tiny_config)
    longer.train.epochs += 1
    second = grids.pretrain_ablation(longer, data, seeds=[0], root=tmp_path,
                                           variants=("none", "dec_semi"))
    assert not {r.run_id for r in first} & {r.run_id for r in second}  # trained again
    assert [r.config()["train"]["epochs"] for r in second] == [longer.train.epochs] * 2
    # the DEC runs are reused: their recipe (data, model, dec) did not change ...
    assert (first[1].metrics()["transfer"]["dec_run"]
            == second[1].metrics()["transfer"]["dec_run"])
    # ... until a DEC field changes
    other_dec = copy.deepcopy(tiny_config)
    other_dec.dec.stage2_lr *= 2
    third = grids.pretrain_ablation(other_dec, data, seeds=[0], root=tmp_path,
                                          variants=("dec_semi",))
    assert third[0].metrics()["transfer"]["dec_run"] != first[1].metrics()["transfer"]["dec_run"]
    # the tables keep the two epoch counts apart
    summary = tables.summary_table(collect.collect_runs(tmp_path), ["tag"])
    assert summary["n"].max() == 1


@pytest.mark.slow  # integration-scale: a whole grid point, trained and found again
def test_grid_point_of_another_tag_is_not_trained_again(tiny_config, tmp_path):
    """The protocol comparison under the study's own protocol is the pretraining ablation's
    none / dec_semi point: its runs count under both tags instead of training again, and an
    AE-only run (the same DEC run's stage-1 checkpoint) is never taken for a DEC one."""
    from mosi_lib.data.preprocess import prepare_data

    data = prepare_data(tiny_config.data)  # as protocol_comparison reads it
    abl = grids.pretrain_ablation(tiny_config, data, seeds=[0, 1], root=tmp_path,
                                        variants=("none", "ae", "dec_semi"))
    folders = {p.name for p in tmp_path.iterdir()}
    tag = f"protocol:{tiny_config.data.protocol}"
    prot = grids.protocol_comparison(tiny_config, protocols=(tiny_config.data.protocol,),
                                           seeds=[0, 1], root=tmp_path)
    assert {p.name for p in tmp_path.iterdir()} == folders  # nothing trained
    # scratch seeds 0, 1, then from-DEC seeds 0, 1: the ablation's none and dec_semi runs
    assert [r.run_id for r in prot] == [r.run_id for r in abl[:2] + abl[4:]]
    for r in prot:
        assert tag in r.tags()
    assert all(tag not in r.tags() for r in abl[2:4])  # the AE-only runs
    df = collect.collect_runs(tmp_path)
    assert sorted(df.loc[df["tag"] == tag, "init"]) == ["dec", "dec", "scratch", "scratch"]
    again = grids.protocol_comparison(tiny_config, protocols=(tiny_config.data.protocol,),
                                            seeds=[0, 1], root=tmp_path)
    assert [r.run_id for r in again] == [r.run_id for r in prot]


def test_modality_set_letters_and_pretrain_checked(tiny_config, tmp_path):
    for bad in (["TX"], ["TT"], [""]):
        with pytest.raises(ValueError, match="TAV"):
            grids.modality_ablation(tiny_config, sets=bad, seeds=[0], root=tmp_path)
    with pytest.raises(ValueError, match="pretrain='dec'"):
        grids.modality_ablation(tiny_config, sets=["T"], seeds=[0], root=tmp_path,
                                      pretrain="dec")


@pytest.mark.slow  # integration-scale: a label sweep's data sets drawn and checked
def test_label_sweep_refuses_a_bad_grid_before_training(tiny_config, tmp_path):
    """Notebook 06's call refuses duplicate seeds, a fraction outside (0, 1] and a draw with
    too few labels of a class (any fraction's, any seed's) before any run folder is made."""
    sweep = dict(root=tmp_path / "study")
    with pytest.raises(ValueError, match=r"seeds \[0, 1, 0\]: each seed once"):
        grids.label_sweep(tiny_config, fractions=[0.5], seeds=[0, 1, 0], **sweep)
    for bad in (1.5, 0.0, -0.1):
        with pytest.raises(ValueError, match=rf"labeled_fraction={bad}: need a value in \(0, 1\]"):
            grids.label_sweep(tiny_config, fractions=[0.5, bad], seeds=[0], **sweep)
    tiny_config.data.draw = "seed"  # every seed its own draw: each one is checked
    with pytest.raises(ValueError, match="labeled_fraction=0.001: the labeled training rows"):
        grids.label_sweep(tiny_config, fractions=[0.5, 0.001], seeds=[0, 1], **sweep)
    assert not (tmp_path / "study").exists()


def test_ablations_refuse_a_bad_grid_before_training(tiny_config, tmp_path):
    """Notebook 07's call refuses duplicate seeds, unknown variants, bad modality sets or
    pretraining and unknown protocols before any run folder is made."""
    data = preprocess(make_raw(n=120), tiny_config.data)
    root = tmp_path / "study"
    grid = dict(seeds=[0], root=root, variants=("none",), modality_sets=[], protocols=[])
    for change, match in (({"seeds": [2, 2]}, r"seeds \[2, 2\]: each seed once"),
                          ({"variants": ("none", "bogus")}, r"variants \['bogus'\]"),
                          ({"modality_sets": ["TX"]}, "distinct letters from 'TAV'"),
                          ({"modality_sets": ["T"], "modality_pretrain": "dec"},
                           "modality pretraining 'dec'"),
                          ({"protocols": ["bogus"]}, "bogus")):
        with pytest.raises(ValueError, match=match):
            grids.ablations(tiny_config, data, **{**grid, **change})
    assert not root.exists()


def test_best_pretrain_reads_validation_of_the_ablation(tiny_config, tmp_path):
    from mosi_lib.tests.fake_runs import classifier_metrics, report_metrics, write_run

    assert grids.best_pretrain("dec_semi", tiny_config, tmp_path) == ("dec_semi", None)
    with pytest.raises(ValueError, match="'best' or one of"):
        grids.best_pretrain("dec", tiny_config, tmp_path)
    with pytest.raises(ValueError, match="no pretraining-ablation run"):
        grids.best_pretrain("best", tiny_config, tmp_path)
    # dec_semi wins on validation, none on test: the choice follows validation
    for seed in (0, 1):
        for variant, val, test in (("none", 0.70, 0.90), ("dec_semi", 0.75, 0.60)):
            write_run(tmp_path, f"{variant}_{seed}", classifier_metrics(
                seed, tag=f"pretrain:{variant}", valid=report_metrics(acc_has0=val),
                report=report_metrics(acc_has0=test)))
    write_run(tmp_path, "other_0", classifier_metrics(
        0, tag="modality:none", valid=report_metrics(acc_has0=0.99)))
    best, table = grids.best_pretrain("best", tiny_config, tmp_path)
    assert best == "dec_semi"
    assert table["tag"].tolist() == ["pretrain:dec_semi", "pretrain:none"]
    np.testing.assert_allclose(table["mean"], [75.0, 70.0])


def _df(rows):
    base = {"f1_has0": 0.5, "f1_non0": 0.5, "acc_non0": 0.5, "majority_acc_has0": 0.6,
            "synthetic": True, "protocol": "standard", "report_split": "test"}
    return pd.DataFrame([{**base, **r} for r in rows])


def test_summary_table_hand_computed():
    df = _df([{"init": "dec", "labeled_fraction": 0.1, "seed": s, "acc_has0": a, "run_id": str(s)}
              for s, a in enumerate([0.70, 0.74, 0.78])]
             + [{"init": "scratch", "labeled_fraction": 0.1, "seed": 0, "acc_has0": 0.6,
                 "run_id": "x"}])
    t = tables.summary_table(df, ["init", "labeled_fraction"]).set_index("init")
    assert t.loc["dec", "n"] == 3 and t.loc["dec", "seeds"] == "0,1,2"
    assert t.loc["dec", "acc_has0_mean"] == pytest.approx(74.0)
    assert t.loc["dec", "acc_has0_std"] == pytest.approx(4.0)
    # t_{0.975, 2} = 4.302653: half width 4.302653 * 4 / sqrt(3) = 9.9366
    assert t.loc["dec", "acc_has0_ci_low"] == pytest.approx(74 - 9.93655, abs=1e-4)
    assert np.isnan(t.loc["scratch", "acc_has0_std"])
    assert t.loc["dec", "protocol"] == "standard, test split"
    with pytest.raises(ValueError, match="missing"):
        tables.summary_table(df, ["nope"])
    fig = plots.plot_label_sweep(tables.summary_table(df, ["init", "labeled_fraction"]),
                                       title="t")
    assert "SYNTHETIC" in fig.get_suptitle()
    leg = fig.axes[0].get_legend()
    legend = [t.get_text() for t in leg.get_texts()]
    fig.canvas.draw()  # the legend sits below the panel, not over the points
    assert leg.get_window_extent().y1 < fig.axes[0].get_window_extent().y0
    assert "Transformer + DEC (3 seeds)" in legend  # dec: 3 seeds, so a band is drawn
    assert "shaded: 95% interval of the mean over seeds" in legend
    lo, hi = fig.axes[0].get_ylim()
    assert 0 <= lo and hi <= 100


def test_paired_vs_reference():
    rows = []
    for s, (none, ae) in enumerate([(0.70, 0.72), (0.71, 0.74), (0.69, 0.70)]):
        rows += [{"tag": "pretrain:none", "seed": s, "acc_has0": none, "run_id": f"a{s}"},
                 {"tag": "pretrain:ae", "seed": s, "acc_has0": ae, "run_id": f"b{s}"}]
    rows.append({"tag": "pretrain:ae", "seed": 7, "acc_has0": 0.99, "run_id": "c"})  # unpaired
    t = tables.paired_vs(_df(rows), by="tag", reference="pretrain:none", metrics=("acc_has0",))
    assert len(t) == 1 and t.loc[0, "variant"] == "pretrain:ae" and t.loc[0, "seeds"] == "0,1,2"
    assert t.loc[0, "mean_diff"] == pytest.approx(2.0) and t.loc[0, "wins"] == 3
    empty = tables.paired_vs(_df(rows), by="tag", reference="pretrain:other")
    assert len(empty) == 0


def test_train_classifiers_writes_one_run_per_seed(tiny_config, tmp_path):
    tiny_config.system.seed_workers = 1  # one after the other, in this process
    data = preprocess(make_raw(n=120), tiny_config.data)
    dec = pretrain_runs.pretrain_dec(tiny_config, data, root=tmp_path, run_id="dec")
    got = classifier_runs.train_classifiers(tiny_config, data, seeds=[3, 4], init_runs=[dec, dec],
                                        run_ids=["c3", "c4"], root=tmp_path, tag="t")
    assert [r.run_id for r in got] == ["c3", "c4"]
    for seed, run in zip([3, 4], got, strict=True):
        m = run.metrics()
        assert (m["seed"], m["init"], m["tag"]) == (seed, "dec", "t")
        assert m["transfer"]["dec_run"] == "dec"
        assert len(run.history()) == tiny_config.train.epochs
        # the best checkpoint holds this seed's selected weights: re-evaluating it gives the
        # validation accuracy recorded in metrics.json
        ckpt = pretrain_runs.load_checkpoint(run.checkpoints / "best.pt")
        model = pretrain_runs.model_from_checkpoint(ckpt)
        dd = DeviceData(data, torch.device("cpu"))
        ev = evaluate_classifier(
            model, dd, torch.as_tensor(data.rows("valid")), tiny_config.data.zero_policy)
        assert ev["acc"] == m["valid"]["acc"]
    w = [pretrain_runs.load_checkpoint(r.checkpoints / "last.pt")["model_state"] for r in got]
    key = "head.0.weight"
    assert not torch.equal(w[0][key], w[1][key])  # two seeds, two models
    with pytest.raises(ValueError, match="one entry per seed"):
        classifier_runs.train_classifiers(tiny_config, data, seeds=[0, 1], run_ids=["x"],
                                      root=tmp_path)


@pytest.mark.slow  # integration-scale: worker processes
def test_seed_workers_match_runs_in_this_process(tiny_config, tmp_path):
    """Seeds in worker processes (``system.seed_workers``) write the same runs as in-process."""
    data = preprocess(make_raw(n=120), tiny_config.data)
    tiny_config.system.seed_workers = 1  # in this process
    tiny_config.system.num_threads = 1  # the workers' thread count on a 2-core machine
    alone = classifier_runs.train_classifiers(tiny_config, data, seeds=[0, 1],
                                              root=tmp_path / "a", tag="t")
    decs_alone = grids.pretrainings_for("dec", pretrain_runs.pretrain_dec, tiny_config, data,
                                        root=tmp_path / "a", seeds=[0, 1], tag="d", what="test",
                                        prefix="p")
    tiny_config.system.seed_workers = 2
    par = classifier_runs.train_classifiers(tiny_config, data, seeds=[0, 1],
                                            root=tmp_path / "w", tag="t")
    decs_par = grids.pretrainings_for("dec", pretrain_runs.pretrain_dec, tiny_config, data,
                                      root=tmp_path / "w", seeds=[0, 1], tag="d", what="test",
                                      prefix="p")
    for a, w in [*zip(alone, par, strict=True),
                 *zip(decs_alone.values(), decs_par.values(), strict=True)]:
        assert a.metrics()["seed"] == w.metrics()["seed"]
        assert w.config()["provenance"]["seed_workers"] == 2
        assert w.config()["system"]["num_threads"] == execution.worker_threads(2)
        cols = ["train_loss", "val_loss"] if a.metrics()["kind"] == "classifier" else ["loss"]
        np.testing.assert_allclose(w.history()[cols].to_numpy(), a.history()[cols].to_numpy(),
                                   rtol=1e-5)
    assert par[0].metrics()["valid"]["acc"] == alone[0].metrics()["valid"]["acc"]


@pytest.mark.slow  # integration-scale: worker processes
def test_in_workers_send_the_data_as_a_file(tiny_config, tmp_path, monkeypatch):
    """The pool's initializer gets a file, not the data set (through spawn's pipe the data held
    each process start until the one before had imported torch), and the file is gone after."""
    import concurrent.futures

    seen = []
    real = concurrent.futures.ProcessPoolExecutor

    def spy(*args, **kw):
        seen.append(kw["initargs"])
        return real(*args, **kw)

    monkeypatch.setattr(concurrent.futures, "ProcessPoolExecutor", spy)
    data = preprocess(make_raw(n=60), tiny_config.data)
    tiny_config.train.epochs = 1
    jobs = [(variant_cfg(tiny_config, {"system.seed": s}),
             dict(labels="labeled", root=tmp_path)) for s in (0, 1)]
    done = execution.in_workers(train_classifier, jobs, data, 2)
    assert [r.metrics()["seed"] for r in done] == [0, 1]
    (data_file, threads), = seen
    assert isinstance(data_file, str) and threads == execution.worker_threads(2)
    assert not Path(data_file).exists() and not Path(data_file).parent.exists()


@pytest.mark.slow  # integration-scale: worker processes
def test_in_workers_say_a_reused_run_here(tiny_config, tmp_path, capsys):
    """A run a worker finds finished is said by this process (a worker's own print never reaches
    a notebook's page) and comes back marked ``reused``."""
    data = preprocess(make_raw(n=60), tiny_config.data)
    tiny_config.train.epochs = 1
    first = train_classifier(tiny_config, data, root=tmp_path, reuse=True)
    jobs = [(variant_cfg(tiny_config, {"system.seed": s}),
             dict(labels="labeled", root=tmp_path, reuse=True)) for s in (0, 1)]
    capsys.readouterr()
    done = execution.in_workers(train_classifier, jobs, data, 2)
    assert [r.reused for r in done] == [True, False] and done[0].run_id == first.run_id
    assert f"reusing finished run {first.run_id}" in capsys.readouterr().out


@pytest.mark.slow  # integration-scale: worker processes
def test_in_workers_errors(tiny_config, tmp_path):
    data = preprocess(make_raw(n=60), tiny_config.data)
    for bogus in ("classifier", lambda cfg, data: None):  # workers import the function by name
        with pytest.raises(ValueError, match="module-level run function"):
            execution.in_workers(bogus, [], data, 2)
    jobs = [(variant_cfg(tiny_config, {"system.seed": s}),
             dict(labels="some", root=tmp_path)) for s in (0, 1)]
    with pytest.raises(ValueError, match="labels"):  # raised in the worker, re-raised here
        execution.in_workers(train_classifier, jobs, data, 2)
    assert not list(tmp_path.iterdir())  # checked before a run folder is made


def test_seed_workers_choice(tiny_config, monkeypatch):
    cpu, gpu = torch.device("cpu"), torch.device("cuda")
    assert tiny_config.system.seed_workers == 0  # auto by default
    assert execution.seed_workers(tiny_config, 3, cpu) == 3  # one process per seed on a CPU
    assert execution.seed_workers(tiny_config, 20, cpu) == execution.MAX_AUTO_WORKERS
    assert execution.seed_workers(tiny_config, 3, gpu) == 3  # processes share a GPU too
    assert execution.seed_workers(tiny_config, 3, torch.device("mps")) == 1  # untried
    assert execution.seed_workers(tiny_config, 1, cpu) == 1
    tiny_config.system.seed_workers = 2
    assert execution.seed_workers(tiny_config, 5, gpu) == 2  # explicit: taken as is
    assert execution.seed_workers(tiny_config, 1, cpu) == 1
    monkeypatch.setattr(execution.os, "cpu_count", lambda: 16)
    assert execution.worker_threads(5) == 3 and execution.worker_threads(32) == 1
    from mosi_lib.config import validate

    tiny_config.system.seed_workers = -1
    with pytest.raises(ValueError, match="seed_workers=-1"):
        validate(tiny_config)


def test_grids_are_read_from_configs_experiments():
    """One definition of the study grids (configs/experiments/*.yaml) for the CLI and notebooks."""
    sweep = pipeline.load_grid("sweep")
    assert sweep == {"fractions": [0.05, 0.1, 0.2, 0.4, 1.0], "protocol": "standard"}
    assert pipeline.load_grid("sweep", fractions=[0.5], protocol=None)["fractions"] == [0.5]
    abl = pipeline.load_grid("ablations", modality_sets=[])
    assert set(abl["variants"]) == set(pipeline.PRETRAIN_VARIANTS)
    assert abl["modality_sets"] == [] and abl["protocols"] == ["paper", "standard"]
    with pytest.raises(ValueError, match="unknown keys"):
        pipeline.load_grid("sweep", epochs=3)
    with pytest.raises(ValueError, match="grid 'nope'"):
        pipeline.load_grid("nope")
