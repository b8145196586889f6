"""A labelled collection of audio clips in any layout, and how it is split and labelled.

Each layout reader (`fsd50k`, `desed`, `labels_csv`) returns a `Collection`; `layouts` picks the
reader. What a layout does not give is made here: missing train/val/test splits
(`assign_splits`, multilabel-stratified) and the label vocabulary (`choose_vocabulary`). The
assignment is saved as `splits.csv` (`file,split`) so a run can be repeated or resumed exactly.
"""

from __future__ import annotations

import csv
import dataclasses
import io
import os
import posixpath
from pathlib import Path
from typing import Iterable, Mapping, Optional, Sequence

import numpy as np
from iterstrat.ml_stratifiers import MultilabelStratifiedKFold

from admlc_tf.errors import DataError
from admlc_tf.files import write_text_atomic

SPLITS_FILE = "splits.csv"  # in a run folder (and, the same text, in an export's assets)
SPLITS = ("train", "val", "test")
NUM_FOLDS = 5  # one stratified fold is 1/5 of the clips it is drawn from


@dataclasses.dataclass(frozen=True)
class Clip:
    """One labelled audio file.

    Attributes:
      name: unique id within the collection and the `file` column of splits.csv: the posix path
        of the audio relative to the collection's root, e.g. `FSD50K.dev_audio/64760.wav`.
      path: absolute path of the audio file.
      labels: label names in file order, de-duplicated.
      split: "train", "val" or "test" when the data gives it.
      fold: the integer fold when the data gives one (a csv `fold` column).
    """

    name: str
    path: Path
    labels: tuple[str, ...]
    split: Optional[str] = None
    fold: Optional[int] = None


@dataclasses.dataclass
class Collection:
    """The clips of one data set.

    Attributes:
      root: the folder clip names are relative to.
      layout: "fsd50k", "desed" or "csv".
      clips: in file order.
      vocabulary: the label order the data gives (FSD50K's vocabulary.csv), else None.
      source: the labels file (or folder of them) read, for messages.
    """

    root: Path
    layout: str
    clips: list[Clip]
    vocabulary: Optional[list[str]] = None
    source: Optional[Path] = None


# --- helpers for the layout readers ---------------------------------------------------------

def split_labels(field: str, separator: str) -> tuple[str, ...]:
    """`"Dog bark, Speech,,Dog bark"` -> `("Dog bark", "Speech")`: stripped, deduplicated."""
    pieces = (piece.strip() for piece in field.split(separator))
    return tuple(dict.fromkeys(piece for piece in pieces if piece))


def read_table(path: Path, columns: Sequence[str], *, delimiter: str = ",",
               expected: str) -> Iterable[tuple[int, dict[str, str]]]:
    """Yields `(line number, {column: stripped cell})` for the data rows of a CSV/TSV file.

    Column names are matched without case or surrounding space, a UTF-8 BOM is skipped, blank
    lines are skipped and short rows are padded with empty cells. `expected` describes the header
    for the message when a column in `columns` is missing.
    """
    if not path.is_file():
        raise DataError(f"labels file {path} does not exist: check the path or restore the file")
    try:
        with open(path, newline="", encoding="utf-8-sig") as f:
            reader = csv.reader(f, delimiter=delimiter)
            header = [cell.strip().lower() for cell in next(reader, [])]
            missing = [column for column in columns if column not in header]
            if missing:
                raise DataError(f"{path}: header {header} lacks column(s) {', '.join(missing)}: "
                                f"fix the first line to name the columns {expected}")
            for row in reader:
                if not "".join(row).strip():
                    continue
                row = [cell.strip() for cell in row] + [""] * (len(header) - len(row))
                yield reader.line_num, dict(zip(header, row))
    except UnicodeDecodeError:
        raise DataError(f"{path} is not UTF-8 text: save it as UTF-8") from None
    except csv.Error as e:
        raise DataError(f"{path} cannot be parsed ({e}): fix the quoting") from None


