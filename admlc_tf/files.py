"""Atomic file writes: a temporary file in the same folder, then a rename."""

from __future__ import annotations

import json
import os
from pathlib import Path

from admlc_tf.errors import AdmlcError


def write_text_atomic(path: str | Path, text: str) -> None:
    """Writes `text` to `path` so readers see the old file or the new one, never half."""
    path = Path(path)
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    try:
        tmp.write_text(text)
        os.replace(tmp, path)
    except OSError as e:
        tmp.unlink(missing_ok=True)
        raise AdmlcError(f"cannot write {path} ({e.strerror}): choose a writable path") from None


def write_json_atomic(path: str | Path, values: dict) -> None:
    """Writes `values` as indented JSON, atomically."""
    write_text_atomic(path, json.dumps(values, indent=2) + "\n")
