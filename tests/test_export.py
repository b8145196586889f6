"""Exporting the predictor for TF Serving: versions, round trip, and what the graph holds."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest
import tensorflow as tf
from tensorflow.core.protobuf import saved_model_pb2

from admlc_tf.config import FeatureConfig, PredictorConfig
from admlc_tf.errors import AdmlcError
from admlc_tf.serving.export import export_predictor, next_version
from admlc_tf.serving.exported import ExportedPredictor
from admlc_tf.features import log_mel_spectrogram
from admlc_tf.predictors.cgrnn import build_cgrnn

LABELS = list("cmfvpbo")


def tiny_predictor(frames=66):
    config = PredictorConfig(conv_filters=(4,), gru_units=(6,), dense_units=8)
    return build_cgrnn(frames, 40, 7, config=config, feature_mean=np.full(40, -5.0),
                       feature_variance=np.full(40, 4.0))


def export(model, base, **audio):
    return export_predictor(model, base_dir=base, name="tagger", label_names=LABELS,
                            metadata={"note": "test"}, **audio)


def function_ops(version_dir):
    """{function name: op types} for the SavedModel's graph ("") and its function library."""
    saved = saved_model_pb2.SavedModel()
    saved.ParseFromString((version_dir / "saved_model.pb").read_bytes())
    ops = {}
    for meta in saved.meta_graphs:
        ops[""] = {node.op for node in meta.graph_def.node}
        for function in meta.graph_def.library.function:
            ops[function.signature.name] = {node.op for node in function.node_def}
    return ops


def graph_ops(version_dir):
    """Every op type in the SavedModel."""
    return set().union(*function_ops(version_dir).values())


class TestExportPredictor:
    def test_round_trip_gives_the_in_memory_outputs(self, tmp_path):
        model = tiny_predictor()
        path = export(model, tmp_path)
        assert path == tmp_path / "tagger" / "1"
        loaded = ExportedPredictor(path)
        x = np.random.default_rng(0).normal(-5, 2, size=(3, 66, 40)).astype(np.float32)
        out = loaded(x)
        assert set(out) == {"probabilities", "logits"}
        np.testing.assert_allclose(out["logits"], model(x, training=False), rtol=1e-5, atol=1e-5)
        np.testing.assert_allclose(out["probabilities"], tf.sigmoid(model(x, training=False)),
                                   rtol=1e-5, atol=1e-6)
        assert loaded.label_names == LABELS
        assert loaded.metadata == {"note": "test", "input": "features"}  # what it takes

    def test_signature_is_named_for_serving_clients(self, tmp_path):
        path = export(tiny_predictor(), tmp_path)
        signature = tf.saved_model.load(str(path)).signatures["serving_default"]
        inputs = signature.structured_input_signature[1]
        assert list(inputs) == ["features"]
        assert inputs["features"].shape.as_list() == [None, 66, 40]
        assert set(signature.structured_outputs) == {"probabilities", "logits"}

    def test_versions_count_up_and_nothing_temporary_is_left(self, tmp_path):
        model = tiny_predictor()
        export(model, tmp_path)
        (tmp_path / "tagger" / "7").mkdir()
        (tmp_path / "tagger" / "notes").mkdir()
        assert export(model, tmp_path) == tmp_path / "tagger" / "8"
        assert sorted(p.name for p in (tmp_path / "tagger").iterdir()) == ["1", "7", "8", "notes"]
        assert next_version(tmp_path / "missing") == 1

    @pytest.mark.slow
    def test_graph_has_only_core_ops_and_no_critic_or_optimizer(self, tmp_path):
        path = export(tiny_predictor(249), tmp_path, features=FeatureConfig())
        ops = sorted(graph_ops(path))
        # A fresh interpreter without tensorflow-io knows only core TensorFlow's ops.
        unknown = subprocess.run(
            [sys.executable, "-c",
             "import json, sys\n"
             "from tensorflow.python.framework import op_def_registry\n"
             "print(json.dumps([op for op in json.load(sys.stdin) if op_def_registry.get(op) is None]))"],
            input=json.dumps(ops), capture_output=True, text=True, check=True,
            env={"TF_CPP_MIN_LOG_LEVEL": "3", "PATH": "/usr/bin:/bin"})
        assert json.loads(unknown.stdout.strip().splitlines()[-1]) == []
        assert not [op for op in ops if op.startswith("IO>")]
        # Inference only: nothing but the checkpoint restore writes a variable (batch-norm
        # statistics would), and nothing draws random numbers (dropout would).
        for name, types in function_ops(path).items():
            if "traced_restore" not in name and name:
                assert not {op for op in types if op.startswith("Assign")}, name
            assert not {op for op in types if "Random" in op}, name
        names = [v.name for v in tf.saved_model.load(str(path)).variables]
        assert names and not [n for n in names if "critic" in n or "adam" in n.lower()
                              or "iteration" in n]


