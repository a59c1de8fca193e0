"""The "text input" table: GloVe-50, MiniLM and mpnet side by side, from their committed summaries.

    python tools/text_input_table.py --out docs/results/text_input

Reads the standard-protocol summaries of ``INPUTS`` (``docs/results/<stem>_table.csv`` or, for
the earlier GloVe-50 results, ``glove50_comparison.csv``; each with its JSON sidecar) and writes
``<out>_table.csv`` (one row per model, one column per text input: test Acc-2 has0, mean ± std
over seeds [95% Student-t interval]) and ``<out>.json`` (provenance: the sources' sidecars).
Nothing is trained or recomputed: every cell is copied from a source file, so the table can be
checked against them (``tests/test_text_input_table.py``).
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import sys
import time
from pathlib import Path

import pandas as pd

ROOT = Path(__file__).resolve().parents[1]

_SPEC = importlib.util.spec_from_file_location(
    "results_summary", Path(__file__).with_name("results_summary.py"))
results_summary = importlib.util.module_from_spec(_SPEC)
_SPEC.loader.exec_module(results_summary)
RESULTS = ROOT / "docs" / "results"

INPUTS = {
    "GloVe 6B 50d": ("glove50_comparison.csv", "glove50.json"),
    "all-MiniLM-L6-v2, last layer": ("minilm_standard_table.csv", "minilm_standard.json"),
    "all-mpnet-base-v2, mean of the layers": ("mpnet_standard_table.csv", "mpnet_standard.json"),
}
"""Column name -> (summary CSV, sidecar) under docs/results/."""

MODELS = {
    "Transformer (40%)": r"^Transformer \(40%\)",
    "Transformer + DEC (40%)": r"^Transformer \+ DEC \(40%\)",
    "Transformer (all labels)": r"^Transformer \(all labels\)",
    "Transformer + DEC (all labels; DEC with 40%)": r"^Transformer \+ DEC \(all labels",
    "LR, mean word vectors (40%)": r"^Logistic regression, mean word vectors \(40%\)",
    "LR, mean word vectors (all labels)": r"^Logistic regression, mean word vectors \(all",
    "LR, mean-pooled text + audio (40%)": r"^logistic regression, mean-pooled(?:, | \()40%",
    "LR, mean-pooled text + audio (all labels)": r"^logistic regression, mean-pooled(?:, | \()all",
}
"""Row name -> pattern of the source row (case-insensitive), the same model in every source."""


def cell(row: pd.Series) -> str:
    """``mean ± std [lo, hi]`` of a source row, in whichever layout the source has."""
    if "Acc-2 has0" in row.index:  # results_summary layout: separate columns
        return f"{row['Acc-2 has0']} {row['95% CI has0']}"
    value = str(row["standard protocol: test fold, 686 segments"])  # the GloVe layout
    return value if value != "nan" else ""


def column(csv: Path) -> dict[str, str]:
    """Model -> cell of one source (empty where the source has no such model)."""
    df = pd.read_csv(csv, dtype=str)
    first = df.columns[0]
    out = {}
    for model, pattern in MODELS.items():
        hit = df[df[first].str.contains(pattern, case=False, regex=True, na=False)]
        if len(hit) > 1:
            raise ValueError(f"{csv}: {len(hit)} rows match {model!r}; expected one")
        out[model] = cell(hit.iloc[0]) if len(hit) else ""
    return out


def build(results: Path = RESULTS) -> tuple[pd.DataFrame, dict]:
    """The table and its sources' sidecars; raise naming a missing source."""
    cols, sources = {}, {}
    for name, (csv, side) in INPUTS.items():
        for f in (csv, side):
            if not (results / f).is_file():
                raise FileNotFoundError(f"{results / f}: summary of {name!r} not found; expected "
                                        "the study's results_summary output")
        cols[name] = column(results / csv)
        sources[name] = json.loads((results / side).read_text())
    table = pd.DataFrame({"Model": list(MODELS), **{n: [c[m] for m in MODELS]
                                                     for n, c in cols.items()}})
    return table, sources


def main(argv: list[str] | None = None) -> int:
    """Write ``<out>_table.csv`` and ``<out>.json``."""
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", default=str(RESULTS / "text_input"))
    args = ap.parse_args(argv)
    try:
        table, sources = build()
    except (FileNotFoundError, ValueError) as err:
        print(f"text_input_table: error: {err}", file=sys.stderr)
        return 2
    out = Path(args.out)
    table.to_csv(out.with_name(out.name + "_table.csv"), index=False)
    commit = results_summary.head_commit() or None
    seeds = sorted({tuple(s["config"].get("seeds", [])) for s in sources.values()})
    sidecar = {
        "files": [out.name + "_table.csv"],
        "command": "see sources: each column is copied from its study's summary",
        "generated_by": "python " + " ".join(["tools/text_input_table.py", *(argv or
                                                                           sys.argv[1:])]),
        "commit": commit,
        "machine": results_summary.machine(),
        "date": time.strftime("%Y-%m-%d"),
        "data": "real CMU-MOSI (transcripts + the named word vectors, openSMILE), standard "
                "protocol, test fold; not the paper's SDK features",
        "config": {"protocol": "standard", "profile": "quick",
                   "seeds": list(seeds[0]) if len(seeds) == 1 else [list(s) for s in seeds]},
        "sources": {name: {"file": INPUTS[name][0], "commit": s.get("commit"),
                           "date": s.get("date"), "command": s.get("command"),
                           "draw": s.get("config", {}).get("draw")}
                    for name, s in sources.items()},
        "transcribed": False,
    }
    out.with_name(out.name + ".json").write_text(json.dumps(sidecar, indent=2) + "\n")
    print(table.to_string(index=False))
    return 0


if __name__ == "__main__":
    sys.exit(main())
