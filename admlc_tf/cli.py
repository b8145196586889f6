"""What the command-line scripts share: errors become one line on stderr and exit code 2."""

from __future__ import annotations

import sys
from typing import Callable

from admlc_tf.errors import AdmlcError


def run_cli(main: Callable[[], object]) -> int:
    """Runs `main`; an AdmlcError prints `error: <message>` and returns 2, else returns 0."""
    try:
        main()
    except AdmlcError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    return 0
