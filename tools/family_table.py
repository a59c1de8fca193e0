"""The family of paired comparisons of a study, recomputed from its committed per-run records.

    python tools/family_table.py docs/results/<name> \
        --arm scratch="tag=pretrain:none" --arm dec="tag=pretrain:dec_semi" \
        --arm ae="tag=pretrain:ae" --compare dec-scratch ae-scratch dec-ae \
        --out docs/results/<name>_family.csv

Reads ``<name>_runs.csv`` and ``<name>_predictions.csv.gz`` (``tools/run_records.py``), never a
run folder; writes the CSV and a sidecar (``<out>.json``) carrying the records' provenance. An arm is the set of runs whose columns equal the given values (``key=value``,
several separated by spaces; ``labels`` and ``labeled_fraction`` are the usual keys). Each
comparison ``a-b`` is made at every labeled share both arms hold, paired by seed (the seeds
both arms have), on test Acc-2 has0 (``--metric``):

- ``mean_diff``, ``ci_low``/``ci_high``: the paired mean difference a - b and its Student-t
  interval over seeds (``stats.paired_test``);
- ``boot_low``/``boot_high``: the two-level bootstrap interval (seeds, then the test videos, in
  each replicate; ``stats.two_level_bootstrap``), which covers both what moves the number;
- ``p_t`` (paired t) and ``p_wilcoxon`` (exact signed rank), and ``p_holm``: the Wilcoxon p
  adjusted by Holm over the whole family written (every comparison at every share), the test
  of record because it assumes no normal differences;
- ``wins`` (seeds where a > b) and ``n`` (pairs);
- ``detectable``: the smallest true difference a paired t-test with these ``n`` pairs detects
  with 80% power at alpha 0.05 at the observed spread of the differences
  (``stats.detectable_difference``): a design statement, so "no difference larger than this"
  is what a non-significant row rules out.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import shlex
import sys
from pathlib import Path

import numpy as np
import pandas as pd

from mosi_lib.report import stats

_SPEC = importlib.util.spec_from_file_location(
    "run_records", Path(__file__).with_name("run_records.py"))
run_records = importlib.util.module_from_spec(_SPEC)
_SPEC.loader.exec_module(run_records)

COLUMNS = ["comparison", "labeled_fraction", "n", "seeds", "mean_diff", "ci_low", "ci_high",
           "boot_low", "boot_high", "p_t", "p_wilcoxon", "p_holm", "wins", "detectable"]
"""The columns of the family table, in order."""


def parse_arm(text: str) -> tuple[str, dict[str, str]]:
    """``name=key=value key=value`` -> ``(name, {key: value})``; raise on a bad spec."""
    name, eq, rest = text.partition("=")
    pairs = [p.partition("=") for p in shlex.split(rest)]
    if not eq or not name or not pairs or any(not k or not e for k, e, _ in pairs):
        raise ValueError(f"--arm {text!r}: expected NAME=KEY=VALUE [KEY=VALUE ...]")
    return name, {k: v for k, _, v in pairs}


def select(df: pd.DataFrame, where: dict[str, str]) -> pd.DataFrame:
    """The runs whose columns equal ``where`` (compared as text); raise naming a missing key."""
    keep = np.ones(len(df), bool)
    for key, value in where.items():
        if key not in df.columns:
            raise ValueError(f"arm key {key!r}: not a column of the runs file; expected one of "
                             f"{sorted(df.columns)}")
        col = df[key]
        as_text = col.map(lambda v: "" if pd.isna(v) else f"{v:g}" if isinstance(v, float)
                          else str(v))
        keep &= (as_text == value).to_numpy()
    return df[keep]


def family(df: pd.DataFrame, preds: dict[str, dict[str, np.ndarray]],
           arms: dict[str, dict[str, str]], comparisons: list[tuple[str, str]], *,
           metric: str = "acc_has0", n_boot: int = 2000, seed: int = 0) -> pd.DataFrame:
    """The family table (``COLUMNS``): each comparison at each share both arms hold.

    Raises:
        ValueError: an unknown arm, an arm with two runs of one seed at one share, or a
            comparison with no seed in common.
    """
    rows = []
    for a, b in comparisons:
        for name in (a, b):
            if name not in arms:
                raise ValueError(f"comparison {a}-{b}: arm {name!r} is not defined (--arm)")
        ra, rb = select(df, arms[a]), select(df, arms[b])
        for frac in sorted(set(ra["labeled_fraction"]) & set(rb["labeled_fraction"])):
            ga = ra[ra["labeled_fraction"] == frac].set_index("seed")
            gb = rb[rb["labeled_fraction"] == frac].set_index("seed")
            for name, g in ((a, ga), (b, gb)):
                if not g.index.is_unique:
                    raise ValueError(f"arm {name!r} at share {frac:g}: several runs of one seed "
                                     f"{sorted(g.index[g.index.duplicated()].tolist())}")
            seeds = sorted(set(ga.index) & set(gb.index))
            if not seeds:
                raise ValueError(f"comparison {a}-{b} at share {frac:g}: no seed in common")
            # the runs file holds fractions (as metrics.json); the table is in points of %
            t = stats.paired_test(100 * ga.loc[seeds, metric].to_numpy(float),
                                  100 * gb.loc[seeds, metric].to_numpy(float))
            boot = stats.two_level_bootstrap(
                [[preds[ga.loc[s, "run_id"]] for s in seeds],
                 [preds[gb.loc[s, "run_id"]] for s in seeds]],
                split=str(ga["report_split"].iloc[0]), n_boot=n_boot, seed=seed)
            rows.append({
                "comparison": f"{a} - {b}", "labeled_fraction": frac, "n": t["n"],
                "seeds": ",".join(map(str, seeds)), "mean_diff": t["mean_diff"],
                "ci_low": t["ci_low"], "ci_high": t["ci_high"],
                "boot_low": boot["ci_low"], "boot_high": boot["ci_high"],
                "p_t": t["p_ttest"], "p_wilcoxon": t["p_wilcoxon"], "wins": t["wins"],
                "detectable": stats.detectable_difference(t["std_diff"], t["n"]),
            })
    out = pd.DataFrame(rows, columns=[c for c in COLUMNS if c != "p_holm"])
    out.insert(COLUMNS.index("p_holm"), "p_holm", stats.holm(out["p_wilcoxon"].to_numpy(float))
               if len(out) else [])
    return out


def main(argv: list[str] | None = None) -> int:
    """Write the family table of the records named; 0, or 2 with one error line on stderr."""
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("records", nargs="+",
                    help="the --out stem(s) of tools/run_records.py (several: batches of one "
                         "study, read as one; a run id given twice is refused)")
    ap.add_argument("--arm", action="append", required=True, metavar="NAME=KEY=VALUE ...",
                    help="an arm: the runs whose columns equal these values")
    ap.add_argument("--compare", nargs="+", required=True, metavar="A-B",
                    help="comparisons, each arm A minus arm B, paired by seed")
    ap.add_argument("--metric", default="acc_has0", help="a column of the runs file")
    ap.add_argument("--out", required=True, help="CSV to write")
    args = ap.parse_args(argv)
    try:
        arms = dict(parse_arm(a) for a in args.arm)
        comparisons = []
        for c in args.compare:
            a, dash, b = c.partition("-")
            if not dash or not a or not b:
                raise ValueError(f"--compare {c!r}: expected A-B (two arm names)")
            comparisons.append((a, b))
        df, preds = read_batches(args.records)
        table = family(df, preds, arms, comparisons, metric=args.metric)
    except (OSError, ValueError, KeyError) as err:
        print(f"family_table: error: {err}", file=sys.stderr)
        return 2
    table.to_csv(args.out, index=False, float_format="%.4g")
    write_sidecar(Path(args.out), [Path(r) for r in args.records],
                  argv if argv is not None else sys.argv[1:])
    print(table.to_string(index=False))
    return 0


def read_batches(stems: list[str]) -> tuple[pd.DataFrame, dict[str, dict[str, np.ndarray]]]:
    """``run_records.read_records`` of each stem, as one; raise on a run id in two of them."""
    frames, preds = [], {}
    for stem in stems:
        df, p = run_records.read_records(stem)
        twice = sorted(set(p) & set(preds))
        if twice:
            raise ValueError(f"{stem}: run {twice[0]} is also in an earlier records file; "
                             "expected each run in one batch")
        frames.append(df)
        preds.update(p)
    return pd.concat(frames, ignore_index=True), preds


def _one_or_each(values: list) -> object:
    """The value every batch shares, else the list of each batch's value."""
    distinct = {json.dumps(v, sort_keys=True) for v in values}
    return values[0] if len(distinct) == 1 else values


