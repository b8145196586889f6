"""A plain folder of audio (or image) files described by a `labels.csv`:

    labels.csv      file,labels[,split][,fold]   (extra columns are ignored)
    <file>          audio (or an image, `--task images`), at the path `file` gives relative to
                    the folder

`labels` holds the label names separated by `;` when it contains one, else by `,` (quote the
field then: `"Dog bark,Speech"`). `split` (train/val/test) and `fold` (an integer) are optional
and may be left empty per row; `assign_splits` makes what is not given.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Optional

from admlc_tf.data.layouts.collection import (SPLITS, Clip, Collection, audio_file, check_labels,
                                              check_new_name, check_not_empty, read_table,
                                              split_labels)
from admlc_tf.errors import DataError

HEADER = "file,labels and optionally split or fold"


def read_labels_csv(csv_path: str | os.PathLike,
                    audio_dir: Optional[str | os.PathLike] = None, *,
                    kind: str = "audio") -> Collection:
    """Reads `labels.csv` and checks every file it lists.

    Args:
      csv_path: the labels file.
      audio_dir: the folder `file` paths are relative to; default the csv's folder.
      kind: what the files are ("audio" or "image"), for messages.

    Returns:
      A "csv" Collection rooted at `audio_dir`, clips in file order.
    """
    source = Path(csv_path).expanduser().absolute()
    root = Path(audio_dir).expanduser().absolute() if audio_dir is not None else source.parent
    clips, seen = [], set()
    for line_no, row in read_table(source, ("file", "labels"), expected=HEADER):
        name, path = audio_file(root, row["file"], source, line_no, kind)
        check_new_name(name, seen, source, line_no)
        field = row["labels"]
        labels = split_labels(field, ";" if ";" in field else ",")
        check_labels(labels, name, source, line_no)
        split = row.get("split", "").lower() or None
        if split is not None and split not in SPLITS:
            raise DataError(f"{source}:{line_no}: split {row['split']!r} of {name} is not train, "
                            "val or test: fix it or leave it empty to have it made")
        fold = row.get("fold") or None
        if fold is not None:
            try:
                fold = int(fold)
            except ValueError:
                raise DataError(f"{source}:{line_no}: fold {fold!r} of {name} is not an integer: "
                                "fix it or leave it empty") from None
        clips.append(Clip(name, path, labels, split, fold))
    check_not_empty(clips, source)
    return Collection(root, "csv", clips, source=source)
