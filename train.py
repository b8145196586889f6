"""Train an ADMLC tagger (predictor + critic) and export the predictor.

    python train.py                                  # generated demo set, small model
    python train.py --data-dir chime_home --fold 1   # DCASE 2016 Task 4, validate on fold 1
    python train.py --data-dir chime_home --fold all --loss warp --no-adversarial
    python train.py --data-dir my_audio              # a folder with labels.csv (or FSD50K, DESED)
    python train.py --data-dir my_audio --init-from saved_models/cgrnn/1 --freeze-epochs 2
    python train.py --task features --data scene.arff --model c2ae          # feature vectors
    python train.py --task features --data scene.arff --protocol --repeats 10  # Table 2
    python train.py --task images                    # generated shapes, random backbone
    python train.py --task images --data-dir CUB_200_2011_archive --model c2ae  # VGG-16 fc2

Each flag sets one field of `admlc_tf.config.ExperimentConfig`; flags not given keep the
--config file's values or the task's defaults (`admlc_tf.recipes.default_config`): the demo's
without --data-dir; with it, settings measured for CPU training on a few hundred real clips
(`data_dir_config`); the paper's with --paper.
"""

from __future__ import annotations

import argparse
import os
import sys

# Level 3: the GPU build logs plugin-registration noise at error level on CPU-only machines;
# real failures still surface as Python exceptions.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

from admlc_tf.cli import run_cli  # noqa: E402
from admlc_tf.config import ExperimentConfig  # noqa: E402
from admlc_tf.errors import AdmlcError  # noqa: E402

