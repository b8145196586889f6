"""CHiME-Home (refined) as DCASE 2016 Task 4 uses it: lists, folds and label vectors.

This module is the one place that defines the label order. It reads the layout of the published
`chime_home.tar.gz` and also writes it (for the generated demo set and for test fixtures):

    chime_home/
      chunks/<chunk>.16kHz.wav        4 s mono at 16 kHz
      chunks/<chunk>.csv              "key,value" lines; `majorityvote` holds label letters
      development_chunks_refined_crossval_dcase2016.csv   id,chunkname,fold (fold 0..4)
      development_chunks_refined.csv                      id,chunkname
      evaluation_chunks_refined.csv                       id,chunkname

Labels follow dcase_util: the letters `S` (silence) and `U` (unidentifiable) are not classes and
are dropped, so a chunk voted only `S` has an all-zero label vector.
"""

from __future__ import annotations

import csv
import dataclasses
import os
from pathlib import Path
from typing import Iterable, Mapping, Sequence

import numpy as np

from admlc_tf.errors import DataError

LABELS = ("c", "m", "f", "v", "p", "b", "o")
LABEL_NAMES = {
    "c": "child speech",
    "m": "adult male speech",
    "f": "adult female speech",
    "v": "video game / TV",
    "p": "percussive sound",
    "b": "broadband noise",
    "o": "other identifiable sound",
}
IGNORED_LETTERS = frozenset("SU")
SAMPLE_RATE = 16000

CROSSVAL_LIST = "development_chunks_refined_crossval_dcase2016.csv"
DEVELOPMENT_LIST = "development_chunks_refined.csv"
EVALUATION_LIST = "evaluation_chunks_refined.csv"
NUM_FOLDS = 5


@dataclasses.dataclass(frozen=True)
class Chunk:
    """One annotated 4 s chunk.

    Attributes:
      name: chunk name, e.g. `CR_lounge_200110_1601.s0_chunk0`.
      wav_path: the 16 kHz WAV file.
      labels: `[7]` float32 multi-hot vector in `LABELS` order.
      fold: 1..5 for development chunks, None for evaluation chunks.
    """

    name: str
    wav_path: Path
    labels: np.ndarray
    fold: int | None = None

    @property
    def segment(self) -> str:
        return self.name.split("_chunk")[0]


def resolve_root(data_dir: str | os.PathLike) -> Path:
    """Returns the `chime_home` folder, given it or the folder that contains it."""
    path = Path(data_dir).expanduser()
    if not path.is_dir():
        raise DataError(f"data dir {path} does not exist: pass data.data_dir the chime_home "
                        "folder unpacked from chime_home.tar.gz")
    for candidate in (path, path / "chime_home"):
        if (candidate / CROSSVAL_LIST).is_file():
            return candidate
    raise DataError(f"no {CROSSVAL_LIST} in {path}: pass data.data_dir the chime_home folder "
                    "unpacked from chime_home.tar.gz (it holds the list files and chunks/)")


def chunk_wav_path(root: Path, name: str, sample_rate: int = SAMPLE_RATE) -> Path:
    return Path(root) / "chunks" / f"{name}.{sample_rate // 1000}kHz.wav"


def chunk_csv_path(root: Path, name: str) -> Path:
    return Path(root) / "chunks" / f"{name}.csv"


def labels_from_vote(vote: str, source: Path) -> np.ndarray:
    """Maps a `majorityvote` string such as `cmp` to a `[7]` multi-hot vector."""
    unknown = sorted(set(vote) - set(LABELS) - IGNORED_LETTERS)
    if unknown:
        raise DataError(f"{source}: unknown label letter(s) {''.join(unknown)!r} in majorityvote "
                        f"{vote!r}; valid letters are {''.join(LABELS)} plus S and U: fix the file")
    return np.array([letter in vote for letter in LABELS], dtype=np.float32)


def read_chunk_csv(path: Path) -> dict[str, str]:
    """Reads a per-chunk `key,value` annotation file into a dict (unknown keys kept)."""
    try:
        with open(path, newline="") as f:
            return {row[0].strip(): ",".join(row[1:]).strip() for row in csv.reader(f) if row}
    except FileNotFoundError:
        raise DataError(f"annotation file {path} is missing: the list names a chunk that is not in "
                        "chunks/; restore the file or remove the chunk from the list") from None
    except (OSError, UnicodeDecodeError, csv.Error) as e:
        raise DataError(f"annotation file {path} cannot be read ({e}): restore it from the "
                        "original archive") from None


def _read_list(path: Path, min_columns: int) -> list[list[str]]:
    if not path.is_file():
        raise DataError(f"list file {path} is missing: restore it from chime_home.tar.gz")
    rows, seen = [], set()
    try:
        with open(path, newline="") as f:
            for line_no, row in enumerate(csv.reader(f), start=1):
                if not row or not "".join(row).strip():
                    continue
                row = [cell.strip() for cell in row]
                if len(row) < min_columns:
                    raise DataError(f"{path}:{line_no}: expected {min_columns} comma-separated "
                                    f"columns, got {row!r}: fix the list file")
                name = row[1]
                # (a NUL or control character cannot be in a file name that open() accepts)
                if (not name or "/" in name or "\\" in name or name.startswith(".")
                        or not name.isprintable()):
                    raise DataError(f"{path}:{line_no}: chunk name {name!r} is not a plain file "
                                    "name inside chunks/: fix the list file")
                if name in seen:
                    raise DataError(f"{path}:{line_no}: chunk {name} is listed twice: remove the "
                                    "duplicate line")
                seen.add(name)
                rows.append(row)
    except (UnicodeDecodeError, csv.Error) as e:
        raise DataError(f"list file {path} cannot be read ({str(e).splitlines()[0]}): restore it "
                        "from chime_home.tar.gz") from None
    if not rows:
        raise DataError(f"list file {path} lists no chunks: restore it from chime_home.tar.gz")
    return rows


