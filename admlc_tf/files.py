"""Atomic file writes: a temporary file in the same folder, then a rename; and the sweep of the
temporaries a killed writer left behind."""

from __future__ import annotations

import contextlib
import errno
import fcntl
import json
import os
import re
import shutil
import sys
import tempfile
from pathlib import Path
from typing import Callable, Sequence

from admlc_tf.errors import AdmlcError, DataError, printable

# `.NAME.tmp-PID` plus an optional suffix some writers need (Keras wants `.weights.h5`).
_TEMPORARY = re.compile(r"^\..+\.tmp-(\d+)(\.[^/]*)?$")


def pid_alive(pid: int) -> bool:
    """Whether a process `pid` exists (signal 0 checks without sending anything)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's process: alive, and not ours to judge
        return True
    return True


def sweep_temporaries(folder: str | Path) -> list[Path]:
    """Removes the temporaries (`temporary_path` names) of writers that no longer run in
    `folder`, and returns them. A live writer's temporary is left alone: PIDs are only
    compared on this machine, where a killed writer's PID is dead (or reused, which merely
    postpones the sweep)."""
    folder = Path(folder)
    swept = []
    try:
        entries = list(os.scandir(folder))
    except OSError:  # a folder not made yet, or unreadable: nothing to sweep
        return swept
    for entry in entries:
        match = _TEMPORARY.match(entry.name)
        if not match or int(match.group(1)) == os.getpid() or pid_alive(int(match.group(1))):
            continue
        path = Path(entry.path)
        if entry.is_dir(follow_symlinks=False):
            shutil.rmtree(path, ignore_errors=True)
        else:
            with contextlib.suppress(OSError):
                path.unlink()
        swept.append(path)
    return swept


def temporary_path(path: str | Path, suffix: str = "") -> Path:
    """The temporary sibling `.NAME.tmp-PID<suffix>` to write `path` under before renaming it.

    The PID in the name is what lets `sweep_temporaries` tell a killed writer's leftovers from
    a running writer's file; the folder's dead ones are swept here, at the next write.
    """
    path = Path(path)
    sweep_temporaries(path.parent)
    return path.with_name(f".{path.name}.tmp-{os.getpid()}{suffix}")


def remove_path(path: Path) -> None:
    """Removes a file or folder if it is there."""
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path, ignore_errors=True)
    else:
        path.unlink(missing_ok=True)


@contextlib.contextmanager
def replacing(path: str | Path, suffix: str = ""):
    """Yields a temporary path (`temporary_path`) that becomes `path` when the block ends without
    error; whatever happens otherwise (an error, Ctrl-C), the temporary is removed, so `path`
    is the old file or the new one, never half of one."""
    path = Path(path)
    tmp = temporary_path(path, suffix)
    try:
        yield tmp
        os.replace(tmp, path)
    finally:
        remove_path(tmp)


def is_disk_full(error: BaseException) -> bool:
    """Whether `error` says the disk is full (h5py and TensorFlow lose the errno, not the text)."""
    return getattr(error, "errno", None) in (errno.ENOSPC, errno.EDQUOT) or any(
        text in str(error) for text in ("No space left", "Disk quota exceeded"))


def write_error(what: str, error: BaseException, fix: str) -> AdmlcError:
    """The one-line error of a failed write of `what`: a full disk says to free space, other
    failures (permissions, a missing folder) say `fix`."""
    if is_disk_full(error):
        return AdmlcError(f"cannot write {what}: the disk is full (No space left on device): "
                          "free some space, or choose a folder on another disk")
    reason = getattr(error, "strerror", None) or str(error).splitlines()[0]
    return AdmlcError(f"cannot write {what} ({reason}): {fix}")


def write_bytes(path: Path, data: bytes) -> None:
    """Writes `data` to `path` and flushes it to the disk, so a full disk fails here, before the
    rename, rather than leaving a short file behind the new name."""
    with open(path, "wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())


def write_text_atomic(path: str | Path, text: str) -> None:
    """Writes `text` to `path` so readers see the old file or the new one, never half."""
    path = Path(path)
    try:
        with replacing(path) as tmp:
            write_bytes(tmp, text.encode("utf-8"))
    except OSError as e:
        raise write_error(path, e, "choose a writable path") from None


def _listed(folder: Path, suffixes: Sequence[str]) -> list[Path]:
    """The files under `folder` with one of `suffixes`, sorted; what cannot be used (a broken
    link, an unreadable subfolder) is one stderr line each, so a folder never looks half-tagged
    in silence."""
    def unreadable(error: OSError) -> None:
        print(f"skipped {printable(str(error.filename))}: it cannot be listed ({error.strerror}; "
              "check its permissions)", file=sys.stderr)

    listed = []
    for root, _, names in os.walk(folder, onerror=unreadable):
        for name in names:
            if os.path.splitext(name)[1].lower() not in suffixes:
                continue
            path = Path(root, name)
            if path.is_file():
                listed.append(path)
            elif path.is_symlink():
                print(f"skipped {printable(str(path))}: a symbolic link to "
                      f"{printable(os.readlink(path))}, which does not exist (restore its target "
                      "or remove the link)", file=sys.stderr)
    return sorted(listed)


def find_files(paths: Sequence[str | Path], suffixes: Sequence[str], kind: str) -> list[Path]:
    """The files named, and those under named folders with one of `suffixes` (sorted), in
    argument order; `kind` ("audio", "image") names them in the one-line errors. A broken
    symbolic link or an unreadable subfolder under a folder is skipped with one stderr line
    naming it."""
    found = []
    for path in map(Path, paths):
        if path.is_dir():
            found += _listed(path, suffixes)
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
    staging = temporary_path(target)
    remove_path(staging)  # a reused PID's leftover
    staging.mkdir()
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
