"""Evaluate an exported audio predictor: per-label EER (the paper's Table 1), ROC AUC and AP.

    python evaluate.py --model saved_models/cgrnn/1 --data-dir chime_home
    python evaluate.py --model saved_models/cgrnn/1 --data-dir chime_home --split fold-3 --json eer.json
    python evaluate.py --model saved_models/mine/1 --split val      # the data it was trained on

Only the SavedModel and the data are needed: the feature parameters, the label order and the
split assignment (`assets/splits.csv`) are read from the export. Without --data-dir the data
the export was trained on is used (the generated demo set for a demo model).
"""

from __future__ import annotations

import argparse
import os
import sys

# Level 3: the GPU build logs plugin-registration noise at error level on CPU-only machines;
# real failures still surface as Python exceptions.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

from admlc_tf.cli import run_cli  # noqa: E402

# The library names config fields in its errors; these are the ones evaluate.py sets.
EVALUATE_FLAGS = {"data.data_dir": "--data-dir", "data.layout": "--layout",
                  "data.labels_file": "--labels-file", "data.audio_dir": "--audio-dir",
                  "data.labels": "the export's labels", "data.cache_dir": "--cache-dir"}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", required=True,
                        help="an exported version folder: saved_models/<name>/<version>")
    parser.add_argument("--data-dir", help="labelled audio in any layout train.py reads; "
                        "default: the data the export was trained on")
    parser.add_argument("--layout", help="chime-home, fsd50k, desed or csv (default: detected)")
    parser.add_argument("--labels-file", help="a weak-label TSV or labels.csv anywhere")
    parser.add_argument("--audio-dir", help="the audio of --labels-file (default: its folder)")
    parser.add_argument("--split", help="CHiME-Home: evaluation (default), development or "
                        "fold-K; other layouts: train, val or test (default test)")
    parser.add_argument("--cache-dir", help="feature cache folder (default "
                        "$ADMLC_DATA_HOME/features)")
    parser.add_argument("--batch-size", type=int, default=64, help="segments per forward pass")
    parser.add_argument("--json", help="also write {split, n_clips, eer, mean_eer, auc, ap, "
                        "map, f1, thresholds} to this file (f1 per label at the export's "
                        "thresholds)")
    parser.add_argument("--plots", help="also save ROC curves and an EER bar chart (PNG) here")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")
    return parser


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    from admlc_tf.evaluation import evaluate_export

    return run_cli(lambda: evaluate_export(
        args.model, data_dir=args.data_dir, split=args.split, layout=args.layout,
        labels_file=args.labels_file, audio_dir=args.audio_dir, cache_dir=args.cache_dir,
        batch_size=args.batch_size, json_path=args.json, verbose=not args.quiet,
        plots_dir=args.plots), EVALUATE_FLAGS)


if __name__ == "__main__":
    sys.exit(main())
