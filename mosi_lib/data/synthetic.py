"""The synthetic demo data set: a seed -> a folder of MOSI-shaped ``.csd`` files, generated once.

The synthetic demo data set on disk: a folder of ``.csd`` files generated once from a seed.

The default run of the study needs no download: ``ensure_synthetic`` generates the MOSI-shaped
data set (``mosi_lib.data.synthetic``, whose docstring documents the design) into a folder as
the six computational sequences of CMU-MOSI (Zadeh et al., 2016), written with
``mosi_lib.data.sdk.write_csd``, and it is read back through the real loader
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

Words of the synthetic data set: invented vocabulary, token draws, one video's timeline.

``vocabulary`` invents the tokens and their GloVe-like 300-d vectors (function, general, topic
and opinion words; opinion words carry the sentiment direction); ``timeline`` draws each
segment's words by kind and lays a video's words, pauses and segments out in time. Both take the
generator's design (``synthetic.synthetic_design()``) and its random generator; the order of
the draws is part of the data set (a seed gives identical arrays).

The synthetic MOSI-shaped generator: a seed -> CMU-MOSI's six computational sequences.

``build_synthetic(seed=...)`` returns the sequences in memory, in the real CMU-MultimodalSDK
``.csd`` layout; ``mosi_lib.data.synthetic`` writes them into a folder and reads them back
through the real loader. Every sequence says it is synthetic (metadata ``dataset name`` is
``"CMU-MOSI (SYNTHETIC)"``).

Layout (as the real files, ``shared/data/README.md``):

* ``CMU_MOSI_TimestampedWordVectors.csd`` (root ``glove_vectors``): one 300-d row per word of
  each video's transcript, pauses included as all-zero rows; intervals per word.
* ``CMU_MOSI_TimestampedWords.csd`` (root ``words``): the same rows, tokens as bytes, shape
  (n, 1), ``b"sp"`` for pauses. Tokens are invented strings from a fixed vocabulary; one token
  always has one vector, as in GloVe.
* ``CMU_MOSI_Visual_Facet_41.csd`` (47-d) and ``..._42.csd`` (35-d): frames at ``visual_hz``,
  both read off one latent face state; dimension names are FACET-like (emotion evidence,
  action units, head pose) but the layout past the names is invented.
* ``CMU_MOSI_COVAREP.csd`` (74-d): frames at ``audio_hz`` with COVAREP's dimension order
  (F0, VUV, glottal parameters, MCEP, HMPDM, HMPDD); F0 and the glottal parameters are 0 in
  unvoiced frames, as COVAREP writes them.
* ``CMU_MOSI_Opinion_Labels.csd`` (root ``Opinion Segment Labels``): (n_segments, 1) scores and
  the segment intervals; row i of a video is clip i + 1.

Frame rates: visual 10 Hz and audio 20 Hz instead of FACET's 30 Hz and COVAREP's 100 Hz. The
loader averages frames over each word (0.12 s or longer, so at least one frame per word at these
rates); lower rates keep the files near 100 MB and generation plus reading fast on 2 cores.
Feature streams cover each video's whole timeline: lead-in, segments and the pauses between.

MOSI-likeness (real values in brackets):

* Videos: the 93 real video ids of the standard folds (``resources/mosi_std_folds.json``), so
  the speaker-independent folds apply unchanged.
* Segments: 2170 to 2230 in all [2199], 9 to 63 per video [9 to 63], log-normal spread.
* Words per segment: log-normal, median 11, 1 to 60. Word 0.12 s or longer (mean about 0.3 s),
  pauses (``sp``) between some words and between segments, a few words before the first
  segment that belong to no segment (the real transcripts cover unlabelled talk too).
* Labels: a latent sentiment per segment, bimodal away from 0 (sign drawn from the video's mood,
  magnitude around 1.6; 10% near-neutral segments), rated by 5 annotators (sometimes 3, 4 or 6)
  on the integer scale -3..3 with rating noise; the label is their mean, so most labels are
  multiples of 0.2 [94%], about 3% are exactly 0 [96 of 2199] and 49% to 57% are >= 0 depending
  on the seed [53.5% overall, 57% in the train fold]. Video means of the labels vary as in MOSI
  (sd near 0.9).

Signal design (what carries the sentiment):

* Text: a sentiment direction ``u`` in the 300-d word space. Opinion words (20% to 40% of words,
  more in strongly rated segments) have vectors ``base + polarity * u * text_gain``; their sign
  matches the segment's sign with a probability rising with its intensity. All other words are
  neutral (function words, general words, topic words).
* Face: a positive-affect and a negative-affect latent drive joy, AU6, AU12 up and anger,
  contempt, disgust, sadness, AU4, AU15 up respectively, scaled by each speaker's
  expressiveness. Voice: a valence latent moves F0, H1H2 and a few cepstral dims; arousal
  follows the intensity but not the sign.
* Text-neutral segments (15%): opinion words of random sign, and face and voice carry the sign
  at 1.8 times their usual strength.
* Label noise: in 7% of segments the features express the opposite sign of the label; near-zero
  segments have labels whose sign is set by the annotators' noise.
* Speaker (video) offsets in every modality: pet words per speaker in the text, offsets of the
  face and voice latents and of every frame dimension, per-speaker F0.
* Latent clusters independent of sentiment: 4 topics, each with its own topic words (vectors
  shifted toward a topic centre) and a face/voice style shift; a video mostly keeps one topic.
* Noise: per-segment offsets of the face and voice latents, smooth (AR(1)) frame noise and white
  noise per dimension.

The folder on disk (``SYNTHETIC.json``, reuse, refusal of foreign folders), the difficulty
probe and the command line are ``mosi_lib.data.synthetic``; the words and their timeline are
``mosi_lib.data.synthetic``.
"""

