"""The one registry of data set layouts, audio and images alike: which layout a folder holds, and
the reader for it. A new layout is one reader module (returning a `Collection`) plus one line in
`REGISTRY`; its `kind` says which task reads it. CHiME-Home is detected here but read by
`admlc_tf.data.layouts.chime_home`, which keeps its own protocol.
"""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path
from typing import Callable, Optional

from admlc_tf.data.layouts.chime_home import CROSSVAL_LIST
from admlc_tf.data.layouts.collection import Collection
from admlc_tf.data.layouts.cub import CUB_DIR, cub_root, read_cub
from admlc_tf.data.layouts.desed import read_desed
from admlc_tf.data.layouts.fsd50k import read_fsd50k
from admlc_tf.data.layouts.labels_csv import read_labels_csv
from admlc_tf.errors import DataError


@dataclasses.dataclass(frozen=True)
class Layout:
    """One on-disk layout of one task's data.

    Attributes:
      name: what `data.layout` calls it (unique per kind).
      kind: "audio" or "image", the task whose files it lists.
      markers: the layout is present when any of these exists ("/" ends a folder); messages
        name them.
      read: `data_dir -> Collection`; None when another module reads it (CHiME-Home).
      found: `data_dir -> bool`, when presence is more than one marker (CUB's two roots).
    """

    name: str
    kind: str
    markers: tuple[str, ...]
    read: Optional[Callable[[Path], Collection]]
    found: Optional[Callable[[Path], bool]] = None

    def present(self, data_dir: Path) -> bool:
        if self.found is not None:
            return self.found(data_dir)
        return any(_has(data_dir, marker) for marker in self.markers)


REGISTRY = (
    Layout("chime-home", "audio", (CROSSVAL_LIST, f"chime_home/{CROSSVAL_LIST}"), None),
    Layout("fsd50k", "audio", ("FSD50K.ground_truth/",), read_fsd50k),
    Layout("desed", "audio", ("metadata/train/weak.tsv",), read_desed),
    Layout("csv", "audio", ("labels.csv",),
           lambda data_dir: read_labels_csv(data_dir / "labels.csv")),
    Layout("csv", "image", ("labels.csv",),
           lambda data_dir: read_labels_csv(data_dir / "labels.csv", kind="image")),
    Layout("cub", "image", (f"{CUB_DIR}/images.txt", f"{CUB_DIR}/attributes/"), read_cub,
           found=lambda data_dir: cub_root(data_dir) is not None),
)


def layouts(kind: str) -> dict[str, Layout]:
    """The layouts of one kind ("audio" or "image"), by name, in registry order."""
    return {layout.name: layout for layout in REGISTRY if layout.kind == kind}


LAYOUTS = tuple(layouts("audio"))
IMAGE_LAYOUTS = tuple(layouts("image"))


def _has(data_dir: Path, marker: str) -> bool:
    path = data_dir / marker.rstrip("/")
    return path.is_dir() if marker.endswith("/") else path.is_file()


def _matches(data_dir: str | os.PathLike, kind: str) -> tuple[Path, list[str]]:
    data_dir = Path(data_dir).expanduser()
    if not data_dir.is_dir():
        raise DataError(f"data dir {data_dir} does not exist: fix data.data_dir")
    return data_dir, [name for name, layout in layouts(kind).items() if layout.present(data_dir)]


def detect_layout(data_dir: str | os.PathLike) -> str:
    """Returns the one audio layout whose marker file or folder is in `data_dir`."""
    data_dir, matches = _matches(data_dir, "audio")
    if not matches:
        needs = "; ".join(f"{name} needs {' or '.join(layout.markers)}"
                          for name, layout in layouts("audio").items())
        raise DataError(f"{data_dir} matches none of the layouts {', '.join(LAYOUTS)}: {needs}; "
                        "point data.data_dir at such a folder, or pass data.layout")
    if len(matches) > 1:
        raise DataError(f"{data_dir} matches several layouts ({', '.join(matches)}): pass "
                        "data.layout to choose one")
    return matches[0]


