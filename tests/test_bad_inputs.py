"""Bad data gives one line naming the file and what to do, exit code 2 and no half-written output.

Two levels: the library (`prepare_data`, the reader, the WAV loader) raises DataError in-process;
a few cases also run `train.py` in a subprocess (each pays ~4 s of TensorFlow import).
"""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path
from typing import Callable

import numpy as np
import pytest
import soundfile as sf

from admlc_tf.config import DataConfig, ExperimentConfig, FeatureConfig
from admlc_tf.data.layouts import chime_home
from admlc_tf.data.cache import build_feature_cache
from admlc_tf.errors import AdmlcError, DataError
from admlc_tf.recipes.audio import prepare_data
from admlc_tf.features import load_waveform
from tests.chime_layout import (SMALL_DEVELOPMENT, SMALL_EVALUATION, chunk_audio, small_layout,
                                write_wav)
from tests.helpers import run_script

DEV_CHUNK, _, DEV_FOLD = SMALL_DEVELOPMENT[1]  # CR_kitchen_200111_0932.s1_chunk0, file fold 1
EVAL_CHUNK = SMALL_EVALUATION[2][0]   # CR_playroom_200121_1630.s3_chunk0
GHOST_CHUNK = "CR_lounge_200110_1601.s9_chunk0"  # listed, but no files
# The "what to do" half of every message uses one of these verbs.
ADVICE = re.compile(r"\b(restore|fix|remove|replace|use|pass|resample)\b")


def wav(home: Path, name: str) -> Path:
    return chime_home.chunk_wav_path(home, name)


def annotation(home: Path, name: str) -> Path:
    return chime_home.chunk_csv_path(home, name)


def edit_annotation(home: Path, name: str, **changes) -> Path:
    """Rewrites a chunk's key,value file; a change to None drops the key."""
    path = annotation(home, name)
    fields = chime_home.read_chunk_csv(path)
    for key, value in changes.items():
        if value is None:
            del fields[key]
        else:
            fields[key] = value
    chime_home.write_chunk_csv(path, fields)
    return path


def append_row(path: Path, row: str) -> Path:
    with open(path, "a") as f:
        f.write(row + "\n")
    return path


# --------------------------------------------------------------------------------------------
# Mutations: each breaks a fresh small layout and returns (the folder passed as --data-dir, the
# path the message must name). Literal error phrases are the library's current wording.
# --------------------------------------------------------------------------------------------


def missing_wav(home):
    wav(home, DEV_CHUNK).unlink()
    return home, wav(home, DEV_CHUNK)


def corrupt_wav(home):
    wav(home, EVAL_CHUNK).write_bytes(np.random.default_rng(7).bytes(6000))
    return home, wav(home, EVAL_CHUNK)


def zero_length_wav(home):
    wav(home, DEV_CHUNK).write_bytes(b"")
    return home, wav(home, DEV_CHUNK)


def header_only_wav(home):
    write_wav(wav(home, DEV_CHUNK), np.zeros(0, np.float32))
    return home, wav(home, DEV_CHUNK)


def rate_48k_wav(home):
    write_wav(wav(home, DEV_CHUNK), chunk_audio(0, sample_rate=48000), 48000)
    return home, wav(home, DEV_CHUNK)


def rate_44k1_wav(home):
    write_wav(wav(home, EVAL_CHUNK), chunk_audio(0, sample_rate=44100), 44100)
    return home, wav(home, EVAL_CHUNK)


def unknown_letter(home):
    return home, edit_annotation(home, DEV_CHUNK, majorityvote="cxp")


def no_majorityvote(home):
    return home, edit_annotation(home, EVAL_CHUNK, majorityvote=None)


def listed_chunk_missing(home):
    append_row(home / chime_home.CROSSVAL_LIST, f"10,{GHOST_CHUNK},0")
    return home, annotation(home, GHOST_CHUNK)


def duplicated_chunk(home):
    append_row(home / chime_home.EVALUATION_LIST, f"4,{EVAL_CHUNK}")
    return home, home / chime_home.EVALUATION_LIST


def path_escape(home):
    # A complete, valid chunk sits outside chunks/: following `../` would load it silently.
    escaped = "../outside_chunk0"
    chime_home.write_chunk_csv(annotation(home, escaped), {"majorityvote": "c"})
    write_wav(wav(home, escaped), chunk_audio(0))
    append_row(home / chime_home.CROSSVAL_LIST, f"10,{escaped},0")
    return home, home / chime_home.CROSSVAL_LIST


def empty_data_dir(home):
    empty = home.parent / "empty"
    empty.mkdir()
    return empty, empty


def missing_list(home):
    (home / chime_home.EVALUATION_LIST).unlink()
    return home, home / chime_home.EVALUATION_LIST


