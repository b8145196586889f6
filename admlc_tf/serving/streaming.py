"""Tagging audio of any length in bounded memory: blocks in, segments in fixed-size batches.

A file is decoded block by block (`soundfile.blocks`), mixed to mono, resampled as it streams
(`soxr.ResampleStream`, the quality librosa's default `soxr_hq` uses), and cut into the
export's segments with the layout of its waveform signature (`admlc_tf.serving.export`): segment `k`
starts at `k * hop`, there are `1 + ceil(max(0, samples - segment) / hop)` of them, and the last
is zero-padded. Segments go through the model `batch_size` at a time and are pooled as they
come, so what is held at once is one block, one segment plus a hop of audio, and one batch,
whatever the recording's length.
"""

from __future__ import annotations

import dataclasses
import math
from pathlib import Path
from typing import Callable, Iterator, Optional

import numpy as np
import soundfile
import soxr

from admlc_tf.errors import DataError
from admlc_tf.features import (BLOCK_VALUES, check_sample_rate, check_wav_not_truncated,
                               decode_error, open_audio)

BLOCK_SECONDS = 1.0  # of the file's own rate; a block is decoded, mixed and resampled at once


@dataclasses.dataclass
class StreamInfo:
    """What is known about a stream once it has been read to its end.

    Attributes:
      samples: the clip's length at the model's rate (before padding).
      original_rate: the file's rate when it was resampled, else None.
    """

    samples: int = 0
    original_rate: Optional[int] = None


def mono_blocks(path: str | Path, *, sample_rate: int, info: StreamInfo,
                block_seconds: float = BLOCK_SECONDS) -> Iterator[np.ndarray]:
    """Yields a file's audio as mono float32 blocks at `sample_rate`, in order.

    The concatenated blocks equal `features.read_audio(path)`, with its length
    (`ceil(n * sample_rate / rate)` when resampled; soxr's stream gave librosa's one-shot
    samples exactly wherever we compared, and tests bound the tags' difference by 1e-3).
    `info` is filled in as the file is read.

    Raises:
      DataError: as `features.read_audio`: missing, truncated, undecodable, empty, not finite.
    """
    path = Path(path)
    with open_audio(path) as handle:
        yield from _mono_blocks(path, handle, sample_rate=sample_rate, info=info,
                                block_seconds=block_seconds)


