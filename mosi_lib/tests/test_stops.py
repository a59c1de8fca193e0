"""A study stopped by its surroundings: a dead kernel, a full disk, a read-only folder.

Each becomes one line naming the notebook or folder and the cause, the runs left ``running``
are marked ``interrupted``, and the line ends with the command that resumes the study, as after
Ctrl-C (``docs/reliability.md``). Papermill is replaced by a stand-in that fails as the real
one does, so no kernel starts.
"""

import errno
import json
import logging

import papermill
import pytest
from nbclient.exceptions import DeadKernelError
from papermill.exceptions import PapermillExecutionError

from mosi_lib import __main__ as cli
from mosi_lib import paths
from mosi_lib.study import studies

GONE_PID = 2**22 + 12345  # above Linux's pid_max: never a live process
ARGV = ["reproduce", "--smoke", "--source", "synthetic", "--run-id", "x"]


@pytest.fixture
def stopped_by(monkeypatch):
    """Make the first notebook leave a run ``running`` (its kernel's), then raise ``exc``."""

    def arm(exc: BaseException):
        def execute(src, out, **kw):
            run = paths.runs_dir() / kw["parameters"]["run_id"] / "r_s0"
            run.mkdir(parents=True)
            (run / "status.json").write_text(json.dumps(
                {"state": "running", "pid": GONE_PID, "host": None}))
            raise exc

        monkeypatch.setattr(papermill, "execute_notebook", execute)
        monkeypatch.setattr(studies, "stop_children", lambda grace_s=5.0: [])  # not pytest's

    yield arm
    logging.disable(logging.NOTSET)  # HeldStudies.stop quiets logging for the dying process


def _stopped_line(capsys, argv) -> str:
    assert cli.main(argv) == 1
    err = capsys.readouterr().err
    assert "Traceback" not in err
    (line,) = err.strip().splitlines()
    state = json.loads((paths.runs_dir() / "x" / "r_s0" / "status.json").read_text())["state"]
    assert state == "interrupted"
    assert line.endswith(" (1 run(s) in flight marked interrupted) — resume with: "
                         f"python -m mosi_lib {' '.join(argv)}")
    return line


def test_a_dead_kernel_is_one_line_with_the_resume_command(stopped_by, capsys):
    """C04b: kill -9 of a kernel mid-notebook."""
    stopped_by(DeadKernelError("Kernel died"))
    line = _stopped_line(capsys, ARGV)
    assert line.startswith("python -m mosi_lib reproduce: stopped: 01_preprocess stopped: its "
                           "kernel died (Kernel died)")


def test_a_full_runs_folder_in_a_cell_is_one_line_naming_the_file(stopped_by, capsys):
    """C13: disk full while a notebook writes its run."""
    full = "[Errno 28] No space left on device: '/runs/x/r_s0/history.csv'"
    stopped_by(PapermillExecutionError(3, 4, "fit()", "OSError", full, []))
    line = _stopped_line(capsys, ARGV)
    assert line.startswith(f"python -m mosi_lib reproduce: stopped: 01_preprocess stopped in "
                           f"cell 4: OSError: {full} (executed copy with the traceback: ")


def test_a_full_disk_for_the_executed_copy_names_its_folder(stopped_by, capsys):
    """C13: papermill itself cannot write the executed notebook (no file in the error)."""
    stopped_by(OSError(errno.ENOSPC, "No space left on device"))
    line = _stopped_line(capsys, ARGV)
    folder = paths.runs_dir() / "x" / "notebooks"
    assert line.startswith("python -m mosi_lib reproduce: stopped: 01_preprocess stopped: "
                           f"[Errno 28] No space left on device: '{folder}'")


def _full(*args, **kwargs):
    raise OSError(errno.ENOSPC, "No space left on device")  # as a flush reports it: no file


def test_a_full_cache_folder_names_the_cache_file(tmp_path, monkeypatch, raw):
    """C14: the processed-data cache cannot be written; the error names its file."""
    import h5py

    from mosi_lib.config import DataConfig
    from mosi_lib.data import preprocess

    data = preprocess.preprocess(raw, DataConfig(max_len=6))
    monkeypatch.setattr(h5py, "File", _full)
    file = tmp_path / "processed" / "mosi_k.h5"
    with pytest.raises(OSError) as err:
        preprocess.save_processed(data, file)
    assert err.value.errno == errno.ENOSPC
    assert str(err.value) == f"[Errno 28] No space left on device: '{file}'"
    assert list(file.parent.iterdir()) == []  # no temporary file left


