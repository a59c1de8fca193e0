"""Tests for the command line (``python -m mosi_lib``): bad input is refused before any work."""

import os
import time
from pathlib import Path

import pytest
import torch

from mosi_lib import __main__ as cli
from mosi_lib import paths
from mosi_lib.data.csd import CSD_FILES


@pytest.fixture
def notebooks(monkeypatch):
    """Record ``run_notebooks`` calls instead of starting papermill."""
    calls = []
    monkeypatch.setattr(cli, "run_notebooks", lambda names, params, **kw: calls.append(
        (names, params)) or [])  # fmt: skip
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
                     "--set", "dec.stage2_epochs=0", "train.batch_size=2"]) == 0  # fmt: skip
    assert [names for names, _ in notebooks] == [cli.STAGES]
    assert notebooks[0][1]["overrides"]["train.batch_size"] == 2
    assert (paths.runs_dir() / "ok").is_dir()


def test_a_failing_notebook_is_one_line_naming_it_and_its_copy(tmp_path, monkeypatch):
    import papermill as pm

    def fail(src, out, **kwargs):
        raise pm.PapermillExecutionError(cell_index=3, exec_count=4, source="prepare_data()",
                                         ename="ValueError", evalue="segments dropped: 30 of 150",
                                         traceback=["..."])  # fmt: skip

    monkeypatch.setattr(pm, "execute_notebook", fail)
    with pytest.raises(SystemExit) as exc:
        cli.run_notebooks(("01_preprocess",), {"run_id": "x"}, out_dir=tmp_path)
    msg = str(exc.value.code)
    assert msg == (f"python -m mosi_lib: 01_preprocess failed in cell 4: ValueError: segments "
                   f"dropped: 30 of 150 (executed copy with the traceback: "
                   f"{tmp_path / '01_preprocess.failed.ipynb'})")  # fmt: skip


def test_stages_run_every_notebook_once_in_order():
    on_disk = sorted(p.stem for p in paths.NOTEBOOKS_DIR.glob("0[1-5]_*.ipynb"))
    assert list(cli.NOTEBOOKS) == on_disk


def test_a_group_runs_at_the_same_time_with_shared_threads(tmp_path, monkeypatch):
    import threading

    import papermill as pm

    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    monkeypatch.setattr(cli.os, "cpu_count", lambda: 4)
    both = threading.Barrier(2, timeout=10)  # each call waits for the other: they overlap
    seen = {}

    def fake(src, out, **kwargs):
        seen[Path(src).stem] = os.environ.get("OMP_NUM_THREADS")
        if Path(src).stem != "01_preprocess":
            both.wait()
        Path(out).write_text("{}")

    monkeypatch.setattr(pm, "execute_notebook", fake)
    got = cli.run_notebooks(("01_preprocess", ("02_baseline", "03_dec_pretrain")),
                            {"run_id": "x"}, out_dir=tmp_path)  # fmt: skip
    assert [p.name for p in got] == ["01_preprocess.ipynb", "02_baseline.ipynb",
                                     "03_dec_pretrain.ipynb"]  # fmt: skip
    assert seen == {"01_preprocess": None, "02_baseline": "2", "03_dec_pretrain": "2"}
    assert "OMP_NUM_THREADS" not in os.environ  # restored


def test_a_failing_notebook_of_a_group_lets_the_other_finish(tmp_path, monkeypatch):
    import papermill as pm

    finished = []

    def fake(src, out, **kwargs):
        if Path(src).stem == "02_baseline":
            raise pm.PapermillExecutionError(cell_index=1, exec_count=2, source="x",
                                             ename="RuntimeError", evalue="boom",
                                             traceback=[])  # fmt: skip
        time.sleep(0.2)
        finished.append(Path(src).stem)

    monkeypatch.setattr(pm, "execute_notebook", fake)
    with pytest.raises(SystemExit, match="02_baseline failed in cell 2: RuntimeError: boom"):
        cli.run_notebooks((("02_baseline", "03_dec_pretrain"),), {"run_id": "x"},
                          out_dir=tmp_path)  # fmt: skip
    assert finished == ["03_dec_pretrain"]


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
])  # fmt: skip
def test_preflight_refuses_before_any_folder(argv, expected, notebooks, capsys):
    assert expected in _refused(argv, capsys)
    assert notebooks == [] and _no_study_folder()


def test_a_second_process_on_a_locked_study_is_refused_naming_the_holder(notebooks, capsys):
    from mosi_lib.study import guard

    study = paths.runs_dir() / "held"
    study.mkdir(parents=True)
    with guard.StudyLock(study, command="python -m mosi_lib reproduce --run-id held"):
        line = _refused(["reproduce", "--run-id", "held"], capsys)
    assert f"study {study} is in use by pid {os.getpid()} on host" in line
    assert "(python -m mosi_lib reproduce --run-id held)" in line
    assert notebooks == []
    assert not (study / guard.HOLDER_FILE).exists()  # released with its holder
    cli.main(["reproduce", "--run-id", "held"])  # free again: runs
    assert len(notebooks) == 1
