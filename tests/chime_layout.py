"""Test fixture: a tiny CHiME-Home (refined) folder in exactly the published on-disk layout.

    chime_home/
      chunks/<chunk>.16kHz.wav      short deterministic noise + tone, 16-bit PCM, mono
      chunks/<chunk>.48kHz.wav      the 48 kHz sibling (first development chunk only): ignored
      chunks/<chunk>.csv            key,value lines: segmentname, chunknumber, annotation_a1..a3,
                                    majorityvote and (extra_keys) other keys the reader ignores
      development_chunks_refined_crossval_dcase2016.csv   id,chunkname,fold (fold 0..4)
      development_chunks_refined.csv                      id,chunkname
      evaluation_chunks_refined.csv                       id,chunkname
      development_chunks_raw.csv, development_chunks_raw_crossval_dcase2016.csv,
      evaluation_chunks_raw.csv                           decoys: name a chunk that does not
                                                          exist, so reading them fails loudly

The files are written with the writers of `admlc_tf.data.layouts.chime_home`. No test functions
here.
"""

from __future__ import annotations

from pathlib import Path
from typing import Sequence

import numpy as np
import soundfile as sf

from admlc_tf.data.layouts.chime_home import (CROSSVAL_LIST, DEVELOPMENT_LIST, EVALUATION_LIST,
                                              chunk_csv_path, chunk_wav_path, write_chunk_csv,
                                              write_list)

# A chunk named by the raw decoy lists only: it has no files, so using a raw list fails.
DECOY_CHUNK = "CR_decoy_200101_0000.s0_chunk0"
RAW_LISTS = ("development_chunks_raw.csv", "development_chunks_raw_crossval_dcase2016.csv",
             "evaluation_chunks_raw.csv")

# small_layout(): five development segments of two chunks, one segment per fold (file fold
# 0..4), listed chunk0 of every segment first so list order is not fold order.
_DEV_SEGMENTS = (
    ("CR_lounge_200110_1601.s0", 0, ("cp", "S")),           # S only -> all zeros
    ("CR_kitchen_200111_0932.s1", 1, ("cmp", "cSp")),      # S mixed with real letters
    ("CR_playroom_200112_1815.s0", 2, ("f", "fv")),
    ("CR_dining_200113_1244.s2", 3, ("b", "pU")),          # U mixed with a real letter
    ("CR_lounge_200114_2003.s1", 4, ("cmfvpbo", "mv")),    # every label
)
SMALL_DEVELOPMENT = tuple(
    (f"{segment}_chunk{number}", votes[number], fold)
    for number in range(2) for segment, fold, votes in _DEV_SEGMENTS)
SMALL_EVALUATION = (
    ("CR_kitchen_200120_1105.s0_chunk0", "c"),
    ("CR_kitchen_200120_1105.s0_chunk1", "S"),
    ("CR_playroom_200121_1630.s3_chunk0", "pb"),
    ("CR_playroom_200121_1630.s3_chunk1", "Sfo"),
)
# The label vectors the reader must produce, in LABELS order (c m f v p b o).
SMALL_LABELS = {
    "cp": [1, 0, 0, 0, 1, 0, 0], "S": [0, 0, 0, 0, 0, 0, 0], "cmp": [1, 1, 0, 0, 1, 0, 0],
    "cSp": [1, 0, 0, 0, 1, 0, 0], "f": [0, 0, 1, 0, 0, 0, 0], "fv": [0, 0, 1, 1, 0, 0, 0],
    "b": [0, 0, 0, 0, 0, 1, 0], "pU": [0, 0, 0, 0, 1, 0, 0], "cmfvpbo": [1, 1, 1, 1, 1, 1, 1],
    "mv": [0, 1, 0, 1, 0, 0, 0], "c": [1, 0, 0, 0, 0, 0, 0], "pb": [0, 0, 0, 0, 1, 1, 0],
    "Sfo": [0, 0, 1, 0, 0, 0, 1],
}


def write_wav(path: Path, audio: np.ndarray, sample_rate: int = 16000) -> Path:
    """Writes `[n]` or `[n, channels]` float audio in [-1, 1] as 16-bit PCM WAV."""
    pcm = np.round(np.clip(audio, -1.0, 1.0) * 32767.0).astype(np.int16)
    sf.write(str(path), pcm, sample_rate, subtype="PCM_16", format="WAV")
    return Path(path)


