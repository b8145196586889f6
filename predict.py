"""Tag audio or image files with an exported predictor (the SavedModel alone is needed).

    python predict.py --model saved_models/cgrnn-demo/1 clip.wav recordings/
    python predict.py --model saved_models/cgrnn-demo/1 recordings/ --csv tags.csv --json tags.json
    python predict.py --model saved_models/images-bpmll/1 photo.jpg photos/ --csv tags.csv

The model's assets/export_config.json says what it takes ("input": waveform or image_bytes).
Images (JPEG, PNG, BMP, GIF's first frame; grayscale, palette, RGBA, CMYK and 16-bit converted)
are tagged one by one: a file that cannot be read is reported on stderr, the others are tagged,
and the exit code is 1.

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
    parser.add_argument("--threshold", type=float, default=None,
                        help="a label is reported when its probability reaches this (0.5; an "
                        "image model whose run tuned per-label thresholds uses those)")
    parser.add_argument("--csv", help="write one row per file to this CSV file: file, seconds, "
                        "a column per label, and the labels at or above the threshold joined "
                        "with ';'")
    parser.add_argument("--json", help="write one record per file to this JSON file")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")
    return parser


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    from admlc_tf.inference import tag_files

    records = []
    code = run_cli(lambda: records.extend(tag_files(
        args.paths, model_path=args.model, threshold=args.threshold, csv_path=args.csv,
        json_path=args.json, verbose=not args.quiet)))
    return 1 if code == 0 and any("error" in r for r in records) else code


if __name__ == "__main__":
    sys.exit(main())
