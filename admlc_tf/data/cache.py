"""HDF5 feature cache: log-mel features of a chunk list, computed once and reused.

A cache file holds `features` `[n_chunks, n_frames, n_mels]` float32 (one HDF5 chunk per example,
so tf.data can stream it) and `names` `[n_chunks]`. Its file name is a hash of the feature
parameters and of every WAV's path, size and modification time: changing any of them selects a
new file, so a stale cache is never read. Files are written under a temporary name and renamed.
"""

from __future__ import annotations

import concurrent.futures
import dataclasses
import hashlib
import json
import os
from pathlib import Path
from typing import Sequence

import h5py
import keras
import numpy as np

from admlc_tf.config import FeatureConfig
from admlc_tf.data.chime_home import Chunk
from admlc_tf.errors import DataError
from admlc_tf.features import file_features

CACHE_FORMAT = 1


def default_cache_dir() -> Path:
    home = os.environ.get("ADMLC_DATA_HOME", str(Path.home() / ".cache" / "admlc-tf"))
    return Path(home).expanduser() / "features"


def _cache_key(chunks: Sequence[Chunk], config: FeatureConfig) -> str:
    digest = hashlib.sha256()
    digest.update(json.dumps({"format": CACHE_FORMAT, **dataclasses.asdict(config)},
                             sort_keys=True).encode())
    for chunk in chunks:
        path = Path(chunk.wav_path).resolve()
        try:
            stat = path.stat()
        except FileNotFoundError:
            raise DataError(f"audio file {path} is missing: restore it or remove its chunk "
                            "from the list") from None
        digest.update(f"{chunk.name}\0{path}\0{stat.st_size}\0{stat.st_mtime_ns}\n".encode())
    return digest.hexdigest()[:20]


def build_feature_cache(chunks: Sequence[Chunk], *, config: FeatureConfig,
                        cache_dir: str | Path | None = None, verbose: bool = True) -> Path:
    """Returns the cache file for `chunks`, extracting features first if it does not exist.

    Runs on the host. Extraction uses a thread pool (the FFTs release the GIL) and streams rows
    into the file, so memory stays at one chunk per worker.

    Args:
      chunks: the chunks, in the order their rows will have.
      config: feature parameters.
      cache_dir: folder of cache files; None uses `default_cache_dir()`.
      verbose: show a progress bar while extracting.

    Raises:
      DataError: a WAV is missing or bad (nothing is left behind), or the folder is unwritable.
    """
    if not chunks:
        raise DataError("no chunks to extract features from: the split is empty; check the lists")
    cache_dir = Path(cache_dir) if cache_dir else default_cache_dir()
    path = cache_dir / f"features-{_cache_key(chunks, config)}.h5"
    if path.is_file():
        return path
    try:
        cache_dir.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise DataError(f"cannot create the feature cache folder {cache_dir} ({e.strerror}): "
                        "pass --cache-dir a writable folder") from None
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    shape = (len(chunks), config.num_frames, config.n_mels)
    progress = keras.utils.Progbar(len(chunks), unit_name="chunk") if verbose else None
    if verbose:
        print(f"Extracting log-mel features of {len(chunks)} chunks into {path}")
    try:
        with h5py.File(tmp, "w") as f, concurrent.futures.ThreadPoolExecutor(os.cpu_count()) as pool:
            features = f.create_dataset("features", shape=shape, dtype="float32",
                                        chunks=(1,) + shape[1:])
            f.create_dataset("names", data=np.array([c.name for c in chunks], dtype=object),
                             dtype=h5py.string_dtype())
            f.attrs["feature_config"] = json.dumps(dataclasses.asdict(config), sort_keys=True)
            f.attrs["format"] = CACHE_FORMAT
            jobs = pool.map(lambda c: file_features(c.wav_path, config=config), chunks)
            for row, values in enumerate(jobs):
                features[row] = values
                if progress:
                    progress.update(row + 1)
        os.replace(tmp, path)
    except OSError as e:
        raise DataError(f"cannot write the feature cache {path} ({e}): pass --cache-dir a "
                        "writable folder with free space") from None
    finally:
        tmp.unlink(missing_ok=True)
    return path


def read_names(path: str | Path) -> list[str]:
    """The chunk names of a cache file, in row order."""
    with h5py.File(path, "r") as f:
        return [n.decode() if isinstance(n, bytes) else n for n in f["names"][()]]


def feature_statistics(path: str | Path, rows: Sequence[int],
                       block: int = 256) -> tuple[np.ndarray, np.ndarray]:
    """Per-band mean and variance over the given rows, read block by block.

    Returns:
      mean `[n_mels]`, variance `[n_mels]` (float64), over all frames of those rows.
    """
    rows = np.sort(np.asarray(rows))
    total, total_sq, count = 0.0, 0.0, 0
    with h5py.File(path, "r") as f:
        features = f["features"]
        for start in range(0, len(rows), block):
            x = features[rows[start:start + block]].astype(np.float64)  # [b, frames, mels]
            total = total + x.sum(axis=(0, 1))
            total_sq = total_sq + np.square(x).sum(axis=(0, 1))
            count += x.shape[0] * x.shape[1]
    mean = total / count
    return mean, np.maximum(total_sq / count - np.square(mean), 1e-12)
