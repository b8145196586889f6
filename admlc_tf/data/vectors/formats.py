"""Multi-label feature-vector data sets (scene, NUS-WIDE, CUB, ESP-Game, ...) as arrays.

The paper's image experiments use precomputed vectors (4096-d VGG-16 features for NUS-WIDE and
CUB, 1000-d bag-of-SIFT for ESP-Game). `load_vectors` reads them in the formats they circulate in
and returns a `VectorDataset` (`features [n, d]` and `labels [n, L]`, both float32, labels in
{0, 1}), checked on the host:

- `.arff` + `.xml`, the Mulan convention (mulan.sourceforge.net/format.html): an ARFF file whose
  label attributes are named in a companion XML file
  `<labels xmlns="http://mulan.sourceforge.net/labels"><label name="..."/>...</labels>`
  (nested, hierarchical `label` elements are flattened in document order). The default XML is
  the ARFF's stem + `.xml`. Labels keep the XML's order.
- `.arff` alone, the MEKA convention (meka.sourceforge.net): the `@relation` name carries `-C L`
  (the first L attributes are labels) or `-C -L` (the last L are), e.g.
  `@relation 'scene: -C 6'`. If an XML file is also present the two must name the same
  attributes. Without either, `num_labels=L` takes the last L attributes (Mulan's
  label-count constructor).
  Both dense rows (`1.5,0,...`) and sparse rows (`{0 1.5, 7 1}`, omitted values are 0 or the
  first declared nominal value) are read by the small parser here (scipy.io.arff reads no sparse
  ARFF). Comments (`%`), quoted names and case-insensitive keywords are accepted; features must be
  `numeric`/`real`/`integer`, labels `{0,1}`; a missing value `?` is an error.
- `.npz` with arrays `X` `[n, d]` and `Y` `[n, L]` (optional `label_names`, `feature_names`),
  read with `allow_pickle=False`: an object array is refused, never unpickled.
- `.h5` / `.hdf5` with datasets `X`, `Y` (optional `label_names`, `feature_names`).
- `.mat` with variables `X`/`Y` or `features`/`labels` (optional `label_names`), one row per
  example. MATLAB v5 files are read with `scipy.io.loadmat`; v7.3 files are HDF5 and are read
  with h5py. MATLAB stores arrays column-major, so h5py sees an `[n, d]` MATLAB matrix as
  `[d, n]`: every 2-D v7.3 array is transposed back. Sparse matrices are densified.

Every problem (shape mismatch, labels outside {0, 1}, NaN/inf features, an empty set, ...) is a
one-line `DataError` naming the file and the fix. The ARFF parser, the Mulan XML and their
writers (`write_arff`, `write_mulan_xml`) are `admlc_tf.data.vectors.arff`; the protocol's splits
(`random_split`, `train_validation_split`) are `admlc_tf.data.vectors.splits`. The writers here
(`save_npz`, `save_h5`) produce the array formats for fixtures and conversions.
"""

from __future__ import annotations

import dataclasses
import os
import zipfile
import zlib
from pathlib import Path
from typing import Sequence

import h5py
import numpy as np

from admlc_tf.data.vectors.arff import read_arff
from admlc_tf.errors import DataError

ARFF_SUFFIXES = (".arff",)
NPZ_SUFFIXES = (".npz",)
H5_SUFFIXES = (".h5", ".hdf5")
MAT_SUFFIXES = (".mat",)


@dataclasses.dataclass
class VectorDataset:
    """A multi-label data set of feature vectors.

    Attributes:
      features: `[n, d]` float32, all finite.
      labels: `[n, L]` float32 in {0, 1}.
      label_names: `[L]` names, in column order.
      feature_names: `[d]` names, or None if the file has none.
      source: the file it was read from.
    """

    features: np.ndarray
    labels: np.ndarray
    label_names: list[str]
    feature_names: list[str] | None = None
    source: Path | None = None

    @property
    def num_examples(self) -> int:
        return int(self.features.shape[0])

    @property
    def num_features(self) -> int:
        return int(self.features.shape[1])

    @property
    def num_labels(self) -> int:
        return int(self.labels.shape[1])

    def rows(self, indices: Sequence[int] | np.ndarray):
        """The rows `indices` as training/scoring rows (`admlc_tf.data.pipeline.ArrayRows`)."""
        from admlc_tf.data.pipeline import ArrayRows

        return ArrayRows(self.features[indices], self.labels[indices])

    def subset(self, indices: Sequence[int] | np.ndarray) -> VectorDataset:
        """The rows `indices` (`[k]` ints), e.g. one side of `random_split`."""
        indices = np.asarray(indices, dtype=np.int64)
        return dataclasses.replace(self, features=self.features[indices],
                                   labels=self.labels[indices])


