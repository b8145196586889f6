"""What the tests share: the repository root and the one runner of its scripts, tiny configs,
and synthetic feature caches."""

from __future__ import annotations

import contextlib
import io
import os
import runpy
import subprocess
import sys
import traceback
import warnings
from pathlib import Path
from typing import Optional

import numpy as np

from admlc_tf.config import (CriticConfig, ExperimentConfig, PredictorConfig, TrainerConfig)
from admlc_tf.data.cache import write_features
from admlc_tf.data.pipeline import ClipRows

FRAMES, BANDS, LABELS = 40, 8, 7
REPO = Path(__file__).resolve().parents[1]


def run_script(script, *args, data_home=None, env: Optional[dict] = None, timeout: float = 600,
               in_process: bool = False) -> subprocess.CompletedProcess:
    """`python <script> <args>` from the repository root, as a user runs it: output captured as
    text, TensorFlow's log level the script's own (conftest's is for this process) unless `env`
    sets one, and `ADMLC_DATA_HOME` at `data_home` when given. `script` may be "-m" or "-c".

    `in_process=True` runs the script with `runpy` in this process instead (no ~5 s of
    TensorFlow import), for calls that end before any training: `sys.argv`, the environment,
    the working directory and `sys.path` are set for the call and restored after it, stdout and
    stderr captured, `SystemExit` taken as the return code and an uncaught exception written to
    the captured stderr as a traceback with return code 1. It changes `os.environ` while it
    runs, so it must not overlap threads that read it. `timeout` does not apply."""
    if in_process:
        return _run_in_process(script, [str(a) for a in args], data_home, env or {})
    environment = {k: v for k, v in os.environ.items() if k != "TF_CPP_MIN_LOG_LEVEL"}
    if data_home is not None:
        environment["ADMLC_DATA_HOME"] = str(data_home)
    environment.update(env or {})
    return subprocess.run([sys.executable, str(script), *map(str, args)], cwd=REPO,
                          env=environment, capture_output=True, text=True, timeout=timeout)


def _run_in_process(script, args: list, data_home, env: dict) -> subprocess.CompletedProcess:
    changes = dict(env)
    if data_home is not None:
        changes["ADMLC_DATA_HOME"] = str(data_home)
    saved_env = dict(os.environ)  # the script may set variables too (setdefault of log levels)
    saved_argv, saved_path, saved_cwd = sys.argv[:], sys.path[:], os.getcwd()
    out, err = io.StringIO(), io.StringIO()
    if script == "-m":
        module, rest = args[0], args[1:]
        argv, run = [module, *rest], lambda: runpy.run_module(module, run_name="__main__",
                                                             alter_sys=True)
    elif script == "-c":
        source, rest = args[0], args[1:]
        argv, run = ["-c", *rest], lambda: exec(compile(source, "<string>", "exec"),
                                                {"__name__": "__main__"})
    else:
        path = str(REPO / script)
        argv, run = [path, *args], lambda: runpy.run_path(path, run_name="__main__")
    code = 0
    try:
        os.environ.update(changes)
        os.chdir(REPO)
        sys.argv = argv
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err), \
                warnings.catch_warnings():
            # A fresh interpreter's filters, warnings printed to stderr (pytest records them)
            warnings.resetwarnings()
            for category in (ImportWarning, PendingDeprecationWarning, ResourceWarning,
                             DeprecationWarning):
                warnings.simplefilter("ignore", category)
            warnings.filterwarnings("default", category=DeprecationWarning, module="__main__")
            warnings.showwarning = _print_warning
            try:
                run()
            except SystemExit as e:
                if e.code is None:
                    code = 0
                elif isinstance(e.code, int):
                    code = e.code
                else:
                    print(e.code, file=sys.stderr)
                    code = 1
            except Exception:  # noqa: BLE001  what the interpreter would print, exit 1
                traceback.print_exc()
                code = 1
    finally:
        sys.argv, sys.path[:] = saved_argv, saved_path
        os.chdir(saved_cwd)
        for k in [k for k in os.environ if k not in saved_env]:
            del os.environ[k]
        for k, v in saved_env.items():
            if os.environ.get(k) != v:
                os.environ[k] = v
    return subprocess.CompletedProcess([sys.executable, str(script), *args], code,
                                       out.getvalue(), err.getvalue())


def _print_warning(message, category, filename, lineno, file=None, line=None):
    print(warnings.formatwarning(message, category, filename, lineno, line), end="",
          file=sys.stderr)


def tiny_config(**trainer) -> ExperimentConfig:
    """A CGRNN and critic small enough for a test, without dropout (so steps are deterministic)."""
    return ExperimentConfig(
        predictor=PredictorConfig(window_frames=10, window_hop=10, conv_filters=(4,),
                                  gru_units=(6,), dense_units=8, dropout=0.0),
        critic=CriticConfig(representation_units=(4,), embedding_units=8, label_units=4,
                            fusion_units=(8,)),
        trainer=TrainerConfig(**{"batch_size": 8, "critic_batch": 8, "epochs": 1,
                                 "critic_pretrain_steps": 0, "checkpoint_every": 5,
                                 "log_every": 1, **trainer}),
    )


def learnable_arrays(n: int, seed: int = 0):
    """Features whose band energies encode the labels, plus noise.

    Returns:
      features `[n, FRAMES, BANDS]` float32 and labels `[n, LABELS]` float32.
    """
    rng = np.random.default_rng(seed)
    labels = (rng.random((n, LABELS)) < 0.35).astype(np.float32)
    mixing = rng.normal(size=(LABELS, BANDS)).astype(np.float32)
    features = labels @ mixing  # [n, BANDS]
    features = features[:, None, :] + 0.3 * rng.normal(size=(n, FRAMES, BANDS))
    return features.astype(np.float32), labels


def write_cache(path: Path, features) -> Path:
    """Writes clips' features as `build_feature_cache` does, with the library's own writer
    (`admlc_tf.data.cache.write_features`), one HDF5 chunk per shortest clip.

    Args:
      features: `[n, frames, bands]`, or a list of `[frames_i, bands]` clips of any lengths.
    """
    clips = [np.asarray(c, np.float32) for c in features]
    return write_features(path, [f"chunk{i}" for i in range(len(clips))], clips,
                          chunk_frames=min(len(c) for c in clips))


def learnable_rows(tmp_path: Path, n: int = 64, seed: int = 0) -> ClipRows:
    features, labels = learnable_arrays(n, seed)
    return ClipRows(write_cache(tmp_path / "cache.h5", features), np.arange(n), labels)
