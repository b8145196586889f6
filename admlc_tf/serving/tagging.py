"""Tagging files with an export, whatever it takes: what `predict.py` runs.

The export's `assets/export_config.json` says what its `serving_default` takes (`input`):
"image_bytes" goes to `admlc_tf.serving.images`, audio ("waveform") to `admlc_tf.serving.audio`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Optional, Sequence

from admlc_tf.errors import AdmlcError
from admlc_tf.serving.audio import tag_audio
from admlc_tf.serving.exported import ExportedPredictor
from admlc_tf.serving.images import tag_images


def tag_files(paths: Sequence[str | Path], *, model_path: str | Path,
              threshold: Optional[float] = None, csv_path: Optional[str] = None,
              json_path: Optional[str] = None, timeline_path: Optional[str] = None,
              events_path: Optional[str] = None, median_segments: int = 3,
              batch_size: int = 16, backend: str = "savedmodel",
              verbose: bool = True) -> list[dict]:
    """Loads `model_path` and tags `paths` with it (`tag_audio` or `tag_images`, whose
    arguments and records these are); `timeline_path`, `events_path`, `median_segments`,
    `batch_size` and `backend` are for audio models."""
    model = ExportedPredictor(model_path)
    if model.input == "image_bytes":
        if timeline_path or events_path or backend != "savedmodel":
            raise AdmlcError(f"{model_path} tags images: --timeline, --events and --backend "
                             "are for audio models")
        return tag_images(paths, model=model, threshold=threshold, csv_path=csv_path,
                          json_path=json_path, verbose=verbose)
    return tag_audio(paths, model=model, threshold=threshold, csv_path=csv_path,
                     json_path=json_path, timeline_path=timeline_path, events_path=events_path,
                     median_segments=median_segments, batch_size=batch_size, backend=backend,
                     verbose=verbose)
