"""A generated stand-in for CHiME-Home, so that `python train.py` runs with no download.

The set is *synthetic*: no sample of it comes from CHiME-Home. It is written in exactly the on-disk
layout of the refined CHiME-Home set used by DCASE 2016 Task 4 (see `chime_home`), so everything
downstream reads it with the same code as the real data. Only the 16 kHz WAVs are written; the
published 48 kHz copies (`<chunk>.48kHz.wav`) are omitted, as DCASE 2016 Task 4 does not use them.

Each 4 s chunk is a mixture of the sources named by its labels, drawn independently per chunk:

  c  child speech: a band-limited glottal pulse train with F0 250-400 Hz, per-syllable intonation
     and jitter, shaped by vowel formants scaled up ~1.37x from adult male values, a ~4.5 Hz
     syllable envelope with consonant noise at syllable onsets, and pauses between phrases.
  m  adult male speech: the same speech model, F0 85-155 Hz, adult male formants.
  f  adult female speech: the same model, F0 165-255 Hz, formants ~1.17x male.
  v  video game / TV: chords plus a melody (soft harmonic tones or square-ish "chiptune"),
     usually with speech of any voice on top, band-passed like a small TV speaker and
     level-compressed so it stays steady.
  p  percussive: knocks, footsteps and bangs, i.e. short decaying noise bursts plus damped
     resonances at random times.
  b  broadband noise: steady coloured noise (white to brown) over most of the chunk, sometimes
     with motor or mains hum and slow level drift (vacuum cleaner, water, extractor fan).
  o  other identifiable sound: tonal events (beeps, bird-like chirps, whistles, glass clinks,
     phone rings) at random times.

Every source gets a random level. The mixture passes through a per-segment room (a high-pass,
a peaking resonance and a short exponential reverb), a low coloured room-noise floor is added,
and a per-segment microphone gain is applied; the peak is kept below full scale, so nothing clips.

Labels mimic CHiME-Home's priors (default set: c 55%, p 48%, f 30%, o 23%, m 13%, v 12%, b 5%
of chunks; 1.9 labels per chunk): chunks of one segment share a label propensity, ~8% of chunks
contain none of the seven classes (vote `S`, all-zero label vector), and votes can hold `S` beside
real letters when much of the chunk is quiet. Three simulated annotators miss or add labels now
and then, and mostly miss a source masked by a much louder one; `majorityvote` is their 2-of-3
majority, so labels are a little noisy, as real ones are.

Typical use:

    data_dir = ensure_demo_dataset()          # ~/.cache/admlc-tf/demo-chime-home-v1/chime_home
    train, test = chime_home.split(data_dir, fold=1)
"""

from __future__ import annotations

import dataclasses
import operator
import os
from pathlib import Path
from typing import Sequence

import numpy as np
import soundfile as sf

from admlc_tf.data.generated.demo_sounds import (SOURCES, Room, active_rms, apply_room, db_to_gain,
                                                 frame_rms, make_room, room_floor)
from admlc_tf.data.layouts.chime_home import (CROSSVAL_LIST, DEVELOPMENT_LIST, EVALUATION_LIST,
                                              LABELS, NUM_FOLDS, SAMPLE_RATE, chunk_csv_path,
                                              chunk_wav_path, load_development, load_evaluation,
                                              write_chunk_csv, write_list)
from admlc_tf.data.home import ensure_generated
from admlc_tf.errors import DataError
from admlc_tf.files import write_folder_atomic

# Bump whenever the generator's output changes, so cached copies are regenerated.
DEMO_VERSION = 1
DEMO_DIRNAME = f"demo-chime-home-v{DEMO_VERSION}"

CHUNK_SAMPLES = 4 * SAMPLE_RATE

# Fraction of chunks carrying each label, roughly CHiME-Home's refined development set.
LABEL_PRIORS = {"c": 0.55, "m": 0.15, "f": 0.28, "v": 0.15, "p": 0.50, "b": 0.08, "o": 0.22}
# Spread of the per-segment label propensity (logit scale): segments differ in who is home.
SEGMENT_PROPENSITY_STD = 0.7

# Active-part RMS of each source in dBFS, drawn uniformly per chunk.
# The quiet ends let one source hide under another, as in a real living room.
SOURCE_LEVELS_DB = {"c": (-38.0, -14.0), "m": (-40.0, -18.0), "f": (-40.0, -18.0),
                    "v": (-40.0, -22.0), "p": (-36.0, -12.0), "b": (-44.0, -22.0),
                    "o": (-36.0, -16.0)}
