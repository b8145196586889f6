"""An exported version as its readers see it: the one owner of the asset names and the one
reader of every asset (labels, config, splits, thresholds, the Keras model, the TFLite files).

Layout of `saved_models/<name>/<version>/` (written by `admlc_tf.serving.export`):

    saved_model.pb, variables/     the signatures (`features`, `serving_default`, `segments`)
    model.tflite, model_int8.tflite  audio exports with tflite
    assets/labels.txt              one label a line, the outputs' order
    assets/export_config.json      what `serving_default` takes (`input`) and how
    assets/splits.csv              the run's split assignment, when it had one
    assets/thresholds.json         each label's decision threshold (`admlc_tf.thresholds`)
    assets/predictor.keras         the Keras model, for fine-tuning (`admlc_tf.finetune`)

The SavedModel itself is loaded on first use of a signature, so reading the assets (fine-tuning,
`evaluate.py`'s splits) costs no graph loading.
"""

from __future__ import annotations

import dataclasses
import functools
import json
import zipfile
from pathlib import Path
from typing import Optional, Sequence

import numpy as np

from admlc_tf import thresholds as thresholds_lib
from admlc_tf.errors import AdmlcError, first_line
from admlc_tf.files import write_bytes


def _same_kind(value, default) -> bool:
    if isinstance(default, bool):
        return isinstance(value, bool)
    if isinstance(default, (int, float)):
        return isinstance(value, (int, float)) and not isinstance(value, bool) and (
            isinstance(value, int) or isinstance(default, float))
    return isinstance(value, type(default)) if isinstance(default, (str, tuple)) else True


def _mistyped(config, default, prefix: str = "") -> Optional[str]:
    """The first field of a loaded config whose value is not of its default's type (a run's
    config never has one; a damaged export's may, and would fail deep inside data preparation)."""
    for field in dataclasses.fields(default):
        value, expected = getattr(config, field.name), getattr(default, field.name)
        if dataclasses.is_dataclass(expected):
            wrong = _mistyped(value, expected, f"{prefix}{field.name}.")
            if wrong:
                return wrong
        elif expected is not None and not _same_kind(value, expected):
            return f"{prefix}{field.name}"
    return None


