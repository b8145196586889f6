"""Fine-tuning: start a predictor from the weights of an export version or a run folder.

Every layer is loaded by name. When the label set differs, the predictor's head layers (those
whose shape follows the labels, `PredictorSpec.head_layers`) keep their fresh weights; any other
difference (feature parameters, a layer's shape) is refused with one line naming it. The new
predictor keeps the source's input standardisation, so the loaded layers see inputs scaled as
they were trained.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import keras
import numpy as np
import tensorflow as tf

from admlc_tf.config import ExperimentConfig, FeatureConfig
from admlc_tf.errors import AdmlcError

RUN_FILE = "predictor.json"


@dataclasses.dataclass
class Source:
    """A trained predictor to start from.

    Attributes:
      model: the source predictor with its weights.
      label_names: its labels, in output order.
      feature_mean, feature_variance: its input standardisation (None when it has none).
      features: its feature parameters (None for feature-vector predictors).
    """

    model: keras.Model
    label_names: list[str]
    feature_mean: np.ndarray | None
    feature_variance: np.ndarray | None
    features: dict | None


def run_file(label_names, feature_mean, feature_variance) -> str:
    """The run folder's `predictor.json`: what rebuilding its predictor needs besides the
    config and the checkpoint."""
    return json.dumps({"labels": list(label_names),
                       "feature_mean": np.asarray(feature_mean).tolist(),
                       "feature_variance": np.asarray(feature_variance).tolist()}) + "\n"


def load_source(path: str | Path) -> Source:
    """Reads an export version (`saved_models/<name>/<version>`) or a run folder."""
    from admlc_tf.serving.exported import ExportedPredictor

    path = Path(path).expanduser()
    if (path / "saved_model.pb").is_file():
        export = ExportedPredictor(path)
        model = export.keras_model()
        if model is None:
            raise AdmlcError(f"trainer.init_from {path} has no {export.ASSETS}/{export.KERAS} "
                             "(exported by an older version): pass its run folder instead")
        return Source(model, export.label_names, *_standardization(model),
                      export.metadata.get("features"))
    if (path / "config.json").is_file() and (path / RUN_FILE).is_file():
        return _from_run_folder(path)
    raise AdmlcError(f"trainer.init_from {path} is neither an export version (with "
                     "saved_model.pb) nor a run folder (with config.json and predictor.json): "
                     "pass one of those")


def _standardization(model: keras.Model):
    for layer in model.layers:
        if isinstance(layer, keras.layers.Normalization) and layer.input_mean is not None:
            return np.asarray(layer.input_mean), np.asarray(layer.input_variance)
    return None, None


def _from_run_folder(path: Path) -> Source:
    from admlc_tf.predictors import registry

    config = ExperimentConfig.load(path / "config.json")
    saved = json.loads((path / RUN_FILE).read_text())
    latest = tf.train.latest_checkpoint(str(path / "checkpoints"))
    if not latest:
        raise AdmlcError(f"trainer.init_from {path} has no checkpoint yet: pass a run folder "
                         "that has trained, or an export")
    mean, variance = (np.asarray(saved[k], np.float32) for k in ("feature_mean",
                                                                 "feature_variance"))
    shape = ((config.features.num_frames, config.features.n_mels) if config.task == "audio"
             else (len(mean),))
    inputs = registry.PredictorInputs(shape, len(saved["labels"]), mean, variance)
    spec = registry.build(config.model_name, config, inputs)
    tf.train.Checkpoint(predictor=spec.predictor).restore(latest).expect_partial()
    features = dataclasses.asdict(config.features) if config.task == "audio" else None
    return Source(spec.predictor, saved["labels"], mean, variance, features)


def check_features(source: Source, features: FeatureConfig | None) -> None:
    """Refuses a source whose feature parameters differ, naming the first that does."""
    if source.features is None or features is None:
        return
    defaults = FeatureConfig()  # a source written before a field was added had its default
    for name, value in dataclasses.asdict(features).items():
        if source.features.get(name, getattr(defaults, name)) != value:
            raise AdmlcError(f"trainer.init_from was trained with features.{name} "
                             f"{source.features.get(name)!r}, this run uses {value!r}: use the "
                             "source's feature parameters")


def load_weights(model: keras.Model, source: Source, *, head_layers, same_labels: bool) -> None:
    """Copies the source's weights into `model` layer by layer (by name)."""
    head = set(head_layers) or {model.layers[-1].name}
    by_name = {layer.name: layer for layer in source.model.layers}
    for layer in model.layers:
        if not layer.weights or (layer.name in head and not same_labels):
            continue
        twin = by_name.get(layer.name)
        if twin is None:
            raise AdmlcError(f"trainer.init_from has no layer {layer.name}: start from a "
                             "predictor of the same model and sizes")
        weights = twin.get_weights()
        shapes = [w.shape for w in weights], [tuple(w.shape) for w in layer.weights]
        if [tuple(s) for s in shapes[0]] != shapes[1]:
            raise AdmlcError(f"layer {layer.name} has weights {shapes[0]} in trainer.init_from "
                             f"but {shapes[1]} here: use the source's predictor sizes")
        layer.set_weights(weights)
