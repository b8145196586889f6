"""The ARFF format of Mulan and MEKA: the small parser (dense and sparse rows, which scipy.io.arff
does not read), the Mulan label XML, and the writers of both (see
`admlc_tf.data.vectors.formats` for the conventions)."""

from __future__ import annotations

import dataclasses
import os
import re
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Sequence
from xml.sax.saxutils import quoteattr

import numpy as np

from admlc_tf.errors import DataError

MULAN_NAMESPACE = "http://mulan.sourceforge.net/labels"
_NUMERIC_TYPES = ("numeric", "real", "integer")
_MEKA_OPTION = re.compile(r"(?:^|[\s:])-C\s+(-?\d+)")


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


def read_arff(path: Path, labels_xml, num_labels: int | None):
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
            except (ValueError, IndexError):  # IndexError: an empty entry, as in `{0 1,}`
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
