"""Log-mel features, the HDF5 feature cache and the tf.data pipeline."""

from __future__ import annotations

import dataclasses
import os

import h5py
import librosa
import numpy as np
import pytest
import soundfile

from admlc_tf.config import FeatureConfig
from admlc_tf.data.cache import build_feature_cache, feature_statistics, read_names
from admlc_tf.data.chime_home import Chunk
from admlc_tf.data.pipeline import ChunkRows, evaluation_batches, training_stream
from admlc_tf.features import (LogMelSpectrogram, file_features, load_waveform,
                               log_mel_spectrogram, mel_matrix)
from tests.helpers import learnable_arrays, write_cache

CONFIG = FeatureConfig()


def write_wavs(folder, n, seconds=4.0, rate=16000, seed=0):
    rng = np.random.default_rng(seed)
    chunks = []
    for i in range(n):
        path = folder / f"chunk{i}.16kHz.wav"
        soundfile.write(path, 0.1 * rng.standard_normal(int(seconds * rate)), rate,
                        subtype="PCM_16")
        chunks.append(Chunk(f"chunk{i}", path, np.zeros(7, np.float32), None))
    return chunks


class TestLogMel:
    def test_shape_and_dtype(self):
        features = log_mel_spectrogram(np.zeros(CONFIG.num_samples), config=CONFIG)
        assert features.shape == (CONFIG.num_frames, 40) == (249, 40)
        assert features.dtype == np.float32
        assert np.all(np.isfinite(features))

    def test_matches_librosa_melspectrogram(self):
        waveform = np.random.default_rng(0).standard_normal(CONFIG.num_samples).astype(np.float32)
        reference = librosa.feature.melspectrogram(
            y=waveform, sr=16000, n_fft=512, hop_length=256, window="hamming", center=False,
            power=2.0, n_mels=40, fmin=0.0, fmax=8000.0)  # [n_mels, frames]
        np.testing.assert_allclose(log_mel_spectrogram(waveform, config=CONFIG),
                                   np.log(reference.T + CONFIG.log_offset), rtol=1e-4, atol=1e-4)

    def test_a_tone_lights_up_its_mel_band(self):
        t = np.arange(CONFIG.num_samples) / CONFIG.sample_rate
        features = log_mel_spectrogram(np.sin(2 * np.pi * 1000 * t), config=CONFIG)
        centres = librosa.mel_frequencies(n_mels=42, fmin=0.0, fmax=8000.0)[1:-1]
        assert abs(int(np.argmax(features.mean(axis=0))) - int(np.argmin(abs(centres - 1000)))) <= 1

    def test_mel_matrix_is_shared_and_read_only(self):
        matrix = mel_matrix(CONFIG)
        assert matrix.shape == (257, 40)
        assert mel_matrix(CONFIG) is matrix
        with pytest.raises(ValueError):
            matrix[0, 0] = 1.0


class TestLogMelSpectrogramLayer:
    def test_agrees_with_the_offline_features_on_wav_files(self, tmp_path):
        """The in-graph front end (tf.signal) against librosa on the same files.

        Tolerance 1e-3 in log-mel: both use the same window, framing and mel matrix, so they
        differ only by float32 FFT rounding (measured ~4e-5 on the demo set), which the log
        magnifies only near the `log_offset` floor.
        """
        from admlc_tf.data.demo import generate_demo_dataset

        root = generate_demo_dataset(tmp_path, n_segments_dev=5, n_segments_eval=1,
                                     chunks_per_segment=2)
        layer = LogMelSpectrogram(dataclasses.asdict(CONFIG))
        for path in sorted((root / "chunks").glob("*.wav")):
            waveform = load_waveform(path, config=CONFIG)
            np.testing.assert_allclose(layer(waveform[None])[0], file_features(path, config=CONFIG),
                                       rtol=0, atol=1e-3, err_msg=path.name)

    def test_config_round_trip(self):
        layer = LogMelSpectrogram.from_config(LogMelSpectrogram(dataclasses.asdict(CONFIG)).get_config())
        assert layer.compute_output_shape((None, 64000)) == (None, 249, 40)
        assert not layer.trainable


