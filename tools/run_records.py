"""Export a study's per-run results to committed files: every run, every report-split output.

    python tools/run_records.py runs/<study> [runs/<study2> ...] --out docs/results/<name>

The run folders under ``runs/`` are not in git; these files are, and every mean, interval and
p-value of the tables can be recomputed from them alone (``read_records`` reads them back into
the inputs of ``report.stats.paired_test`` and ``report.stats.video_bootstrap``). Reads only
the run folders (``report.collect``: ``collect_runs``, ``run_predictions``, ``dec_summary``;
``metrics.json``); never trains. Writes:

- ``<out>_runs.csv``: one row per classifier run that ``collect_runs`` counts (the linear
  references too; a run counted under several tags gives one row per tag), sorted by study,
  tag, labeled share, arm, labels, seed and run id. ``RUN_FIRST`` columns first (see there),
  then the rest of ``collect.RUN_COLUMNS`` (but ``path``, which is this machine's). Numbers as
  ``metrics.json`` holds them; empty where a run did not record a value.
- ``<out>_predictions.csv.gz``: one row per run and report-split row (``test`` under the
  standard protocol): ``run_id`` and the ``predictions.npz`` keys (``ids``: segment id,
  ``video``, ``split``, ``label``: the annotated score, ``output``: the model's score, positive
  class output > 0), in the order the run stored them; gzip with no name and ``mtime=0``, so
  the same runs give the same bytes.
- ``<out>_runs.json``: the provenance sidecar (as ``tools/results_summary.py`` writes it), plus
  the files' sha256, the counts and the runs left out (unfinished, unreadable ``metrics.json``;
  each also named on stderr).

Exit status 2, with one line on stderr, when a study folder holds no finished classifier run.
"""

from __future__ import annotations

import argparse
import gzip
import hashlib
import importlib.util
import io
import json
import shlex
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

from mosi_lib import runs
from mosi_lib.report import collect
from mosi_lib.study import studies

ROOT = Path(__file__).resolve().parents[1]

_SPEC = importlib.util.spec_from_file_location(
    "results_summary", Path(__file__).with_name("results_summary.py"))
results_summary = importlib.util.module_from_spec(_SPEC)
_SPEC.loader.exec_module(results_summary)

RUN_FIRST = [
    "study",  # the study folder's name
    "run_id",
    "seed",
    "labeled_fraction",  # labeled share of the training rows (config data.labeled_fraction)
    "init",  # the arm: scratch, ae, dec, or a linear reference's name (logreg, ...)
    "labels",  # labeled (the labeled pool) or all (every training label)
    "tag",  # the experiment tag ("" = the main study)
    "dec_rows",  # rows the pretraining read: all (transductive) or train; "" for scratch
    "report_split",  # the split of acc_*/f1_* (test under the standard protocol)
    "acc_has0",
    "acc_non0",
    "f1_has0",
    "f1_non0",
    "valid_acc_has0",  # the chosen checkpoint's accuracy on the selection (valid) split
    "valid_acc_non0",
    "best_epoch",
    "epochs",
    "train_seconds",  # metrics.json "train_seconds" (the fit; the references: the search)
    "dec_run",  # the DEC run the encoder came from (metrics.json transfer.dec_run)
    "dec_checkpoint",  # last.pt (dec: after stage 2) or stage1.pt (ae: the autoencoder)
    "dec_start_sizes",  # that DEC run's k-means start (dec_summary start_sizes)
    "dec_start_degenerate",
    "dec_start_remedy",
    "dec_start_used_sizes",  # the start stage 2 began from (after a remedy, if any)
    "dec_stage1_from",  # the DEC run whose stage 1 this one reused ("" = trained its own)
    "dec_stage2_stop",  # tol (assignments settled) or budget (epochs ran out)
    "dec_stage2_epochs_run",  # stage-2 epochs that DEC run ran
    "dec_stage2_epochs",  # stage-2 epochs behind the classifier's start (0 for ae)
    "n_predictions",  # rows of this run in the predictions file (0: no predictions.npz)
]
"""The first columns of ``<out>_runs.csv``; the ``dec_start_*`` and ``dec_stage2_*`` columns
describe the DEC run (``collect.dec_summary``), for an ``ae`` arm too (its encoder was taken
before k-means: ``dec_checkpoint`` stage1.pt)."""

RUN_CSV = RUN_FIRST + [c for c in collect.RUN_COLUMNS if c not in RUN_FIRST and c != "path"]

