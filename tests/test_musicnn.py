"""musicnn (issue 25): the Keras port's shapes and layers, its front end against librosa, the
name-by-name mapping of a TF1 checkpoint written in the published layout, refusals of other or
damaged files in one line, the waveform export, and, when the wheel's checkpoints are here, the
port against the original network's outputs (`tests/musicnn_reference.json`, written by
`benchmarks/musicnn_check.py --fixture` from musicnn's own code)."""

from __future__ import annotations

import json
import os
from pathlib import Path

import keras
import librosa
import numpy as np
import pytest
import tensorflow as tf

from admlc_tf.errors import AdmlcError
from admlc_tf.predictors import musicnn, musicnn_weights

REFERENCE = Path(__file__).with_name("musicnn_reference.json")

# The variables of the wheel's MTT_musicnn checkpoint (`tf.train.list_variables`, Adam's slots
# left out), written out here rather than derived from the port, so a port of other sizes fails.
BN = ("gamma", "beta", "moving_mean", "moving_variance")
PUBLISHED = {
    "batch_normalization": 1, "conv2d": (7, 38, 1, 204), "batch_normalization_1": 204,
    "conv2d_1": (7, 67, 1, 204), "batch_normalization_2": 204, "conv2d_2": (128, 1, 1, 51),
    "batch_normalization_3": 51, "conv2d_3": (64, 1, 1, 51), "batch_normalization_4": 51,
    "conv2d_4": (32, 1, 1, 51), "batch_normalization_5": 51, "conv2d_5": (7, 561, 1, 64),
    "batch_normalization_6": 64, "conv2d_6": (7, 64, 1, 64), "batch_normalization_7": 64,
    "conv2d_7": (7, 64, 1, 64), "batch_normalization_8": 64, "batch_normalization_9": 1506,
    "dense": (1506, 200), "batch_normalization_10": 200, "dense_1": (200, 50)}


def published_variables(seed=0, scale=None) -> dict[str, np.ndarray]:
    """Distinct random values for every published variable (variances positive)."""
    rng = np.random.default_rng(seed)
    out = {}
    for scope, shape in PUBLISHED.items():
        if scope.startswith("batch_normalization"):
            for slot in BN:
                value = rng.uniform(0.5, 1.5, shape) if slot in ("gamma", "moving_variance") \
                    else rng.normal(0, 0.1, shape)
                out[f"{scope}/{slot}"] = value.astype(np.float32)
        else:
            fan_in = int(np.prod(shape[:-1]))
            out[f"{scope}/kernel"] = rng.normal(0, (scale or 1.0) / np.sqrt(fan_in),
                                                shape).astype(np.float32)
            out[f"{scope}/bias"] = rng.normal(0, 0.05, shape[-1:]).astype(np.float32)
    return out


def write_checkpoint(folder: Path, variables: dict[str, np.ndarray], extras=True) -> Path:
    """A TF1 V2 checkpoint in the wheel's layout (`folder/.index`, empty file prefix), with the
    optimizer's slots and counters the published files also hold."""
    folder.mkdir(parents=True, exist_ok=True)
    tensors = dict(variables)
    if extras:
        for name, value in variables.items():
            tensors[f"{name}/Adam"] = tensors[f"{name}/Adam_1"] = np.zeros_like(value)
        tensors["beta1_power"] = tensors["beta2_power"] = np.float32(0.9)
    names = sorted(tensors)
    tf.raw_ops.SaveV2(prefix=str(folder) + "/", tensor_names=names,
                      shape_and_slices=[""] * len(names),
                      tensors=[tf.constant(tensors[n]) for n in names])
    return folder


@pytest.fixture(scope="module")
def net():
    return musicnn.build_musicnn(frames=None)


def test_shapes_and_sizes_match_the_published_network(net):
    """Outputs of every length and the parameter count of the checkpoint. Fails on a wrong
    filter count (e.g. 1.6 * 128 rounded up), kernel, mid-end width (561 + 3 * 64) or a
    back end that concatenates instead of interleaving the pools (it would still be 1,506)."""
    for frames in (187, 250, 64):
        out = net(np.zeros((2, frames, 96), np.float32), training=False)
        assert out["logits"].shape == (2, 50)
        assert out["penultimate"].shape == (2, 200)
        assert out["mean_pool"].shape == out["max_pool"].shape == (2, 753)
    published = sum(int(np.prod(v.shape)) for v in published_variables().values())
    assert net.count_params() == published == 792079