class TestLoadWaveform:
    def test_pads_short_and_cuts_long_files(self, tmp_path):
        for seconds in (1.0, 5.0):
            path = tmp_path / f"{seconds}.wav"
            soundfile.write(path, np.full(int(seconds * 16000), 0.25), 16000)
            waveform = load_waveform(path, config=CONFIG)
            assert waveform.shape == (CONFIG.num_samples,)
            assert waveform[:16000].min() == pytest.approx(0.25, abs=1e-4)
        assert waveform[-1] == pytest.approx(0.25, abs=1e-4)


class TestFeatureCache:
    def test_built_once_then_reused(self, tmp_path):
        chunks = write_wavs(tmp_path, 3)
        path = build_feature_cache(chunks, config=CONFIG, cache_dir=tmp_path / "c", verbose=False)
        mtime = path.stat().st_mtime_ns
        again = build_feature_cache(chunks, config=CONFIG, cache_dir=tmp_path / "c", verbose=False)
        assert again == path and path.stat().st_mtime_ns == mtime
        assert read_names(path) == ["chunk0", "chunk1", "chunk2"]
        with h5py.File(path) as f:
            np.testing.assert_allclose(f["features"][1],
                                       log_mel_spectrogram(load_waveform(chunks[1].wav_path,
                                                                         config=CONFIG),
                                                           config=CONFIG))
        assert [p.name for p in (tmp_path / "c").iterdir()] == [path.name]  # no temp files

    def test_new_parameters_or_audio_select_a_new_file(self, tmp_path):
        chunks = write_wavs(tmp_path, 2)
        first = build_feature_cache(chunks, config=CONFIG, cache_dir=tmp_path, verbose=False)
        other = dataclasses.replace(CONFIG, n_mels=32)
        second = build_feature_cache(chunks, config=other, cache_dir=tmp_path, verbose=False)
        assert second != first
        with h5py.File(second) as f:
            assert f["features"].shape == (2, 249, 32)
        os.utime(chunks[0].wav_path, ns=(1, 1))  # the audio changed on disk
        assert build_feature_cache(chunks, config=CONFIG, cache_dir=tmp_path,
                                   verbose=False) != first

    def test_statistics_match_numpy(self, tmp_path):
        features, _ = learnable_arrays(10)
        path = write_cache(tmp_path / "c.h5", features)
        mean, variance = feature_statistics(path, [7, 2, 5], block=2)
        chosen = features[[2, 5, 7]].reshape(-1, features.shape[-1])
        np.testing.assert_allclose(mean, chosen.mean(axis=0), rtol=1e-5, atol=1e-6)
        np.testing.assert_allclose(variance, chosen.var(axis=0), rtol=1e-4)


class TestPipeline:
    def test_rows_stream_with_their_labels(self, tmp_path):
        features, labels = learnable_arrays(12)
        rows = ChunkRows(write_cache(tmp_path / "c.h5", features), [9, 1, 4], labels[[9, 1, 4]])
        got = list(evaluation_batches(rows, batch_size=2).unbatch().as_numpy_iterator())
        assert len(got) == 3
        for (x, y), row in zip(got, [1, 4, 9]):  # file order
            np.testing.assert_array_equal(x, features[row])
            np.testing.assert_array_equal(y, labels[row])
        np.testing.assert_array_equal(rows.labels, labels[[1, 4, 9]])

    def test_training_stream_is_seeded_and_skip_restores_the_position(self, tmp_path):
        features, labels = learnable_arrays(10)
        rows = ChunkRows(write_cache(tmp_path / "c.h5", features), np.arange(10), labels)

        def first_rows(seed, skip, n):
            stream = training_stream(rows, batch_size=4, seed=seed,
                                     skip_batches=skip)
            return [tuple(x[:, 0, 0]) for x, _ in stream.take(n).as_numpy_iterator()]

        run = first_rows(seed=3, skip=0, n=6)
        assert run == first_rows(seed=3, skip=0, n=6)
        assert run[4:] == first_rows(seed=3, skip=4, n=2)
        assert run != first_rows(seed=4, skip=0, n=6)
        # Each epoch (2 full batches of 10 rows) is a fresh permutation without repeats.
        epoch = np.concatenate(run[:2])
        assert len(set(epoch)) == 8
        assert run[:2] != run[2:4]

    def test_batch_larger_than_split_is_refused(self, tmp_path):
        features, labels = learnable_arrays(3)
        rows = ChunkRows(write_cache(tmp_path / "c.h5", features), np.arange(3), labels)
        with pytest.raises(ValueError, match="batch size"):
            training_stream(rows, batch_size=4, seed=0)
