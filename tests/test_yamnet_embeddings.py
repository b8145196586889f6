"""YAMNet in `--task embeddings` (issue 25, item 3) and YAMNet's TFLite exports.

The backbone reads a weights file written in the published `yamnet.h5` layout with random
values (`tests.test_yamnet.write_h5`), scaled so a signal survives the 14 blocks: the real file
cannot be fetched here, a "random" YAMNet's embeddings are all ~1e-20 (its activations die
out), and `test_yamnet`'s values give every clip the same embedding (the batch norms' offsets
win); either would let a wrong patching or pooling pass every comparison below."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import tensorflow as tf

from admlc_tf.errors import AdmlcError
from tests.test_yamnet import published_values, write_h5

SEGMENT = 61680  # 3.855 s: --model yamnet's chunk, 7 patches of 0.96 s every 0.48 s


def varied_values(seed: int = 1) -> dict:
    """`published_values` with each convolution's kernel at He scale (std sqrt(2 / fan-in))."""
    values = published_values(seed)
    for layer, slots in values.items():
        for slot, kernel in slots.items():
            if slot in ("kernel", "depthwise_kernel") and layer != "logits":
                fan_in = 9 if slot == "depthwise_kernel" or layer == "layer1/conv" \
                    else kernel.shape[2]
                slots[slot] = (kernel / kernel.std() * np.sqrt(2 / fan_in)).astype(np.float32)
    return values


@pytest.fixture(scope="module")
def weights(tmp_path_factory) -> Path:
    return write_h5(tmp_path_factory.mktemp("yamnet") / "yamnet.h5", varied_values())


@pytest.fixture(scope="module")
def embedder(weights):
    from admlc_tf.data.yamnet_embedder import YamnetEmbedder

    return YamnetEmbedder(str(weights))


def _clips(root: Path, count: int = 8, seconds: float = 2.0) -> Path:
    """A labels.csv folder of short 16 kHz clips, `tone` (a sine) or `noise`, with splits."""
    import soundfile

    rng = np.random.default_rng(0)
    t = np.arange(int(seconds * 16000)) / 16000
    rows = ["file,labels,split"]
    (root / "audio").mkdir(parents=True)
    for i in range(count):
        tone = i % 2 == 0
        y = 0.3 * np.sin(2 * np.pi * rng.uniform(300, 900) * t) if tone \
            else 0.3 * rng.standard_normal(t.size)
        soundfile.write(str(root / "audio" / f"c{i}.wav"), y.astype(np.float32), 16000)
        split = "train" if i < count - 4 else "val" if i < count - 2 else "test"
        rows.append(f"audio/c{i}.wav,{'tone' if tone else 'noise'},{split}")
    (root / "labels.csv").write_text("\n".join(rows) + "\n")
    return root


def test_backbone_flag_and_its_default_weights(tmp_path):
    """`--backbone yamnet` selects YAMNet with audioset weights, no flag keeps musicnn with mtt,
    and an unknown backbone or musicnn's weights for YAMNet end in one line. Fails if the
    weights default stays musicnn's for YAMNet (mtt would reach the YAMNet loader), `--backbone`
    stays the images task's field, or a typo builds musicnn silently."""
    from admlc_tf import recipes
    from admlc_tf.recipes.embeddings import validate

    def configured(**fields):
        config = recipes.default_config("embeddings", with_data=True)
        config.data.data_dir = str(tmp_path)
        return recipes.configure(config, {"task": "embeddings", "out_dir": str(tmp_path),
                                          **fields})

    plain = configured()
    assert (plain.predictor.backbone, plain.predictor.backbone_weights) == ("musicnn", "mtt")
    assert plain.name == "embeddings-warp"
    chosen = configured(**{"images.backbone": "yamnet"})
    assert (chosen.predictor.backbone, chosen.predictor.backbone_weights) == ("yamnet",
                                                                              "audioset")
    assert chosen.name == "embeddings-yamnet-warp"
    for fields, expected in (({"images.backbone": "vggish"}, "not an embeddings backbone"),
                             ({"images.backbone": "yamnet", "images.backbone_weights": "mtt"},
                              "musicnn's, not YAMNet's")):
        with pytest.raises(AdmlcError) as info:
            validate(configured(**fields))
        assert expected in str(info.value) and "\n" not in str(info.value)


