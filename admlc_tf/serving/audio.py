"""Tagging audio files with an exported audio model (`predict.py` on a `waveform` export), and
the TF Serving REST body for one."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Optional, Sequence

import keras
import numpy as np
import soundfile

from admlc_tf import thresholds
from admlc_tf.errors import AdmlcError, DataError, printable
from admlc_tf.features import open_audio, read_audio
from admlc_tf.files import find_files, write_json_atomic, write_text_atomic
from admlc_tf.serving import outputs, streaming, timeline
from admlc_tf.serving.exported import ExportedPredictor

# What a folder is searched for: the containers libsndfile decodes.
AUDIO_SUFFIXES = (".wav", ".flac", ".ogg", ".oga", ".opus", ".mp3", ".aif", ".aiff", ".au",
                  ".w64", ".caf")


def find_audio(paths: Sequence[str | Path]) -> list[Path]:
    """The audio files named, and those under named folders (sorted), in argument order."""
    return find_files(paths, AUDIO_SUFFIXES, "audio")


def read_clip(path: Path, sample_rate: int) -> tuple[np.ndarray, Optional[int]]:
    """`[samples]` mono float32 at `sample_rate`, and the file's own rate when it was resampled."""
    waveform = read_audio(path, sample_rate=sample_rate)
    with open_audio(Path(path)) as handle:  # by handle: a name in other bytes than UTF-8
        rate = soundfile.info(handle).samplerate
    return waveform, (rate if rate != sample_rate else None)


def rest_request_body(waveforms: Sequence[np.ndarray], form: str = "instances",
                      signature: str = "serving_default") -> dict:
    """The TF Serving REST `predict` body for an audio waveform signature.

    Args:
      waveforms: mono float32 clips at the model's rate; one request batches clips of one length.
      form: "instances" (row format, one object per clip) or "inputs" (columnar format).
      signature: "serving_default" (pooled tags per clip) or "segments" (a timeline per clip:
        `probabilities` `[segments, n_labels]` and `start_s` `[segments]`).

    Returns:
      The JSON-serialisable body to POST to `/v1/models/<name>:predict`.
    """
    if len({len(w) for w in waveforms}) != 1:
        raise ValueError("one request batches clips of equal length; send others separately")
    if signature not in ("serving_default", "segments"):
        raise ValueError(f"signature {signature!r} is not known: use serving_default or segments")
    if form == "instances":
        return {"signature_name": signature,
                "instances": [{"waveform": np.asarray(w, np.float32).tolist()} for w in waveforms]}
    if form == "inputs":
        return {"signature_name": signature,
                "inputs": {"waveform": [np.asarray(w, np.float32).tolist() for w in waveforms]}}
    raise ValueError(f"form {form!r} is not known: use instances or inputs")


class TFLiteSegments:
    """`[n, segment_samples]` -> `[n, n_labels]` probabilities through an export's TFLite model.

    The TFLite model takes one segment `[1, segment_samples]`; segments go through it one by
    one on `num_threads` threads. The default XNNPACK delegate is not applied: it takes over
    the graph around the GRUs' WHILE loops only, and made the CGRNN 1.2x (paper-sized) to 10x
    (tiny) slower on a 2-core CPU (benchmarks/long_recordings.py).
    """

    def __init__(self, path: str | Path, num_threads: int = 2):
        try:  # LiteRT's own package when it is installed (optional), else TensorFlow's copy
            from ai_edge_litert.interpreter import Interpreter, OpResolverType
        except ImportError:
            import tensorflow as tf

            Interpreter, OpResolverType = tf.lite.Interpreter, tf.lite.experimental.OpResolverType
        if not Path(path).is_file():
            raise AdmlcError(f"{path} is missing: export the model with tflite (train.py "
                             "--tflite), or use --backend savedmodel")
        self.interpreter = Interpreter(
            model_path=str(path), num_threads=num_threads,
            experimental_op_resolver_type=OpResolverType.BUILTIN_WITHOUT_DEFAULT_DELEGATES)
        self.interpreter.allocate_tensors()
        self._input = self.interpreter.get_input_details()[0]["index"]
        self._output = self.interpreter.get_output_details()[0]["index"]

    def __call__(self, segments: np.ndarray) -> np.ndarray:
        out = []
        for row in np.asarray(segments, np.float32):
            self.interpreter.set_tensor(self._input, row[None])
            self.interpreter.invoke()
            out.append(self.interpreter.get_tensor(self._output)[0].copy())
        return np.stack(out)


def segment_predictor(model: ExportedPredictor, backend: str = "savedmodel"):
    """The `[n, segment_samples] -> [n, n_labels]` probabilities function of a backend."""
    tflite = model.backend_file(backend)
    if tflite is None:
        return lambda batch: model.segment_probabilities(batch).numpy()
    return TFLiteSegments(tflite)


