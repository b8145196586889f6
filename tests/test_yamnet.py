"""YAMNet (issue 25): the Keras port's sizes, its front end against numpy, the name-by-name
mapping of a weights file written in the published `yamnet.h5` layout (the real file cannot be
fetched here and was never loaded), refusals of other or damaged files in one line, the
waveform export, and `train.py --model yamnet` end to end on a random backbone."""

from __future__ import annotations

from pathlib import Path

import h5py
import keras
import numpy as np
import pytest
import tensorflow as tf

from admlc_tf.errors import AdmlcError
from admlc_tf.predictors import yamnet, yamnet_weights

# The published network's layers with weights and their shapes, written out here from the
# reference's layer table rather than derived from the port, so a port of other sizes fails.
CHANNELS = (32, 64, 128, 128, 256, 256, 512, 512, 512, 512, 512, 512, 1024, 1024)


def published_shapes() -> dict[str, dict[str, tuple]]:
    shapes = {"layer1/conv": {"kernel": (3, 3, 1, 32)}, "layer1/conv/bn": {}}
    for i in range(2, 15):
        cin, cout = CHANNELS[i - 2], CHANNELS[i - 1]
        shapes[f"layer{i}/depthwise_conv"] = {"depthwise_kernel": (3, 3, cin, 1)}
        shapes[f"layer{i}/depthwise_conv/bn"] = {"c": cin}
        shapes[f"layer{i}/pointwise_conv"] = {"kernel": (1, 1, cin, cout)}
        shapes[f"layer{i}/pointwise_conv/bn"] = {"c": cout}
    shapes["layer1/conv/bn"] = {"c": 32}
    shapes["logits"] = {"kernel": (1024, 521), "bias": (521,)}
    for name, slots in shapes.items():
        if "c" in slots:
            c = slots.pop("c")
            slots.update(beta=(c,), moving_mean=(c,), moving_variance=(c,))
    return shapes


def published_values(seed=0) -> dict[str, dict[str, np.ndarray]]:
    """Distinct random values for every published weight (variances positive)."""
    rng = np.random.default_rng(seed)
    out = {}
    for layer, slots in published_shapes().items():
        out[layer] = {}
        for slot, shape in slots.items():
            if slot == "moving_variance":
                value = rng.uniform(0.5, 1.5, shape)
            elif slot in ("beta", "moving_mean", "bias"):
                value = rng.normal(0, 0.1, shape)
            else:
                value = rng.normal(0, 1 / np.sqrt(np.prod(shape[:-1])), shape)
            out[layer][slot] = value.astype(np.float32)
    return out


def write_h5(path: Path, values: dict[str, dict[str, np.ndarray]]) -> Path:
    """A legacy Keras HDF5 weights file as the reference model's `model.save_weights` writes
    it: root `layer_names` (the weightless layers too), one group per layer in name order,
    nested at '/', each with `weight_names` `<layer>/<slot>:0` and a dataset of that name."""
    weightless = ["input_1", "reshape"] + [f"layer{i}/{part}relu" for i in range(1, 15)
                                           for part in (("",) if i == 1 else
                                                        ("depthwise_conv/", "pointwise_conv/"))]
    weightless += ["global_average_pooling2d", "activation"]
    names = weightless[:2] + list(values) + weightless[2:]
    with h5py.File(path, "w") as f:
        f.attrs["layer_names"] = np.array([n.encode() for n in names])
        f.attrs["backend"] = b"tensorflow"
        f.attrs["keras_version"] = b"2.3.0-tf"
        for name in sorted(names):
            group = f.create_group(name) if name not in f else f[name]
            slots = values.get(name, {})
            group.attrs["weight_names"] = np.array([f"{name}/{s}:0".encode() for s in slots])
            for slot, value in slots.items():
                group.create_dataset(f"{name}/{slot}:0", data=value)
    return path


@pytest.fixture(scope="module")
def net():
    return yamnet.build_yamnet()


