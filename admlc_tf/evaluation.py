"""Scoring an exported audio predictor on a split of its data (what `evaluate.py` runs).

Clips are cut and pooled exactly as the run's own final evaluation cuts them (the features
signature on the cached log-mel segments, pooled per clip), so both give the same numbers.
"""

from __future__ import annotations

from pathlib import Path
from typing import Optional

from admlc_tf.config import ExperimentConfig, FeatureConfig
from admlc_tf.data import audio
from admlc_tf.errors import AdmlcError
from admlc_tf.serving.exported import ExportedPredictor
from admlc_tf.files import write_json_atomic
from admlc_tf.metrics.multilabel import per_label_f1
from admlc_tf.metrics.reports import format_tagging_table, tagging_report


def evaluate_export(model_path: str | Path, *, data_dir: Optional[str] = None,
                    split: Optional[str] = None, layout: Optional[str] = None,
                    labels_file: Optional[str] = None, audio_dir: Optional[str] = None,
                    cache_dir: Optional[str] = None, batch_size: int = 64,
                    json_path: Optional[str] = None, verbose: bool = True,
                    plots_dir: Optional[str] = None) -> dict:
    """Per-label EER, ROC AUC and AP of an exported predictor on a split.

    Args:
      model_path: `saved_models/<name>/<version>`.
      data_dir: the labelled audio (any layout); None: the data the export was trained on (the
        generated demo set for a demo model).
      split: CHiME-Home "evaluation", "development" or "fold-K"; other layouts "train", "val"
        or "test" as the export's `assets/splits.csv` assigns them. None: the evaluation list
        for CHiME-Home, else test.
      layout, labels_file, audio_dir: as `DataConfig` (with `data_dir`).
      cache_dir: feature cache folder (None: the default).
      batch_size: segments per call of the features signature.
      json_path: where to write the report as JSON (written atomically), or None.
      plots_dir: also save per-label ROC curves and an EER bar chart (PNG) there.
      verbose: show a progress bar while extracting features (the table is always printed).

    Returns:
      The report of `admlc_tf.metrics.reports.tagging_report`, plus `f1` {label: F1} of the decisions
      at the export's thresholds (`assets/thresholds.json`; 0.5 without it) and `thresholds`
      {label: threshold}.
    """
    model = ExportedPredictor(model_path)
    if "serving" not in model.metadata:
        raise AdmlcError(f"{model_path} takes feature vectors, not audio: evaluate.py scores "
                         "audio models")
    config = ExperimentConfig.from_dict(model.metadata["config"])
    # The export's own front end: an embeddings-task export's config holds no audio features.
    config.features = FeatureConfig(**model.metadata["features"])
    splits_file = model.splits_file
    if data_dir is not None or labels_file is not None:
        same = data_dir is not None and config.data.data_dir is not None and (
            Path(data_dir).resolve() == Path(config.data.data_dir).resolve())
        config.data.data_dir, config.data.layout = data_dir, layout
        config.data.labels_file, config.data.audio_dir = labels_file, audio_dir
        if not same:  # other data: its own splits, not the training run's
            splits_file = None
    if cache_dir is not None:
        config.data.cache_dir = cache_dir
    data = audio.prepare(config, splits_file=splits_file, label_names=model.label_names,
                         verbose=verbose)
    if data.label_names != model.label_names:
        raise AdmlcError(f"{model_path} predicts labels {model.label_names}, not the labels "
                         f"{data.label_names} of {data.source}: evaluate it on its own data")
    split = split or ("evaluation" if data.layout == "chime-home" else data.test_split)
    rows = data.rows(split)
    scores = rows.score(lambda x: model(x)["probabilities"].numpy(), batch_size)
    report = tagging_report(rows.labels, scores, model.label_names, split=split,
                            n_chunks=data.layout == "chime-home")
    cuts, used = model.thresholds()
    f1 = per_label_f1(rows.labels, (scores >= cuts[None]).astype(int))
    report["f1"] = {n: float(v) for n, v in zip(model.label_names, f1)}
    report["thresholds"] = {n: float(t) for n, t in zip(model.label_names, cuts)}
    print(format_tagging_table(report, title=f"{model_path} on {split} "
                               f"({report['n_clips']} clips)"))
    print("F1 per label at thresholds " + used + ": "
          + ", ".join(f"{n} {v:.3f}" for n, v in report["f1"].items()))
    if json_path:
        write_json_atomic(json_path, report)
    if plots_dir:
        from admlc_tf import plots

        plots.plot_roc_with_eer(rows.labels, scores, model.label_names,
                                path=Path(plots_dir) / "roc_eer.png")
        plots.plot_eer_bars({Path(model_path).parent.name: report["eer"]},
                            path=Path(plots_dir) / "eer_bars.png")
    return report
