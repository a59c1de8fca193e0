"""Tests for ``mosi_lib.study.studies`` and the run states it writes (in this process)."""

import json
import os
import subprocess
import sys

import numpy as np
import pytest

from mosi_lib import runs
from mosi_lib.config import DataConfig
from mosi_lib.data import preprocess
from mosi_lib.files import timestamp
from mosi_lib.study import studies


def _run(tmp_path, name="r1", **status):
    path = tmp_path / name
    path.mkdir()
    (path / "status.json").write_text(json.dumps({"state": "running", **status}))
    return runs.Run(path)


def test_a_running_run_whose_process_is_gone_is_swept_as_interrupted(tmp_path):
    gone = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                          capture_output=True, text=True).stdout.strip()
    import platform

    dead = _run(tmp_path, "dead", pid=int(gone), host=platform.node())
    alive = _run(tmp_path, "alive", pid=os.getpid(), host=platform.node())
    other = _run(tmp_path, "other_host", pid=int(gone), host="another-machine")
    assert studies.sweep_stale(tmp_path) == ["dead"]
    assert dead.status() == "interrupted"
    assert "its process is gone (pid" in dead.status_info()["error"]
    assert alive.status() == "running" and other.status() == "running"


def test_runs_in_flight_are_marked_interrupted_once(tmp_path):
    run = _run(tmp_path)
    studies.track(run)
    assert studies.mark_in_flight_interrupted("test") == 1
    assert run.status() == "interrupted"
    assert studies.mark_in_flight_interrupted("test") == 0
    assert run.status() not in [r.status() for r in runs.find_runs(tmp_path)]


def test_the_lock_is_exclusive_and_released(tmp_path):
    with studies.StudyLock(tmp_path, command="cmd"):
        holder = json.loads((tmp_path / studies.HOLDER_FILE).read_text())
        assert holder["pid"] == os.getpid() and holder["command"] == "cmd"
    assert not (tmp_path / studies.HOLDER_FILE).exists()
    assert studies.held_by(tmp_path) is None


def test_a_lock_taken_over_says_gone_only_of_a_gone_process(tmp_path, capsys):
    """Issue 37: a lock.json whose pid is alive (pid 1, a reused pid) does not hold the OS
    lock; the takeover says so instead of calling that process gone."""
    import platform

    gone = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                          capture_output=True, text=True).stdout.strip()
    for pid, host, said in ((int(gone), platform.node(), "which is gone"),
                            (os.getppid(), platform.node(),
                             f"which no longer holds it (pid {os.getppid()} is alive but does "
                             "not hold the lock: a reused pid or a copied lock.json)"),
                            (int(gone), "another-machine",
                             "which no longer holds it (a process of another host)")):
        study = tmp_path / f"s{pid}{host}"
        study.mkdir()
        (study / studies.HOLDER_FILE).write_text(json.dumps(
            {"pid": pid, "host": host, "started": "then", "command": "c"}))
        with studies.StudyLock(study):
            pass
        out = capsys.readouterr().out
        assert out == (f"study {study}: took over the lock of pid {pid} on host {host} since "
                       f"then (c), {said}\n"), out


def test_a_draw_without_two_labels_of_each_class_is_refused():
    labels = np.array([1.0, -1.0] * 10)
    video = np.array(["v"] * 20)
    cfg = DataConfig(protocol="paper", labeled_fraction=0.1, split_seed=0)
    with pytest.raises(ValueError, match=r"data.labeled_fraction=0.1: the labeled training rows "
                       r"hold 1 positive and 1 negative segments \(protocol paper"):
        preprocess.make_splits(labels, video, cfg)
    labels, video = np.array([1.0, -1.0] * 20), np.array(["v"] * 40)
    split, pool = preprocess.make_splits(labels, video, DataConfig(protocol="paper",
                                                               labeled_fraction=0.5))
    assert ((split == "train") & (pool == "labeled")).sum() == 16  # 8 + 8; valid 2 + 2


def test_a_finished_run_with_missing_or_truncated_metrics_is_named_and_counted(tmp_path, capsys):
    from mosi_lib.report import collect

    for name in ("lost", "cut"):
        path = tmp_path / name
        path.mkdir()
        (path / "status.json").write_text(json.dumps({"state": "finished"}))
    (tmp_path / "cut" / "metrics.json").write_text('{"report": {"acc_')
    df = collect.collect_runs(tmp_path)
    out = capsys.readouterr().out
    assert f"run lost left out, its results cannot be read: {tmp_path / 'lost'}/metrics.json: " \
           "missing" in out
    assert f"run cut left out, its results cannot be read: {tmp_path / 'cut'}/metrics.json: not " \
           "readable as JSON" in out
    assert "2 finished run(s) left out for missing or unreadable metrics.json" in out
    assert set(df.attrs["left_out"]) == {"lost", "cut"} and len(df) == 0
    with pytest.raises(ValueError, match="cut/metrics.json: not readable as JSON"):
        runs.Run(tmp_path / "cut").metrics()