def audio_file(audio_dir: Path, listed: str, source: Path, line_no: int,
               kind: str = "audio") -> tuple[str, Path]:
    """Checks one listed file and returns (its normalised posix name, its absolute path).

    The name must stay inside `audio_dir` (judged on the text, so a symlinked folder is fine)
    and the file must exist and be non-empty. `kind` ("audio", "image") names it in messages.
    """
    where = f"{source}:{line_no}"
    if not listed:
        raise DataError(f"{where}: the file name is empty: fill it in or remove the line")
    name = posixpath.normpath(listed.replace("\\", "/"))
    if posixpath.isabs(name) or name == ".." or name.startswith("../"):
        raise DataError(f"{where}: file {listed!r} is outside {audio_dir}: list {kind} paths "
                        "relative to that folder, without a leading / or ..")
    path = Path(os.path.abspath(audio_dir / name))
    if path.is_symlink() and not path.exists():
        raise DataError(f"{where}: {kind} file {path} is a symbolic link to {os.readlink(path)}, "
                        "which does not exist: restore its target or remove the line")
    if not path.is_file():
        raise DataError(f"{where}: {kind} file {path} does not exist: restore it or remove the "
                        f"line{_elsewhere_hint(audio_dir, name)}")
    if path.stat().st_size == 0:
        raise DataError(f"{where}: {kind} file {path} is empty (0 bytes): replace it or remove "
                        "the line")
    return name, path


def _elsewhere_hint(audio_dir: Path, name: str) -> str:
    """A hint when a listed bare name sits in a subfolder: the listed paths are then relative
    to that folder, which data.audio_dir names (searched only on this error path)."""
    try:
        found = next((p for p in Path(audio_dir).rglob(posixpath.basename(name))
                      if p.as_posix().endswith(f"/{name}") and p.is_file()), None)
    except OSError:
        return ""
    if found is None:
        return ""
    folder = Path(found.as_posix()[:-len(name) - 1])  # the folder the listed name is under
    return (f" ({found} has that name: if the listed files are relative to {folder}, pass "
            f"data.audio_dir {folder})")


def check_new_name(name: str, seen: set[str], source: Path, line_no: int) -> None:
    if name in seen:
        raise DataError(f"{source}:{line_no}: file {name} is listed twice: remove the duplicate "
                        "line")
    seen.add(name)


def check_labels(labels: tuple[str, ...], name: str, source: Path, line_no: int) -> None:
    if not labels:
        raise DataError(f"{source}:{line_no}: file {name} has no labels: add its labels or "
                        "remove the line")


def check_not_empty(clips: Sequence[Clip], source: Path) -> None:
    if not clips:
        raise DataError(f"{source} lists no clips: add a line per audio file")


# --- splits ---------------------------------------------------------------------------------

def _first_fold(names: Sequence[str], label_sets: Mapping[str, tuple[str, ...]],
                all_labels: Sequence[str], seed: int) -> list[str]:
    """The test part of the first of 5 multilabel-stratified folds of `names` ([] if < 5)."""
    if len(names) < NUM_FOLDS:
        return []
    index = {label: i for i, label in enumerate(all_labels)}
    # sklearn only accepts a multilabel target with 2+ columns; an all-zero one changes nothing.
    y = np.zeros((len(names), max(len(all_labels), 2)), dtype=np.int8)
    for row, name in enumerate(names):
        y[row, [index[label] for label in label_sets[name]]] = 1
    folds = MultilabelStratifiedKFold(n_splits=NUM_FOLDS, shuffle=True, random_state=seed)
    _, test = next(folds.split(np.zeros(len(names)), y))
    return [names[i] for i in sorted(test)]