def bad_fold(home):
    path = home / chime_home.CROSSVAL_LIST
    text = path.read_text()
    assert f",{DEV_CHUNK},{DEV_FOLD}\n" in text
    path.write_text(text.replace(f",{DEV_CHUNK},{DEV_FOLD}\n", f",{DEV_CHUNK},5\n"))
    return home, path


def in_both_lists(home):
    append_row(home / chime_home.EVALUATION_LIST, f"4,{DEV_CHUNK}")
    return home, home  # the message names the data folder and the chunk


@dataclasses.dataclass(frozen=True)
class Case:
    mutate: Callable[[Path], tuple[Path, Path]]
    phrase: str  # regex the message must contain

    def __str__(self):
        return self.mutate.__name__


CASES = [
    Case(missing_wav, r"16kHz\.wav is missing"),
    Case(corrupt_wav, r"cannot be decoded"),
    Case(zero_length_wav, r"cannot be decoded"),
    Case(header_only_wav, r"holds no samples"),
    Case(unknown_letter, r"unknown label letter\(s\) 'x' in majorityvote 'cxp'"),
    Case(no_majorityvote, r"has no majorityvote"),
    Case(listed_chunk_missing, r"annotation file .* is missing"),
    Case(duplicated_chunk, r":5: chunk .* is listed twice"),
    Case(path_escape, r":11: chunk name '\.\./outside_chunk0' is not a plain file name"),
    Case(empty_data_dir, r"matches none of the layouts chime-home, fsd50k, desed, csv"),
    Case(missing_list, r"list file .* is missing"),
    Case(bad_fold, r"has fold '5', expected 0\.\.4"),
    Case(in_both_lists, rf"chunk {re.escape(DEV_CHUNK)} is in both"),
]
SUBPROCESS_CASES = [missing_wav, corrupt_wav, unknown_letter, empty_data_dir]


def files_under(folder: Path) -> list[Path]:
    """Every file below `folder`, hidden ones (temporary files) included."""
    return sorted(p for p in folder.rglob("*") if p.is_file()) if folder.exists() else []


def assert_good_message(message: str, path: Path, phrase: str):
    assert "\n" not in message, message
    assert str(path) in message or str(path.resolve()) in message, (path, message)
    assert re.search(phrase, message), (phrase, message)
    assert ADVICE.search(message.rsplit(": ", 1)[-1]), message  # "<what is wrong>: <what to do>"


def config_for(data_dir: Path, cache_dir: Path) -> ExperimentConfig:
    return ExperimentConfig(data=DataConfig(data_dir=str(data_dir), cache_dir=str(cache_dir)))


# --------------------------------------------------------------------------------------------
# Library level.
# --------------------------------------------------------------------------------------------


def test_the_intact_layout_prepares(tmp_path):
    """The control: without a mutation the same call succeeds and writes exactly one cache."""
    home = small_layout(tmp_path)
    data = prepare_data(config_for(home, tmp_path / "cache"), verbose=False)
    assert len(data.train) == 10 and len(data.test) == 4
    assert [p.suffix for p in files_under(tmp_path / "cache")] == [".h5"]


@pytest.mark.parametrize("case", CASES, ids=str)
def test_library_raises_one_line_naming_the_file(tmp_path, case):
    data_dir, named = case.mutate(small_layout(tmp_path))
    cache = tmp_path / "cache"
    with pytest.raises(DataError) as info:
        prepare_data(config_for(data_dir, cache), verbose=False)
    assert isinstance(info.value, AdmlcError)
    assert_good_message(str(info.value), named, case.phrase)
    assert files_under(cache) == []  # no .h5 and no temporary file


@pytest.mark.parametrize("case", [c for c in CASES if c.mutate.__name__.endswith("_wav")],
                         ids=str)
def test_feature_cache_leaves_nothing_behind(tmp_path, case):
    """The cache builder alone, handed chunks whose WAV went bad after the lists were read."""
    home = small_layout(tmp_path)
    chunks = chime_home.load_development(home) + chime_home.load_evaluation(home)
    case.mutate(home)
    cache = tmp_path / "cache"
    with pytest.raises(DataError) as info:
        build_feature_cache([(c.name, c.wav_path) for c in chunks], config=FeatureConfig(),
                            cache_dir=cache, verbose=False)
    assert "\n" not in str(info.value)
    assert files_under(cache) == []


@pytest.mark.parametrize("case", [c for c in CASES if c.mutate.__name__.endswith("_wav")
                                  and c.mutate is not missing_wav], ids=str)