from __future__ import annotations

import copy
import json
import uuid
from pathlib import Path

import numpy as np
from scipy.signal import lfilter

from mosi_lib import paths
from mosi_lib.data.raw import RawData
from mosi_lib.data.sdk import CSD_FILES, SYNTHETIC_MARKER, CSDSequence, read_csd_dataset, write_csd

# =============================================================================
# Words of the synthetic data set: invented vocabulary, token draws, one video's timeline.

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


# =============================================================================
# The synthetic MOSI-shaped generator: a seed -> CMU-MOSI's six computational sequences.

GENERATOR_VERSION = 2
"""Bumped whenever the generator's output changes; a marker with another version regenerates."""

# ----------------------------------------------------------------------------- design

_DESIGN: dict = {
    "visual_hz": 10.0,
    "audio_hz": 20.0,
    "n_topics": 4,
    # segments and words
    "segments_total": [2170, 2230],  # total drawn uniformly in this range
    "segments_per_video": [9, 63],
    "segments_log_sd": 0.55,
    "words_median": 11.0,
    "words_log_sd": 0.55,
    "words_range": [1, 60],
    "word_min_s": 0.12,  # shortest word; gamma(2, word_gamma_scale_s) is added
    "word_gamma_scale_s": 0.09,
    "p_pause_before_word": 0.12,
    "p_gap_between_segments": 0.45,  # else the next segment starts where this one ends
    # labels
    "mood_mean": 0.0,  # video mood ~ N(mood_mean, mood_sd); P(positive) = sigmoid(2 * mood)
    "mood_sd": 0.9,
    "magnitude_mean": 1.6,
    "magnitude_sd": 0.75,
    "p_neutral_segment": 0.10,  # latent |sentiment| ~ |N(0, neutral_sd)|
    "neutral_sd": 0.3,
    "annotator_counts": [5, 4, 3, 6],
    "annotator_probs": [0.91, 0.04, 0.03, 0.02],
    "annotator_noise_sd": 0.55,
    "p_feature_flip": 0.07,  # features express the opposite sign of the label
    "p_text_neutral": 0.15,
    "text_neutral_av_boost": 1.8,
    # text
    "vocab_sizes": {"function": 150, "general": 900, "topic": 250, "opinion": 400},
    "word_vector_sd": 0.35,
    "topic_centre_sd": 0.2,
    "text_gain": 3.0,  # length of the sentiment component of an opinion word of polarity 1
    "p_opinion": [0.2, 0.06],  # share of opinion words: p0 + p1 * |sentiment|
    "p_topic_word": 0.25,
    "p_general_word": 0.3,
    "p_pet_word": 0.3,  # share of function/general words taken from the speaker's pet words
    "n_pet_words": 20,
    "p_video_topic": 0.75,
    # face and voice
    "face_gain": 0.35,
    "voice_gain": 0.4,
    "speaker_latent_sd": 0.8,
    "style_sd": 0.6,
    "segment_latent_sd": 0.8,
    "frame_ar_coef": 0.9,
    "frame_ar_sd": 0.8,
    "speaker_dim_sd": 0.3,
    "white_sd": 0.6,
}