_FROM_DEC = {
    "dec_start_sizes": "start_sizes",
    "dec_start_degenerate": "start_degenerate",
    "dec_start_remedy": "start_remedy",
    "dec_start_used_sizes": "start_used_sizes",
    "dec_stage1_from": "stage1_from",
    "dec_stage2_stop": "stage2_stop",
    "dec_stage2_epochs_run": "stage2_epochs_run",
}
"""``<out>_runs.csv`` column -> ``collect.dec_summary`` column."""

_INTEGERS = ["seed", "best_epoch", "epochs", "n_params", "n_train", "n_select", "n_segments",
             "dec_stage2_epochs", "dec_stage2_epochs_run", "dec_stage2_max", "n_predictions"]
"""Columns of whole numbers: written without a decimal point where some rows are empty."""

_STRINGS = ["study", "run_id", "init", "labels", "tag", "dec_rows", "report_split", "dec_run",
            "dec_checkpoint", "dec_start_sizes", "dec_start_remedy", "dec_start_used_sizes",
            "dec_stage1_from", "dec_stage2_stop",
            "variant", "data_source", "protocol", "zero_policy", "modalities",
            "data_description", "recipe", "created"]
"""Columns read back as text (``""`` where empty), whatever they look like."""

PREDICTION_KEYS = ["ids", "video", "split", "label", "output"]
"""``Run.predictions()`` keys, the columns of the predictions file after ``run_id``."""


# ----------------------------------------------------------------------------- collect


def warn(message: str) -> None:
    """Print one warning line on stderr."""
    print("warning: " + " ".join(str(message).split()), file=sys.stderr)


def study_runs(study: Path) -> tuple[pd.DataFrame, dict[str, str]]:
    """``collect_runs`` of one study with its run's extras; the runs left out, each warned of.

    Returns:
        ``(frame, left)``: ``RUN_CSV`` columns plus ``path`` (empty when the study has no
        finished classifier run); ``left``: ``<study>/<run_id>`` -> why, for every run that
        ``collect_runs`` could not count (unfinished, unreadable ``metrics.json``).
    """
    df = collect.collect_runs(study)
    left = {f"{study.name}/{rid}": why for rid, why in collect.left_out(df).items()}
    for name, why in left.items():
        warn(f"{study.parent / name} left out: {why}")
    df = df.assign(study=study.name)
    dec = collect.dec_summary(study).set_index("run_id")
    extra = {}
    for path in df["path"].unique():
        m = runs.load_run(path).metrics()
        transfer = m.get("transfer") or {}
        row = {"train_seconds": m.get("train_seconds", np.nan),
               "dec_run": transfer.get("dec_run", ""),
               "dec_checkpoint": transfer.get("checkpoint", "")}
        if row["dec_run"] and row["dec_run"] not in dec.index:
            warn(f"{path}: its DEC run {row['dec_run']} is not a finished DEC run of {study}; "
                 "dec_start_* and dec_stage2_* left empty")
        for col, src in _FROM_DEC.items():
            row[col] = dec.at[row["dec_run"], src] if row["dec_run"] in dec.index else np.nan
        extra[path] = row
    for col in (*_FROM_DEC, "train_seconds", "dec_run", "dec_checkpoint"):
        df[col] = [extra[p][col] for p in df["path"]]
    return df, left


def report_predictions(df: pd.DataFrame) -> dict[str, dict[str, np.ndarray]]:
    """Each run's ``predictions.npz`` rows of its report split; runs without one are warned of.

    Args:
        df: ``study_runs`` rows (a run counted under several tags once).

    Returns:
        run id -> ``Run.predictions()`` dict restricted to the run's ``report_split``.
    """
    out = {}
    for _, row in df.drop_duplicates("run_id").iterrows():
        found = collect.run_predictions(df.loc[[row.name]])
        if found is None:
            warn(f"{row['path']}: no predictions.npz; the run's outputs are not exported")
            continue
        p = found[0]
        keep = p["split"] == row["report_split"]
        out[row["run_id"]] = {k: p[k][keep] for k in PREDICTION_KEYS}
    return out


