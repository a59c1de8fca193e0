"""Tests for ``mosi_lib.study.pipeline``: executing notebooks, alone or as a group."""

import os
import time
from pathlib import Path

import pytest

from mosi_lib import paths
from mosi_lib.study import pipeline


def test_a_failing_notebook_is_one_line_naming_it_and_its_copy(tmp_path, monkeypatch):
    import papermill as pm

    def fail(src, out, **kwargs):
        raise pm.PapermillExecutionError(cell_index=3, exec_count=4, source="prepare_data()",
                                         ename="ValueError", evalue="segments dropped: 30 of 150",
                                         traceback=["..."])

    monkeypatch.setattr(pm, "execute_notebook", fail)
    with pytest.raises(SystemExit) as exc:
        pipeline.run_notebooks(("01_preprocess",), {"run_id": "x"}, out_dir=tmp_path)
    msg = str(exc.value.code)
    assert msg == (f"python -m mosi_lib: 01_preprocess failed in cell 4: ValueError: segments "
                   f"dropped: 30 of 150 (executed copy with the traceback: "
                   f"{tmp_path / '01_preprocess.failed.ipynb'})")


def test_stages_run_every_notebook_once_in_order():
    on_disk = sorted(p.stem for p in paths.NOTEBOOKS_DIR.glob("0[1-5]_*.ipynb"))
    assert list(pipeline.NOTEBOOKS) == on_disk


def test_a_group_runs_at_the_same_time_with_shared_threads(tmp_path, monkeypatch):
    import threading

    import papermill as pm

    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    monkeypatch.setattr(os, "cpu_count", lambda: 4)
    both = threading.Barrier(2, timeout=10)  # each call waits for the other: they overlap
    seen = {}

    def fake(src, out, **kwargs):
        seen[Path(src).stem] = os.environ.get("OMP_NUM_THREADS")
        if Path(src).stem != "01_preprocess":
            both.wait()
        Path(out).write_text("{}")

    monkeypatch.setattr(pm, "execute_notebook", fake)
    got = pipeline.run_notebooks(("01_preprocess", ("02_baseline", "03_dec_pretrain")),
                            {"run_id": "x"}, out_dir=tmp_path)
    assert [p.name for p in got] == ["01_preprocess.ipynb", "02_baseline.ipynb",
                                     "03_dec_pretrain.ipynb"]
    assert seen == {"01_preprocess": None, "02_baseline": "2", "03_dec_pretrain": "2"}
    assert "OMP_NUM_THREADS" not in os.environ  # restored


def test_a_failing_notebook_of_a_group_lets_the_other_finish(tmp_path, monkeypatch):
    import papermill as pm

    finished = []

    def fake(src, out, **kwargs):
        if Path(src).stem == "02_baseline":
            raise pm.PapermillExecutionError(cell_index=1, exec_count=2, source="x",
                                             ename="RuntimeError", evalue="boom",
                                             traceback=[])
        time.sleep(0.2)
        finished.append(Path(src).stem)

    monkeypatch.setattr(pm, "execute_notebook", fake)
    with pytest.raises(SystemExit, match="02_baseline failed in cell 2: RuntimeError: boom"):
        pipeline.run_notebooks((("02_baseline", "03_dec_pretrain"),), {"run_id": "x"},
                          out_dir=tmp_path)
    assert finished == ["03_dec_pretrain"]