# flag -> (config section, field, type, help)
FLAGS = {
    "--data-dir": ("data", "data_dir", str,
                   "labelled audio: CHiME-Home's chime_home folder, the folder holding "
                   "FSD50K.ground_truth/, a DESED root, or a folder with labels.csv "
                   "(file,labels[,split|fold]); --task images: a labels.csv image folder or "
                   "CUB-200-2011; default: the generated demo set"),
    "--layout": ("data", "layout", str,
                 "chime-home, fsd50k, desed or csv; --task images: csv or cub (default: "
                 "detected from --data-dir)"),
    "--labels-file": ("data", "labels_file", str,
                      "a weak-label TSV (filename<TAB>event_labels) or a labels.csv anywhere"),
    "--audio-dir": ("data", "audio_dir", str,
                    "the audio of --labels-file (default: its folder)"),
    "--labels": ("data", "labels", "labels",
                 "labels to learn, in this order, e.g. 'Dog;Speech' (default: FSD50K's "
                 "vocabulary, else the sorted labels of the training split)"),
    "--fold": ("data", "fold", str,
               "CHiME-Home: 1..5 trains on the other development folds and validates on this "
               "one, all trains on the development set and tests on the evaluation list; "
               "other layouts: K validates on fold K of a fold column (default all)"),
    "--validation-fold": ("data", "validation_fold", int,
                          "CHiME-Home with --fold all: train on the development set minus this "
                          "fold and validate on it; the evaluation list is then only the final "
                          "test (default: validation scores on the evaluation list, monitoring "
                          "only)"),
    "--cache-dir": ("data", "cache_dir", str,
                    "feature cache folder (default $ADMLC_DATA_HOME/features, "
                    "~/.cache/admlc-tf/features)"),
    "--loss": ("loss", "supervised", str, "supervised loss L_P: ce or warp (default ce)"),
    "--lambda": ("loss", "lam", float, "weight of the adversarial term of Eq. (3) (default 0.1)"),
    "--critic-mode": ("loss", "critic_mode", str,
                      "what the critic sees and learns: paper (the paper's: soft predictions "
                      "vs 0/1 truth), bernoulli, threshold (0/1 predictions, straight-through), "
                      "gumbel (relaxed samples) or value (it scores each pair's quality; "
                      "the default, except paper for the demo and --paper); "
                      "docs/results/critic.md says which helps where"),
    "--critic-temperature": ("loss", "critic_temperature", float,
                             "temperature of --critic-mode gumbel (default 0.5)"),
    "--critic-every": ("trainer", "critic_every", int,
                       "l: the critic steps every l predictor steps (default 1)"),
    "--critic-batch": ("trainer", "critic_batch", int,
                       "M: ground-truth pairs per critic step (default: as --batch-size)"),
    "--critic-pretrain-steps": ("trainer", "critic_pretrain_steps", int,
                                "critic pre-training steps on compatible/incompatible pairs"),
    "--epochs": ("trainer", "epochs", int, "passes over the training split"),
    "--batch-size": ("trainer", "batch_size", int,
                     "N: global batch size, split across devices"),
    "--optimizer": ("trainer", "optimizer", str, "adam (default) or sgd, for both models"),
    "--lr": ("trainer", "learning_rate", float, "learning rate of the predictor (1e-3)"),
    "--critic-lr": ("trainer", "critic_learning_rate", float, "learning rate of the critic"),
    "--seed": ("trainer", "seed", int, "seed of weights, shuffling and pre-training pairs (0)"),
    "--checkpoint-every": ("trainer", "checkpoint_every", int,
                           "steps between checkpoints; a killed run resumes from the last one"),
    "--init-from": ("trainer", "init_from", str,
                    "fine-tune: start the predictor from an export version or a run folder "
                    "(a new output layer when the labels differ)"),
    "--freeze-epochs": ("trainer", "freeze_epochs", int,
                        "with --init-from: epochs that train only the output layer (0); "
                        "--model musicnn or yamnet: head-only epochs before the backbone's top "
                        "blocks fine-tune (0: it stays frozen)"),
    "--conv-filters": ("predictor", "conv_filters", "ints",
                       "CGRNN gated-conv filters per block, e.g. 128,128 (paper) or 16,16 (demo)"),
    "--gru-units": ("predictor", "gru_units", "ints",
                    "CGRNN bidirectional GRU units per layer, e.g. 128,128,128 (paper)"),
    "--precision": ("trainer", "precision", str,
                    "float32 (default), or on GPUs mixed_float16 (loss-scaled) or mixed_bfloat16"),
    "--strategy": ("runtime", "strategy", str,
                   "auto (multi-worker when TF_CONFIG names a cluster, else mirrored), mirrored, "
                   "multi-worker or one-device"),
    "--devices": ("runtime", "devices", "strs",
                  "devices to mirror over, e.g. /gpu:0,/gpu:1 (default: all GPUs, else the CPU)"),
    "--serving-hop": ("serving", "hop_seconds", float,
                      "exported waveform signature: seconds between the 4 s segments of a long "
                      "clip (2.0)"),
    "--serving-pooling": ("serving", "pooling", str,
                          "exported waveform signature: max or mean over a clip's segments"),
    "--threshold-rule": ("serving", "threshold_rule", str,
                         "audio: each label's threshold, chosen on the development-side "
                         "validation split at the end of training: f1 (max F1, default) or eer "
                         "(0.5 for every label when there is no such split)"),
    "--task": (None, "task", str, "audio (default), features (feature vectors, Table 2), "
               "images (a labels.csv image folder or CUB-200-2011 -> backbone features) or "
               "embeddings (labelled audio -> cached musicnn or YAMNet embeddings -> Table 2 "
               "models)"),
    "--backbone": ("images", "backbone", str,
                   "images task: vgg16 (fc2, 4096-d; default with --data-dir), "
                   "efficientnetv2-b0 (the demo's) or mobilenetv3small; task embeddings: "
                   "musicnn (default) or yamnet"),
    "--backbone-weights": ("images", "backbone_weights", str,
                           "images task: imagenet (Keras downloads and caches them; default "
                           "with --data-dir), a weights file, or random (the demo's); audio "
                           "--model musicnn and task embeddings: mtt (default) or msd from the "
                           "installed musicnn wheel, a TF1 checkpoint, or random; --model yamnet "
                           "and task embeddings --backbone yamnet: audioset (default; Keras "
                           "fetches and caches yamnet.h5), a yamnet.h5, or random"),
    "--image-size": ("images", "image_size", int,
                     "images task: square input size (0: the backbone's, 224; the demo 64)"),
    "--data": ("vectors", "data_path", str,
               "features task: an .arff (Mulan/MEKA), .npz/.h5 (X, Y) or .mat file"),
    "--labels-xml": ("vectors", "labels_xml", str,
                     "features task: Mulan label XML of an .arff (default: beside it)"),
    "--model": (None, "model", str,
                "the predictor: audio cgrnn (default) or crnn-attention; features and images "
                "deep-cplst, warp (default), bpmll or c2ae"),
    "--hidden-units": ("vectors", "hidden_units", "ints",
                       "features task: hidden layers of Deep-CPLST, WARP and C2AE (512)"),
    "--bpmll-loss": ("vectors", "bpmll_loss", str,
                     "features task: BP-MLL's loss, bpmll (pairwise exponential) or l2"),
    "--test-data": ("vectors", "test_path", str,
                    "features task: a file of the same labels and features to test on"),
    "--train-size": ("vectors", "train_size", float,
                     "features/images task: r, examples for training + validation (a fraction "
                     "if < 1); default: --protocol draws half, one run trains on all of --data "
                     "minus its validation part; images: a split given by the data wins"),
    "--patience": ("trainer", "patience", int,
                   "early stopping: stop after this many epochs without a better validation "
                   "score and keep the best epoch's weights (10; 0 trains every epoch); "
                   "--epochs is the maximum"),
    "--spec-augment": ("augment", "spec_augment", "bool",
                       "audio: SpecAugment time and frequency masks in training (on/off)"),
    "--mixup": ("augment", "mixup", float,
                "audio: mixup alpha, mixing examples and label vectors in training (0: off)"),
    "--gain-db": ("augment", "gain_db", float,
                  "audio: random gain in +-dB per training segment (0: off)"),
    "--shift-seconds": ("augment", "shift_seconds", float,
                        "audio: random circular time shift in +-seconds per training segment"),
    "--validation-fraction": ("vectors", "validation_fraction", float,
                              "features task: part of r held out to tune thresholds (0.1)"),
    "--repeats": ("vectors", "repeats", int, "features task: R random splits of --protocol"),
    "--threshold": ("vectors", "threshold", str,
                    "features task: fixed (0.5), per_label (tuned on validation) or top_k"),
    "--top-k": ("vectors", "top_k", int, "features task: k for --threshold top_k"),
    "--out": (None, "out_dir", str,
              "run folder for config, checkpoints, TensorBoard logs and results; an existing "
              "one resumes (default runs/<name>-<time>)"),
    "--name": (None, "name", str, "exported model name: saved_models/<name>/<version>"),
    "--export-dir": (None, "export_dir", str, "base folder of exported models (saved_models)"),
}