def assign_splits(collection: Collection, *, seed: int, fold: str = "all") -> dict[str, str]:
    """Assigns every clip to train, val or test; deterministic for a given seed.

    A clip's given "val" or "test" is kept. If no clip is given "test", one multilabel-stratified
    fold (of 5) of the other clips (no split, or "train") becomes test. Then, with `fold` K, the
    remaining clips whose `fold` is K become val; else, if no clip is given "val", one
    stratified fold of the remaining clips becomes val. The rest is train. Fewer than 5 clips
    to draw from: no fold is drawn.

    Returns:
      clip name -> "train" | "val" | "test", in collection order.
    """
    clips = collection.clips
    assigned = {clip.name: clip.split for clip in clips if clip.split}
    given = set(assigned.values())
    label_sets = {clip.name: clip.labels for clip in clips}
    all_labels = sorted({label for clip in clips for label in clip.labels})

    def unassigned() -> list[str]:  # a given "train" may still be drawn for test or val
        return [clip.name for clip in clips if assigned.get(clip.name) in (None, "train")]

    val_fold = None if fold == "all" else _parse_fold(collection, fold)
    if "test" not in given:
        assigned.update(dict.fromkeys(_first_fold(unassigned(), label_sets, all_labels, seed),
                                      "test"))
    if val_fold is not None:
        assigned.update({clip.name: "val" for clip in clips
                         if clip.fold == val_fold and assigned.get(clip.name) in (None, "train")})
    elif "val" not in given:
        assigned.update(dict.fromkeys(_first_fold(unassigned(), label_sets, all_labels, seed),
                                      "val"))
    return {clip.name: assigned.get(clip.name, "train") for clip in clips}


def _parse_fold(collection: Collection, fold: str) -> int:
    folds = sorted({clip.fold for clip in collection.clips if clip.fold is not None})
    if not folds:
        raise DataError(f"{collection.source} has no fold column, so data.fold {fold!r} cannot "
                        "choose the validation clips: set data.fold to all or add a fold column")
    try:
        value = int(fold)
    except ValueError:
        value = None
    if value not in folds:
        raise DataError(f"{collection.source} has no clip in fold {fold!r}: set data.fold to all "
                        f"or one of {', '.join(map(str, folds))}")
    return value


def check_assignment(assignment: Mapping[str, str], source) -> None:
    """Raises DataError when no clip is assigned to train, or none to val or test (nothing to
    score the run on)."""
    counts = ", ".join(f"{sum(s == split for s in assignment.values())} {split}"
                       for split in SPLITS)
    if "train" not in assignment.values():
        raise DataError(f"{source} has no training clips ({counts}): mark some clips train, or "
                        f"add clips without a split ({NUM_FOLDS}+ are needed to make val and test)")
    if not {"val", "test"} & set(assignment.values()):
        raise DataError(f"{source} has no clips to score the run on ({counts}): mark some clips "
                        f"val or test, or add clips ({NUM_FOLDS}+ without a split make val and "
                        "test)")


def splits_text(assignment: Mapping[str, str]) -> str:
    """The `splits.csv` text: a `file,split` header, then a row per clip in assignment order."""
    text = io.StringIO()
    writer = csv.writer(text, lineterminator="\n")
    writer.writerow(("file", "split"))
    writer.writerows(assignment.items())
    return text.getvalue()


def write_splits(path, assignment: Mapping[str, str]) -> None:
    """Writes `splits.csv`; readers see the old file or the new one."""
    write_text_atomic(path, splits_text(assignment))


