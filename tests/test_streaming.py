"""Streaming tagging (`admlc_tf.serving.streaming`): the export's numbers, in bounded memory."""

from __future__ import annotations

import tracemalloc

import numpy as np
import pytest
import soundfile

from admlc_tf.serving import streaming
from admlc_tf.config import FeatureConfig, PredictorConfig
from admlc_tf.serving.export import export_predictor
from admlc_tf.serving.exported import ExportedPredictor
from admlc_tf.features import read_audio
from admlc_tf.predictors.cgrnn import build_cgrnn
from admlc_tf.recipes.audio import demo_config

LABELS = list("cmfvpbo")


def tiny_export(base, pooling="max"):
    model = build_cgrnn(249, 40, 7, config=PredictorConfig(conv_filters=(4,), gru_units=(6,),
                                                           dense_units=8),
                        feature_mean=np.full(40, -8.0), feature_variance=np.full(40, 9.0))
    return export_predictor(model, base_dir=base, name=f"tagger-{pooling}", label_names=LABELS,
                            metadata={}, features=FeatureConfig(), pooling=pooling)


@pytest.fixture(scope="module")
def exports(tmp_path_factory):
    base = tmp_path_factory.mktemp("models")
    return {p: ExportedPredictor(tiny_export(base, p)) for p in ("max", "mean")}


def stream(model, path, batch_size, **kwargs):
    serving = model.metadata["serving"]
    return streaming.tag_stream(
        path, lambda b: model.segment_probabilities(b).numpy(), sample_rate=16000,
        segment=serving["segment_samples"], hop=serving["hop_samples"],
        pooling=serving["pooling"], batch_size=batch_size, **kwargs)


def whole_layout(waveform, segment, hop):
    """The waveform signature's segments, computed on the whole clip at once."""
    count = 1 + max(0, -(-(len(waveform) - segment) // hop))
    padded = np.pad(waveform, (0, segment + (count - 1) * hop - len(waveform)))
    return np.stack([padded[k * hop:k * hop + segment] for k in range(count)])


@pytest.mark.parametrize("samples,segment,hop,block", [
    (1000, 100, 50, 7), (1000, 100, 50, 1000), (1001, 100, 50, 64), (99, 100, 50, 10),
    (100, 100, 50, 33), (151, 100, 50, 3), (1000, 100, 150, 17), (1000, 100, 100, 250)])
def test_segments_follow_the_signature_layout(samples, segment, hop, block):
    """Every segment equals the whole-clip layout, for blocks smaller and larger than a segment
    and a hop longer than a segment. Fails on an off-by-one in the count, a wrong padding or a
    buffer trimmed past the next segment's start."""
    waveform = np.arange(1, samples + 1, dtype=np.float32)
    info = streaming.StreamInfo(samples=samples)
    blocks = (waveform[i:i + block] for i in range(0, samples, block))
    got = np.stack([s.copy() for s in streaming.segments(blocks, segment=segment, hop=hop,
                                                         info=info)])
    np.testing.assert_array_equal(got, whole_layout(waveform, segment, hop))


@pytest.mark.parametrize("pooling", ["max", "mean"])
def test_a_clip_over_several_batches_matches_the_whole_file_signature(exports, pooling,
                                                                      tmp_path):
    """23.3 s at the model rate = 11 segments in batches of 4 (the last one short, and the
    last segment padded): pooled as the SavedModel pools the whole clip, within 1e-5. Fails if
    a batch is dropped or pooled twice, the mean divides by the wrong count, or the last
    partial batch carries stale rows."""
    model = exports[pooling]
    rng = np.random.default_rng(0)
    clip = (0.1 * rng.standard_normal(372_800)).astype(np.float32)
    clip[200_000:260_000] += 0.5 * np.sin(np.arange(60_000) * 0.3).astype(np.float32)
    path = tmp_path / "clip.wav"
    soundfile.write(path, clip, 16000, subtype="FLOAT")
    pooled, info = stream(model, path, batch_size=4, keep_segments=True,
                          block_seconds=0.37)
    expected = model.tag_waveforms(clip[None])["probabilities"].numpy()[0]
    np.testing.assert_allclose(pooled.result(), expected, atol=1e-5)
    assert info.samples == len(clip) and info.original_rate is None
    per_segment = model.segments(waveform=clip[None])["probabilities"].numpy()[0]
    np.testing.assert_allclose(pooled.segment_probabilities(), per_segment, atol=1e-5)
    assert len(per_segment) == 11


def test_a_resampled_stereo_file_matches_the_whole_file_path(exports, tmp_path):
    """A 44.1 kHz stereo file: mixed and resampled as it streams, it gives the numbers of
    `read_audio` (one-shot librosa resampling) + the waveform signature within 1e-3. Fails if
    channels are not averaged, the resampler is not flushed (the tail lost) or the length
    differs from librosa's."""
    model = exports["max"]
    rng = np.random.default_rng(1)
    stereo = 0.1 * rng.standard_normal((441_000 + 123, 2))
    path = tmp_path / "stereo44k.flac"
    soundfile.write(path, stereo, 44100)
    pooled, info = stream(model, path, batch_size=3, keep_segments=True)
    whole = read_audio(path, sample_rate=16000)
    assert info.samples == len(whole) and info.original_rate == 44100
    expected = model.tag_waveforms(whole[None])["probabilities"].numpy()[0]
    np.testing.assert_allclose(pooled.result(), expected, atol=1e-3)
    per_segment = model.segments(waveform=whole[None])["probabilities"].numpy()[0]
    np.testing.assert_allclose(pooled.segment_probabilities(), per_segment, atol=1e-3)


def test_peak_memory_does_not_grow_with_the_recording(tmp_path):
    """Peak Python/numpy allocations (tracemalloc) while tagging a 1-minute and a 10-minute
    file with the demo-sized CGRNN: within 20% of each other, while reading the 10-minute file
    whole takes 10x the 1-minute one (so the measurement would see a buffer that grows).
    Fails if the stream accumulates blocks, segments or batches."""
    model = ExportedPredictor(export_predictor(
        build_cgrnn(249, 40, 7, config=demo_config().predictor,
                    feature_mean=np.full(40, -8.0), feature_variance=np.full(40, 9.0)),
        base_dir=tmp_path, name="demo", label_names=LABELS, metadata={},
        features=FeatureConfig()))
    rng = np.random.default_rng(2)
    peaks, whole = {}, {}
    for minutes in (1, 10):
        path = tmp_path / f"{minutes}min.wav"
        with soundfile.SoundFile(path, "w", 16000, 1, subtype="PCM_16") as f:
            for _ in range(minutes * 6):
                f.write(0.1 * rng.standard_normal(160_000))
        stream(model, path, batch_size=8)  # warm-up: tracing and thread pools allocate once
        tracemalloc.start()
        stream(model, path, batch_size=8)
        peaks[minutes] = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
        tracemalloc.start()
        read_audio(path, sample_rate=16000)
        whole[minutes] = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
    assert whole[10] > 8 * whole[1]
    assert peaks[10] < 1.2 * peaks[1], peaks
    assert peaks[10] < whole[1], (peaks, whole)  # less than even one minute read whole
