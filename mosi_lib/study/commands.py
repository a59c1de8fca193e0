"""What each command of the CLI does: ``reproduce`` (01..05), ``study`` (06, 07), ``figures``.

``python -m mosi_lib`` parses its arguments and calls one of ``run_reproduce``, ``run_study`` or
``run_figures``. Each checks its input (``preflight``) before any folder, locks the study
folders it writes (``guard.HeldStudies``), records how it ran them (``studies.open_study``) and
executes the notebooks (``pipeline.run_notebooks``); ``reproduce`` and ``study`` end by printing
their tables in compact form and where the files are (``print_results``). Refusals are one
line: ``BadInput`` and ``guard.StudyLocked`` concern the command's input, ``StudyRefused`` the
study it names.
"""

from __future__ import annotations

import time
from pathlib import Path

from mosi_lib import paths
from mosi_lib.config import load_config
from mosi_lib.data.encoder_install import InstallError
from mosi_lib.refusals import StudyMismatch
from mosi_lib.report.compact import print_table_file
from mosi_lib.report.outputs import OUTPUTS, kept_line, output_dir
from mosi_lib.study import guard, pipeline, runs
from mosi_lib.study.grid_specs import load_grid
from mosi_lib.study.pipeline import STAGES, STUDY_NOTEBOOKS
from mosi_lib.study.preflight import install_encoder, preflight
from mosi_lib.study.studies import (
    latest_study,
    make_study_id,
    open_study,
    setup_identity,
    study_info,
)

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
    holder = guard.held_by(study)
    if holder:
        print(f"study {study} is in use by {guard.describe_holder(holder)}: the figures "
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
    held: guard.HeldStudies,
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
    """End a command with its tables in their compact form (``report.compact``) and their files.

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
    held: guard.HeldStudies,
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
    in their place (``grid_specs.load_grid``); ``study.json`` keeps each grid and config, so that
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
