"""Export the predictor alone as a versioned SavedModel for TensorFlow Serving.

Layout: `<base_dir>/<name>/<version>/` with integer versions 1, 2, ... (TF Serving loads the
highest). A version is written to a hidden temporary folder and renamed into place, so a server
polling the base path never sees half of one, and an existing version is never overwritten.

The `serving_default` signature takes `features` `[batch, frames, bands]` float32 log-mel
features (see `assets/export_config.json` for their parameters) and returns `probabilities` and
`logits`, both `[batch, n_labels]` in the order of `assets/labels.txt`. The critic, the optimizers
and every training-only op stay out of the graph; nothing from tensorflow-io is in it.
"""

from __future__ import annotations

import json
import os
import re
import shutil
from pathlib import Path
from typing import Sequence

import keras
import tensorflow as tf

from admlc_tf.errors import AdmlcError

_VERSION = re.compile(r"^\d+$")


def next_version(model_dir: str | Path) -> int:
    """1 + the highest integer version folder in `model_dir` (1 when there is none)."""
    model_dir = Path(model_dir)
    versions = [int(p.name) for p in model_dir.iterdir()
                if p.is_dir() and _VERSION.match(p.name)] if model_dir.is_dir() else []
    return max(versions, default=0) + 1


def export_predictor(predictor: keras.Model, *, base_dir: str | Path, name: str,
                     label_names: Sequence[str], metadata: dict) -> Path:
    """Writes the predictor as the next version of `<base_dir>/<name>/`.

    Args:
      predictor: a Keras model `[batch, *input_shape] -> [batch, n_labels]` logits.
      base_dir: the folder TF Serving's `--model_base_path` points at, minus the name.
      name: the model name.
      label_names: the label order of the outputs, written to `assets/labels.txt`.
      metadata: JSON-serialisable facts inference needs (feature parameters, config), written
        to `assets/export_config.json` so the export stands alone.

    Returns:
      The new version folder.
    """
    model_dir = Path(base_dir) / name
    try:
        model_dir.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise AdmlcError(f"cannot create the export folder {model_dir} ({e.strerror}): pass "
                         "--export-dir a writable folder") from None
    version = next_version(model_dir)
    tmp = model_dir / f".tmp-{version}-{os.getpid()}"
    input_shape = tuple(predictor.inputs[0].shape[1:])

    def serve(features):
        logits = predictor(features, training=False)
        return {"probabilities": tf.sigmoid(logits), "logits": logits}

    archive = keras.export.ExportArchive()
    archive.track(predictor)
    archive.add_endpoint(
        name="serving_default", fn=serve,
        input_signature=[tf.TensorSpec((None, *input_shape), tf.float32, name="features")])
    try:
        archive.write_out(str(tmp), verbose=False)
        assets = tmp / "assets"
        assets.mkdir(exist_ok=True)
        (assets / "labels.txt").write_text("".join(f"{n}\n" for n in label_names))
        (assets / "export_config.json").write_text(json.dumps(metadata, indent=2) + "\n")
        final = model_dir / str(version)
        os.rename(tmp, final)  # fails rather than overwrite if another export took the version
    except OSError as e:
        raise AdmlcError(f"cannot write the export {model_dir / str(version)} ({e}): pass "
                         "--export-dir a writable folder with free space") from None
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return final


class ExportedPredictor:
    """An exported version loaded for inference (the loaded object is kept alive with it).

    Args:
      path: `saved_models/<name>/<version>`.
    """

    def __init__(self, path: str | Path):
        path = Path(path)
        if not (path / "saved_model.pb").is_file():
            hint = ""
            if path.is_dir() and any(p.name.isdigit() for p in path.iterdir()):
                hint = f" (it holds versions: pass {path}/<version>)"
            raise AdmlcError(f"{path} is not an exported model version{hint}: pass "
                             "saved_models/<name>/<version>")
        self.path = path
        self._loaded = tf.saved_model.load(str(path))
        self.signature = self._loaded.signatures["serving_default"]
        self.label_names = (path / "assets" / "labels.txt").read_text().split()
        self.metadata = json.loads((path / "assets" / "export_config.json").read_text())

    def __call__(self, features) -> dict:
        """Runs `serving_default` on `[batch, ...]` features; returns its output dict."""
        return self.signature(features=tf.convert_to_tensor(features, tf.float32))