def test_cache_is_keyed_on_the_backbone(tmp_path, embedder):
    """musicnn and YAMNet caches of the same clips are two files, each of its backbone's rows
    (YAMNet's: the mean of the clip's patch embeddings); building again reuses the file. Fails
    if the registry hands back musicnn for yamnet, the cache's row size is musicnn's, the key
    ignores the backbone (YAMNet would read musicnn's rows) or a second run extracts again."""
    from admlc_tf.data.embedders import build_embedder
    from admlc_tf.data.embedding_cache import build_embedding_cache
    from admlc_tf.data.image_cache import CachedMatrix
    from admlc_tf.features import read_audio
    from admlc_tf.predictors import yamnet

    data = _clips(tmp_path / "data", count=3, seconds=1.5)
    clips = [(p.name, p) for p in sorted((data / "audio").glob("*.wav"))]
    cache = tmp_path / "cache"
    musicnn_path = build_embedding_cache(clips, build_embedder("musicnn", "random"),
                                         cache_dir=cache, verbose=False)
    yamnet_path = build_embedding_cache(clips, embedder, cache_dir=cache, verbose=False)
    assert yamnet_path != musicnn_path and embedder.name == "yamnet"
    assert CachedMatrix(musicnn_path)[np.arange(3)].shape == (3, 200)
    rows = CachedMatrix(yamnet_path)[np.arange(3)]
    stamp = yamnet_path.stat().st_mtime_ns
    assert build_embedding_cache(clips, embedder, cache_dir=cache, verbose=False) == yamnet_path
    assert yamnet_path.stat().st_mtime_ns == stamp
    wave = read_audio(clips[1][1], sample_rate=16000)
    patches = yamnet.tag_waveform(embedder.model, wave, yamnet.YamnetMel())["embeddings"]
    assert patches.shape[0] == 3  # 1.5 s: patches at 0, 0.48 and 0.96 s
    np.testing.assert_allclose(rows[1], patches.numpy().mean(0), atol=1e-5)
    assert np.abs(rows[0] - rows[1]).max() > 1e-2  # a tone and noise: embeddings that differ


def _head(dims: int, labels: int = 3):
    import keras

    keras.utils.set_random_seed(7)
    x = keras.Input((dims,), name="x")
    return keras.Model(x, keras.layers.Dense(labels, name="head")(x), name="head_model")


@pytest.fixture(scope="module")
def embeddings_export(tmp_path_factory, embedder):
    """The embeddings task's export of a head on YAMNet, with its TFLite files."""
    from admlc_tf.serving.export import export_predictor
    from admlc_tf.serving.exported import ExportedPredictor

    head = _head(embedder.dims)
    path = export_predictor(embedder.segment_model(head),
                            base_dir=tmp_path_factory.mktemp("export"), name="y",
                            label_names=["a", "b", "c"], metadata={},
                            features=embedder.segment_features(), tflite=True)
    return ExportedPredictor(path), head


def test_export_segments_equal_the_head_on_the_embedding(embeddings_export, embedder):
    """A 6 s waveform through the export's `segments` signature: each 3.855 s segment's
    probabilities (the last one's audio zero-padded) equal the head on the embedder's clip embedding of that segment's audio.
    Fails if the export runs a segment through the network whole (the pool would average
    other maps than the patches'), cuts patches at another hop, takes the log-mel front end
    instead of YAMNet's, or cuts segments of another length than the cache's patches fill."""
    model, head = embeddings_export
    assert model.metadata["features"]["front_end"] == "yamnet"
    assert model.metadata["serving"]["segment_samples"] == SEGMENT
    rng = np.random.default_rng(3)
    t = np.arange(6 * 16000) / 16000
    wave = np.where(t < 2, 0.3 * np.sin(2 * np.pi * 440 * t),  # a tone, loud noise, soft noise
                    np.where(t < 4, 0.3, 0.02) * rng.standard_normal(t.size)).astype(np.float32)
    out = model.segments(waveform=tf.constant(wave[None]))
    probabilities, starts = out["probabilities"].numpy()[0], out["start_s"].numpy()[0]
    assert probabilities.shape == (3, 3)  # at 0, 2 and 4 s, the last one zero-padded
    hop = int(round(starts[1] * 16000))
    for k in range(3):
        audio = np.pad(wave[k * hop:k * hop + SEGMENT], (0, max(0, SEGMENT - (t.size - k * hop))))
        expected = tf.sigmoid(head(embedder(audio)[None])).numpy()[0]
        np.testing.assert_allclose(probabilities[k], expected, atol=1e-5)
    assert np.ptp(probabilities, axis=0).max() > 1e-2  # segments of other audio score otherwise


