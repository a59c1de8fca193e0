"""Smoke test of the headless study: papermill runs notebooks 01..05 with tiny epochs.

This is what ``make reproduce SEEDS="0 1"`` does (``python -m mosi_lib reproduce --seeds 0 1``),
on the embedded real data (CMU-MOSI transcripts + all-MiniLM-L6-v2 word vectors, openSMILE)
under the quick profile's standard protocol, with ``--smoke`` (2 epochs, see
``mosi_lib.config.smoke``): 01 once, 02..04 per seed, 05 once. It checks that every notebook
ran, that the figures and the tables exist, name the real data (never "SYNTHETIC"), carry the
linear reference rows and hold finite numbers. About 3 minutes on 2 CPU cores. The synthetic
source runs in ``test_study_smoke.py``.
"""

from __future__ import annotations

import json
import math

import nbformat
import pandas as pd
import pytest
from conftest import run_cli

from mosi_lib.report.outputs import of_notebook, read_manifest

pytestmark = pytest.mark.slow  # papermill / subprocess studies: `make test-fast` leaves them out

NOTEBOOKS = ["01_preprocess", "02_baseline", "03_dec_pretrain", "04_finetune", "05_results"]
FIGURES = [o.stem for o in of_notebook("05_results") if o.kind == "figure"]
FIG = "runs/smoke/figures"
"""Where a smoke study's figures and tables go: its own folder, never figures/."""


@pytest.fixture(scope="module")
def study(tmp_path_factory):
    # MiniLM: the suite's text input (a pinned dependency); the default mpnet-base is the same
    # code path with a downloaded model folder (mosi_lib/tests/test_encoder_install.py)
    return run_cli(tmp_path_factory.mktemp("smoke"), "reproduce", "--smoke", "--run-id", "smoke",
                   "--seeds", "0", "1", "--set", "data.word_vectors=minilm-l6", timeout=1200)


def test_every_notebook_ran_without_error(study):
    done = study / "runs" / "smoke" / "notebooks"
    paths = [done / f"{NOTEBOOKS[0]}.ipynb", done / f"{NOTEBOOKS[-1]}.ipynb"]
    paths += [done / f"seed{s}" / f"{name}.ipynb" for s in (0, 1) for name in NOTEBOOKS[1:4]]
    for path in paths:
        name = path.stem
        nb = nbformat.read(path, as_version=4)
        code = [c for c in nb.cells if c.cell_type == "code"]
        assert all(c.execution_count is not None for c in code), name
        errors = [o for c in code for o in c.outputs if o.output_type == "error"]
        assert not errors, (name, errors)
        images = [o for c in code for o in c.outputs if "image/png" in o.get("data", {})]
        assert images, f"{name}: no figure was displayed inline"


DESCRIPTION = ("real CMU-MOSI (transcripts + all-MiniLM-L6-v2 last-layer word vectors, "
               "openSMILE); not the paper's SDK "
               "features")


def test_every_registered_output_written(study):
    """Each output ``outputs.OUTPUTS`` gives notebooks 01 and 05 is on disk under its name."""
    folders = {"figures": study / FIG, "study": study / "runs" / "smoke" / "01_preprocess"}
    outs = of_notebook("01_preprocess") + of_notebook("05_results")
    assert len(outs) == 9
    for o in outs:
        for f in o.files:
            assert (folders[o.where] / f).stat().st_size > 0, f
    manifest = read_manifest(study / FIG / "05_results.manifest.json")
    assert manifest["study"] == "smoke"
    assert set(manifest["files"]) == {f for o in of_notebook("05_results") for f in o.files}
    assert not list((study / FIG).glob(".*staging"))  # the set was put in place


def test_smoke_outputs_say_smoke_and_the_cli_ends_with_the_table(study):
    assert not (study / "figures").exists()  # never over the real figures
    for name in FIGURES:
        assert json.loads((study / FIG / f"{name}.json").read_text())["smoke"] is True
    assert (study / FIG / "05_comparison_table.md").read_text().startswith("Table: SMOKE")
    out = (study / "stdout.txt").read_text().splitlines()
    head = [i for i, line in enumerate(out) if line.startswith("Study smoke · ")]
    assert head, out[-20:]
    assert out[head[-1] + 1].startswith("Model") and "Acc-2 has0" in out[head[-1] + 1]
    assert any(line.startswith("Transformer + DEC (40%)") for line in out[head[-1]:])
    assert out[-1].startswith("full table: ") and out[-1].endswith("05_comparison_table.tex")


