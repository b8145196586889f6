"""Image decoding on the host (`--task images`, `predict.py` on an image export).

`read_image` decodes one file with Pillow into `[height, width, 3]` uint8 RGB, converting the
modes a photo folder holds: grayscale ("L", "1"), 16-bit grayscale ("I;16", "I"; scaled to 8
bits), palette ("P", with or without transparency), RGBA/LA (the alpha channel is dropped, as the
exported model's `tf.io.decode_image(channels=3)` drops it), CMYK and YCbCr JPEGs, and the first
frame of an animated GIF. A corrupt or truncated file, a file that is not an image, and an image
smaller than `MIN_SIDE` pixels on a side are one-line `DataError`s naming the file. Which images
a folder holds (a labels.csv folder, CUB-200-2011) is `admlc_tf.data.layouts.registry`'s.
"""

from __future__ import annotations

import os
import warnings
from pathlib import Path
from typing import Sequence

import numpy as np

from admlc_tf.errors import DataError
from admlc_tf.files import find_files

# What predict.py searches a folder for: the formats the exported graph decodes.
IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".gif")
MIN_SIDE = 8  # smaller images carry no usable content once upsampled to the backbone's size


def to_rgb(image) -> np.ndarray:
    """A PIL image of any mode -> `[height, width, 3]` uint8 RGB (alpha dropped, not blended)."""
    mode = image.mode
    if mode in ("I;16", "I;16L", "I;16B", "I;16N", "I"):
        # Pillow's own I -> L conversion clips at 255 instead of scaling 16 bits down.
        values = np.asarray(image, dtype=np.float64)
        gray = np.clip(np.round(values / 257.0), 0, 255).astype(np.uint8)
        return np.repeat(gray[:, :, None], 3, axis=2)
    if mode == "F":
        gray = np.clip(np.round(np.asarray(image, dtype=np.float64)), 0, 255).astype(np.uint8)
        return np.repeat(gray[:, :, None], 3, axis=2)
    if mode == "P" and "transparency" in image.info:
        image = image.convert("RGBA")  # (Pillow warns when a transparent palette goes to RGB)
    return np.asarray(image.convert("RGB"), dtype=np.uint8)


def read_image(path: str | os.PathLike) -> np.ndarray:
    """Decodes an image file (first frame) to `[height, width, 3]` uint8 RGB.

    Raises:
      DataError: the file is missing, not an image, corrupt or truncated, or smaller than
        `MIN_SIDE` x `MIN_SIDE`.
    """
    from PIL import Image, UnidentifiedImageError

    path = Path(path)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # e.g. DecompressionBombWarning, palette notes
            with Image.open(path) as image:
                image.load()
                pixels = to_rgb(image)
    except FileNotFoundError:
        raise DataError(f"image file {path} does not exist: restore it or remove it from the "
                        "list") from None
    except PermissionError:
        raise DataError(f"image file {path} cannot be opened (permission denied): check its "
                        "permissions, or remove it from the list") from None
    except Image.DecompressionBombError:  # a damaged header's size, or a too large image
        raise DataError(f"image file {path} claims more pixels than Pillow decodes safely "
                        f"({Image.MAX_IMAGE_PIXELS * 2}): its header is damaged, or downscale it") \
            from None
    except UnidentifiedImageError:
        raise DataError(f"{path} is not an image Pillow can read: replace it with a JPEG, PNG, "
                        "BMP or GIF file, or remove it from the list") from None
    except (OSError, SyntaxError, ValueError, EOFError) as e:
        raise DataError(f"image file {path} is corrupt or truncated ({str(e).splitlines()[0]}): "
                        "replace it or remove it from the list") from None
    height, width = pixels.shape[:2]
    if min(height, width) < MIN_SIDE:
        raise DataError(f"image {path} is {width}x{height} pixels, smaller than "
                        f"{MIN_SIDE}x{MIN_SIDE}: replace it or remove it from the list")
    return pixels


def find_images(paths: Sequence[str | os.PathLike]) -> list[Path]:
    """The image files named, and those under named folders (sorted), in argument order."""
    return find_files(paths, IMAGE_SUFFIXES, "image")