def gather(studies_: list[Path], seeds: list[int] | None = None
           ) -> tuple[pd.DataFrame, dict, dict[str, str]]:
    """The runs frame (``RUN_CSV``, sorted), their report-split predictions, the runs left out.

    ``seeds``: export only the runs of these seeds (one batch of a study that grows batch by
    batch, each batch in files of its own; None: every seed).

    Raises:
        SystemExit: a folder is missing or holds no finished classifier run, or one run id
            appears in two studies (each named).
    """
    frames, left = [], {}
    for study in studies_:
        if not study.is_dir():
            raise SystemExit(f"{study}: no such study folder")
        df, gone = study_runs(study)
        if df.empty:
            raise SystemExit(f"{study}: no finished classifier run")
        frames.append(df)
        left.update(gone)
    df = pd.concat(frames, ignore_index=True)
    paths_of = df.groupby("run_id")["path"].nunique()
    if (paths_of > 1).any():
        twice = paths_of[paths_of > 1].index[0]
        where = sorted(df.loc[df["run_id"] == twice, "study"].unique())
        raise SystemExit(f"run {twice} is in several studies ({', '.join(where)}); export "
                         "them separately")
    if seeds is not None:
        missing = sorted(set(seeds) - set(df["seed"].astype(int)))
        if missing:
            raise SystemExit(f"--seeds {missing}: no finished classifier run of these seeds in "
                             f"{', '.join(str(s) for s in studies_)}")
        df = df[df["seed"].astype(int).isin(seeds)]
    df = df.sort_values(["study", "tag", "labeled_fraction", "init", "labels", "seed", "run_id"],
                        kind="stable").reset_index(drop=True)
    preds = report_predictions(df)
    df["n_predictions"] = [len(preds[r]["ids"]) if r in preds else 0 for r in df["run_id"]]
    return df, preds, left


# ----------------------------------------------------------------------------- files


def runs_csv(df: pd.DataFrame) -> str:
    """``<out>_runs.csv``'s text: ``RUN_CSV`` columns, whole numbers without a decimal point."""
    out = df[RUN_CSV].copy()
    for col in _INTEGERS:
        values = pd.to_numeric(out[col], errors="coerce")
        if values.notna().any() and (values.dropna() % 1 == 0).all():
            out[col] = values.astype("Int64")
    return out.to_csv(index=False, lineterminator="\n")


def predictions_gz(df: pd.DataFrame, preds: dict[str, dict[str, np.ndarray]]) -> bytes:
    """``<out>_predictions.csv.gz``'s bytes: the same runs give the same bytes (``mtime=0``)."""
    parts = [pd.DataFrame({"run_id": rid, **preds[rid]}, columns=["run_id", *PREDICTION_KEYS])
             for rid in df["run_id"].drop_duplicates() if rid in preds]
    table = pd.concat(parts, ignore_index=True) if parts else pd.DataFrame(
        columns=["run_id", *PREDICTION_KEYS])
    buf = io.BytesIO()
    with gzip.GzipFile(filename="", mode="wb", fileobj=buf, mtime=0, compresslevel=9) as gz:
        gz.write(table.to_csv(index=False, lineterminator="\n").encode("utf-8"))
    return buf.getvalue()


def one_or_each(values: dict[str, object]) -> object:
    """The value all studies share, else study -> value."""
    distinct = {json.dumps(v, sort_keys=True) for v in values.values()}
    return next(iter(values.values())) if len(distinct) == 1 else values


def sidecar(studies_: list[Path], df: pd.DataFrame, left: dict[str, str], *, files: dict,
            command: str, argv: list[str], machine: str | None) -> dict:
    """The provenance of the export, in ``tools/results_summary.py``'s sidecar keys.

    Args:
        studies_: the study folders read.
        df: the exported runs.
        left: the runs left out (``gather``).
        files: file name -> its bytes, as written.
        command, argv, machine: the command that made the studies, this tool's arguments, and
            where the studies ran (None: this machine).
    """
    infos = {s.name: studies.study_info(s) if (s / "study.json").exists() else {}
             for s in studies_}
    commits = {}
    for name, info in infos.items():
        git = info.get("git", {})
        commits[name] = (str(git.get("commit", "not recorded"))[:7]
                         + ("-dirty" if git.get("dirty") else ""))
    cfgs = {s.name: results_summary.recorded_config(s, infos[s.name].get("params", {}))
            for s in studies_}
    config = {k: one_or_each({s: c.get(k) for s, c in cfgs.items()})
              for k in dict.fromkeys(k for c in cfgs.values() for k in c)}
    # the seeds exported, not every seed with a run folder (a batch's study may already hold
    # the next batch's unfinished runs)
    config["seeds"] = sorted(int(s) for s in df["seed"].unique())
    head = results_summary.head_commit()
    return {
        "files": list(files),
        "command": command,
        "generated_by": shlex.join(["python", "tools/run_records.py", *argv]),
        "commit": one_or_each(commits),
        "summary_commit": head,
        "machine": machine or results_summary.machine(),
        "date": time.strftime("%Y-%m-%d"),
        "data": collect.describe_runs(df),
        "config": config,
        "studies": [s.name for s in studies_],
        "counts": {"runs": int(df["run_id"].nunique()), "rows": len(df),
                   "prediction_rows": int(df.drop_duplicates("run_id")["n_predictions"].sum())},
        "sha256": {name: hashlib.sha256(data).hexdigest() for name, data in files.items()},
        "transcribed": False,
        **({"left_out": left} if left else {}),
    }