def test_sizes_match_the_published_network(net):
    """Outputs and the parameter count of the published file (3,751,369). Fails on a wrong
    stride or channel count in the layer table, a bias on a convolution, a batch norm with a
    scale (gamma), or a missing / extra block."""
    out = net(np.zeros((3, 96, 64), np.float32), training=False)
    assert out["logits"].shape == (3, 521) and out["embeddings"].shape == (3, 1024)
    published = sum(int(np.prod(s)) for slots in published_shapes().values()
                    for s in slots.values())
    assert net.count_params() == published == 3751369
    assert net.get_layer("layer14_pointwise_conv_relu").output.shape[1:] == (3, 2, 1024)


def _htk_mel(bins=257, bands=64, rate=16000, low=125.0, high=7500.0) -> np.ndarray:
    """The HTK mel filterbank of `tf.signal.linear_to_mel_weight_matrix` from its definition:
    triangles in mel space (1127 ln(1 + f / 700)), unnormalised, the DC bin left out."""
    mel = lambda f: 1127.0 * np.log1p(np.asarray(f) / 700.0)
    freqs = mel(np.linspace(0, rate / 2, bins))
    edges = np.linspace(mel(low), mel(high), bands + 2)
    lower, centre, upper = edges[:-2], edges[1:-1], edges[2:]
    rising = (freqs[:, None] - lower) / (centre - lower)
    falling = (upper - freqs[:, None]) / (upper - centre)
    matrix = np.maximum(0.0, np.minimum(rising, falling))
    matrix[0] = 0.0
    return matrix


def test_front_end_matches_numpy_on_a_sine():
    """`YamnetMel` against a numpy STFT (periodic Hann of 400 in a 512-point FFT, hop 160, no
    centring), the HTK filterbank, magnitude and log(mel + 0.001); 96 frames per 0.975 s patch,
    64 bands, a 1 kHz sine peaking in the band centred nearest 1 kHz. Fails on a Hamming
    window, centred frames, a power spectrum, a Slaney filterbank, 40 or 96 bands, other band
    edges, log10 or another offset."""
    np.testing.assert_allclose(yamnet.mel_matrix(), _htk_mel(), atol=1e-5)
    t = np.arange(yamnet.PATCH_SAMPLES) / 16000
    noise = 0.02 * np.random.default_rng(0).standard_normal(t.size)  # energy in every band
    wave = (0.5 * np.sin(2 * np.pi * 1000 * t) + noise).astype(np.float32)
    ours = yamnet.YamnetMel()(wave[None])[0].numpy()
    assert ours.shape == (96, 64)
    n = np.arange(400)
    window = 0.5 - 0.5 * np.cos(2 * np.pi * n / 400)
    frames = np.stack([wave[i * 160:i * 160 + 400] * window for i in range(96)])
    magnitude = np.abs(np.fft.rfft(frames, 512))
    expected = np.log(magnitude @ _htk_mel() + 0.001)
    np.testing.assert_allclose(ours, expected, atol=1e-3)
    edges = np.linspace(*(1127 * np.log1p(np.array([125.0, 7500.0]) / 700)), 66)[1:-1]
    centres = 700 * np.expm1(edges / 1127)
    assert ours.mean(0).argmax() == np.abs(centres - 1000).argmin()


