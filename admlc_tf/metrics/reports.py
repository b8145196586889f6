"""The reports: the tagging report of every audio task (per-label EER, ROC AUC and AP, keyed by
label name) and the multi-label report of the features and images tasks.

The tagging report is the one schema of every EER report -- `results.json`, `evaluate.py
--json`, the notebooks, the plots and the benchmarks: `{"split", "n_clips", "eer": {name},
"mean_eer", "auc": {name}, "ap": {name}, "map"}` (CHiME-Home also `n_chunks`), plus
`undefined`, the labels with no positive or no negative example in the split: their values are
None and they are left out of the means. Later versions add keys and never rename these.
"""

from __future__ import annotations

import math
from typing import Mapping, Optional, Sequence

import numpy as np

from admlc_tf.metrics.eer import mean_eer, per_label_eer
from admlc_tf.metrics.multilabel import (coverage, example_f1, hamming_loss,
                                         label_ranking_average_precision, macro_f1,
                                         mean_average_precision, micro_f1, one_error,
                                         per_label_average_precision, ranking_loss)


def _per_label_auc(labels: np.ndarray, scores: np.ndarray) -> np.ndarray:
    from sklearn.metrics import roc_auc_score

    return np.array([roc_auc_score(labels[:, j], scores[:, j])
                     if 0 < labels[:, j].sum() < len(labels) else np.nan
                     for j in range(labels.shape[1])])


def _by_name(names: Sequence[str], values: np.ndarray) -> dict:
    return {n: (None if np.isnan(v) else float(v)) for n, v in zip(names, values)}


def _mean(values: np.ndarray) -> Optional[float]:
    return float(np.nanmean(values)) if np.any(~np.isnan(values)) else None


def _check_names(names: Sequence[str], n_columns: int) -> list[str]:
    names = list(names)
    if len(names) != n_columns:
        raise ValueError(f"got {len(names)} label names for {n_columns} label columns")
    if len(set(names)) != len(names):
        raise ValueError(f"label names are not unique: {names}")
    return names


def tagging_report(labels, scores, label_names: Sequence[str], *, split: str,
                   n_chunks: bool = False) -> dict:
    """Threshold-free per-label scores of one split.

    Runs on the host.

    Args:
      labels: `[n, n_labels]` binary ground truth.
      scores: `[n, n_labels]` probabilities.
      label_names: one name per column.
      split: the split's name, recorded in the report.
      n_chunks: also record `n_chunks` (CHiME-Home's name for the clip count).

    Returns:
      The JSON-serialisable report described in the module docstring.
    """
    eer = per_label_eer(labels, scores)  # refuses arrays of two shapes
    labels, scores = np.asarray(labels, np.float64), np.asarray(scores, np.float64)
    names = _check_names(label_names, labels.shape[1])
    auc = _per_label_auc(labels, scores)
    ap = per_label_average_precision(labels, scores)
    report = {"split": split, "n_clips": int(len(labels)),
              "eer": _by_name(names, eer), "mean_eer": mean_eer(eer),
              "auc": _by_name(names, auc), "ap": _by_name(names, ap), "map": _mean(ap),
              "undefined": [n for n, v in zip(names, eer) if np.isnan(v)]}
    if n_chunks:
        report["n_chunks"] = report["n_clips"]
    return report


def _cell(value: Optional[float]) -> str:
    return "-" if value is None or math.isnan(float(value)) else f"{float(value):.3f}"


