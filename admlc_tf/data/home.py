"""The one data home: where generated sets (the demo, the image demo, the examples) and the
feature caches live. `$ADMLC_DATA_HOME`, or `~/.cache/admlc-tf` when it is unset or empty (an
empty value is a shell's `ADMLC_DATA_HOME=`, not a request for the working folder)."""

from __future__ import annotations

import os
from pathlib import Path

DATA_HOME_ENV = "ADMLC_DATA_HOME"
DEFAULT_DATA_HOME = "~/.cache/admlc-tf"


def data_home() -> Path:
    """`$ADMLC_DATA_HOME`, or `~/.cache/admlc-tf` when it is unset or empty."""
    return Path(os.environ.get(DATA_HOME_ENV) or DEFAULT_DATA_HOME).expanduser()
