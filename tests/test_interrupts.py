"""Safe to interrupt, safe to run twice: real CLI processes, real kernels, real worker pools.

Each test starts ``python -m mosi_lib reproduce`` on the synthetic demo in its own session (as a
terminal would: Ctrl-C reaches the whole process group) and waits until 02 + 03 train.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest

pytestmark = pytest.mark.slow  # papermill / subprocess studies: `make test-fast` leaves them out

ROOT = Path(__file__).resolve().parents[1]
ARGS = ("reproduce", "--source", "synthetic", "--run-id", "study", "--set",
        "train.epochs=400", "dec.stage1_epochs=400")  # long enough to be stopped mid-training


def _env(base: Path) -> dict:
    return {**os.environ, "MOSI_RUNS_DIR": str(base / "runs"),
            "MOSI_FIGURES_DIR": str(base / "figures"), "MOSI_DATA_DIR": str(base / "data")}


def _start(base: Path) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "mosi_lib", *ARGS], cwd=ROOT, env=_env(base),
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            start_new_session=True)


def _states(base: Path) -> dict[str, str]:
    out = {}
    for f in (base / "runs" / "study").glob("*/status.json"):
        try:
            out[f.parent.name] = json.loads(f.read_text())["state"]
        except (OSError, ValueError, KeyError):
            out[f.parent.name] = "?"
    return out


def _wait_training(base: Path, proc: subprocess.Popen, n: int = 2, timeout: float = 240) -> None:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if list(_states(base).values()).count("running") >= n:
            time.sleep(2)  # well inside the epoch loops
            return
        assert proc.poll() is None, proc.stdout.read()
        time.sleep(0.5)
    pytest.fail(f"no {n} runs training after {timeout} s: {_states(base)}")


def _session(sid: int) -> list[psutil.Process]:
    out = []
    for p in psutil.process_iter():
        try:
            if os.getsid(p.pid) == sid and p.status() != psutil.STATUS_ZOMBIE:
                out.append(p)
        except (ProcessLookupError, psutil.Error):
            pass
    return out


def _tree(pid: int) -> list[psutil.Process]:
    """The process and everything below it. Kernels run in sessions of their own
    (jupyter_client starts them with ``start_new_session``), so a session does not find them."""
    root = psutil.Process(pid)
    return [root, *root.children(recursive=True)]


def _alive(procs: list[psutil.Process]) -> list[psutil.Process]:
    out = []
    for p in procs:
        try:
            if p.is_running() and p.status() != psutil.STATUS_ZOMBIE:
                out.append(p)
        except psutil.Error:
            pass
    return out


def _wait_gone(procs: list[psutil.Process], timeout: float) -> list[psutil.Process]:
    end = time.monotonic() + timeout
    while _alive(procs) and time.monotonic() < end:
        time.sleep(0.25)
    return _alive(procs)


def _cleanup(sid: int, procs: list[psutil.Process] = ()) -> None:
    for p in [*_session(sid), *procs]:
        try:
            p.kill()
        except psutil.Error:
            pass


def test_ctrl_c_during_02_and_03_stops_fast_and_marks_the_runs(tmp_path):
    proc = _start(tmp_path)
    sid = proc.pid
    try:
        _wait_training(tmp_path, proc)
        tree = _tree(proc.pid)
        assert len(tree) >= 3  # the CLI and the kernels of 02 and 03
        t0 = time.monotonic()
        os.killpg(sid, signal.SIGINT)  # what Ctrl-C in a terminal does
        rest, _ = proc.communicate(timeout=30)
        took = time.monotonic() - t0
        assert proc.returncode == 130, rest
        assert took <= 15, f"{took:.1f} s"
        after = rest.splitlines()[-5:]
        tail = [ln for ln in rest.splitlines() if "interrupted" in ln]
        assert tail and "resume with: python -m mosi_lib reproduce" in tail[-1], rest
        assert "Traceback" not in rest, rest
        assert after[-1] == tail[-1]
        assert _wait_gone(tree, 1) == [], [p.cmdline() for p in _alive(tree)]
        states = _states(tmp_path)
        assert "running" not in states.values(), states
        assert "interrupted" in states.values(), states
    finally:
        _cleanup(sid, tree if "tree" in locals() else ())


def test_a_second_process_on_the_same_study_refuses_and_kill_9_leaves_no_worker(tmp_path):
    first = _start(tmp_path)
    sid = first.pid
    try:
        _wait_training(tmp_path, first)
        t0 = time.monotonic()
        second = subprocess.run([sys.executable, "-m", "mosi_lib", *ARGS], cwd=ROOT,
                                env=_env(tmp_path), capture_output=True, text=True,
                                timeout=60)
        assert second.returncode != 0
        assert time.monotonic() - t0 <= 20
        assert f"is in use by pid {first.pid} on host" in second.stderr, second.stderr
        tree = _tree(first.pid)
        os.kill(first.pid, signal.SIGKILL)  # the CLI only: its kernels and workers stay
        first.wait(timeout=10)
        # the kernels notice within about 2 s, then stop their workers
        assert _wait_gone(tree, 12) == [], [p.cmdline() for p in _alive(tree)]
        left = [k for k, v in _states(tmp_path).items() if v == "running"]
        again = _start(tmp_path)  # the next start names the runs left running as stale
        try:
            seen = []  # the stale line, if any, comes before the first notebook's
            while not seen or "01_preprocess" not in seen[-1]:
                seen.append(again.stdout.readline())
                assert seen[-1] or again.poll() is None, seen
            line = next((ln for ln in seen if "stale" in ln), "")
            again_tree = _tree(again.pid)
            os.killpg(again.pid, signal.SIGINT)
            again.communicate(timeout=30)
            assert again.returncode == 130
            assert _wait_gone(again_tree, 5) == []
        finally:
            _cleanup(again.pid, again_tree if "again_tree" in locals() else ())
        if left:  # (a kernel may still mark its own run as it dies: count at most len(left))
            assert "run(s) marked running by a process that is gone" in line, line
            assert int(line.split(": ", 1)[1].split(" run(s)")[0]) <= len(left), line
        states = _states(tmp_path)
        assert all(states[k] == "interrupted" for k in left), ({k: states[k] for k in left}, line)
    finally:
        _cleanup(sid, tree if "tree" in locals() else ())


def test_a_lock_whose_process_is_gone_is_taken_over(tmp_path):
    from mosi_lib.study import studies

    study = tmp_path / "s"
    study.mkdir()
    (study / studies.HOLDER_FILE).write_text(json.dumps({"pid": 999999, "host": "x",
                                                        "started": "then"}))
    code = ("import sys; from mosi_lib.study import studies; l = studies.StudyLock(sys.argv[1]); "
            "l.acquire(); print(l.took_over['pid']); sys.stdout.flush(); input()")
    holder = subprocess.Popen([sys.executable, "-c", code, str(study)], cwd=ROOT,
                              stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        said = holder.stdout.readline()
        assert said.endswith("took over the lock of pid 999999 on host x since then (?), which "
                             "no longer holds it (a process of another host)\n"), said
        assert holder.stdout.readline().strip() == "999999"
        assert studies.held_by(study)["pid"] == holder.pid  # a live holder, seen from here
        with pytest.raises(studies.StudyLocked, match=f"in use by pid {holder.pid} on host"):
            studies.StudyLock(study).acquire()
    finally:
        holder.kill()
        holder.wait()
    assert studies.held_by(study) is None  # the OS let go of it with the process


def test_05_and_figures_on_an_empty_runs_folder_write_nothing(tmp_path, monkeypatch):
    import papermill as pm

    from mosi_lib import paths

    (tmp_path / "runs").mkdir()
    for k, v in _env(tmp_path).items():
        monkeypatch.setenv(k, v)
    out = tmp_path / "05.ipynb"
    with pytest.raises(pm.PapermillExecutionError, match="no main study under"):
        pm.execute_notebook(str(paths.NOTEBOOKS_DIR / "05_results.ipynb"), str(out),
                            kernel_name="python3", cwd=str(paths.NOTEBOOKS_DIR),
                            progress_bar=False)
    figures = subprocess.run([sys.executable, "-m", "mosi_lib", "figures"], cwd=ROOT,
                             env=_env(tmp_path), capture_output=True, text=True, timeout=120)
    assert figures.returncode == 2 and "no study under" in figures.stderr
    assert list((tmp_path / "runs").iterdir()) == []
    assert not (tmp_path / "figures").exists() or not any((tmp_path / "figures").iterdir())


POOL = """
import copy, signal, sys
signal.signal(signal.SIGINT, signal.default_int_handler)  # as a kernel's cell has it
from mosi_lib import config
from mosi_lib.data.preprocess import prepare_data
from mosi_lib.config import apply_overrides
from mosi_lib.study.classifier_runs import train_classifier
from mosi_lib.study.execution import in_workers
cfg = config.load_config("quick.yaml", {"data.source": "synthetic", "train.epochs": 2000,
                                        "data.modalities": ["text", "audio", "visual"]})
