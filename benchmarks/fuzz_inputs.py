"""The fuzzer's inputs: a valid file (or folder) of every format the project reads, and the
mutations applied to it (`benchmarks/fuzz.py` runs them).

Everything is drawn from `numpy.random.default_rng(seed)` of the case alone, so a case is
replayed from `format:mutation:seed` on any machine. Valid inputs are written with the
libraries users make them with (soundfile, Pillow, scipy, h5py) or with the project's own
writers, and kept tiny: a case must be cheap enough to run a thousand of.
"""

from __future__ import annotations

import csv
import dataclasses
import io
import json
import os
import shutil
import struct
from pathlib import Path
from typing import Callable

import numpy as np

LABELS = tuple("cmfvpbo")  # CHiME-Home's letters: the demo export's labels, so evaluate.py fits
RATE = 16000

AUDIO = ("wav", "flac", "ogg")
LAYOUTS = ("labels-csv", "fsd50k", "desed", "chime-home")
VECTORS = ("arff", "npz", "h5", "mat")
IMAGES = ("jpeg", "png", "gif", "bmp")
FORMATS = AUDIO + LAYOUTS + VECTORS + IMAGES + ("export",)

BYTE_MUTATIONS = ("bitflip", "truncate", "splice", "header")
TEXT_MUTATIONS = ("quote", "bom", "crlf", "encoding", "nul", "columns", "lines", "bitflip",
                  "truncate")
ARRAY_MUTATIONS = BYTE_MUTATIONS[:-1] + ("structure",)


def mutations(fmt: str) -> tuple[str, ...]:
    """The mutations that apply to a format."""
    if fmt in AUDIO or fmt in IMAGES:
        return BYTE_MUTATIONS
    if fmt in LAYOUTS:
        return TEXT_MUTATIONS + ("audio",)  # "audio": one listed clip gets a byte mutation
    if fmt == "arff":
        return TEXT_MUTATIONS + ("sparse", "attribute", "xml")
    if fmt in VECTORS:
        return ARRAY_MUTATIONS
    return ("labels", "config", "thresholds", "splits", "bitflip", "truncate")  # export


@dataclasses.dataclass(frozen=True)
class Case:
    """One fuzz case: replayed exactly from these three fields (`str(case)`, `Case.parse`).
    Mutation "none" leaves the valid input as written (every format's baseline)."""

    format: str
    mutation: str
    seed: int

    def __str__(self) -> str:
        return f"{self.format}:{self.mutation}:{self.seed}"

    @staticmethod
    def parse(text: str) -> "Case":
        fmt, mutation, seed = text.split(":")
        return Case(fmt, mutation, int(seed))


def cases(count: int, seed: int) -> list[Case]:
    """`count` cases, the formats in turn (so every format gets its share of any budget) and
    the mutation and case seed drawn from `default_rng([seed, i])`."""
    out = []
    for i in range(count):
        rng = np.random.default_rng([seed, i])
        fmt = FORMATS[i % len(FORMATS)]
        kinds = mutations(fmt)
        out.append(Case(fmt, kinds[int(rng.integers(len(kinds)))], int(rng.integers(2**31))))
    return out


# --- byte mutations -----------------------------------------------------------------------------

def bitflip(data: bytes, rng) -> bytes:
    """Flips 1-16 bits; half the time inside the first 64 bytes, where headers are."""
    if not data:  # an absent file read as empty (a MEKA ARFF has no XML)
        return data
    out = bytearray(data)
    span = min(len(out), 64) if rng.random() < 0.5 else len(out)
    for _ in range(int(rng.integers(1, 17))):
        i = int(rng.integers(span))
        out[i] ^= 1 << int(rng.integers(8))
    return bytes(out)


def truncate(data: bytes, rng) -> bytes:
    """Cuts the file: a few bytes (inside the header), or anywhere."""
    if not data:  # an absent file read as empty (a MEKA ARFF has no XML)
        return data
    if rng.random() < 0.3:
        return data[:int(rng.integers(0, min(len(data), 64)))]
    return data[:int(rng.integers(0, len(data)))]