def tag_audio(paths: Sequence[str | Path], *, model: ExportedPredictor,
              threshold: Optional[float] = None, csv_path: Optional[str] = None,
              json_path: Optional[str] = None, timeline_path: Optional[str] = None,
              events_path: Optional[str] = None, median_segments: int = 3,
              batch_size: int = 16, backend: str = "savedmodel",
              verbose: bool = True) -> list[dict]:
    """Tags each file in bounded memory, prints a table, and optionally writes outputs.

    Files are streamed (`admlc_tf.serving.streaming`): a recording of any length is read in
    blocks and its segments go through the model `batch_size` at a time. A file that cannot be
    read is reported on one stderr line and skipped; the others are still tagged and written.
    Every output is written atomically once all files are done, so it is complete or absent.

    Args:
      model: the loaded audio export.
      threshold: one threshold for every label; None uses the export's per-label
        `assets/thresholds.json` (0.5 where it has none).
      timeline_path: CSV `file,start_s,end_s,<label>...`, one row per segment.
      events_path: DESED TSV `filename<TAB>onset<TAB>offset<TAB>event_label`, from the
        thresholded segments smoothed by a median filter of `median_segments` (odd); the
        settings go to `<events_path>.settings.json`.
      batch_size: segments per model call.
      backend: "savedmodel", "tflite" (the export's model.tflite) or "tflite-int8".

    Returns:
      One record per file read: `file`, `seconds`, `probabilities` {label: p}, `labels` (those
      at or above their threshold), and `resampled_from` (the file's rate, or None); then one
      `{"file", "error"}` per file that could not be read (as for image models).
    """
    if median_segments < 1 or median_segments % 2 == 0:
        raise AdmlcError(f"--median-segments {median_segments} must be an odd number of "
                         "segments (1 = no smoothing)")
    if batch_size < 1:
        raise AdmlcError(f"--batch-size {batch_size} must be at least 1")
    if "serving" not in model.metadata:
        raise AdmlcError(f"{model.path} takes feature vectors, not audio: use an audio model")
    serving = model.waveform_settings()
    rate, segment, hop = serving["sample_rate"], serving["segment_samples"], serving["hop_samples"]
    names = model.label_names
    cuts, used = model.thresholds(threshold)
    predict = segment_predictor(model, backend)
    files = find_audio(paths)
    keep = bool(timeline_path or events_path)
    progress = keras.utils.Progbar(len(files), unit_name="file") if verbose and len(files) > 1 else None
    records, failed, timeline_rows, event_rows = [], [], [], []
    for i, path in enumerate(files):
        try:
            pooled, info = streaming.tag_stream(path, predict, sample_rate=rate, segment=segment,
                                                hop=hop, pooling=serving["pooling"],
                                                batch_size=batch_size, keep_segments=keep)
        except DataError as e:
            print(f"error: {e}", file=sys.stderr)
            failed.append({"file": printable(str(path)), "error": str(e)})
            continue
        records.append(outputs.record(path, names, pooled.result(), cuts,
                                      seconds=round(info.samples / rate, 3)))
        records[-1]["resampled_from"] = info.original_rate
        if keep:
            per_segment = pooled.segment_probabilities()
            starts, ends = timeline.segment_times(len(per_segment), samples=info.samples,
                                                  segment=segment, hop=hop, sample_rate=rate)
            name = printable(str(path))  # the outputs are UTF-8 lines
            timeline_rows += [(name, s, e, p) for s, e, p in zip(starts, ends, per_segment)]
            event_rows += [(name, *event) for event in timeline.events(
                per_segment, cuts, names, starts=starts, ends=ends, hop_seconds=hop / rate,
                median_segments=median_segments)]
        if progress:
            progress.update(i + 1)
    resampled = [r for r in records if r["resampled_from"]]
    if resampled:  # one line, not one per file: a folder of 44.1 kHz files is common
        rates = sorted({r["resampled_from"] for r in resampled})
        print(f"note: resampled {len(resampled)} of {len(records)} file(s) from "
              f"{', '.join(map(str, rates))} Hz to the model's {rate} Hz", file=sys.stderr)
    outputs.announce(records, names, used)
    head = {"model": str(model.path), "backend": backend}
    if csv_path:
        outputs.write_csv(csv_path, records, names)
    if json_path:
        outputs.write_json(json_path, head, names, cuts, used, records, failed)
    if timeline_path:
        write_text_atomic(timeline_path, outputs.timeline_text(timeline_rows, names))
    if events_path:
        write_json_atomic(f"{events_path}.settings.json", {
            **head, "median_segments": median_segments, "merge_gap_s": hop / rate,
            **thresholds.as_dict(names, cuts, used)})
        write_text_atomic(events_path, outputs.events_text(event_rows))
    if failed:
        print(f"error: {len(failed)} of {len(files)} file(s) could not be read (listed above); "
              "the others were tagged", file=sys.stderr)
    return records + failed
