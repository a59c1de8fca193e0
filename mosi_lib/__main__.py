"""Command line: ``python -m mosi_lib reproduce|study|figures|download``.

``reproduce`` executes notebooks 01..05 headless with papermill into
``runs/<run_id>/notebooks/`` (executed copies with outputs); 05 writes ``figures/``. 02 and 03
do not depend on each other and run at the same time (``STAGES``).
``study`` executes 06_label_sweep and 07_ablations (beyond the paper), each into its own study
folder. ``figures`` re-runs only 05 on an existing study (no training). ``download`` fetches
the SDK's CMU-MOSI ``.csd`` files (``mosi_lib.data.download``).
"""

from __future__ import annotations

import argparse
import copy
import dataclasses
import os
import signal
import sys
import threading
import time
from pathlib import Path
from typing import Any

from mosi_lib import paths
from mosi_lib.config import DATA_SOURCES, PROTOCOLS
from mosi_lib.data.csd import CSD_FILES
from mosi_lib.study import guard

STAGES = ("01_preprocess", ("02_baseline", "03_dec_pretrain"), "04_finetune", "05_results")
"""Notebooks 01..05 in the order ``reproduce`` runs them: a tuple is a group run at the same
time (02 trains the baseline, 03 pretrains DEC; 04 needs 03's run, 05 every run)."""
NOTEBOOKS = tuple(n for item in STAGES for n in (item if isinstance(item, tuple) else (item,)))
"""The notebooks of ``STAGES``, one after the other."""
EXTRA_NOTEBOOKS = ("06_label_sweep", "07_ablations")
STUDY_NOTEBOOKS = {"06_label_sweep": "sweep", "07_ablations": "ablations"}
"""Notebooks of ``study`` -> their study kind (``runs.open_study``)."""
PROFILES = {"quick": "quick.yaml", "paper": "paper.yaml"}


def data_overrides(source: str | None, data_dir: str | None) -> dict:
    """Overrides that select the data (``None``, ``None``: the embedded real text + audio).

    ``data_dir`` without ``source`` means SDK ``.csd`` files. Every source but
    ``mosi_text_audio`` selects all three modalities (``--set data.modalities=...`` narrows).
    """
    out: dict = {}
    if data_dir:
        out["data.data_dir"] = str(Path(data_dir).expanduser().resolve())
        source = source or "csd"
    if source:
        out["data.source"] = source
        if source != "mosi_text_audio":
            out["data.modalities"] = ["text", "audio", "visual"]
    return out


KERNEL_ARGS = ["--IPKernelApp.log_level=ERROR"]
"""Arguments of every kernel the CLI starts. ipykernel logs "Kernel is running over TCP without
encryption" at WARNING for each kernel on this machine; a headless run printed it once per
notebook and nobody could act on it (the kernels listen on localhost only, started by this
process). Kernel errors still print; a notebook's own warnings go to its executed copy."""


def run_notebooks(
    names: tuple[str | tuple[str, ...], ...],
    params: dict,
    *,
    out_dir: Path | None = None,
    log_output: bool = True,
) -> list[Path]:
    """Execute ``names`` in order with papermill; return the executed copies' paths.

    Args:
        names: notebook stems under ``notebooks/``; an item that is a tuple of stems is a group
            executed at the same time, each in its own kernel (``_run_group``).
        params: papermill parameters of every notebook; ``params["run_id"]`` is the study
            folder under the runs dir (01..05 take ``seed``, 06/07 take ``seeds``).
        out_dir: where executed copies go (default ``runs/<run_id>/notebooks``).
        log_output: stream cell output (progress bars, prints) to this terminal (not for a
            group, whose outputs would interleave: they stay in the executed copies).
    """
    out_dir = out_dir or paths.runs_dir() / params["run_id"] / "notebooks"
    out_dir.mkdir(parents=True, exist_ok=True)
    total = sum(len(item) if isinstance(item, tuple) else 1 for item in names)
    done: list[Path] = []
    for item in names:
        group = item if isinstance(item, tuple) else (item,)
        first = len(done) + 1
        if len(group) > 1:
            done += _run_group(group, params, out_dir, first, total)
            continue
        t0 = time.perf_counter()
        print(f"[{first}/{total}] {group[0]} ...", flush=True)
        (out,) = _in_threads(group, params, out_dir, log_output=log_output)
        print(f"[{first}/{total}] {group[0]} done in {time.perf_counter() - t0:.0f} s -> {out}",
              flush=True)  # fmt: skip
        done.append(out)
    return done


