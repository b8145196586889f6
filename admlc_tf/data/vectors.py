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
one-line `DataError` naming the file and the fix. `random_split` and `train_validation_split`
implement the paper's protocol: r random examples for training and validation, the rest for test,
repeated with recorded seeds. The writers (`write_arff`, `write_mulan_xml`, `save_npz`,
`save_h5`) produce the same formats for fixtures and conversions.
"""

from __future__ import annotations

import dataclasses
import os
import re
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Sequence
from xml.sax.saxutils import quoteattr

import h5py
import numpy as np

from admlc_tf.errors import DataError

MULAN_NAMESPACE = "http://mulan.sourceforge.net/labels"
ARFF_SUFFIXES = (".arff",)
NPZ_SUFFIXES = (".npz",)
H5_SUFFIXES = (".h5", ".hdf5")
MAT_SUFFIXES = (".mat",)
_NUMERIC_TYPES = ("numeric", "real", "integer")
_MEKA_OPTION = re.compile(r"(?:^|[\s:])-C\s+(-?\d+)")


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
    readers = {**{s: _read_arff for s in ARFF_SUFFIXES}, **{s: _read_npz for s in NPZ_SUFFIXES},
               **{s: _read_h5 for s in H5_SUFFIXES}, **{s: _read_mat for s in MAT_SUFFIXES}}
    if suffix not in readers:
        raise DataError(f"{path}: unknown suffix {suffix or '(none)'!r}: convert the data set to "
                        ".arff (+ Mulan .xml), .npz, .h5/.hdf5 or .mat with X [n, d] and Y [n, L]")
    if not path.is_file():
        raise DataError(f"data file {path} does not exist: check the path")
    if suffix in ARFF_SUFFIXES:
        features, labels, label_names, feature_names = _read_arff(path, labels_xml, num_labels)
    else:
        features, labels, label_names, feature_names = readers[suffix](path)
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
    except (OSError, ValueError, EOFError) as e:
        raise DataError(f"{path}: not a readable .npz file ({e}): re-save it with np.savez") \
            from None
    return (loaded[x_key], loaded[y_key], _names(loaded.get("label_names")),
            _names(loaded.get("feature_names")))


def _read_h5(path: Path):
    try:
        with h5py.File(path, "r") as f:
            x_key, y_key = _pick(path, f.keys(), [("X", "Y")])
            return (f[x_key][()], f[y_key][()],
                    _names(f["label_names"][()]) if "label_names" in f else None,
                    _names(f["feature_names"][()]) if "feature_names" in f else None)
    except OSError as e:
        raise DataError(f"{path}: not a readable HDF5 file ({e}): re-save it with h5py") from None


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
# ARFF (Mulan and MEKA)


@dataclasses.dataclass
class _Attribute:
    name: str
    kind: str  # "numeric" or "nominal"
    values: tuple[str, ...] = ()


def _unquote(token: str) -> str:
    token = token.strip()
    if len(token) >= 2 and token[0] == token[-1] and token[0] in "'\"":
        return re.sub(r"\\(.)", r"\1", token[1:-1])
    return token


def _split_quoted(text: str, sep: str = ",") -> list[str]:
    """Splits on `sep` outside single or double quotes; quotes are kept (see `_unquote`)."""
    parts, current, quote, escaped = [], [], None, False
    for ch in text:
        if escaped:
            current.append(ch)
            escaped = False
        elif ch == "\\":
            current.append(ch)
            escaped = True
        elif quote:
            current.append(ch)
            if ch == quote:
                quote = None
        elif ch in "'\"":
            current.append(ch)
            quote = ch
        elif ch == sep:
            parts.append("".join(current).strip())
            current = []
        else:
            current.append(ch)
    parts.append("".join(current).strip())
    return parts


def _leading_name(text: str) -> tuple[str, str]:
    """Splits `'quoted name' rest` or `name rest` into (name, rest)."""
    text = text.strip()
    if text[:1] in ("'", '"'):
        quote, i = text[0], 1
        while i < len(text) and text[i] != quote:
            i += 2 if text[i] == "\\" else 1
        return _unquote(text[:i + 1]), text[i + 1:].strip()
    match = re.match(r"([^\s{]+)\s*(.*)$", text, re.S)
    return (match.group(1), match.group(2).strip()) if match else (text, "")


def _read_arff(path: Path, labels_xml, num_labels: int | None):
    relation, attributes, features_and_labels = _parse_arff(path)
    names = [a.name for a in attributes]
    xml_path = Path(labels_xml).expanduser() if labels_xml is not None else path.with_suffix(".xml")
    xml_labels = None
    if labels_xml is not None or xml_path.is_file():
        xml_labels = read_mulan_xml(xml_path)
    meka = _MEKA_OPTION.search(relation)
    meka_labels = None
    if meka:
        c = int(meka.group(1))
        if c == 0 or abs(c) >= len(attributes):
            raise DataError(f"{path}: MEKA header '-C {c}' does not fit {len(attributes)} "
                            "attributes: fix the @relation line")
        meka_labels = names[:c] if c > 0 else names[c:]
    if xml_labels is not None:
        index = {name: i for i, name in enumerate(names)}
        missing = [name for name in xml_labels if name not in index]
        if missing:
            raise DataError(f"{path}: {len(missing)} label(s) named in {xml_path} are not "
                            f"attributes of the ARFF (first: {missing[0]!r}): use the XML that "
                            "belongs to this ARFF or fix the names")
        if meka_labels is not None and set(meka_labels) != set(xml_labels):
            raise DataError(f"{path}: MEKA header '-C {meka.group(1)}' gives {len(meka_labels)} "
                            f"labels but {xml_path} names {len(xml_labels)} (or other attributes): "
                            "fix the @relation line or the XML so they agree")
        label_names = list(xml_labels)
    elif meka_labels is not None:
        label_names = meka_labels
    elif num_labels is not None:
        if not 0 < num_labels < len(attributes):
            raise DataError(f"{path}: num_labels={num_labels} does not fit {len(attributes)} "
                            "attributes: pass the right label count")
        label_names = names[-num_labels:]
    else:
        raise DataError(f"{path}: no label XML {xml_path} and no MEKA '-C L' in @relation, so the "
                        "labels are unknown: add the Mulan .xml, pass labels_xml or num_labels")
    label_set = set(label_names)
    if len(label_set) != len(label_names):
        raise DataError(f"{path}: a label name is listed twice: fix the label XML")
    label_cols = [names.index(name) for name in label_names]
    feature_cols = [i for i, name in enumerate(names) if name not in label_set]
    for i in label_cols:
        if attributes[i].kind != "nominal" or set(attributes[i].values) != {"0", "1"}:
            raise DataError(f"{path}: label attribute {names[i]!r} must be declared {{0,1}}: fix "
                            "its @attribute line")
    for i in feature_cols:
        if attributes[i].kind != "numeric":
            raise DataError(f"{path}: feature attribute {names[i]!r} is {attributes[i].kind}; only "
                            "numeric features are read: encode it numerically or drop it")
    data = features_and_labels
    return data[:, feature_cols], data[:, label_cols], label_names, [names[i] for i in feature_cols]


def _parse_arff(path: Path) -> tuple[str, list[_Attribute], np.ndarray]:
    """Returns (relation, attributes, `[n, n_attributes]` float64 values) of a dense/sparse ARFF."""
    relation, attributes, rows = "", [], []
    in_data = False
    try:
        f = open(path, encoding="utf-8", errors="strict")
    except OSError as e:
        raise DataError(f"{path}: cannot open ARFF file ({e}): check the path") from None
    with f:
        try:
            for line_no, raw in enumerate(f, start=1):
                line = raw.strip()
                if not line or line.startswith("%"):
                    continue
                if not in_data:
                    keyword = line.split(None, 1)[0].lower()
                    rest = line[len(keyword):].strip()
                    if keyword == "@relation":
                        relation = _unquote(rest)
                    elif keyword == "@attribute":
                        attributes.append(_parse_attribute(path, line_no, rest))
                    elif keyword == "@data":
                        if not attributes:
                            raise DataError(f"{path}:{line_no}: @data before any @attribute: "
                                            "fix the ARFF header")
                        in_data = True
                        defaults = np.array([_default(a) for a in attributes])
                        codes = [_value_codes(a) for a in attributes]
                    else:
                        raise DataError(f"{path}:{line_no}: unexpected header line "
                                        f"{line[:40]!r}: expected @relation, @attribute or @data")
                    continue
                rows.append(_parse_row(path, line_no, line, attributes, defaults, codes))
        except UnicodeDecodeError as e:
            raise DataError(f"{path}: not UTF-8 text ({e}): re-save the ARFF as UTF-8") from None
    if not in_data:
        raise DataError(f"{path}: no @data section: the ARFF is truncated or not an ARFF file")
    if not rows:
        return relation, attributes, np.zeros((0, len(attributes)))
    return relation, attributes, np.stack(rows)


def _parse_attribute(path: Path, line_no: int, text: str) -> _Attribute:
    name, kind = _leading_name(text)
    if kind.startswith("{"):
        if not kind.endswith("}"):
            raise DataError(f"{path}:{line_no}: unterminated nominal list for {name!r}: fix the "
                            "@attribute line")
        values = tuple(_unquote(v) for v in _split_quoted(kind[1:-1]) if v)
        return _Attribute(name, "nominal", values)
    kind = kind.lower()
    if kind in _NUMERIC_TYPES:
        return _Attribute(name, "numeric")
    return _Attribute(name, kind.split()[0] if kind else "untyped")


def _default(attribute: _Attribute) -> float:
    """The value a sparse row's omitted entry takes: 0, or the first declared nominal value."""
    if attribute.kind == "nominal" and attribute.values:
        try:
            return float(attribute.values[0])
        except ValueError:
            return float("nan")
    return 0.0