def splice(data: bytes, other: bytes, rng) -> bytes:
    """Inserts, overwrites with or duplicates a piece of `other` (a second valid file of the
    format) or of the file itself."""
    if not data:  # an absent file read as empty (a MEKA ARFF has no XML)
        return data
    source = other if rng.random() < 0.6 else data
    start = int(rng.integers(len(source)))
    piece = source[start:start + int(rng.integers(1, 4096))]
    at = int(rng.integers(len(data) + 1))
    if rng.random() < 0.5:
        return data[:at] + piece + data[at:]
    return data[:at] + piece + data[at + len(piece):]


# Values a header field is set to: the edges of its type and plausible mistakes.
ABSURD = (0, 1, 2, 3, 7, 255, 256, 65535, 2**16 + 1, 2**24, 2**31 - 1, 2**32 - 1)


def _put(data: bytearray, offset: int, fmt: str, value: int) -> None:
    size = struct.calcsize(fmt)
    if offset + size <= len(data):
        limit = 1 << (8 * size)
        struct.pack_into(fmt, data, offset, int(value) % limit)


def _wav_fields(data: bytes) -> list[tuple[int, str]]:
    """(offset, struct format) of the RIFF size, every fmt field and the data size."""
    fields = [(4, "<I")]
    offset = 12
    while offset + 8 <= len(data):
        chunk, size = data[offset:offset + 4], struct.unpack_from("<I", data, offset + 4)[0]
        if chunk == b"fmt ":
            fields += [(offset + 4, "<I"), (offset + 8, "<H"), (offset + 10, "<H"),
                       (offset + 12, "<I"), (offset + 16, "<I"), (offset + 20, "<H"),
                       (offset + 22, "<H")]
        elif chunk == b"data":
            fields.append((offset + 4, "<I"))
            break
        offset += 8 + size + (size & 1)
    return fields


def _png_fields(data: bytes) -> list[tuple[int, str]]:
    # IHDR: width, height, bit depth, colour type, compression, filter, interlace
    return [(16, ">I"), (20, ">I"), (24, "B"), (25, "B"), (26, "B"), (27, "B"), (28, "B"),
            (8, ">I")]


def _jpeg_fields(data: bytes) -> list[tuple[int, str]]:
    fields, i = [], 2
    while i + 4 <= len(data) and data[i] == 0xFF:
        marker, length = data[i + 1], struct.unpack_from(">H", data, i + 2)[0]
        fields.append((i + 2, ">H"))  # every segment's length
        if marker in (0xC0, 0xC1, 0xC2):  # SOF: precision, height, width, components
            fields += [(i + 4, "B"), (i + 5, ">H"), (i + 7, ">H"), (i + 9, "B")]
        if marker == 0xDA:
            break
        i += 2 + length
    return fields


def _gif_fields(data: bytes) -> list[tuple[int, str]]:
    fields = [(6, "<H"), (8, "<H"), (10, "B")]  # logical screen width, height, flags
    i = data.find(b"\x2c")  # the first image descriptor: left, top, width, height, flags
    if i > 0:
        fields += [(i + 1, "<H"), (i + 3, "<H"), (i + 5, "<H"), (i + 7, "<H"), (i + 9, "B")]
    return fields


def _bmp_fields(data: bytes) -> list[tuple[int, str]]:
    # file size, pixel offset, header size, width, height, planes, bits, compression, image size
    return [(2, "<I"), (10, "<I"), (14, "<I"), (18, "<I"), (22, "<I"), (26, "<H"), (28, "<H"),
            (30, "<I"), (34, "<I"), (46, "<I")]


def _flac_fields(data: bytes) -> list[tuple[int, str]]:
    # STREAMINFO after "fLaC" and its 4-byte block header: block sizes, frame sizes, then
    # 20 bits rate | 3 channels | 5 bits per sample | 36 total samples (edited bytewise)
    return [(5, ">I"), (8, ">H"), (10, ">H"), (12, "B"), (15, "B"), (18, "B"), (19, "B"),
            (20, "B"), (21, ">I")]