def _execute(name: str, params: dict, out_dir: Path, *, log_output: bool) -> Path:
    """One notebook through papermill; a failing cell becomes one line naming the copy.

    The executed copy is written as ``.<name>.running.ipynb`` and moved into place as
    ``<name>.ipynb`` when every cell ran, so a failed or interrupted run never replaces a good
    executed copy: it is kept as ``<name>.failed.ipynb``.
    """
    import papermill as pm

    out = out_dir / f"{name}.ipynb"
    part = out_dir / f".{name}.running.ipynb"
    try:
        pm.execute_notebook(
            str(paths.NOTEBOOKS_DIR / f"{name}.ipynb"), str(part), parameters=params,
            kernel_name="python3", cwd=str(paths.NOTEBOOKS_DIR), log_output=log_output,
            progress_bar=False, extra_arguments=KERNEL_ARGS,
        )  # fmt: skip
    except pm.PapermillExecutionError as exc:  # one line; the traceback is in the copy
        failed = out_dir / f"{name}.failed.ipynb"
        if part.exists():
            os.replace(part, failed)
        raise SystemExit(f"python -m mosi_lib: {name} failed in cell {exc.exec_count}: "
                         f"{exc.ename}: {exc.evalue} (executed copy with the traceback: "
                         f"{failed})") from None
    if part.exists():
        os.replace(part, out)
    return out


def _in_threads(group: tuple[str, ...], params: dict, out_dir: Path, *, log_output: bool,
                first: int = 1, total: int = 1) -> list[Path]:  # fmt: skip
    """Execute ``group``'s notebooks, each in a daemon thread, while this thread stays free.

    The main thread only waits, so Ctrl-C (``KeyboardInterrupt``) reaches it at once, and
    daemon threads never hold the exit (``main`` then stops the kernels). Every notebook runs
    to its end; then the first failure (in group order) is raised.
    """
    t0 = time.perf_counter()
    result: dict[str, Any] = {}

    def target(name: str) -> None:
        try:
            result[name] = _execute(name, params, out_dir, log_output=log_output)
        except BaseException as exc:  # noqa: BLE001 - raised below, in the main thread
            result[name] = exc

    threads = [threading.Thread(target=target, args=(n,), name=f"nb-{n}", daemon=True)
               for n in group]  # fmt: skip
    for t in threads:
        t.start()
    pending = set(group)
    while pending:
        for t, name in zip(threads, group, strict=True):
            if name in pending and not t.is_alive():
                pending.discard(name)
                if len(group) > 1:  # a single notebook's line is its caller's
                    got, i = result.get(name), first + group.index(name)
                    print(f"[{i}/{total}] {name} failed" if isinstance(got, BaseException) else
                          f"[{i}/{total}] {name} done in {time.perf_counter() - t0:.0f} s -> "
                          f"{got}", flush=True)  # fmt: skip
        if pending:
            time.sleep(0.2)
    for name in group:
        if isinstance(result.get(name), BaseException):
            raise result[name]
    return [result[name] for name in group]