def _value_codes(attribute: _Attribute) -> dict[str, float] | None:
    if attribute.kind != "nominal":
        return None
    codes = {}
    for v in attribute.values:
        try:
            codes[v] = float(v)
        except ValueError:
            codes[v] = float("nan")  # rejected later if this attribute is a label
    return codes


def _to_float(path: Path, line_no: int, token: str, attribute: _Attribute, codes) -> float:
    token = _unquote(token)
    if token == "?":
        raise DataError(f"{path}:{line_no}: missing value '?' for {attribute.name!r}: impute it "
                        "or drop the row; missing values are not supported")
    if codes is not None:
        if token not in codes:
            raise DataError(f"{path}:{line_no}: value {token!r} of {attribute.name!r} is not one "
                            f"of its declared values {{{','.join(attribute.values)}}}: fix the row")
        return codes[token]
    try:
        return float(token)
    except ValueError:
        raise DataError(f"{path}:{line_no}: {token!r} for {attribute.name!r} is not a number: "
                        "fix the row") from None


def _parse_row(path: Path, line_no: int, line: str, attributes, defaults, codes) -> np.ndarray:
    n = len(attributes)
    if line.startswith("{"):
        if not line.endswith("}"):
            raise DataError(f"{path}:{line_no}: sparse row without closing '}}': fix the row")
        row = defaults.copy()
        body = line[1:-1].strip()
        for item in (_split_quoted(body) if body else []):
            parts = item.split(None, 1)
            try:
                i = int(parts[0])
                if not 0 <= i < n or len(parts) != 2:
                    raise ValueError
            except ValueError:
                raise DataError(f"{path}:{line_no}: sparse entry {item!r} is not '<index 0.."
                                f"{n - 1}> <value>': fix the row") from None
            row[i] = _to_float(path, line_no, parts[1], attributes[i], codes[i])
        return row
    tokens = _split_quoted(line) if ("'" in line or '"' in line) else line.split(",")
    if len(tokens) != n:
        raise DataError(f"{path}:{line_no}: row has {len(tokens)} values but the header declares "
                        f"{n} attributes: fix the row (instance weights {{w}} are not supported)")
    return np.array([_to_float(path, line_no, t, a, c)
                     for t, a, c in zip(tokens, attributes, codes)])


