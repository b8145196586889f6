"""Tag audio or image files with an exported predictor (the SavedModel alone is needed).

    python predict.py --model saved_models/cgrnn-demo/1 clip.wav recordings/
    python predict.py --model saved_models/cgrnn-demo/1 recordings/ --csv tags.csv --json tags.json
    python predict.py --model saved_models/cgrnn-demo/1 day.flac --timeline day.csv --events day.tsv
    python predict.py --model saved_models/images-bpmll/1 photo.jpg photos/ --csv tags.csv

The model's assets/export_config.json says what it takes ("input": waveform or image_bytes).
Images (JPEG, PNG, BMP, GIF's first frame; grayscale, palette, RGBA, CMYK and 16-bit converted)
are tagged one by one.

Each audio file (WAV, FLAC, OGG; MP3 where libsndfile reads it) is read as mono (channels
averaged) in blocks, resampled to the model's rate as it streams if needed, cut into
training-length segments (4 s every 2 s by default) that go through the model --batch-size at a
time, and pooled per label: memory does not grow with the recording's length. A label is
reported when its probability reaches its threshold: the export's per-label thresholds
(assets/thresholds.json, chosen on validation data at the end of training), or 0.5 where the
export has none, or --threshold for every label.

Exit codes: 0 every file tagged; 1 some files could not be read (each named on one stderr line;
the others are tagged and every output is written); 2 nothing was done (a missing path, a
folder that is not an export, a bad option); 130 interrupted (Ctrl-C): an output not yet
written is absent.
Outputs are written atomically, so each is complete or absent.
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
                        help="one threshold for every label (default: the export's per-label "
                        "thresholds, chosen on validation data by the training run; 0.5 where "
                        "it has none)")
    parser.add_argument("--csv", help="write one row per file to this CSV file: file, seconds "
                        "(images: width, height), a column per label and the labels at or "
                        "above their threshold joined with ';' (which thresholds were used is "
                        "said on stderr and in --json)")
    parser.add_argument("--json", help="write one record per file, the thresholds used and the "
                        "files that failed to this JSON file")
    parser.add_argument("--timeline", help="write one row per segment to this CSV file: "
                        "file,start_s,end_s,<label>... (the last segment ends at the clip's end)")
    parser.add_argument("--events", help="write events to this TSV file in DESED's format "
                        "(filename, onset, offset, event_label), and the thresholds and "
                        "settings used to <file>.settings.json")
    parser.add_argument("--median-segments", type=int, default=3,
                        help="events: median filter over this odd number of segments before "
                        "runs become events (3; 1 = none); events of a label less than one hop "
                        "apart are merged")
    parser.add_argument("--batch-size", type=int, default=16,
                        help="segments per model call: memory is about this many segments of "
                        "audio and their features (16)")
    parser.add_argument("--backend", default="savedmodel",
                        choices=["savedmodel", "tflite", "tflite-int8"],
                        help="run the SavedModel (default), or the export's model.tflite or "
                        "model_int8.tflite through tf.lite.Interpreter (2 threads)")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")
    return parser


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    from admlc_tf.serving.tagging import tag_files

    records = []

    def job():
        records.extend(tag_files(
            args.paths, model_path=args.model, threshold=args.threshold, csv_path=args.csv,
            json_path=args.json, timeline_path=args.timeline, events_path=args.events,
            median_segments=args.median_segments, batch_size=args.batch_size,
            backend=args.backend, verbose=not args.quiet))

    try:
        code = run_cli(job)
    except KeyboardInterrupt:
        print("interrupted: outputs not yet written are absent, none is half-written",
              file=sys.stderr)
        return 130
    return 1 if code == 0 and any("error" in r for r in records) else code


if __name__ == "__main__":
    sys.exit(main())
