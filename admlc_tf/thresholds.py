"""Per-label decision thresholds: chosen on development-side validation data, kept in an export.

`assets/thresholds.json` of an audio export:

    {"rule": "f1" | "eer" | null, "chosen_on": "<split> (<n> clips)" | null,
     "note": "...", "thresholds": {"<label>": t, ...}}

`rule` null means no validation data from the development side was available (or it was the
test split itself, which nothing may be chosen on): every threshold is 0.5 and `note` says why.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Optional, Sequence

import numpy as np

from admlc_tf import metrics
from admlc_tf.errors import AdmlcError

THRESHOLDS_FILE = "thresholds.json"
RULES = ("f1", "eer")
DEFAULT = 0.5


def choose(labels, scores, label_names: Sequence[str], *, rule: str, split: str) -> dict:
    """Each label's threshold on validation data, as the content of `thresholds.json`.

    Args:
      labels: `[n, n_labels]` validation ground truth.
      scores: `[n, n_labels]` validation probabilities, pooled per clip as the export pools.
      rule: "f1" (`metrics.tune_thresholds`, each label's F1-maximising cut) or "eer"
        (`metrics.eer_thresholds`, each label's equal-error point).
      split: the validation split's name, recorded with the thresholds.
    """
    if rule not in RULES:
        raise AdmlcError(f"serving.threshold_rule {rule} is not known: use f1 or eer")
    choose_fn = metrics.tune_thresholds if rule == "f1" else metrics.eer_thresholds
    values = choose_fn(labels, scores, default=DEFAULT)
    single = [n for n, column in zip(label_names, np.asarray(labels).T)
              if column.min() == column.max()]
    note = (f"max F1 per label on {split}" if rule == "f1"
            else f"equal-error point per label on {split}")
    if single:
        note += f"; {', '.join(single)} had one class there and keep {DEFAULT}"
    return {"rule": rule, "chosen_on": f"{split} ({len(np.asarray(labels))} clips)", "note": note,
            "thresholds": {n: float(t) for n, t in zip(label_names, values)}}


def fixed(label_names: Sequence[str], reason: str) -> dict:
    """`thresholds.json` without validation data: 0.5 for every label, and why."""
    return {"rule": None, "chosen_on": None,
            "note": f"{DEFAULT} for every label: {reason}",
            "thresholds": {n: DEFAULT for n in label_names}}


def load(export_path: str | Path, label_names: Sequence[str]) -> tuple[np.ndarray, str]:
    """An export's thresholds in label order, and a one-line description of them.

    An export without `assets/thresholds.json` (written before it existed, or a features
    model) gets 0.5 for every label.
    """
    path = Path(export_path) / "assets" / THRESHOLDS_FILE
    if not path.is_file():
        return (np.full(len(label_names), DEFAULT),
                f"{DEFAULT} for every label (the export has no assets/{THRESHOLDS_FILE})")
    try:
        saved = json.loads(path.read_text())
        values = np.array([float(saved["thresholds"][n]) for n in label_names])
    except (ValueError, KeyError, TypeError) as e:
        raise AdmlcError(f"{path} cannot be read ({e!r}): re-export the model, or pass "
                         "--threshold") from None
    if saved.get("rule") is None:
        return values, f"assets/{THRESHOLDS_FILE}: {saved.get('note', '')}"
    return values, f"per label from assets/{THRESHOLDS_FILE} ({saved['note']})"


def describe_override(value: float) -> str:
    return f"{value:g} for every label (--threshold)"


def as_dict(label_names: Sequence[str], values: np.ndarray,
            description: Optional[str] = None) -> dict:
    """`{"thresholds": {label: t}, "thresholds_used": description}` for a JSON output."""
    return {"thresholds": {n: float(t) for n, t in zip(label_names, values)},
            "thresholds_used": description}