def read_splits(path, collection: Collection) -> dict[str, str]:
    """Reads a `splits.csv` written by `write_splits`; it must cover the collection exactly.

    Returns:
      clip name -> split, in file order.
    """
    path = Path(path)
    fix = f"delete {path.name} to have new splits made, or restore it"
    if not path.is_file():
        raise DataError(f"splits file {path} does not exist: {fix}")
    names = {clip.name for clip in collection.clips}
    assignment: dict[str, str] = {}
    try:
        with open(path, newline="", encoding="utf-8-sig") as f:
            reader = csv.reader(f)
            header = next(reader, [])
            if [cell.strip() for cell in header] != ["file", "split"]:
                raise DataError(f"{path}: header is {header}, expected file,split: {fix}")
            for row in reader:
                if not "".join(row).strip():
                    continue
                where = f"{path}:{reader.line_num}"
                if len(row) != 2:
                    raise DataError(f"{where}: expected 2 columns file,split, got {row}: {fix}")
                name, split = row[0].strip(), row[1].strip()
                if split not in SPLITS:
                    raise DataError(f"{where}: split {split!r} is not train, val or test: {fix}")
                if name in assignment:
                    raise DataError(f"{where}: file {name} is listed twice: {fix}")
                if name not in names:
                    raise DataError(f"{where}: file {name} is not in {collection.source}: the "
                                    f"splits belong to other data; {fix}")
                assignment[name] = split
    except UnicodeDecodeError:
        raise DataError(f"{path} is not UTF-8 text: {fix}") from None
    except csv.Error as e:
        raise DataError(f"{path} cannot be parsed ({e}): {fix}") from None
    missing = [clip.name for clip in collection.clips if clip.name not in assignment]
    if missing:
        raise DataError(f"{path} lacks {len(missing)} clip(s) of {collection.source}, e.g. "
                        f"{missing[0]}: the data changed since the splits were made; {fix}")
    return assignment


# --- labels ---------------------------------------------------------------------------------

def choose_vocabulary(collection: Collection, assignment: Mapping[str, str],
                      labels: Optional[Sequence[str]] = None) -> list[str]:
    """The label names to learn, in output order.

    Args:
      collection: the clips.
      assignment: clip name -> split, from `assign_splits` or `read_splits`.
      labels: the user's `data.labels`: a subset and/or order of the collection's label names;
        labels outside it are dropped. Empty or None: FSD50K's vocabulary order when the data
        gives one, else the sorted label names of the training clips.

    Raises:
      DataError: an unknown or repeated name in `labels`; without `labels`, a clip whose label is
        outside the vocabulary (a val/test clip, or any clip for a given vocabulary).
    """
    present = {label for clip in collection.clips for label in clip.labels}
    if labels:
        labels = list(labels)
        for label in labels:
            if labels.count(label) > 1:
                raise DataError(f"data.labels lists {label!r} twice: list each label once")
            if label not in present:
                raise DataError(f"data.labels names {label!r}, which no clip of "
                                f"{collection.source} has: fix the name (labels are "
                                "case-sensitive) or remove it")
        return labels
    if collection.vocabulary is not None:
        vocabulary, checked = list(collection.vocabulary), collection.clips
        origin, fix = "vocabulary of the data", "fix the label"
    else:
        vocabulary = sorted({label for clip in collection.clips
                             if assignment.get(clip.name) == "train" for label in clip.labels})
        checked = [clip for clip in collection.clips if assignment.get(clip.name) != "train"]
        origin, fix = "labels of the training clips", "add training clips with it"
    if not vocabulary:
        raise DataError(f"{collection.source}: the training clips have no labels: add labelled "
                        "training clips")
    known = set(vocabulary)
    for clip in checked:
        for label in clip.labels:
            if label not in known:
                split = assignment.get(clip.name, "unassigned")
                raise DataError(f"{collection.source}: {split} clip {clip.name} has label "
                                f"{label!r}, which is not in the {origin}: {fix} or pass "
                                "data.labels to choose the labels to learn")
    return vocabulary


def label_matrix(clips: Sequence[Clip], vocabulary: Sequence[str]) -> np.ndarray:
    """`[n, L]` float32 multi-hot labels in `vocabulary` order; other labels are ignored."""
    index = {label: i for i, label in enumerate(vocabulary)}
    matrix = np.zeros((len(clips), len(vocabulary)), dtype=np.float32)
    for row, clip in enumerate(clips):
        matrix[row, [index[label] for label in clip.labels if label in index]] = 1.0
    return matrix