def chunk_audio(index: int, *, seconds: float = 4.0, sample_rate: int = 16000,
                seed: int = 0) -> np.ndarray:
    """`[n]` float32: a quiet noise floor plus a tone whose pitch depends on `index`."""
    rng = np.random.default_rng([seed, index])
    n = int(round(seconds * sample_rate))
    t = np.arange(n) / sample_rate
    tone = 0.2 * np.sin(2 * np.pi * (220.0 + 110.0 * (index % 12)) * t)
    return (tone + 0.05 * rng.standard_normal(n)).astype(np.float32)


def _annotation_fields(name: str, vote: str, extra_keys: bool) -> dict[str, str]:
    segment, number = name.rsplit("_chunk", 1)
    # Two annotators agree with the vote and the third adds or drops an `o`, so the majority is
    # the vote while annotation_a3 differs: the reader must use majorityvote.
    third = vote.replace("o", "") if "o" in vote else vote + "o"
    fields = {"segmentname": segment, "chunknumber": number}
    if extra_keys:
        fields["framestart"] = str(int(number) * 192000)
    fields.update(annotation_a1=vote, annotation_a2=vote, annotation_a3=third, majorityvote=vote)
    if extra_keys:
        fields["notes"] = "door, then a cough"  # a value with a comma (quoted by the writer)
        fields["annotation_s"] = "xyz"  # letters that are no labels: must not be read
    return fields


def write_chime_home(root: str | Path, *, development: Sequence[tuple[str, str, int]],
                     evaluation: Sequence[tuple[str, str]], seconds: float = 4.0,
                     sample_rate: int = 16000, seed: int = 0, extra_keys: bool = True) -> Path:
    """Writes `<root>/chime_home` in the published layout and returns that folder.

    Args:
      root: the folder to create `chime_home/` in.
      development: (chunk name, majorityvote, fold 0..4) in list order.
      evaluation: (chunk name, majorityvote) in list order.
      seconds: length of every chunk's audio.
      sample_rate: rate of the main WAVs (named `.<rate // 1000>kHz.wav`).
      seed: seeds the audio.
      extra_keys: also write annotation keys the reader must ignore.
    """
    home = Path(root) / "chime_home"
    (home / "chunks").mkdir(parents=True, exist_ok=True)
    chunks = [(name, vote) for name, vote, _ in development] + list(evaluation)
    for index, (name, vote) in enumerate(chunks):
        write_chunk_csv(chunk_csv_path(home, name), _annotation_fields(name, vote, extra_keys))
        audio = chunk_audio(index, seconds=seconds, sample_rate=sample_rate, seed=seed)
        write_wav(chunk_wav_path(home, name, sample_rate), audio, sample_rate)
    if development and sample_rate != 48000:
        name = development[0][0]
        audio = chunk_audio(10_000, seconds=seconds, sample_rate=48000, seed=seed)
        write_wav(chunk_wav_path(home, name, 48000), audio, 48000)
    write_list(home / CROSSVAL_LIST,
               [(i, name, fold) for i, (name, _, fold) in enumerate(development)])
    write_list(home / DEVELOPMENT_LIST, [(i, name) for i, (name, _, _) in enumerate(development)])
    write_list(home / EVALUATION_LIST, [(i, name) for i, (name, _) in enumerate(evaluation)])
    dev_names = [name for name, _, _ in development] + [DECOY_CHUNK]
    write_list(home / RAW_LISTS[0], list(enumerate(dev_names)))
    write_list(home / RAW_LISTS[1], [(i, n, i % 5) for i, n in enumerate(dev_names)])
    write_list(home / RAW_LISTS[2],
               list(enumerate([DECOY_CHUNK] + [name for name, _ in evaluation])))
    return home


def small_layout(root: str | Path, **kwargs) -> Path:
    """`write_chime_home` with 10 development chunks (5 segments, one per fold) and 4 evaluation
    chunks: S-only, S/U mixed with real letters and multi-label votes (see SMALL_LABELS)."""
    return write_chime_home(root, development=SMALL_DEVELOPMENT, evaluation=SMALL_EVALUATION,
                            **kwargs)
