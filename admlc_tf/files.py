"""Atomic file writes: a temporary file in the same folder, then a rename."""

from __future__ import annotations

import json
import os
from pathlib import Path

from admlc_tf.errors import AdmlcError


def write_json_atomic(path: str | Path, values: dict) -> None:
    """Writes `values` as JSON to `path` so readers see the old file or the new one, never half."""
    path = Path(path)
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    try:
        tmp.write_text(json.dumps(values, indent=2) + "\n")
        os.replace(tmp, path)
    except OSError as e:
        tmp.unlink(missing_ok=True)
        raise AdmlcError(f"cannot write {path} ({e.strerror}): choose a writable path") from None
