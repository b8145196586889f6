"""Small generated audio collections in each "your own audio" layout, for tests and examples.

    python -m admlc_tf.data.generated.examples my_audio --layout csv
    python train.py --data-dir my_audio

`write_example_set(root, layout=...)` writes a *synthetic* labelled set that `train.py --data-dir`
reads like real data: a plain folder with `labels.csv`, an FSD50K folder, or a DESED root. It
carries four labels, each a distinct sound mixed at random positions over a low noise floor
(one event per 2.5 s of clip, at least one, so a 4 s training crop rarely misses it):

  Dog bark    2-4 band-limited noise bursts (centre 600-1400 Hz) with a sharp attack.
  door_knock  3-6 knocks 0.12-0.25 s apart: a bright click on a damped wooden resonance.
  Speech      "syllables" of a harmonic voiced tone (F0 100-220 Hz, 5-6 Hz vibrato, 1/k
              harmonics) with a syllabic envelope.
  Siren wail  a tone sweeping slowly up and down around 800-1300 Hz, with two harmonics.

Each clip carries 1-3 labels (every label is the first label of a quarter of the clips, so
every split sees every label). The files vary the way collected audio does: rates cycle over
22050, 44100 and 48000 Hz; lengths are 0.5-12 s (most 2-6 s, a few under 1 s, one of 12 s);
WAV, FLAC and OGG Vorbis alternate; every eighth clip is stereo; one file name holds a space.
The FSD50K layout follows the real set instead: mono 16-bit WAV at 44.1 kHz named by numeric
ids, labels with underscores (`Dog_bark`), and a vocabulary.csv whose index order is not
alphabetical. The samples depend only on the arguments, and so do the bytes of the WAV and FLAC
files; an OGG file's bytes differ from run to run (libogg draws a random stream serial number).

The set is written in a temporary sibling folder renamed into place at the end, so an
interrupted run never leaves a half-written set; `ensure_example_set` keeps one per layout, size
and seed under the data home.
"""

from __future__ import annotations

import argparse
import csv
import io
import os
import sys
from pathlib import Path
from typing import Callable, Sequence

import numpy as np
import soundfile as sf
from scipy import signal

from admlc_tf.data.home import ensure_generated
from admlc_tf.errors import DataError
from admlc_tf.files import write_folder_atomic

LAYOUTS = ("csv", "fsd50k", "desed")
# Bumped whenever the generated audio changes, so cached sets named with it are not reused.
EXAMPLES_VERSION = 1
LABELS = ("Dog bark", "door_knock", "Speech", "Siren wail")
# FSD50K spells labels with underscores; its vocabulary.csv gives this (non-alphabetical) order.
FSD50K_LABELS = ("Speech", "Dog_bark", "Siren_wail", "door_knock")
FSD50K_MIDS = {"Speech": "/m/09x0r", "Dog_bark": "/m/05tny_", "Siren_wail": "/m/03kmc9",
               "door_knock": "/m/07r4wb8"}
RATES = (22050, 44100, 48000)
FORMATS = (("wav", "WAV", "PCM_16"), ("flac", "FLAC", "PCM_16"), ("ogg", "OGG", "VORBIS"))
FSD50K_RATE = 44100
MIN_CLIPS = 10  # enough for stratified train, val and test splits
LONG_SECONDS = 12.0
SHORT_SECONDS = (0.5, 0.95)
TYPICAL_SECONDS = (2.0, 6.0)
NOISE_FLOOR_DB = (-58.0, -48.0)
EVENT_LEVEL_DB = (-24.0, -12.0)  # peak level of each labelled sound
EVENT_SPACING = 2.5  # seconds of clip per event of each of its labels
PEAK_LIMIT = 0.95
SPACED_CLIP = 2  # the clip whose file name holds a space


# --------------------------------------------------------------------------------------------
# Public API.
# --------------------------------------------------------------------------------------------