def _ogg_fields(data: bytes) -> list[tuple[int, str]]:
    # the first page: version, header type, granule, serial, sequence, CRC, segment count;
    # then the Vorbis identification header's channels and rate
    return [(4, "B"), (5, "B"), (6, "<Q"), (14, "<I"), (18, "<I"), (22, "<I"), (26, "B"),
            (39, "B"), (40, "<I")]


HEADER_FIELDS: dict[str, Callable[[bytes], list[tuple[int, str]]]] = {
    "wav": _wav_fields, "flac": _flac_fields, "ogg": _ogg_fields, "png": _png_fields,
    "jpeg": _jpeg_fields, "gif": _gif_fields, "bmp": _bmp_fields}


def header_edit(fmt: str, data: bytes, rng) -> bytes:
    """Sets 1-3 of the format's header fields (channel count, rate, sizes, dimensions) to an
    absurd value or to random bits."""
    fields = HEADER_FIELDS[fmt](data) or [(0, "<I")]
    out = bytearray(data)
    for _ in range(int(rng.integers(1, 4))):
        offset, code = fields[int(rng.integers(len(fields)))]
        value = ABSURD[int(rng.integers(len(ABSURD)))] if rng.random() < 0.7 \
            else int(rng.integers(2**32))
        _put(out, offset, code, value)
    return bytes(out)


def mutate_bytes(fmt: str, mutation: str, data: bytes, other: bytes, rng) -> bytes:
    if mutation == "bitflip":
        return bitflip(data, rng)
    if mutation == "truncate":
        return truncate(data, rng)
    if mutation == "splice":
        return splice(data, other, rng)
    if mutation == "header" and fmt in HEADER_FIELDS:
        return header_edit(fmt, data, rng)
    return bitflip(data, rng)


# --- text mutations -----------------------------------------------------------------------------

ODD_TEXT = ("\"", "'", "\"\"", ",", ";", "\t", "\\", "{", "}", "%", "@", "?", "é", "ü", "\u00a0",
            "\u2028", "\ufeff", "\x00", "\r", "nan", "inf", "-0", "1e999", "..", "/", "~")


def mutate_text(mutation: str, text: str, rng) -> bytes:
    """A text file's mutation, as the bytes to write: a stray quote, a BOM, CRLF, mixed
    encodings, a NUL, a missing or extra column, repeated or dropped lines; else a byte one."""
    lines = text.splitlines(keepends=True) or [""]
    pick = int(rng.integers(len(lines)))
    if mutation == "quote":
        line = lines[pick]
        at = int(rng.integers(len(line) + 1))
        lines[pick] = line[:at] + ODD_TEXT[int(rng.integers(5))] + line[at:]
        return "".join(lines).encode("utf-8")
    if mutation == "bom":
        boms = ("\ufeff".encode("utf-8"), b"\xff\xfe", b"\xfe\xff", b"\xef\xbb\xbf" * 2)
        choice = int(rng.integers(len(boms) + 1))
        if choice == len(boms):  # the whole file as UTF-16, as Excel's "Unicode text" saves it
            return text.encode("utf-16")
        return boms[choice] + text.encode("utf-8")
    if mutation == "crlf":
        ending = ("\r\n", "\r", "\n\r")[int(rng.integers(3))]
        return text.replace("\n", ending).encode("utf-8")
    if mutation == "encoding":
        accented = [line.replace("a", "ä").replace("e", "é") for line in lines]
        mixed = b"".join(line.encode("latin-1" if i % 2 else "utf-8", errors="replace")
                         for i, line in enumerate(accented))
        return mixed if rng.random() < 0.7 else "".join(accented).encode("cp1252", "replace")
    if mutation == "nul":
        at = int(rng.integers(len(text) + 1))
        return (text[:at] + "\x00" + text[at:]).encode("utf-8")
    if mutation == "columns":
        line = lines[pick]
        cells = line.rstrip("\r\n").split(",")
        if rng.random() < 0.5 and len(cells) > 1:
            del cells[int(rng.integers(len(cells)))]
        else:
            cells.insert(int(rng.integers(len(cells) + 1)),
                         ODD_TEXT[int(rng.integers(len(ODD_TEXT)))])
        lines[pick] = ",".join(cells) + "\n"
        return "".join(lines).encode("utf-8")
    if mutation == "lines":
        choice = int(rng.integers(4))
        if choice == 0:
            lines.insert(pick, lines[pick])  # a repeated line
        elif choice == 1:
            del lines[pick]
        elif choice == 2:
            lines.insert(pick, "\n" * int(rng.integers(1, 4)))
        else:
            lines[pick] = lines[pick].rstrip("\r\n") + "x" * int(rng.integers(1, 70000)) + "\n"
        return "".join(lines).encode("utf-8")
    data = text.encode("utf-8")
    return truncate(data, rng) if mutation == "truncate" else bitflip(data, rng)