def export(studies_: list[Path], out: Path, *, command: str = "not recorded",
           argv: list[str] | None = None, machine: str | None = None,
           seeds: list[int] | None = None) -> dict[str, Path]:
    """Write ``<out>_runs.csv``, ``<out>_predictions.csv.gz`` and ``<out>_runs.json``.

    Returns:
        ``runs``, ``predictions``, ``sidecar`` -> the path written.

    Raises:
        SystemExit: as ``gather``.
    """
    df, preds, left = gather(studies_, seeds)
    files = {f"{out.name}_runs.csv": runs_csv(df).encode("utf-8"),
             f"{out.name}_predictions.csv.gz": predictions_gz(df, preds)}
    out.parent.mkdir(parents=True, exist_ok=True)
    for name, data in files.items():
        (out.parent / name).write_bytes(data)
    side = sidecar(studies_, df, left, files=files, command=command,
                   argv=argv if argv is not None else [str(s) for s in studies_],
                   machine=machine)
    side_path = out.parent / f"{out.name}_runs.json"
    side_path.write_text(json.dumps(side, indent=2) + "\n")
    names = [out.parent / n for n in files]
    return {"runs": names[0], "predictions": names[1], "sidecar": side_path}


# ----------------------------------------------------------------------------- read back


def read_records(prefix: str | Path) -> tuple[pd.DataFrame, dict[str, dict[str, np.ndarray]]]:
    """Read an export back: the runs frame and each run's predictions, as the run folders give.

    Args:
        prefix: the ``--out`` stem (``docs/results/<name>``).

    Returns:
        ``(runs, predictions)``: ``runs`` has the ``RUN_CSV`` columns (text columns ``""``
        where empty, missing numbers NaN) and ``path`` (NaN: no run folder), so that it is a
        ``collect_runs`` frame that ``report.tables`` and ``report.pairing`` read (their
        video-bootstrap columns, which need run folders, come out NaN: compute them with
        ``stats.video_bootstrap`` on ``predictions``); ``predictions``: run id -> dict of arrays
        shaped like ``Run.predictions()`` (``ids``, ``video``, ``split`` as text, ``label``
        and ``output`` float32), the report split's rows only.
    """
    prefix = Path(prefix)
    df = pd.read_csv(f"{prefix}_runs.csv", keep_default_na=False, na_values=[""],
                     dtype={c: str for c in _STRINGS})
    for col in _STRINGS:  # a column added after the file was written: empty
        if col not in df.columns:
            df[col] = ""
    df[_STRINGS] = df[_STRINGS].fillna("")
    df["path"] = np.nan
    table = pd.read_csv(f"{prefix}_predictions.csv.gz", keep_default_na=False,
                        dtype={"run_id": str, "ids": str, "video": str, "split": str,
                               "label": np.float32, "output": np.float32})
    preds = {}
    for rid, g in table.groupby("run_id", sort=False):
        preds[rid] = {k: (g[k].to_numpy(np.float32) if k in ("label", "output")
                          else np.asarray(g[k].to_numpy(), str)) for k in PREDICTION_KEYS}
    return df, preds


# ----------------------------------------------------------------------------- CLI


def main(argv: list[str] | None = None) -> int:
    """Export the studies named on the command line; 0, or 2 with one error line on stderr."""
    argv = sys.argv[1:] if argv is None else list(argv)
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("studies", nargs="+", type=Path, help="study folders (runs/<study>)")
    ap.add_argument("--out", required=True, type=Path, help="path stem of the files to write")
    ap.add_argument("--command", default="not recorded", help="the command that made the studies")
    ap.add_argument("--machine", default=None, help="where the studies ran (default: this one)")
    ap.add_argument("--seeds", type=int, nargs="+", default=None,
                    help="export only these seeds' runs (one batch; default: every seed)")
    args = ap.parse_args(argv)
    try:
        written = export(args.studies, args.out, command=args.command, argv=argv,
                         machine=args.machine, seeds=args.seeds)
    except (SystemExit, ValueError) as err:
        if isinstance(err, SystemExit) and not isinstance(err.code, str):
            raise
        print(f"run_records: error: {' '.join(str(err).split())}", file=sys.stderr)
        return 2
    for path in written.values():
        print(path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