def test_wav_loader_raises(tmp_path, case):
    _, path = case.mutate(small_layout(tmp_path))
    with pytest.raises(DataError) as info:
        load_waveform(path, config=FeatureConfig())
    assert_good_message(str(info.value), path, case.phrase)


def test_wav_loader_missing_file_names_it(tmp_path):
    path = tmp_path / "gone.16kHz.wav"
    with pytest.raises(DataError) as info:
        load_waveform(path, config=FeatureConfig())
    assert str(path) in str(info.value) and "\n" not in str(info.value)


def test_wav_loader_missing_file_says_missing(tmp_path):
    with pytest.raises(DataError, match="is missing"):
        load_waveform(tmp_path / "gone.16kHz.wav", config=FeatureConfig())


def test_reader_raises_before_any_audio_is_read(tmp_path):
    """List and annotation errors come from the reader itself (no features involved)."""
    for case in CASES:
        if case.mutate.__name__.endswith("_wav") or case.mutate in (in_both_lists,
                                                                    empty_data_dir):
            continue  # (an empty folder is refused by layout detection, before this reader)
        data_dir, named = case.mutate(small_layout(tmp_path / case.mutate.__name__))
        with pytest.raises(DataError) as info:
            chime_home.split(data_dir, "all")
        assert_good_message(str(info.value), named, case.phrase)


def test_truncated_wav_is_refused(tmp_path):
    """A WAV cut inside its data: libsndfile would read the samples present without an error, so
    the loader checks the RIFF data size against the file size."""
    path = tmp_path / "cut.16kHz.wav"
    write_wav(path, chunk_audio(3))
    path.write_bytes(path.read_bytes()[:44 + 2 * 10_000 + 1])  # header + 10,000.5 samples
    with pytest.raises(DataError) as info:
        load_waveform(path, config=FeatureConfig())
    assert_good_message(str(info.value), path, "is truncated")


def test_stereo_wav_is_down_mixed(tmp_path):
    path = tmp_path / "stereo.16kHz.wav"
    left, right = chunk_audio(1), -0.5 * chunk_audio(2)
    write_wav(path, np.stack([left, right], axis=1))
    stored, rate = sf.read(str(path), dtype="float32", always_2d=True)
    assert (rate, stored.shape[1]) == (16000, 2)
    waveform = load_waveform(path, config=FeatureConfig())
    np.testing.assert_allclose(waveform, stored.mean(axis=1), rtol=0, atol=1e-7)


@pytest.mark.parametrize("mutate", [rate_48k_wav, rate_44k1_wav], ids=lambda m: m.__name__)
def test_a_chunk_at_another_rate_is_resampled(tmp_path, mutate):
    # Catches: a 48 kHz file read as 16 kHz (three times too long, every band shifted).
    home, path = mutate(small_layout(tmp_path))
    waveform = load_waveform(path, config=FeatureConfig())
    assert waveform.shape == (64000,)
    peak = np.argmax(np.abs(np.fft.rfft(waveform))) * 16000 / 64000
    assert abs(peak - 220.0) < 1.0  # chunk_audio(0)'s tone
    data = prepare_data(config_for(home, tmp_path / "cache"), verbose=False)
    assert len(data.train) == 10


def test_stereo_chunk_goes_through_the_pipeline(tmp_path):
    home = small_layout(tmp_path)
    write_wav(wav(home, DEV_CHUNK), np.stack([chunk_audio(1), chunk_audio(2)], axis=1))
    data = prepare_data(config_for(home, tmp_path / "cache"), verbose=False)
    assert len(data.train) == 10


# --------------------------------------------------------------------------------------------
# train.py as a user runs it (in this process: the refusals end before any training).
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("mutate", SUBPROCESS_CASES, ids=lambda m: m.__name__)
def test_train_py_exits_2_with_one_error_line(tmp_path, mutate):
    case = next(c for c in CASES if c.mutate is mutate)
    data_dir, named = mutate(small_layout(tmp_path / "data"))
    out, export, cache = tmp_path / "run", tmp_path / "saved_models", tmp_path / "cache"
    proc = run_script("train.py", "--data-dir", data_dir, "--out", out, "--export-dir", export,
                      "--cache-dir", cache, "--epochs", "1", "--quiet",
                      data_home=tmp_path / "data-home", in_process=True)
    assert proc.returncode == 2, proc.stderr
    assert "Traceback" not in proc.stderr, proc.stderr
    last = proc.stderr.strip().splitlines()[-1]
    assert last.startswith("error: "), proc.stderr
    assert_good_message(last, named, case.phrase)
    assert files_under(cache) == []
    assert files_under(export) == []
    assert files_under(out) == []  # (the run folder itself may exist, empty)
    assert not (tmp_path / "data-home").exists()  # no demo set generated instead