def sparse_rows(text: str, rng) -> bytes:
    """Odd sparse ARFF rows: empty, unclosed, repeated or out-of-range indices, no value,
    negative or non-integer indices, stray commas, nested braces."""
    odd = ("{}", "{", "{0}", "{0 1,}", "{,}", "{0 1, 0 0}", "{99 1}", "{-1 1}", "{1.5 1}",
           "{0 1 2}", "{{0 1}}", "{0 '1'}", "{0 ?}", "{ 0  1 ,  1 0 }", "{0 1}}", "{0 nan}",
           "{0 1e400}", "{2147483648 1}", "{0 1} % comment", "{0 1},")
    lines = text.splitlines(keepends=True)
    data_at = next((i for i, line in enumerate(lines) if line.lower().startswith("@data")),
                   len(lines) - 1)
    for _ in range(int(rng.integers(1, 4))):
        at = int(rng.integers(data_at + 1, len(lines) + 1))
        lines.insert(at, odd[int(rng.integers(len(odd)))] + "\n")
    return "".join(lines).encode("utf-8")


def attribute_edit(text: str, rng) -> bytes:
    """An ARFF header edit: a type changed, a name quoted oddly or repeated, a line lost."""
    lines = text.splitlines(keepends=True)
    heads = [i for i, line in enumerate(lines) if line.lower().startswith("@attribute")]
    i = heads[int(rng.integers(len(heads)))]
    name = lines[i].split()[1]
    edits = (f"@attribute {name} string\n", f"@attribute {name} {{0,1,2}}\n",
             f"@attribute {name} {{0,1\n", f"@attribute '{name} numeric\n", "@attribute\n",
             f"@attribute {name} date 'yyyy'\n", f"@ATTRIBUTE \"{name}\" REAL\n",
             f"@attribute {name} {{}}\n", f"@attribute {name} relational\n", "",
             lines[heads[0]], f"@attribute {name} {{'0','1'}}\n", "@relation again\n")
    lines[i] = edits[int(rng.integers(len(edits)))]
    return "".join(lines).encode("utf-8")


# --- valid inputs ---------------------------------------------------------------------------

def tone(rng, seconds: float, rate: int = RATE, channels: int = 1) -> np.ndarray:
    t = np.arange(int(seconds * rate)) / rate
    wave = 0.3 * np.sin(2 * np.pi * rng.uniform(100, 2000) * t)
    noise = 0.05 * rng.standard_normal((len(t), channels))
    return (wave[:, None] + noise).astype(np.float32)


def audio_bytes(fmt: str, rng) -> bytes:
    """A valid short clip: mostly mono 16 kHz, sometimes stereo or another rate or subtype."""
    import soundfile

    rate = RATE if rng.random() < 0.7 else int(rng.choice([8000, 22050, 44100]))
    channels = 1 if rng.random() < 0.8 else 2
    seconds = float(rng.uniform(0.2, 1.0))
    buffer = io.BytesIO()
    if fmt == "wav":
        subtype = ("PCM_16", "PCM_24", "FLOAT", "PCM_U8")[int(rng.integers(4))]
        soundfile.write(buffer, tone(rng, seconds, rate, channels), rate, format="WAV",
                        subtype=subtype)
    elif fmt == "flac":
        soundfile.write(buffer, tone(rng, seconds, rate, channels), rate, format="FLAC",
                        subtype="PCM_16")
    else:
        soundfile.write(buffer, tone(rng, seconds, rate, channels), rate, format="OGG",
                        subtype="VORBIS")
    return buffer.getvalue()


