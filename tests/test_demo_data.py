"""Tests of the generated demo set: layout, determinism, atomic writes, cache, learnability."""

import contextlib
import functools
import io
import os
import re
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from admlc_tf.data.generated import demo
from admlc_tf.data.layouts import chime_home

TINY = dict(n_segments_dev=10, n_segments_eval=3, chunks_per_segment=3)
CHUNK_NAME = re.compile(r"^CR_[a-z]+_\d{6}_\d{4}\.s\d+_chunk(\d+)$")
LIST_FILES = (chime_home.CROSSVAL_LIST, chime_home.DEVELOPMENT_LIST, chime_home.EVALUATION_LIST)


@pytest.fixture(scope="module")
def tiny_set(tmp_path_factory):
    return demo.generate_demo_dataset(tmp_path_factory.mktemp("tiny"), seed=0, **TINY)


@pytest.fixture(scope="module")
def default_set(tmp_path_factory):
    """The set `python train.py` gets, made through the cache; returns (path, printed text)."""
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        path = demo.ensure_demo_dataset(tmp_path_factory.mktemp("cache"))
    return path, out.getvalue()


def _all_chunks(root):
    return chime_home.load_development(root) + chime_home.load_evaluation(root)


def _read_rows(path):
    return [line.split(",") for line in path.read_text().splitlines()]


def test_reader_loads_set_with_five_folds(tiny_set):
    dev = chime_home.load_development(tiny_set)
    evaluation = chime_home.load_evaluation(tiny_set)
    assert len(dev) == 30 and len(evaluation) == 9
    assert {c.fold for c in dev} == {1, 2, 3, 4, 5}
    folds_of_segment = {}
    for c in dev:
        folds_of_segment.setdefault(c.segment, set()).add(c.fold)
    assert all(len(folds) == 1 for folds in folds_of_segment.values())
    assert not {c.segment for c in dev} & {c.segment for c in evaluation}
    for fold in range(1, 6):
        train, test = chime_home.split(tiny_set, fold)
        assert test and {c.fold for c in test} == {fold}
        assert len(train) + len(test) == len(dev)
    train, test = chime_home.split(tiny_set, "all")
    assert [c.name for c in train] == [c.name for c in dev]
    assert [c.name for c in test] == [c.name for c in evaluation]


def test_list_files_follow_published_layout(tiny_set):
    crossval = _read_rows(tiny_set / chime_home.CROSSVAL_LIST)
    development = _read_rows(tiny_set / chime_home.DEVELOPMENT_LIST)
    assert [row[:2] for row in crossval] == development
    assert [int(row[0]) for row in crossval] == list(range(len(crossval)))
    assert {row[2] for row in crossval} == {"0", "1", "2", "3", "4"}
    names = [row[1] for row in crossval + _read_rows(tiny_set / chime_home.EVALUATION_LIST)]
    assert all(CHUNK_NAME.match(name) for name in names)
    assert not list((tiny_set / "chunks").glob("*.48kHz.wav"))  # only the DCASE 2016 rate


def test_audio_is_4s_mono_16khz_int16(tiny_set):
    for chunk in _all_chunks(tiny_set):
        info = sf.info(chunk.wav_path)
        assert (info.samplerate, info.channels, info.frames, info.subtype) == (
            16000, 1, 64000, "PCM_16")
        audio, _ = sf.read(chunk.wav_path, dtype="int16")
        assert audio.dtype == np.int16 and audio.shape == (64000,)
        assert 0 < np.abs(audio.astype(np.int32)).max() < 32767  # never silent, never clipped


def test_annotations_and_labels(tiny_set):
    chunks = _all_chunks(tiny_set)
    letters = set(chime_home.LABELS) | {"S"}
    for chunk in chunks:
        fields = chime_home.read_chunk_csv(chime_home.chunk_csv_path(tiny_set, chunk.name))
        assert fields["segmentname"] == chunk.segment
        assert fields["chunknumber"] == CHUNK_NAME.match(chunk.name).group(1)
        votes = [fields[f"annotation_a{i}"] for i in (1, 2, 3)]
        assert all(vote and set(vote) <= letters for vote in votes + [fields["majorityvote"]])
        majority = {x for x in letters if sum(x in vote for vote in votes) >= 2}
        assert set(fields["majorityvote"]) == (majority or {"S"})
    labels = np.stack([c.labels for c in chunks])
    assert labels.shape[1] == 7 and set(np.unique(labels)) <= {0.0, 1.0}
    assert (labels.sum(axis=1) == 0).sum() >= 1, "no S-only chunk"
    assert (labels.sum(axis=1) >= 2).sum() >= 5, "too few multi-label chunks"


def test_same_seed_same_bytes_other_seed_differs(tiny_set, tmp_path):
    again = demo.generate_demo_dataset(tmp_path / "again", seed=0, **TINY)
    other = demo.generate_demo_dataset(tmp_path / "other", seed=1, **TINY)
    wav = sorted((tiny_set / "chunks").glob("*.wav"))[0].name
    for name in LIST_FILES + ("chunks/" + wav,):
        assert (again / name).read_bytes() == (tiny_set / name).read_bytes(), name
    assert any((other / name).read_bytes() != (tiny_set / name).read_bytes()
               for name in LIST_FILES)
    other_wav = sorted((other / "chunks").glob("*.wav"))[0]
    assert other_wav.read_bytes() != (tiny_set / "chunks" / wav).read_bytes()


