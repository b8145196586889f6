"""CUB-200-2011's attribute layout as its archive unpacks, read as a `Collection` of images.

The files: `CUB_200_2011/images.txt` (`<image_id> <path under images/>`),
`CUB_200_2011/train_test_split.txt` (`<image_id> <is_training_image>`),
`CUB_200_2011/attributes/image_attribute_labels.txt`
(`<image_id> <attribute_id> <is_present> <certainty_id> <time>`) and `attributes.txt`
(`<attribute_id> <name>`) at the archive's top level beside `CUB_200_2011/` (also looked for in
`CUB_200_2011/attributes/`). An attribute is present when `is_present` is 1, whatever the
annotator's certainty (1 "not visible" .. 4 "definitely"). The published
image_attribute_labels.txt has a few lines with extra fields: those are read by their first
fields; a line whose first three fields are not integers is skipped, and more than 1% of such
lines is refused as a damaged file. The data's train/test split is kept.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Optional

from admlc_tf.data.layouts.collection import Clip, Collection, audio_file, check_not_empty
from admlc_tf.errors import DataError

CUB_DIR = "CUB_200_2011"
_MALFORMED_LIMIT = 0.01


def cub_root(data_dir: Path) -> Optional[Path]:
    """The `CUB_200_2011` folder of `data_dir` (the archive's top level, or that folder)."""
    for candidate in (data_dir / CUB_DIR, data_dir):
        if (candidate / "images.txt").is_file() and (candidate / "attributes").is_dir():
            return candidate
    return None


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
    root = cub_root(data_dir)
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