class ExportedPredictor:
    """An exported version loaded for inference (the loaded object is kept alive with it).

    Args:
      path: `saved_models/<name>/<version>`.
    """

    ASSETS = "assets"
    LABELS = "labels.txt"
    CONFIG = "export_config.json"
    SPLITS = "splits.csv"
    THRESHOLDS = "thresholds.json"
    KERAS = "predictor.keras"
    # predict.py's --backend -> the file it runs (None: the SavedModel)
    BACKENDS = {"savedmodel": None, "tflite": "model.tflite", "tflite-int8": "model_int8.tflite"}

    def __init__(self, path: str | Path):
        path = Path(path)
        if not (path / "saved_model.pb").is_file():
            hint = ""
            if path.is_dir() and any(p.name.isdigit() for p in path.iterdir()):
                hint = f" (it holds versions: pass {path}/<version>)"
            raise AdmlcError(f"{path} is not an exported model version{hint}: pass "
                             "saved_models/<name>/<version>")
        self.path = path
        self.assets = path / self.ASSETS
        self.label_names = self._labels()
        self.metadata = self._config()

    def _damaged(self, name: str, why: str) -> AdmlcError:
        return AdmlcError(f"{self.assets / name} is damaged ({why}): re-export the model, or "
                          f"copy {self.path} again from where it was made")

    def _asset_text(self, name: str) -> str:
        path = self.assets / name
        try:
            return path.read_bytes().decode("utf-8-sig")  # (a BOM from a hand edit is fine)
        except FileNotFoundError:
            raise self._damaged(name, "it is missing") from None
        except UnicodeDecodeError:
            raise self._damaged(name, "it is not UTF-8 text") from None
        except OSError as e:
            raise AdmlcError(f"{path} cannot be read ({e.strerror}): check its "
                             "permissions") from None

    def _labels(self) -> list[str]:
        names = self._asset_text(self.LABELS).splitlines()
        if not names or any(not n.strip() or not n.isprintable() for n in names):
            raise self._damaged(self.LABELS, "it should hold one printable label a line")
        if len(set(names)) != len(names):
            raise self._damaged(self.LABELS, "a label is listed twice")
        return names

    def _config(self) -> dict:
        try:
            metadata = json.loads(self._asset_text(self.CONFIG))
        except ValueError as e:
            raise self._damaged(self.CONFIG, f"not JSON: {e}") from None
        if not isinstance(metadata, dict):
            raise self._damaged(self.CONFIG, "not a JSON object")
        serving = metadata.get("serving")
        if "serving" in metadata and not (
                isinstance(serving, dict) and isinstance(metadata.get("features"), dict)
                and {"segment_samples", "hop_samples", "pooling"} <= set(serving)
                and "sample_rate" in metadata["features"]):
            raise self._damaged(self.CONFIG, "its serving or features settings are incomplete")
        return metadata

    @staticmethod
    def write_assets(asset_dir: Path, *, label_names: Sequence[str], metadata: dict,
                     splits: Optional[str] = None, thresholds: Optional[dict] = None,
                     extra: Optional[dict[str, str]] = None) -> None:
        """Writes the assets of a version being exported (into its temporary folder).

        Args:
          splits: the `splits.csv` text (`admlc_tf.data.layouts.collection.splits_text`).
          thresholds: the `thresholds.json` content (`admlc_tf.thresholds.choose` or `fixed`).
          extra: more files, name -> text.
        """
        asset_dir.mkdir(exist_ok=True)
        files = {ExportedPredictor.LABELS: "".join(f"{n}\n" for n in label_names),
                 ExportedPredictor.CONFIG: json.dumps(metadata, indent=2) + "\n",
                 **(extra or {})}
        if splits is not None:
            files[ExportedPredictor.SPLITS] = splits
        if thresholds is not None:
            files[ExportedPredictor.THRESHOLDS] = thresholds_lib.to_text(thresholds)
        for name, text in files.items():
            write_bytes(asset_dir / name, text.encode("utf-8"))

    # --- what the export takes -------------------------------------------------------------

    @property
    def input(self) -> str:
        """What `serving_default` takes: "waveform", "image_bytes" or "features"."""
        return self.metadata.get("input", "features")

    def waveform_settings(self) -> dict:
        """An audio export's `sample_rate`, `segment_samples`, `hop_samples` and `pooling`,
        checked: a hand-edited or damaged export_config.json is one line, not a TypeError
        (benchmarks/fuzz.py) or a batch of 10^12 samples."""
        features, serving = self.metadata.get("features"), self.metadata.get("serving")
        if not isinstance(features, dict) or not isinstance(serving, dict):
            raise self._damaged(self.CONFIG, "its features or serving section is not an object")
        settings = {"sample_rate": features.get("sample_rate"), "pooling": serving.get("pooling"),
                    **{k: serving.get(k) for k in ("segment_samples", "hop_samples")}}
        rate = settings["sample_rate"]
        counts = [settings[k] for k in ("sample_rate", "segment_samples", "hop_samples")]
        if (not all(isinstance(v, int) and not isinstance(v, bool) and v > 0 for v in counts)
                or settings["segment_samples"] > 600 * rate or settings["pooling"] not in
                ("max", "mean")):
            raise self._damaged(self.CONFIG, f"its waveform settings {settings} are not a rate, "
                                "a segment of at most 10 minutes, a hop and max or mean pooling")
        return settings

    def run_config(self):
        """The training run's `ExperimentConfig` (`config`) with the export's own front end as
        its features (an embeddings-task export's config holds no audio features), checked:
        every field of its type, the features a `FeatureConfig`."""
        from admlc_tf.config import ExperimentConfig, FeatureConfig

        self.waveform_settings()
        try:
            config = ExperimentConfig.from_dict(self.metadata["config"])
            config.features = FeatureConfig(**self.metadata["features"])
        except (KeyError, TypeError, ValueError, AttributeError) as e:
            raise self._damaged(self.CONFIG, f"its run config cannot be read "
                                f"({type(e).__name__}: {first_line(e)[:120]})") from None
        wrong = _mistyped(config, ExperimentConfig())
        if wrong:
            raise self._damaged(self.CONFIG, f"its run config's {wrong} is not of its type")
        return config

    @property
    def splits_file(self) -> Optional[Path]:
        """The run's `splits.csv`, or None when the export has none."""
        path = self.assets / self.SPLITS
        return path if path.is_file() else None

    def backend_file(self, backend: str) -> Optional[Path]:
        """The file a --backend runs (None: the SavedModel)."""
        if backend not in self.BACKENDS:
            raise AdmlcError(f"backend {backend} is not known: use {', '.join(self.BACKENDS)}")
        name = self.BACKENDS[backend]
        return None if name is None else self.path / name

    def keras_model(self):
        """The exported Keras predictor (for fine-tuning), or None in exports older than it."""
        path = self.assets / self.KERAS
        if not path.is_file():
            return None
        import keras

        # The custom layers register themselves with Keras when their modules are imported.
        from admlc_tf.predictors import (cgrnn, crnn_attention, musicnn,  # noqa: F401
                                         yamnet, yamnet_transfer)

        try:
            return keras.models.load_model(path, compile=False)
        except (OSError, ValueError, KeyError, TypeError, zipfile.BadZipFile) as e:
            raise self._damaged(self.KERAS, first_line(e)) from None

    def thresholds(self, override: Optional[float] = None) -> tuple[np.ndarray, str]:
        """The decision thresholds in label order and a one-line description of them: every
        label at `override` when given, else `assets/thresholds.json`, else 0.5 (an export
        written before it existed, or a features model)."""
        names = self.label_names
        if override is not None:
            return (np.full(len(names), float(override)),
                    f"{override:g} for every label (--threshold)")
        path = self.assets / self.THRESHOLDS
        if not path.is_file():
            return (np.full(len(names), thresholds_lib.DEFAULT),
                    f"{thresholds_lib.DEFAULT} for every label (the export has no "
                    f"{self.ASSETS}/{self.THRESHOLDS})")
        try:
            saved = json.loads(path.read_text())
            values = thresholds_lib.values(saved, names)
        except (ValueError, KeyError, TypeError) as e:
            raise AdmlcError(f"{path} cannot be read ({e!r}): re-export the model, or pass "
                             "--threshold") from None
        where = f"{self.ASSETS}/{self.THRESHOLDS}"
        if saved.get("rule") is None:
            return values, f"{where}: {saved.get('note', '')}"
        return values, f"per label from {where} ({saved['note']})"

    # --- the signatures -------------------------------------------------------------------

    @functools.cached_property
    def _loaded(self):
        import tensorflow as tf

        try:
            loaded = tf.saved_model.load(str(self.path))
            outputs = loaded.signatures["features"].structured_outputs["probabilities"]
        except Exception as e:  # noqa: BLE001 -- protobuf, TF and OS errors alike: one line
            reason = first_line(e)[:200]
            raise AdmlcError(f"{self.path} cannot be loaded ({reason}): re-export the model, "
                             "or copy it again from where it was made") from None
        # labels.txt edited by hand (or cut short) would silently shift every label's score
        width = outputs.shape[-1]
        if width is not None and width != len(self.label_names):
            raise AdmlcError(f"{self.assets / self.LABELS} lists {len(self.label_names)} labels "
                             f"but the model of {self.path} has {width} outputs: restore the "
                             "file or re-export the model")
        return loaded

    @property
    def signature(self):
        """The `features` signature."""
        return self._loaded.signatures["features"]

    @property
    def serving_default(self):
        return self._loaded.signatures["serving_default"]

    @property
    def segments(self):
        """The `segments` signature; None in exports written before it (their serving_default
        tags one segment)."""
        return self._loaded.signatures.get("segments")

    def __call__(self, features) -> dict:
        """Runs the `features` signature on `[batch, ...]` features; returns its output dict."""
        import tensorflow as tf

        features = tf.convert_to_tensor(features, tf.float32)
        expected = self.signature.structured_input_signature[1]["features"].shape
        if not expected.is_compatible_with(features.shape):
            raise AdmlcError(f"features of shape {features.shape.as_list()} do not fit {self.path}, "
                             f"which takes {expected.as_list()}: compute the features with the "
                             f"parameters in its {self.ASSETS}/{self.CONFIG}")
        return self.signature(features=features)

    def tag_waveforms(self, waveform) -> dict:
        """Runs the audio `serving_default` on `[batch, samples]` mono waveforms."""
        import tensorflow as tf

        return self.serving_default(waveform=tf.convert_to_tensor(waveform, tf.float32))

    def tag_image_bytes(self, encoded: Sequence[bytes]) -> np.ndarray:
        """`[len(encoded), n_labels]` probabilities of the image `serving_default`."""
        import tensorflow as tf

        return self.serving_default(
            image_bytes=tf.constant(list(encoded), dtype=tf.string))["probabilities"].numpy()

    def segment_probabilities(self, segments):
        """`[n, segment_samples]` segments -> `[n, n_labels]` probabilities, one per segment."""
        import tensorflow as tf

        segments = tf.convert_to_tensor(segments, tf.float32)
        if self.segments is not None:
            return self.segments(waveform=segments)["probabilities"][:, 0]
        # One segment per row: the pooling over one segment returns it unchanged.
        return self.serving_default(waveform=segments)["probabilities"]