LIST_KINDS = ("ints", "strs", "labels", "bool")


def _parse_value(kind, text):
    if kind == "bool":
        if text.lower() not in ("on", "off", "true", "false", "1", "0"):
            raise ValueError(f"{text!r} is not on or off")
        return text.lower() in ("on", "true", "1")
    if kind == "ints":
        return tuple(int(v) for v in text.split(","))
    if kind == "strs":
        return [v for v in text.split(",") if v]
    if kind == "labels":
        return tuple(v.strip() for v in text.split(";") if v.strip())
    return kind(text)


def field_flags() -> dict[str, str]:
    """Config field -> flag, so the library's errors (which name fields) read as flags here."""
    flags = {f"{section}.{field}" if section else field: flag
             for flag, (section, field, _, _) in FLAGS.items()}
    flags.update({"loss.adversarial": "--no-adversarial", "serving.tflite": "--tflite",
                  "predictor.backbone": "--backbone"})  # the embeddings task's reading of it
    return {field: flag for field, flag in flags.items() if "." in field or "_" in field}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--config", help="JSON file of an ExperimentConfig (e.g. a run's "
                        "config.json); flags override its fields")
    for flag, (_, _, kind, text) in FLAGS.items():
        parser.add_argument(flag, type=str if kind in LIST_KINDS else kind, help=text,
                            default=argparse.SUPPRESS)
    parser.add_argument("--adversarial", dest="adversarial", action="store_true",
                        default=argparse.SUPPRESS, help="train with the critic (ADMLC; the default except with "
                        "--data-dir audio, where no critic mode beat the plain model)")
    parser.add_argument("--no-adversarial", dest="adversarial", action="store_false",
                        default=argparse.SUPPRESS,
                        help="plain supervised baseline: same loop, no critic")
    parser.add_argument("--tflite", action="store_true", default=argparse.SUPPRESS,
                        help="audio and embeddings tasks: also export model.tflite and "
                        "model_int8.tflite (float32 and dynamic-range int8 TensorFlow Lite) "
                        "beside saved_model.pb")
    parser.add_argument("--protocol", action="store_true",
                        help="features/images/embeddings task: run the Table 2 protocol (all "
                        "four models, plain and AD, plus scikit-learn peers, over --repeats "
                        "random splits)")
    parser.add_argument("--paper", action="store_true",
                        help="audio: start from the paper's settings (paper-sized CGRNN, batch "
                        "100, 30 epochs, no early stopping) instead of the defaults measured "
                        "for CPU training on a few hundred real clips")
    parser.add_argument("--plots", help="also save training curves (and ROC curves, audio) as "
                        "PNG here")
    parser.add_argument("--force", action="store_true",
                        help="resume an --out made with other settings anyway")
    parser.add_argument("--quiet", action="store_true", help="no progress bars")
    return parser


def config_from_args(args: argparse.Namespace) -> ExperimentConfig:
    """The --config file or the task's defaults (`admlc_tf.recipes.default_config`), with each
    flag given set on its field (`admlc_tf.recipes.configure`)."""
    from admlc_tf import recipes

    given = vars(args)
    if args.config:
        try:
            config = ExperimentConfig.load(args.config)
        except (OSError, ValueError, TypeError) as e:  # JSONDecodeError is a ValueError
            raise AdmlcError(f"--config {args.config} cannot be used ({e}): fix the file or "
                             "start from a run's config.json") from None
    else:
        config = recipes.default_config(
            given.get("task", "audio"), paper=args.paper,
            with_data="data_dir" in given or "labels_file" in given)
    fields = {}
    for flag, (section, field, kind, _) in FLAGS.items():
        key = flag[2:].replace("-", "_")
        if key in given:
            value = given[key]
            try:
                value = _parse_value(kind, value) if kind in LIST_KINDS else value
            except ValueError as e:
                raise AdmlcError(f"{flag} {value}: {e}: fix the flag's value") from None
            fields[f"{section}.{field}" if section else field] = value
    if "adversarial" in given:
        fields["loss.adversarial"] = given["adversarial"]
    if "tflite" in given:
        fields["serving.tflite"] = True
    return recipes.configure(config, fields, follow=not args.config)


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    from admlc_tf import lifecycle, recipes

    def main_job():
        config = config_from_args(args)
        recipe = recipes.recipe_for(config, protocol=args.protocol)
        return lifecycle.run(config, recipe=recipe, verbose=not args.quiet, force=args.force,
                             plots_dir=args.plots)

    return run_cli(main_job, field_flags())


if __name__ == "__main__":
    sys.exit(main())
