"""Scoring an exported predictor on a CHiME-Home split (what `evaluate.py` runs)."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import numpy as np

from admlc_tf.config import ExperimentConfig, FeatureConfig
from admlc_tf.data import chime_home
from admlc_tf.data.cache import build_feature_cache
from admlc_tf.data.pipeline import evaluation_batches
from admlc_tf.errors import AdmlcError
from admlc_tf.experiment import resolve_data_dir, rows_for, split_chunks
from admlc_tf.export import ExportedPredictor
from admlc_tf.files import write_json_atomic
from admlc_tf.metrics import eer_report, format_eer_table


def evaluate_export(model_path: str | Path, *, data_dir: Optional[str] = None,
                    split: str = "evaluation", cache_dir: Optional[str] = None,
                    batch_size: int = 64, json_path: Optional[str] = None,
                    verbose: bool = True, plots_dir: Optional[str] = None) -> dict:
    """Per-label EER of an exported predictor on a split.

    Args:
      model_path: `saved_models/<name>/<version>`.
      data_dir: the chime_home folder; None uses the generated demo set.
      split: "evaluation" or "fold-K" (K in 1..5).
      cache_dir: feature cache folder (None: the default).
      batch_size: chunks per call of the serving signature.
      json_path: where to write the report as JSON (written atomically), or None.
      plots_dir: also save per-label ROC curves and an EER bar chart (PNG) there.
      verbose: show a progress bar while extracting features (the table is always printed).

    Returns:
      `{"eer": {label: value}, "mean_eer": value, "n_chunks": n}`.
    """
    if split != "evaluation" and not (
            split.startswith("fold-") and split[5:] in {str(k) for k in range(1, 6)}):
        raise AdmlcError(f"--split {split} is not known: use evaluation or fold-1 .. fold-5")
    model = ExportedPredictor(model_path)
    if model.label_names != list(chime_home.LABELS):
        raise AdmlcError(f"{model_path} predicts labels {model.label_names}, not the CHiME-Home "
                         f"labels {list(chime_home.LABELS)}: evaluate it on its own data")
    features = FeatureConfig(**model.metadata["features"])
    config = ExperimentConfig(features=features)
    config.data.data_dir = data_dir
    everything, chunks = split_chunks(config, resolve_data_dir(config), split)
    cache_path = build_feature_cache(everything, config=features, cache_dir=cache_dir,
                                     verbose=verbose)
    rows = rows_for(cache_path, everything, chunks)
    scores = np.concatenate([model(x)["probabilities"].numpy()
                             for x, _ in evaluation_batches(rows, batch_size=batch_size)])
    report = eer_report(rows.labels, scores, model.label_names)
    print(format_eer_table(report["eer"], report["mean_eer"],
                           title=f"EER of {model_path} on {split} ({report['n_chunks']} chunks)"))
    if json_path:
        write_json_atomic(json_path, report)
    if plots_dir:
        from admlc_tf import plots

        plots.plot_roc_with_eer(rows.labels, scores, model.label_names,
                                path=Path(plots_dir) / "roc_eer.png")
        plots.plot_eer_bars({Path(model_path).parent.name: report["eer"]},
                            path=Path(plots_dir) / "eer_bars.png")
    return report