_EMOTIONS = ["anger", "contempt", "disgust", "joy", "fear", "neutral", "sadness", "surprise",
             "confusion", "frustration"]
_AUS = ["AU1", "AU2", "AU4", "AU5", "AU6", "AU7", "AU9", "AU10", "AU12", "AU14", "AU15", "AU17",
        "AU18", "AU20", "AU23", "AU24", "AU25", "AU26", "AU28", "AU43"]
FACET41_NAMES = _EMOTIONS + _AUS + ["pitch", "yaw", "roll"] + [f"geometry_{i}" for i in range(14)]
FACET42_NAMES = _EMOTIONS + _AUS + ["pitch", "yaw", "roll", "face_x", "face_y"]
_GLOTTAL = ["F0", "VUV", "NAQ", "QOQ", "H1H2", "PSP", "MDQ", "peakSlope", "Rd", "Rd_conf", "creak"]
COVAREP_NAMES = (
    _GLOTTAL
    + [f"MCEP_{i}" for i in range(25)]
    + [f"HMPDM_{i}" for i in range(25)]
    + [f"HMPDD_{i}" for i in range(13)]
)

# face latent: 0 positive affect, 1 negative affect, 2 talking, 3..7 nuisance (brow, pose, gaze)
_FACE_LATENT = 8
_FACE_LOADS = {
    0: {"joy": 1.2, "AU6": 0.9, "AU12": 1.0},
    1: {"anger": 0.8, "contempt": 0.8, "disgust": 0.8, "sadness": 0.8, "AU4": 0.7, "AU15": 0.7},
    2: {"AU25": 1.0, "AU26": 0.8},
}
# voice latent: 0 valence, 1 arousal, 2..5 nuisance (breathiness, timbre)
_VOICE_LATENT = 6
_VOICE_LOADS = {
    0: {"F0": 0.8, "H1H2": 0.6, "MCEP_1": 0.6, "MCEP_2": -0.5, "HMPDM_3": 0.5},
    1: {"F0": 0.5, "NAQ": -0.5, "MCEP_0": 0.8, "peakSlope": 0.6},
}
_UNVOICED_ZERO = [i for i, n in enumerate(_GLOTTAL) if n != "VUV"]


def synthetic_design() -> dict:
    """Return the generator's design parameters (a copy; also stored in ``SYNTHETIC.json``).

    Returns:
        Parameter name -> value; frame rates in Hz, durations in seconds, the rest as
        documented in the module docstring.

    """
    return copy.deepcopy(_DESIGN)

# ----------------------------------------------------------------------------- sequences


