"""FSD50K as published on Zenodo, unzipped into one folder:

    <data_dir>/
      FSD50K.ground_truth/vocabulary.csv   index,label,mid        (no header; 200 labels)
      FSD50K.ground_truth/dev.csv          fname,labels,mids,split (split train or val)
      FSD50K.ground_truth/eval.csv         fname,labels,mids
      FSD50K.dev_audio/<fname>.wav
      FSD50K.eval_audio/<fname>.wav

`labels` is one quoted field of comma-separated names such as `Electric_guitar,Guitar`. The
published splits are kept: dev train -> train, dev val -> val, eval -> test.
"""

from __future__ import annotations

import csv
import os
from pathlib import Path

from admlc_tf.data.layouts.collection import (Clip, Collection, audio_file, check_labels,
                                              check_new_name, check_not_empty, read_table,
                                              split_labels)
from admlc_tf.errors import DataError

GROUND_TRUTH = "FSD50K.ground_truth"
# (labels file, audio folder, split column or None, the split when there is no column)
PARTS = (("dev.csv", "FSD50K.dev_audio", "split", None),
         ("eval.csv", "FSD50K.eval_audio", None, "test"))
DEV_SPLITS = ("train", "val")
RESTORE = "restore it from FSD50K.ground_truth.zip"


def read_vocabulary(path: Path) -> list[str]:
    """Reads `vocabulary.csv` (`index,label,mid` rows) into label names in index order."""
    if not path.is_file():
        raise DataError(f"{path} does not exist: {RESTORE}")
    by_index: dict[int, str] = {}
    try:
        with open(path, newline="", encoding="utf-8-sig") as f:
            reader = csv.reader(f)
            for row in reader:
                if not "".join(row).strip():
                    continue
                where = f"{path}:{reader.line_num}"
                try:
                    index, label = int(row[0]), row[1].strip()
                except (ValueError, IndexError):
                    raise DataError(f"{where}: expected index,label,mid, got {row}: "
                                    f"{RESTORE}") from None
                if index in by_index or label in by_index.values() or not label:
                    raise DataError(f"{where}: index {index} or label {label!r} is empty or "
                                    f"repeated: {RESTORE}")
                by_index[index] = label
    except (UnicodeDecodeError, csv.Error) as e:
        raise DataError(f"{path} cannot be read ({e}): {RESTORE}") from None
    if not by_index:
        raise DataError(f"{path} lists no labels: {RESTORE}")
    return [by_index[index] for index in sorted(by_index)]


def read_fsd50k(data_dir: str | os.PathLike) -> Collection:
    """Reads FSD50K's ground truth and checks every audio file it lists.

    Args:
      data_dir: the folder holding `FSD50K.ground_truth/` and the two audio folders.

    Returns:
      An "fsd50k" Collection rooted at `data_dir`: dev clips then eval clips, each with its split,
      and `vocabulary` in vocabulary.csv order.
    """
    root = Path(data_dir).expanduser().absolute()
    truth = root / GROUND_TRUTH
    if not truth.is_dir():
        raise DataError(f"{truth} does not exist: pass data.data_dir the folder into which "
                        "FSD50K.ground_truth.zip and the audio zips were unpacked")
    vocabulary = read_vocabulary(truth / "vocabulary.csv")
    clips, seen = [], set()
    for labels_name, audio_name, split_column, fixed_split in PARTS:
        source, audio_dir = truth / labels_name, root / audio_name
        if not source.is_file():
            raise DataError(f"{source} does not exist: {RESTORE}")
        if not audio_dir.is_dir():
            raise DataError(f"audio folder {audio_dir} does not exist: unpack {audio_name}.zip "
                            f"(all its parts) into {root}")
        columns = ("fname", "labels") + ((split_column,) if split_column else ())
        for line_no, row in read_table(source, columns, expected=",".join(columns)):
            listed, path = audio_file(audio_dir, f"{row['fname']}.wav", source, line_no)
            name = f"{audio_name}/{listed}"
            check_new_name(name, seen, source, line_no)
            labels = split_labels(row["labels"], ",")
            check_labels(labels, name, source, line_no)
            split = row[split_column] if split_column else fixed_split
            if split not in DEV_SPLITS and split != fixed_split:
                raise DataError(f"{source}:{line_no}: split {split!r} of {name} is not train or "
                                f"val: {RESTORE}")
            clips.append(Clip(name, path, labels, split))
    check_not_empty(clips, truth)
    return Collection(root, "fsd50k", clips, vocabulary, source=truth)
