"""What the tests share: the repository root and the one runner of its scripts, tiny configs,
and synthetic feature caches."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Optional

import numpy as np

from admlc_tf.config import (CriticConfig, ExperimentConfig, PredictorConfig, TrainerConfig)
from admlc_tf.data.cache import write_features
from admlc_tf.data.pipeline import ClipRows

FRAMES, BANDS, LABELS = 40, 8, 7
REPO = Path(__file__).resolve().parents[1]


def run_script(script, *args, data_home=None, env: Optional[dict] = None,
               timeout: float = 600) -> subprocess.CompletedProcess:
    """`python <script> <args>` from the repository root, as a user runs it: output captured as
    text, TensorFlow's log level the script's own (conftest's is for this process) unless `env`
    sets one, and `ADMLC_DATA_HOME` at `data_home` when given. `script` may be "-m" or "-c"."""
    environment = {k: v for k, v in os.environ.items() if k != "TF_CPP_MIN_LOG_LEVEL"}
    if data_home is not None:
        environment["ADMLC_DATA_HOME"] = str(data_home)
    environment.update(env or {})
    return subprocess.run([sys.executable, str(script), *map(str, args)], cwd=REPO,
                          env=environment, capture_output=True, text=True, timeout=timeout)


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
