"""The one registry of predictors: name -> builder of a `PredictorSpec`, for both families.

`ExperimentConfig.model` names an entry; the task's recipe hands the builder what it knows of
the data (`PredictorInputs`). A new predictor is a module with a builder and one line here.
"""

from __future__ import annotations

import dataclasses
import math
from typing import TYPE_CHECKING, Callable, Optional

import numpy as np

from admlc_tf.errors import AdmlcError
from admlc_tf.losses import get_supervised_loss
from admlc_tf.predictors.spec import PredictorSpec

if TYPE_CHECKING:
    from admlc_tf.config import ExperimentConfig

AUDIO, VECTORS = "audio", "features"


@dataclasses.dataclass
class PredictorInputs:
    """What a builder may know of the training data.

    Attributes:
      input_shape: one example's shape: `(frames, bands)` log-mel or `(dims,)` vectors.
      num_labels: L, the width of the output.
      feature_mean: `[bands]` or `[dims]` training mean (standardisation inside the model).
      feature_variance: the matching variance.
      features: `[n, dims]` the training matrix, for builders fitted on it (Deep-CPLST).
      labels: `[n, L]` the training labels, likewise.
    """

    input_shape: tuple
    num_labels: int
    feature_mean: Optional[np.ndarray] = None
    feature_variance: Optional[np.ndarray] = None
    features: Optional[np.ndarray] = None
    labels: Optional[np.ndarray] = None

    @classmethod
    def from_arrays(cls, features: np.ndarray, labels: np.ndarray) -> "PredictorInputs":
        """From a training matrix `[n, dims]` and its labels `[n, L]`."""
        return cls((features.shape[1],), labels.shape[1], features.mean(0),
                   features.var(0) + 1e-6, features, labels)

    @property
    def statistics(self) -> dict:
        return dict(feature_mean=self.feature_mean, feature_variance=self.feature_variance)


@dataclasses.dataclass(frozen=True)
class Entry:
    family: str
    build: Callable[["ExperimentConfig", PredictorInputs], PredictorSpec]
    summary: str


def _cgrnn(config, inputs):
    from admlc_tf.predictors.cgrnn import HEAD_LAYERS, build_cgrnn

    model = build_cgrnn(*inputs.input_shape, inputs.num_labels, config=config.predictor,
                        name="predictor", **inputs.statistics)
    return PredictorSpec(model, get_supervised_loss(config.loss.supervised),
                         head_layers=HEAD_LAYERS)


def _crnn_attention(config, inputs):
    from admlc_tf.predictors.crnn_attention import HEAD_LAYERS, build_crnn_attention

    model = build_crnn_attention(*inputs.input_shape, inputs.num_labels,
                                 config=config.predictor, name="predictor", **inputs.statistics)
    return PredictorSpec(model, get_supervised_loss(config.loss.supervised),
                         head_layers=HEAD_LAYERS)


def _musicnn(config, inputs):
    from admlc_tf.predictors.musicnn_transfer import (FROZEN_LAYERS, HEAD_LAYERS,
                                                      build_musicnn_tagger)

    model = build_musicnn_tagger(inputs.input_shape[0], inputs.num_labels,
                                 weights=config.predictor.backbone_weights,
                                 tune_top=config.trainer.freeze_epochs > 0)
    return PredictorSpec(model, get_supervised_loss(config.loss.supervised),
                         head_layers=HEAD_LAYERS, frozen_layers=FROZEN_LAYERS)


def _yamnet(config, inputs):
    from admlc_tf.predictors.yamnet_transfer import (FROZEN_LAYERS, HEAD_LAYERS,
                                                     build_yamnet_tagger)

    model = build_yamnet_tagger(inputs.input_shape[0], inputs.num_labels,
                                weights=config.predictor.backbone_weights,
                                tune_top=config.trainer.freeze_epochs > 0)
    return PredictorSpec(model, get_supervised_loss(config.loss.supervised),
                         head_layers=HEAD_LAYERS, frozen_layers=FROZEN_LAYERS)


def _warp(config, inputs):
    from admlc_tf.predictors import vector

    v = config.vectors
    return vector.build_mlp(inputs.input_shape[0], inputs.num_labels, hidden_units=v.hidden_units,
                            dropout=v.dropout, loss="warp", name="warp", **inputs.statistics)


def _bpmll(config, inputs):
    from admlc_tf.predictors import vector

    v = config.vectors
    return vector.build_bpmll(inputs.input_shape[0], inputs.num_labels,
                              hidden_fraction=v.bpmll_hidden_fraction, loss=v.bpmll_loss,
                              **inputs.statistics)


def _deep_cplst(config, inputs):
    from admlc_tf.predictors import vector

    v = config.vectors
    dims = v.cplst_dims or math.ceil(0.8 * inputs.num_labels)
    projection, label_mean = vector.cplst_projection(inputs.features, inputs.labels, dims=dims)
    return vector.build_deep_cplst(inputs.input_shape[0], inputs.num_labels,
                                   projection=projection, label_mean=label_mean,
                                   hidden_units=v.hidden_units, dropout=v.dropout,
                                   **inputs.statistics)


def _c2ae(config, inputs):
    from admlc_tf.predictors import vector

    v = config.vectors
    return vector.build_c2ae(inputs.input_shape[0], inputs.num_labels,
                             hidden_units=v.hidden_units,
                             latent_dims=v.c2ae_latent or math.ceil(0.8 * inputs.num_labels),
                             alpha=v.c2ae_alpha, lagrange=v.c2ae_lagrange, **inputs.statistics)


PREDICTORS = {
    "cgrnn": Entry(AUDIO, _cgrnn, "convolutional gated recurrent network (Xu et al. 2017)"),
    "crnn-attention": Entry(AUDIO, _crnn_attention,
                            "attention-pooling CRNN (Xu et al., Interspeech 2017)"),
    "musicnn": Entry(AUDIO, _musicnn, "pretrained musicnn (Pons & Serra 2019), frozen, with a "
                     "linear head on its 200-d embedding"),
    "yamnet": Entry(AUDIO, _yamnet, "pretrained YAMNet (Plakal & Ellis, AudioSet), frozen, with "
                    "a linear head on its 1024-d embedding"),
    "deep-cplst": Entry(VECTORS, _deep_cplst, "deep CPLST regressor (Chen & Lin 2012)"),
    "warp": Entry(VECTORS, _warp, "MLP with the WARP ranking loss"),
    "bpmll": Entry(VECTORS, _bpmll, "BP-MLL (Zhang & Zhou 2006)"),
    "c2ae": Entry(VECTORS, _c2ae, "canonical-correlated autoencoder (Yeh et al. 2017)"),
}


def names(family: str) -> list[str]:
    """The registered predictors of one family ("audio" or "features")."""
    return [name for name, entry in PREDICTORS.items() if entry.family == family]


def check(name: str, family: str) -> None:
    """Refuses a name that is not a predictor of `family`, naming the choices."""
    if name not in PREDICTORS or PREDICTORS[name].family != family:
        raise AdmlcError(f"model {name} is not a {family} predictor: use one of "
                         f"{', '.join(names(family))}")


def build(name: str, config: "ExperimentConfig", inputs: PredictorInputs) -> PredictorSpec:
    """A fresh predictor `name` for data described by `inputs`."""
    family = AUDIO if len(inputs.input_shape) == 2 else VECTORS
    check(name, family)
    return PREDICTORS[name].build(config, inputs)