def build_synthetic(*, seed: int = 0) -> dict[str, CSDSequence]:
    """The synthetic computational sequences in memory (what ``generate_synthetic`` writes).

    Args:
        seed: generator seed (``np.random.default_rng(seed)`` drives every draw).

    Returns:
        ``CSD_FILES`` key (``text``, ``words``, ``facet41``, ``facet42``, ``audio``, ``labels``)
        -> sequence with per-video (features, intervals): text (n_rows, 300) float32, words
        (n_rows, 1) bytes, facet41 (n_frames, 47), facet42 (n_frames, 35), audio (n_frames, 74)
        float32, labels (n_segments, 1) float32; intervals (n, 2) start/end seconds.

    """
    d = _DESIGN
    rng = np.random.default_rng(seed)
    videos = _video_ids()
    seg = _segments(rng, len(videos))
    vocab = vocabulary(rng, d)
    face_model = _frame_model(rng, FACET41_NAMES + FACET42_NAMES, _FACE_LATENT, _FACE_LOADS)
    voice_model = _frame_model(rng, COVAREP_NAMES, _VOICE_LATENT, _VOICE_LOADS)
    face_style = rng.normal(0, d["style_sd"], (d["n_topics"], _FACE_LATENT))
    voice_style = rng.normal(0, d["style_sd"], (d["n_topics"], _VOICE_LATENT))

    out: dict[str, dict] = {key: {} for key in CSD_FILES}
    for v, vid in enumerate(videos):
        rows = np.flatnonzero(seg["video"] == v)
        tokens, word_iv, seg_iv = timeline(rng, seg, rows, vocab, d)
        is_word = tokens >= 0
        out["text"][vid] = (np.where(is_word[:, None], vocab["vectors"][tokens], 0.0), word_iv)
        words = np.array([vocab["tokens"][t] if t >= 0 else "sp" for t in tokens], dtype="S")
        out["words"][vid] = (words[:, None], word_iv)
        out["labels"][vid] = (seg["label"][rows, None], seg_iv)
        t_end = float(word_iv[-1, 1])
        drive = seg["feature_sentiment"][rows] * np.where(
            seg["text_neutral"][rows], d["text_neutral_av_boost"], 1.0
        )
        spoken = word_iv[is_word]

        # face: latent state per frame, read out into both FACET versions
        frames, iv, inside, voiced = _frame_grid(t_end, d["visual_hz"], seg_iv, spoken, rng, 1.0)
        lat = _latent(rng, frames, inside, seg["face_speaker"][v], face_style[seg["topic"][rows]])
        gain = seg["face_gain"][v] * d["face_gain"]
        lat[:, 0] += np.where(inside >= 0, gain * drive[inside], 0.0)
        lat[:, 1] -= np.where(inside >= 0, 0.7 * gain * drive[inside], 0.0)
        lat[:, 2] += 1.5 * voiced
        feats = _read_out(rng, lat, face_model)
        out["facet41"][vid] = (feats[:, : len(FACET41_NAMES)], iv)
        out["facet42"][vid] = (feats[:, len(FACET41_NAMES) :], iv)

        # voice: latent state per frame, COVAREP-like read-out, glottal dims 0 when unvoiced
        frames, iv, inside, voiced = _frame_grid(t_end, d["audio_hz"], seg_iv, spoken, rng, 0.8)
        lat = _latent(
            rng, frames, inside, seg["voice_speaker"][v], voice_style[seg["topic"][rows]]
        )
        gain = seg["voice_gain"][v] * d["voice_gain"]
        lat[:, 0] += np.where(inside >= 0, gain * drive[inside], 0.0)
        lat[:, 1] += np.where(inside >= 0, 0.5 * np.abs(drive[inside]), 0.0)
        feats = _read_out(rng, lat, voice_model)
        feats[:, 0] = seg["f0"][v] * np.exp(0.12 * feats[:, 0])  # F0 in Hz around the speaker's
        feats[:, 1] = voiced
        feats[:, _UNVOICED_ZERO] *= voiced[:, None]
        out["audio"][vid] = (feats, iv)

    return {
        key: CSDSequence(
            root_name=_ROOT_NAMES[key],
            data={
                vid: (f if key == "words" else f.astype(np.float32), iv)
                for vid, (f, iv) in sorted(out[key].items())
            },
            metadata=_metadata(key, rng),
        )
        for key in CSD_FILES
    }

# ----------------------------------------------------------------------------- segments


def _video_ids() -> list[str]:
    """Return the 93 real CMU-MOSI video ids of the standard folds, sorted."""
    folds = json.loads(paths.STD_FOLDS_FILE.read_text())
    keys = ("standard_train_fold", "standard_valid_fold", "standard_test_fold")
    return sorted(v for k in keys for v in folds[k])


