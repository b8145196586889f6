"""A real-recording benchmark that admlc-tf builds itself, and its linear baseline (issue #17).

    python benchmarks/real_audio.py build OUT_DIR [--seed 0] [--clips 400] [--eval-clips 150]
    python benchmarks/real_audio.py baseline OUT_DIR [--json scores.json]
    python train.py --data-dir OUT_DIR ...            # a plain folder with labels.csv

`build` fetches a few Debian packages that ship real recordings (`apt-get download` and
`dpkg-deb -x` into `$ADMLC_DATA_HOME/real-audio-sources`, default
`~/.cache/admlc-tf/real-audio-sources`: no root install, no change to the system), and mixes
their sounds into 4 s mono 16 kHz clips (16-bit WAV) with 1-3 labels each, written as a folder
with `labels.csv` (`file,labels,split`, labels joined with `;`). The folder is written
beside OUT_DIR and renamed into place; a complete set in OUT_DIR made with the same settings is
reused, any other is refused without `--overwrite`. Scripts keep the default set (seed 0, 400 +
150 clips) in `default_set_dir()`, `$ADMLC_DATA_HOME/real-audio-v1`.

Six labels, each from several distinct source recordings; development (train + val) and
evaluation (test) use DIFFERENT recordings of every label:

  label    development recordings                      evaluation recordings
  speech   Asterisk prompts: Allison (en-US, es-MX),    Asterisk prompts: June (fr-CA), the
           Carlo (it-IT); Fish Fillets NG Czech cast    ru-RU voice; Fish Fillets NG Dutch cast
  drums    Hydrogen kits GMRockKit, Colombo Acoustic,   Hydrogen kits Millo (Ludwig, 3 takes),
           The Black Pearl                              BJA Pacific; Sonic Pi drum_* (freesound)
  piano    FreePats Acoustic Grand, Electric Grand;     FreePats Acoustic Brite; Sonic Pi
           FluidR3 Yamaha Grand                         ambi_piano (freesound)
  guitar   FreePats Nylon, Clean Electric, Overdriven;  FreePats Steel, Jazz, Distortion;
           FluidR3 Steel String, Distortion             Sonic Pi guit_* (freesound)
  strings  FreePats Violin, String Ensemble (marcato);  FreePats Cello, Tremolo Strings
           FluidR3 Viola, Cello
  brass    FreePats Trumpet, Tuba, Brass Section;       FreePats Trombone, French Horn
           FluidR3 Trombone, French Horns

The instrument labels are General MIDI sample libraries (FreePats, FluidR3) and freesound
recordings: every note is a recorded sample of a real instrument, and dev and eval never share
a library preset or a recording, though they share instrument types (a FluidR3 cello in dev, the
FreePats cello in eval), as CHiME-Home's development and evaluation share kinds of speakers.

Licences (all free; the clips are derived works, so they are not redistributed by the
project): Asterisk prompts CC-BY-SA-3.0; Fish Fillets NG voices GPL-2+; Hydrogen kits GPL-2 /
GPL-2+ (GMRockKit, Colombo, Black Pearl, Millo) and CC-BY-SA-3.0-US (BJA Pacific); FreePats
GPL-2+ (with a sound-use exception); FluidR3 GM MIT; Sonic Pi samples CC0 (freesound.org).
`RECORDINGS` below is the manifest: package, licence, label, part and file patterns of each
recording.

How a clip is made (`--seed` fixes everything; clip i depends only on the seed, its part and
i, so the same seed gives byte-identical files and `labels.csv`): 1-3 distinct labels (35%
one, 45% two, 20% three); each label gets one or two events at a random onset (at least 0.5 s
of the event inside the clip), scaled to an active RMS level drawn from -30..-14 dBFS; in 30% of
the clips the first label is a quieter background (-38..-28 dBFS) that fills the whole clip.
An event is a short "performance" of real samples of one recording: 1-2 speech prompts with
pauses; a drum pattern of 3-10 hits of one kit on a random tempo grid; a phrase of 2-5 notes of
one instrument patch (each note a real recorded sample, sustained through the patch's loop
points when it is shorter than 1.2 s). Events are cut to 3 s. The mix is scaled down if its peak
exceeds 0.9. No noise or reverberation is added. 20% of the development clips (seeded) are
`val`, the rest `train`; every evaluation clip is `test`. `events.csv` lists each clip's events
(label, recording, source file, onset, level) and `manifest.json` the settings, the package
versions and the recordings of each part.

Limits, to keep in mind when reading a score on it:
- Mixtures, not scenes: real sounds placed at random in digital silence; no room, no noise,
  no overlap statistics of real life. Absolute EERs are not comparable to CHiME-Home or FSD50K.
- Few recordings per label (2-5 per part), so the dev/eval shift is large and lumpy: one
  evaluation recording unlike the development ones can dominate a label's EER. That shift is
  what the set is for; `val` shares recordings with `train` and so reads far better than
  `test` (an optimistic early-stopping signal).
- Channel cues: the Asterisk prompts are 8 kHz telephone-band speech (nothing above 4 kHz),
  the Fish Fillets voices 22 kHz; FreePats samples are short, partly looped notes; the melodic
  material is generated (random notes), only the sounds are recorded.
- The sources are what Debian bookworm ships; a different package version may change the
  sources (the build warns when a version differs from the manifest's) and so the bytes.

`baseline` computes each clip's log-mel mean and standard deviation over time (the project's
default `FeatureConfig`: 40 bands, 80 numbers per clip), standardises them on the training
data and fits one-vs-rest logistic regression (scikit-learn, lbfgs). C is chosen from
{0.01, 0.1, 1, 10} by the mean EER on `val`; the model is then refitted on train + val with that
C and scored on `test` with the project's tagging report (per-label EER, ROC AUC, AP). It is
deterministic (lbfgs on fixed data): `--seeds` is accepted for scripts that pass one but does
not change the result.

`--tiny` builds a handful of clips from at most 6 files per recording, for a smoke run. Only if
the packages cannot be fetched does `--tiny` fall back to generated stand-in sounds, and it then
says so on stderr and in manifest.json (`"synthetic_fallback": true`); the full build never
falls back.
"""

