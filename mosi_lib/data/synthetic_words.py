"""Words of the synthetic data set: invented vocabulary, token draws, one video's timeline.

``vocabulary`` invents the tokens and their GloVe-like 300-d vectors (function, general, topic
and opinion words; opinion words carry the sentiment direction); ``timeline`` draws each
segment's words by kind and lays a video's words, pauses and segments out in time. Both take the
generator's design (``synthetic_gen.synthetic_design()``) and its random generator; the order of
the draws is part of the data set (a seed gives identical arrays).
"""

from __future__ import annotations

import numpy as np


def vocabulary(rng: np.random.Generator, design: dict) -> dict:
    """Invented tokens with GloVe-like vectors (one fixed vector per token).

    Returns:
        ``tokens`` list of str, ``vectors`` (V, 300) float32, ``kind`` (V,) of
        function/general/topic/opinion, ``topic`` (V,) (-1 for non-topic words), ``polarity``
        (V,) in [-1, 1] (0 for non-opinion words), ``freq`` (V,) Zipf weights within a kind.

    """
    d = design
    sizes = d["vocab_sizes"]
    n_topics = d["n_topics"]
    kind = np.concatenate([np.full(sizes[k], k) for k in sizes]).astype("U8")
    n_vocab = len(kind)
    topic = np.full(n_vocab, -1)
    is_topic = kind == "topic"
    topic[is_topic] = np.arange(is_topic.sum()) % n_topics
    polarity = np.zeros(n_vocab)
    is_op = kind == "opinion"
    polarity[is_op] = np.where(np.arange(is_op.sum()) % 2 == 0, 1, -1) * rng.uniform(
        0.4, 1.0, is_op.sum()
    )
    sent_dir = rng.normal(size=300)
    sent_dir /= np.linalg.norm(sent_dir)
    centres = rng.normal(0, d["topic_centre_sd"], (n_topics, 300))
    vectors = rng.normal(0, d["word_vector_sd"], (n_vocab, 300))
    vectors += polarity[:, None] * d["text_gain"] * sent_dir
    vectors[is_topic] += centres[topic[is_topic]]
    freq = np.zeros(n_vocab)
    for k in sizes:  # Zipf frequencies within each kind
        idx = np.flatnonzero(kind == k)
        freq[idx] = 1.0 / (np.arange(len(idx)) + 2.0)
    return {
        "tokens": _token_strings(rng, n_vocab),
        "vectors": vectors.astype(np.float32),
        "kind": kind,
        "topic": topic,
        "polarity": polarity,
        "freq": freq,
    }


def _token_strings(rng: np.random.Generator, n: int) -> list[str]:
    """``n`` distinct pronounceable fake words (2-3 syllables; never ``sp``)."""
    cons, vows = list("bdfgklmnprstvz"), list("aeiou")
    seen: set[str] = set()
    out: list[str] = []
    while len(out) < n:
        n_syl = int(rng.integers(1, 4))
        word = "".join(rng.choice(cons) + rng.choice(vows) for _ in range(n_syl))
        if word not in seen and word != "sp":
            seen.add(word)
            out.append(word)
    return out


def _segment_tokens(rng: np.random.Generator, seg: dict, s: int, vocab: dict, pets,
                    design: dict) -> np.ndarray:
    """Token ids of segment ``s``'s words, drawn by word kind."""
    d = design
    n = seg["n_words"][s]
    f = seg["feature_sentiment"][s]
    p_op = min(d["p_opinion"][0] + d["p_opinion"][1] * abs(f), 0.4)
    p = [p_op, d["p_topic_word"], d["p_general_word"]]
    kinds = rng.choice(4, n, p=p + [1.0 - sum(p)])  # 0 opinion, 1 topic, 2 general, 3 function
    out = np.empty(n, dtype=int)
    for k, name in enumerate(("opinion", "topic", "general", "function")):
        at = np.flatnonzero(kinds == k)
        if not len(at):
            continue
        mask = vocab["kind"] == name
        if name == "topic":
            mask &= vocab["topic"] == seg["topic"][s]
        if name == "opinion":
            # sign agrees with the segment more often the stronger it is; random if text-neutral
            agree = 0.5 if seg["text_neutral"][s] else 0.5 + 0.42 * np.tanh(abs(f) / 0.8)
            signs = np.where(rng.random(len(at)) < agree, 1, -1) * (1 if f >= 0 else -1)
            for sign in (1, -1):
                sub = at[signs == sign]
                cand = np.flatnonzero(mask & (np.sign(vocab["polarity"]) == sign))
                out[sub] = _draw(rng, cand, vocab["freq"], len(sub))
            continue
        cand = np.flatnonzero(mask)
        out[at] = _draw(rng, cand, vocab["freq"], len(at))
        if name in ("general", "function"):  # speaker's pet words (idiolect -> text offset)
            pet = rng.random(len(at)) < d["p_pet_word"]
            out[at[pet]] = rng.choice(pets, pet.sum())
    return out


def _draw(rng: np.random.Generator, cand: np.ndarray, freq: np.ndarray, n: int) -> np.ndarray:
    w = freq[cand]
    return rng.choice(cand, n, p=w / w.sum())


def timeline(rng: np.random.Generator, seg: dict, rows: np.ndarray, vocab: dict,
             design: dict):
    """Lay one video's words, pauses and segments out in time.

    Returns:
        tokens (n_rows,) token ids, -1 for pauses; word intervals (n_rows, 2); segment
        intervals (n_segments, 2); seconds.

    """
    d = design
    general = np.flatnonzero(vocab["kind"] == "general")
    function = np.flatnonzero(vocab["kind"] == "function")
    pets = np.random.default_rng(seg["pets"][seg["video"][rows[0]]]).choice(
        np.concatenate([general[:300], function]), d["n_pet_words"], replace=False
    )
    tokens: list[int] = []
    durs: list[float] = []

    def word_dur() -> float:
        return d["word_min_s"] + rng.gamma(2.0, d["word_gamma_scale_s"])

    # lead-in: a pause and a few words that belong to no segment
    tokens += [-1] + list(rng.choice(function, int(rng.integers(2, 7)))) + [-1]
    durs += [rng.uniform(0.3, 3.0)] + [word_dur() for _ in tokens[1:-1]] + [rng.uniform(0.2, 1.0)]
    seg_rows: list[tuple[int, int]] = []  # first and one-past-last row of each segment
    for s in rows:
        first = len(tokens)
        for i, tok in enumerate(_segment_tokens(rng, seg, s, vocab, pets, d)):
            if i and rng.random() < d["p_pause_before_word"]:
                tokens.append(-1)
                durs.append(rng.uniform(0.08, 0.5))
            tokens.append(int(tok))
            durs.append(word_dur())
        seg_rows.append((first, len(tokens)))
        if rng.random() < d["p_gap_between_segments"]:
            tokens.append(-1)
            durs.append(rng.uniform(0.2, 2.5))
    tokens.append(-1)
    durs.append(rng.uniform(0.5, 2.0))
    ends = np.cumsum(durs)
    word_iv = np.stack([ends - np.asarray(durs), ends], axis=1)
    seg_iv = np.array([[word_iv[a, 0], word_iv[b - 1, 1]] for a, b in seg_rows])
    return np.asarray(tokens), word_iv, seg_iv