def _segments(rng: np.random.Generator, n_videos: int) -> dict[str, np.ndarray]:
    """Draw segment counts, latent sentiment, labels and per-video traits.

    Returns:
        Per-segment arrays (``video``, ``label``, ``feature_sentiment``, ``text_neutral``,
        ``topic``, ``n_words``) and per-video arrays (``face_gain``, ``voice_gain``, ``f0``,
        ``pets``), all indexed by segment or video number.

    """
    d = _DESIGN
    lo, hi = d["segments_per_video"]
    total = int(rng.integers(d["segments_total"][0], d["segments_total"][1] + 1))
    raw = rng.lognormal(0.0, d["segments_log_sd"], n_videos)
    counts = np.clip(np.round(raw / raw.sum() * total), lo, hi).astype(int)
    while counts.sum() != total:  # nudge single videos until the total is hit
        step = 1 if counts.sum() < total else -1
        ok = np.flatnonzero((counts + step >= lo) & (counts + step <= hi))
        counts[rng.choice(ok)] += step
    video = np.repeat(np.arange(n_videos), counts)
    n = len(video)

    # video traits
    mood = rng.normal(d["mood_mean"], d["mood_sd"], n_videos)
    topic_v = rng.integers(0, d["n_topics"], n_videos)
    # latent sentiment: sign from the video's mood, magnitude away from 0 except neutral ones
    p_pos = 1.0 / (1.0 + np.exp(-2.0 * mood[video]))
    sign = np.where(rng.random(n) < p_pos, 1.0, -1.0)
    mag = np.clip(rng.normal(d["magnitude_mean"], d["magnitude_sd"], n), 0.1, 3.3)
    neutral = rng.random(n) < d["p_neutral_segment"]
    mag = np.where(neutral, np.abs(rng.normal(0.0, d["neutral_sd"], n)), mag)
    latent = sign * mag
    # annotators: integer ratings in [-3, 3]; the label is their mean
    n_ann = rng.choice(d["annotator_counts"], n, p=d["annotator_probs"])
    ratings = np.clip(np.rint(latent[:, None] + rng.normal(0, d["annotator_noise_sd"], (n, 6))),
                      -3, 3)
    used = np.arange(6)[None, :] < n_ann[:, None]
    label = (ratings * used).sum(1) / n_ann
    flip = rng.random(n) < d["p_feature_flip"]
    feature_sentiment = np.where(flip, -latent * rng.uniform(0.3, 1.0, n), latent)
    topic = np.where(rng.random(n) < d["p_video_topic"], topic_v[video],
                     rng.integers(0, d["n_topics"], n))
    lo_w, hi_w = d["words_range"]
    n_words = rng.lognormal(np.log(d["words_median"]), d["words_log_sd"], n)
    return {
        "video": video,
        "label": label.astype(np.float32),
        "feature_sentiment": feature_sentiment,
        "text_neutral": rng.random(n) < d["p_text_neutral"],
        "topic": topic,
        "n_words": np.clip(np.round(n_words), lo_w, hi_w).astype(int),
        "face_gain": rng.lognormal(0.0, 0.5, n_videos),
        "voice_gain": rng.lognormal(0.0, 0.5, n_videos),
        "f0": rng.uniform(95.0, 230.0, n_videos),
        "pets": rng.integers(0, 1 << 30, n_videos),  # seeds of each speaker's pet-word draw
        "face_speaker": rng.normal(0, d["speaker_latent_sd"], (n_videos, _FACE_LATENT)),
        "voice_speaker": rng.normal(0, d["speaker_latent_sd"], (n_videos, _VOICE_LATENT)),
    }

# ----------------------------------------------------------------------------- frames


def _frame_model(rng: np.random.Generator, names: list[str], n_latent: int, loads: dict) -> dict:
    """Random loadings (latent -> dims) with the named sentiment loadings set, plus scales."""
    w = rng.normal(0, 0.3, (n_latent, len(names)))
    for comp in loads:  # sentiment latents load only on their named dims (plus a little)
        w[comp] *= 0.3
    for comp, dims in loads.items():
        for name, value in dims.items():
            for j, n in enumerate(names):
                if n == name:
                    w[comp, j] = value
    return {
        "w": w,
        "loc": rng.normal(0, 1.0, len(names)),
        "scale": rng.lognormal(0, 0.5, len(names)),
    }


