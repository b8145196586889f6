"""Tagging image files with an exported image model (`predict.py` on an `image_bytes` export).

Every file is first decoded on the host with Pillow (`admlc_tf.data.images.read_image`, as
training reads images), which finds the bad ones: one `error:` line per file on stderr, the
others are tagged (a batch with a bad file exits 1). The model's own graph then decodes what its
core-op decoder reads as Pillow does -- JPEG, PNG and GIF files, and 24/32-bit BMPs -- from the
file's bytes; anything else (TIFF, WebP, palette or 1-bit BMPs, which `tf.io.decode_image` reads
wrongly or not at all) is sent as a lossless PNG of Pillow's RGB pixels.
"""

from __future__ import annotations

import io
import sys
from pathlib import Path
from typing import Optional, Sequence

import keras
import numpy as np
import tensorflow as tf

from admlc_tf.errors import DataError, printable
from admlc_tf.serving import outputs
from admlc_tf.serving.exported import ExportedPredictor

BATCH = 16
_GRAPH_FORMATS = ("JPEG", "PNG", "GIF")


def _png(pixels: np.ndarray) -> bytes:
    from PIL import Image

    buffer = io.BytesIO()
    Image.fromarray(pixels, "RGB").save(buffer, format="PNG")
    return buffer.getvalue()


def encoded_for_graph(path: Path) -> tuple[bytes, np.ndarray, str]:
    """`(bytes the exported graph decodes like Pillow, [height, width, 3] pixels, Pillow mode)`.

    Raises:
      DataError: the file is missing, not an image, corrupt or truncated, or too small.
    """
    from PIL import Image

    from admlc_tf.data.images import read_image

    pixels = read_image(path)  # every check, and the pixels for a re-encoding
    with Image.open(path) as image:
        kind, mode = image.format, image.mode
    data = Path(path).read_bytes()
    if kind in _GRAPH_FORMATS or (kind == "BMP" and mode in ("RGB", "RGBA")):
        return data, pixels, mode
    return _png(pixels), pixels, mode


def tag_images(paths: Sequence[str | Path], *, model: ExportedPredictor,
               threshold: Optional[float] = None, csv_path: Optional[str] = None,
               json_path: Optional[str] = None, verbose: bool = True) -> list[dict]:
    """Tags each image, prints a table, and optionally writes CSV / JSON (atomically).

    Args:
      model: the loaded image export.
      threshold: a label is reported at or above it; None: the export's
        `assets/thresholds.json` (`admlc_tf.thresholds`; 0.5 where the run chose none).

    Returns:
      One record per image: `file`, `width`, `height`, `mode` (Pillow's, e.g. "CMYK"),
      `probabilities` {label: p} and `labels`; a file that could not be read gives `file` and
      `error` instead (and is left out of the table and the CSV).

    Raises:
      DataError: no image could be read (then nothing is written).
    """
    from admlc_tf.data.images import find_images

    files = find_images(paths)
    names = model.label_names
    cut, used = model.thresholds(threshold)
    progress = keras.utils.Progbar(len(files), unit_name="image") \
        if verbose and len(files) > 1 else None
    records, errors = [], []
    for start in range(0, len(files), BATCH):
        batch, encoded, decoded = [], [], []
        for path in files[start:start + BATCH]:
            try:
                data, pixels, mode = encoded_for_graph(path)
            except DataError as e:
                print(f"error: {e}", file=sys.stderr)
                errors.append({"file": printable(str(path)), "error": str(e)})
                continue
            batch.append((path, {"width": pixels.shape[1], "height": pixels.shape[0],
                                 "mode": mode}))
            encoded.append(data)
            decoded.append(pixels)
        if encoded:
            try:
                probabilities = model.tag_image_bytes(encoded)
            except tf.errors.InvalidArgumentError:  # a variant the graph's decoder refuses
                probabilities = model.tag_image_bytes([_png(pixels) for pixels in decoded])
            records += [outputs.record(path, names, p, cut, **facts)
                        for (path, facts), p in zip(batch, probabilities)]
        if progress:
            progress.update(min(start + BATCH, len(files)))
    if not records:
        raise DataError(f"none of the {len(files)} image(s) could be read (see above): fix or "
                        "remove them")
    outputs.announce(records, names, used)
    if csv_path:
        outputs.write_csv(csv_path, records, names, columns=("width", "height"))
    if json_path:
        outputs.write_json(json_path, {"model": str(model.path)}, names, cut, used, records,
                           errors)
    return records + errors