def merged_config(configs: list[dict]) -> dict:
    """The batches' configs as one: ``seeds`` is their union; another key the batches differ
    in holds each batch's value (``_one_or_each``)."""
    keys = dict.fromkeys(k for c in configs for k in c)
    out = {k: _one_or_each([c.get(k) for c in configs]) for k in keys}
    if "seeds" in keys:
        out["seeds"] = sorted({int(s) for c in configs for s in c.get("seeds") or []})
    return out


def write_sidecar(out: Path, records: list[Path], argv: list[str]) -> Path:
    """``<out>.json``: the records' provenance (study command, commit, data, config) and how
    this table was made from them; a key the batches differ in holds each batch's value."""
    srcs = [json.loads(Path(f"{r}_runs.json").read_text()) for r in records]
    side = {"files": [out.name],
            **{k: _one_or_each([s.get(k) for s in srcs]) for k in ("command", "commit")},
            "generated_by": "python " + " ".join(["tools/family_table.py",
                                                  *map(shlex.quote, argv)]),
            **{k: _one_or_each([s.get(k) for s in srcs]) for k in ("machine", "date", "data")},
            "config": merged_config([s.get("config") or {} for s in srcs]),
            "records": [f"{r.name}_{kind}" for r in records
                        for kind in ("runs.csv", "predictions.csv.gz")],
            "transcribed": False}
    path = out.with_suffix(".json")
    path.write_text(json.dumps(side, indent=2) + "\n")
    return path


if __name__ == "__main__":
    sys.exit(main())