def _run_group(group: tuple[str, ...], params: dict, out_dir: Path, first: int,
               total: int) -> list[Path]:  # fmt: skip
    """Execute independent notebooks at the same time, each in its own kernel process.

    The kernels share the CPU cores: unless ``OMP_NUM_THREADS`` is set already, it is set to
    ``cpu_count // len(group)`` (at least 1) for them, so two kernels on a 2-core machine run
    one thread each instead of fighting over the cores (oversubscribed, PyTorch slows down
    many times). A config's ``system.num_threads`` still wins inside a kernel. Every notebook
    of the group runs to its end; then the first failure is raised.
    """
    threads = max(1, (os.cpu_count() or 1) // len(group))
    before = os.environ.get("OMP_NUM_THREADS")
    if before is None:
        os.environ["OMP_NUM_THREADS"] = str(threads)  # read by the kernels as they start
    print(f"[{first}-{first + len(group) - 1}/{total}] {' + '.join(group)} at the same time "
          f"(OMP_NUM_THREADS={os.environ['OMP_NUM_THREADS']} each; cell output in the executed "
          "copies) ...", flush=True)  # fmt: skip
    try:
        return _in_threads(group, params, out_dir, log_output=False, first=first, total=total)
    finally:
        if before is None:
            os.environ.pop("OMP_NUM_THREADS", None)


def figures_params(stored: dict | None, study: Path) -> dict:
    """Papermill parameters of 05_results for ``figures``: the study's own (``study.json``).

    A study written before ``study.json`` stored them falls back to the quick profile, and says
    so.
    """
    if not stored:
        print(f"{study}/study.json holds no config (an older study): re-rendering with the "
              "quick profile", flush=True)  # fmt: skip
        stored = {}
    return {"config_file": stored.get("config_file", PROFILES["quick"]),
            "overrides": stored.get("overrides", {}), "seed": stored.get("seed", 0),
            "smoke": bool(stored.get("smoke", False))}  # fmt: skip


def parse_sets(items: list[str]) -> dict:
    """``--set KEY=VALUE`` items -> overrides (values read as YAML, e.g. ``[text, audio]``).

    Raises:
        ValueError: an item without ``=`` or a value that is not YAML.
    """
    import yaml

    out: dict = {}
    for item in items:
        key, eq, value = item.partition("=")
        if not eq or not key:
            raise ValueError(f"--set {item!r}: expected KEY=VALUE, e.g. train.epochs=50")
        try:
            out[key] = yaml.safe_load(value)
        except yaml.YAMLError as err:
            raise ValueError(f"--set {item!r}: value is not valid YAML ({err})") from None
    return out


def preflight(
    config_file: str,
    overrides: dict,
    *,
    seeds: list[int],
    fractions: list[float] = (),
    protocols: list[str] = (),
    variants: list[str] = (),
    modality_sets: list[str] | None = None,
) -> None:
    """Refuse, before any study folder or notebook, a config the notebooks would fail on.

    Loads the config as the notebooks do (profile, then ``overrides``) and validates it
    (``config.validate``: unknown keys, types, ranges) once per seed (``system.seed``),
    labeled fraction and protocol the notebooks will set; checks that ``system.device`` exists
    on this machine (``system.select_device``), the data paths (``sources.check_data_location``),
    that the runs, figures and cache folders can be written with room to spare
    (``paths.check_writable``) and the ``study`` command's pretraining variants.

    Raises:
        ValueError, KeyError, TypeError, FileNotFoundError: one line naming the field.
    """
    from mosi_lib import config
    from mosi_lib.data.sources import check_data_location
    from mosi_lib.overrides import apply_overrides

    cfg = config.load_config(config_file, overrides)
    for key, values in (("system.seed", seeds), ("data.labeled_fraction", fractions),
                        ("data.protocol", protocols)):  # fmt: skip
        for value in values:
            config.validate(apply_overrides(copy.deepcopy(cfg), {key: value}))
    if cfg.system.device not in ("auto", "cpu"):
        from mosi_lib.train.system import select_device

        select_device(cfg.system.device)
    check_data_location(cfg.data)
    for folder, what in ((paths.runs_dir(), "runs"), (paths.figures_dir(), "figures"),
                         (paths.processed_dir(), "feature cache")):  # fmt: skip
        paths.check_writable(folder, what)
    if cfg.data.source == "mosi_text_audio" and not cfg.data.data_dir:
        _check_draws(cfg, seeds=seeds, fractions=fractions, protocols=protocols)
    if modality_sets:
        from mosi_lib.study.grids import check_modality_sets

        check_modality_sets(modality_sets, cfg)
    if variants:
        from mosi_lib.study.grids import PRETRAIN_VARIANTS

        unknown = [v for v in variants if v not in PRETRAIN_VARIANTS]
        if unknown:
            raise ValueError(f"--variants {unknown}: expected some of {list(PRETRAIN_VARIANTS)}")


def _check_draws(cfg, *, seeds, fractions, protocols) -> None:
    """Every labeled draw the study will make holds enough labels of each class.

    On the embedded data set only, whose labels are read in milliseconds; other sources are
    checked as each notebook reads them (``splits.check_labeled_counts``), still before it trains.
    """
    import numpy as np

    from mosi_lib.data import splits, text_audio

    _, _, video, labels = text_audio.read_labels()
    video = np.asarray(video)
    for protocol in protocols or [cfg.data.protocol]:
        for frac in fractions or [cfg.data.labeled_fraction]:
            for seed in seeds if cfg.data.draw == "seed" else [cfg.data.split_seed]:
                dc = dataclasses.replace(cfg.data, protocol=protocol, labeled_fraction=frac,
                                         split_seed=seed)  # fmt: skip
                splits.make_splits(labels, video, dc)


def main(argv: list[str] | None = None) -> int:
    """Entry point of ``python -m mosi_lib``."""
    ap = argparse.ArgumentParser(prog="python -m mosi_lib", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)  # fmt: skip
    sub = ap.add_subparsers(dest="cmd", required=True)
    rp = sub.add_parser("reproduce", help="run notebooks 01..05 headless (papermill)")
    rp.add_argument("--profile", choices=sorted(PROFILES), default="quick",
                    help="quick: whole chain on 2 CPU cores; paper: the paper's epochs (GPU)")
    rp.add_argument("--data-dir", help="folder (or pickle) of real CMU-MOSI files; "
                    "default: the embedded real text + audio data set")  # fmt: skip
    rp.add_argument("--source", choices=DATA_SOURCES,
                    help="mosi_text_audio (default, embedded real data), synthetic (generated "
                    "three-modality demo), or the layout of --data-dir (default csd)")  # fmt: skip
    rp.add_argument("--run-id", help="study folder name under runs/ (default: time + profile)")
    rp.add_argument("--seed", type=int, default=0)
    rp.add_argument("--seeds", type=int, nargs="+", metavar="SEED",
                    help="run 02..04 once per seed (e.g. --seeds 0 1 2 3 4); 05 then reports "
                    "mean ± std, 95%% CI and paired tests; overrides --seed")  # fmt: skip
    rp.add_argument("--smoke", action="store_true", help="tiny epochs (tests)")
    rp.add_argument("--set", nargs="*", default=[], metavar="KEY=VALUE",
                    help="config overrides, e.g. train.epochs=50 (YAML values)")  # fmt: skip
    sp = sub.add_parser("study", help="run 06_label_sweep and 07_ablations (beyond the paper)")
    sp.add_argument("--profile", choices=sorted(PROFILES), default="quick")
    sp.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2, 3, 4], metavar="SEED")
    grids = "configs/experiments/{sweep,ablations}.yaml"
    sp.add_argument("--fractions", type=float, nargs="+",
                    help=f"labeled fractions of the sweep (default: {grids})")  # fmt: skip
    sp.add_argument("--variants", nargs="+",
                    help=f"pretraining variants of the ablation (default: {grids})")  # fmt: skip
    sp.add_argument("--modality-sets", nargs="*", default=None,
                    help="modality subsets, e.g. T A TA (default: every subset the data source "
                    "provides; the option with no value skips the modality ablation)")  # fmt: skip
    sp.add_argument("--modality-pretrain",
                    help="pretraining of the modality ablation: best (highest mean validation "
                    "accuracy in the pretraining ablation) or a variant, e.g. none")  # fmt: skip
    sp.add_argument("--protocol", choices=PROTOCOLS,
                    help=f"protocol of the sweep and the ablations (default: {grids})")
    sp.add_argument("--protocols", nargs="*", default=None,
                    help="protocol comparison in 07 (the option with no value skips "
                    "it)")  # fmt: skip
    sp.add_argument("--only", choices=EXTRA_NOTEBOOKS, help="run one of the two notebooks")
    sp.add_argument("--data-dir")
    sp.add_argument("--source", choices=DATA_SOURCES)
    sp.add_argument("--run-id", help="prefix of the two study folders (default: time + profile)")
    sp.add_argument("--smoke", action="store_true", help="tiny epochs (tests)")
    sp.add_argument("--set", nargs="*", default=[], metavar="KEY=VALUE")
    fp = sub.add_parser("figures", help="redraw figures and tables from runs/ (no training): "
                        "05 on a study; without --run-id also the latest 06/07 studies")
    fp.add_argument("--run-id", help="study folder of 01..05 (default: the latest, and the "
                    "latest label sweep and ablations too)")  # fmt: skip
    dp = sub.add_parser("download", help="fetch the CMU-MultimodalSDK's CMU-MOSI .csd files "
                        "(resumable, checked) for --source csd")  # fmt: skip
    dp.add_argument("--to", metavar="DIR", help="destination folder (default: data/cmu_mosi_sdk, "
                    "or $MOSI_DATA_DIR/cmu_mosi_sdk)")  # fmt: skip
    dp.add_argument("--files", nargs="+", choices=list(CSD_FILES), metavar="KEY",
                    help=f"files to fetch, some of {', '.join(CSD_FILES)} (default: labels "
                    "text words audio facet41)")  # fmt: skip
    dp.add_argument("--base-url", metavar="URL", help="a mirror holding the SDK's paths "
                    "(default: $MOSI_SDK_BASE_URL or the SDK's server, "
                    "http://immortal.multicomp.cs.cmu.edu)")  # fmt: skip
    dp.add_argument("--force", action="store_true",
                    help="download again files in place that fail their check")  # fmt: skip
    dp.add_argument("--no-progress", action="store_true", help="no progress bars")
    args = ap.parse_args(argv)
    args.started = time.strftime("%Y-%m-%dT%H:%M:%S%z")  # runs interrupted from now on are ours
    held: list[guard.StudyLock] = []  # the studies this command writes: locked, swept on a stop
    previous = {}  # SIGTERM and SIGHUP (a lost terminal) stop as Ctrl-C does
    if threading.current_thread() is threading.main_thread():
        previous = {sig: signal.signal(sig, _raise_interrupt)
                    for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)}  # fmt: skip
    os.environ[guard.WATCH_ENV] = "1"  # the kernels end when this process is gone
    try:
        return _command(args, held, ap=ap, rp=rp, sp=sp)
    except KeyboardInterrupt:
        return _interrupted(argv if argv is not None else sys.argv[1:], args, held)
    finally:
        for lock in held:
            lock.release()
        os.environ.pop(guard.WATCH_ENV, None)
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def _raise_interrupt(signum, frame) -> None:
    """Ctrl-C, SIGTERM, SIGHUP: ``KeyboardInterrupt``.

    Set for SIGINT too: Python leaves SIGINT ignored when the process started with it ignored
    (a job started with ``&`` by a script), and Ctrl-C must still stop the study.
    """
    raise KeyboardInterrupt