def test_weights_file_mapped_name_by_name(tmp_path, net):
    """Every published weight lands in its layer, moving statistics included, and the port's
    first layer and logits match numpy on those values. Distinct random values per weight:
    fails on two groups swapped (e.g. layer8 / layer9, of equal shapes), moving statistics
    left at their initial values, TF1's batch-norm epsilon 1e-3 instead of 1e-4, symmetric
    instead of TensorFlow's 'same' padding at stride 2, a pool other than the mean, or a file
    without Keras' name lists (`layer_names`, `weight_names`) not read by its group names."""
    values = published_values(seed=1)
    yamnet_weights.load_weights(net, write_h5(tmp_path / "yamnet.h5", values))
    for published in yamnet.published_layers():
        layer = net.get_layer(yamnet.keras_name(published))
        slots = values[published]
        assert len(layer.weights) == len(slots), published
        for (slot, expected), weight in zip(slots.items(), layer.weights):
            assert weight.path.endswith(slot.replace("depthwise_", ""))  # Keras 3: "kernel"
            np.testing.assert_array_equal(np.asarray(weight), expected, err_msg=published)
    x = np.random.default_rng(2).normal(size=(2, 96, 64)).astype(np.float32)
    # layer 1: a 3 x 3 stride-2 convolution, 'same' as TF pads it (0 before, 1 after), BN, ReLU.
    kernel = values["layer1/conv"]["kernel"][..., 0, :]  # [3, 3, 32]
    padded = np.pad(x, ((0, 0), (0, 1), (0, 1)))
    conv = np.zeros((2, 48, 32, 32), np.float64)
    for i in range(3):
        for j in range(3):
            conv += padded[:, i:i + 95:2, j:j + 63:2, None] * kernel[i, j]
    bn = values["layer1/conv/bn"]
    expected = np.maximum(0, (conv - bn["moving_mean"]) / np.sqrt(bn["moving_variance"] + 1e-4)
                          + bn["beta"])
    probe = keras.Model(net.input, [net.get_layer("layer1_relu").output,
                                    net.get_layer("layer14_pointwise_conv_relu").output,
                                    net.output["logits"]])
    first, last, logits = (v.numpy() for v in probe(x, training=False))
    bare = write_h5(tmp_path / "bare.h5", published_values(seed=3))
    with h5py.File(bare, "a") as f:  # the name lists gone: read by the published names
        f.visit(lambda name: f[name].attrs.pop("weight_names", None))
        del f.attrs["layer_names"]
    other = yamnet.build_yamnet()
    yamnet_weights.load_weights(other, bare)
    mean = published_values(seed=3)["layer9/pointwise_conv/bn"]["moving_mean"]
    np.testing.assert_array_equal(other.get_layer("layer9_pointwise_conv_bn").weights[1], mean)
    np.testing.assert_allclose(first, expected, atol=1e-4)
    dense = values["logits"]
    np.testing.assert_allclose(logits, last.mean((1, 2)) @ dense["kernel"] + dense["bias"],
                               rtol=1e-4, atol=1e-4)


def _one_line_error(callable_, *args) -> str:
    with pytest.raises(AdmlcError) as info:
        callable_(*args)
    message = str(info.value)
    assert "\n" not in message
    return message


def test_other_networks_and_damaged_files_refused_in_one_line(tmp_path, monkeypatch):
    """Fails if a VGGish-like file, one of other sizes, NaN weights, a cut file, a non-HDF5
    file, a missing path or the default weights without network load silently, change the
    model, or end in a traceback instead of one line naming the file and the fix."""
    model = yamnet.build_yamnet()
    before = [np.asarray(w).copy() for w in model.weights]
    vggish = {f"conv{i}": {"kernel": np.zeros((3, 3, 1, 8), np.float32),
                           "bias": np.zeros(8, np.float32)} for i in range(1, 5)}
    path = write_h5(tmp_path / "vggish.h5", vggish)
    message = _one_line_error(yamnet_weights.load_weights, model, path)
    assert str(path) in message and "not YAMNet weights" in message and "conv1" in message
    assert "--backbone-weights PATH" in message
    big = published_values()
    big["logits"] = {"kernel": np.zeros((1024, 527), np.float32),
                     "bias": np.zeros(527, np.float32)}
    message = _one_line_error(yamnet_weights.load_weights, model,
                              write_h5(tmp_path / "big.h5", big))
    assert "logits/kernel [1024, 527] where logits takes [1024, 521]" in message
    nan = published_values()
    nan["layer5/pointwise_conv"]["kernel"][0, 0, 0, 0] = np.nan
    message = _one_line_error(yamnet_weights.load_weights, model, write_h5(tmp_path / "n.h5", nan))
    assert "damaged: layer5/pointwise_conv/kernel" in message
    cut = write_h5(tmp_path / "cut.h5", published_values())
    cut.write_bytes(cut.read_bytes()[:5000])
    message = _one_line_error(yamnet_weights.load_weights, model, cut)
    assert "cannot be read as a Keras HDF5 weights file" in message and str(cut) in message
    junk = tmp_path / "junk.h5"
    junk.write_bytes(b"not hdf5 at all")
    assert "cannot be read" in _one_line_error(yamnet_weights.load_weights, model, junk)
    assert "is not a file" in _one_line_error(yamnet_weights.load_weights, model,
                                              tmp_path / "nowhere.h5")
    for kept, now in zip(before, model.weights):  # a refused file changes nothing
        np.testing.assert_array_equal(kept, np.asarray(now))

    def offline(*args, **kwargs):
        raise Exception(f"URL fetch failure on {yamnet_weights.URL}: None -- no network")

    monkeypatch.setattr(keras.utils, "get_file", offline)
    message = _one_line_error(yamnet_weights.resolve, "audioset")
    assert "could not be downloaded" in message and "--backbone-weights PATH" in message