# A source this far below the loudest other one is "faint": each annotator marks it only with
# FAINT_MARK_PROB, so the vote (and the label) often misses it.
FAINT_MARGIN_DB = 12.0
FAINT_MARK_PROB = 0.4
PEAK_LIMIT = 0.95

ROOMS = ("CR_lounge", "CR_kitchen", "CR_playroom", "CR_dining")


@dataclasses.dataclass(frozen=True)
class Mixture:
    """One synthesized chunk.

    Attributes:
      audio: `[CHUNK_SAMPLES]` float64, peak <= PEAK_LIMIT.
      quiet_fraction: share of frames where the foreground is within ~10 dB of the room floor.
      faint: letters of sources more than FAINT_MARGIN_DB below the loudest other source.
    """

    audio: np.ndarray
    quiet_fraction: float
    faint: str


@dataclasses.dataclass(frozen=True)
class SegmentPlan:
    """Names and labels of one segment's chunks before any audio is made.

    Attributes:
      name: segment name, e.g. `CR_lounge_200110_1601.s0`.
      fold: 0..4 as written in the cross-validation list, None for evaluation segments.
      labels: `[chunks_per_segment, 7]` bool, the sources present in `LABELS` order (the vote,
        hence the label vector, may miss a faint one).
      index: global segment index, which seeds the segment's room and chunks.
    """

    name: str
    fold: int | None
    labels: np.ndarray
    index: int


# --------------------------------------------------------------------------------------------
# Public API.
# --------------------------------------------------------------------------------------------


def ensure_demo_dataset(cache_dir: str | os.PathLike | None = None) -> Path:
    """Returns the cached demo set, generating it first if it is missing or incomplete.

    Args:
      cache_dir: parent folder of the cache; defaults to `data_home()`. The set lives in
        `<cache_dir>/demo-chime-home-v<DEMO_VERSION>/chime_home`, so a new generator version
        never reuses an old set.

    Returns:
      The `chime_home` folder, ready for `chime_home.load_development` and friends.
    """
    return ensure_generated(
        f"{DEMO_DIRNAME}/chime_home",
        lambda target, overwrite: generate_demo_dataset(target.parent, overwrite=overwrite),
        _is_complete, what="demo data set", detail="CHiME-Home layout", home=cache_dir)


def generate_demo_dataset(root: str | os.PathLike, *, n_segments_dev: int = 50,
                          n_segments_eval: int = 20, chunks_per_segment: int = 6, seed: int = 0,
                          overwrite: bool = False) -> Path:
    """Writes a synthetic domestic-audio tagging set in the CHiME-Home layout.

    Writes `root/chime_home/` with `chunks/<chunk>.16kHz.wav` (4 s, 16 kHz, mono, 16-bit PCM),
    `chunks/<chunk>.csv` (segmentname, chunknumber, annotation_a1..a3, majorityvote) and the
    three refined list files. The published 48 kHz WAVs are not generated. Everything is built in
    a temporary sibling folder renamed into place at the end, so an interrupted run leaves no
    half-written set. Output bytes depend only on the arguments.

    Args:
      root: folder to hold `chime_home/`; created if missing.
      n_segments_dev: development segments; spread evenly over the five folds, so at least 5.
      n_segments_eval: evaluation segments (from recording sessions disjoint from development).
      chunks_per_segment: 4 s chunks per segment.
      seed: seed of everything random.
      overwrite: replace an existing `root/chime_home`; otherwise that raises FileExistsError.

    Returns:
      The `root/chime_home` path.

    Raises:
      ValueError: on sizes that cannot fill the five folds.
      FileExistsError: `root/chime_home` exists and `overwrite` is False.
    """
    if n_segments_dev < NUM_FOLDS:
        raise ValueError(f"n_segments_dev={n_segments_dev}: need at least {NUM_FOLDS}, one per "
                         "fold")
    if n_segments_eval < 1 or chunks_per_segment < 1:
        raise ValueError("n_segments_eval and chunks_per_segment must be at least 1")
    target = Path(root).expanduser() / "chime_home"
    if target.exists() and not overwrite:
        raise FileExistsError(f"{target} exists: pass overwrite=True to replace it")
    dev, evaluation = plan_segments(n_segments_dev=n_segments_dev,
                                    n_segments_eval=n_segments_eval,
                                    chunks_per_segment=chunks_per_segment, seed=seed)

    def write(staging: Path) -> None:
        (staging / "chunks").mkdir()
        for plan in dev + evaluation:
            _write_segment(staging, plan, seed=seed)
        _write_lists(staging, dev, evaluation)

    return write_folder_atomic(target, write, overwrite=overwrite)