data = prepare_data(cfg.data)
jobs = [(apply_overrides(copy.deepcopy(cfg), {"system.seed": s}),
         {"root": sys.argv[1], "run_id": f"r{s}"}) for s in (0, 1)]
try:
    in_workers(train_classifier, jobs, data, 2)
except KeyboardInterrupt:
    print("stopped", flush=True)
    sys.exit(130)
"""


@pytest.mark.parametrize("how", ["ctrl-c", "kill -9 of the parent"])
def test_a_worker_pool_stops_with_its_parent(tmp_path, how):
    root = tmp_path / "runs" / "study"
    root.mkdir(parents=True)
    proc = subprocess.Popen([sys.executable, "-c", POOL, str(root)], cwd=ROOT, env=_env(tmp_path),
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            start_new_session=True)
    sid = proc.pid
    try:
        _wait_training(tmp_path, proc)
        tree = _tree(proc.pid)
        assert len(tree) >= 3  # the parent and its two workers
        t0 = time.monotonic()
        if how == "ctrl-c":
            os.killpg(sid, signal.SIGINT)
            out, _ = proc.communicate(timeout=30)
            assert proc.returncode == 130 and out.strip().splitlines()[-1] == "stopped", out
            assert "Traceback" not in out, out  # the workers leave Ctrl-C to their parent
        else:
            os.kill(proc.pid, signal.SIGKILL)
            proc.wait(timeout=10)
        assert _wait_gone(tree, 10 - (time.monotonic() - t0)) == [], \
            [p.cmdline() for p in _alive(tree)]
        assert set(_states(tmp_path).values()) == {"interrupted"}, _states(tmp_path)
    finally:
        _cleanup(sid, tree if "tree" in locals() else ())