def image_bytes(fmt: str, rng) -> bytes:
    from PIL import Image

    size = (int(rng.integers(8, 40)), int(rng.integers(8, 40)))
    pixels = rng.integers(0, 256, (size[1], size[0], 3), dtype=np.uint8)
    image = Image.fromarray(pixels, "RGB")
    mode = ("RGB", "L", "P", "RGBA")[int(rng.integers(4))] if fmt == "png" else "RGB"
    if mode != "RGB":
        image = image.convert(mode)
    buffer = io.BytesIO()
    pil = {"jpeg": "JPEG", "png": "PNG", "gif": "GIF", "bmp": "BMP"}[fmt]
    image.save(buffer, format=pil, **({"progressive": True} if fmt == "jpeg"
                                      and rng.random() < 0.3 else {}))
    return buffer.getvalue()


def random_labels(rng, n: int) -> list[list[str]]:
    """Label sets of `n` clips, the first with every one of `LABELS` (so the training clips
    hold the vocabulary whichever clips are val or test)."""
    sets = [list(LABELS)] + [[LABELS[i % len(LABELS)]] for i in range(1, n)]
    for labels in sets:
        labels += [x for x in LABELS if rng.random() < 0.2 and x not in labels]
    return sets


def write_clips(folder: Path, names: list[str], rng) -> None:
    import soundfile

    for name in names:
        path = folder / name
        path.parent.mkdir(parents=True, exist_ok=True)
        soundfile.write(path, tone(rng, float(rng.uniform(0.2, 0.6)))[:, 0], RATE)


def write_layout(fmt: str, folder: Path, rng) -> list[Path]:
    """A valid data folder of a layout, 7-8 short clips; returns its text files (the labels
    lists first)."""
    n = len(LABELS)
    labels = random_labels(rng, n)
    if fmt == "labels-csv":
        names = [f"audio/c{i}.wav" for i in range(n)]
        write_clips(folder, names, rng)
        splits = ["train"] * n
        splits[-2:] = ["val", "test"]
        rows = [("file", "labels", "split")] + [
            (name, ";".join(ls), split) for name, ls, split in zip(names, labels, splits)]
        _write_csv(folder / "labels.csv", rows)
        return [folder / "labels.csv"]
    if fmt == "fsd50k":
        truth = folder / "FSD50K.ground_truth"
        truth.mkdir(parents=True)
        _write_csv(truth / "vocabulary.csv", [(i, x, f"/m/{i}") for i, x in enumerate(LABELS)])
        dev, ev = list(range(n - 1)), [n - 1]
        write_clips(folder / "FSD50K.dev_audio", [f"{i}.wav" for i in dev], rng)
        write_clips(folder / "FSD50K.eval_audio", [f"{i}.wav" for i in ev], rng)
        _write_csv(truth / "dev.csv", [("fname", "labels", "mids", "split")] + [
            (i, ",".join(labels[i]), "", "val" if i == n - 2 else "train") for i in dev])
        _write_csv(truth / "eval.csv", [("fname", "labels", "mids")] + [
            (i, ",".join(labels[i]), "") for i in ev])
        return [truth / "dev.csv", truth / "eval.csv", truth / "vocabulary.csv"]
    if fmt == "desed":
        names = [f"Y{i:03d}.wav" for i in range(n + 3)]
        labels += random_labels(rng, 3)
        write_clips(folder / "audio/train/weak", names, rng)
        tsv = folder / "metadata/train/weak.tsv"
        tsv.parent.mkdir(parents=True)
        _write_csv(tsv, [("filename", "event_labels")]
                   + [(name, ",".join(ls)) for name, ls in zip(names, labels)], delimiter="\t")
        return [tsv]
    from admlc_tf.data.layouts import chime_home

    root = folder / "chime_home"
    (root / "chunks").mkdir(parents=True)
    names = [f"CR_lounge_{i:03d}.s0_chunk0" for i in range(n)]
    for name, ls in zip(names, labels):
        chime_home.write_chunk_csv(chime_home.chunk_csv_path(root, name),
                                   {"majorityvote": "".join(ls), "annotator1": "".join(ls)})
    write_clips(root / "chunks", [chime_home.chunk_wav_path(root, name).name for name in names],
                rng)
    chime_home.write_list(root / chime_home.CROSSVAL_LIST,
                          [(i, name, i % 5) for i, name in enumerate(names[:-1])])
    chime_home.write_list(root / chime_home.EVALUATION_LIST, [(0, names[-1])])
    chunk_csv = chime_home.chunk_csv_path(root, names[int(rng.integers(n))])
    return [root / chime_home.CROSSVAL_LIST, root / chime_home.EVALUATION_LIST, chunk_csv]