from __future__ import annotations

import argparse
import csv
import dataclasses
import io
import json
import os
import shutil
import struct
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Callable, Optional, Sequence

if not __package__:  # `python benchmarks/real_audio.py`: the library from this checkout
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402
import soundfile as sf  # noqa: E402

from admlc_tf.cli import run_cli  # noqa: E402
from admlc_tf.errors import DataError  # noqa: E402
from admlc_tf.files import move_folder_into_place  # noqa: E402

# Bumped whenever the mixing changes, so a set's manifest tells which recipe made it.
RECIPE_VERSION = 1
RATE = 16000
N_DEV, N_EVAL = 400, 150  # the default set: 320 train + 80 val, 150 test
TINY_N_DEV, TINY_N_EVAL = 24, 12
CLIP_SECONDS = 4.0
LABELS = ("speech", "drums", "piano", "guitar", "strings", "brass")
PARTS = ("dev", "eval")
LABEL_COUNT_P = (0.35, 0.45, 0.20)  # P(1, 2, 3 labels)
BACKGROUND_P = 0.3
EVENT_DB = (-30.0, -14.0)
BACKGROUND_DB = (-38.0, -28.0)
MAX_EVENT_SECONDS = 3.0
MIN_INSIDE_SECONDS = 0.5
PEAK_LIMIT = 0.9
VAL_FRACTION = 0.2
MAX_FILES = 160  # per recording, evenly spaced over its sorted files, to keep loading quick
TINY_MAX_FILES = 6
SOURCES_DIR = "real-audio-sources"
C_GRID = (0.01, 0.1, 1.0, 10.0)

SPEECH, PATTERN, PHRASE = "utterance", "pattern", "phrase"
STYLE = {"speech": SPEECH, "drums": PATTERN, "piano": PHRASE, "guitar": PHRASE,
         "strings": PHRASE, "brass": PHRASE}

FREEPATS = "usr/share/midi/freepats/Tone_000"
HYDROGEN = "usr/share/hydrogen/data/drumkits"
SONIC_PI = "usr/share/sonic-pi/samples"
ASTERISK = "usr/share/asterisk/sounds"
FILLETS = "usr/share/games/fillets-ng/sound"
KIT_FILES = ("*.wav", "*.flac", "*.aiff", "*.aif")


@dataclasses.dataclass(frozen=True)
class Recording:
    """One entry of the manifest: a set of files of one source recording in one package.

    Attributes:
      label: the label its sounds carry.
      source: the distinct recording (speaker, kit, instrument); dev and eval share none.
      part: "dev" or "eval".
      package: the Debian package shipping it.
      version: the package version the manifest was written against.
      licence: the files' licence, as the package's copyright file gives it.
      patterns: globs relative to the package's root.
      exclude: substrings of paths to leave out.
      reader: "audio" (one sound per file), "pat" (a GUS patch: one sound per sample) or
        "sf2" (a SoundFont: one sound per sample of the General MIDI `program`).
      program: the SoundFont preset (bank 0) of an "sf2" recording.
    """

    label: str
    source: str
    part: str
    package: str
    version: str
    licence: str
    patterns: tuple[str, ...]
    exclude: tuple[str, ...] = ()
    reader: str = "audio"
    program: Optional[int] = None


def _kit(name: str, part: str, package: str, version: str, licence: str,
         folders: Sequence[str]) -> Recording:
    return Recording("drums", name, part, package, version, licence,
                     tuple(f"{HYDROGEN}/{f}/{p}" for f in folders for p in KIT_FILES))


def _pats(label: str, part: str, names: Sequence[str]) -> list[Recording]:
    return [Recording(label, f"FreePats {n.split('_', 1)[1].replace('_', ' ')}", part,
                      "freepats", "20060219-4", "GPL-2+", (f"{FREEPATS}/{n}.pat",), reader="pat")
            for n in names]


def _fluid(label: str, part: str, programs: dict[int, str]) -> list[Recording]:
    return [Recording(label, f"FluidR3 {name}", part, "fluid-soundfont-gm", "3.1-5.3", "MIT",
                      ("usr/share/sounds/sf2/FluidR3_GM.sf2",), reader="sf2", program=program)
            for program, name in programs.items()]