def read_mulan_xml(path: str | os.PathLike) -> list[str]:
    """Reads the label names of a Mulan label XML file, in document order (nesting flattened)."""
    path = Path(path).expanduser()
    if not path.is_file():
        raise DataError(f"label XML {path} does not exist: pass labels_xml the Mulan .xml that "
                        "comes with the ARFF, or use a MEKA '-C L' header")
    try:
        root = ET.parse(path).getroot()
    except ET.ParseError as e:
        raise DataError(f"label XML {path} is not well-formed ({e}): fix or re-download it") \
            from None
    names = [el.get("name") for el in root.iter() if el.tag.rsplit("}", 1)[-1] == "label"]
    if not names or any(name is None for name in names):
        raise DataError(f"label XML {path} has no <label name=\"...\"> elements (or one without "
                        "a name): use the Mulan label file of this data set")
    return names


# ----------------------------------------------------------------------------------------------
# Splits


def random_split(n: int, train_size: int | float, *, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """The paper's protocol: r random examples for training (and validation), the rest for test.

    Args:
      n: number of examples.
      train_size: r as a count in 1..n-1, or a fraction in (0, 1) of n (rounded).
      seed: record it with the results; the same (n, train_size, seed) gives the same split.

    Returns:
      (train_idx `[r]`, test_idx `[n - r]`), disjoint, each sorted ascending, int64.
    """
    r = int(round(train_size * n)) if isinstance(train_size, float) else int(train_size)
    if not 0 < r < n:
        raise ValueError(f"train_size {train_size} leaves no training or no test examples out "
                         f"of {n}: use a count in 1..{n - 1} or a fraction in (0, 1)")
    order = np.random.default_rng(seed).permutation(n)
    return np.sort(order[:r]), np.sort(order[r:])


def train_validation_split(train_idx: Sequence[int] | np.ndarray, validation_fraction: float, *,
                           seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Holds out a random `validation_fraction` of `train_idx` for validation.

    Args:
      train_idx: `[r]` example indices (from `random_split`).
      validation_fraction: in [0, 1); the held-out count is rounded, at least 1 if positive.
      seed: record it with the results.

    Returns:
      (train `[r - v]`, validation `[v]`) subsets of `train_idx`, each sorted ascending, int64.
    """
    train_idx = np.asarray(train_idx, dtype=np.int64)
    if not 0 <= validation_fraction < 1:
        raise ValueError(f"validation_fraction {validation_fraction} must be in [0, 1)")
    v = int(round(validation_fraction * len(train_idx)))
    v = max(v, 1) if validation_fraction > 0 else 0
    if v >= len(train_idx):
        raise ValueError(f"validation_fraction {validation_fraction} leaves no training examples "
                         f"out of {len(train_idx)}")
    order = np.random.default_rng(seed).permutation(len(train_idx))
    return np.sort(train_idx[order[v:]]), np.sort(train_idx[order[:v]])


# ----------------------------------------------------------------------------------------------
# Writers


def _arff_name(name: str) -> str:
    if re.fullmatch(r"[A-Za-z_][A-Za-z0-9_.\-]*", name):
        return name
    return "'" + name.replace("\\", "\\\\").replace("'", "\\'") + "'"


def _format(value: float) -> str:
    value = float(value)
    return str(int(value)) if value.is_integer() and abs(value) < 1e15 else repr(value)


def write_arff(path: str | os.PathLike, features: np.ndarray, labels: np.ndarray, *, relation: str,
               label_names: Sequence[str] | None = None,
               feature_names: Sequence[str] | None = None, sparse: bool = False,
               meka: bool | str = False) -> Path:
    """Writes features and labels as an ARFF file (float32 values round-trip exactly).

    Args:
      path: the `.arff` file to write.
      features: `[n, d]` numeric features.
      labels: `[n, L]` labels in {0, 1}, written as `{0,1}` nominal attributes.
      relation: the @relation name (MEKA's ` -C ...` option is appended when `meka` is set).
      label_names: `[L]` names (default `label_0`, ...); feature names default to `f0`, ...
      feature_names: `[d]` feature attribute names.
      sparse: write `{index value, ...}` rows that omit zeros.
      meka: False for the Mulan layout (features, then labels; pair with `write_mulan_xml`);
        True or "first" for MEKA `-C L` (labels first); "last" for MEKA `-C -L` (labels last).

    Returns:
      The path written.
    """
    features, labels = np.asarray(features), np.asarray(labels)
    n, d = features.shape
    num_labels = labels.shape[1]
    label_names = list(label_names or [f"label_{j}" for j in range(num_labels)])
    feature_names = list(feature_names or [f"f{i}" for i in range(d)])
    labels_first = meka is True or meka == "first"
    if meka:
        relation = f"{relation}: -C {num_labels if labels_first else -num_labels}"
    header = [f"@relation {_arff_name(relation)}", ""]
    feature_lines = [f"@attribute {_arff_name(name)} numeric" for name in feature_names]
    label_lines = [f"@attribute {_arff_name(name)} {{0,1}}" for name in label_names]
    header += label_lines + feature_lines if labels_first else feature_lines + label_lines
    values = (np.concatenate([labels, features], axis=1) if labels_first
              else np.concatenate([features, labels], axis=1)).astype(np.float64)
    path = Path(path)
    with open(path, "w", encoding="utf-8") as f:
        f.write("\n".join(header) + "\n\n@data\n")
        for row in values:
            if sparse:
                nonzero = np.flatnonzero(row)
                f.write("{" + ",".join(f"{i} {_format(row[i])}" for i in nonzero) + "}\n")
            else:
                f.write(",".join(_format(v) for v in row) + "\n")
    return path


def write_mulan_xml(path: str | os.PathLike, label_names: Sequence[str]) -> Path:
    """Writes a Mulan label XML file naming `label_names` (flat, in order)."""
    path = Path(path)
    lines = ['<?xml version="1.0" encoding="utf-8"?>', f'<labels xmlns="{MULAN_NAMESPACE}">']
    lines += [f"  <label name={quoteattr(str(name))}></label>" for name in label_names]
    path.write_text("\n".join(lines + ["</labels>"]) + "\n", encoding="utf-8")
    return path


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
