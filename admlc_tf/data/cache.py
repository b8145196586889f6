"""HDF5 feature cache: log-mel frames of a clip list, computed once and reused.

A cache file holds every clip's frames once, whatever its length: `features`
`[total_frames, n_mels]` float32 (clips one after another), `offsets` `[n_clips + 1]` int64 (clip
`i` is rows `offsets[i]:offsets[i + 1]`) and `names` `[n_clips]`. Every clip has at least one
training segment of frames (shorter audio is zero-padded first), so a training crop never needs
padding. The file name is a hash of the feature parameters and of every file's name, path, size
and modification time: changing any of them selects a new file, so a stale cache is never read.
Files are written under a temporary name and renamed.
"""

from __future__ import annotations

import concurrent.futures
import contextlib
import dataclasses
import hashlib
import json
import os
import sys
from pathlib import Path
from typing import Iterable, Optional, Sequence

import h5py
import keras
import numpy as np

from admlc_tf.config import FeatureConfig
from admlc_tf.data.home import data_home
from admlc_tf.errors import DataError
from admlc_tf.features import file_features
from admlc_tf.files import replacing, sweep_temporaries, write_error

CACHE_FORMAT = 2


def default_cache_dir() -> Path:
    """`<data home>/features` (`admlc_tf.data.home.data_home`)."""
    return data_home() / "features"


def cache_folder(cache_dir) -> Path:
    """`cache_dir` (None: `default_cache_dir()`), created; an unwritable one is one line."""
    cache_dir = Path(cache_dir) if cache_dir else default_cache_dir()
    try:
        cache_dir.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise DataError(f"cannot create the feature cache folder {cache_dir} ({e.strerror}): "
                        "pass data.cache_dir a writable folder") from None
    sweep_temporaries(cache_dir)  # a killed build's half file, though its cache is never rebuilt
    return cache_dir


def cache_key(settings: dict, files: Sequence[tuple[str, Path]], kind: str) -> str:
    """A short hash of `settings` and of every file's name, path, size and modification time,
    so that a changed, added or moved file makes a new cache; `kind` names a missing file."""
    digest = hashlib.sha256(json.dumps(settings, sort_keys=True).encode())
    for name, path in files:
        path = Path(path).resolve()
        try:
            stat = path.stat()
        except FileNotFoundError:
            raise DataError(f"{kind} file {path} is missing: restore it or remove it from the "
                            "list") from None
        digest.update(f"{name}\0{path}\0{stat.st_size}\0{stat.st_mtime_ns}\n".encode())
    return digest.hexdigest()[:20]


@contextlib.contextmanager
def writing(path: Path):
    """An open HDF5 file that becomes `path` when the block ends without error: it is written
    under a temporary name (`admlc_tf.files.replacing`) and renamed, so a cache file is complete
    or absent."""
    try:
        with replacing(path) as tmp:
            with h5py.File(tmp, "w") as f:
                yield f
    except OSError as e:
        raise write_error(f"the feature cache {path}", e,
                          "pass data.cache_dir a writable folder with free space") from None


def _cache_key(clips: Sequence[tuple[str, Path]], config: FeatureConfig) -> str:
    settings = dataclasses.asdict(config)
    if settings["front_end"] == "logmel":  # keeps the keys of caches made before the field
        del settings["front_end"]
    return cache_key({"format": CACHE_FORMAT, **settings}, clips, "audio")


def build_feature_cache(clips: Sequence[tuple[str, Path]], *, config: FeatureConfig,
                        cache_dir: str | Path | None = None, verbose: bool = True) -> Path:
    """Returns the cache file for `clips`, extracting features first if it does not exist.

    Runs on the host. Extraction uses a thread pool (decoding, resampling and the FFTs release
    the GIL) and appends each clip's frames to the file as it comes, so memory stays at a few
    clips whatever the collection's size.

    Args:
      clips: `(name, audio path)` pairs, in the order their rows will have.
      config: feature parameters.
      cache_dir: folder of cache files; None uses `default_cache_dir()`.
      verbose: show a progress bar while extracting.

    Raises:
      DataError: a file is missing or bad (nothing is left behind), or the folder is unwritable.
    """
    if not clips:
        raise DataError("no clips to extract features from: the split is empty; check the lists")
    path = cache_folder(cache_dir) / f"features-{_cache_key(clips, config)}.h5"
    if reusable(path, [n for n, _ in clips], bands=config.n_mels):
        return path
    progress = keras.utils.Progbar(len(clips), unit_name="clip") if verbose else None
    if verbose:
        print(f"Extracting log-mel features of {len(clips)} clips into {path}")
    with concurrent.futures.ThreadPoolExecutor(os.cpu_count()) as pool:
        jobs = pool.map(lambda clip: file_features(clip[1], config=config), clips)
        # One HDF5 chunk per training segment: a random crop touches at most two.
        write_features(path, [n for n, _ in clips], jobs, chunk_frames=config.num_frames,
                       attrs={"feature_config": json.dumps(dataclasses.asdict(config),
                                                           sort_keys=True),
                              "format": CACHE_FORMAT}, progress=progress)
    return path


