"""What TFLite (float32 and int8) costs in EER on a held-out CHiME-Home split (issue #15).

    python train.py --paper --data-dir ~/.cache/admlc-tf/demo-chime-home-v1/chime_home \\
        --validation-fold 1 --epochs 5 --batch-size 32 --critic-pretrain-steps 20 --tflite \\
        --name cgrnn-paper-int8 --out runs/cgrnn-paper-int8
    python benchmarks/int8_eer.py --model saved_models/cgrnn-paper-int8/1 --split evaluation

Every clip of the split is tagged as `predict.py` tags it (streamed, segments pooled) through
the SavedModel, `model.tflite` and `model_int8.tflite` of one export; the per-label EER of each
form and the change in mean EER are printed and written to `--json`. Reads CHiME-Home layouts
(the generated demo set included), whose clips are the WAVs of the export's training data.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

if not __package__:  # `python benchmarks/int8_eer.py`: siblings as `benchmarks.*`
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import numpy as np  # noqa: E402

from admlc_tf.cli import run_cli  # noqa: E402
from benchmarks.common import HERE, stamp, write_json  # noqa: E402


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", required=True, help="an export written with --tflite")
    parser.add_argument("--split", default="evaluation",
                        help="CHiME-Home split: evaluation (default), development or fold-K")
    parser.add_argument("--json", default=str(HERE / "int8_eer.json"))
    args = parser.parse_args(argv)

    from admlc_tf.config import ExperimentConfig
    from admlc_tf.data.layouts import chime_home
    from admlc_tf.data.generated.demo import ensure_demo_dataset
    from admlc_tf.serving.exported import ExportedPredictor
    from admlc_tf.serving.audio import segment_predictor
    from admlc_tf.metrics import eer_report
    from admlc_tf.serving.streaming import tag_stream

    model = ExportedPredictor(args.model)
    config = ExperimentConfig.from_dict(model.metadata["config"])
    source = Path(config.data.data_dir) if config.data.data_dir else ensure_demo_dataset()
    clips = [c for c in chime_home.load_all(source, config.features.sample_rate)
             if chime_home.in_split(c, args.split)]
    labels = np.stack([c.labels for c in clips])
    serving = model.metadata["serving"]
    report = {**stamp("int8_eer.py", argv), "model": args.model, "split": args.split,
              "n_clips": len(clips), "forms": {}}
    for form in ("savedmodel", "tflite", "tflite-int8"):
        predict = segment_predictor(model, form)
        start = time.perf_counter()
        scores = np.stack([tag_stream(c.wav_path, predict, sample_rate=config.features.sample_rate,
                                      segment=serving["segment_samples"],
                                      hop=serving["hop_samples"], pooling=serving["pooling"])[0]
                           .result() for c in clips])
        eer = eer_report(labels, scores, model.label_names)
        report["forms"][form] = {"mean_eer": eer["mean_eer"], "eer": eer["eer"],
                                 "seconds": time.perf_counter() - start,
                                 "scores": scores.tolist()}
    base = report["forms"]["savedmodel"]
    for form in ("tflite", "tflite-int8"):
        ours = report["forms"][form]
        ours["mean_eer_change"] = ours["mean_eer"] - base["mean_eer"]
        ours["max_abs_score_diff"] = float(np.abs(np.array(ours["scores"])
                                                  - np.array(base["scores"])).max())
    for form, values in report["forms"].items():
        change = values.get("mean_eer_change")
        print(f"{form:12s} mean EER {values['mean_eer']:.4f}"
              + (f" (change {change:+.4f}, max |score diff| {values['max_abs_score_diff']:.4f})"
                 if change is not None else "") + f", {values['seconds']:.0f} s")
    write_json(args.json, report)
    return 0


if __name__ == "__main__":
    sys.exit(run_cli(main))