class TestExportedPredictor:
    def test_a_folder_of_versions_is_refused_with_a_hint(self, tmp_path):
        export(tiny_predictor(), tmp_path)
        with pytest.raises(AdmlcError, match=r"holds versions: pass .*tagger/<version>"):
            ExportedPredictor(tmp_path / "tagger")

    def test_features_of_the_wrong_dimension_are_refused(self, tmp_path):
        loaded = ExportedPredictor(export(tiny_predictor(), tmp_path))
        with pytest.raises(AdmlcError, match=r"features of shape \[2, 66, 32\] do not fit .*"
                           r"which takes \[None, 66, 40\]"):
            loaded(np.zeros((2, 66, 32), np.float32))

    def test_a_missing_path_is_refused(self, tmp_path):
        with pytest.raises(AdmlcError, match="not an exported model version"):
            ExportedPredictor(tmp_path / "nothing" / "1")


class TestWaveformSignature:
    """The audio `serving_default`: waveforms of any length in, pooled tags out."""

    @pytest.fixture(scope="class")
    def exported(self, tmp_path_factory):
        model = tiny_predictor(249)
        path = export(model, tmp_path_factory.mktemp("audio"), features=FeatureConfig())
        return model, ExportedPredictor(path)

    def test_a_4s_clip_matches_the_offline_features(self, exported):
        model, loaded = exported
        waveform = 0.1 * np.random.default_rng(0).standard_normal((2, 64000)).astype(np.float32)
        offline = np.stack([log_mel_spectrogram(w, config=FeatureConfig()) for w in waveform])
        np.testing.assert_allclose(loaded.tag_waveforms(waveform)["logits"],
                                   model(offline, training=False), rtol=1e-3, atol=1e-3)
        assert loaded.metadata["serving"] == {"segment_samples": 64000, "hop_samples": 32000,
                                              "pooling": "max"}

    def test_long_clips_are_max_pooled_over_2s_hops(self, exported):
        model, loaded = exported
        clip = 0.1 * np.random.default_rng(1).standard_normal(160000).astype(np.float32)
        starts = (0, 32000, 64000, 96000)  # 10 s: four 4 s segments, 2 s apart, no padding
        offline = np.stack([log_mel_spectrogram(clip[s:s + 64000], config=FeatureConfig())
                            for s in starts])
        expected = np.max(model(offline, training=False), axis=0)
        np.testing.assert_allclose(loaded.tag_waveforms(clip[None])["logits"][0], expected,
                                   rtol=1e-3, atol=1e-3)

    def test_short_and_very_long_clips(self, exported):
        _, loaded = exported
        for seconds in (1, 60):
            out = loaded.tag_waveforms(np.zeros((1, seconds * 16000), np.float32))
            assert out["probabilities"].shape == (1, 7)
            assert np.all(np.isfinite(out["probabilities"]))


