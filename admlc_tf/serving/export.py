"""Export the predictor alone as a versioned SavedModel for TensorFlow Serving.

Layout: `<base_dir>/<name>/<version>/` with integer versions 1, 2, ... (TF Serving loads the
highest). A version is written to a hidden temporary folder and renamed into place, so a server
polling the base path never sees half of one, and an existing version is never overwritten.

Signatures (outputs `probabilities` and `logits` (or `scores`, for a regression predictor),
`[batch, n_labels]` in the order of `assets/labels.txt`):
- `features`: input `features` `[batch, *input_shape]`, e.g. `[batch, 249, 40]` log-mel.
- `serving_default`, for audio models: input `waveform` `[batch, samples]` float32 mono at the
  training rate, any length. The log-mel front end runs in the graph (core TF ops only); a clip is
  cut into training-length segments with a configurable hop (shorter clips are zero-padded, as
  in training), each segment is tagged, and the segments are pooled per label (max by default).
- `segments`, for audio models: the same input and cutting, unpooled: `probabilities`
  `[batch, segments, n_labels]` and `start_s` `[batch, segments]` (seconds), for a timeline.
  For feature-vector models `serving_default` is the `features` signature.
- `serving_default`, for image models (`front_end`): input `image_bytes` `[batch]` string,
  encoded JPEG/PNG/BMP/GIF images decoded, resized and run through the backbone in the graph.
With `tflite=True` an audio export also holds `model.tflite` and `model_int8.tflite`
(`write_tflite`). `assets/thresholds.json`, when a training run passes it, holds each label's
decision threshold (`admlc_tf.thresholds`). The asset names and their reader are
`admlc_tf.serving.exported.ExportedPredictor`'s.
`assets/export_config.json` records what `serving_default` takes (`"input"`: "waveform",
"image_bytes" or "features"), the feature parameters, segment hop and pooling (audio) or the
backbone and image size (images). The critic,
the optimizers and every training-only op stay out of the graph; nothing from tensorflow-io is
in it.
"""

from __future__ import annotations

import dataclasses
import os
import re
from pathlib import Path
from typing import Optional, Sequence

import keras
import tensorflow as tf

from admlc_tf.config import FeatureConfig
from admlc_tf.errors import AdmlcError
from admlc_tf.features import LogMelSpectrogram
from admlc_tf.files import remove_path, temporary_path, write_bytes, write_error
from admlc_tf.predictors.spec import to_probabilities
from admlc_tf.serving.exported import ExportedPredictor

_VERSION = re.compile(r"^\d+$")


def next_version(model_dir: str | Path) -> int:
    """1 + the highest integer version folder in `model_dir` (1 when there is none)."""
    model_dir = Path(model_dir)
    versions = [int(p.name) for p in model_dir.iterdir()
                if p.is_dir() and _VERSION.match(p.name)] if model_dir.is_dir() else []
    return max(versions, default=0) + 1