def _write_csv(path: Path, rows, delimiter: str = ",") -> None:
    with open(path, "w", newline="", encoding="utf-8") as f:
        csv.writer(f, delimiter=delimiter, lineterminator="\n").writerows(rows)


def vector_arrays(rng) -> tuple[np.ndarray, np.ndarray, list[str]]:
    n, d, L = int(rng.integers(6, 12)), int(rng.integers(2, 6)), int(rng.integers(2, 4))
    labels = (rng.random((n, L)) < 0.5).astype(np.float32)
    labels[0] = 1  # every label present
    return rng.normal(size=(n, d)).astype(np.float32), labels, [f"l{j}" for j in range(L)]


def write_vectors(fmt: str, path: Path, rng) -> None:
    """A valid `.arff` (+ `.xml`, Mulan; or MEKA), `.npz`, `.h5` or `.mat` file."""
    from admlc_tf.data.vectors.arff import write_arff, write_mulan_xml
    from admlc_tf.data.vectors.formats import save_h5, save_npz

    x, y, names = vector_arrays(rng)
    if fmt == "arff":
        meka = [False, "first", "last"][int(rng.integers(3))]
        write_arff(path, x, y, relation="fuzz", label_names=names, sparse=rng.random() < 0.5,
                   meka=meka)
        if not meka:
            write_mulan_xml(path.with_suffix(".xml"), names)
    elif fmt == "npz":
        save_npz(path, x, y, label_names=names)
    elif fmt == "h5":
        save_h5(path, x, y, label_names=names)
    else:
        import scipy.io

        scipy.io.savemat(path, {"X": x, "Y": y, "label_names": np.array(names, dtype=object)})


def restructure(fmt: str, path: Path, rng) -> None:
    """A valid container holding the wrong things: strings, NaN, 3-D or transposed arrays,
    missing or extra keys, name lists of the wrong length or non-UTF-8 bytes, a group for X."""
    import h5py

    x, y, names = vector_arrays(rng)
    arrays = {"X": x, "Y": y, "label_names": np.array(names)}
    choice = int(rng.integers(10))
    if choice == 0:
        arrays["X"] = x.astype(str)
    elif choice == 1:
        arrays["X"][0, 0] = np.nan
    elif choice == 2:
        arrays["X"] = x[:, :, None]
    elif choice == 3:
        arrays["Y"] = y.T
    elif choice == 4:
        del arrays[("X", "Y")[int(rng.integers(2))]]
    elif choice == 5:
        arrays["label_names"] = np.array(names + ["extra"])
    elif choice == 6:
        arrays["label_names"] = np.array([b"\xff\xfe", b"\xe9t\xe9"][:len(names)] * 3)[:len(names)]
    elif choice == 7:
        arrays["X"], arrays["Y"] = x[:0], y[:0]
    elif choice == 8:
        arrays["Y"] = y * 2 - 1
    if fmt == "npz":
        np.savez(path, **arrays)
    elif fmt == "mat":
        import scipy.io

        scipy.io.savemat(path, {k: (v.astype(object) if v.dtype.kind == "S" else v)
                                for k, v in arrays.items()})
    else:
        with h5py.File(path, "w") as f:
            for key, value in arrays.items():
                if choice == 9 and key == "X":
                    f.create_group("X").create_dataset("data", data=value)
                elif value.dtype.kind == "U":
                    f.create_dataset(key, data=np.array(value, dtype=h5py.string_dtype()))
                else:
                    f.create_dataset(key, data=value)


