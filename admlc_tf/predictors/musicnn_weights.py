"""musicnn's published TF1 checkpoints onto the Keras port, variable by variable.

The `musicnn` 0.1.0 wheel keeps each model as a TF1 checkpoint with an empty file prefix:
`musicnn/MTT_musicnn/.index` and `.data-00000-of-00001` (its `checkpoint` file points at the
author's machine, so `tf.train.latest_checkpoint` cannot be used). Its variables are named by
`tf.compat.v1.layers` in creation order (`conv2d`, `conv2d_1`, ..., `batch_normalization_10`);
`LAYERS` pairs each scope with the Keras layer of `admlc_tf.predictors.musicnn` that it fills.
Adam's slots and the step counters are ignored. Every variable is read, checked for shape and
finiteness and assigned, or nothing is: a file of another network or a damaged one is refused
in one line naming it.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path
from typing import Optional

import keras
import numpy as np
import tensorflow as tf

from admlc_tf.errors import AdmlcError

INSTALL_HINT = ("pass --backbone-weights PATH (the MTT_musicnn or MSD_musicnn folder of the "
                "musicnn 0.1.0 wheel) or install it: pip install --no-deps musicnn==0.1.0")

# (checkpoint scope, Keras layer): the order in which `musicnn.models.build_musicnn` creates them.
LAYERS = (
    ("batch_normalization", "input_bn"),
    ("conv2d", "timbral_7x38"), ("batch_normalization_1", "timbral_7x38_bn"),
    ("conv2d_1", "timbral_7x67"), ("batch_normalization_2", "timbral_7x67_bn"),
    ("conv2d_2", "temporal_128"), ("batch_normalization_3", "temporal_128_bn"),
    ("conv2d_3", "temporal_64"), ("batch_normalization_4", "temporal_64_bn"),
    ("conv2d_4", "temporal_32"), ("batch_normalization_5", "temporal_32_bn"),
    ("conv2d_5", "midend_1"), ("batch_normalization_6", "midend_1_bn"),
    ("conv2d_6", "midend_2"), ("batch_normalization_7", "midend_2_bn"),
    ("conv2d_7", "midend_3"), ("batch_normalization_8", "midend_3_bn"),
    ("batch_normalization_9", "pool_bn"),
    ("dense", "penultimate_dense"), ("batch_normalization_10", "penultimate_bn"),
    ("dense_1", "tags"),
)
# Keras keeps a layer's weights in this order; the checkpoint names them.
SLOTS = {keras.layers.BatchNormalization: ("gamma", "beta", "moving_mean", "moving_variance"),
         keras.layers.Conv2D: ("kernel", "bias"), keras.layers.Conv1D: ("kernel", "bias"),
         keras.layers.Dense: ("kernel", "bias")}


def installed_checkpoint(model: str = "MTT_musicnn") -> Optional[Path]:
    """The checkpoint prefix of `model` in an installed `musicnn` package, or None.

    Found without importing the package: its modules import TensorFlow 1 code.
    """
    spec = importlib.util.find_spec("musicnn")
    if spec is None or not spec.submodule_search_locations:
        return None
    folder = Path(list(spec.submodule_search_locations)[0]) / model
    return folder if (folder / ".index").is_file() else None


def checkpoint_prefix(path: str | Path) -> str:
    """The prefix `tf.train` reads for a checkpoint folder, its `.index` file or a prefix."""
    path = Path(path).expanduser()
    if path.is_dir():
        if (path / ".index").is_file():  # the wheel's layout: an empty file prefix
            return str(path) + "/"
        indexes = sorted(path.glob("*.index"))
        if len(indexes) == 1:
            return str(indexes[0])[:-len(".index")]
        raise AdmlcError(f"backbone weights folder {path} holds {len(indexes)} TF checkpoints "
                         f"(.index files), not one: {INSTALL_HINT}")
    if path.suffix == ".index" and path.is_file():
        return str(path)[:-len(".index")]
    if Path(str(path) + ".index").is_file():
        return str(path)
    raise AdmlcError(f"backbone weights {path} is not a TF checkpoint (no such folder, .index "
                     f"file or prefix): {INSTALL_HINT}")


def read_checkpoint(path: str | Path) -> dict[str, np.ndarray]:
    """Every variable of a checkpoint, by name; refuses in one line a file TF cannot read."""
    prefix = checkpoint_prefix(path)
    try:
        # `tf.train.load_checkpoint`'s own reader: given the wheel's prefix ("folder/") it
        # would take it for a folder and follow its `checkpoint` file off this machine.
        reader = tf.compat.v1.train.NewCheckpointReader(prefix)
        return {name: reader.get_tensor(name) for name in reader.get_variable_to_shape_map()}
    except Exception as e:  # DataLossError, IndexError of a cut file, ...: all mean unreadable
        reason = str(e).strip().splitlines()[0][:200] if str(e).strip() else type(e).__name__
        raise AdmlcError(f"backbone weights {path} cannot be read as a TF checkpoint "
                         f"({type(e).__name__}: {reason}): the file is damaged or not a "
                         f"checkpoint; {INSTALL_HINT}") from None


def mapped_weights(model: keras.Model, variables: dict[str, np.ndarray],
                   source: str) -> dict[str, list[np.ndarray]]:
    """Keras layer -> its weights from the checkpoint, checked; raises naming what is wrong."""
    missing, wrong, damaged, out = [], [], [], {}
    for scope, layer_name in LAYERS:
        layer = model.get_layer(layer_name)
        values = []
        for slot, weight in zip(SLOTS[type(layer)], layer.weights):
            name = f"{scope}/{slot}"
            if name not in variables:
                missing.append(name)
                continue
            value = np.asarray(variables[name])
            want = tuple(weight.shape)
            if value.size == int(np.prod(want)) and isinstance(layer, keras.layers.Conv1D):
                value = value.reshape(want)  # TF1 ran the mid end as [7, features, 1, maps] 2-D
            if value.shape != want:
                wrong.append(f"{name} {list(value.shape)} where {layer_name} takes {list(want)}")
            elif not np.all(np.isfinite(value)):
                damaged.append(name)
            values.append(value.astype(np.float32))
        out[layer_name] = values
    if missing:
        others = sorted(n for n in variables if "/Adam" not in n and "power" not in n)[:3]
        raise AdmlcError(f"backbone weights {source} are not a musicnn checkpoint: "
                         f"{len(missing)} of its variables are missing ({', '.join(missing[:3])}"
                         f"{', ...' if len(missing) > 3 else ''}; it holds "
                         f"{', '.join(others) or 'nothing'}{', ...' if len(variables) > 3 else ''}"
                         f"): {INSTALL_HINT}")
    if wrong:
        raise AdmlcError(f"backbone weights {source} are a network of other sizes than this "
                         f"musicnn: {wrong[0]}{f' (and {len(wrong) - 1} more)' if len(wrong) > 1 else ''}"
                         f": {INSTALL_HINT}")
    if damaged:
        raise AdmlcError(f"backbone weights {source} are damaged: {', '.join(damaged[:3])} "
                         f"hold NaN or inf: {INSTALL_HINT}")
    return out


def load_checkpoint(model: keras.Model, path: str | Path) -> None:
    """Assigns every musicnn variable of the checkpoint at `path` to `model`, or none."""
    for layer_name, values in mapped_weights(model, read_checkpoint(path), str(path)).items():
        model.get_layer(layer_name).set_weights(values)


def resolve(weights: str, model: str = "MTT_musicnn") -> Path:
    """The checkpoint for `weights`: "mtt"/"msd" (the installed wheel's) or a path."""
    named = {"mtt": "MTT_musicnn", "msd": "MSD_musicnn"}
    if weights.lower() in named or weights in named.values():
        model = named.get(weights.lower(), weights)
        found = installed_checkpoint(model)
        if found is None:
            raise AdmlcError(f"the {model} weights are not installed (no musicnn package "
                             f"holding {model}/.index): {INSTALL_HINT}")
        return found
    return Path(weights).expanduser()