# ----------------------------------------------------------------------------------------------
# Loading


def load_vectors(path: str | os.PathLike, *, labels_xml: str | os.PathLike | None = None,
                 num_labels: int | None = None) -> VectorDataset:
    """Reads a multi-label feature-vector file, dispatching on its suffix (runs on the host).

    Args:
      path: an `.arff`, `.npz`, `.h5`/`.hdf5` or `.mat` file.
      labels_xml: for ARFF, the Mulan label XML (default: `path` with suffix `.xml`, if present).
      num_labels: the expected label count L. For an ARFF file with neither XML nor MEKA header
        the labels are its last L attributes; otherwise it is checked against the file.

    Returns:
      A `VectorDataset` with `features [n, d]` and `labels [n, L]`, validated.

    Raises:
      DataError: the file is missing, unreadable or inconsistent (one line naming the fix).
    """
    path = Path(path).expanduser()
    suffix = path.suffix.lower()
    readers = {**{s: read_arff for s in ARFF_SUFFIXES}, **{s: _read_npz for s in NPZ_SUFFIXES},
               **{s: _read_h5 for s in H5_SUFFIXES}, **{s: _read_mat for s in MAT_SUFFIXES}}
    if suffix not in readers:
        raise DataError(f"{path}: unknown suffix {suffix or '(none)'!r}: convert the data set to "
                        ".arff (+ Mulan .xml), .npz, .h5/.hdf5 or .mat with X [n, d] and Y [n, L]")
    if not path.is_file():
        raise DataError(f"data file {path} does not exist: check the path")
    if suffix in ARFF_SUFFIXES:
        features, labels, label_names, feature_names = read_arff(path, labels_xml, num_labels)
    else:
        try:
            features, labels, label_names, feature_names = readers[suffix](path)
        except UnicodeDecodeError as e:  # label or feature names stored as non-UTF-8 bytes
            raise DataError(f"{path}: its label or feature names are not UTF-8 text ({e.reason} "
                            f"at byte {e.start}): re-save them as UTF-8 strings") from None
    return _validated(path, features, labels, label_names, feature_names, num_labels)


def _validated(path: Path, features, labels, label_names, feature_names,
               num_labels: int | None) -> VectorDataset:
    features = _as_matrix(path, "features (X)", features)
    labels = _as_matrix(path, "labels (Y)", labels)
    n, d = features.shape
    if labels.shape[0] != n:
        hint = (" (Y looks transposed: store it as [n, L])" if labels.shape[1] == n else "")
        raise DataError(f"{path}: features have {n} rows but labels have {labels.shape[0]}{hint}: "
                        "X and Y need one row per example, in the same order")
    if n == 0:
        raise DataError(f"{path}: the data set has no examples: re-export it with its rows")
    if d == 0 or labels.shape[1] == 0:
        raise DataError(f"{path}: features are [{n}, {d}] and labels [{n}, {labels.shape[1]}]; "
                        "both need at least one column: re-export the file")
    if num_labels is not None and labels.shape[1] != num_labels:
        raise DataError(f"{path}: expected {num_labels} labels, the file has {labels.shape[1]}: "
                        "pass the right num_labels or fix the file")
    bad = ~np.isfinite(features)
    if bad.any():
        rows, cols = np.nonzero(bad)
        raise DataError(f"{path}: features contain {int(bad.sum())} NaN/inf values in "
                        f"{len(np.unique(rows))} rows and {len(np.unique(cols))} columns (first at "
                        f"row {rows[0]}, column {cols[0]}): impute them or drop those rows")
    bad = (labels != 0) & (labels != 1)
    if bad.any():
        rows, cols = np.nonzero(bad)
        raise DataError(f"{path}: labels must be 0 or 1, found {labels[rows[0], cols[0]]!r} at row "
                        f"{rows[0]}, column {cols[0]} ({int(bad.sum())} such values): map them to "
                        "0/1 (e.g. -1 -> 0) and re-save")
    if label_names is None:
        label_names = [f"label_{j}" for j in range(labels.shape[1])]
    label_names = [str(name) for name in label_names]
    if len(label_names) != labels.shape[1]:
        raise DataError(f"{path}: {len(label_names)} label names for {labels.shape[1]} label "
                        "columns: store one name per column of Y")
    if feature_names is not None:
        feature_names = [str(name) for name in feature_names]
        if len(feature_names) != d:
            raise DataError(f"{path}: {len(feature_names)} feature names for {d} feature "
                            "columns: store one name per column of X")
    return VectorDataset(features.astype(np.float32), labels.astype(np.float32), label_names,
                         feature_names, path)