def export_metadata(kind: str = "waveform") -> dict:
    """What `export_predictor` writes to `assets/export_config.json` for a tiny audio model
    (or `image_bytes` one), with the run's config as `train.py` records it."""
    from admlc_tf.config import ExperimentConfig, FeatureConfig

    features = FeatureConfig()
    meta = {"config": ExperimentConfig().to_dict(), "input": kind}
    if kind == "waveform":
        meta.update(features=dataclasses.asdict(features),
                    serving={"segment_samples": features.num_samples,
                             "hop_samples": 2 * features.sample_rate, "pooling": "max"})
    else:
        meta.update(backbone="efficientnetv2-b0", image_size=64)
    return meta


def write_stub_export(folder: Path, kind: str = "waveform") -> Path:
    """An export version whose assets are real and whose graph is a placeholder: what the
    in-process cases read (their model calls are stood in for, `benchmarks.fuzz`)."""
    from admlc_tf.serving.exported import ExportedPredictor

    folder.mkdir(parents=True)
    (folder / "saved_model.pb").write_bytes(b"\x08\x01")
    thresholds = {"rule": "f1", "note": "max F1 on val",
                  "thresholds": {x: 0.3 + 0.05 * i for i, x in enumerate(LABELS)}}
    ExportedPredictor.write_assets(folder / ExportedPredictor.ASSETS, label_names=LABELS,
                                   metadata=export_metadata(kind), thresholds=thresholds,
                                   splits="file,split\naudio/c0.wav,train\n")
    return folder


def copy_export(source: Path, target: Path) -> Path:
    shutil.copytree(source, target, symlinks=True)
    return target


def export_targets(folder: Path) -> dict[str, Path]:
    """The files an export mutation edits, by mutation."""
    assets = folder / "assets"
    graph = folder / "saved_model.pb"
    variables = sorted((folder / "variables").glob("*.data-*")) if (folder / "variables").is_dir() \
        else []
    return {"labels": assets / "labels.txt", "config": assets / "export_config.json",
            "thresholds": assets / "thresholds.json", "splits": assets / "splits.csv",
            "bitflip": graph, "truncate": variables[0] if variables else graph}


def json_edit(text: str, rng) -> bytes:
    """A JSON document with one value replaced (absurd numbers, wrong types), a key lost, or
    cut short: what a hand edit or a half-copied file does to export_config.json."""
    try:
        value = json.loads(text)
    except ValueError:
        return mutate_text("quote", text, rng)
    if rng.random() < 0.3 or not isinstance(value, dict):
        return mutate_text(("quote", "truncate", "bitflip", "bom")[int(rng.integers(4))], text, rng)
    paths = []

    def walk(node, trail):
        if isinstance(node, dict):
            for key, child in node.items():
                paths.append(trail + [key])
                walk(child, trail + [key])

    walk(value, [])
    trail = paths[int(rng.integers(len(paths)))]
    parent = value
    for key in trail[:-1]:
        parent = parent[key]
    odd = (None, -1, 0, 10**12, 2**63, 1e308, "", "x", [], {}, True, -1.5, "NaN")
    if rng.random() < 0.25:
        del parent[trail[-1]]
    else:
        parent[trail[-1]] = odd[int(rng.integers(len(odd)))]
    return json.dumps(value).encode("utf-8")


def write_bytes(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "wb") as f:
        f.write(data)
    os.utime(path)