def _interrupted(argv: list[str], args: argparse.Namespace, held: list[guard.StudyLock]) -> int:
    """After Ctrl-C: stop the kernels and workers, mark their runs, say how to resume; 130."""
    import logging

    signal.signal(signal.SIGINT, signal.SIG_IGN)  # a second Ctrl-C must not cut the clean-up
    logging.disable(logging.CRITICAL)  # papermill's threads report their dying kernels
    guard.stop_children(grace_s=5.0)
    for lock in held:  # runs whose process was stopped before it could mark them
        guard.sweep_stale(lock.study, reason="interrupted")
    marked = [r for lock in held for r in guard.interrupted_since(lock.study, args.started)]
    again = list(argv)
    if getattr(args, "resume_id", None) and getattr(args, "run_id", None) is None:
        again += ["--run-id", args.resume_id]
    print(f"interrupted ({len(marked)} run(s) in flight marked interrupted) — resume with: "
          f"python -m mosi_lib {' '.join(again)}", file=sys.stderr, flush=True)  # fmt: skip
    return 130


def _take(study: Path, held: list[guard.StudyLock], ap: argparse.ArgumentParser) -> None:
    """Lock ``study`` for this process (or exit 2 naming the holder); report its stale runs."""
    lock = guard.StudyLock(study)
    try:
        lock.acquire()
    except guard.StudyLocked as exc:
        ap.error(str(exc))
    held.append(lock)
    stale = guard.sweep_stale(study)
    if stale:
        names = ", ".join(stale[:3]) + (", ..." if len(stale) > 3 else "")
        print(f"study {study}: {len(stale)} run(s) marked running by a process that is gone "
              f"(stale: {names}); marked interrupted, trained again", flush=True)  # fmt: skip


