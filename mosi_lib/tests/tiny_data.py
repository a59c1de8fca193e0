"""Tiny data files in the real on-disk layouts, shared by the reader tests.

``write_tiny_csd``: two videos as SDK ``.csd`` files (expected values in ``test_sdk``);
``mult_pickle`` / ``mmsa_pickle``: a MulT and an MMSA split pickle.
"""

import pickle

import numpy as np

from mosi_lib.data.sdk import CSD_FILES, write_csd


def _full(n_rows, width, values):
    """(n_rows, width) float32 array whose row i is filled with values[i]."""
    return np.repeat(np.asarray(values, np.float32)[:, None], width, axis=1)[:n_rows]


def write_tiny_csd(root, *, words_file=True, skip=()):
    """Two videos in the real .csd layout; their expected values are asserted in test_sdk.

    vidA: segments [0, 2) label 1.5 and [2, 4) label -0.5; words
    hi [0, .5], sp, there [1, 1.5], oov [1.5, 2.5] (zero vector, midpoint on the boundary),
    you [2.5, 3.5] (NaN in column 0), sp. vidB: segment [0, 1) label 0 with the word ok
    [.2, .8] and a pause, and segment [5, 6) label 2 with no word.
    """
    root.mkdir(parents=True, exist_ok=True)
    files = {
        "labels": {
            "vidA": (np.array([[1.5], [-0.5]], np.float32), [[0, 2], [2, 4]]),
            "vidB": (np.array([[0.0], [2.0]], np.float32), [[0, 1], [5, 6]]),
        },
    }
    a_iv = [[0, 0.5], [0.5, 1], [1, 1.5], [1.5, 2.5], [2.5, 3.5], [3.5, 4]]
    a_vec = _full(6, 300, [1, 0, 2, 0, 4, 0])
    a_vec[4, 0] = np.nan
    b_iv = [[0.2, 0.8], [0.8, 1.0]]
    files["text"] = {"vidA": (a_vec, a_iv), "vidB": (_full(2, 300, [5, 0]), b_iv)}
    if words_file:
        files["words"] = {
            "vidA": (np.array([[b"hi"], [b"sp"], [b"there"], [b"oov"], [b"you"], [b"sp"]]), a_iv),
            "vidB": (np.array([[b"ok"], [b"sp"]]), b_iv),
        }
    audio_a = _full(8, 74, np.arange(8))
    audio_a[6, 0] = -np.inf
    files["audio"] = {
        "vidA": (audio_a, [[j * 0.5, j * 0.5 + 0.5] for j in range(8)]),
        "vidB": (_full(1, 74, [9]), [[0, 1]]),
    }
    vis_iv = [[0, 0.4], [1.1, 1.4], [2.6, 3.0], [3.0, 3.2]][::-1]  # frames out of time order
    for key, width, scale in (("facet41", 47, 1), ("facet42", 35, 10)):
        files[key] = {
            "vidA": (_full(4, width, np.array([1, 2, 4, 6][::-1]) * scale), vis_iv),
            "vidB": (_full(1, width, [3 * scale]), [[0, 0.5]]),
        }
    for key, data in files.items():
        if key not in skip:
            write_csd(root / CSD_FILES[key], f"seq {key}", data)
    return root


def _mult_split(n, seed, vid):
    rng = np.random.default_rng(seed)
    text = rng.normal(size=(n, 4, 300)).astype(np.float32)
    audio = rng.normal(size=(n, 4, 5)).astype(np.float32)
    vision = rng.normal(size=(n, 4, 20)).astype(np.float32)
    text[:, 0] = 0  # MulT pads on the left
    audio[:, :2] = 0
    ids = np.array([[vid.encode(), f"{i}.5".encode(), f"{i + 1}.0".encode()] for i in range(n)])
    return {
        "text": text,
        "audio": audio,
        "vision": vision,
        "labels": rng.uniform(-3, 3, (n, 1, 1)).astype(np.float32),
        "id": ids,
    }


def mult_pickle(path):
    data = {
        "train": _mult_split(2, 0, "vidA"),
        "valid": _mult_split(1, 1, "vidB"),
        "test": _mult_split(1, 2, "vidC"),
    }
    data["train"]["text"][0, 2] = 0  # zero row inside a sequence: kept
    data["train"]["audio"][1, 3, 0] = -np.inf
    data["valid"]["vision"][0] = 0  # all padding: one zero step
    data["test"]["vision"][0, 1, 2] = np.nan
    path.write_bytes(pickle.dumps(data))
    return data


def mmsa_pickle(path):
    rng = np.random.default_rng(3)
    data = {}
    for split, n in (("train", 2), ("valid", 1), ("test", 1)):
        text = rng.normal(size=(n, 3, 8)).astype(np.float32)
        text[:, 2] = 0  # MMSA pads at the end
        data[split] = {
            "raw_text": ["a b"] * n,
            "text": text,
            "text_bert": np.ones((n, 3, 3)),
            "audio": rng.normal(size=(n, 6, 5)).astype(np.float32),
            "vision": rng.normal(size=(n, 5, 20)).astype(np.float32),
            "audio_lengths": [4] * n,
            "vision_lengths": np.full(n, 5),
            "regression_labels": rng.uniform(-3, 3, n).astype(np.float32),
            "id": [f"{split}Vid$_${i + 1}" for i in range(n)],
        }
    data["train"]["audio_lengths"] = [0, 9]  # 0: one zero step; 9 > T=6: clipped
    data["train"]["text"][1, 0, 3] = np.nan
    path.write_bytes(pickle.dumps(data))
    return data
