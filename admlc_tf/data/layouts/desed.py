"""DESED's weakly labelled training set (DCASE Task 4), or any TSV in its form:

    <root>/
      metadata/train/weak.tsv     filename<TAB>event_labels   (labels comma-separated)
      audio/train/weak/<filename>

The data gives no train/val/test split; `assign_splits` makes one.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Optional

from admlc_tf.data.layouts.collection import (Clip, Collection, audio_file, check_labels,
                                              check_new_name, check_not_empty, read_table,
                                              split_labels)
from admlc_tf.errors import DataError

LABELS_FILE = "metadata/train/weak.tsv"
AUDIO_DIR = "audio/train/weak"
HEADER = "filename<TAB>event_labels"


def read_desed(root: Optional[str | os.PathLike] = None, *,
               labels_file: Optional[str | os.PathLike] = None,
               audio_dir: Optional[str | os.PathLike] = None) -> Collection:
    """Reads DESED weak labels from a DESED root, or from any `labels_file` TSV.

    Args:
      root: the DESED folder holding `metadata/` and `audio/`. Clip names are then relative to
        it (`audio/train/weak/Y0a1.wav`), like FSD50K's.
      labels_file: a TSV anywhere, read instead of `root` (then ignored); clip names are then the
        filenames as listed.
      audio_dir: the folder the filenames are relative to, and then the root clip names are
        relative to; default `root/audio/train/weak` (names keep that prefix), or the TSV's folder.

    Returns:
      A "desed" Collection, clips in file order, no splits.
    """
    explicit = labels_file is not None
    if not explicit:
        if root is None:
            raise ValueError("read_desed needs root or labels_file")
        root = Path(root).expanduser().absolute()
        labels_file = root / LABELS_FILE
        if not labels_file.is_file():
            raise DataError(f"{labels_file} does not exist: pass data.data_dir the DESED folder "
                            f"that holds {LABELS_FILE}, or data.labels_file a TSV")
    source = Path(labels_file).expanduser().absolute()
    if explicit or audio_dir is not None:
        base = Path(audio_dir).expanduser().absolute() if audio_dir is not None else source.parent
        root, prefix = base, ""
    else:
        base, prefix = root / AUDIO_DIR, AUDIO_DIR + "/"
    clips, seen = [], set()
    for line_no, row in read_table(source, ("filename", "event_labels"), delimiter="\t",
                                   expected=HEADER):
        listed, path = audio_file(base, row["filename"], source, line_no)
        name = prefix + listed
        check_new_name(name, seen, source, line_no)
        labels = split_labels(row["event_labels"], ",")
        check_labels(labels, name, source, line_no)
        clips.append(Clip(name, path, labels))
    check_not_empty(clips, source)
    return Collection(root, "desed", clips, source=source)
