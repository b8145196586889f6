"""Image backbones from `keras.applications`, by id, and the image front end of an export.

An `Extractor` maps `[batch, size, size, 3]` float32 RGB in [0, 255] to `[batch, dims]`
features: the backbone's own `preprocess_input`, then the network cut at its feature layer.

    vgg16              the paper's features: VGG-16's last hidden layer fc2 (4,096-d, after
                       ReLU); caffe preprocessing (BGR, ImageNet mean); imagenet weights need
                       224 x 224 inputs, as the fully connected layers were trained on them.
    efficientnetv2-b0  global-average-pooled last convolution (1,280-d); its rescaling is a
                       layer of the network.
    mobilenetv3small   global-average-pooled last convolution (576-d); likewise.

Weights: "imagenet" is Keras' own download, cached in `~/.keras/models`; a path is a weights file
for that network (`.weights.h5` or Keras' `.h5`); "random" is a seeded initialisation (no
download), which shows that the pipeline runs but not what pretrained features can do.
`weights_hash` fingerprints the weights, so a feature cache is never reused for other weights.

`decode_images` is the exported graph's decoder: core ops only (`tf.io.decode_image` with
`expand_animations=False`, so a GIF gives its first frame, then `tf.image.resize`); the host
path (`admlc_tf.data.images.read_image`, Pillow) feeds the same `resize_image`.
"""

from __future__ import annotations

import dataclasses
import hashlib
import warnings
from pathlib import Path
from typing import Callable

import keras
import numpy as np
import tensorflow as tf

from admlc_tf.errors import AdmlcError

WEIGHT_CHOICES = "imagenet, a path to a weights file, or random"
RANDOM_SEED = 1234  # fixed: the same random backbone in the cache, the export and a resume


@dataclasses.dataclass(frozen=True)
class Backbone:
    """One `keras.applications` network.

    Attributes:
      build: `(weights, size) -> keras.Model` with the feature layer as output.
      preprocess: the network's `preprocess_input`.
      dims: the feature size.
      default_size: the input size its ImageNet weights were trained at.
      fixed_size: whether imagenet weights only fit `default_size` (fully connected layers).
      summary: one line for --help and messages.
    """

    build: Callable[[object, int], keras.Model]
    preprocess: Callable
    dims: int
    default_size: int
    fixed_size: bool
    summary: str


def _vgg16(weights, size):
    net = keras.applications.VGG16(include_top=True, weights=weights,
                                   input_shape=(size, size, 3))
    return keras.Model(net.inputs, net.get_layer("fc2").output, name="vgg16_fc2")


def _efficientnetv2_b0(weights, size):
    return keras.applications.EfficientNetV2B0(include_top=False, weights=weights,
                                               input_shape=(size, size, 3), pooling="avg")


def _mobilenetv3small(weights, size):
    return keras.applications.MobileNetV3Small(include_top=False, weights=weights,
                                               input_shape=(size, size, 3), pooling="avg")


BACKBONES = {
    "vgg16": Backbone(_vgg16, keras.applications.vgg16.preprocess_input, 4096, 224, True,
                      "VGG-16 fc2, 4,096-d (the paper's features)"),
    "efficientnetv2-b0": Backbone(_efficientnetv2_b0,
                                  keras.applications.efficientnet_v2.preprocess_input, 1280, 224,
                                  False, "EfficientNetV2-B0, pooled, 1,280-d"),
    "mobilenetv3small": Backbone(_mobilenetv3small,
                                 keras.applications.mobilenet_v3.preprocess_input, 576, 224,
                                 False, "MobileNetV3-Small, pooled, 576-d"),
}


def check(name: str, weights: str, image_size: int) -> None:
    """Refuses an unknown backbone, weights that cannot be read, or a size they cannot take."""
    if name not in BACKBONES:
        raise AdmlcError(f"images.backbone {name} is not known: use one of "
                         f"{', '.join(BACKBONES)}")
    if weights not in ("imagenet", "random") and not Path(weights).expanduser().is_file():
        raise AdmlcError(f"images.backbone_weights {weights} is neither imagenet, random nor an "
                         f"existing file: pass {WEIGHT_CHOICES}")
    size = image_size or BACKBONES[name].default_size
    if size < 32:
        raise AdmlcError(f"images.image_size {size} is below 32, the smallest input the "
                         "keras.applications networks take: pass 32 or more")
    backbone = BACKBONES[name]
    if backbone.fixed_size and weights != "random" and size != backbone.default_size:
        raise AdmlcError(f"{name} with {weights} weights takes {backbone.default_size} x "
                         f"{backbone.default_size} images (its fully connected layers), not "
                         f"{size}: pass images.image_size {backbone.default_size} (or 0)")


