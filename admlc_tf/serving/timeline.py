"""Where in a recording each label is: segment timelines and DESED-style events.

A timeline row is one segment of the export's layout: it starts at `k * hop` and ends
`segment` later, or at the clip's end for the last one (not at the zero-padded end). Events
come from per-label decisions (`probability >= threshold`) smoothed over segments by a median
filter of an odd number of segments (the DCASE baselines' post-processing; 3 segments = 8 s of
audio with 4 s segments every 2 s), then each run of positive segments becomes one event from
its first segment's start to its last segment's end, and events of one label closer than one hop
are merged. Their files are written by `admlc_tf.serving.outputs`.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np


def segment_times(count: int, *, samples: int, segment: int, hop: int,
                  sample_rate: int) -> tuple[np.ndarray, np.ndarray]:
    """`[count]` start and end seconds of a clip's segments; the last ends at the clip's end."""
    starts = np.arange(count) * hop
    ends = np.minimum(starts + segment, samples)
    return starts / sample_rate, ends / sample_rate


def median_filter(decisions: np.ndarray, width: int) -> np.ndarray:
    """Each segment's decision replaced by the majority of the `width` segments centred on it.

    Args:
      decisions: `[segments, labels]` booleans.
      width: odd number of segments; 1 leaves the decisions as they are. At the ends the
        window is filled with the edge segment's decision (what `scipy.ndimage.median_filter`
        calls mode "nearest").

    Returns:
      `[segments, labels]` booleans.
    """
    if width < 1 or width % 2 == 0:
        raise ValueError(f"median filter width {width} must be an odd number of segments")
    decisions = np.asarray(decisions, bool)
    if width == 1 or len(decisions) == 0:
        return decisions
    half = width // 2
    padded = np.concatenate([np.repeat(decisions[:1], half, axis=0), decisions,
                             np.repeat(decisions[-1:], half, axis=0)]).astype(np.int32)
    votes = np.cumsum(np.concatenate([np.zeros_like(padded[:1]), padded]), axis=0)
    return (votes[width:] - votes[:-width]) > half


def events(probabilities: np.ndarray, thresholds: np.ndarray, label_names: Sequence[str], *,
           starts: np.ndarray, ends: np.ndarray, hop_seconds: float,
           median_segments: int = 3) -> list[tuple[float, float, str]]:
    """`(onset, offset, label)` events of one clip, sorted by onset then label order.

    Args:
      probabilities: `[segments, labels]`.
      thresholds: `[labels]`.
      starts, ends: `[segments]` seconds, as `segment_times`.
      hop_seconds: events of one label with a gap shorter than this are merged.
      median_segments: the median filter's width (odd).
    """
    decided = median_filter(np.asarray(probabilities) >= np.asarray(thresholds)[None],
                            median_segments)
    found = []
    for j, label in enumerate(label_names):
        runs = []
        column = np.r_[False, decided[:, j], False]
        edges = np.flatnonzero(column[1:] != column[:-1])  # rising, falling, rising, ...
        for first, after in zip(edges[::2], edges[1::2]):
            onset, offset = float(starts[first]), float(ends[after - 1])
            if runs and onset - runs[-1][1] < hop_seconds:
                runs[-1] = (runs[-1][0], max(runs[-1][1], offset))
            else:
                runs.append((onset, offset))
        found += [(onset, offset, label, j) for onset, offset in runs]
    return [(onset, offset, label) for onset, offset, label, _ in
            sorted(found, key=lambda e: (e[0], e[3]))]