def format_tagging_table(report: dict, title: str = "") -> str:
    """The report as text: one row per measure with a column per label (the paper's Table 1
    shape) when it fits in 100 characters, else transposed to one row per label."""
    names = list(report["eer"])
    measures = (("EER", "eer", "mean_eer"), ("AUC", "auc", None), ("AP", "ap", "map"))
    widths = [max(5, len(n)) for n in names]
    wide = 6 + sum(w + 2 for w in widths) + 7 > 100
    lines = [title] if title else []
    if not wide:
        lines.append("      " + "  ".join(n.rjust(w) for n, w in zip(names, widths)) + "    ave")
        for label, key, mean_key in measures:
            row = "  ".join(_cell(report[key][n]).rjust(w) for n, w in zip(names, widths))
            mean = report[mean_key] if mean_key else _mean(np.array(
                [np.nan if v is None else v for v in report[key].values()], float))
            lines.append(f"{label:<6}{row}  {_cell(mean).rjust(5)}")
    else:
        first = max(len("label"), len("mean"), *(len(n) for n in names))
        lines.append(f"{'label':<{first}}    EER    AUC     AP")
        for n in names:
            lines.append(f"{n:<{first}}  " + "  ".join(_cell(report[k][n]).rjust(5)
                                                      for _, k, _ in measures))
        auc = [v for v in report["auc"].values() if v is not None]
        lines.append(f"{'mean':<{first}}  {_cell(report['mean_eer']).rjust(5)}  "
                     f"{_cell(float(np.mean(auc)) if auc else None).rjust(5)}  "
                     f"{_cell(report['map']).rjust(5)}")
    if report.get("undefined"):
        lines.append(f"note: {', '.join(report['undefined'])} had no positive or no negative "
                     f"clip in {report['split']}: undefined, left out of the means")
    return "\n".join(lines)


def eer_report(labels, scores, label_names: Sequence[str], *, split: Optional[str] = None) -> dict:
    """The tagging report (`tagging_report`, the one schema) with `n_chunks`, as the notebooks
    and `benchmarks/int8_eer.py` print it with `format_eer_table`."""
    return tagging_report(labels, scores, label_names, split=split, n_chunks=True)


def format_eer_table(eer_by_label: Mapping[str, Optional[float]], mean: Optional[float],
                     title: str = "") -> str:
    """The EER row of the paper's Table 1: a header of label names then `ave`, a row of EERs
    with 3 decimals (`-` for None or nan); a non-empty `title` is a first line of its own.

    Args:
        eer_by_label: a report's `eer` (label order kept).
        mean: its `mean_eer` (the `ave` column), or None.

    >>> print(format_eer_table({"c": 0.17, "m": None}, 0.17))
        c      m    ave
    0.170      -  0.170
    """
    names = [str(name) for name in eer_by_label] + ["ave"]
    values = [_cell(v) for v in eer_by_label.values()] + [_cell(mean)]
    widths = [max(len(n), len("0.000")) for n in names]
    header = "  ".join(n.rjust(w) for n, w in zip(names, widths))
    row = "  ".join(v.rjust(w) for v, w in zip(values, widths))
    return "\n".join(([title] if title else []) + [header, row])


def multilabel_report(labels, scores, predictions, zero_division=0.0) -> dict:
    """All multi-label metrics of `admlc_tf.metrics.multilabel`, as a JSON-serialisable dict.

    Runs on the host. F1 and Hamming metrics use `predictions` (e.g. from `binarize`; record
    its `info` next to this report), ranking metrics use `scores`. Undefined values (`nan`:
    `one_error` without true labels, `mean_average_precision` without positives) are `None`.

    Args:
        labels: Binary ground truth. shape = `[n, n_labels]`.
        scores: Scores. shape = `[n, n_labels]`.
        predictions: Binary predictions. shape = `[n, n_labels]`.
        zero_division: Passed to the F1 functions.

    Returns:
        `{"micro_f1", "macro_f1", "example_f1", "hamming_loss", "ranking_loss", "one_error",
        "coverage", "label_ranking_average_precision", "mean_average_precision"}` as Python
        floats (or None), plus `"n_examples"` and `"n_labels"` (ints).
    """
    values = {
        "micro_f1": micro_f1(labels, predictions, zero_division),
        "macro_f1": macro_f1(labels, predictions, zero_division),
        "example_f1": example_f1(labels, predictions, zero_division),
        "hamming_loss": hamming_loss(labels, predictions),
        "ranking_loss": ranking_loss(labels, scores),
        "one_error": one_error(labels, scores),
        "coverage": coverage(labels, scores),
        "label_ranking_average_precision": label_ranking_average_precision(labels, scores),
        "mean_average_precision": mean_average_precision(labels, scores),
    }
    report = {name: (None if math.isnan(v) else float(v)) for name, v in values.items()}
    shape = np.asarray(labels).shape
    report["n_examples"] = int(shape[0])
    report["n_labels"] = int(shape[1])
    return report
