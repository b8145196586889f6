"""Kept so that imports written before `admlc_tf.serving` keep working: the export is
`admlc_tf.serving.export`, its reader `admlc_tf.serving.exported`."""

from admlc_tf.serving.export import export_predictor, next_version, write_tflite  # noqa: F401
from admlc_tf.serving.exported import ExportedPredictor  # noqa: F401