def _load_chunk(root: Path, name: str, fold: int | None, sample_rate: int) -> Chunk:
    csv_path = chunk_csv_path(root, name)
    fields = read_chunk_csv(csv_path)
    if "majorityvote" not in fields:
        raise DataError(f"annotation file {csv_path} has no majorityvote line: restore it from the "
                        "original archive")
    wav_path = chunk_wav_path(root, name, sample_rate)
    if not wav_path.is_file():
        raise DataError(f"audio file {wav_path} is missing: the list names a chunk whose "
                        f"{sample_rate // 1000} kHz WAV is not in chunks/; restore it")
    return Chunk(name, wav_path, labels_from_vote(fields["majorityvote"], csv_path), fold)


def load_development(data_dir: str | os.PathLike, sample_rate: int = SAMPLE_RATE) -> list[Chunk]:
    """Reads the DCASE 2016 development set: the chunks of the cross-validation list.

    Args:
      data_dir: the `chime_home` folder or its parent.
      sample_rate: which WAV files to use (`.16kHz.wav` for DCASE 2016).

    Returns:
      Chunks in list order, each with `fold` in 1..5 (the file's 0..4 plus one).
    """
    root = resolve_root(data_dir)
    path = root / CROSSVAL_LIST
    chunks = []
    for row in _read_list(path, min_columns=3):
        try:
            fold = int(row[2]) + 1
        except ValueError:
            fold = 0
        if not 1 <= fold <= NUM_FOLDS:
            raise DataError(f"{path}: chunk {row[1]} has fold {row[2]!r}, expected 0..4: fix the "
                            "list file")
        chunks.append(_load_chunk(root, row[1], fold, sample_rate))
    return chunks


def load_evaluation(data_dir: str | os.PathLike, sample_rate: int = SAMPLE_RATE) -> list[Chunk]:
    """Reads the DCASE 2016 evaluation list (`fold` is None)."""
    root = resolve_root(data_dir)
    return [_load_chunk(root, row[1], None, sample_rate)
            for row in _read_list(root / EVALUATION_LIST, min_columns=2)]


def split(data_dir: str | os.PathLike, fold: int | str,
          sample_rate: int = SAMPLE_RATE) -> tuple[list[Chunk], list[Chunk]]:
    """Returns (train, test) chunks for a DCASE 2016 protocol split.

    Args:
      data_dir: the `chime_home` folder or its parent.
      fold: 1..5 trains on the other four folds and tests on that fold; "all" trains on the whole
        development set and tests on the evaluation list.
    """
    development = load_development(data_dir, sample_rate)
    if fold == "all":
        return development, load_evaluation(data_dir, sample_rate)
    fold = int(fold)
    if not 1 <= fold <= NUM_FOLDS:
        raise DataError(f"fold {fold} does not exist: use 1..{NUM_FOLDS} or all")
    return ([c for c in development if c.fold != fold], [c for c in development if c.fold == fold])


def split_names(fold: str) -> tuple[str, str]:
    """(training split, test split) of `DataConfig.fold`: "all" -> ("development",
    "evaluation"); "K" -> ("train-K", "fold-K")."""
    if fold == "all":
        return "development", "evaluation"
    if fold not in {str(k) for k in range(1, NUM_FOLDS + 1)}:
        raise DataError(f"data.fold {fold} does not exist: use 1..{NUM_FOLDS} or all")
    return f"train-{fold}", f"fold-{fold}"


SPLITS = ("development", "evaluation", *(f"fold-{k}" for k in range(1, NUM_FOLDS + 1)),
          *(f"train-{k}" for k in range(1, NUM_FOLDS + 1)))


def load_all(data_dir: str | os.PathLike, sample_rate: int = SAMPLE_RATE) -> list[Chunk]:
    """Development then evaluation chunks; a chunk in both lists is refused."""
    everything = load_development(data_dir, sample_rate) + load_evaluation(data_dir, sample_rate)
    names = [c.name for c in everything]
    if len(set(names)) != len(names):
        twice = sorted({n for n in names if names.count(n) > 1})[0]
        raise DataError(f"chunk {twice} is in both the development and the evaluation list of "
                        f"{resolve_root(data_dir)}: remove it from one")
    return everything


def in_split(chunk: Chunk, split: str) -> bool:
    """Whether `chunk` belongs to a named split (`SPLITS`): the development set, the evaluation
    list, development fold K, or the development set minus fold K."""
    if split == "evaluation":
        return chunk.fold is None
    if chunk.fold is None:
        return False
    if split == "development":
        return True
    kind, _, k = split.partition("-")
    return (chunk.fold == int(k)) == (kind == "fold")


def write_chunk_csv(path: Path, fields: Mapping[str, str]) -> None:
    """Writes a per-chunk annotation file in the published `key,value` form."""
    with open(path, "w", newline="") as f:
        csv.writer(f, lineterminator="\n").writerows(fields.items())


def write_list(path: Path, rows: Iterable[Sequence[object]]) -> None:
    """Writes a list file (`id,chunkname[,fold]` rows, no header)."""
    with open(path, "w", newline="") as f:
        csv.writer(f, lineterminator="\n").writerows(rows)
