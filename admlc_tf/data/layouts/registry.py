"""Which data set layout a folder holds, and the reader for it.

A new layout is one reader module (returning a `Collection`) plus one line in `_LAYOUTS`.
CHiME-Home is detected here but read by `admlc_tf.data.layouts.chime_home`, which keeps its own protocol.
"""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path
from typing import Callable, Optional

from admlc_tf.data.layouts.chime_home import CROSSVAL_LIST
from admlc_tf.data.layouts.collection import Collection
from admlc_tf.data.layouts.desed import read_desed
from admlc_tf.data.layouts.fsd50k import read_fsd50k
from admlc_tf.data.layouts.labels_csv import read_labels_csv
from admlc_tf.errors import DataError


@dataclasses.dataclass(frozen=True)
class _Layout:
    markers: tuple[str, ...]   # the layout is present when any of these exists ("/" = a folder)
    read: Optional[Callable[[Path], Collection]]   # None: read elsewhere


_LAYOUTS = {
    "chime-home": _Layout((CROSSVAL_LIST, f"chime_home/{CROSSVAL_LIST}"), None),
    "fsd50k": _Layout(("FSD50K.ground_truth/",), read_fsd50k),
    "desed": _Layout(("metadata/train/weak.tsv",), read_desed),
    "csv": _Layout(("labels.csv",), lambda data_dir: read_labels_csv(data_dir / "labels.csv")),
}
LAYOUTS = tuple(_LAYOUTS)


def _has(data_dir: Path, marker: str) -> bool:
    path = data_dir / marker.rstrip("/")
    return path.is_dir() if marker.endswith("/") else path.is_file()


def detect_layout(data_dir: str | os.PathLike) -> str:
    """Returns the one layout whose marker file or folder is in `data_dir`."""
    data_dir = Path(data_dir).expanduser()
    if not data_dir.is_dir():
        raise DataError(f"data dir {data_dir} does not exist: fix data.data_dir")
    matches = [name for name, layout in _LAYOUTS.items()
               if any(_has(data_dir, marker) for marker in layout.markers)]
    if not matches:
        needs = "; ".join(f"{name} needs {' or '.join(layout.markers)}"
                          for name, layout in _LAYOUTS.items())
        raise DataError(f"{data_dir} matches none of the layouts {', '.join(LAYOUTS)}: {needs}; "
                        "point data.data_dir at such a folder, or pass data.layout")
    if len(matches) > 1:
        raise DataError(f"{data_dir} matches several layouts ({', '.join(matches)}): pass "
                        "data.layout to choose one")
    return matches[0]


def load_collection(data_dir: Optional[str | os.PathLike], *, layout: Optional[str] = None,
                    labels_file: Optional[str | os.PathLike] = None,
                    audio_dir: Optional[str | os.PathLike] = None) -> Collection:
    """Reads the clips of a data set.

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
    if layout not in _LAYOUTS:
        raise DataError(f"data.layout {layout!r} is unknown: use one of {', '.join(LAYOUTS)}")
    if _LAYOUTS[layout].read is None:
        raise ValueError(f"the {layout} layout is read by its own module, not load_collection")
    return _LAYOUTS[layout].read(data_dir)