class Extractor:
    """A backbone with its preprocessing: `[batch, size, size, 3]` RGB 0..255 -> features.

    Args:
      name: a `BACKBONES` id.
      weights: "imagenet", a weights file path, or "random".
      image_size: the square input size; 0: the backbone's default.
    """

    def __init__(self, name: str, weights: str, image_size: int = 0):
        check(name, weights, image_size)
        self.name, self.weights = name, weights
        self.backbone = BACKBONES[name]
        self.image_size = int(image_size or self.backbone.default_size)
        self.model = _build(self.backbone, name, weights, self.image_size)
        self.dims = int(self.model.outputs[0].shape[-1])

    def __call__(self, images):
        """`[batch, size, size, 3]` float32 RGB in [0, 255] -> `[batch, dims]` float32."""
        x = self.backbone.preprocess(tf.cast(images, tf.float32))
        return tf.cast(self.model(x, training=False), tf.float32)

    def weights_hash(self) -> str:
        return weights_digest(self.name, self.model)

    def metadata(self) -> dict:
        return {"backbone": self.name, "backbone_weights": self.weights,
                "image_size": self.image_size, "feature_dims": self.dims}


def weights_digest(name: str, model: keras.Model) -> str:
    """A digest of a backbone's name and every weight, in order: equal exactly when its outputs
    would be (the key of the caches of features computed by it)."""
    digest = hashlib.sha256(name.encode())
    for weight in model.weights:
        digest.update(np.ascontiguousarray(keras.ops.convert_to_numpy(weight)).tobytes())
    return digest.hexdigest()[:20]


def _build(backbone: Backbone, name: str, weights: str, size: int) -> keras.Model:
    if weights == "random":
        keras.utils.set_random_seed(RANDOM_SEED)
        return backbone.build(None, size)
    if weights == "imagenet":
        try:
            return backbone.build("imagenet", size)
        except Exception as e:  # URLError, HTTPError, a truncated download's OSError, ...
            raise AdmlcError(f"the imagenet weights of {name} could not be downloaded or read "
                             f"({type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''}): "
                             f"check the network, or pass images.backbone_weights a weights file "
                             f"or random") from None
    path = str(Path(weights).expanduser())
    try:
        with warnings.catch_warnings():
            # A file of another network warns once per layer before the error below.
            warnings.simplefilter("ignore")
            return backbone.build(path, size)
    except Exception as e:  # wrong file, wrong network, wrong shapes
        raise AdmlcError(f"images.backbone_weights {path} cannot be loaded into {name} "
                         f"({type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''}): pass "
                         f"a weights file of that network, imagenet or random") from None


# --- decoding in the graph -------------------------------------------------------------------

def resize_image(image, size: int):
    """`[height, width, 3]` (any real dtype, 0..255) -> `[size, size, 3]` float32, bilinear."""
    return tf.image.resize(tf.cast(image, tf.float32), (size, size), method="bilinear",
                           antialias=False)


def decode_images(image_bytes, size: int):
    """`[batch]` encoded JPEG/PNG/BMP/GIF strings -> `[batch, size, size, 3]` float32 0..255.

    Core ops only; grayscale and palette images come out RGB, alpha is dropped, a GIF gives its
    first frame, 16-bit PNGs are scaled to 8 bits.
    """
    def one(data):
        image = tf.io.decode_image(data, channels=3, dtype=tf.uint8, expand_animations=False)
        image = tf.ensure_shape(image, (None, None, 3))
        return resize_image(image, size)

    return tf.map_fn(one, image_bytes, fn_output_signature=tf.TensorSpec((size, size, 3),
                                                                         tf.float32))


class ImageFrontEnd:
    """The export's image input: `[batch]` encoded images -> backbone features, in the graph.

    What `admlc_tf.serving.export.export_predictor(front_end=...)` needs: the input's name and spec,
    the call, the Keras model to track, and the facts for `assets/export_config.json`.
    """

    input_name = "image_bytes"

    def __init__(self, extractor: Extractor):
        self.extractor = extractor
        self.model = extractor.model
        self.input_spec = tf.TensorSpec((None,), tf.string, name=self.input_name)

    def __call__(self, image_bytes):
        return self.extractor(decode_images(image_bytes, self.extractor.image_size))

    def metadata(self) -> dict:
        return {"image": self.extractor.metadata()}
