"""The synthetic demo data set on disk: a folder of ``.csd`` files generated once from a seed.

The default run of the study needs no download: ``ensure_synthetic`` generates the MOSI-shaped
data set (``mosi_lib.data.synthetic_gen``, whose docstring documents the design) into a folder as
the six computational sequences of CMU-MOSI (Zadeh et al., 2016), written with
``mosi_lib.data.csd.write_csd``, and it is read back through the real loader
(``mosi_lib.data.sdk.read_csd_dataset``), so the synthetic path exercises exactly the code that
reads the real files. ``SYNTHETIC.json`` marks the folder and records the seed, version and
design; generation never writes into a folder of other files (``check_target``).

What a good model should reach: ``python -m mosi_lib.data.synthetic --seed S`` prints the
accuracy of ``probe_accuracy`` (logistic regression on features mean-pooled over each segment's
words, read back through ``read_csd_dataset``; binary y >= 0; 5-fold speaker-independent CV;
about 20 s).
Measured (generator version 2):

=====  ========  =====  =====  ======  =====
seed   majority  text   audio  visual  all
=====  ========  =====  =====  ======  =====
0      0.567     0.758  0.666  0.675   0.796
1      0.510     0.754  0.613  0.626   0.784
=====  ========  =====  =====  ======  =====

The label noise puts a ceiling near 0.90 on any model (the features' sign disagrees with the
label in about 10% of segments), so a good multimodal model lands near 0.78-0.85 and a
text-only one near 0.75; well below 100%, with text the strongest modality as in MOSI.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from mosi_lib import paths
from mosi_lib.data.csd import CSD_FILES, SYNTHETIC_MARKER, write_csd
from mosi_lib.data.raw import RawData
from mosi_lib.data.sdk import read_csd_dataset
from mosi_lib.data.synthetic_gen import GENERATOR_VERSION, build_synthetic, synthetic_design

MARKER_FILE = SYNTHETIC_MARKER
"""Marks a folder as generated here; the only kind of non-empty folder generation writes into."""

# ----------------------------------------------------------------------------- folder


def ensure_synthetic(out_dir: str | Path, seed: int = 0) -> Path:
    """Generate the synthetic data set into ``out_dir`` unless it is already there.

    The marker ``SYNTHETIC.json`` must say the folder is complete and name the same seed and
    generator version, and every ``.csd`` file must exist; otherwise the folder is regenerated
    (only if it is missing, empty or already marked, see ``generate_synthetic``).

    Args:
        out_dir: target folder, created if missing.
        seed: generator seed.

    Returns:
        ``out_dir`` as a ``Path``.

    Raises:
        FileExistsError: ``out_dir`` holds files this module did not write (see
            ``generate_synthetic``).
    """
    out_dir = Path(out_dir)
    marker = out_dir / MARKER_FILE
    if marker.exists() and all((out_dir / f).exists() for f in CSD_FILES.values()):
        try:
            info = json.loads(marker.read_text())
        except json.JSONDecodeError:
            info = {}
        if (info.get("seed") == seed and info.get("generator_version") == GENERATOR_VERSION
                and info.get("complete", True)):
            return out_dir
    return generate_synthetic(out_dir, seed=seed)


def check_target(out_dir: str | Path) -> None:
    """Refuse to generate into a folder holding files this module did not write.

    Allowed: a missing or empty folder, or one holding ``SYNTHETIC.json``.

    Raises:
        NotADirectoryError: ``out_dir`` exists and is not a folder.
        FileExistsError: ``out_dir`` holds other files; the message names the folder and a
            file (a ``.csd`` file that generation would overwrite, if there is one).
    """
    out_dir = Path(out_dir)
    if not out_dir.exists():
        return
    if not out_dir.is_dir():
        raise NotADirectoryError(f"{out_dir}: not a folder; synthetic data are generated into "
                                 "a folder")
    if (out_dir / MARKER_FILE).exists():
        return
    names = sorted(p.name for p in out_dir.iterdir())
    if not names:
        return
    clash = [n for n in CSD_FILES.values() if n in names]
    first = (clash or names)[0]
    more = f" and {len(names) - 1} more" if len(names) > 1 else ""
    raise FileExistsError(
        f"{out_dir}: holds {first}{more}, not written by mosi_lib.data.synthetic "
        f"(no {MARKER_FILE}); "
        "synthetic data are generated only into an empty folder or one holding "
        f"{MARKER_FILE}: point data.data_dir elsewhere or leave it unset"
    )


def generate_synthetic(out_dir: str | Path, *, seed: int = 0) -> Path:
    """Write the synthetic data set's six ``.csd`` files and ``SYNTHETIC.json`` into ``out_dir``.

    The marker is written first with ``"complete": false`` (a half-written folder stays marked
    as ours but never looks complete) and rewritten last with ``"complete": true``.

    Args:
        out_dir: target folder, created if missing; it must be empty or hold ``SYNTHETIC.json``
            (``check_target``); its generated files are overwritten.
        seed: generator seed; the same seed gives identical arrays.

    Returns:
        ``out_dir`` as a ``Path``.

    Raises:
        FileExistsError: ``out_dir`` holds files this module did not write (e.g. real
            CMU-MOSI files); nothing is written.
    """
    out_dir = Path(out_dir)
    check_target(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    marker = out_dir / MARKER_FILE
    marker.write_text(json.dumps({"synthetic": True, "complete": False, "seed": seed,
                                  "generator_version": GENERATOR_VERSION}) + "\n")
    seqs = build_synthetic(seed=seed)
    for key, seq in seqs.items():
        write_csd(out_dir / CSD_FILES[key], seq.root_name, seq.data, seq.metadata)
    info = {
        "synthetic": True,
        "complete": True,
        "statement": (
            "SYNTHETIC data generated by mosi_lib.data.synthetic: MOSI-shaped (real video ids, "
            "segment and word counts, label distribution) but no real words, faces or voices. "
            "Results on it say nothing about CMU-MOSI."
        ),
        "seed": seed,
        "generator_version": GENERATOR_VERSION,
        "files": {key: CSD_FILES[key] for key in seqs},
        "n_videos": len(seqs["labels"].data),
        "n_segments": int(sum(len(f) for f, _ in seqs["labels"].data.values())),
        "design": synthetic_design(),
    }
    marker.write_text(json.dumps(info, indent=2) + "\n")
    return out_dir

# ----------------------------------------------------------------------------- probe


def probe_accuracy(raw: RawData, *, n_splits: int = 5, seed: int = 0) -> dict[str, float]:
    """Binary accuracy of logistic regression on segment-mean features (a difficulty probe).

    Each modality's word-level features are averaged over the segment's words, standardised and
    fed to ``LogisticRegression(C=0.01)`` (strong L2: 300-d text on ~1800 rows); the target is
    ``label >= 0``. Folds are grouped by video (speaker-independent). Used to document what a
    good model reaches on the synthetic data.

    Args:
        raw: segments as read by a loader (any modalities present).
        n_splits: number of group folds.
        seed: seed of the fold shuffle.

    Returns:
        ``majority`` (share of the larger class), one accuracy per modality and ``all`` (the
        modalities concatenated), each the mean over the folds.

    """
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import StratifiedGroupKFold, cross_val_score
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    y = (raw.labels >= 0).astype(int)
    pooled = {m: np.stack([x.mean(0) for x in raw.features[m]]) for m in raw.modalities}
    if len(pooled) > 1:
        pooled["all"] = np.concatenate(list(pooled.values()), axis=1)
    cv = StratifiedGroupKFold(n_splits=n_splits, shuffle=True, random_state=seed)
    result = {"majority": float(max(y.mean(), 1 - y.mean()))}
    for name, x in pooled.items():
        model = make_pipeline(StandardScaler(), LogisticRegression(C=0.01, max_iter=2000))
        scores = cross_val_score(model, x, y, groups=raw.video, cv=cv, scoring="accuracy")
        result[name] = float(scores.mean())
    return result

# ----------------------------------------------------------------------------- command line


def main(argv: list[str] | None = None) -> None:
    """Generate (or reuse) the synthetic data set for a seed and print the difficulty probe."""
    import argparse

    parser = argparse.ArgumentParser(prog="python -m mosi_lib.data.synthetic",
                                     description=main.__doc__)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", default=None, help="folder (default data/raw/synthetic_s<seed>)")
    args = parser.parse_args(argv)
    out = Path(args.out) if args.out else paths.raw_dir() / f"synthetic_s{args.seed}"
    raw = read_csd_dataset(ensure_synthetic(out, args.seed), source="synthetic", synthetic=True)
    print(f"SYNTHETIC data set, seed {args.seed}: {len(raw)} segments in {out}")
    for name, acc in probe_accuracy(raw).items():
        print(f"  {name:<9} {acc:.3f}")


if __name__ == "__main__":
    main()