def plan_segments(*, n_segments_dev: int, n_segments_eval: int, chunks_per_segment: int,
                  seed: int) -> tuple[list[SegmentPlan], list[SegmentPlan]]:
    """Draws segment names, folds and the sources present in each chunk.

    Args:
      n_segments_dev: development segments, spread evenly over the folds.
      n_segments_eval: evaluation segments.
      chunks_per_segment: chunks per segment.
      seed: seed of the plan (audio uses other streams of the same seed).

    Returns:
      (development, evaluation) segment plans, each sorted by name.
    """
    rng = np.random.default_rng([seed, 0])
    names = _segment_names(rng, [n_segments_dev, n_segments_eval])
    folds = rng.permutation(n_segments_dev) % NUM_FOLDS
    plans = []
    for index, name in enumerate(names[0] + names[1]):
        fold = int(folds[index]) if index < n_segments_dev else None
        plans.append(SegmentPlan(name, fold, _segment_labels(rng, chunks_per_segment), index))
    by_name = operator.attrgetter("name")
    return sorted(plans[:n_segments_dev], key=by_name), sorted(plans[n_segments_dev:], key=by_name)


def synthesize_chunk(letters: str, room: Room, *, rng: np.random.Generator) -> Mixture:
    """Mixes one 4 s chunk.

    Args:
      letters: sources present, e.g. `"cp"`; empty for a background-only chunk.
      room: acoustics of the chunk's segment.
      rng: source of randomness.

    Returns:
      The mixture, with what the annotators need to know about it.
    """
    foreground = np.zeros(CHUNK_SAMPLES)
    levels_db = {letter: rng.uniform(*SOURCE_LEVELS_DB[letter]) for letter in letters}
    for letter in letters:
        source = SOURCES[letter](rng, n_samples=CHUNK_SAMPLES)
        level = db_to_gain(levels_db[letter])
        foreground += source * (level / max(active_rms(source), 1e-12))
    faint = "".join(letter for letter in letters
                    if max((db for other, db in levels_db.items() if other != letter),
                           default=-np.inf) - levels_db[letter] > FAINT_MARGIN_DB)
    foreground = apply_room(foreground, room)
    floor = room_floor(rng, room, n_samples=CHUNK_SAMPLES)
    floor_rms = db_to_gain(room.floor_db)
    quiet = float(np.mean(frame_rms(foreground) < 3.0 * floor_rms))
    audio = (foreground + floor) * room.gain
    peak = np.max(np.abs(audio))
    if peak > PEAK_LIMIT:
        audio *= PEAK_LIMIT / peak
    return Mixture(audio, quiet, faint)


def annotate(letters: str, *, quiet_fraction: float, faint: str = "",
             rng: np.random.Generator) -> dict[str, str]:
    """Simulates three annotators and their majority vote.

    A clearly audible source is marked by all three annotators, or by two of them (one misses
    it); a faint one (masked by a much louder source) by each annotator with probability
    `FAINT_MARK_PROB`, so the majority often misses it, as happens with real annotations. An
    absent label is sometimes added by a single annotator, which never changes the majority.
    `S` is marked with a probability that grows with the quiet fraction.

    Args:
      letters: sources present.
      quiet_fraction: share of the chunk where no source stands out from the room floor.
      faint: the letters among `letters` that are masked.
      rng: source of randomness.

    Returns:
      `annotation_a1..a3` and `majorityvote` strings of letters in `LABELS` order, `S` last.
    """
    marks = {letter: np.zeros(3, dtype=bool) for letter in LABELS + ("S",)}
    for letter in LABELS:
        if letter in faint:
            marks[letter][:] = rng.random(3) < FAINT_MARK_PROB
        elif letter in letters:
            marks[letter][:] = True
            if rng.random() < 0.25:
                marks[letter][rng.integers(3)] = False
        elif rng.random() < 0.04:
            marks[letter][rng.integers(3)] = True
    p_silence = 0.95 if not letters else float(np.clip(1.4 * (quiet_fraction - 0.35), 0.02, 0.9))
    marks["S"] = rng.random(3) < p_silence
    # An annotator who heard nothing of note votes silence.
    marks["S"] |= ~np.any([marked for letter, marked in marks.items() if letter != "S"], axis=0)
    strings = ["".join(letter for letter, marked in marks.items() if marked[annotator])
               for annotator in range(3)]
    vote = "".join(letter for letter, marked in marks.items() if marked.sum() >= 2)
    return {"annotation_a1": strings[0], "annotation_a2": strings[1],
            "annotation_a3": strings[2], "majorityvote": vote or "S"}


