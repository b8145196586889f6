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
from admlc_tf.data.pipeline import ArrayRows, ClipRows, clip_segments, training_stream
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
        chunks.append((f"chunk{i}", path))
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
        from admlc_tf.data.generated.demo import generate_demo_dataset

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
    def test_pads_short_files_and_keeps_long_ones_whole(self, tmp_path):
        # Catches: a long clip cut to one segment (its later frames never reach the cache).
        for seconds, expected in ((1.0, CONFIG.num_samples), (5.0, 5 * 16000)):
            path = tmp_path / f"{seconds}.wav"
            soundfile.write(path, np.full(int(seconds * 16000), 0.25), 16000)
            waveform = load_waveform(path, config=CONFIG)
            assert waveform.shape == (expected,)
            assert waveform[:16000].min() == pytest.approx(0.25, abs=1e-4)
        assert waveform[-1] == pytest.approx(0.25, abs=1e-4)

    @pytest.mark.parametrize("rate,fmt,channels", [(44100, "FLAC", 1), (48000, "OGG", 2),
                                                   (22050, "WAV", 2)])
    def test_any_rate_format_and_channel_count(self, tmp_path, rate, fmt, channels):
        # Catches: no resampling (a 44.1 kHz tone lands in the wrong band), or stereo read as
        # two clips / one channel only.
        t = np.arange(int(2.5 * rate)) / rate
        tone = 0.3 * np.sin(2 * np.pi * 1000 * t)
        audio = np.stack([tone, tone * (-1 if channels == 1 else 0.5)], 1)[:, :channels]
        path = tmp_path / f"clip.{fmt.lower()}"
        soundfile.write(path, audio, rate, format=fmt)
        waveform = load_waveform(path, config=CONFIG)
        assert waveform.shape == (CONFIG.num_samples,)  # 2.5 s at 16 kHz, padded to 4 s
        spectrum = np.abs(np.fft.rfft(waveform[:32000]))
        assert abs(np.argmax(spectrum) * 16000 / 32000 - 1000) < 5


