"""Small builders shared by the tests: tiny configs and synthetic feature caches."""

from __future__ import annotations

from pathlib import Path

import h5py
import numpy as np

from admlc_tf.config import (CriticConfig, ExperimentConfig, PredictorConfig, TrainerConfig)
from admlc_tf.data.pipeline import ClipRows

FRAMES, BANDS, LABELS = 40, 8, 7


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
    """Writes clips' features in the layout of `build_feature_cache`.

    Args:
      features: `[n, frames, bands]`, or a list of `[frames_i, bands]` clips of any lengths.
    """
    clips = list(features)
    offsets = np.cumsum([0] + [len(c) for c in clips])
    with h5py.File(path, "w") as f:
        f.create_dataset("features", data=np.concatenate(clips).astype(np.float32),
                         chunks=(min(len(c) for c in clips), clips[0].shape[1]))
        f.create_dataset("offsets", data=offsets.astype(np.int64))
        f.create_dataset("names", data=np.array([f"chunk{i}" for i in range(len(clips))],
                                                dtype=object), dtype=h5py.string_dtype())
    return path


def learnable_rows(tmp_path: Path, n: int = 64, seed: int = 0) -> ClipRows:
    features, labels = learnable_arrays(n, seed)
    return ClipRows(write_cache(tmp_path / "cache.h5", features), np.arange(n), labels)