# --------------------------------------------------------------------------------------------
# Plan: names, folds and labels.
# --------------------------------------------------------------------------------------------


def _segment_names(rng: np.random.Generator, counts: Sequence[int]) -> list[list[str]]:
    """Draws segment names `<room>_<ddmmyy>_<hhmm>.s<k>`, one group per count.

    Groups never share a recording session, so development and evaluation do not overlap.
    """
    sessions: set[str] = set()
    groups = []
    for count in counts:
        names: list[str] = []
        while len(names) < count:
            day = rng.integers(60)  # Jan-Feb 2010, like the dates in the published chunk names
            session = (f"{ROOMS[rng.integers(len(ROOMS))]}_{day % 30 + 1:02d}{day // 30 + 1:02d}10"
                       f"_{rng.integers(7, 21):02d}{rng.integers(60):02d}")
            if session in sessions:
                continue
            sessions.add(session)
            n_segments = min(int(rng.integers(1, 4)), count - len(names))
            names += [f"{session}.s{k}" for k in range(n_segments)]
        groups.append(names)
    return groups


def _segment_labels(rng: np.random.Generator, n_chunks: int) -> np.ndarray:
    """Draws `[n_chunks, 7]` bool labels around a per-segment propensity."""
    priors = np.array([LABEL_PRIORS[letter] for letter in LABELS])
    logits = np.log(priors / (1.0 - priors)) + rng.normal(0.0, SEGMENT_PROPENSITY_STD, len(LABELS))
    propensity = 1.0 / (1.0 + np.exp(-logits))
    return rng.random((n_chunks, len(LABELS))) < propensity


# --------------------------------------------------------------------------------------------
# Writing.
# --------------------------------------------------------------------------------------------


def _write_segment(staging: Path, plan: SegmentPlan, *, seed: int) -> None:
    room = make_room(np.random.default_rng([seed, 1, plan.index]))
    for number, row in enumerate(plan.labels):
        # One stream per chunk, so a chunk's audio does not depend on the chunks before it.
        rng = np.random.default_rng([seed, 2, plan.index, number])
        letters = "".join(letter for letter, on in zip(LABELS, row) if on)
        mixture = synthesize_chunk(letters, room, rng=rng)
        name = f"{plan.name}_chunk{number}"
        _write_wav(chunk_wav_path(staging, name), mixture.audio)
        fields = {"segmentname": plan.name, "chunknumber": str(number)}
        fields.update(annotate(letters, quiet_fraction=mixture.quiet_fraction,
                               faint=mixture.faint, rng=rng))
        write_chunk_csv(chunk_csv_path(staging, name), fields)


def _write_lists(staging: Path, dev: Sequence[SegmentPlan],
                 evaluation: Sequence[SegmentPlan]) -> None:
    dev_chunks = [(f"{p.name}_chunk{j}", p.fold) for p in dev for j in range(len(p.labels))]
    eval_names = [f"{p.name}_chunk{j}" for p in evaluation for j in range(len(p.labels))]
    write_list(staging / CROSSVAL_LIST,
               [(i, name, fold) for i, (name, fold) in enumerate(dev_chunks)])
    write_list(staging / DEVELOPMENT_LIST, [(i, name) for i, (name, _) in enumerate(dev_chunks)])
    write_list(staging / EVALUATION_LIST, list(enumerate(eval_names)))


def _write_wav(path: Path, audio: np.ndarray) -> None:
    # Quantise here rather than in libsndfile, so the bytes do not depend on its float scaling.
    pcm = np.round(np.clip(audio, -1.0, 1.0) * 32767.0).astype(np.int16)
    sf.write(path, pcm, SAMPLE_RATE, subtype="PCM_16", format="WAV")


def _is_complete(chime_home: Path) -> bool:
    if not chime_home.is_dir():
        return False
    try:
        chunks = load_development(chime_home) + load_evaluation(chime_home)
    except DataError:
        return False
    return all(c.wav_path.stat().st_size > 44 for c in chunks)