def test_a_full_figures_folder_names_the_folder(tmp_path, monkeypatch):
    """C15: a table or figure that cannot be written names its folder or file."""
    import pandas as pd
    from matplotlib.figure import Figure

    from mosi_lib.report import outputs

    monkeypatch.setattr(pd.DataFrame, "to_csv", _full)
    with pytest.raises(OSError, match=rf"^\[Errno 28\] No space left on device: '{tmp_path}'$"):
        outputs.save_table(pd.DataFrame({"a": [1]}), "t", tmp_path, caption="c")
    monkeypatch.setattr(Figure, "savefig", _full)
    with pytest.raises(OSError, match=rf"No space left on device: '{tmp_path / 'f.png'}'$"):
        outputs.save_figure(Figure(), "f", runs=["r"], synthetic=False, out_dir=tmp_path)


def test_a_full_runs_folder_names_the_run_file(tmp_path, monkeypatch):
    """C13: a run's status or history that cannot be written names the file."""
    from pathlib import Path

    from mosi_lib.files import write_text_atomic

    monkeypatch.setattr(Path, "write_text", _full)
    with pytest.raises(OSError, match=rf"No space left on device: '{tmp_path / 's.json'}'$"):
        write_text_atomic(tmp_path / "s.json", "{}")
    assert list(tmp_path.iterdir()) == []


def test_figures_on_a_read_only_runs_folder_is_one_line(monkeypatch, capsys):
    """C11c: the lock file cannot be opened, nor the executed copy written: one line naming
    the folder and the cause, no traceback."""
    import filelock

    from mosi_lib.study import pipeline, studies
    from mosi_lib.tests.fake_runs import classifier_metrics, write_run

    studies.open_study("s1", params={"config_file": "quick.yaml", "overrides": {}, "seed": 0})
    write_run(paths.runs_dir() / "s1", "c_s0", classifier_metrics())
    (paths.runs_dir() / "s1" / studies.LOCK_FILE).write_text("")  # left by an earlier writer
    notebooks = paths.runs_dir() / "s1" / "notebooks"

    def read_only(self, *args, **kwargs):
        raise PermissionError(errno.EROFS, "Read-only file system", self.lock_file)

    def no_mkdir(*args, **kwargs):
        raise OSError(errno.EROFS, "Read-only file system", str(notebooks))

    monkeypatch.setattr(filelock.FileLock, "acquire", read_only)
    assert studies.held_by(paths.runs_dir() / "s1") is None
    monkeypatch.setattr(pipeline.Path, "mkdir", no_mkdir)
    assert cli.main(["figures"]) == 1
    err = capsys.readouterr().err
    assert err.strip() == ("python -m mosi_lib figures: stopped: [Errno 30] Read-only file "
                           f"system: '{notebooks}'")


def test_a_full_disk_still_marks_a_run_interrupted(tmp_path, monkeypatch):
    """C13: the disk that stopped a run is full; its status.json is written in place (its block
    is allocated already), so no run is left ``running``, and no temporary file is kept."""
    from pathlib import Path

    from mosi_lib.runs import Run

    (tmp_path / "status.json").write_text(json.dumps({"state": "running", "pid": GONE_PID}))
    monkeypatch.setattr(Path, "write_text", _full)  # every new file fails, as on a full disk
    run = Run(tmp_path)
    run.mark_interrupted("stopped: disk full")
    assert run.status_info()["state"] == "interrupted"
    assert run.status_info()["error"] == "stopped: disk full"
    assert [p.name for p in tmp_path.iterdir()] == ["status.json"]


def test_a_library_account_of_a_full_disk_is_one_line_naming_the_file(tmp_path, monkeypatch,
                                                                        raw):
    """C14: h5py reports a full disk in several lines of its internals, naming its temporary
    file; the error names the cache file in the errno's words."""
    import h5py

    from mosi_lib.config import DataConfig
    from mosi_lib.data import preprocess

    def h5_full(*args, **kwargs):
        raise OSError(errno.ENOSPC, "Unable to synchronously create file (file write failed: "
                      "time = now\n, filename = '/x/.mosi_k.1-a.tmp', errno = 28, error message"
                      " = 'No space left on device', buf = 0x1)")

    monkeypatch.setattr(h5py, "File", h5_full)
    file = tmp_path / "processed" / "mosi_k.h5"
    with pytest.raises(OSError) as err:
        preprocess.save_processed(preprocess.preprocess(raw, DataConfig(max_len=6)), file)
    assert str(err.value) == f"[Errno 28] No space left on device: '{file}'"