_AST = "1.6.1-1"
_SONIC = ("sonic-pi-samples", "3.2.2~repack-8", "CC0-1.0")
_DRUMKITS = ("hydrogen-drumkits", "2017.09.19~dfsg-1")
RECORDINGS: tuple[Recording, ...] = (
    # speech
    Recording("speech", "Asterisk Allison (en-US, es-MX)", "dev", "asterisk-core-sounds-en-wav",
              _AST, "CC-BY-SA-3.0", (f"{ASTERISK}/en_US_f_Allison/**/*.wav",), ("/silence/",)),
    Recording("speech", "Asterisk Allison (en-US, es-MX)", "dev", "asterisk-core-sounds-es-wav",
              _AST, "CC-BY-SA-3.0", (f"{ASTERISK}/es_MX_f_Allison/**/*.wav",), ("/silence/",)),
    Recording("speech", "Asterisk Carlo (it-IT)", "dev", "asterisk-core-sounds-it-wav", _AST,
              "CC-BY-SA-3.0", (f"{ASTERISK}/it_IT_m_Carlo/**/*.wav",), ("/silence/",)),
    Recording("speech", "Fish Fillets NG Czech voices", "dev", "fillets-ng-data-cs", "1.0.1-1.1",
              "GPL-2+", (f"{FILLETS}/**/cs/*.ogg",)),
    Recording("speech", "Asterisk June (fr-CA)", "eval", "asterisk-core-sounds-fr-wav", _AST,
              "CC-BY-SA-3.0", (f"{ASTERISK}/fr_CA_f_June/**/*.wav",), ("/silence/",)),
    Recording("speech", "Asterisk IvrvoiceRU (ru-RU)", "eval", "asterisk-core-sounds-ru-wav",
              _AST, "CC-BY-SA-3.0", (f"{ASTERISK}/ru_RU_f_IvrvoiceRU/**/*.wav",),
              ("/silence/",)),
    Recording("speech", "Fish Fillets NG Dutch voices", "eval", "fillets-ng-data-nl", "1.0.1-1.1",
              "GPL-2+", (f"{FILLETS}/**/nl/*.ogg",)),
    # drums
    _kit("Hydrogen GMRockKit", "dev", "hydrogen-data", "1.2.0~beta1+dfsg-1", "GPL-2",
         ["GMRockKit"]),
    _kit("Hydrogen Colombo Acoustic", "dev", *_DRUMKITS, "GPL-2+", ["ColomboAcousticDrumkit"]),
    _kit("Hydrogen The Black Pearl", "dev", *_DRUMKITS, "GPL-2", ["The Black Pearl 1.0"]),
    _kit("Hydrogen Millo (Ludwig kit)", "eval", *_DRUMKITS, "GPL-2",
         ["Millo-Drums_v.1", "Millo_MultiLayered2", "Millo_MultiLayered3"]),
    _kit("Hydrogen BJA Pacific", "eval", *_DRUMKITS, "CC-BY-SA-3.0-US", ["BJA_Pacific"]),
    Recording("drums", "Sonic Pi drum_* (freesound menegass et al.)", "eval", *_SONIC,
              (f"{SONIC_PI}/drum_*.flac",), ("drum_cowbell",)),
    # piano
    *_pats("piano", "dev", ["000_Acoustic_Grand_Piano", "002_Electric_Grand_Piano"]),
    *_fluid("piano", "dev", {0: "Yamaha Grand Piano"}),
    *_pats("piano", "eval", ["001_Acoustic_Brite_Piano"]),
    Recording("piano", "Sonic Pi ambi_piano (freesound RutgerMuller)", "eval", *_SONIC,
              (f"{SONIC_PI}/ambi_piano.flac",)),
    # guitar
    *_pats("guitar", "dev", ["024_Nylon_Guitar", "027_Clean_Electric_Guitar",
                             "029_Overdriven_Guitar"]),
    *_fluid("guitar", "dev", {25: "Steel String Guitar", 30: "Distortion Guitar"}),
    *_pats("guitar", "eval", ["025_Steel_Guitar", "026_Jazz_Guitar", "030_Distortion_Guitar"]),
    Recording("guitar", "Sonic Pi guit_* (freesound)", "eval", *_SONIC,
              (f"{SONIC_PI}/guit_*.flac",)),
    # bowed strings
    *_pats("strings", "dev", ["040_Violin", "048_String_Ensemble_1_Marcato"]),
    *_fluid("strings", "dev", {41: "Viola", 42: "Cello"}),
    *_pats("strings", "eval", ["042_Cello", "044_Tremolo_Strings"]),
    # brass
    *_pats("brass", "dev", ["056_Trumpet", "058_Tuba", "061_Brass_Section"]),
    *_fluid("brass", "dev", {57: "Trombone", 60: "French Horns"}),
    *_pats("brass", "eval", ["057_Trombone", "060_French_Horn"]),
)


@dataclasses.dataclass
class SourceSet:
    """Decoded sounds of one recording: `sounds[i]` is `[n]` float32 at 16 kHz from `files[i]`."""

    label: str
    source: str
    part: str
    files: list[str]
    sounds: list[np.ndarray]


# --------------------------------------------------------------------------------------------
# Sources: fetch the packages, decode the recordings.
# --------------------------------------------------------------------------------------------


def sources_home() -> Path:
    """`$ADMLC_DATA_HOME/real-audio-sources` (default `~/.cache/admlc-tf/real-audio-sources`)."""
    from admlc_tf.data.home import data_home

    return data_home() / SOURCES_DIR


def fetch_package(package: str, home: Path, *, log: Callable[[str], None] = print
                  ) -> tuple[Path, str]:
    """Downloads and unpacks one Debian package into `home/packages/<package>` once.

    Returns:
      The unpacked root and the package's version.

    Raises:
      DataError: apt-get or dpkg-deb is missing or fails.
    """
    root = home / "packages" / package
    marker = root / ".admlc-version"
    if marker.is_file():
        return root, marker.read_text().strip()
    debs = home / "debs"
    debs.mkdir(parents=True, exist_ok=True)
    found = sorted(debs.glob(f"{package}_*.deb"))
    if not found:
        log(f"real-audio: downloading {package} (apt-get download)")
        try:
            proc = subprocess.run(["apt-get", "download", package], cwd=debs,
                                  capture_output=True, text=True)
        except FileNotFoundError:
            raise DataError(f"apt-get is missing: fetching {package} needs Debian's apt "
                            "(or copy its .deb into " f"{debs})") from None
        found = sorted(debs.glob(f"{package}_*.deb"))
        if proc.returncode != 0 or not found:
            reason = (proc.stderr.strip().splitlines() or ["no .deb written"])[-1]
            raise DataError(f"cannot download the Debian package {package} ({reason}): run "
                            f"`apt-get update`, or put its .deb into {debs}")
    deb = found[-1]
    staging = Path(tempfile.mkdtemp(prefix=f".{package}.", dir=debs))
    try:
        subprocess.run(["dpkg-deb", "-x", str(deb), str(staging)], check=True,
                       capture_output=True)
        version = subprocess.run(["dpkg-deb", "-f", str(deb), "Version"], check=True,
                                 capture_output=True, text=True).stdout.strip()
        (staging / ".admlc-version").write_text(version + "\n")
        root.parent.mkdir(parents=True, exist_ok=True)
        move_folder_into_place(staging, root, overwrite=True)
        deb.unlink()  # the unpacked tree (and its version marker) is all a build reads
    except (OSError, subprocess.CalledProcessError) as e:
        shutil.rmtree(staging, ignore_errors=True)
        raise DataError(f"cannot unpack {deb} ({e}): delete it and build again") from None
    return root, version


