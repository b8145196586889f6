"""The one data home: where generated sets (the demo, the image demo, the examples) and the
feature caches live. `$ADMLC_DATA_HOME`, or `~/.cache/admlc-tf` when it is unset or empty (an
empty value is a shell's `ADMLC_DATA_HOME=`, not a request for the working folder); and
`ensure_generated`, the one way a generated set is found there or built there."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Callable, Optional

from admlc_tf.errors import DataError

DATA_HOME_ENV = "ADMLC_DATA_HOME"
DEFAULT_DATA_HOME = "~/.cache/admlc-tf"


def data_home() -> Path:
    """`$ADMLC_DATA_HOME`, or `~/.cache/admlc-tf` when it is unset or empty."""
    return Path(os.environ.get(DATA_HOME_ENV) or DEFAULT_DATA_HOME).expanduser()


def ensure_generated(name: str, build: Callable[[Path, bool], Path],
                     complete: Callable[[Path], bool], *, what: str, detail: str,
                     home: Optional[str | os.PathLike] = None) -> Path:
    """`<home>/<name>`, built first when it is missing or incomplete.

    Args:
      name: the set's folder under the home, its generator's version in it (e.g.
        `demo-shapes-v1`), so a new generator never reuses an old set.
      build: `(target, overwrite) -> target`, writing the whole folder atomically
        (`admlc_tf.files.write_folder_atomic`).
      complete: whether a folder holds the whole set.
      what, detail: the set's name and what it is, for the one line printed before building
        (e.g. "image demo set", "coloured shapes").
      home: the folder holding the set; default `data_home()`.
    """
    target = (Path(home).expanduser() if home is not None else data_home()) / name
    if complete(target):
        return target
    print(f"admlc-tf: generating the synthetic {what} ({detail}) in {target}", flush=True)
    try:
        # Only replace a set that is really broken: a complete one may be in use by another run.
        return build(target, target.exists())
    except FileExistsError:
        # Another process finished first; its set is as good as ours.
        if complete(target):
            return target
        raise DataError(f"{what} {target} is incomplete and could not be replaced: delete the "
                        "folder and run again") from None
