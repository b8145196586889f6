"""Per-label decision thresholds: chosen on development-side validation data, kept in an export.

The one place that chooses them and writes their file; `ExportedPredictor.thresholds` reads it
back (and applies `--threshold`). `assets/thresholds.json` of an export:

    {"rule": "f1" | "eer" | null, "chosen_on": "<split> (<n> clips)" | null,
     "note": "...", "thresholds": {"<label>": t, ...}}

`rule` null means no validation data from the development side was available (or it was the
test split itself, which nothing may be chosen on): every threshold is 0.5 and `note` says why.
"""

from __future__ import annotations

import json
from typing import Optional, Sequence

import numpy as np

from admlc_tf.metrics import thresholding
from admlc_tf.errors import AdmlcError

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
    choose_fn = thresholding.tune_thresholds if rule == "f1" else thresholding.eer_thresholds
    cuts = choose_fn(labels, scores, default=DEFAULT)
    single = [n for n, column in zip(label_names, np.asarray(labels).T)
              if column.min() == column.max()]
    note = (f"max F1 per label on {split}" if rule == "f1"
            else f"equal-error point per label on {split}")
    if single:
        note += f"; {', '.join(single)} had one class there and keep {DEFAULT}"
    return tuned(label_names, cuts, rule=rule, chosen_on=f"{split} ({len(np.asarray(labels))} clips)",
                 note=note)


def fixed(label_names: Sequence[str], reason: str) -> dict:
    """`thresholds.json` without validation data: 0.5 for every label, and why."""
    return tuned(label_names, [DEFAULT] * len(label_names), rule=None, chosen_on=None,
                 note=f"{DEFAULT} for every label: {reason}")


def tuned(label_names: Sequence[str], values, *, rule: Optional[str], chosen_on: Optional[str],
          note: str) -> dict:
    """`thresholds.json` of thresholds tuned elsewhere (the features and images tasks'
    `--threshold per_label`, `metrics.binarize`)."""
    return {"rule": rule, "chosen_on": chosen_on, "note": note,
            "thresholds": {n: float(t) for n, t in zip(label_names, values)}}


def to_text(chosen: dict) -> str:
    """The text of `thresholds.json` (what `choose`, `fixed` or `tuned` returned)."""
    return json.dumps(chosen, indent=2) + "\n"


def values(saved: dict, label_names: Sequence[str]) -> np.ndarray:
    """The thresholds of a read `thresholds.json` in the order of `label_names` (KeyError when
    one is missing)."""
    return np.array([float(saved["thresholds"][n]) for n in label_names])


def as_dict(label_names: Sequence[str], values: np.ndarray,
            description: Optional[str] = None) -> dict:
    """`{"thresholds": {label: t}, "thresholds_used": description}` for a JSON output."""
    return {"thresholds": {n: float(t) for n, t in zip(label_names, values)},
            "thresholds_used": description}


def of_vector_run(label_names: Sequence[str], info: dict, setting: str) -> dict:
    """`thresholds.json` of a features or images run: the per-label cuts `metrics.binarize`
    tuned under `--threshold per_label`, else 0.5 for every label and why."""
    if info.get("method") == "per_label":
        return tuned(label_names, info["thresholds"], rule="f1",
                     chosen_on="the validation part",
                     note="max F1 per label on the validation part (--threshold per_label)")
    return fixed(label_names, f"the run used --threshold {setting}; --threshold per_label "
                 "tunes them on the validation part")