def _command(args: argparse.Namespace, held: list[guard.StudyLock], *, ap, rp, sp) -> int:
    """Carry out the parsed command; every study folder it writes is locked and put in ``held``.

    ``ap``, ``rp``, ``sp``: the parsers of the program, ``reproduce`` and ``study`` (their
    ``error`` prints the usage line and exits with 2).
    """
    if args.cmd == "download":  # no study, no config: its own errors exit with 1
        from mosi_lib.data.download import run_download

        return run_download(keys=args.files, to=args.to, base_url=args.base_url,
                            force=args.force, progress=not args.no_progress)  # fmt: skip

    from mosi_lib.study.runs import latest_study, make_study_id, open_study, study_info

    if args.run_id is not None:  # a plain folder name: never a path out of the runs folder
        try:
            paths.check_stem(args.run_id, "20260101-120000_quick", field="--run-id")
        except ValueError as exc:
            ap.error(str(exc))
    if args.cmd == "figures":
        study = paths.runs_dir() / args.run_id if args.run_id else latest_study()
        if study is None or not (study / "study.json").exists():
            ap.error(f"--run-id {args.run_id!r}: no study at {study}" if args.run_id
                     else f"no study under {paths.runs_dir()}; run reproduce first")  # fmt: skip
        holder = guard.held_by(study)
        if holder:
            print(f"study {study} is in use by {guard.describe_holder(holder)}: the figures "
                  "show the runs it has finished so far", flush=True)  # fmt: skip
        params = figures_params(study_info(study).get("params"), study)
        run_notebooks(("05_results",), {**params, "run_id": study.name})
        if not args.run_id:  # and the latest label sweep and ablations, drawn from runs/ alone
            for name, kind in STUDY_NOTEBOOKS.items():
                extra = latest_study(kind=kind)
                stored = study_info(extra).get("params") if extra is not None else None
                if stored:
                    run_notebooks((name,), {**stored, "run_id": extra.name, "train": False})
                elif extra is not None:
                    print(f"{extra}: study.json holds no grid (an older study); run "
                          f"`python -m mosi_lib study --only {name}` on it to redraw", flush=True)
        return 0
    overrides = data_overrides(args.source, args.data_dir)
    cmd_ap = rp if args.cmd == "reproduce" else sp
    seeds = args.seeds or [args.seed]
    if len(set(seeds)) != len(seeds):
        cmd_ap.error(f"--seeds {' '.join(map(str, seeds))}: each seed once")
    try:  # the whole config and the data location, before any folder or notebook
        overrides.update(parse_sets(args.set))
        if args.cmd == "study":
            from mosi_lib.study.grids import load_grid

            sweep = load_grid("sweep", fractions=args.fractions, protocol=args.protocol)
            abl = load_grid("ablations", variants=args.variants, protocol=args.protocol,
                            modality_sets=args.modality_sets, protocols=args.protocols,
                            modality_pretrain=args.modality_pretrain)  # fmt: skip
            for grid in (sweep, abl):
                preflight(PROFILES[args.profile], {**overrides, "data.protocol": grid["protocol"]},
                          seeds=args.seeds, fractions=grid.get("fractions", ()),
                          protocols=grid.get("protocols", ()),
                          variants=grid.get("variants", ()),
                          modality_sets=grid.get("modality_sets"))  # fmt: skip
        else:
            preflight(PROFILES[args.profile], overrides, seeds=args.seeds or [args.seed])
    except (ValueError, KeyError, TypeError, FileNotFoundError) as exc:
        cmd_ap.error(str(exc.args[0]) if exc.args else repr(exc))
    if args.cmd == "study":
        prefix = args.run_id or make_study_id(args.profile + ("-smoke" if args.smoke else ""))
        args.resume_id = prefix
        todo = [(n, g) for n, g in (("06_label_sweep", sweep), ("07_ablations", abl))
                if not args.only or n == args.only]  # fmt: skip
        for name, _ in todo:  # both locked before either trains
            _take(paths.runs_dir() / f"{prefix}-{name[3:]}", held, sp)
        t0 = time.perf_counter()
        for name, extra in todo:
            study_id = f"{prefix}-{name[3:]}"
            params = {"config_file": PROFILES[args.profile], "overrides": overrides,
                      "seeds": args.seeds, "smoke": args.smoke, **extra}  # fmt: skip
            try:  # study.json keeps the grid and config so that `figures` redraws with them
                open_study(study_id, kind=STUDY_NOTEBOOKS[name], params=params,
                           free=("seeds", *extra))  # fmt: skip
            except ValueError as exc:
                ap.error(str(exc))
            run_notebooks((name,), {**params, "run_id": study_id})
        print(f"study {prefix}-* finished in {time.perf_counter() - t0:.0f} s; figures in "
              f"{paths.figures_dir()}")  # fmt: skip
        return 0
    run_id = args.run_id or make_study_id(args.profile + ("-smoke" if args.smoke else ""))
    args.resume_id = run_id
    _take(paths.runs_dir() / run_id, held, rp)
    common = {"run_id": run_id, "config_file": PROFILES[args.profile], "overrides": overrides,
              "smoke": args.smoke}  # fmt: skip
    try:  # study.json keeps the config so that `figures` re-renders with it
        open_study(run_id, params={**{k: v for k, v in common.items() if k != "run_id"},
                                   "seed": seeds[0]})  # fmt: skip
    except ValueError as exc:
        ap.error(str(exc))
    t0 = time.perf_counter()
    if len(seeds) == 1:
        run_notebooks(STAGES, {**common, "seed": seeds[0]})
    else:  # preprocessing does not depend on the training seed (data.split_seed does)
        run_notebooks(STAGES[:1], {**common, "seed": seeds[0]})
        for seed in seeds:
            print(f"== seed {seed} ==", flush=True)
            out = paths.runs_dir() / run_id / "notebooks" / f"seed{seed}"
            run_notebooks(STAGES[1:3], {**common, "seed": seed}, out_dir=out)
        run_notebooks(STAGES[3:], {**common, "seed": seeds[0]})
    print(f"study {run_id} finished in {time.perf_counter() - t0:.0f} s; "
          f"runs in {paths.runs_dir() / run_id}, figures in {paths.figures_dir()}")  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