def recording_files(recording: Recording, root: Path, *, max_files: int) -> list[Path]:
    """The recording's files under its package root, sorted, thinned evenly to `max_files`."""
    files = sorted({p for pattern in recording.patterns for p in root.glob(pattern)
                    if p.is_file() and not any(x in p.as_posix() for x in recording.exclude)})
    if len(files) > max_files:
        files = [files[i] for i in np.linspace(0, len(files) - 1, max_files).round().astype(int)]
    return files


def read_gus_patch(path: Path) -> list[tuple[np.ndarray, int, Optional[tuple[int, int]]]]:
    """Decodes a Gravis UltraSound patch (FreePats' format).

    Returns:
      One `(samples [n] float32, rate, loop (start, end) in samples or None)` per wave sample.
    """
    data = path.read_bytes()
    if data[:8] != b"GF1PATCH":
        raise DataError(f"{path} is not a GUS patch: delete the unpacked package to fetch it again")
    n_waves, offset, waves = data[198], 239, []  # 129-byte header, 63 instrument, 47 layer
    for _ in range(n_waves):
        length, loop_start, loop_end = struct.unpack_from("<iii", data, offset + 8)
        rate, = struct.unpack_from("<H", data, offset + 20)
        modes = data[offset + 55]
        offset += 96
        raw = data[offset:offset + length]
        offset += length
        wide, unsigned = modes & 1, modes & 2
        dtype = ("<u2" if unsigned else "<i2") if wide else ("u1" if unsigned else "i1")
        x = np.frombuffer(raw, dtype).astype(np.float32)
        full = 32768.0 if wide else 128.0
        x = (x - full if unsigned else x) / full
        step = 2 if wide else 1
        loop = (loop_start // step, loop_end // step) if modes & 4 else None
        waves.append((x, int(rate), loop))
    return waves


def _riff_chunks(data: bytes, offset: int, end: int):
    while offset + 8 <= end:
        size, = struct.unpack_from("<I", data, offset + 4)
        yield data[offset:offset + 4], offset + 8, size
        offset += 8 + size + (size & 1)


def read_soundfont(path: Path, program: int
                   ) -> list[tuple[str, np.ndarray, int, Optional[tuple[int, int]]]]:
    """Decodes the samples that General MIDI `program` (bank 0) of a SoundFont 2 file plays.

    Preset -> its instruments (generator 41) -> their samples (generator 53); of a stereo pair
    only the left sample is kept.

    Returns:
      One `(sample name, samples [n] float32, rate, loop (start, end) or None)` per sample.
    """
    data = path.read_bytes()
    if data[:4] != b"RIFF" or data[8:12] != b"sfbk":
        raise DataError(f"{path} is not a SoundFont 2 file: delete the unpacked package to fetch "
                        "it again")
    chunks = {}
    for cid, offset, size in _riff_chunks(data, 12, len(data)):
        if cid == b"LIST":
            chunks.update({sub.decode("latin-1"): (o, n)
                           for sub, o, n in _riff_chunks(data, offset + 4, offset + size)})

    def records(name: str, fmt: str) -> list[tuple]:
        offset, size = chunks[name]
        step = struct.calcsize(fmt)
        return [struct.unpack_from(fmt, data, offset + i * step) for i in range(size // step)]

    phdr, pbag, pgen = records("phdr", "<20sHHHIII"), records("pbag", "<HH"), records("pgen", "<HH")
    inst, ibag, igen = records("inst", "<20sH"), records("ibag", "<HH"), records("igen", "<HH")
    shdr = records("shdr", "<20sIIIIIBbHH")
    smpl = chunks["smpl"][0]

    def generators(bags, gens, first_bag, end_bag, operator):
        return [gens[g][1] for b in range(first_bag, end_bag)
                for g in range(bags[b][0], bags[b + 1][0]) if gens[g][0] == operator]

    sample_ids: list[int] = []
    for i, preset in enumerate(phdr[:-1]):
        if preset[1] != program or preset[2] != 0:
            continue
        for k in generators(pbag, pgen, preset[3], phdr[i + 1][3], 41):
            for sid in generators(ibag, igen, inst[k][1], inst[k + 1][1], 53):
                if sid not in sample_ids and shdr[sid][9] in (1, 4):  # mono or left
                    sample_ids.append(sid)
    out = []
    for sid in sample_ids:
        name, start, end, loop_start, loop_end, rate = shdr[sid][:6]
        x = np.frombuffer(data, "<i2", end - start, smpl + 2 * start).astype(np.float32) / 32768
        loop = (loop_start - start, loop_end - start) if loop_end > loop_start else None
        out.append((name.split(b"\0")[0].decode("latin-1"), x, int(rate), loop))
    return out


def _resample(x: np.ndarray, rate: int) -> np.ndarray:
    if rate == RATE:
        return x.astype(np.float32)
    import librosa

    return librosa.resample(x, orig_sr=rate, target_sr=RATE).astype(np.float32)


def _sustain(x: np.ndarray, rate: int, loop: Optional[tuple[int, int]]) -> np.ndarray:
    """A patch note held to at least 1.2 s through its loop, as a sampler plays it."""
    want = int(1.2 * rate)
    if loop is None or len(x) >= want or not 0 <= loop[0] < loop[1] <= len(x):
        return x
    body = x[loop[0]:loop[1]]
    repeats = int(np.ceil((want - loop[0]) / len(body)))
    return np.concatenate([x[:loop[0]], np.tile(body, repeats)])[:want]


def _trim(x: np.ndarray) -> np.ndarray:
    """Drops leading and trailing samples more than 50 dB below the peak."""
    peak = float(np.max(np.abs(x))) if x.size else 0.0
    if peak <= 0:
        return x[:0]
    loud = np.flatnonzero(np.abs(x) > peak * 10 ** (-50 / 20))
    return x[loud[0]:loud[-1] + 1]


def decode_recording(recording: Recording, root: Path, *, max_files: int) -> SourceSet:
    """Reads a recording's files as 16 kHz mono sounds, trimmed of silence.

    Raises:
      DataError: the package holds none of the recording's files.
    """
    from admlc_tf.features import read_audio

    files, sounds = [], []
    for path in recording_files(recording, root, max_files=max_files):
        name = path.relative_to(root).as_posix()
        if recording.reader == "pat":
            pieces = [_resample(_sustain(x, rate, loop), rate)
                      for x, rate, loop in read_gus_patch(path)]
        elif recording.reader == "sf2":
            named = read_soundfont(path, recording.program)
            pieces = [_resample(_sustain(x, rate, loop), rate) for _, x, rate, loop in named]
        else:
            try:
                pieces = [read_audio(path, sample_rate=RATE)]
            except DataError as e:  # a few packaged files are empty: skip them, keep the rest
                print(f"real-audio: skipping {name}: {e}", file=sys.stderr)
                continue
        for i, piece in enumerate(pieces):
            piece = _trim(piece)
            if len(piece) >= int(0.05 * RATE):
                if recording.reader == "sf2":
                    files.append(f"{name}#{named[i][0]}")
                else:
                    files.append(name if len(pieces) == 1 else f"{name}#{i}")
                sounds.append(piece)
    if not sounds:
        raise DataError(f"package {recording.package} holds no sound for {recording.source} "
                        f"({', '.join(recording.patterns)}): delete {root} to fetch it again")
    return SourceSet(recording.label, recording.source, recording.part, files, sounds)


def load_sources(*, max_files: int, home: Optional[Path] = None,
                 log: Callable[[str], None] = print) -> tuple[list[SourceSet], dict]:
    """Fetches the manifest's packages and decodes every recording.

    Returns:
      The recordings' sounds (merged per source, in manifest order) and `{package: version}`.
    """
    home = home or sources_home()
    versions, merged = {}, {}
    for rec in RECORDINGS:
        if rec.package not in versions:
            _, versions[rec.package] = fetch_package(rec.package, home, log=log)
            if versions[rec.package] != rec.version:
                log(f"real-audio: warning: {rec.package} is {versions[rec.package]}, the manifest "
                    f"was written for {rec.version}: the clips may differ from other builds")
    for rec in RECORDINGS:
        got = decode_recording(rec, home / "packages" / rec.package, max_files=max_files)
        key = (rec.label, rec.source, rec.part)
        if key in merged:
            merged[key].files += got.files
            merged[key].sounds += got.sounds
        else:
            merged[key] = got
    return list(merged.values()), versions


def synthetic_sources(*, n_files: int = 4, seed: int = 0) -> list[SourceSet]:
    """Stand-in sounds with the manifest's structure: per label, two dev and two eval
    "recordings", each a family of tones or noise bursts with its own colour. For tests and
    the `--tiny` fallback only; nothing here is a recording."""
    rng = np.random.default_rng([seed, 7])
    sets = []
    for li, label in enumerate(LABELS):
        for part in PARTS:
            for r in range(2):
                base = 110.0 * 2 ** (li / 2 + r / 5 + (part == "eval") / 9)
                sounds, files = [], []
                for k in range(n_files):
                    n = int(RATE * rng.uniform(0.2, 1.0))
                    t = np.arange(n) / RATE
                    env = np.exp(-t * rng.uniform(2, 8))
                    if STYLE[label] == PATTERN:
                        x = rng.standard_normal(n) * np.exp(-t * 30)
                    else:
                        x = sum(np.sin(2 * np.pi * base * h * (1 + k / 12) * t) / h
                                for h in range(1, 5)) * env
                    sounds.append(x.astype(np.float32))
                    files.append(f"synthetic/{label}-{part}-{r}/{k}.wav")
                sets.append(SourceSet(label, f"synthetic {label} {part} {r}", part, files,
                                      sounds))
    return sets


# --------------------------------------------------------------------------------------------
# Mixing.
# --------------------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class Event:
    label: str
    source: str
    files: tuple[str, ...]
    onset: float
    level_db: float
    background: bool


def _fade_out(x: np.ndarray, seconds: float = 0.03) -> np.ndarray:
    n = min(len(x), int(seconds * RATE))
    x = x.copy()
    if n:
        x[-n:] *= np.linspace(1.0, 0.0, n, dtype=np.float32)
    return x


def _cut(x: np.ndarray, seconds: float) -> np.ndarray:
    n = int(seconds * RATE)
    return _fade_out(x[:n]) if len(x) > n else x


def _overlay(parts: Sequence[tuple[int, np.ndarray]]) -> np.ndarray:
    out = np.zeros(max(start + len(x) for start, x in parts), np.float32)
    for start, x in parts:
        out[start:start + len(x)] += x
    return out


def make_event(source: SourceSet, rng: np.random.Generator) -> tuple[np.ndarray, list[str]]:
    """A short performance of one recording's sounds, cut to 3 s.

    Returns:
      `[n]` float32 at 16 kHz and the files it used.
    """
    style = STYLE[source.label]
    pick = lambda: int(rng.integers(len(source.sounds)))  # noqa: E731
    if style == SPEECH:
        chosen = [pick() for _ in range(int(rng.integers(1, 3)))]
        parts, start = [], 0
        for i in chosen:
            parts.append((start, source.sounds[i]))
            start += len(source.sounds[i]) + int(rng.uniform(0.15, 0.5) * RATE)
    elif style == PATTERN:
        beat = rng.uniform(0.12, 0.3)
        steps = np.sort(rng.choice(12, size=int(rng.integers(3, 11)), replace=False))
        chosen = [pick() for _ in steps]
        parts = [(int(s * beat * RATE), _cut(source.sounds[i], 1.0))
                 for s, i in zip(steps, chosen)]
    else:
        chosen = [pick() for _ in range(int(rng.integers(2, 6)))]
        parts, start = [], 0
        for i in chosen:
            ioi = rng.uniform(0.2, 0.6)
            parts.append((start, _cut(source.sounds[i], ioi + rng.uniform(0.1, 0.8))))
            start += int(ioi * RATE)
    return _cut(_overlay(parts), MAX_EVENT_SECONDS), [source.files[i] for i in chosen]


def _active_rms(x: np.ndarray, frame: int = 512) -> float:
    n = len(x) // frame * frame or len(x)
    frames = np.sqrt(np.mean(np.square(x[:n].reshape(-1, min(frame, n))), axis=1))
    loud = frames[frames >= frames.max() * 10 ** (-30 / 20)]
    return float(np.sqrt(np.mean(np.square(loud)))) if loud.size else 0.0


def _at_level(x: np.ndarray, level_db: float) -> np.ndarray:
    rms = _active_rms(x)
    return x * np.float32(10 ** (level_db / 20) / rms) if rms > 0 else x


def make_clip(by_label: dict[str, list[SourceSet]], rng: np.random.Generator,
              labels_in_set: Sequence[str]) -> tuple[np.ndarray, list[str], list[Event]]:
    """Mixes one 4 s clip from one part's recordings.

    Returns:
      `[64000]` float32, its labels in `labels_in_set` order, and its events.
    """
    n = int(CLIP_SECONDS * RATE)
    k = int(rng.choice(len(LABEL_COUNT_P), p=LABEL_COUNT_P)) + 1
    chosen = [labels_in_set[i] for i in rng.choice(len(labels_in_set), size=k, replace=False)]
    background = chosen[0] if rng.random() < BACKGROUND_P else None
    clip, events = np.zeros(n, np.float32), []
    for label in chosen:
        sources = by_label[label]
        if label == background:
            source = sources[int(rng.integers(len(sources)))]
            level = rng.uniform(*BACKGROUND_DB)
            start = -int(rng.uniform(0, 1.0) * RATE)
            while start < n:
                x, files = make_event(source, rng)
                x = _at_level(x, level)
                lo, end = max(start, 0), min(n, start + len(x))
                if end > lo:  # an event ending before the clip starts is not in it
                    clip[lo:end] += x[lo - start:end - start]
                    events.append(Event(label, source.source, tuple(files), lo / RATE,
                                        round(level, 2), True))
                start += len(x) + int(rng.uniform(0.0, 0.3) * RATE)
            continue
        for _ in range(1 if rng.random() < 0.7 else 2):
            source = sources[int(rng.integers(len(sources)))]
            x, files = make_event(source, rng)
            level = rng.uniform(*EVENT_DB)
            x = _at_level(x, level)
            latest = n - min(len(x), int(MIN_INSIDE_SECONDS * RATE))
            start = int(rng.integers(0, latest + 1))
            end = min(n, start + len(x))
            clip[start:end] += x[:end - start]
            events.append(Event(label, source.source, tuple(files), start / RATE,
                                round(level, 2), False))
    peak = float(np.max(np.abs(clip)))
    if peak > PEAK_LIMIT:
        clip *= np.float32(PEAK_LIMIT / peak)
    return clip, [l for l in labels_in_set if l in chosen], events


def check_disjoint(sources: Sequence[SourceSet]) -> None:
    """Raises ValueError if a recording or a source file feeds both parts, or a label lacks one."""
    by_part = {p: {(s.label, s.source) for s in sources if s.part == p} for p in PARTS}
    shared = {src for _, src in by_part["dev"]} & {src for _, src in by_part["eval"]}
    files = [{f for s in sources if s.part == p for f in s.files} for p in PARTS]
    if shared or (files[0] & files[1]):
        raise ValueError(f"dev and eval share recordings {sorted(shared)} or files "
                         f"{sorted(files[0] & files[1])[:3]}")
    for part in PARTS:
        missing = {s.label for s in sources} - {lab for lab, _ in by_part[part]}
        if missing:
            raise ValueError(f"{part} has no recording of {sorted(missing)}")


def write_set(out_dir: str | os.PathLike, sources: Sequence[SourceSet], *, seed: int,
              n_dev: int, n_eval: int, overwrite: bool = False,
              extra_manifest: Optional[dict] = None) -> Path:
    """Writes the mixed clips, labels.csv, events.csv and manifest.json, atomically.

    Clip i of a part depends only on (seed, part, i) and the sources, so the same arguments
    give the same bytes.

    Args:
      out_dir: the folder to create (empty or missing, unless `overwrite`).
      sources: decoded recordings of both parts (`load_sources` or `synthetic_sources`).
      seed: the mixing seed.
      n_dev, n_eval: clips per part; `VAL_FRACTION` of the dev clips become `val`.
      overwrite: replace an existing non-empty `out_dir`.
      extra_manifest: more keys for manifest.json.

    Returns:
      The folder.
    """
    check_disjoint(sources)
    target = Path(out_dir).expanduser().absolute()
    if target.exists() and any(target.iterdir()) and not overwrite:
        raise DataError(f"{target} exists and is not empty: pass --overwrite or another folder")
    labels_in_set = [lab for lab in LABELS if any(s.label == lab for s in sources)]
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{target.name}.", dir=target.parent))
    try:
        (staging / "audio").mkdir()
        rows, event_rows = [], []
        val = set(np.random.default_rng([seed, 99]).permutation(n_dev)[
            :int(round(VAL_FRACTION * n_dev))].tolist())
        for part_index, (part, count) in enumerate((("dev", n_dev), ("eval", n_eval))):
            by_label = {lab: [s for s in sources if s.part == part and s.label == lab]
                        for lab in labels_in_set}
            for i in range(count):
                rng = np.random.default_rng([seed, part_index, i])
                clip, labels, events = make_clip(by_label, rng, labels_in_set)
                name = f"audio/{part}_{i:04d}.wav"
                sf.write(staging / name, clip, RATE, subtype="PCM_16", format="WAV")
                split = "test" if part == "eval" else ("val" if i in val else "train")
                rows.append((name, ";".join(labels), split))
                event_rows += [(name, e.label, e.source, "|".join(e.files), f"{e.onset:.3f}",
                                f"{e.level_db:.2f}", int(e.background)) for e in events]
        _write_csv(staging / "labels.csv", ("file", "labels", "split"), rows)
        _write_csv(staging / "events.csv", ("file", "label", "recording", "source_files",
                                            "onset_s", "level_dbfs", "background"), event_rows)
        manifest = {
            "recipe_version": RECIPE_VERSION, "seed": seed, "rate": RATE,
            "clip_seconds": CLIP_SECONDS, "labels": labels_in_set,
            "clips": {s: sum(r[2] == s for r in rows) for s in ("train", "val", "test")},
            "recordings": {part: {lab: sorted({s.source for s in sources
                                               if s.part == part and s.label == lab})
                                  for lab in labels_in_set} for part in PARTS},
            "sounds": {part: {lab: sum(len(s.sounds) for s in sources
                                       if s.part == part and s.label == lab)
                              for lab in labels_in_set} for part in PARTS},
            "licences": sorted({f"{r.package}: {r.licence}" for r in RECORDINGS}),
            **(extra_manifest or {})}
        (staging / "manifest.json").write_text(json.dumps(manifest, indent=2) + "\n")
        move_folder_into_place(staging, target, overwrite=overwrite)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return target


def _write_csv(path: Path, header: Sequence[str], rows: Sequence[Sequence]) -> None:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(header)
    writer.writerows(rows)
    path.write_text(buffer.getvalue(), encoding="utf-8")


def default_set_dir() -> Path:
    """Where scripts keep the default set: `$ADMLC_DATA_HOME/real-audio-v<recipe>`."""
    from admlc_tf.data.home import data_home

    return data_home() / f"real-audio-v{RECIPE_VERSION}"


def describe(data_dir: str | os.PathLike) -> Optional[dict]:
    """What a built set holds (from its manifest.json), or None for a folder not built here."""
    path = Path(data_dir) / "manifest.json"
    if not path.is_file():
        return None
    manifest = json.loads(path.read_text())
    keys = ("recipe_version", "seed", "labels", "clips", "recordings", "sounds", "tiny",
            "synthetic_fallback", "packages")
    return {k: manifest[k] for k in keys if k in manifest}


def _same_build(data_dir: Path, wanted: dict) -> bool:
    path = data_dir / "manifest.json"
    if not path.is_file():
        return False
    manifest = json.loads(path.read_text())
    return all(manifest.get(k) == v for k, v in wanted.items())


def build(out_dir: str, *, seed: int = 0, n_dev: int = N_DEV, n_eval: int = N_EVAL,
          tiny: bool = False, overwrite: bool = False) -> Path:
    """The `build` command: fetch, decode, mix.

    A complete set already in `out_dir` made with the same recipe, seed, sizes and `tiny` is
    reused as it is (its manifest.json is written last, inside the atomic rename); any other
    non-empty `out_dir` is refused unless `overwrite`.

    Returns:
      The set's folder.
    """
    target = Path(out_dir).expanduser().absolute()
    wanted = {"recipe_version": RECIPE_VERSION, "seed": seed, "n_dev": n_dev, "n_eval": n_eval,
              "tiny": tiny}
    if not overwrite and _same_build(target, wanted):
        print(f"real-audio: reusing {target} (same recipe, seed and sizes)")
        return target
    if not overwrite and target.is_dir() and any(target.iterdir()):  # refuse before fetching
        raise DataError(f"{target} exists and is not empty: pass --overwrite or another folder")
    max_files = TINY_MAX_FILES if tiny else MAX_FILES
    extra = {"n_dev": n_dev, "n_eval": n_eval, "tiny": tiny, "synthetic_fallback": False}
    try:
        sources, versions = load_sources(max_files=max_files)
        extra["packages"] = versions
    except DataError as e:
        if not tiny:
            raise
        bar = "!" * 78
        print(f"{bar}\nreal-audio: {e}\nreal-audio: --tiny FALLS BACK TO SYNTHETIC STAND-IN "
              f"SOUNDS: this set holds NO real recording\n{bar}", file=sys.stderr)
        sources, extra["synthetic_fallback"] = synthetic_sources(seed=seed), True
    try:
        path = write_set(target, sources, seed=seed, n_dev=n_dev, n_eval=n_eval,
                         overwrite=overwrite, extra_manifest=extra)
    except FileExistsError:
        if not _same_build(target, wanted):  # another process wrote a different set meanwhile
            raise DataError(f"{target} appeared while building: pass another folder") from None
        return target
    manifest = json.loads((path / "manifest.json").read_text())
    print(f"real-audio: wrote {path}: {manifest['clips']}")
    for part in PARTS:
        for label, recs in manifest["recordings"][part].items():
            print(f"  {part:<4} {label:<8} {manifest['sounds'][part][label]:>4} sounds from "
                  + "; ".join(recs))
    return path


# --------------------------------------------------------------------------------------------
# Baseline.
# --------------------------------------------------------------------------------------------


def clip_statistics(path: Path, config) -> np.ndarray:
    """`[2 * n_mels]`: the clip's log-mel mean and standard deviation over time."""
    from admlc_tf.features import log_mel_spectrogram, read_audio

    x = read_audio(path, sample_rate=config.sample_rate)
    x = np.pad(x, (0, max(0, config.num_samples - len(x))))
    m = log_mel_spectrogram(x, config=config)
    return np.concatenate([m.mean(axis=0), m.std(axis=0)])


def statistics_vectors(data_dir: str | os.PathLike) -> dict:
    """Every clip of a set as its log-mel statistics vector (`clip_statistics` with the project's
    default `FeatureConfig`), by split.

    Returns:
      `{"label_names": [L] (the train clips' labels, in LABELS order), "features": {split:
      [n, 2 * n_mels] float}, "labels": {split: [n, L] 0/1 float}, "config": the
      FeatureConfig}` for the splits train, val and test.

    Raises:
      DataError: the folder has no labels.csv or a split without clips.
    """
    from admlc_tf.config import FeatureConfig
    from admlc_tf.data.layouts.labels_csv import read_labels_csv

    collection = read_labels_csv(Path(data_dir) / "labels.csv")
    config = FeatureConfig()
    names = sorted({lab for c in collection.clips if c.split == "train" for lab in c.labels},
                   key=lambda lab: (LABELS.index(lab) if lab in LABELS else len(LABELS), lab))
    split = {s: [c for c in collection.clips if c.split == s] for s in ("train", "val", "test")}
    for s, clips in split.items():
        if not clips:
            raise DataError(f"{collection.source} has no {s} clip: build the set with "
                            "benchmarks/real_audio.py build")
    return {"label_names": names,
            "features": {s: np.stack([clip_statistics(c.path, config) for c in clips])
                         for s, clips in split.items()},
            "labels": {s: np.array([[lab in c.labels for lab in names] for c in clips], float)
                       for s, clips in split.items()},
            "config": config}


def _fit_predict(x_fit, y_fit, x_score, c: float, seed: int) -> np.ndarray:
    from sklearn.linear_model import LogisticRegression
    from sklearn.preprocessing import StandardScaler

    scaler = StandardScaler().fit(x_fit)
    scores = np.zeros((len(x_score), y_fit.shape[1]))
    for j in range(y_fit.shape[1]):
        model = LogisticRegression(C=c, max_iter=2000, random_state=seed)
        model.fit(scaler.transform(x_fit), y_fit[:, j])
        scores[:, j] = model.predict_proba(scaler.transform(x_score))[:, 1]
    return scores


def baseline(data_dir: str, *, seeds: Sequence[int] = (0,), json_path: Optional[str] = None,
             quiet: bool = False) -> dict:
    """The `baseline` command: log-mel mean/std + one-vs-rest logistic regression.

    Returns:
      `{"runs": [{"seed", "C", "val_mean_eer_by_C", "test": tagging report}], ...}`; printed
      as a table and JSON (to `json_path` if given) unless `quiet`.
    """
    from admlc_tf.metrics.reports import format_tagging_table, tagging_report

    vectors = statistics_vectors(data_dir)
    names, feats, truth, config = (vectors["label_names"], vectors["features"],
                                   vectors["labels"], vectors["config"])
    runs = []
    for seed in seeds:
        val_eer = {c: tagging_report(truth["val"], _fit_predict(feats["train"], truth["train"],
                                                                feats["val"], c, seed),
                                     names, split="val")["mean_eer"] for c in C_GRID}
        best = min(C_GRID, key=lambda c: (val_eer[c], c))
        fit_x = np.concatenate([feats["train"], feats["val"]])
        fit_y = np.concatenate([truth["train"], truth["val"]])
        report = tagging_report(truth["test"], _fit_predict(fit_x, fit_y, feats["test"], best,
                                                            seed), names, split="test")
        runs.append({"seed": seed, "C": best, "val_mean_eer_by_C": val_eer, "test": report})
    first = runs[0]["test"]
    deterministic = all(r["test"] == first for r in runs)
    result = {"data_dir": str(Path(data_dir).absolute()), "model": "log-mel mean/std + "
              "one-vs-rest logistic regression (C by val mean EER, refit on train+val)",
              "features": dataclasses.asdict(config), "deterministic": deterministic,
              "n_train": len(truth["train"]), "n_val": len(truth["val"]), "runs": runs}
    text = json.dumps(result, indent=2)
    if json_path:
        from admlc_tf.files import write_text_atomic

        write_text_atomic(json_path, text + "\n")
    if quiet:
        return result
    print(format_tagging_table(first, title=f"log-mel mean/std + logistic regression on test "
                                            f"({first['n_clips']} clips), C={runs[0]['C']}"))
    if len(runs) > 1:
        means = [r["test"]["mean_eer"] for r in runs]
        print(f"seeds {list(seeds)}: mean EER {np.mean(means):.3f} +- {np.std(means):.3f}"
              + (" (identical: the fit is deterministic)" if deterministic else ""))
    if not json_path:
        print(text)
    return result


# --------------------------------------------------------------------------------------------
# Command line.
# --------------------------------------------------------------------------------------------


def main(argv: Optional[Sequence[str]] = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    commands = parser.add_subparsers(dest="command", required=True)
    b = commands.add_parser("build", help="fetch the recordings and write the clips")
    b.add_argument("out_dir")
    b.add_argument("--seed", type=int, default=0)
    b.add_argument("--clips", type=int, default=None,
                   help="development clips (train + val); default 400, --tiny 24")
    b.add_argument("--eval-clips", type=int, default=None,
                   help="evaluation (test) clips; default 150, --tiny 12")
    b.add_argument("--tiny", action="store_true",
                   help="a few clips from at most 6 files per recording (smoke runs)")
    b.add_argument("--overwrite", action="store_true", help="replace a non-empty OUT_DIR")
    s = commands.add_parser("baseline", help="log-mel mean/std + logistic regression")
    s.add_argument("out_dir")
    s.add_argument("--seeds", default="0",
                   help="comma-separated; the fit is deterministic, so they agree")
    s.add_argument("--json", default=None, help="write the scores here instead of stdout")
    args = parser.parse_args(argv)
    if args.command == "build":
        n_dev = args.clips if args.clips is not None else (TINY_N_DEV if args.tiny else N_DEV)
        n_eval = args.eval_clips if args.eval_clips is not None else (
            TINY_N_EVAL if args.tiny else N_EVAL)
        if n_dev < 5 or n_eval < 1:
            raise DataError("--clips must be at least 5 and --eval-clips at least 1")
        build(args.out_dir, seed=args.seed, n_dev=n_dev, n_eval=n_eval, tiny=args.tiny,
              overwrite=args.overwrite)
    else:
        seeds = [int(x) for x in args.seeds.split(",") if x.strip()]
        baseline(args.out_dir, seeds=seeds or [0], json_path=args.json)


if __name__ == "__main__":
    sys.exit(run_cli(main))