def test_figures_written_and_name_the_real_data(study):
    for name in FIGURES:
        for ext in ("png", "pdf"):
            assert (study / FIG / f"{name}.{ext}").stat().st_size > 10_000, (name, ext)
        meta = json.loads((study / FIG / f"{name}.json").read_text())
        assert meta["synthetic"] is False and meta["runs"], name
        assert meta["data"] == DESCRIPTION, name


def test_comparison_table_measured_rows(study):
    md = (study / FIG / "05_comparison_table.md").read_text()
    assert "SYNTHETIC" not in md and DESCRIPTION in md.splitlines()[0]
    table = pd.read_csv(study / FIG / "05_comparison_table.csv", dtype=str)
    assert set(table["Source"].dropna()) - {"measured: " + DESCRIPTION} == {
        "reported in the paper, Table 1", "reported in the paper, Table 1 (quoted from the "
        "original publication)"}
    measured = table[table["Source"] == "measured: " + DESCRIPTION]
    ref = measured[measured["Model"].str.contains("logistic regression", case=False)]
    assert set(ref["Model"]) == {f"{m} ({lab})" for lab in ("40%", "all labels") for m in (
        "Logistic regression, mean-pooled", "Logistic regression, mean word vectors",
        "TF-IDF 1-2 grams + logistic regression")}
    # deterministic, fitted once per seed's labeled draw (data.draw=seed; 02 fits seed 1's)
    assert ref["Seeds"].eq("2 (0,1)").all()
    measured = measured.drop(ref.index)
    assert set(measured["Model"]) == {
        "Transformer (40%)", "Transformer + DEC (40%)", "Transformer (all labels)",
        "Transformer + DEC (all labels; DEC pretrained with 40%)"}
    # the quick profile's standard protocol: 40% of the 1284 training-fold segments labeled,
    # the checkpoint chosen on the 229 validation-fold segments
    by_model = measured.set_index("Model")
    assert by_model.loc["Transformer (40%)", "Labels (train + selection)"] == (
        "514 + 229 = 34% of 2199")
    assert by_model.loc["Transformer + DEC (40%)", "Pretraining"].startswith(
        "DEC on all segments (transductive")
    assert by_model.loc["Transformer (40%)", "Pretraining"] == "-"
    for value in measured["Acc-2 has0"]:  # "mean ± std" over the two seeds
        mean, std = (float(v) for v in value.split(" ± "))
        assert 0.0 <= mean <= 100.0 and std >= 0.0
    assert measured["Seeds"].eq("2 (0,1)").all()
    assert measured["95% CI has0"].str.match(r"^\[-?\d+\.\d\d, -?\d+\.\d\d\]$").all()
    assert table["Acc-2 reported"].dropna().tolist()[-3:] == ["73.14", "75.86", "81.50"]


def test_paired_tests_table(study):
    table = pd.read_csv(study / FIG / "05_paired_tests.csv")
    assert len(table) == 4  # 2 comparisons x 2 metrics
    assert (table["n"] == 2).all() and table["seeds"].astype(str).eq("0,1").all()
    assert table["mean_diff"].notna().all() and not table["synthetic"].any()
    md = (study / FIG / "05_paired_tests.md").read_text()
    assert "SYNTHETIC" not in md and DESCRIPTION in md.splitlines()[0]


def test_run_metrics_are_finite(study):
    files = sorted((study / "runs" / "smoke").glob("*/metrics.json"))
    kinds = [json.loads(f.read_text())["kind"] for f in files]
    # 8 transformers; 3 references x 2 label conditions x 2 seeds' draws
    assert sorted(kinds) == ["classifier"] * 20 + ["dec"] * 2
    for f in files:
        m = json.loads(f.read_text())
        assert m["synthetic"] is False and m["modalities"] == ["text", "audio"]
        if m["kind"] == "classifier":
            assert m["data_description"] == DESCRIPTION
            assert all(math.isfinite(m["report"][k]) for k in ("acc_has0", "f1_has0"))


def test_dec_cluster_table(study):
    table = pd.read_csv(study / FIG / "05_dec_clusters.csv")
    assert len(table) == 2 and sorted(table["seed"]) == [0, 1]  # one DEC run per seed
    assert (table["n_rows"] == 2199).all() and table["stage2_epochs_run"].between(1, 2).all()
    assert table["acc_all"].between(0.5, 1.0).all()  # Hungarian accuracy of 2 clusters >= 0.5