def test_pools_interleave_max_and_mean():
    """The checkpoint's dense kernel reads (max_0, mean_0, max_1, ...), the flattening of the
    original's `[753, 2]` stack. Fails on `concat([max, mean])`, which loads without error and
    gives wrong tags."""
    x = np.array([[[1.0, 10.0], [3.0, 20.0], [2.0, 60.0]]], np.float32)  # [1, 3 frames, 2]
    pooled = musicnn.MaxMeanPool()(x).numpy()
    np.testing.assert_allclose(pooled, [[3.0, 2.0, 60.0, 30.0]])


def test_front_end_matches_librosa_with_either_padding():
    """`MusicnnMel` against `librosa.feature.melspectrogram` + float16 + log10(10000 x + 1).
    Fails on a Hamming window, uncentred frames, another pad mode, a natural log, power 1, or
    a missing float16 rounding (then nearly every element is off by up to 2e-4, not ~1 %)."""
    rng = np.random.default_rng(3)
    wave = (0.3 * rng.standard_normal(16000 * 2)).astype(np.float32)
    for mode in ("constant", "reflect"):
        ref = librosa.feature.melspectrogram(y=wave, sr=16000, hop_length=256, n_fft=512,
                                             n_mels=96, pad_mode=mode).T
        ref = np.log10(10000 * ref.astype(np.float16) + 1)
        ours = musicnn.MusicnnMel(mode)(wave[None])[0].numpy()
        assert ours.shape == ref.shape == (1 + len(wave) // 256, 96)
        diff = np.abs(ours - ref)
        assert diff.max() < 2e-3  # one float16 step at most
        assert np.mean(diff > 1e-5) < 0.02, mode


def test_checkpoint_mapped_name_by_name(tmp_path, net):
    """Every published variable lands in its layer, batch-norm moving statistics included.
    Distinct random values per variable: fails on two scopes swapped (e.g. the 64- and 32-frame
    temporal filters, or batch_normalization_3 / _4 of equal shapes), moving stats left at
    their initial values, or the mid-end kernels not reshaped from 2-D."""
    variables = published_variables(seed=1)
    musicnn_weights.load_checkpoint(net, write_checkpoint(tmp_path / "MTT_musicnn", variables))
    for scope, layer_name in musicnn_weights.LAYERS:
        layer = net.get_layer(layer_name)
        slots = BN if scope.startswith("batch") else ("kernel", "bias")
        assert len(layer.weights) == len(slots)
        for slot, weight in zip(slots, layer.weights):
            expected = variables[f"{scope}/{slot}"]
            np.testing.assert_array_equal(np.asarray(weight).reshape(expected.shape), expected,
                                          err_msg=f"{scope}/{slot} -> {layer_name}")
    # Inference normalises with the moving statistics and TF1's epsilon (1e-3).
    bn = {slot: variables[f"batch_normalization/{slot}"] for slot in BN}
    x = np.random.default_rng(2).normal(size=(1, 20, 96)).astype(np.float32)
    probe = keras.Model(net.input, net.get_layer("input_bn").output)
    expected = bn["gamma"] * (x - bn["moving_mean"]) / np.sqrt(bn["moving_variance"] + 1e-3) \
        + bn["beta"]
    np.testing.assert_allclose(probe(x, training=False).numpy()[..., 0], expected, atol=1e-5)


def _one_line_error(callable_, *args) -> str:
    with pytest.raises(AdmlcError) as info:
        callable_(*args)
    message = str(info.value)
    assert "\n" not in message
    return message


def test_other_networks_and_damaged_files_refused_in_one_line(tmp_path):
    """Fails if a vgg checkpoint, one of other sizes, NaN weights, a truncated data file or a
    non-checkpoint loads silently or with a traceback instead of one line naming the file."""
    net = musicnn.build_musicnn()
    before = [np.asarray(w).copy() for w in net.weights]
    vgg = {f"{n}CNN/kernel": np.zeros((3, 3, 1, 128), np.float32) for n in range(1, 6)}
    path = write_checkpoint(tmp_path / "MTT_vgg", vgg)
    message = _one_line_error(musicnn_weights.load_checkpoint, net, path)
    assert str(path) in message and "not a musicnn checkpoint" in message and "1CNN" in message
    big = published_variables()
    big["conv2d_5/kernel"] = np.zeros((7, 561, 1, 512), np.float32)
    path = write_checkpoint(tmp_path / "MSD_musicnn_big", big)
    message = _one_line_error(musicnn_weights.load_checkpoint, net, path)
    assert "conv2d_5/kernel [7, 561, 1, 512]" in message and "midend_1" in message
    nan = published_variables()
    nan["dense/kernel"][0, 0] = np.nan
    path = write_checkpoint(tmp_path / "nan", nan)
    assert "damaged: dense/kernel" in _one_line_error(musicnn_weights.load_checkpoint, net, path)
    path = write_checkpoint(tmp_path / "cut", published_variables())
    data = path / ".data-00000-of-00001"
    data.write_bytes(data.read_bytes()[:1000])
    message = _one_line_error(musicnn_weights.load_checkpoint, net, path)
    assert "cannot be read as a TF checkpoint" in message and str(path) in message
    junk = tmp_path / "junk.index"
    junk.write_bytes(b"not a checkpoint")
    assert "cannot be read" in _one_line_error(musicnn_weights.load_checkpoint, net, junk)
    for kept, now in zip(before, net.weights):  # a refused file changes nothing
        np.testing.assert_array_equal(kept, np.asarray(now))


def test_missing_weights_say_how_to_pass_them(tmp_path, monkeypatch):
    """Fails if a missing path or an absent wheel ends in a traceback or without the flag and
    the pip command."""
    message = _one_line_error(musicnn_weights.checkpoint_prefix, tmp_path / "nowhere")
    assert "--backbone-weights PATH" in message and "pip install --no-deps musicnn==0.1.0" in message
    monkeypatch.setattr(musicnn_weights.importlib.util, "find_spec", lambda name: None)
    message = _one_line_error(musicnn_weights.resolve, "mtt")
    assert "MTT_musicnn weights are not installed" in message and "--backbone-weights" in message


def test_export_takes_a_waveform_of_any_length(tmp_path, net):
    """The SavedModel tags a raw 16 kHz waveform of any length with the front end inside, patch
    by patch as musicnn does. Fails if a short clip is not padded to one patch, patches are cut
    at the wrong frames, or the export's outputs differ from the eager port's."""
    path = str(tmp_path / "musicnn_export")
    musicnn.export_tagger(net, path)
    served = tf.saved_model.load(path).signatures["serving_default"]
    front = musicnn.MusicnnMel()
    rng = np.random.default_rng(4)
    for seconds, count in ((1.0, 1), (3.0, 1), (6.5, 2), (9.0, 3)):
        wave = (0.2 * rng.standard_normal(int(seconds * 16000))).astype(np.float32)
        out = served(waveform=tf.constant(wave))
        assert out["taggram"].shape == (count, 50) and out["embeddings"].shape == (count, 200)
        np.testing.assert_allclose(out["start_s"].numpy(), np.arange(count) * 187 * 256 / 16000)
        eager = musicnn.tag_waveform(net, wave, front)
        np.testing.assert_allclose(out["taggram"].numpy(), eager["taggram"].numpy(), atol=1e-6)
        if seconds >= 6.5:  # the second patch is frames 187..373 of the whole clip's mel
            mel = front(wave[None])[0].numpy()
            second = net(mel[None, 187:374], training=False)["penultimate"].numpy()
            np.testing.assert_allclose(out["embeddings"].numpy()[1], second[0], atol=1e-4)


def _weights_folder():
    """The wheel's musicnn/ folder: $ADMLC_MUSICNN_DIR, else an installed musicnn package."""
    if os.environ.get("ADMLC_MUSICNN_DIR"):
        return Path(os.environ["ADMLC_MUSICNN_DIR"])
    found = musicnn_weights.installed_checkpoint()
    return found.parent if found else None


@pytest.mark.parametrize("model", ["MTT_musicnn", "MSD_musicnn"])
def test_published_weights_reproduce_the_original_network(model):
    """The real checkpoints, on the clip of the fixture, against musicnn's own graph's taggram
    and embeddings. Fails on any mapping, layer or front-end error that the synthetic tests
    miss (the tolerances are float32 rounding and float16 steps of the mel)."""
    from benchmarks.musicnn_check import synthetic_music

    folder = _weights_folder()
    if folder is None or not (folder / model / ".index").is_file():
        pytest.skip(f"the {model} weights are not here: set ADMLC_MUSICNN_DIR to the musicnn/ "
                    "folder of the musicnn 0.1.0 wheel, or pip install --no-deps musicnn==0.1.0")
    reference = json.loads(REFERENCE.read_text())
    assert reference["clip"] == "synthetic_music(10.0, 16000, 0)"
    expected = reference["models"][model]
    net = musicnn.build_musicnn(frames=None)
    musicnn_weights.load_checkpoint(net, folder / model)
    out = musicnn.tag_waveform(net, synthetic_music(10.0, 16000, 0), musicnn.MusicnnMel("constant"))
    np.testing.assert_allclose(out["taggram"].numpy(), expected["taggram"], atol=1e-4)
    np.testing.assert_allclose(out["embeddings"].numpy(), expected["penultimate"], atol=1e-3)
    default = musicnn.tag_waveform(net, synthetic_music(10.0, 16000, 0), musicnn.MusicnnMel())
    top = np.argsort(-np.mean(expected["taggram"], 0))[:3]
    assert set(np.argsort(-default["taggram"].numpy().mean(0))[:3]) == set(top)


def _tiny_folder(root: Path) -> Path:
    """12 clips of 3.5 s: `tone` (a sine), `noise` (gated noise) or both; 8 train, 2 val, 2 test."""
    import soundfile

    rng = np.random.default_rng(0)
    t = np.arange(int(3.5 * 16000)) / 16000
    rows = ["file,labels,split"]
    (root / "audio").mkdir(parents=True)
    for i in range(12):
        tone, noise = i % 2 == 0 or i % 3 != 0, i % 3 == 0
        y = 0.01 * rng.standard_normal(t.size)
        y += 0.3 * np.sin(2 * np.pi * rng.uniform(300, 900) * t) * tone
        y += 0.3 * rng.standard_normal(t.size) * (np.sin(2 * np.pi * 4 * t) > 0) * noise
        soundfile.write(str(root / "audio" / f"c{i:02d}.wav"), y.astype(np.float32), 16000)
        labels = ";".join(n for n, on in (("tone", tone), ("noise", noise)) if on)
        rows.append(f"audio/c{i:02d}.wav,{labels},{'train' if i < 8 else 'val' if i < 10 else 'test'}")
    (root / "labels.csv").write_text("\n".join(rows) + "\n")
    return root


def _backbone_parts(version: Path):
    from admlc_tf.serving.exported import ExportedPredictor

    model = keras.models.load_model(version / ExportedPredictor.ASSETS / ExportedPredictor.KERAS)
    return model, {part: [layer for layer in model.get_layer(part).layers if layer.weights]
                   for part in ("musicnn_front", "musicnn_top")}


def _same_as_initial(layers, initial) -> bool:
    return all(np.array_equal(a, b) for layer in layers
               for a, b in zip(layer.get_weights(), initial.get_layer(layer.name).get_weights()))


@pytest.mark.slow
def test_model_musicnn_trains_a_head_on_the_frozen_backbone(tmp_path):
    """`train.py --model musicnn` end to end (random backbone: nothing to install): musicnn's
    features are set, the backbone's weights are exactly the ones it started from, and the
    export's waveform signature equals the Keras predictor on the offline features. With
    `--freeze-epochs 1` the top blocks train after the first epoch and the front end never.
    Fails if the backbone trains by default (trainable, or BN statistics updated), the front
    end trains when fine-tuning, the top never does, the task keeps the log-mel front end, or
    the export's front end differs from the cache's, or its Keras model cannot be read by a
    process that has not imported the port."""
    from admlc_tf.config import ExperimentConfig
    from admlc_tf.features import log_mel_spectrogram, read_audio
    from admlc_tf.predictors.musicnn_transfer import build_backbone
    from tests.helpers import run_script

    data = _tiny_folder(tmp_path / "data")
    initial = build_backbone("random")
    for run, extra in (("frozen", ()), ("tuned", ("--freeze-epochs", "1"))):
        result = run_script("train.py", "--data-dir", data, "--model", "musicnn",
                            "--backbone-weights", "random", "--epochs", "2", "--batch-size", "4",
                            "--lr", "0.01", *extra, "--out", tmp_path / run,
                            "--export-dir", tmp_path / f"export-{run}", "--name", "m",
                            "--quiet", data_home=tmp_path / "home")
        assert result.returncode == 0, result.stderr[-2000:]
        model, parts = _backbone_parts(tmp_path / f"export-{run}" / "m" / "1")
        assert len(parts["musicnn_front"]) == 11 and len(parts["musicnn_top"]) == 9
        assert _same_as_initial(parts["musicnn_front"], initial)
        assert _same_as_initial(parts["musicnn_top"], initial) == (run == "frozen")
    config = ExperimentConfig.load(tmp_path / "frozen" / "config.json")
    assert config.features.front_end == "musicnn" and config.features.n_mels == 96
    assert config.features.num_frames == 188
    wave = read_audio(data / "audio" / "c10.wav", sample_rate=16000)[:48000]  # one segment
    offline = model(log_mel_spectrogram(wave, config=config.features)[None], training=False)
    served = tf.saved_model.load(str(tmp_path / "export-tuned" / "m" / "1"))
    served = served.signatures["serving_default"](waveform=tf.constant(wave[None]))
    np.testing.assert_allclose(served["logits"].numpy(), offline.numpy(), atol=1e-4)
    # A fresh process (as --init-from is) reads the export's Keras model: its custom layers
    # must register without the test having imported them.
    version = tmp_path / "export-tuned" / "m" / "1"
    loaded = run_script("-c", "from admlc_tf.serving.exported import ExportedPredictor; "
                        f"print(ExportedPredictor('{version}').keras_model().name)")
    assert loaded.returncode == 0 and loaded.stdout.strip().endswith("predictor"), loaded.stderr[-800:]


@pytest.mark.slow
def test_train_refuses_bad_musicnn_weights_in_one_line(tmp_path):
    """`--backbone-weights` that is no checkpoint, and (without the wheel) the default, end as
    one `error:` line with exit code 2 before any data is read. Fails on a traceback, or on an
    error only after the features were extracted (no data folder is given here at all)."""
    from tests.helpers import run_script

    missing = tmp_path / "nowhere"
    result = run_script("train.py", "--model", "musicnn", "--backbone-weights", missing,
                        data_home=tmp_path / "home")
    assert result.returncode == 2, result.stderr[-2000:]
    lines = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert len(lines) == 1 and str(missing) in lines[0] and "--backbone-weights" in lines[0]
    if musicnn_weights.installed_checkpoint() is None:
        result = run_script("train.py", "--model", "musicnn", data_home=tmp_path / "home")
        assert result.returncode == 2
        assert "pip install --no-deps musicnn==0.1.0" in result.stderr.strip().splitlines()[-1]


def test_embedding_cache_is_keyed_on_the_weights(tmp_path):
    """One row per clip, equal to the embedder's output; the same weights reuse the file, other
    weights make another. Fails if the key ignores the weights (a stale cache read for other
    weights) or rows are written out of clip order."""
    from admlc_tf.data.embedding_cache import build_embedding_cache
    from admlc_tf.data.musicnn_embedder import MusicnnEmbedder
    from admlc_tf.data.image_cache import CachedMatrix
    from admlc_tf.features import read_audio

    data = _tiny_folder(tmp_path / "data")
    clips = [(p.name, p) for p in sorted((data / "audio").glob("*.wav"))[:3]]
    random = MusicnnEmbedder("random")
    first = build_embedding_cache(clips, random, cache_dir=tmp_path / "cache", verbose=False)
    stamp = first.stat().st_mtime_ns
    assert build_embedding_cache(clips, random, cache_dir=tmp_path / "cache",
                                 verbose=False) == first
    assert first.stat().st_mtime_ns == stamp
    rows = CachedMatrix(first)[np.arange(3)]
    for row, (_, path) in zip(rows, clips):
        np.testing.assert_allclose(row, random(read_audio(path, sample_rate=16000)), atol=1e-6)
    other = MusicnnEmbedder(str(write_checkpoint(tmp_path / "ckpt", published_variables(5))))
    second = build_embedding_cache(clips, other, cache_dir=tmp_path / "cache", verbose=False)
    assert second != first and not np.allclose(CachedMatrix(second)[np.arange(3)], rows)


@pytest.mark.slow
def test_task_embeddings_trains_and_exports_an_audio_model(tmp_path):
    """`train.py --task embeddings` end to end (random backbone), then the export's waveform
    signature on a 3 s clip equals the fitted vector model on that clip's cached-style
    embedding. Fails if the export's segment model crops, pools or embeds otherwise than the
    cache, or the export is not an audio export (no `segments`, no musicnn features)."""
    import json as json_

    from admlc_tf.data.musicnn_embedder import MusicnnEmbedder
    from admlc_tf.features import read_audio
    from admlc_tf.serving.exported import ExportedPredictor
    from tests.helpers import run_script

    data = _tiny_folder(tmp_path / "data")
    result = run_script("train.py", "--task", "embeddings", "--data-dir", data,
                        "--backbone-weights", "random", "--epochs", "3", "--batch-size", "4",
                        "--out", tmp_path / "run", "--export-dir", tmp_path / "export",
                        "--quiet", data_home=tmp_path / "home")
    assert result.returncode == 0, result.stderr[-2000:]
    assert len(list((tmp_path / "home" / "features").glob("embeddings-*.h5"))) == 1
    version = tmp_path / "export" / "embeddings-warp" / "1"
    meta = json_.loads((version / "assets" / "export_config.json").read_text())
    assert meta["features"]["front_end"] == "musicnn" and meta["serving"]["segment_samples"] == 48000
    assert meta["embeddings"]["backbone_weights"] == "random"
    model = keras.models.load_model(version / ExportedPredictor.ASSETS / ExportedPredictor.KERAS)
    head = model.layers[-1]  # the fitted vector model, last in the segment model
    wave = read_audio(data / "audio" / "c10.wav", sample_rate=16000)[:48000]
    embedding = MusicnnEmbedder("random")(wave)
    expected = head(embedding[None], training=False).numpy()
    loaded = tf.saved_model.load(str(version))
    served = loaded.signatures["serving_default"](waveform=tf.constant(wave[None]))
    np.testing.assert_allclose(served["logits"].numpy(), expected, atol=1e-4)
    segments = loaded.signatures["segments"](waveform=tf.constant(np.tile(wave, 2)[None]))
    assert segments["probabilities"].shape[1] >= 2


def test_scored_segments_are_padded_with_musicnn_silence():
    """A clip's last scored segment is filled with the feature value of silence; for musicnn's
    front end that is 0 (log10(1)), not the log-mel floor log(1e-6). Fails if the validation and
    test scoring (and evaluate.py) pad musicnn features with -13.8, far outside anything the
    backbone saw, where the export pads the waveform with zeros."""
    from admlc_tf.config import FeatureConfig
    from admlc_tf.features import silence_value
    from admlc_tf.predictors.musicnn_transfer import musicnn_features

    features = musicnn_features(FeatureConfig())
    silent = musicnn.MusicnnMel()(np.zeros((1, 48000), np.float32)).numpy()
    assert silence_value(features) == 0.0
    np.testing.assert_array_equal(silent, np.full_like(silent, silence_value(features)))
    assert silence_value(FeatureConfig()) == pytest.approx(np.log(1e-6))
