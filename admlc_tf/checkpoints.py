"""A run's checkpoint folder as files: which checkpoints are on disk, the `checkpoint` state
file rebuilt from them when it is garbage, and what a killed or failed save leaves behind.

TensorFlow writes a checkpoint `ckpt-N` as `ckpt-N_temp/` merged into `ckpt-N.index` and
`ckpt-N.data-*`, and the state file through `checkpoint.tmp<hex>`; none of those names carry
the writer's PID, so they are swept only where one writer is sure: under the run folder's lock.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path
from typing import Optional

from admlc_tf.files import remove_path, write_text_atomic

STATE = "checkpoint"
_INDEX = re.compile(r"^ckpt-(\d+)\.index$")


def numbers(folder: str | Path) -> list[int]:
    """The numbers N of the `ckpt-N.index` files in `folder`, newest (highest) first."""
    folder = Path(folder)
    if not folder.is_dir():
        return []
    found = (_INDEX.match(p.name) for p in folder.iterdir())
    return sorted((int(m.group(1)) for m in found if m), reverse=True)


def prefixes(folder: str | Path) -> list[str]:
    """The checkpoint prefixes (`<folder>/ckpt-N`) on disk, newest first."""
    return [str(Path(folder) / f"ckpt-{n}") for n in numbers(folder)]


def state_text(folder: str | Path) -> Optional[str]:
    """The state file TensorFlow would write for the checkpoints on disk (None: there are none)."""
    found = numbers(folder)
    if not found:
        return None
    lines = [f'model_checkpoint_path: "ckpt-{found[0]}"']
    lines += [f'all_model_checkpoint_paths: "ckpt-{n}"' for n in reversed(found)]
    return "\n".join(lines) + "\n"


def state_problem(folder: Path) -> Optional[str]:
    """Why `folder`'s state file cannot be used, or None when it is absent or sound: TensorFlow
    ignores a garbled one silently (the run would restart from step 0) and raises on one that
    names no checkpoint."""
    from google.protobuf import text_format
    from tensorflow.python.training.checkpoint_state_pb2 import CheckpointState

    path = folder / STATE
    if not path.is_file():
        return None
    try:
        state = text_format.Parse(path.read_bytes().decode("utf-8"), CheckpointState())
    except (UnicodeDecodeError, text_format.ParseError) as e:
        return str(e).splitlines()[0] if str(e) else "it is not text"
    if not state.model_checkpoint_path:
        return "it names no checkpoint"
    latest = Path(state.model_checkpoint_path)
    latest = latest if latest.is_absolute() else folder / latest
    if not latest.with_name(latest.name + ".index").is_file():
        return f"it names {latest.name}, which is not there"
    newest = numbers(folder)[0]
    if latest.name != f"ckpt-{newest}" and _readable(folder / f"ckpt-{newest}"):
        # A kill between TensorFlow's merge of ckpt-N and its state write leaves a whole
        # ckpt-N the state does not name: the run resumes from it (`Trainer.restore` takes the
        # newest that restores), so the state must name it too, or max_to_keep never drops it.
        return f"it names {latest.name}, older than ckpt-{newest} on disk"
    return None


def _readable(prefix: Path) -> bool:
    """Whether the checkpoint's index reads: TensorFlow writes the merged `.index` in place,
    so a kill can leave one cut short."""
    import tensorflow as tf

    try:
        tf.train.load_checkpoint(str(prefix))
    except (tf.errors.OpError, ValueError):
        return False
    return True


def repair_state(folder: str | Path) -> None:
    """Rewrites a garbage state file from the `ckpt-N.index` files present (removes it when
    there are none), with one stderr line, so the run resumes from its newest checkpoint."""
    folder = Path(folder)
    problem = state_problem(folder)
    if problem is None:
        return
    text = state_text(folder)
    if text is None:
        (folder / STATE).unlink(missing_ok=True)
        print(f"note: {folder / STATE} is damaged ({problem}) and no checkpoint is left: "
              "removed it, the run starts afresh", file=sys.stderr)
        return
    write_text_atomic(folder / STATE, text)
    print(f"note: {folder / STATE} was damaged ({problem}): rebuilt it from the "
          f"checkpoints present, the newest being ckpt-{numbers(folder)[0]}", file=sys.stderr)


def sweep_partial(folder: str | Path, number: Optional[int] = None) -> None:
    """Removes what an interrupted save left in `folder`: TensorFlow's `*_temp` folders and
    state-file temporaries, and, given `number`, that checkpoint's own files (a save that
    failed part-way). Call it only while holding the run folder's lock."""
    folder = Path(folder)
    if not folder.is_dir():
        return
    for path in folder.iterdir():
        if (path.name.endswith("_temp") and path.name.startswith("ckpt-")) or \
                path.name.startswith(f"{STATE}.tmp"):
            remove_path(path)
        elif number is not None and (path.name == f"ckpt-{number}.index" or
                                     path.name.startswith(f"ckpt-{number}.data-")):
            remove_path(path)
