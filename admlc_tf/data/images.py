"""Labelled image collections and image decoding on the host (`--task images`).

Two layouts, detected from `data.data_dir`:

- "csv": a folder with `labels.csv` (`file,labels[,split][,fold]`), read by the audio task's
  reader (`admlc_tf.data.layouts.labels_csv`) with image files instead of audio.
- "cub": CUB-200-2011's attribute layout as its archive unpacks: `CUB_200_2011/images.txt`
  (`<image_id> <path under images/>`), `CUB_200_2011/train_test_split.txt`
  (`<image_id> <is_training_image>`), `CUB_200_2011/attributes/image_attribute_labels.txt`
  (`<image_id> <attribute_id> <is_present> <certainty_id> <time>`) and `attributes.txt`
  (`<attribute_id> <name>`) at the archive's top level beside `CUB_200_2011/` (also looked for
  in `CUB_200_2011/attributes/`). An attribute is present when `is_present` is 1, whatever the
  annotator's certainty (1 "not visible" .. 4 "definitely"). The published
  image_attribute_labels.txt has a few lines with extra fields: those are read by their first
  fields; a line whose first three fields are not integers is skipped, and more than 1% of such
  lines is refused as a damaged file. The data's train/test split is kept.

`read_image` decodes one file with Pillow into `[height, width, 3]` uint8 RGB, converting the
modes a photo folder holds: grayscale ("L", "1"), 16-bit grayscale ("I;16", "I"; scaled to 8
bits), palette ("P", with or without transparency), RGBA/LA (the alpha channel is dropped, as the
exported model's `tf.io.decode_image(channels=3)` drops it), CMYK and YCbCr JPEGs, and the first
frame of an animated GIF. A corrupt or truncated file, a file that is not an image, and an image
smaller than `MIN_SIDE` pixels on a side are one-line `DataError`s naming the file.
"""

from __future__ import annotations

import os
import warnings
from pathlib import Path
from typing import Optional, Sequence

import numpy as np

from admlc_tf.data.layouts.collection import Clip, Collection, audio_file, check_not_empty
from admlc_tf.errors import DataError
from admlc_tf.files import find_files

IMAGE_LAYOUTS = ("csv", "cub")
# What predict.py searches a folder for: the formats the exported graph decodes.
IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".gif")
MIN_SIDE = 8  # smaller images carry no usable content once upsampled to the backbone's size
CUB_DIR = "CUB_200_2011"
_MALFORMED_LIMIT = 0.01


# --- decoding --------------------------------------------------------------------------------

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


# --- layouts ---------------------------------------------------------------------------------

def _cub_root(data_dir: Path) -> Optional[Path]:
    """The `CUB_200_2011` folder of `data_dir` (the archive's top level, or that folder)."""
    for candidate in (data_dir / CUB_DIR, data_dir):
        if (candidate / "images.txt").is_file() and (candidate / "attributes").is_dir():
            return candidate
    return None


def detect_image_layout(data_dir: str | os.PathLike) -> str:
    """"csv" when `data_dir` holds labels.csv, "cub" when it holds CUB-200-2011."""
    data_dir = Path(data_dir).expanduser()
    if not data_dir.is_dir():
        raise DataError(f"data dir {data_dir} does not exist: fix data.data_dir")
    matches = [name for name, found in (("csv", (data_dir / "labels.csv").is_file()),
                                        ("cub", _cub_root(data_dir) is not None)) if found]
    if not matches:
        raise DataError(f"{data_dir} holds neither labels.csv (file,labels[,split][,fold]) nor "
                        f"CUB-200-2011 ({CUB_DIR}/images.txt and {CUB_DIR}/attributes/): point "
                        "data.data_dir at such a folder")
    if len(matches) > 1:
        raise DataError(f"{data_dir} holds both labels.csv and CUB-200-2011: pass data.layout "
                        "csv or cub")
    return matches[0]