def test_export_takes_a_waveform_of_any_length(tmp_path, net):
    """The SavedModel scores a raw 16 kHz waveform of any length, the front end inside,
    padded to whole patches every 0.48 s as the reference pads. Fails if a short clip gives no
    patch, the padding or patch hop is off (patch counts), or the export differs from eager."""
    path = str(tmp_path / "yamnet_export")
    yamnet.export_tagger(net, path)
    served = tf.saved_model.load(path).signatures["serving_default"]
    front = yamnet.YamnetMel()
    rng = np.random.default_rng(4)
    for seconds, count in ((0.5, 1), (0.975, 1), (1.0, 2), (3.0, 6)):
        wave = (0.2 * rng.standard_normal(int(seconds * 16000))).astype(np.float32)
        out = served(waveform=tf.constant(wave))
        assert out["scores"].shape == (count, 521) and out["embeddings"].shape == (count, 1024)
        np.testing.assert_allclose(out["start_s"].numpy(), np.arange(count) * 0.48, atol=1e-6)
        eager = yamnet.tag_waveform(net, wave, front)
        np.testing.assert_allclose(out["scores"].numpy(), eager["scores"].numpy(), atol=1e-5)


def _tiny_folder(root: Path) -> Path:
    """8 clips of 4 s: `tone` (a sine) or `noise`; 4 train, 2 val, 2 test."""
    import soundfile

    rng = np.random.default_rng(0)
    t = np.arange(4 * 16000) / 16000
    rows = ["file,labels,split"]
    (root / "audio").mkdir(parents=True)
    for i in range(8):
        tone = i % 2 == 0
        y = 0.01 * rng.standard_normal(t.size)
        y += 0.3 * np.sin(2 * np.pi * rng.uniform(300, 900) * t) if tone \
            else 0.3 * rng.standard_normal(t.size)
        soundfile.write(str(root / "audio" / f"c{i}.wav"), y.astype(np.float32), 16000)
        split = "train" if i < 4 else "val" if i < 6 else "test"
        rows.append(f"audio/c{i}.wav,{'tone' if tone else 'noise'},{split}")
    (root / "labels.csv").write_text("\n".join(rows) + "\n")
    return root