def write_example_set(root: str | os.PathLike, *, layout: str = "csv", n_clips: int = 48,
                      seed: int = 0, split_column: bool = False, fold_column: bool = False,
                      overwrite: bool = False) -> Path:
    """Writes a small labelled audio collection in one of the layouts `train.py` reads.

    Args:
      root: the folder to create; it must not exist, or be empty (unless `overwrite`).
      layout: "csv" (`labels.csv` + `audio/`), "fsd50k" (`FSD50K.ground_truth/` + the two audio
        folders) or "desed" (`metadata/train/weak.tsv` + `audio/train/weak/`).
      n_clips: clips in the set (at least 10). For "fsd50k", every fifth clip is in eval (the
        test split) and every fifth from the second on in dev's val split.
      seed: seed of everything random.
      split_column: csv only: add a `split` column (every fifth clip test, every fifth from the
        second on val, the rest train); otherwise splits are left to be made.
      fold_column: csv only: add a `fold` column (1-5, clip by clip).
      overwrite: replace an existing non-empty `root`.

    Returns:
      `root`, the folder to pass as `--data-dir`.

    Raises:
      ValueError: an unknown layout, too few clips, or a column option for another layout.
      FileExistsError: `root` holds files and `overwrite` is False.
    """
    if layout not in LAYOUTS:
        raise ValueError(f"layout {layout!r} is not one of {', '.join(LAYOUTS)}")
    if n_clips < MIN_CLIPS:
        raise ValueError(f"n_clips={n_clips}: need at least {MIN_CLIPS} for train, val and test")
    if layout != "csv" and (split_column or fold_column):
        raise ValueError("split_column and fold_column are options of the csv layout")
    root = Path(root).expanduser().absolute()
    if root.exists() and not overwrite and (not root.is_dir() or any(root.iterdir())):
        raise FileExistsError(f"{root} exists and is not empty: pass overwrite=True to replace "
                              "it, or choose a new folder")

    def write(staging: Path) -> None:
        plans = _plan(n_clips, seed, layout)
        if layout == "csv":
            _write_csv_layout(staging, plans, seed, split_column, fold_column)
        else:
            _WRITERS[layout](staging, plans, seed)

    return write_folder_atomic(root, write, overwrite=True)


def ensure_example_set(layout: str = "csv", *, n_clips: int = 48, seed: int = 0,
                       home: str | os.PathLike | None = None) -> Path:
    """The example set of `layout`, `n_clips` and `seed` under `<data home>/examples/`, written
    first when it is missing or incomplete; returns the folder to pass as `--data-dir`."""
    name = f"examples/{layout}-{n_clips}-clips-seed-{seed}-v{EXAMPLES_VERSION}"
    return ensure_generated(
        name, lambda target, overwrite: write_example_set(
            target, layout=layout, n_clips=n_clips, seed=seed, overwrite=overwrite),
        lambda folder: _is_complete(folder, layout),
        what="example set", detail=f"{layout} layout, {n_clips} clips", home=home)


def _is_complete(folder: Path, layout: str) -> bool:
    """Whether `folder` reads as a `layout` collection whose every listed file is there."""
    from admlc_tf.data.layouts.registry import load_collection  # (scikit-learn: lazily)

    if not folder.is_dir():
        return False
    try:
        load_collection(folder, layout=layout)
    except DataError:
        return False
    return True


def example_labels(layout: str = "csv") -> list[str]:
    """The label names of a set of `layout`, in the order train.py learns them by default
    (sorted for csv and desed, vocabulary.csv order for fsd50k)."""
    if layout not in LAYOUTS:
        raise ValueError(f"layout {layout!r} is not one of {', '.join(LAYOUTS)}")
    return list(FSD50K_LABELS) if layout == "fsd50k" else sorted(LABELS)


# --------------------------------------------------------------------------------------------
# Planning: one row per clip, independent of the layout's file format.
# --------------------------------------------------------------------------------------------


class _ClipPlan:
    __slots__ = ("index", "labels", "seconds", "rate", "format", "stereo", "stream")

    def __init__(self, index, labels, seconds, rate, format, stereo, stream):
        self.index, self.labels, self.seconds = index, labels, seconds
        self.rate, self.format, self.stereo = rate, format, stereo
        self.stream = stream  # seeds the clip's audio