def detect_image_layout(data_dir: str | os.PathLike) -> str:
    """"csv" when `data_dir` holds labels.csv, "cub" when it holds CUB-200-2011."""
    data_dir, matches = _matches(data_dir, "image")
    if not matches:
        raise DataError(f"{data_dir} holds neither labels.csv (file,labels[,split][,fold]) nor "
                        f"CUB-200-2011 ({CUB_DIR}/images.txt and {CUB_DIR}/attributes/): point "
                        "data.data_dir at such a folder")
    if len(matches) > 1:
        raise DataError(f"{data_dir} holds both labels.csv and CUB-200-2011: pass data.layout "
                        "csv or cub")
    return matches[0]


def load_collection(data_dir: Optional[str | os.PathLike], *, layout: Optional[str] = None,
                    labels_file: Optional[str | os.PathLike] = None,
                    audio_dir: Optional[str | os.PathLike] = None) -> Collection:
    """Reads the clips of an audio data set.

    Args:
      data_dir: the data set folder; unused when `labels_file` is given.
      layout: one of `LAYOUTS` other than "chime-home"; None detects it.
      labels_file: a `.tsv` (DESED form) or `.csv` (labels.csv form) anywhere; overrides
        `data_dir` and `layout`.
      audio_dir: with `labels_file`, the folder its paths are relative to; default its folder.

    Raises:
      ValueError: for "chime-home", which `admlc_tf.data.layouts.chime_home` reads.
    """
    if labels_file is not None:
        suffix = Path(labels_file).suffix.lower()
        if suffix == ".tsv":
            return read_desed(labels_file=labels_file, audio_dir=audio_dir)
        if suffix == ".csv":
            return read_labels_csv(labels_file, audio_dir)
        raise DataError(f"data.labels_file {labels_file} is neither .csv nor .tsv: pass a "
                        "labels.csv-style .csv or a DESED-style .tsv")
    if data_dir is None:
        raise DataError("no data given: pass data.data_dir or data.labels_file")
    data_dir = Path(data_dir).expanduser()
    if layout is None:
        layout = detect_layout(data_dir)
    audio = layouts("audio")
    if layout not in audio:
        raise DataError(f"data.layout {layout!r} is unknown: use one of {', '.join(LAYOUTS)}")
    if audio[layout].read is None:
        raise ValueError(f"the {layout} layout is read by its own module, not load_collection")
    return audio[layout].read(data_dir)


def load_image_collection(data_dir: Optional[str | os.PathLike], *,
                          layout: Optional[str] = None,
                          labels_file: Optional[str | os.PathLike] = None,
                          image_dir: Optional[str | os.PathLike] = None) -> Collection:
    """Reads the images of a data set and their label names.

    Args:
      data_dir: the data folder; unused when `labels_file` is given.
      layout: one of `IMAGE_LAYOUTS` ("csv" or "cub"); None detects it.
      labels_file: a labels.csv anywhere (overrides `data_dir`).
      image_dir: with `labels_file`, the folder its paths are relative to (default its folder).
    """
    if labels_file is not None:
        if Path(labels_file).suffix.lower() != ".csv":
            raise DataError(f"data.labels_file {labels_file} is not a .csv: pass a labels.csv-"
                            "style file (file,labels[,split][,fold])")
        return read_labels_csv(labels_file, image_dir, kind="image")
    if data_dir is None:
        raise DataError("no data given: pass data.data_dir or data.labels_file")
    data_dir = Path(data_dir).expanduser()
    layout = layout or detect_image_layout(data_dir)
    image = layouts("image")
    if layout not in image:
        raise DataError(f"data.layout {layout!r} is not an image layout: use one of "
                        f"{', '.join(IMAGE_LAYOUTS)}")
    return image[layout].read(data_dir)