def damage(path: Path, names: Sequence[str], *, bands: int) -> Optional[str]:
    """Why the cache file `path` cannot be what it was written as, or None when it opens and
    holds `names` (in order), `bands`-wide rows and, when it has `offsets`, as many rows as
    they end at, the last of them readable. A copy cut short or a disk filled mid-write
    fails here; a flipped bit inside the data is not looked for (that would read it all)."""
    try:
        with h5py.File(path, "r") as f:
            stored = [n.decode() if isinstance(n, bytes) else n for n in f["names"][()]]
            if stored != list(names):
                return f"it holds {len(stored)} other clip names than the {len(names)} listed"
            features = f["features"]
            rows = int(f["offsets"][-1]) if "offsets" in f else len(names)
            if "offsets" in f and f["offsets"].shape != (len(names) + 1,):
                return f"its offsets have shape {f['offsets'].shape}, not ({len(names) + 1},)"
            if features.shape != (rows, bands):
                return f"its features have shape {features.shape}, not ({rows}, {bands})"
            if rows:
                features[rows - 1]
    except (OSError, KeyError, ValueError, IndexError, TypeError) as e:
        return str(e).splitlines()[0] if str(e) else type(e).__name__
    return None


def reusable(path: Path, names: Sequence[str], *, bands: int) -> bool:
    """Whether the cache file `path` is there and intact (`damage`). A damaged one is derived
    data: it is removed, with one stderr line, so that the caller rebuilds it."""
    if not path.is_file():
        return False
    problem = damage(path, names, bands=bands)
    if problem is None:
        return True
    print(f"note: the feature cache {path} is damaged ({problem}): rebuilding it",
          file=sys.stderr)
    path.unlink(missing_ok=True)
    return False


def write_features(path: Path, names: Sequence[str], features: Iterable[np.ndarray], *,
                   chunk_frames: int, attrs: Optional[dict] = None, progress=None) -> Path:
    """Writes a feature cache, atomically (`writing`): `features` (`[frames_i, bands]` per clip,
    in `names` order) appended to one `features` matrix as they come, `offsets` `[n + 1]` where
    each clip's rows start, and `names`.

    Args:
      chunk_frames: rows per HDF5 chunk.
      attrs: file attributes (the feature parameters and the cache format).
      progress: a `keras.utils.Progbar` updated per clip, or None.
    """
    offsets = np.zeros(len(names) + 1, dtype=np.int64)
    with writing(Path(path)) as f:
        dataset = None
        f.create_dataset("names", data=np.array(list(names), dtype=object),
                         dtype=h5py.string_dtype())
        for key, value in (attrs or {}).items():
            f.attrs[key] = value
        for row, values in enumerate(features):  # [frames, bands], in clip order
            if dataset is None:
                bands = values.shape[1]
                dataset = f.create_dataset("features", shape=(0, bands), maxshape=(None, bands),
                                           dtype="float32", chunks=(chunk_frames, bands))
            start = offsets[row]
            offsets[row + 1] = start + len(values)
            dataset.resize(offsets[row + 1], axis=0)
            dataset[start:] = values
            if progress:
                progress.update(row + 1)
        f.create_dataset("offsets", data=offsets)
    return Path(path)


def read_names(path: str | Path) -> list[str]:
    """The clip names of a cache file, in row order."""
    with h5py.File(path, "r") as f:
        return [n.decode() if isinstance(n, bytes) else n for n in f["names"][()]]


def read_offsets(path: str | Path) -> np.ndarray:
    """`[n_clips + 1]` int64: clip `i` holds frames `offsets[i]:offsets[i + 1]`."""
    with h5py.File(path, "r") as f:
        return f["offsets"][()]


def feature_statistics(path: str | Path, rows: Sequence[int]) -> tuple[np.ndarray, np.ndarray]:
    """Per-band mean and variance over every frame of the given clips, read clip by clip.

    Returns:
      mean `[n_mels]`, variance `[n_mels]` (float64).
    """
    total, total_sq, count = 0.0, 0.0, 0
    with h5py.File(path, "r") as f:
        features, offsets = f["features"], f["offsets"][()]
        for row in np.sort(np.asarray(rows)):
            x = features[offsets[row]:offsets[row + 1]].astype(np.float64)  # [frames, mels]
            total = total + x.sum(axis=0)
            total_sq = total_sq + np.square(x).sum(axis=0)
            count += x.shape[0]
    mean = total / count
    return mean, np.maximum(total_sq / count - np.square(mean), 1e-12)
