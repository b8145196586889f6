"""Evaluate an exported predictor on CHiME-Home: per-label EER, as in the paper's Table 1.

    python evaluate.py --model saved_models/cgrnn/1 --data-dir chime_home
    python evaluate.py --model saved_models/cgrnn/1 --data-dir chime_home --split fold-3 --json eer.json

Only the SavedModel and the data are needed: the feature parameters are read from the export.
Without --data-dir the generated demo set is used.
"""

from __future__ import annotations

import argparse
import os
import sys

# Level 3: the GPU build logs plugin-registration noise at error level on CPU-only machines;
# real failures still surface as Python exceptions.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

from admlc_tf.cli import run_cli  # noqa: E402


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", required=True,
                        help="an exported version folder: saved_models/<name>/<version>")
    parser.add_argument("--data-dir", help="CHiME-Home `chime_home` folder (or its parent); "
                        "default: the generated demo set")
    parser.add_argument("--split", default="evaluation",
                        help="evaluation (the evaluation list) or fold-K, K in 1..5 "
                        "(development fold K); default evaluation")
    parser.add_argument("--cache-dir", help="feature cache folder (default "
                        "$ADMLC_DATA_HOME/features)")
    parser.add_argument("--batch-size", type=int, default=64, help="chunks per forward pass")
    parser.add_argument("--json", help="also write {eer, mean_eer, n_chunks} to this file")
    parser.add_argument("--plots", help="also save ROC curves and an EER bar chart (PNG) here")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")
    return parser


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    from admlc_tf.evaluation import evaluate_export

    return run_cli(lambda: evaluate_export(
        args.model, data_dir=args.data_dir, split=args.split, cache_dir=args.cache_dir,
        batch_size=args.batch_size, json_path=args.json, verbose=not args.quiet,
        plots_dir=args.plots))


if __name__ == "__main__":
    sys.exit(main())
