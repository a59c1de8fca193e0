"""Smoke test of ``python -m mosi_lib study`` (06_label_sweep, 07_ablations) with tiny epochs.

Two seeds so that the intervals and paired tests are computed; a reduced grid (2 fractions,
3 pretraining variants, 2 modality sets with DEC pretraining on each subset) and a narrow
model on 10 steps (``--set``) keep it near 75 s on 2 CPU cores: this tests the mechanics, the
full model is smoke-tested by ``test_notebooks_smoke.py``. The two seeds of a grid point train
in two worker processes (``system.seed_workers`` auto on a CPU).
"""

from __future__ import annotations

import json

import nbformat
import pandas as pd
import pytest
import yaml
from conftest import run_cli

from mosi_lib import runs
from mosi_lib.report.outputs import of_notebook, read_manifest

pytestmark = pytest.mark.slow  # papermill / subprocess studies: `make test-fast` leaves them out

FIG = {"06_label_sweep": "runs/s-label_sweep/figures", "07_ablations": "runs/s-ablations/figures"}
"""Where each smoke study's figures and tables go: its own folder, never figures/."""


@pytest.fixture(scope="module")
def study(tmp_path_factory):
    return run_cli(tmp_path_factory.mktemp("study"), "study", "--smoke", "--run-id", "s",
                   "--source", "synthetic",
                   "--seeds", "0", "1", "--fractions", "0.2", "1.0",
                   "--variants", "none", "ae", "dec_semi", "--modality-sets", "T", "TAV",
                   "--modality-pretrain", "dec_semi",
                   "--protocols", "paper", "standard",
                   "--set", "model.d_model=32", "model.ff_dim=64", "dec.decoder_hidden=32",
                   "data.max_len=10", "data.draw=fixed")


def test_notebooks_ran(study):
    for folder, name in (("s-label_sweep", "06_label_sweep"), ("s-ablations", "07_ablations")):
        nb = nbformat.read(study / "runs" / folder / "notebooks" / f"{name}.ipynb", as_version=4)
        errors = [o for c in nb.cells if c.cell_type == "code" for o in c.outputs
                  if o.output_type == "error"]
        assert not errors, name


def test_every_registered_output_written(study):
    assert not (study / "figures").exists()  # a smoke study's outputs are its own
    for nb in ("06_label_sweep", "07_ablations"):
        for o in of_notebook(nb):
            for f in o.files:
                assert (study / FIG[nb] / f).stat().st_size > 0, f
        manifest = read_manifest(study / FIG[nb] / f"{nb}.manifest.json")
        assert set(manifest["files"]) == {f for o in of_notebook(nb) for f in o.files}, nb


def test_the_cli_ends_with_the_compact_tables(study):
    out = (study / "stdout.txt").read_text()
    assert "Label sweep · protocol standard, test split · SYNTHETIC data" in out
    assert "Pretraining ablation · " in out
    assert out.rstrip().endswith("07_pretrain_ablation.tex")