def _as_matrix(path: Path, what: str, array) -> np.ndarray:
    try:
        import scipy.sparse
        if scipy.sparse.issparse(array):
            array = array.toarray()
        array = np.asarray(array)
        if array.dtype == object or array.dtype.kind in "USV":
            raise TypeError(array.dtype)
        array = array.astype(np.float64)
    except (TypeError, ValueError) as e:
        raise DataError(f"{path}: {what} is not a numeric array ({e}): store it as a float or "
                        "integer matrix") from None
    if array.ndim == 1:
        array = array[:, None]
    if array.ndim != 2:
        raise DataError(f"{path}: {what} has shape {array.shape}, expected a 2-D [n, columns] "
                        "matrix: reshape it and re-save")
    return array


def _names(values) -> list[str] | None:
    """Label or feature names from a string array, bytes array, char matrix or cell array."""
    if values is None:
        return None
    values = np.asarray(values)
    if values.dtype == object:
        return [_names(v)[0] if isinstance(v, np.ndarray) else _decode(v) for v in values.ravel()]
    return [_decode(v) for v in values.ravel()]


def _decode(value) -> str:
    if isinstance(value, bytes):
        return value.decode("utf-8").strip()
    return str(value).strip()


def _pick(path: Path, keys, pairs) -> tuple[str, str]:
    for x_key, y_key in pairs:
        if x_key in keys and y_key in keys:
            return x_key, y_key
    wanted = " or ".join(f"{x}/{y}" for x, y in pairs)
    raise DataError(f"{path}: no {wanted} arrays (found {', '.join(sorted(keys)) or 'none'}): "
                    "save the features as X [n, d] and the labels as Y [n, L]")


def _read_npz(path: Path):
    try:
        with np.load(path, allow_pickle=False) as npz:
            x_key, y_key = _pick(path, npz.files, [("X", "Y")])
            loaded = {}
            for key in (x_key, y_key, "label_names", "feature_names"):
                if key in npz.files:
                    try:
                        loaded[key] = npz[key]
                    except ValueError as e:
                        if "pickle" not in str(e):
                            raise
                        raise DataError(
                            f"{path}: array {key!r} is an object array that needs pickle, which "
                            "is never enabled: re-save it with np.savez(..., "
                            f"{key}=np.asarray({key}, dtype=float or str))") from None
    except DataError:
        raise
    # An .npz is a zip of .npy files: a damaged one fails in zipfile or zlib, not only in numpy.
    except (OSError, ValueError, EOFError, KeyError, zipfile.BadZipFile, zlib.error) as e:
        raise DataError(f"{path}: not a readable .npz file ({_first_line(e)}): re-save it with "
                        "np.savez") from None
    return (loaded[x_key], loaded[y_key], _names(loaded.get("label_names")),
            _names(loaded.get("feature_names")))


def _first_line(error: Exception) -> str:
    return (str(error).splitlines() or [type(error).__name__])[0]


def _dataset(path: Path, f: h5py.File, key: str):
    """`f[key][()]`; a group or other non-array under the name is one line."""
    if not isinstance(f[key], h5py.Dataset):
        raise DataError(f"{path}: {key!r} is an HDF5 group, not an array: store {key} as one "
                        "dataset")
    if h5py.check_vlen_dtype(f[key].dtype) is not None:
        _check_global_heap(path, f, key)
    return f[key][()]