def test_embeddings_tflite_matches_the_saved_model(embeddings_export):
    """`model.tflite` of the YAMNet embeddings export, on three segments (a tone, noise,
    silence), within 2e-4 of the SavedModel's probabilities (6e-5 measured); the int8 file
    (dynamic range) only within 0.2 (0.09 measured: it quantises the matmul that projects the
    magnitude spectrum onto the mel bands, and YAMNet's front end is its own layer, without
    the log-mel front end's `mel_by_sum`).
    Fails if an op needs the Select TF ops delegate (conversion would refuse), the TFLite
    front end differs from the SavedModel's, or its weights are not the backbone's."""
    from admlc_tf.serving.audio import TFLiteSegments

    model, _ = embeddings_export
    rng = np.random.default_rng(4)
    t = np.arange(SEGMENT) / 16000
    segments = np.stack([0.3 * np.sin(2 * np.pi * 700 * t), 0.2 * rng.standard_normal(SEGMENT),
                         np.zeros(SEGMENT)]).astype(np.float32)
    expected = model.segment_probabilities(segments).numpy()
    float32 = TFLiteSegments(model.backend_file("tflite"))(segments)
    np.testing.assert_allclose(float32, expected, atol=2e-4)
    int8 = TFLiteSegments(model.backend_file("tflite-int8"))(segments)
    np.testing.assert_allclose(int8, expected, atol=0.2)


@pytest.mark.slow
def test_model_yamnet_tflite_matches_the_saved_model(tmp_path, weights):
    """`--model yamnet --tflite`'s export (the audio recipe exports the tagger so): TFLite
    float32 within 2e-4 of the SavedModel on a chunk. Fails if YAMNet's tagger (its patch
    cutting and mean layers) cannot be converted to TFLite builtins, or converts to another
    function."""
    from admlc_tf.config import FeatureConfig
    from admlc_tf.predictors.yamnet_transfer import build_yamnet_tagger, yamnet_features
    from admlc_tf.serving.audio import TFLiteSegments
    from admlc_tf.serving.export import export_predictor
    from admlc_tf.serving.exported import ExportedPredictor

    features = yamnet_features(FeatureConfig())
    tagger = build_yamnet_tagger(features.num_frames, 2, weights=str(weights))
    model = ExportedPredictor(export_predictor(tagger, base_dir=tmp_path, name="y",
                                               label_names=["a", "b"], metadata={},
                                               features=features, tflite=True))
    segment = (0.2 * np.random.default_rng(5).standard_normal((1, SEGMENT))).astype(np.float32)
    expected = model.segment_probabilities(segment).numpy()
    np.testing.assert_allclose(TFLiteSegments(model.backend_file("tflite"))(segment), expected,
                               atol=2e-4)


def _train(tmp_path, data, weights, *extra):
    from tests.helpers import run_script

    return run_script("train.py", "--task", "embeddings", "--data-dir", data, "--backbone",
                      "yamnet", "--backbone-weights", weights, "--epochs", "2", "--batch-size",
                      "4", "--export-dir", tmp_path / "export", "--quiet", *extra,
                      data_home=tmp_path / "home")


@pytest.mark.slow
def test_task_embeddings_yamnet_trains_with_and_without_the_critic(tmp_path, weights, embedder):
    """`train.py --task embeddings --backbone yamnet` end to end, with the critic (the task's
    default) and `--no-adversarial`: both train and export, the second run reuses the first's
    cache, and the export's `serving_default` on one segment equals the fitted model on the
    embedder's embedding of it. Fails if `--backbone` does not reach the task (musicnn's
    200-d cache, its front end in the export), the cache key changes between runs of the same
    clips and weights, or the critic path breaks on YAMNet's 1,024-d rows."""
    import json

    import keras

    from admlc_tf.serving.exported import ExportedPredictor

    data = _clips(tmp_path / "data")
    for arm, extra in (("critic", ()), ("plain", ("--no-adversarial",))):
        result = _train(tmp_path, data, weights, "--out", tmp_path / arm, "--name", arm, *extra)
        assert result.returncode == 0, result.stderr[-2000:]
        assert len(list((tmp_path / "home" / "features").glob("embeddings-*.h5"))) == 1
        config = json.loads((tmp_path / arm / "config.json").read_text())
        assert config["loss"]["adversarial"] is (arm == "critic")
        version = tmp_path / "export" / arm / "1"
        meta = json.loads((version / "assets" / "export_config.json").read_text())
        assert meta["embeddings"]["backbone"] == "yamnet"
        assert meta["embeddings"]["embedding_dims"] == 1024
        assert meta["features"]["front_end"] == "yamnet"
    model = keras.models.load_model(version / ExportedPredictor.ASSETS / ExportedPredictor.KERAS)
    head = model.layers[-1]  # the fitted vector model, last in the segment model
    wave = (0.3 * np.random.default_rng(6).standard_normal(SEGMENT)).astype(np.float32)
    served = tf.saved_model.load(str(version)).signatures["serving_default"]
    out = served(waveform=tf.constant(wave[None]))
    expected = head(embedder(wave)[None], training=False)
    key = "logits" if "logits" in out else "scores"
    np.testing.assert_allclose(out[key].numpy(), keras.ops.convert_to_numpy(expected),
                               atol=1e-4)