def _segment_outputs(predictor: keras.Model, front_end, waveform, *, segment: int, hop: int):
    """`[batch, samples]` -> `[batch, segments, n_labels]` outputs of `segment`-long windows."""
    samples = tf.shape(waveform)[1]
    count = 1 + tf.maximum(0, -(-(samples - segment) // hop))  # segments covering the clip
    padded = tf.pad(waveform, [[0, 0], [0, segment + (count - 1) * hop - samples]])
    segments = tf.signal.frame(padded, segment, hop, axis=1)  # [batch, count, segment]
    logits = predictor(front_end(tf.reshape(segments, [-1, segment])), training=False)
    return tf.reshape(logits, [tf.shape(waveform)[0], count, logits.shape[-1]])


def _segment_and_tag(predictor: keras.Model, front_end, waveform, *, segment: int, hop: int,
                     pooling: str):
    """`[batch, samples]` -> pooled `[batch, n_labels]` logits over `segment`-long windows."""
    logits = _segment_outputs(predictor, front_end, waveform, segment=segment, hop=hop)
    if pooling == "max":  # the sigmoid is monotonic: the max logit is the max probability's
        return tf.reduce_max(logits, axis=1)
    probabilities = tf.reduce_mean(tf.sigmoid(logits), axis=1)
    return tf.math.log(probabilities) - tf.math.log1p(-probabilities)


def _timeline(predictor: keras.Model, front_end, waveform, *, segment: int, hop: int,
              sample_rate: int, output: str) -> dict:
    """The `segments` signature: per-segment probabilities and their start times."""
    raw = _segment_outputs(predictor, front_end, waveform, segment=segment, hop=hop)
    starts = tf.cast(tf.range(tf.shape(raw)[1]) * hop, tf.float32) / float(sample_rate)
    return {"probabilities": to_probabilities(raw, output),  # [batch, segments, n_labels]
            "start_s": tf.tile(starts[None], [tf.shape(raw)[0], 1])}  # [batch, segments]


def write_tflite(predictor: keras.Model, features: FeatureConfig, folder: Path,
                 output: str = "logits") -> dict[str, str]:
    """Writes `model.tflite` (float32) and `model_int8.tflite` (dynamic-range int8 weights).

    Both map one segment, `waveform` `[1, segment_samples]`, to `probabilities` `[1, n_labels]`
    with the log-mel front end inside; cutting, batching and pooling stay with the caller
    (`admlc_tf.serving.streaming`). The function is frozen (variables become constants) before
    conversion: the converter cannot freeze the Keras 3 GRU's variable reads itself. Only
    TFLite builtin ops are allowed (the STFT becomes RFFT2D and COMPLEX_ABS), so a plain
    `tf.lite.Interpreter` or LiteRT runs both files without the Select TF ops delegate. In the
    int8 file the mel projection is a multiply and a sum (`LogMelSpectrogram(mel_by_sum=True)`,
    ~5 ms slower), so it quantises the predictor's weights but not the power spectrum.

    Returns:
      file name -> what it holds, for export_config.json.
    """
    from tensorflow.python.framework.convert_to_constants import (
        convert_variables_to_constants_v2)

    def frozen(mel_by_sum: bool):
        front_end = LogMelSpectrogram(dataclasses.asdict(features), mel_by_sum=mel_by_sum,
                                      name="log_mel")

        @tf.function(input_signature=[tf.TensorSpec([1, features.num_samples], tf.float32,
                                                    name="waveform")])
        def one_segment(waveform):
            return {"probabilities": to_probabilities(
                predictor(front_end(waveform), training=False), output)}

        return convert_variables_to_constants_v2(one_segment.get_concrete_function())

    written = {}
    for backend, quantised in (("tflite", False), ("tflite-int8", True)):
        name = ExportedPredictor.BACKENDS[backend]
        converter = tf.lite.TFLiteConverter.from_concrete_functions([frozen(quantised)])
        converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS]
        converter.optimizations = [tf.lite.Optimize.DEFAULT] if quantised else []
        try:
            converted = converter.convert()
        except Exception as e:  # the converter raises its own ConverterError and others
            raise AdmlcError(f"this predictor cannot be converted to TFLite builtins "
                             f"({str(e).splitlines()[0]}): export without tflite") from None
        write_bytes(folder / name, converted)  # a full disk is the caller's one line
        written[name] = ("dynamic-range quantised: int8 weights, float32 activations"
                         if quantised else "float32")
    return written


def export_predictor(predictor: keras.Model, *, base_dir: str | Path, name: str,
                     label_names: Sequence[str], metadata: dict,
                     features: Optional[FeatureConfig] = None, hop_seconds: float = 2.0,
                     pooling: str = "max", output: str = "logits",
                     assets: Optional[dict[str, str]] = None, front_end=None,
                     tflite: bool = False, splits: Optional[str] = None,
                     thresholds: Optional[dict] = None) -> Path:
    """Writes the predictor as the next version of `<base_dir>/<name>/`.

    Args:
      predictor: a Keras model `[batch, *input_shape] -> [batch, n_labels]` logits.
      base_dir: the folder TF Serving's `--model_base_path` points at, minus the name.
      name: the model name.
      label_names: the label order of the outputs, written to `assets/labels.txt`.
      metadata: JSON-serialisable facts inference needs (e.g. the training config), written
        to `assets/export_config.json` so the export stands alone.
      features: the log-mel parameters of an audio predictor: adds the waveform signature as
        `serving_default`. None for feature-vector predictors.
      hop_seconds: hop between the training-length segments of a long clip.
      pooling: "max" or "mean" over a clip's segments.
      output: what the predictor emits: "logits", or "scores" regressed onto {0, 1} (Deep-CPLST);
        the signatures return `probabilities` and the raw outputs under that name.
      assets: more files for `assets/`, name -> text.
      front_end: an input stage run before the predictor in `serving_default`, e.g.
        `admlc_tf.backbones.ImageFrontEnd` (encoded images -> backbone features).
      tflite: audio predictors: also write `model.tflite` and `model_int8.tflite` beside
        `saved_model.pb` (`write_tflite`; a few seconds per model).
      splits: the run's `splits.csv` text, for `evaluate.py`.
      thresholds: each label's decision threshold (`admlc_tf.thresholds.choose` or `fixed`).

    Returns:
      The new version folder.
    """
    if pooling not in ("max", "mean"):
        raise AdmlcError(f"pooling {pooling!r} is not known: use max or mean")
    model_dir = Path(base_dir) / name
    try:
        model_dir.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise AdmlcError(f"cannot create the export folder {model_dir} ({e.strerror}): pass "
                         "--export-dir a writable folder") from None
    version = next_version(model_dir)
    final = model_dir / str(version)
    tmp = temporary_path(final)  # swept at the next export if this process is killed
    input_shape = tuple(predictor.inputs[0].shape[1:])

    def outputs(raw):
        return {"probabilities": to_probabilities(raw, output), output: raw}

    archive = keras.export.ExportArchive()
    archive.track(predictor)
    feature_spec = tf.TensorSpec((None, *input_shape), tf.float32, name="features")
    def serve_features(x):
        return outputs(predictor(x, training=False))

    archive.add_endpoint(name="features", input_signature=[feature_spec], fn=serve_features)
    metadata = {**metadata, "input": "waveform" if features is not None else
                front_end.input_name if front_end is not None else "features"}
    if front_end is not None:
        archive.track(front_end.model)
        metadata.update(front_end.metadata())
        archive.add_endpoint(name="serving_default", input_signature=[front_end.input_spec],
                             fn=lambda x: outputs(predictor(front_end(x), training=False)))
    elif features is None:
        archive.add_endpoint(name="serving_default", input_signature=[feature_spec],
                             fn=serve_features)
    else:
        front_end = LogMelSpectrogram(dataclasses.asdict(features), name="log_mel")
        hop = int(round(hop_seconds * features.sample_rate))
        metadata = {**metadata, "features": dataclasses.asdict(features),
                    "serving": {"segment_samples": features.num_samples, "hop_samples": hop,
                                "pooling": pooling}}
        waveform_spec = tf.TensorSpec((None, None), tf.float32, name="waveform")
        archive.add_endpoint(
            name="serving_default", input_signature=[waveform_spec],
            fn=lambda w: outputs(_segment_and_tag(predictor, front_end, w,
                                                  segment=features.num_samples, hop=hop,
                                                  pooling=pooling)))
        archive.add_endpoint(
            name="segments", input_signature=[waveform_spec],
            fn=lambda w: _timeline(predictor, front_end, w, segment=features.num_samples,
                                   hop=hop, sample_rate=features.sample_rate, output=output))
    try:
        archive.write_out(str(tmp), verbose=False)
        if tflite and features is not None:
            metadata["tflite"] = write_tflite(predictor, features, tmp, output)
        asset_dir = tmp / ExportedPredictor.ASSETS
        ExportedPredictor.write_assets(asset_dir, label_names=label_names, metadata=metadata,
                                       splits=splits, thresholds=thresholds, extra=assets)
        # The Keras model as well, so `trainer.init_from` can fine-tune from this version.
        predictor.save(asset_dir / ExportedPredictor.KERAS)
        os.rename(tmp, final)  # fails rather than overwrite if another export took the version
    except (OSError, tf.errors.OpError) as e:
        raise write_error(f"the export {final} (the versions before it are kept)", e,
                          "pass --export-dir a writable folder") from None
    finally:
        remove_path(tmp)
    return final
