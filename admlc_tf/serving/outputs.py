"""What tagging prints and writes, for audio and image exports alike: the decisions at the
thresholds, the table, and the CSV / JSON / timeline / events files (each written atomically).

The thresholds are resolved once per run (`ExportedPredictor.thresholds`) and said once: on
stderr, in the JSON (`thresholds`, `thresholds_used`) and in the events' settings file; the CSV
holds one row per file and no repeated sentence.
"""

from __future__ import annotations

import csv
import io
import sys
from pathlib import Path
from typing import Iterable, Sequence

import numpy as np

from admlc_tf import thresholds
from admlc_tf.errors import printable
from admlc_tf.files import write_json_atomic, write_text_atomic

LABEL_SEPARATOR = ";"
EVENTS_HEADER = ("filename", "onset", "offset", "event_label")  # DESED's TSV columns


def decided(label_names: Sequence[str], probabilities, cuts) -> list[str]:
    """The labels whose probability reaches their threshold, in label order."""
    return [n for n, p, t in zip(label_names, probabilities, cuts) if p >= t]


def record(file, label_names: Sequence[str], probabilities, cuts, **facts) -> dict:
    """One file's record: `file`, `facts` (seconds, or width and height...), `probabilities`
    {label: p} and `labels`."""
    return {"file": printable(str(file)), **facts,  # one line, encodable: a table row, a CSV cell
            "probabilities": {n: float(p) for n, p in zip(label_names, probabilities)},
            "labels": decided(label_names, probabilities, cuts)}


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


def announce(records: Sequence[dict], label_names: Sequence[str], used: str) -> None:
    """Prints the table (stdout) and which thresholds decided it (stderr)."""
    if records:
        print(format_tags(records, label_names))
    print(f"thresholds: {used}", file=sys.stderr)


def write_csv(path: str | Path, records: Sequence[dict], label_names: Sequence[str],
              columns: Sequence[str] = ("seconds",)) -> None:
    """`file,<columns>...,<label>...,labels`, one row per file (probabilities to 6 decimals)."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(["file", *columns, *label_names, "labels"])
    for r in records:
        writer.writerow([r["file"], *(r[c] for c in columns),
                         *(f"{r['probabilities'][n]:.6f}" for n in label_names),
                         LABEL_SEPARATOR.join(r["labels"])])
    write_text_atomic(path, buffer.getvalue())


def write_json(path: str | Path, head: dict, label_names: Sequence[str], cuts: np.ndarray,
               used: str, records: Sequence[dict], errors: Sequence[dict]) -> None:
    """`{**head, thresholds, thresholds_used, files, errors}`."""
    write_json_atomic(path, {**head, **thresholds.as_dict(label_names, cuts, used),
                             "files": list(records), "errors": list(errors)})


def timeline_text(rows: Iterable[tuple[str, float, float, Sequence[float]]],
                  label_names: Sequence[str]) -> str:
    """CSV `file,start_s,end_s,<label>...`, one row per segment."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(["file", "start_s", "end_s", *label_names])
    for file, start, end, values in rows:
        writer.writerow([file, f"{start:.3f}", f"{end:.3f}", *(f"{p:.6f}" for p in values)])
    return buffer.getvalue()


def events_text(rows: Iterable[tuple[str, float, float, str]]) -> str:
    """DESED's TSV: `filename<TAB>onset<TAB>offset<TAB>event_label`, with that header."""
    lines = ["\t".join(EVENTS_HEADER)]
    lines += [f"{file}\t{onset:.3f}\t{offset:.3f}\t{label}" for file, onset, offset, label in rows]
    return "\n".join(lines) + "\n"
