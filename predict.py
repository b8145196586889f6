"""Tag audio files with an exported predictor (the SavedModel alone is needed).

    python predict.py --model saved_models/cgrnn-demo/1 clip.wav recordings/
    python predict.py --model saved_models/cgrnn-demo/1 recordings/ --csv tags.csv --json tags.json

Each audio file (WAV, FLAC, OGG; MP3 where libsndfile reads it) is read as mono (channels averaged) and resampled to the model's rate if needed; clips
of any length are cut into training-length segments inside the model and pooled per label.
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
    parser.add_argument("paths", nargs="+", help="audio files or folders of them (searched "
                        "recursively)")
    parser.add_argument("--model", required=True,
                        help="an exported version folder: saved_models/<name>/<version>")
    parser.add_argument("--threshold", type=float, default=0.5,
                        help="a label is reported when its probability reaches this (0.5)")
    parser.add_argument("--csv", help="write one row per file to this CSV file: file, seconds, "
                        "a column per label, and the labels at or above the threshold joined "
                        "with ';'")
    parser.add_argument("--json", help="write one record per file to this JSON file")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")
    return parser


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    from admlc_tf.inference import tag_files

    return run_cli(lambda: tag_files(args.paths, model_path=args.model, threshold=args.threshold,
                                     csv_path=args.csv, json_path=args.json,
                                     verbose=not args.quiet))


if __name__ == "__main__":
    sys.exit(main())