@pytest.mark.slow
def test_model_yamnet_trains_a_head_on_the_frozen_backbone(tmp_path):
    """`train.py --model yamnet --backbone-weights random` end to end: YAMNet's features are
    set, the backbone's weights are exactly the ones it started from, and the export's
    waveform signature equals the Keras predictor on the offline features. Fails if the
    backbone trains (trainable, or BN statistics updated), the task keeps the log-mel front
    end, the export's front end differs from the cache's, its custom layers do not load, or its
    `segments` signature does not cut a clip longer than a chunk."""
    from admlc_tf.config import ExperimentConfig
    from admlc_tf.features import log_mel_spectrogram, read_audio
    from admlc_tf.predictors.yamnet_transfer import build_backbone
    from admlc_tf.serving.exported import ExportedPredictor
    from tests.helpers import run_script

    data = _tiny_folder(tmp_path / "data")
    result = run_script("train.py", "--data-dir", data, "--model", "yamnet",
                        "--backbone-weights", "random", "--epochs", "1", "--batch-size", "4",
                        "--lr", "0.01", "--out", tmp_path / "run",
                        "--export-dir", tmp_path / "export", "--name", "y", "--quiet",
                        data_home=tmp_path / "home")
    assert result.returncode == 0, result.stderr[-2000:]
    config = ExperimentConfig.load(tmp_path / "run" / "config.json")
    assert config.features.front_end == "yamnet" and config.features.n_mels == 64
    assert config.features.num_frames == 384
    version = tmp_path / "export" / "y" / "1"
    model = ExportedPredictor(version).keras_model()
    initial = build_backbone("random")
    for part in ("yamnet_front", "yamnet_top"):
        for layer in [layer for layer in model.get_layer(part).layers if layer.weights]:
            for a, b in zip(layer.get_weights(), initial.get_layer(layer.name).get_weights()):
                np.testing.assert_array_equal(a, b, err_msg=layer.name)
    wave = read_audio(data / "audio" / "c6.wav", sample_rate=16000)[:config.features.num_samples]
    offline = model(log_mel_spectrogram(wave, config=config.features)[None], training=False)
    served = tf.saved_model.load(str(version)).signatures["serving_default"]
    out = served(waveform=tf.constant(wave[None]))
    np.testing.assert_allclose(out["logits"].numpy(), offline.numpy(), atol=1e-4)
    segments = tf.saved_model.load(str(version)).signatures["segments"]
    clip = read_audio(data / "audio" / "c7.wav", sample_rate=16000)  # 4 s: two segments
    assert segments(waveform=tf.constant(clip[None]))["probabilities"].shape[1] >= 2


def test_bad_yamnet_settings_refused_in_one_line(tmp_path):
    """Fails if musicnn's default weights ("mtt") reach the YAMNet loader, or YAMNet's front end
    with other mel parameters passes the check (the layer would ignore them silently)."""
    import dataclasses

    from admlc_tf.config import FeatureConfig
    from admlc_tf.features import check_front_end
    from admlc_tf.predictors.yamnet_transfer import check_weights, yamnet_features

    assert "musicnn's, not YAMNet's" in _one_line_error(check_weights, "mtt")
    features = yamnet_features(FeatureConfig())
    check_front_end(features)
    message = _one_line_error(check_front_end, dataclasses.replace(features, n_mels=40))
    assert "features.front_end yamnet takes features.n_mels 64, not 40" in message


def test_tagger_averages_patch_embeddings_and_tunes_only_the_top():
    """The head reads the mean of the chunk's 7 patch embeddings (every 48 frames), and with
    `tune_top` only layers 13-14 and the head train. Fails if the chunk is run through the
    network whole (its pool would average other maps), patches are cut at another hop, the
    lower blocks become trainable when fine-tuning, or the top stays frozen."""
    from admlc_tf.predictors.yamnet_transfer import (CHUNK_FRAMES, build_backbone,
                                                     build_yamnet_tagger)

    tagger = build_yamnet_tagger(CHUNK_FRAMES, 3, weights="random", tune_top=True)
    backbone = build_backbone("random")
    x = np.random.default_rng(5).normal(-4, 1, (2, CHUNK_FRAMES, 64)).astype(np.float32)
    batch = np.stack([x[:, s:s + 96] for s in range(0, CHUNK_FRAMES - 95, 48)], 1)
    assert batch.shape[1] == 7
    embeddings = backbone(batch.reshape(-1, 96, 64), training=False)["embeddings"].numpy()
    head = tagger.get_layer("yamnet_head")
    expected = head(embeddings.reshape(2, 7, 1024).mean(1)).numpy()
    np.testing.assert_allclose(tagger(x, training=False).numpy(), expected, atol=1e-5)
    assert not tagger.get_layer("yamnet_front").trainable
    trainable = {w.path.split("/")[0] for w in tagger.trainable_weights}
    assert trainable == {"layer13_depthwise_conv", "layer13_depthwise_conv_bn",
                         "layer13_pointwise_conv", "layer13_pointwise_conv_bn",
                         "layer14_depthwise_conv", "layer14_depthwise_conv_bn",
                         "layer14_pointwise_conv", "layer14_pointwise_conv_bn", "yamnet_head"}