class TestSegmentsSignature:
    """The `segments` signature: the waveform signature's cutting, unpooled, with start times."""

    @pytest.fixture(scope="class")
    def exported(self, tmp_path_factory):
        model = tiny_predictor(249)
        path = export(model, tmp_path_factory.mktemp("segments"), features=FeatureConfig(),
                      hop_seconds=1.5)
        return model, path

    def test_each_segment_is_the_offline_segment_and_pools_to_serving_default(self, exported):
        """A batch of two 9 s clips: 5 segments at 1.5 s hops (the last zero-padded), each the
        model on the offline features of its samples; their max is `serving_default`. Fails on
        segments and start times out of step, or a batch flattened in the wrong order."""
        model, path = exported
        signature = tf.saved_model.load(str(path)).signatures["segments"]
        inputs = signature.structured_input_signature[1]
        assert list(inputs) == ["waveform"] and inputs["waveform"].shape.as_list() == [None, None]
        clips = 0.1 * np.random.default_rng(4).standard_normal((2, 144000)).astype(np.float32)
        out = signature(waveform=tf.constant(clips))
        assert set(out) == {"probabilities", "start_s"}
        np.testing.assert_allclose(out["start_s"], [[0, 1.5, 3, 4.5, 6]] * 2, atol=1e-6)
        padded = np.pad(clips, [[0, 0], [0, 64000 + 4 * 24000 - 144000]])
        for b in range(2):
            offline = np.stack([log_mel_spectrogram(padded[b, s:s + 64000],
                                                    config=FeatureConfig())
                                for s in range(0, 5 * 24000, 24000)])
            np.testing.assert_allclose(out["probabilities"][b],
                                       tf.sigmoid(model(offline, training=False)),
                                       rtol=1e-3, atol=1e-3)
        pooled = ExportedPredictor(path).tag_waveforms(clips)["probabilities"]
        np.testing.assert_allclose(np.max(out["probabilities"], axis=1), pooled, atol=1e-6)


class TestTFLite:
    """`model.tflite` and `model_int8.tflite`: one segment in, probabilities out, builtins only."""

    @pytest.fixture(scope="class")
    def exported(self, tmp_path_factory):
        path = export(tiny_predictor(249), tmp_path_factory.mktemp("tflite"),
                      features=FeatureConfig(), tflite=True)
        return ExportedPredictor(path)

    def run_tflite(self, path, segments):
        interpreter = tf.lite.Interpreter(model_path=str(path), num_threads=1)
        interpreter.allocate_tensors()
        (inp,), (out,) = interpreter.get_input_details(), interpreter.get_output_details()
        assert list(inp["shape"]) == [1, 64000] and list(out["shape"]) == [1, 7]
        ops = {op["op_name"] for op in interpreter._get_ops_details()}
        assert not [op for op in ops if "Flex" in op or op == "CUSTOM"], ops
        results = []
        for segment in segments:
            interpreter.set_tensor(inp["index"], segment[None])
            interpreter.invoke()
            results.append(interpreter.get_tensor(out["index"])[0].copy())
        return np.stack(results)

    def test_float32_and_int8_match_the_saved_model(self, exported):
        """Five 4 s segments (noise, a tone, silence): float32 within 1e-4 of the SavedModel's
        `segments` probabilities, int8 (dynamic range) within 0.01 (0.0008 measured). Fails if the front end or
        the weights differ from the SavedModel's, an op needs the Select TF ops delegate, or the int8
        file quantises the power spectrum (the tone's deviation was 0.09 then)."""
        rng = np.random.default_rng(9)
        t = np.arange(64000) / 16000
        segments = np.stack([0.1 * rng.standard_normal(64000), 0.3 * np.sin(2e3 * t),
                             np.zeros(64000), 0.5 * rng.standard_normal(64000),
                             0.01 * rng.standard_normal(64000)]).astype(np.float32)
        expected = exported.segment_probabilities(segments).numpy()
        folder = exported.path
        assert exported.metadata["tflite"]["model.tflite"] == "float32"
        float32 = self.run_tflite(folder / "model.tflite", segments)
        np.testing.assert_allclose(float32, expected, atol=1e-4)
        int8 = self.run_tflite(folder / "model_int8.tflite", segments)
        np.testing.assert_allclose(int8, expected, atol=0.01)
        assert (folder / "model_int8.tflite").stat().st_size < (folder / "model.tflite").stat().st_size
