"""What the command-line scripts share: errors become one line on stderr and exit code 2."""

from __future__ import annotations

import re
import sys
from typing import Callable, Mapping, Optional

from admlc_tf.errors import AdmlcError
from admlc_tf.files import is_disk_full, write_error


def as_flags(message: str, flags: Mapping[str, str]) -> str:
    """Rewrites the config fields a library message names (`trainer.batch_size`) as the
    script's flags (`--batch-size`)."""
    for field in sorted(flags, key=len, reverse=True):
        message = re.sub(rf"(?<![\w.-]){re.escape(field)}(?![\w-])", flags[field], message)
    return message


def run_cli(main: Callable[[], object], flags: Optional[Mapping[str, str]] = None) -> int:
    """Runs `main`; an AdmlcError prints `error: <message>` (its config fields named as
    `flags` says) and returns 2, and so does any error that says the disk is full; else
    returns `main`'s own exit code when it returns an int (the benchmark scripts do), or 0."""
    try:
        code = main()
    except AdmlcError as e:
        print(f"error: {as_flags(str(e), flags or {})}", file=sys.stderr)
        return 2
    except Exception as e:
        # A full disk hit by a writer that has no message of its own (TensorBoard's event
        # files, a library's cache): still one line, and the user's to fix.
        if not is_disk_full(e):
            raise
        where = getattr(e, "filename", None) or "a file"
        print(f"error: {write_error(where, e, '')}", file=sys.stderr)
        return 2
    return code if isinstance(code, int) and not isinstance(code, bool) else 0