def load_image_collection(data_dir: Optional[str | os.PathLike], *,
                          layout: Optional[str] = None,
                          labels_file: Optional[str | os.PathLike] = None,
                          image_dir: Optional[str | os.PathLike] = None) -> Collection:
    """Reads the images of a data set and their label names.

    Args:
      data_dir: the data folder; unused when `labels_file` is given.
      layout: "csv" or "cub"; None detects it.
      labels_file: a labels.csv anywhere (overrides `data_dir`).
      image_dir: with `labels_file`, the folder its paths are relative to (default its folder).
    """
    from admlc_tf.data.layouts.labels_csv import read_labels_csv

    if labels_file is not None:
        if Path(labels_file).suffix.lower() != ".csv":
            raise DataError(f"data.labels_file {labels_file} is not a .csv: pass a labels.csv-"
                            "style file (file,labels[,split][,fold])")
        return read_labels_csv(labels_file, image_dir, kind="image")
    if data_dir is None:
        raise DataError("no data given: pass data.data_dir or data.labels_file")
    data_dir = Path(data_dir).expanduser()
    layout = layout or detect_image_layout(data_dir)
    if layout == "csv":
        return read_labels_csv(data_dir / "labels.csv", kind="image")
    if layout == "cub":
        return read_cub(data_dir)
    raise DataError(f"data.layout {layout!r} is not an image layout: use one of "
                    f"{', '.join(IMAGE_LAYOUTS)}")


def _id_table(path: Path, what: str) -> dict[int, str]:
    """`<id> <value>` lines -> {id: value} (the value may hold spaces)."""
    if not path.is_file():
        raise DataError(f"CUB-200-2011 file {path} does not exist: unpack the whole archive "
                        f"({what})")
    table = {}
    with open(path, encoding="utf-8") as f:
        for line_no, line in enumerate(f, 1):
            if not line.strip():
                continue
            key, _, value = line.strip().partition(" ")
            if not key.isdigit() or not value.strip():
                raise DataError(f"{path}:{line_no}: expected '<id> <{what}>', got "
                                f"{line.strip()[:60]!r}: restore the file from the archive")
            table[int(key)] = value.strip()
    return table


def read_cub(data_dir: str | os.PathLike) -> Collection:
    """Reads CUB-200-2011's images with their attributes as labels (see the module docstring)."""
    data_dir = Path(data_dir).expanduser().absolute()
    root = _cub_root(data_dir)
    if root is None:
        raise DataError(f"{data_dir} holds no {CUB_DIR}/images.txt and {CUB_DIR}/attributes/: "
                        "point data.data_dir at the unpacked CUB-200-2011 archive")
    names_path = next((p for p in (root.parent / "attributes.txt",
                                   root / "attributes" / "attributes.txt",
                                   root / "attributes.txt") if p.is_file()),
                      root.parent / "attributes.txt")
    attributes = _id_table(names_path, "attribute name")
    images_path = root / "images.txt"
    images = _id_table(images_path, "image path")
    splits = _id_table(root / "train_test_split.txt", "is_training_image")
    present = _read_attribute_labels(root / "attributes" / "image_attribute_labels.txt",
                                     images, attributes)
    image_root = root / "images"
    clips = []
    for image_id, listed in images.items():
        name, path = audio_file(image_root, listed, images_path, image_id, "image")
        if image_id not in splits:
            raise DataError(f"{root / 'train_test_split.txt'} has no line for image {image_id} "
                            f"({name}): restore the file from the archive")
        labels = tuple(attributes[a] for a in sorted(present.get(image_id, ())))
        clips.append(Clip(name, path, labels, "train" if splits[image_id] == "1" else "test"))
    check_not_empty(clips, images_path)
    return Collection(image_root, "cub", clips,
                      vocabulary=[attributes[a] for a in sorted(attributes)], source=root)


def _read_attribute_labels(path: Path, images: dict, attributes: dict) -> dict[int, set[int]]:
    """image id -> ids of the attributes marked present (is_present == 1)."""
    if not path.is_file():
        raise DataError(f"CUB-200-2011 file {path} does not exist: unpack the whole archive")
    present: dict[int, set[int]] = {}
    lines = malformed = 0
    with open(path, encoding="utf-8", errors="replace") as f:
        for line_no, line in enumerate(f, 1):
            fields = line.split()
            if not fields:
                continue
            lines += 1
            try:
                image_id, attribute_id, is_present = (int(v) for v in fields[:3])
            except ValueError:
                malformed += 1
                continue
            if image_id not in images or attribute_id not in attributes:
                raise DataError(f"{path}:{line_no}: image {image_id} or attribute {attribute_id} "
                                "is not in images.txt / attributes.txt: restore the files from "
                                "one archive")
            if is_present == 1:
                present.setdefault(image_id, set()).add(attribute_id)
    if not lines or malformed > _MALFORMED_LIMIT * lines:
        raise DataError(f"{path}: {malformed} of {lines} lines are not '<image_id> "
                        "<attribute_id> <is_present> ...': restore the file from the archive")
    return present
