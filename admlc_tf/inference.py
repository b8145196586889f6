"""Tagging audio files with an exported model (what `predict.py` runs); an image model's
files go to `admlc_tf.image_inference`."""

from __future__ import annotations

import csv
import io
import sys
from pathlib import Path
from typing import Optional, Sequence

import keras
import numpy as np
import soundfile

from admlc_tf.errors import AdmlcError, DataError
from admlc_tf.export import ExportedPredictor
from admlc_tf.features import read_audio
from admlc_tf.files import write_json_atomic, write_text_atomic

# What a folder is searched for: the containers libsndfile decodes.
AUDIO_SUFFIXES = (".wav", ".flac", ".ogg", ".oga", ".opus", ".mp3", ".aif", ".aiff", ".au",
                  ".w64", ".caf")
LABEL_SEPARATOR = ";"


def find_audio(paths: Sequence[str | Path]) -> list[Path]:
    """The audio files named, and those under named folders (sorted), in argument order."""
    found = []
    for path in map(Path, paths):
        if path.is_dir():
            found += sorted(p for p in path.rglob("*") if p.suffix.lower() in AUDIO_SUFFIXES)
        elif path.is_file():
            found.append(path)
        else:
            raise DataError(f"{path} does not exist: pass audio files or folders of them")
    if not found:
        raise DataError(f"no audio files ({', '.join(AUDIO_SUFFIXES)}) under "
                        f"{', '.join(map(str, paths))}: pass audio files or folders of them")
    return found


def read_clip(path: Path, sample_rate: int) -> tuple[np.ndarray, Optional[int]]:
    """`[samples]` mono float32 at `sample_rate`, and the file's own rate when it was resampled."""
    waveform = read_audio(path, sample_rate=sample_rate)
    rate = soundfile.info(str(path)).samplerate
    return waveform, (rate if rate != sample_rate else None)


def rest_request_body(waveforms: Sequence[np.ndarray], form: str = "instances") -> dict:
    """The TF Serving REST `predict` body for the audio `serving_default` signature.

    Args:
      waveforms: mono float32 clips at the model's rate; one request batches clips of one length.
      form: "instances" (row format, one object per clip) or "inputs" (columnar format).

    Returns:
      The JSON-serialisable body to POST to `/v1/models/<name>:predict`.
    """
    if len({len(w) for w in waveforms}) != 1:
        raise ValueError("one request batches clips of equal length; send others separately")
    if form == "instances":
        return {"signature_name": "serving_default",
                "instances": [{"waveform": np.asarray(w, np.float32).tolist()} for w in waveforms]}
    if form == "inputs":
        return {"signature_name": "serving_default",
                "inputs": {"waveform": [np.asarray(w, np.float32).tolist() for w in waveforms]}}
    raise ValueError(f"form {form!r} is not known: use instances or inputs")


def tag_files(paths: Sequence[str | Path], *, model_path: str | Path,
              threshold: Optional[float] = 0.5,
              csv_path: Optional[str] = None, json_path: Optional[str] = None,
              verbose: bool = True) -> list[dict]:
    """Tags each file, prints a table, and optionally writes CSV / JSON (atomically).

    Returns:
      One record per file: `file`, `seconds`, `probabilities` {label: p}, `labels` (those at or
      above `threshold`), and `resampled_from` (the file's rate, or None).
    """
    model = ExportedPredictor(model_path)
    if model.metadata.get("input") == "image_bytes":  # export_config.json says what it takes
        from admlc_tf.image_inference import tag_images

        return tag_images(paths, model=model, model_path=model_path, threshold=threshold,
                          csv_path=csv_path, json_path=json_path, verbose=verbose)
    threshold = 0.5 if threshold is None else threshold
    if "serving" not in model.metadata:
        raise AdmlcError(f"{model_path} takes feature vectors, not audio: use an audio model")
    rate = model.metadata["features"]["sample_rate"]
    files = find_audio(paths)
    progress = keras.utils.Progbar(len(files), unit_name="file") if verbose and len(files) > 1 else None
    records = []
    for i, path in enumerate(files):
        waveform, original_rate = read_clip(path, rate)
        probabilities = model.tag_waveforms(waveform[None])["probabilities"].numpy()[0]
        records.append({
            "file": str(path), "seconds": round(len(waveform) / rate, 3),
            "probabilities": {n: float(p) for n, p in zip(model.label_names, probabilities)},
            "labels": [n for n, p in zip(model.label_names, probabilities) if p >= threshold],
            "resampled_from": original_rate})
        if progress:
            progress.update(i + 1)
    resampled = [r for r in records if r["resampled_from"]]
    if resampled:  # one line, not one per file: a folder of 44.1 kHz files is common
        rates = sorted({r["resampled_from"] for r in resampled})
        print(f"note: resampled {len(resampled)} of {len(records)} file(s) from "
              f"{', '.join(map(str, rates))} Hz to the model's {rate} Hz", file=sys.stderr)
    print(format_tags(records, model.label_names))
    if csv_path:
        _write_csv(csv_path, records, model.label_names)
    if json_path:
        write_json_atomic(json_path, {"model": str(model_path), "threshold": threshold,
                                      "files": records})
    return records


def format_tags(records: Sequence[dict], label_names: Sequence[str]) -> str:
    """A table: one row per file, a probability per label, then the labels above threshold."""
    width = max(len("file"), *(len(r["file"]) for r in records))
    widths = [max(5, len(n)) for n in label_names]
    lines = [f"{'file':<{width}} " + " ".join(f"{n:>{w}}" for n, w in zip(label_names, widths))
             + "  labels"]
    for r in records:
        values = " ".join(f"{r['probabilities'][n]:{w}.2f}" for n, w in zip(label_names, widths))
        tags = LABEL_SEPARATOR.join(r["labels"]) or "-"
        lines.append(f"{r['file']:<{width}} {values}  {tags}")
    return "\n".join(lines)


def _write_csv(path: str | Path, records: Sequence[dict], label_names: Sequence[str],
               columns: Sequence[str] = ("seconds",)) -> None:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(["file", *columns, *label_names, "labels"])
    for r in records:
        writer.writerow([r["file"], *(r[c] for c in columns),
                         *(f"{r['probabilities'][n]:.6f}" for n in label_names),
                         LABEL_SEPARATOR.join(r["labels"])])
    write_text_atomic(path, buffer.getvalue())