def test_left_out_runs_stay_table_rows_and_the_footnote_counts_them(tmp_path, capsys):
    from mosi_lib.report import collect, outputs, tables
    from mosi_lib.tests.fake_runs import classifier_metrics, write_run

    for s in (0, 1):
        write_run(tmp_path, f"ok{s}", classifier_metrics(s))
    (tmp_path / "cut").mkdir()
    (tmp_path / "cut" / "status.json").write_text(json.dumps({"state": "finished"}))
    (tmp_path / "cut" / "metrics.json").write_text('{"report": {"acc_')
    df = collect.collect_runs(tmp_path)
    table = tables.comparison_table(df, include_literature=False)
    assert table["Model"].tolist()[-1] == "left out: run cut"
    assert "cut/metrics.json: not readable as JSON" in table["Source"].tolist()[-1]
    assert table["Seeds"].tolist()[0].startswith("2 ")  # the readable runs' mean is kept
    for frame, stem in ((table, "t"), (tables.summary_table(df, ["init"]), "s"),
                        (tables.paired_table(df), "p")):
        md = outputs.save_table(frame, stem, tmp_path / "out", caption="c")[f"{stem}.md"]
        text = md.read_text()
        assert text.splitlines()[0].endswith(" 1 run(s) left out (footnote).")
        assert "Left out: 1 run(s) not counted in this table (cut: " in text
    read = df.copy()
    read.attrs = {}
    clean = tables.comparison_table(read, include_literature=False)
    assert len(clean) == 1
    md = outputs.save_table(clean, "clean", tmp_path / "out", caption="c")["clean.md"]
    assert "left out" not in md.read_text().lower()


@pytest.mark.parametrize("damage,why", [
    ("no_config", "ok1/config.yaml: missing"),
    ("bad_config", "ok1/config.yaml: not readable as YAML (line 1: "),
    ("bad_status", "ok1/status.json: unreadable, state unknown"),
])
def test_a_damaged_run_folder_is_a_named_left_out_row_not_a_crash(tmp_path, damage, why):
    """C10b: a finished run without (or with a damaged) config.yaml or status.json is left out
    of the report with its file and reason, and a resume trains it again (no recipe)."""
    from mosi_lib.report import collect, tables
    from mosi_lib.tests.fake_runs import classifier_metrics, write_run

    for s in (0, 1, 2):
        write_run(tmp_path, f"ok{s}", classifier_metrics(s))
    if damage == "no_config":
        (tmp_path / "ok1" / "config.yaml").unlink()
    elif damage == "bad_config":
        (tmp_path / "ok1" / "config.yaml").write_text("data: [")
    else:
        (tmp_path / "ok1" / "status.json").write_text("{")
    df = collect.collect_runs(tmp_path)
    assert sorted(df["run_id"]) == ["ok0", "ok2"]
    assert why in collect.left_out(df)["ok1"]
    table = tables.comparison_table(df, include_literature=False)
    assert table["Model"].tolist()[-1] == "left out: run ok1"
    assert runs.Run(tmp_path / "ok1").recipe() is None or damage == "bad_status"


def test_the_feature_cache_key_follows_content_not_size_and_mtime(tmp_path):
    from mosi_lib.data import preprocess

    f = tmp_path / "labels.csv"
    f.write_text("a,1\nb,2\n")
    st = f.stat()
    key = preprocess.cache_key(DataConfig(), [f])
    f.write_text("a,2\nb,1\n")  # same size
    os.utime(f, ns=(st.st_atime_ns, st.st_mtime_ns))  # same modification time
    assert f.stat().st_size == st.st_size and f.stat().st_mtime_ns == st.st_mtime_ns
    assert preprocess.cache_key(DataConfig(), [f]) != key
    with pytest.raises(FileNotFoundError, match="gone.csv: data file not found"):
        preprocess.cache_key(DataConfig(), [tmp_path / "gone.csv"])


def test_a_config_file_with_a_yaml_error_or_bad_bytes_is_one_line_naming_it(tmp_path):
    from mosi_lib import config

    bad = tmp_path / "bad.yaml"
    bad.write_text("train:\n  lr: [1e-4\n")
    with pytest.raises(ValueError, match=r"config file .*bad.yaml line \d+, column \d+: not valid "
                       r"YAML"):
        config.load_config(str(bad))
    bad.write_bytes(b"train:\n  lr: \xff\n")
    with pytest.raises(ValueError, match="bad.yaml: not UTF-8 text"):
        config.load_config(str(bad))


def test_non_utf8_transcripts_are_named(tmp_path):
    from mosi_lib.data import text_audio

    (tmp_path / text_audio.TRANSCRIPTS_FILE).write_bytes(
        b"segment_id,video_id,clip_id,text\nv_1,v,1,caf\xe9\n")
    with pytest.raises(ValueError, match=rf"{text_audio.TRANSCRIPTS_FILE}: not UTF-8 text .* "
                       "expected a UTF-8 CSV"):
        text_audio.read_transcripts(tmp_path)


def test_interrupted_since_counts_the_runs_this_command_stopped(tmp_path):
    _run(tmp_path, "old", state="interrupted", interrupted="2026-01-01T00:00:00+0000")
    new = _run(tmp_path, "new")
    since = timestamp()
    new.mark_interrupted("Ctrl-C")
    assert studies.interrupted_since(tmp_path, since) == ["new"]