def _frame_grid(t_end, hz, seg_iv, word_iv, rng, p_voiced):
    """Frames of one video at ``hz`` over [0, t_end].

    Returns:
        n_frames; frame intervals (n_frames, 2); index of the segment holding each frame's centre
        (-1 in gaps); voiced flag (n_frames,) float, 1 inside a word with prob ``p_voiced``.

    """
    n = int(np.ceil(t_end * hz))
    start = np.arange(n) / hz
    centre = start + 0.5 / hz
    iv = np.stack([start, start + 1.0 / hz], axis=1)
    k = np.searchsorted(seg_iv[:, 0], centre, side="right") - 1
    inside = np.where((k >= 0) & (centre < seg_iv[np.maximum(k, 0), 1]), k, -1)
    w = np.searchsorted(word_iv[:, 0], centre, side="right") - 1
    in_word = (w >= 0) & (centre < word_iv[np.maximum(w, 0), 1])
    voiced = (in_word & (rng.random(n) < p_voiced)).astype(float)
    return n, iv, inside, voiced


def _latent(rng, n_frames, inside, speaker, style) -> np.ndarray:
    """Latent state per frame, (n_frames, L).

    Speaker offset ``speaker`` (L,), plus inside segments the segment's topic style ``style``
    (n_segments, L) and a random per-segment offset, plus smooth AR(1) frame noise.
    """
    d = _DESIGN
    seg_off = style + rng.normal(0, d["segment_latent_sd"], style.shape)
    a = d["frame_ar_coef"]
    white = rng.normal(0, d["frame_ar_sd"], (n_frames, style.shape[1]))
    lat = speaker + lfilter([np.sqrt(1 - a * a)], [1, -a], white, axis=0)
    lat += np.where(inside[:, None] >= 0, seg_off[np.maximum(inside, 0)], 0.0)
    return lat


def _read_out(rng, lat: np.ndarray, model: dict) -> np.ndarray:
    """Latent (n_frames, L) -> features (n_frames, D): loadings, speaker and white noise."""
    d = _DESIGN
    n_dims = model["w"].shape[1]
    x = lat @ model["w"] + rng.normal(0, d["speaker_dim_sd"], n_dims)
    x += rng.normal(0, d["white_sd"], x.shape)
    return model["loc"] + model["scale"] * x

# ----------------------------------------------------------------------------- metadata

_ROOT_NAMES = {
    "text": "glove_vectors",
    "words": "words",
    "facet41": "FACET_4.1",
    "facet42": "FACET_4.2",
    "audio": "COVAREP",
    "labels": "Opinion Segment Labels",
}
_DESCRIPTIONS = {
    "text": "word vectors (300-d, GloVe-like; pauses are zero rows)",
    "words": "words (invented tokens; b'sp' marks pauses)",
    "facet41": "facial expression features (FACET 4.1-like, 47-d)",
    "facet42": "facial expression features (FACET 4.2-like, 35-d)",
    "audio": "acoustic features (COVAREP-like, 74-d)",
    "labels": "sentiment scores for opinion segments",
}


def _metadata(key: str, rng: np.random.Generator) -> dict[str, object]:
    """Metadata with the real files' keys; every text says the data are synthetic."""
    dims = {
        "text": [f"glove_{i}" for i in range(300)],
        "words": ["word"],
        "facet41": FACET41_NAMES,
        "facet42": FACET42_NAMES,
        "audio": COVAREP_NAMES,
        "labels": ["sentiment score"],
    }[key]
    return {
        "alignment compatible": True,
        "computational sequence description": (
            f"SYNTHETIC {_DESCRIPTIONS[key]} for a MOSI-shaped data set generated by "
            "mosi_lib.data.synthetic; not CMU-MOSI data"
        ),
        "computational sequence version": float(GENERATOR_VERSION),
        "contact": "see SYNTHETIC.json",
        "creator": "mosi_lib.data.synthetic",
        "dataset bib citation": "none: synthetic (imitates the layout of CMU-MOSI, Zadeh 2016)",
        "dataset name": "CMU-MOSI (SYNTHETIC)",
        "dataset version": float(GENERATOR_VERSION),
        "dimension names": dims,
        "featureset bib citation": "none: synthetic",
        "md5": None,
        "uuid": str(uuid.UUID(bytes=rng.bytes(16), version=4)),
    }


# =============================================================================
# The synthetic demo data set on disk: a folder of ``.csd`` files generated once from a seed.

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