class TestFeatureCache:
    def test_built_once_then_reused(self, tmp_path):
        chunks = write_wavs(tmp_path, 3)
        path = build_feature_cache(chunks, config=CONFIG, cache_dir=tmp_path / "c", verbose=False)
        mtime = path.stat().st_mtime_ns
        again = build_feature_cache(chunks, config=CONFIG, cache_dir=tmp_path / "c", verbose=False)
        assert again == path and path.stat().st_mtime_ns == mtime
        assert read_names(path) == ["chunk0", "chunk1", "chunk2"]
        with h5py.File(path) as f:
            offsets = f["offsets"][()]
            np.testing.assert_allclose(f["features"][offsets[1]:offsets[2]],
                                       log_mel_spectrogram(load_waveform(chunks[1][1],
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
            assert f["features"].shape == (2 * 249, 32)
        os.utime(chunks[0][1], ns=(1, 1))  # the audio changed on disk
        assert build_feature_cache(chunks, config=CONFIG, cache_dir=tmp_path,
                                   verbose=False) != first

    def test_statistics_match_numpy(self, tmp_path):
        features, _ = learnable_arrays(10)
        path = write_cache(tmp_path / "c.h5", features)
        mean, variance = feature_statistics(path, [7, 2, 5])
        chosen = features[[2, 5, 7]].reshape(-1, features.shape[-1])
        np.testing.assert_allclose(mean, chosen.mean(axis=0), rtol=1e-5, atol=1e-6)
        np.testing.assert_allclose(variance, chosen.var(axis=0), rtol=1e-4)


class TestPipeline:
    def test_clips_of_any_length_are_cached_once_and_cropped(self, tmp_path):
        # Catches: a long clip truncated in the cache, or a crop that reads across the next
        # clip's frames (every frame value encodes its clip and position).
        lengths = [40, 95, 40, 61]
        clips = [np.stack([np.full(8, 1000 * i + t, np.float32) for t in range(n)])
                 for i, n in enumerate(lengths)]
        rows = ClipRows(write_cache(tmp_path / "c.h5", clips), np.arange(4), np.eye(4)[:, :3],
                        segment_frames=40)
        assert rows.lengths.tolist() == lengths and rows.num_frames == 40
        stream = training_stream(rows, batch_size=4, seed=0)
        starts = {i: set() for i in range(4)}
        for x, y in stream.take(25).as_numpy_iterator():
            for example, label in zip(x, y):
                clip, start = divmod(int(example[0, 0]), 1000)
                np.testing.assert_array_equal(example[:, 0], 1000 * clip + start + np.arange(40))
                assert start + 40 <= lengths[clip]
                np.testing.assert_array_equal(label, np.eye(4)[clip, :3])
                starts[clip].add(start)
        assert starts[0] == starts[2] == {0}  # a one-segment clip is read whole
        assert len(starts[1]) > 5 and max(starts[1]) > 40  # random crops reach the end

    def test_crops_are_the_same_after_a_resume(self, tmp_path):
        # Catches: crops drawn from a stateful generator (a resumed run would see others).
        clips = [np.random.default_rng(i).normal(size=(30 + 17 * i, 8)) for i in range(6)]
        rows = ClipRows(write_cache(tmp_path / "c.h5", clips), np.arange(6), np.zeros((6, 2)),
                        segment_frames=30)

        def batches(skip, n):
            stream = training_stream(rows, batch_size=3, seed=5, skip_batches=skip)
            return [x for x, _ in stream.take(n).as_numpy_iterator()]

        whole, resumed = batches(0, 8), batches(5, 3)
        for a, b in zip(whole[5:], resumed):
            np.testing.assert_array_equal(a, b)

    def test_scoring_pools_segments_per_clip_as_the_export_does(self, tmp_path):
        # Catches: pooling across clip boundaries when a batch holds several clips, a missing
        # tail segment, or mean and max swapped.
        clips = [np.full((n, 2), float(i), np.float32) for i, n in enumerate([10, 25, 10, 14])]
        path = write_cache(tmp_path / "c.h5", clips)

        def predict(x):  # [b, 10, 2] -> "probability" = the segment's mean frame value / 10
            return np.repeat(x.mean(axis=(1, 2))[:, None] / 10, 3, axis=1)

        for pooling in ("max", "mean"):
            rows = ClipRows(path, np.arange(4), np.zeros((4, 3)), segment_frames=10,
                            hop_frames=5, pooling=pooling, pad_value=-10.0)
            got = rows.score(predict, batch_size=3)[:, 0]
            expected = []
            for i, clip in enumerate(clips):
                segments = clip_segments(clip, 10, 5, -10.0)
                values = segments.mean(axis=(1, 2)) / 10
                expected.append(values.max() if pooling == "max" else values.mean())
            np.testing.assert_allclose(got, expected, rtol=1e-6)
        assert len(clip_segments(clips[1], 10, 5, -10.0)) == 1 + 3  # 25 frames: 0, 5, 10, 15
        assert clip_segments(clips[3], 10, 5, -10.0)[-1, -1, 0] == -10.0  # silence past the end

    def test_array_rows_score_in_order(self):
        rows = ArrayRows(np.arange(10, dtype=np.float32)[:, None], np.zeros((10, 1)))
        np.testing.assert_array_equal(rows.score(lambda x: x * 2, batch_size=3)[:, 0],
                                      np.arange(10) * 2)

    def test_training_stream_is_seeded_and_skip_restores_the_position(self, tmp_path):
        features, labels = learnable_arrays(10)
        rows = ClipRows(write_cache(tmp_path / "c.h5", features), np.arange(10), labels)

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
        rows = ClipRows(write_cache(tmp_path / "c.h5", features), np.arange(3), labels)
        with pytest.raises(ValueError, match="batch size"):
            training_stream(rows, batch_size=4, seed=0)