def _mono_blocks(path: Path, handle, *, sample_rate: int, info: StreamInfo,
                 block_seconds: float) -> Iterator[np.ndarray]:
    check_wav_not_truncated(path, handle)
    handle.seek(0)
    try:
        with soundfile.SoundFile(handle) as probe:
            rate, channels = probe.samplerate, probe.channels
    except (soundfile.LibsndfileError, RuntimeError, OSError, ValueError) as e:
        raise decode_error(path, e) from None
    check_sample_rate(path, rate)
    handle.seek(0)
    resampler = None
    if rate != sample_rate:
        info.original_rate = rate
        resampler = soxr.ResampleStream(rate, sample_rate, 1, dtype="float32", quality="HQ")
    blocksize = max(1, min(int(block_seconds * rate), BLOCK_VALUES // max(1, channels)))
    read = produced = 0
    try:
        for block in soundfile.blocks(handle, blocksize=blocksize, dtype="float32",
                                      always_2d=True):
            mono = block.mean(axis=1)  # [block]
            if not np.all(np.isfinite(mono)):
                raise DataError(f"audio file {path} contains NaN or inf samples: replace it")
            read += len(mono)
            if resampler is not None:
                mono = resampler.resample_chunk(mono)
            produced += len(mono)
            info.samples = produced
            if len(mono):
                yield np.ascontiguousarray(mono, dtype=np.float32)
    except (soundfile.LibsndfileError, RuntimeError, OSError, ValueError) as e:
        raise decode_error(path, e) from None
    if read == 0:
        raise DataError(f"audio file {path} holds no samples: replace it or remove it from the "
                        "list")
    if resampler is not None:
        tail = resampler.resample_chunk(np.zeros(0, np.float32), last=True)
        # librosa.resample's length, ceil(n * ratio): the stream's own is at most that (it
        # matches it sample for sample otherwise), so a short tail is zero-padded.
        expected = math.ceil(read * sample_rate / rate)
        tail = np.pad(tail, (0, max(0, expected - produced - len(tail))))
        info.samples = expected
        if len(tail):
            yield np.ascontiguousarray(tail, dtype=np.float32)


def segments(blocks: Iterator[np.ndarray], *, segment: int, hop: int,
             info: StreamInfo) -> Iterator[np.ndarray]:
    """Cuts a stream of blocks into the waveform signature's segments.

    Args:
      blocks: mono float32 blocks; `info.samples` must be final once they are exhausted.
      segment, hop: segment length and hop in samples.

    Yields:
      `[segment]` float32 views, the last zero-padded; valid until the next one is asked for.
    """
    buffer = np.zeros(0, np.float32)
    start = 0  # absolute index of buffer[0]
    k = 0
    total = 0
    for block in blocks:
        buffer = np.concatenate([buffer, block]) if len(buffer) else block
        total += len(block)
        while k * hop + segment <= total:
            offset = k * hop - start
            yield buffer[offset:offset + segment]
            k += 1
        keep_from = min(k * hop, total)
        buffer, start = buffer[keep_from - start:], keep_from
    total = info.samples
    count = 1 + max(0, -(-(total - segment) // hop))
    while k < count:
        offset = max(0, k * hop - start)
        piece = buffer[offset:offset + segment]
        yield np.pad(piece, (0, segment - len(piece)))
        k += 1


class Pooled:
    """Per-label pooling of segment probabilities as they arrive, and (optionally) the timeline.

    Args:
      pooling: "max" or "mean", as the export's `serving.pooling`.
      keep_segments: keep every segment's probabilities (for a timeline or events: a few bytes
        per label and segment, not audio).
    """

    def __init__(self, pooling: str, keep_segments: bool = False):
        if pooling not in ("max", "mean"):
            raise ValueError(f"pooling {pooling!r} is not known: use max or mean")
        self.pooling, self.keep_segments = pooling, keep_segments
        self.count, self.value, self.kept = 0, None, []

    def add(self, probabilities: np.ndarray) -> None:
        """Adds `[n, labels]` segment probabilities, in segment order."""
        probabilities = np.asarray(probabilities, np.float64)
        if self.keep_segments:
            self.kept.append(probabilities.astype(np.float32))
        reduced = (probabilities.max(axis=0) if self.pooling == "max"
                   else probabilities.sum(axis=0))
        if self.value is None:
            self.value = reduced
        else:
            self.value = (np.maximum(self.value, reduced) if self.pooling == "max"
                          else self.value + reduced)
        self.count += len(probabilities)

    def result(self) -> np.ndarray:
        """`[labels]` pooled probabilities."""
        value = self.value if self.pooling == "max" else self.value / self.count
        return value.astype(np.float32)

    def segment_probabilities(self) -> np.ndarray:
        """`[segments, labels]`, when `keep_segments`."""
        return np.concatenate(self.kept) if self.kept else np.zeros((0, 0), np.float32)


def tag_stream(path: str | Path, predict: Callable[[np.ndarray], np.ndarray], *,
               sample_rate: int, segment: int, hop: int, pooling: str, batch_size: int = 16,
               keep_segments: bool = False,
               block_seconds: float = BLOCK_SECONDS) -> tuple[Pooled, StreamInfo]:
    """Tags one file of any length in bounded memory.

    Args:
      path: the audio file.
      predict: `[n, segment]` waveforms (n <= batch_size) -> `[n, labels]` probabilities.
      sample_rate, segment, hop, pooling: the export's `features.sample_rate` and `serving`.
      batch_size: segments per call of `predict`.
      keep_segments: keep each segment's probabilities (`Pooled.segment_probabilities`).

    Returns:
      The pooled probabilities and what was learnt about the file.

    Raises:
      DataError: the file cannot be read (see `mono_blocks`).
    """
    if batch_size < 1:
        raise ValueError(f"batch_size {batch_size} must be at least 1")
    info = StreamInfo()
    pooled = Pooled(pooling, keep_segments)
    batch = np.zeros((batch_size, segment), np.float32)
    filled = 0
    blocks = mono_blocks(path, sample_rate=sample_rate, info=info, block_seconds=block_seconds)
    for piece in segments(blocks, segment=segment, hop=hop, info=info):
        batch[filled] = piece
        filled += 1
        if filled == batch_size:
            pooled.add(predict(batch))
            filled = 0
    if filled:
        pooled.add(predict(batch[:filled]))
    return pooled, info
