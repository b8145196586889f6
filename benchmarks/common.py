"""What every benchmark records and how: the machine, the report's stamp, progress lines, the
result files, and measurements in a child process."""

from __future__ import annotations

import datetime
import json
import os
import platform
import subprocess
import sys
import time
from pathlib import Path
from typing import Callable, Optional, Sequence

from admlc_tf.files import write_json_atomic, write_text_atomic

REPO = Path(__file__).resolve().parents[1]
HERE = REPO / "benchmarks"


def logger(tag: str, since: Optional[float] = None) -> Callable[[str], None]:
    """A `log(message)` that prints `[tag HH:MM:SS] message` to stderr (with `since`, a
    `time.time()`, also the minutes:seconds elapsed): progress stays out of the table on stdout."""
    def log(message: str) -> None:
        clock = time.strftime("%H:%M:%S")
        if since is not None:
            elapsed = time.time() - since
            clock += f" +{int(elapsed // 60):02d}:{int(elapsed % 60):02d}"
        print(f"[{tag} {clock}] {message}", file=sys.stderr, flush=True)
    return log


def sections(parser, text: str, known: Sequence[str]) -> list[str]:
    """The comma-separated `--only` value as a list; exits 2 through `parser` when it is empty
    or names a section not in `known` (a typo must not run nothing, silently)."""
    only = [s.strip() for s in text.split(",") if s.strip()]
    unknown = sorted(set(only) - set(known))
    if unknown:
        parser.error(f"unknown section(s) {', '.join(unknown)}: use {','.join(known)}")
    if not only:
        parser.error(f"--only names no section: use some of {','.join(known)}")
    return only


def load_average() -> list[float]:
    """The 1, 5 and 15 minute load averages: other jobs on a shared machine move every timing."""
    return [round(v, 2) for v in os.getloadavg()]


def machine_info() -> dict:
    """The CPU, cores, GPUs and library versions of this process, and the load now."""
    import keras
    import numpy as np
    import tensorflow as tf

    model = "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    usable = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return {"cpu_model": model, "logical_cores": os.cpu_count(), "usable_cores": usable,
            "gpus": len(tf.config.list_physical_devices("GPU")),
            "tensorflow": tf.__version__, "keras": keras.__version__, "numpy": np.__version__,
            "python": platform.python_version(), "platform": platform.platform(),
            "load_average_start": load_average()}


def code_commit() -> Optional[str]:
    """The short commit of the checkout that ran, or None outside a git checkout."""
    try:
        return subprocess.run(["git", "-C", str(REPO), "rev-parse", "--short", "HEAD"],
                              capture_output=True, text=True, timeout=10).stdout.strip() or None
    except (OSError, subprocess.TimeoutExpired):
        return None


def command_line(script: str, argv: Optional[Sequence[str]]) -> str:
    """`python benchmarks/<script> <arguments>`, the command that reproduces a report."""
    return " ".join([f"python benchmarks/{script}",
                     *(sys.argv[1:] if argv is None else argv)])


def stamp(script: str, argv: Optional[Sequence[str]]) -> dict:
    """The head of every report: the command, when it started (local time with its offset),
    the commit and the machine."""
    return {"command": command_line(script, argv),
            "started": datetime.datetime.now().astimezone().isoformat(timespec="seconds"),
            "commit": code_commit(), "machine": machine_info()}


def finish(report: dict) -> None:
    """Records the load at the end beside the load at the start."""
    report["machine"]["load_average_end"] = load_average()


def write_json(path: str | Path, value: dict) -> None:
    """Writes a report atomically (a reader never sees half of it), its folder made first."""
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    write_json_atomic(path, value)


def write_text(path: str | Path, text: str) -> None:
    """Writes a table atomically, its folder made first."""
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    write_text_atomic(path, text)


def status_kb(field: str) -> int:
    """A field of /proc/self/status in kB (`VmRSS` now, `VmHWM` this process's peak), -1 if
    absent."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith(field + ":"):
                return int(line.split()[1])
    except OSError:
        pass
    return -1


def in_child(module: str, flag: str, spec: dict) -> dict:
    """Runs `python -m <module> <flag> <spec as JSON>` from the repository root and returns the
    JSON object the child prints last.

    A child of its own gives a measurement its own peak memory (VmHWM) and thread pools; the
    parent's would otherwise carry over into the next one.
    """
    path = os.pathsep.join([str(REPO), *filter(None, [os.environ.get("PYTHONPATH")])])
    proc = subprocess.run([sys.executable, "-m", module, flag, json.dumps(spec)], cwd=REPO,
                          capture_output=True, text=True,
                          env={**os.environ, "PYTHONPATH": path, "TF_CPP_MIN_LOG_LEVEL": "2"})
    if proc.returncode != 0:
        tail = [line for line in proc.stderr.splitlines() if line.strip()][-12:]
        kind = flag.strip("-").removesuffix("-child")
        raise RuntimeError(f"the {kind} subprocess failed (exit {proc.returncode}): "
                           + " | ".join(tail))
    return json.loads(proc.stdout.strip().splitlines()[-1])