def _plan(n_clips: int, seed: int, layout: str) -> list[_ClipPlan]:
    # Each layout draws its own clips, so sets of two layouts are different data.
    layout_id = LAYOUTS.index(layout)
    rng = np.random.default_rng([seed, 0, layout_id])
    fsd50k = layout == "fsd50k"
    plans = []
    for i in range(n_clips):
        first = LABELS[i % len(LABELS)]
        others = [label for label in LABELS if label != first]
        extra = rng.choice(3, p=(0.4, 0.4, 0.2))
        labels = (first, *(others[k] for k in sorted(rng.choice(3, extra, replace=False))))
        if i == 1:
            seconds = LONG_SECONDS
        elif i % 12 == 7:
            seconds = float(rng.uniform(*SHORT_SECONDS))
        else:
            seconds = float(rng.uniform(*TYPICAL_SECONDS))
        plans.append(_ClipPlan(
            i, labels, round(seconds, 3),
            FSD50K_RATE if fsd50k else RATES[i % len(RATES)],
            FORMATS[0] if fsd50k else FORMATS[(i // len(RATES)) % len(FORMATS)],
            not fsd50k and i % 8 == 3, [seed, 1, layout_id, i]))
    return plans


def _split_of(index: int) -> str:
    return {0: "test", 1: "val"}.get(index % 5, "train")


# --------------------------------------------------------------------------------------------
# Synthesis.
# --------------------------------------------------------------------------------------------


def synthesize_clip(labels: Sequence[str], *, seconds: float, rate: int,
                    rng: np.random.Generator, stereo: bool = False) -> np.ndarray:
    """Mixes the sounds of `labels` (names of `LABELS`) over a noise floor.

    Returns:
      `[samples]` float64 (or `[samples, 2]` when `stereo`), peak below full scale.
    """
    n = max(1, int(round(seconds * rate)))
    floor = rng.standard_normal(n) * 10.0 ** (rng.uniform(*NOISE_FLOOR_DB) / 20.0)
    pole = rng.uniform(0.3, 0.9)  # one-pole low-pass: a dull room hiss
    mix = signal.lfilter([1.0 - pole], [1.0, -pole], floor) * 3.0
    for label in labels:
        # About one event per EVENT_SPACING seconds, so a 4 s training crop of a long clip
        # rarely misses the sound its label names.
        for _ in range(max(1, int(round(seconds / EVENT_SPACING)))):
            event = SOUNDS[label](rng, rate)
            event = event[:n] / (np.max(np.abs(event)) + 1e-12)
            event *= 10.0 ** (rng.uniform(*EVENT_LEVEL_DB) / 20.0)
            start = int(rng.integers(0, n - len(event) + 1))
            mix[start:start + len(event)] += event
    if stereo:  # the right channel a little later and quieter, as from a second microphone
        delay = int(rng.integers(1, int(0.002 * rate) + 2))
        right = np.concatenate([np.zeros(delay), mix[:n - delay]]) * rng.uniform(0.6, 0.9)
        mix = np.stack([mix, right[:n]], axis=1)
    peak = np.max(np.abs(mix))
    return mix * (PEAK_LIMIT / peak) if peak > PEAK_LIMIT else mix


def _decay(n: int, rate: int, tau: float) -> np.ndarray:
    return np.exp(-np.arange(n) / (tau * rate))


def _edges(n: int, rate: int, seconds: float = 0.005) -> np.ndarray:
    """Raised-cosine 5 ms on/off ramps, so no event starts with a click it does not mean."""
    k = min(int(seconds * rate), n // 2)
    env = np.ones(n)
    if k:
        ramp = 0.5 - 0.5 * np.cos(np.pi * np.arange(k) / k)
        env[:k], env[n - k:] = ramp, ramp[::-1]
    return env


def dog_bark(rng: np.random.Generator, rate: int) -> np.ndarray:
    """2-4 barks: noise bursts band-passed around 600-1400 Hz, sharp attack, ~60 ms decay."""
    centre = rng.uniform(600.0, 1400.0)
    band = signal.butter(2, [centre / 1.6, min(centre * 1.6, 0.45 * rate)], "bandpass", fs=rate,
                         output="sos")
    out = []
    for _ in range(rng.integers(2, 5)):
        n = int(rng.uniform(0.1, 0.2) * rate)
        attack = np.minimum(np.arange(n) / (0.008 * rate), 1.0)
        burst = signal.sosfilt(band, rng.standard_normal(n)) * attack * _decay(n, rate, 0.06)
        out += [burst * _edges(n, rate), np.zeros(int(rng.uniform(0.08, 0.25) * rate))]
    return np.concatenate(out[:-1])


def door_knock(rng: np.random.Generator, rate: int) -> np.ndarray:
    """3-6 knocks 0.12-0.25 s apart: a sharp click (noise above 1.5 kHz, ~4 ms) on a wooden
    resonance (250-600 Hz and an inharmonic 2.7x partial) decaying in ~50 ms."""
    freq, gap = rng.uniform(250.0, 600.0), int(rng.uniform(0.12, 0.25) * rate)
    n_hits = int(rng.integers(3, 7))
    hit_n = int(0.15 * rate)
    t = np.arange(hit_n) / rate
    bright = signal.butter(2, 1500.0, "highpass", fs=rate, output="sos")
    out = np.zeros(gap * (n_hits - 1) + hit_n)
    for k in range(n_hits):
        click = signal.sosfilt(bright, rng.standard_normal(hit_n)) * _decay(hit_n, rate, 0.004)
        ring = (np.sin(2.0 * np.pi * freq * t) * _decay(hit_n, rate, 0.05)
                + 0.5 * np.sin(2.0 * np.pi * 2.7 * freq * t) * _decay(hit_n, rate, 0.02))
        start = k * gap
        out[start:start + hit_n] += (1.5 * click + ring) * rng.uniform(0.7, 1.0)
    return out


def speech(rng: np.random.Generator, rate: int) -> np.ndarray:
    """A phrase of 2-6 voiced syllables: 1/k harmonics of F0 100-220 Hz with 5-6 Hz vibrato."""
    f0 = rng.uniform(100.0, 220.0)
    harmonics = np.arange(1, int(min(20, 0.45 * rate / (f0 * 1.1))) + 1)
    out = []
    for _ in range(rng.integers(2, 7)):
        n = int(rng.uniform(0.12, 0.3) * rate)
        t = np.arange(n) / rate
        pitch = f0 * rng.uniform(0.85, 1.2) * (1.0 + 0.03 * np.sin(2 * np.pi * rng.uniform(5, 6)
                                                                    * t))
        phase = 2.0 * np.pi * np.cumsum(pitch) / rate
        tone = (np.sin(np.outer(phase, harmonics)) / harmonics).sum(axis=1)
        out += [tone * np.sin(np.pi * np.arange(n) / n) ** 2,  # syllabic envelope
                np.zeros(int(rng.uniform(0.03, 0.12) * rate))]
    return np.concatenate(out[:-1])


def siren_wail(rng: np.random.Generator, rate: int) -> np.ndarray:
    """1-3 s of a tone sweeping +-30% around 800-1300 Hz at 0.4-0.9 Hz, with two harmonics."""
    n = int(rng.uniform(1.0, 3.0) * rate)
    t = np.arange(n) / rate
    freq = rng.uniform(800.0, 1300.0) * (1.0 + 0.3 * np.sin(2 * np.pi * rng.uniform(0.4, 0.9) * t
                                                            + rng.uniform(0, 2 * np.pi)))
    phase = 2.0 * np.pi * np.cumsum(freq) / rate
    tone = np.sin(phase) + 0.4 * np.sin(2 * phase) + 0.15 * np.sin(3 * phase)
    return tone * _edges(n, rate, 0.05)


SOUNDS: dict[str, Callable[[np.random.Generator, int], np.ndarray]] = {
    "Dog bark": dog_bark, "door_knock": door_knock, "Speech": speech, "Siren wail": siren_wail,
}


# --------------------------------------------------------------------------------------------
# Writing.
# --------------------------------------------------------------------------------------------


def _write_audio(path: Path, plan: _ClipPlan, seed: int) -> None:
    # One stream per clip, so a clip's audio does not depend on the clips before it.
    rng = np.random.default_rng(plan.stream)
    audio = synthesize_clip(plan.labels, seconds=plan.seconds, rate=plan.rate, rng=rng,
                            stereo=plan.stereo)
    _, container, subtype = plan.format
    if subtype == "PCM_16":  # quantise here, so the bytes do not depend on libsndfile's scaling
        audio = np.round(np.clip(audio, -1.0, 1.0) * 32767.0).astype(np.int16)
    else:
        audio = audio.astype(np.float32)
    path.parent.mkdir(parents=True, exist_ok=True)
    sf.write(path, audio, plan.rate, format=container, subtype=subtype)


def _file_stem(plan: _ClipPlan) -> str:
    if plan.index == SPACED_CLIP:
        return f"street clip {plan.index:03d}"
    return f"clip_{plan.index:03d}"


def _csv_text(rows: Sequence[Sequence[object]], delimiter: str = ",") -> str:
    text = io.StringIO()
    csv.writer(text, delimiter=delimiter, lineterminator="\n").writerows(rows)
    return text.getvalue()


def _write_csv_layout(staging: Path, plans: Sequence[_ClipPlan], seed: int,
                      split_column: bool = False, fold_column: bool = False) -> None:
    header = ["file", "labels"] + ["split"] * split_column + ["fold"] * fold_column
    rows = [header]
    for plan in plans:
        name = f"audio/{_file_stem(plan)}.{plan.format[0]}"
        _write_audio(staging / name, plan, seed)
        rows.append([name, ";".join(plan.labels)] + [_split_of(plan.index)] * split_column
                    + [plan.index % 5 + 1] * fold_column)
    (staging / "labels.csv").write_text(_csv_text(rows), encoding="utf-8")


def _write_fsd50k_layout(staging: Path, plans: Sequence[_ClipPlan], seed: int) -> None:
    truth = staging / "FSD50K.ground_truth"
    truth.mkdir()
    (truth / "vocabulary.csv").write_text(_csv_text(
        [(i, label, FSD50K_MIDS[label]) for i, label in enumerate(FSD50K_LABELS)]))
    ids = np.random.default_rng([seed, 2]).choice(np.arange(1000, 450000), len(plans),
                                                 replace=False)
    dev, evaluation = [["fname", "labels", "mids", "split"]], [["fname", "labels", "mids"]]
    for plan, fname in zip(plans, ids):
        labels = [label.replace(" ", "_") for label in plan.labels]
        row = [int(fname), ",".join(labels), ",".join(FSD50K_MIDS[label] for label in labels)]
        split = _split_of(plan.index)
        folder = "FSD50K.eval_audio" if split == "test" else "FSD50K.dev_audio"
        _write_audio(staging / folder / f"{fname}.wav", plan, seed)
        (evaluation if split == "test" else dev).append(row + [split] * (split != "test"))
    (truth / "dev.csv").write_text(_csv_text(dev))
    (truth / "eval.csv").write_text(_csv_text(evaluation))


def _write_desed_layout(staging: Path, plans: Sequence[_ClipPlan], seed: int) -> None:
    rng = np.random.default_rng([seed, 3])
    alphabet = np.array(list("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"))
    rows = [["filename", "event_labels"]]
    for plan in plans:
        # YouTube-style names, `Y<id>_<start>_<end>`, as DESED's; one with a space.
        token = "".join(rng.choice(alphabet, 11))
        start = float(rng.integers(0, 300))
        stem = (f"Y{token} {start:.3f}" if plan.index == SPACED_CLIP
                else f"Y{token}_{start:.3f}_{start + plan.seconds:.3f}")
        filename = f"{stem}.{plan.format[0]}"
        _write_audio(staging / "audio/train/weak" / filename, plan, seed)
        rows.append([filename, ",".join(plan.labels)])
    (staging / "metadata/train").mkdir(parents=True)
    (staging / "metadata/train/weak.tsv").write_text(_csv_text(rows, "\t"), encoding="utf-8")


_WRITERS = {"csv": _write_csv_layout, "fsd50k": _write_fsd50k_layout,
            "desed": _write_desed_layout}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m admlc_tf.data.generated.examples",
        description="Write a small synthetic labelled audio set in a layout train.py reads.")
    parser.add_argument("folder", help="the folder to create (then pass it as --data-dir)")
    parser.add_argument("--layout", choices=LAYOUTS, default="csv")
    parser.add_argument("--clips", type=int, default=48, help="clips in the set (48)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--split-column", action="store_true",
                        help="csv: add a train/val/test split column")
    parser.add_argument("--fold-column", action="store_true", help="csv: add a fold column")
    parser.add_argument("--overwrite", action="store_true", help="replace an existing folder")
    args = parser.parse_args(argv)
    if args.layout != "csv" and (args.split_column or args.fold_column):
        parser.error("--split-column and --fold-column are options of --layout csv")
    if args.clips < MIN_CLIPS:
        parser.error(f"--clips {args.clips}: need at least {MIN_CLIPS}")
    try:
        root = write_example_set(args.folder, layout=args.layout, n_clips=args.clips,
                                 seed=args.seed, split_column=args.split_column,
                                 fold_column=args.fold_column, overwrite=args.overwrite)
    except OSError as e:  # FileExistsError included
        print(f"error: {e}", file=sys.stderr)
        return 2
    print(f"Wrote {args.clips} clips ({args.layout} layout, labels "
          f"{', '.join(example_labels(args.layout))}) to {root}\n"
          f"Train on them with: python train.py --data-dir {root}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
