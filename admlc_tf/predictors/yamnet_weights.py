"""YAMNet's published `yamnet.h5` onto the Keras port, layer by layer and name by name.

The published file is a legacy Keras HDF5 weights file (`model.save_weights` of the reference's
TF2 Keras model): the root lists `layer_names`; each layer is a group named as the layer
(`layer2/depthwise_conv/bn`, nested by h5py at its '/'), listing its `weight_names`
(`layer2/depthwise_conv/bn/moving_mean:0`, ...), each a dataset under the group. Each of the
port's 55 layers with weights (`yamnet.published_layers`) is read from its group, checked for
shape and finiteness, and only then is anything assigned: a file of another network or a
damaged one is refused in one line naming it.

The default weights ("audioset") are the published file, fetched once by `keras.utils.get_file`
into Keras' own cache (`~/.keras/models/yamnet.h5`); nothing here fetches it in a test.
"""

from __future__ import annotations

from pathlib import Path

import keras
import numpy as np

from admlc_tf.errors import AdmlcError
from admlc_tf.predictors import yamnet

URL = "https://storage.googleapis.com/audioset/yamnet.h5"
FILE_NAME = "yamnet.h5"
INSTALL_HINT = (f"pass --backbone-weights PATH (the published yamnet.h5, from {URL}) or "
                "--backbone-weights random")

# Keras keeps a layer's weights in this order; the file names them.
SLOTS = {keras.layers.BatchNormalization: ("beta", "moving_mean", "moving_variance"),
         keras.layers.DepthwiseConv2D: ("depthwise_kernel",),
         keras.layers.Conv2D: ("kernel",),
         keras.layers.Dense: ("kernel", "bias")}


def _strings(group, name: str) -> list[str]:
    """A string-list attribute of a legacy Keras HDF5 group, chunked (`name0`, `name1`, ...)
    as Keras writes long lists, or absent (then empty)."""
    if name in group.attrs:
        values = list(group.attrs[name])
    else:
        values, chunk = [], 0
        while f"{name}{chunk}" in group.attrs:
            values += list(group.attrs[f"{name}{chunk}"])
            chunk += 1
    return [v.decode("utf8") if isinstance(v, bytes) else str(v) for v in values]


def read_weights(path: str | Path) -> dict[str, dict[str, np.ndarray]]:
    """Every layer of a legacy Keras HDF5 weights file: layer name -> weight slot -> value.

    The slot is a weight's last name part without `:0` (`moving_mean`). A whole saved model
    (`model_weights` group) is read too, and a file without the name lists (`layer_names`,
    `weight_names`) by the published layer names and their `<layer>/<layer>/<slot>:0`
    datasets. Refuses in one line a file h5py cannot read.
    """
    import h5py

    path = Path(path).expanduser()
    if not path.is_file():
        raise AdmlcError(f"backbone weights {path} is not a file: {INSTALL_HINT}")
    try:
        with h5py.File(path, "r") as f:
            root = f["model_weights"] if "model_weights" in f else f
            listed = _strings(root, "layer_names")
            layers = {}
            for layer in listed or yamnet.published_layers():
                if layer not in root:
                    continue
                group, values = root[layer], {}
                for weight in _strings(group, "weight_names"):
                    slot = weight.rsplit("/", 1)[-1].split(":")[0]
                    values[slot] = np.asarray(group[weight])
                own = group.get(layer)  # without the name lists: `<layer>/<layer>/<slot>:0`
                if not values and isinstance(own, h5py.Group):
                    values = {key.split(":")[0]: np.asarray(item) for key, item in own.items()
                              if isinstance(item, h5py.Dataset)}
                layers[layer] = values
            return layers
    except (OSError, KeyError, ValueError, TypeError) as e:  # not HDF5, cut, garbled
        reason = str(e).strip().splitlines()[0][:200] if str(e).strip() else type(e).__name__
        raise AdmlcError(f"backbone weights {path} cannot be read as a Keras HDF5 weights file "
                         f"({type(e).__name__}: {reason}): the file is damaged or not a "
                         f"weights file; {INSTALL_HINT}") from None


def mapped_weights(model: keras.Model, layers: dict[str, dict[str, np.ndarray]],
                   source: str) -> dict[str, list[np.ndarray]]:
    """Keras layer -> its weights from the file, checked; raises naming what is wrong."""
    missing, wrong, damaged, out = [], [], [], {}
    for published in yamnet.published_layers():
        layer = model.get_layer(yamnet.keras_name(published))
        slots = SLOTS[type(layer)]
        found = layers.get(published, {})
        values = []
        for slot, weight in zip(slots, layer.weights):
            name = f"{published}/{slot}"
            if slot not in found:
                missing.append(name)
                continue
            value, want = found[slot], tuple(weight.shape)
            if value.shape != want:
                wrong.append(f"{name} {list(value.shape)} where "
                             f"{yamnet.keras_name(published)} takes {list(want)}")
            elif not np.all(np.isfinite(value)):
                damaged.append(name)
            values.append(value.astype(np.float32))
        out[layer.name] = values
    if missing:
        held = [name for name, v in layers.items() if v][:3]
        raise AdmlcError(f"backbone weights {source} are not YAMNet weights: {len(missing)} of "
                         f"its weights are missing ({', '.join(missing[:3])}"
                         f"{', ...' if len(missing) > 3 else ''}; it holds layers "
                         f"{', '.join(held) or 'none'}{', ...' if len(layers) > 3 else ''}): "
                         f"{INSTALL_HINT}")
    if wrong:
        more = f" (and {len(wrong) - 1} more)" if len(wrong) > 1 else ""
        raise AdmlcError(f"backbone weights {source} are a network of other sizes than YAMNet: "
                         f"{wrong[0]}{more}: {INSTALL_HINT}")
    if damaged:
        raise AdmlcError(f"backbone weights {source} are damaged: {', '.join(damaged[:3])} "
                         f"hold NaN or inf: {INSTALL_HINT}")
    return out


def load_weights(model: keras.Model, path: str | Path) -> None:
    """Assigns every YAMNet weight of the file at `path` to `model`, or none."""
    for layer_name, values in mapped_weights(model, read_weights(path), str(path)).items():
        model.get_layer(layer_name).set_weights(values)


def fetch_default() -> Path:
    """The published yamnet.h5 in Keras' cache, fetched on first use; one line without it."""
    try:
        return Path(keras.utils.get_file(FILE_NAME, URL, cache_subdir="models"))
    except Exception as e:  # URLError, HTTPError, a cut download's OSError, ...
        reason = str(e).strip().splitlines()[0][:200] if str(e).strip() else type(e).__name__
        raise AdmlcError(f"the YAMNet audioset weights could not be downloaded from {URL} "
                         f"({type(e).__name__}: {reason}): {INSTALL_HINT}") from None


def resolve(weights: str) -> Path:
    """The weights file for `weights`: "audioset" (the published file, cached) or a path."""
    if weights.lower() == "audioset":
        return fetch_default()
    return Path(weights).expanduser()