def _check_global_heap(path: Path, f: h5py.File, key: str) -> None:
    """Walks the global heap collections that a contiguous variable-length dataset (label
    names) points into, as HDF5 decodes them, and refuses a damaged one.

    HDF5 1.14 loops forever, holding the GIL, on a collection whose free-space object has size 0
    (a spliced .h5 found by benchmarks/fuzz.py hung `train.py`); nothing can interrupt it, so
    the bytes are checked before HDF5 reads them.
    """
    dataset = f[key]
    start = dataset.id.get_offset()
    if start is None:  # compact or chunked: HDF5 holds the references elsewhere
        return
    address_size, length_size = f.id.get_create_plist().get_sizes()
    element = 4 + address_size + 4  # sequence length, collection address, object index
    damaged = DataError(f"{path}: the strings of {key!r} are damaged (a global heap that does "
                        "not decode): re-save the file with h5py")
    size = path.stat().st_size
    with open(path, "rb") as raw:
        raw.seek(start)
        references = raw.read(min(dataset.id.get_storage_size(), element * dataset.size))
        collections = {int.from_bytes(references[i + 4:i + 4 + address_size], "little")
                       for i in range(0, len(references) - element + 1, element)}
        for address in sorted(collections - {0}):
            raw.seek(address)
            head = raw.read(8 + length_size)
            length = int.from_bytes(head[8:], "little")
            if head[:5] != b"GCOL\x01" or not 8 + length_size <= length <= size - address:
                raise damaged
            raw.seek(address)
            heap = raw.read(length)
            p, header = 8 + length_size, 8 + length_size  # objects: index, refs, 4, size
            while p < len(heap):
                if p + header > len(heap):
                    break  # a tail too small for an object is free space, as HDF5 reads it
                index = int.from_bytes(heap[p:p + 2], "little")
                object_size = int.from_bytes(heap[p + 8:p + 8 + length_size], "little")
                need = header + -(-object_size // 8) * 8 if index else object_size
                if need <= 0 or p + need > len(heap):
                    raise damaged
                p += need


def _read_h5(path: Path):
    try:
        with h5py.File(path, "r") as f:
            x_key, y_key = _pick(path, f.keys(), [("X", "Y")])
            return (_dataset(path, f, x_key), _dataset(path, f, y_key),
                    _names(_dataset(path, f, "label_names")) if "label_names" in f else None,
                    _names(_dataset(path, f, "feature_names")) if "feature_names" in f else None)
    # A damaged object header surfaces as KeyError or RuntimeError from h5py, not only OSError.
    except (OSError, KeyError, RuntimeError, ValueError, UnicodeDecodeError) as e:
        raise DataError(f"{path}: not a readable HDF5 file ({_first_line(e)}): re-save it with "
                        "h5py") from None


def _read_mat(path: Path):
    if h5py.is_hdf5(path):
        return _read_mat73(path)
    import scipy.io
    try:
        mat = scipy.io.loadmat(path)
    except NotImplementedError:
        return _read_mat73(path)
    except (ValueError, OSError, TypeError, IndexError, KeyError, EOFError,
            scipy.io.matlab.MatReadError) as e:  # scipy raises all of these on corrupt files
        raise DataError(f"{path}: not a readable MATLAB file ({e}): re-save it with save(..., "
                        "'-v7') or '-v7.3'") from None
    keys = [k for k in mat if not k.startswith("__")]
    x_key, y_key = _pick(path, keys, [("X", "Y"), ("features", "labels")])
    return mat[x_key], mat[y_key], _names(mat.get("label_names")), None


def _read_mat73(path: Path):
    """A MATLAB v7.3 file is HDF5 with column-major arrays: transposes every 2-D array."""
    try:
        with h5py.File(path, "r") as f:
            x_key, y_key = _pick(path, f.keys(), [("X", "Y"), ("features", "labels")])
            for key in (x_key, y_key):
                if not isinstance(f[key], h5py.Dataset):
                    raise DataError(f"{path}: variable {key!r} is a struct or sparse matrix in "
                                    "a v7.3 file: save it as a full numeric matrix")
            x, y = f[x_key][()].T, f[y_key][()].T
            names = _mat73_strings(f, f["label_names"]) if "label_names" in f else None
            return x, y, names, None
    except OSError as e:
        raise DataError(f"{path}: not a readable MATLAB v7.3 file ({e}): re-save it in MATLAB") \
            from None


def _mat73_strings(f: h5py.File, dataset: h5py.Dataset) -> list[str]:
    """A v7.3 cellstr (references to uint16 char arrays) or char matrix, as Python strings."""
    data = dataset[()]
    if data.dtype == h5py.ref_dtype:
        return ["".join(map(chr, np.asarray(f[ref][()]).ravel())) for ref in data.T.ravel()]
    return ["".join(map(chr, row)).strip() for row in np.atleast_2d(data.T)]


# ----------------------------------------------------------------------------------------------
# Writers of the array formats (the ARFF writers are `admlc_tf.data.vectors.arff`'s)


def save_npz(path: str | os.PathLike, features: np.ndarray, labels: np.ndarray, *,
             label_names: Sequence[str] | None = None) -> Path:
    """Writes `X` `[n, d]`, `Y` `[n, L]` (float32) and `label_names` (unicode, no pickle)."""
    arrays = {"X": np.asarray(features, np.float32), "Y": np.asarray(labels, np.float32)}
    if label_names is not None:
        arrays["label_names"] = np.array([str(name) for name in label_names])
    path = Path(path)
    np.savez_compressed(path, **arrays)
    return path


def save_h5(path: str | os.PathLike, features: np.ndarray, labels: np.ndarray, *,
            label_names: Sequence[str] | None = None) -> Path:
    """Writes datasets `X` `[n, d]`, `Y` `[n, L]` (float32) and `label_names` (UTF-8 strings)."""
    path = Path(path)
    with h5py.File(path, "w") as f:
        f.create_dataset("X", data=np.asarray(features, np.float32))
        f.create_dataset("Y", data=np.asarray(labels, np.float32))
        if label_names is not None:
            f.create_dataset("label_names", data=[str(name) for name in label_names],
                             dtype=h5py.string_dtype())
    return path