def test_generation_is_atomic(tmp_path, monkeypatch):
    root = demo.generate_demo_dataset(tmp_path / "ok", seed=0, n_segments_dev=5,
                                      n_segments_eval=1, chunks_per_segment=1).parent
    assert sorted(os.listdir(root)) == ["chime_home"]  # no staging folder left behind

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt
    monkeypatch.setattr(demo, "_write_lists", interrupted)
    with pytest.raises(KeyboardInterrupt):
        demo.generate_demo_dataset(tmp_path / "broken", seed=0, n_segments_dev=5,
                                   n_segments_eval=1, chunks_per_segment=1)
    assert os.listdir(tmp_path / "broken") == []  # neither a half set nor a staging folder


def test_existing_set_is_kept_unless_overwrite(tmp_path):
    small = dict(n_segments_dev=5, n_segments_eval=1, chunks_per_segment=1)
    path = demo.generate_demo_dataset(tmp_path, seed=0, **small)
    with pytest.raises(FileExistsError):
        demo.generate_demo_dataset(tmp_path, seed=1, **small)
    before = (path / chime_home.EVALUATION_LIST).read_bytes()
    assert demo.generate_demo_dataset(tmp_path, seed=1, overwrite=True, **small) == path
    assert (path / chime_home.EVALUATION_LIST).read_bytes() != before
    assert sorted(os.listdir(tmp_path)) == ["chime_home"]


def test_too_few_segments_for_five_folds_is_refused(tmp_path):
    with pytest.raises(ValueError, match="one per fold"):
        demo.generate_demo_dataset(tmp_path, n_segments_dev=4)


def test_ensure_reuses_cache_and_repairs_it(tmp_path, monkeypatch, capsys):
    # A small generator keeps this fast; the default size is covered by `default_set`.
    monkeypatch.setattr(demo, "generate_demo_dataset", functools.partial(
        demo.generate_demo_dataset, n_segments_dev=5, n_segments_eval=1, chunks_per_segment=1))
    monkeypatch.setenv("ADMLC_DATA_HOME", str(tmp_path / "home"))
    path = demo.ensure_demo_dataset()
    assert path == tmp_path / "home" / demo.DEMO_DIRNAME / "chime_home"
    assert len(capsys.readouterr().out.strip().splitlines()) == 1
    wav = sorted((path / "chunks").glob("*.wav"))[0]
    stamp = wav.stat().st_mtime_ns

    assert demo.ensure_demo_dataset() == path
    assert capsys.readouterr().out == ""
    assert wav.stat().st_mtime_ns == stamp

    wav.unlink()  # a damaged cache is regenerated, not trusted
    assert demo.ensure_demo_dataset() == path
    assert wav.is_file() and capsys.readouterr().out
    assert sorted(os.listdir(path.parent)) == ["chime_home"]


def test_default_set_size_and_cache(default_set):
    path, printed = default_set
    assert path.name == "chime_home" and path.parent.name == demo.DEMO_DIRNAME
    assert printed.count("\n") == 1
    dev, evaluation = chime_home.split(path, "all")
    assert (len(dev), len(evaluation)) == (300, 120)
    stamp = (path / chime_home.CROSSVAL_LIST).stat().st_mtime_ns
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        assert demo.ensure_demo_dataset(path.parent.parent) == path
    assert out.getvalue() == ""
    assert (path / chime_home.CROSSVAL_LIST).stat().st_mtime_ns == stamp


def _log_mel_stats(chunks):
    """Per-chunk mean and std of a 40-band log-mel spectrogram: `[n_chunks, 80]`."""
    import librosa
    features = []
    for chunk in chunks:
        audio, sr = sf.read(chunk.wav_path, dtype="float32")
        mel = librosa.feature.melspectrogram(y=audio, sr=sr, n_fft=512, hop_length=256,
                                             window="hamming", n_mels=40)
        log_mel = np.log(mel + 1e-8)
        features.append(np.concatenate([log_mel.mean(axis=1), log_mel.std(axis=1)]))
    return np.stack(features)


def test_labels_are_learnable_from_the_audio(default_set):
    """A linear model on clip statistics must beat chance on every label, so the audio carries
    the labels; it is far from perfect on some, so the set is not trivial."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.metrics import roc_auc_score
    from sklearn.multiclass import OneVsRestClassifier
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    train, test = chime_home.split(default_set[0], "all")
    y_train = np.stack([c.labels for c in train])
    y_test = np.stack([c.labels for c in test])
    model = make_pipeline(StandardScaler(),
                          OneVsRestClassifier(LogisticRegression(max_iter=2000)))
    model.fit(_log_mel_stats(train), y_train)
    scores = model.predict_proba(_log_mel_stats(test))
    aucs = {label: roc_auc_score(y_test[:, k], scores[:, k])
            for k, label in enumerate(chime_home.LABELS)}
    report = ", ".join(f"{label} {auc:.3f}" for label, auc in aucs.items())
    print(f"\nper-label ROC AUC on the demo evaluation list: {report}; "
          f"mean {np.mean(list(aucs.values())):.3f}")
    assert np.mean(list(aucs.values())) > 0.75, report
    assert min(aucs.values()) > 0.6, report


def test_one_data_home_for_generated_sets_and_feature_caches(monkeypatch, tmp_path):
    """`ADMLC_DATA_HOME` set, unset, or set but empty: the demo set and the feature cache
    live under the same home. Fails if an empty value puts the caches in ./features."""
    from admlc_tf.data.cache import default_cache_dir
    from admlc_tf.data.home import data_home

    monkeypatch.setenv("ADMLC_DATA_HOME", str(tmp_path / "home"))
    assert default_cache_dir() == tmp_path / "home" / "features" == data_home() / "features"
    for value in ("", None):
        if value is None:
            monkeypatch.delenv("ADMLC_DATA_HOME")
        else:
            monkeypatch.setenv("ADMLC_DATA_HOME", value)
        home = Path("~/.cache/admlc-tf").expanduser()
        assert data_home() == home
        assert default_cache_dir() == home / "features"
