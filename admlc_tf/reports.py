"""The tagging report of every audio task: per-label EER, ROC AUC and AP, keyed by label name.

One JSON layout for `results.json` and `evaluate.py --json`: `{"split", "n_clips", "eer":
{name}, "mean_eer", "auc": {name}, "ap": {name}, "map"}` (CHiME-Home also `n_chunks`), plus
`undefined`, the labels with no positive or no negative example in the split: their values are
None and they are left out of the means. Later versions add keys and never rename these.
"""

from __future__ import annotations

from typing import Optional, Sequence

import numpy as np

from admlc_tf.metrics import per_label_average_precision, per_label_eer


def _per_label_auc(labels: np.ndarray, scores: np.ndarray) -> np.ndarray:
    from sklearn.metrics import roc_auc_score

    return np.array([roc_auc_score(labels[:, j], scores[:, j])
                     if 0 < labels[:, j].sum() < len(labels) else np.nan
                     for j in range(labels.shape[1])])


def _by_name(names: Sequence[str], values: np.ndarray) -> dict:
    return {n: (None if np.isnan(v) else float(v)) for n, v in zip(names, values)}


def _mean(values: np.ndarray) -> Optional[float]:
    return float(np.nanmean(values)) if np.any(~np.isnan(values)) else None


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
    labels, scores = np.asarray(labels, np.float64), np.asarray(scores, np.float64)
    names = list(label_names)
    if labels.shape != scores.shape or labels.shape[1] != len(names):
        raise ValueError(f"labels {labels.shape}, scores {scores.shape} and {len(names)} names "
                         "do not match")
    eer = per_label_eer(labels, scores)
    auc = _per_label_auc(labels, scores)
    ap = per_label_average_precision(labels, scores)
    report = {"split": split, "n_clips": int(len(labels)),
              "eer": _by_name(names, eer), "mean_eer": _mean(eer),
              "auc": _by_name(names, auc), "ap": _by_name(names, ap), "map": _mean(ap),
              "undefined": [n for n, v in zip(names, eer) if np.isnan(v)]}
    if n_chunks:
        report["n_chunks"] = report["n_clips"]
    return report


def _cell(value: Optional[float]) -> str:
    return "-" if value is None else f"{value:.3f}"


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
