"""Atomic file writes: a temporary file in the same folder, then a rename."""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import shutil
import sys
import tempfile
from pathlib import Path
from typing import Callable, Sequence

from admlc_tf.errors import AdmlcError, DataError


def write_text_atomic(path: str | Path, text: str) -> None:
    """Writes `text` to `path` so readers see the old file or the new one, never half."""
    path = Path(path)
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    try:
        tmp.write_text(text, encoding="utf-8")
        os.replace(tmp, path)
    except OSError as e:
        tmp.unlink(missing_ok=True)
        raise AdmlcError(f"cannot write {path} ({e.strerror}): choose a writable path") from None
    except BaseException:  # Ctrl-C mid-write: no temporary file is left behind either
        tmp.unlink(missing_ok=True)
        raise


def find_files(paths: Sequence[str | Path], suffixes: Sequence[str], kind: str) -> list[Path]:
    """The files named, and those under named folders with one of `suffixes` (sorted), in
    argument order; `kind` ("audio", "image") names them in the one-line errors. A broken
    symbolic link under a folder is skipped with one stderr line naming it."""
    found = []
    for path in map(Path, paths):
        if path.is_dir():
            listed = sorted(p for p in path.rglob("*") if p.suffix.lower() in suffixes)
            for p in listed:
                if p.is_symlink() and not p.exists():  # said, or a folder looks half-tagged
                    print(f"skipped {p}: a symbolic link to {os.readlink(p)}, which does not "
                          "exist (restore its target or remove the link)", file=sys.stderr)
            found += [p for p in listed if p.is_file()]
        elif path.is_file():
            found.append(path)
        else:
            raise DataError(f"{path} does not exist: pass {kind} files or folders of them")
    if not found:
        raise DataError(f"no {kind} files ({', '.join(suffixes)}) under "
                        f"{', '.join(map(str, paths))}: pass {kind} files or folders of them")
    return found


def write_json_atomic(path: str | Path, values: dict) -> None:
    """Writes `values` as indented JSON, atomically."""
    write_text_atomic(path, json.dumps(values, indent=2) + "\n")


def move_folder_into_place(staging: Path, target: Path, *, overwrite: bool) -> None:
    """Renames a fully written `staging` folder to `target`, so `target` is never half there.

    An empty `target` is replaced; a non-empty one only with `overwrite` (the old folder is
    swapped out first, then removed). Raises FileExistsError if `target` appears meanwhile.
    """
    if target.is_dir() and not any(target.iterdir()):
        target.rmdir()
    if target.exists() and overwrite:
        trash = Path(tempfile.mkdtemp(prefix=f".{target.name}.", suffix=".old",
                                      dir=target.parent))
        os.replace(target, trash / target.name)
        os.rename(staging, target)
        shutil.rmtree(trash, ignore_errors=True)
        return
    try:
        os.rename(staging, target)
    except OSError as e:
        if target.exists():
            raise FileExistsError(f"{target} appeared while generating") from e
        raise


def write_folder_atomic(target: Path, write: Callable[[Path], None], *, overwrite: bool) -> Path:
    """Fills a temporary sibling of `target` with `write(staging)`, then moves it into place
    (`move_folder_into_place`), so an interrupted build leaves no half-written folder; returns
    `target`."""
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent))
    try:
        write(staging)
        move_folder_into_place(staging, target, overwrite=overwrite)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return target


@contextlib.contextmanager
def run_folder_lock(run_dir: str | Path):
    """Holds an exclusive lock on `<run_dir>/.lock` for the block; a second holder is refused.

    The kernel drops the lock when the process dies, so a killed run never leaves it stuck.
    """
    path = Path(run_dir) / ".lock"
    with open(path, "a") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise AdmlcError(f"another training process is using {run_dir}: wait for it to "
                             "finish or pass another --out") from None
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)