def test_sweep_outputs(study):
    fig = study / FIG["06_label_sweep"]
    assert (fig / "06_label_sweep.png").stat().st_size > 10_000
    assert json.loads((fig / "06_label_sweep.json").read_text())["synthetic"] is True
    summary = pd.read_csv(fig / "06_label_sweep.csv")
    assert sorted(zip(summary["init"], summary["labeled_fraction"], strict=True)) == [
        ("ae", 0.2), ("ae", 1.0), ("dec", 0.2), ("dec", 1.0), ("logreg", 0.2), ("logreg", 1.0),
        ("logreg_text", 0.2), ("logreg_text", 1.0), ("scratch", 0.2),
        ("scratch", 1.0)]  # synthetic data: no TF-IDF
    # the linear references: one deterministic run per point
    ref = summary["init"].isin(["logreg", "logreg_text"])
    assert (summary.loc[ref, "n"] == 1).all() and summary.loc[ref, "acc_has0_mean"].notna().all()
    summary = summary[~ref]
    assert (summary["n"] == 2).all() and summary["acc_has0_ci_low"].notna().all()
    assert (summary["acc_has0_ci_low"] <= summary["acc_has0_mean"]).all()
    paired = pd.read_csv(fig / "06_sweep_paired_tests.csv")
    # 2 fractions x 2 metrics x (DEC, autoencoder) vs scratch
    assert len(paired) == 8 and (paired["n"] == 2).all()
    assert paired["boot_ci_low"].notna().all()  # paired over resampled test videos too
    # the 100% point trains on every training label of the train fold
    runs = [json.loads(p.read_text()) for p in (study / "runs" / "s-label_sweep").glob(
        "*/metrics.json")]
    full = [m for m in runs if m["kind"] == "classifier" and m["labeled_fraction_cfg"] == 1.0]
    assert full and all(m["protocol"] == "standard" and m["report_split"] == "test" for m in full)
    assert len({m["n_train"] for m in full}) == 1
    clf = [m for m in runs if m["kind"] == "classifier" and m["init"] in ("scratch", "ae", "dec")]
    assert len(clf) == 12  # 2 x 3 x 2 seeds
    # on a CPU the two DEC seeds of a grid point pretrain in two worker processes (auto)
    names = {p.name: json.loads((p / "metrics.json").read_text())
             for p in (study / "runs" / "s-label_sweep").glob("*_s[0-9]")}
    # run folder names say what they hold: DEC pretraining, from scratch, DEC-initialised
    for suffix, kind, init in (("_dec_s", "dec", None), ("_scratch_s", "classifier", "scratch"),
                               ("_fromae_s", "classifier", "ae"),
                               ("_fromdec_s", "classifier", "dec")):
        hits = [m for n, m in names.items() if suffix in n]
        assert len(hits) == 4 and all(m["kind"] == kind and m.get("init") == init for m in hits)
    decs = [study / "runs" / "s-label_sweep" / n for n in names if "_dec_s" in n]
    for path in decs:
        cfg = yaml.safe_load((path / "config.yaml").read_text())
        assert cfg["provenance"]["seed_workers"] == 2, path.name


def test_ablation_outputs(study):
    fig = study / FIG["07_ablations"]
    pre = pd.read_csv(fig / "07_pretrain_ablation.csv")
    assert sorted(pre["tag"]) == ["pretrain:ae", "pretrain:dec_semi", "pretrain:none"]
    paired = pd.read_csv(fig / "07_pretrain_paired_tests.csv")
    assert sorted(set(paired["variant"])) == ["pretrain:ae", "pretrain:dec_semi"]
    assert (paired["reference"] == "pretrain:none").all() and (paired["n"] == 2).all()
    mod = pd.read_csv(fig / "07_modality_ablation.csv")
    assert sorted(mod["modalities"]) == ["text", "text+audio+visual"]
    assert set(mod["tag"]) == {"modality:dec_semi"} and (mod["n"] == 2).all()
    # each subset's classifiers start from a DEC pretrained on that subset's features alone;
    # the full set's are the pretraining ablation's dec_semi runs, counted under both tags
    root = study / "runs" / "s-ablations"
    mod_clf = runs.find_runs(root, kind="classifier", tag="modality:dec_semi")
    assert len(mod_clf) == 4
    for r in mod_clf:
        m = r.metrics()
        dec = runs.load_run(root / m["transfer"]["dec_run"])
        assert "modality:dec_semi" in dec.tags()
        assert dec.metrics()["modalities"] == m["modalities"]
        full = m["modalities"] == ["text", "audio", "visual"]
        assert r.tags()[0] == ("pretrain:dec_semi" if full else "modality:dec_semi")
    # autoencoder-only runs start from the stage-1 checkpoint of the paper's DEC run
    for p in (study / "runs" / "s-ablations").glob("*/metrics.json"):
        m = json.loads(p.read_text())
        if m.get("tag") == "pretrain:ae":
            assert m["transfer"]["checkpoint"] == "stage1.pt"
        if m.get("tag") == "pretrain:dec_semi" and m["kind"] == "classifier":
            assert m["transfer"]["checkpoint"] == "last.pt"
    caption = (fig / "07_pretrain_ablation.md").read_text()
    assert caption.startswith("Table: SMOKE (tiny test run, not a result): SYNTHETIC DATA")
    prot = pd.read_csv(fig / "07_protocols.csv")
    assert sorted(zip(prot["tag"], prot["init"], strict=True)) == [
        ("protocol:paper", "dec"), ("protocol:paper", "scratch"),
        ("protocol:standard", "dec"), ("protocol:standard", "scratch")]
    assert set(prot["protocol"]) == {"paper, valid split", "standard, test split"}
    assert prot["acc_non0_mean"].notna().all()
