"""`predict.py`: tagging WAV files of any length and rate with an exported model alone."""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import soundfile
import tensorflow as tf

from admlc_tf.config import FeatureConfig, PredictorConfig
from admlc_tf.export import ExportedPredictor, export_predictor
from admlc_tf.inference import rest_request_body
from admlc_tf.predictors.cgrnn import build_cgrnn

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def audio_model(tmp_path_factory):
    model = build_cgrnn(249, 40, 7, config=PredictorConfig(conv_filters=(4,), gru_units=(6,),
                                                           dense_units=8),
                        feature_mean=np.full(40, -8.0), feature_variance=np.full(40, 9.0))
    return export_predictor(model, base_dir=tmp_path_factory.mktemp("models"), name="tagger",
                            label_names=list("cmfvpbo"), metadata={}, features=FeatureConfig())


def predict(*args):
    return subprocess.run([sys.executable, "predict.py", *map(str, args)], cwd=REPO,
                          capture_output=True, text=True, timeout=300,
                          env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"})


def test_tags_files_and_folders_of_any_length_and_rate(audio_model, tmp_path):
    rng = np.random.default_rng(0)
    clips = tmp_path / "clips"
    (clips / "sub").mkdir(parents=True)
    soundfile.write(clips / "four.wav", 0.1 * rng.standard_normal(64000), 16000)
    soundfile.write(clips / "sub" / "short.wav", 0.1 * rng.standard_normal(16000), 16000)
    single = tmp_path / "long44k.wav"
    soundfile.write(single, 0.1 * rng.standard_normal(441000), 44100)

    result = predict("--model", audio_model, single, clips, "--csv", tmp_path / "t.csv",
                     "--json", tmp_path / "t.json", "--quiet")
    assert result.returncode == 0, result.stderr
    assert "note: resampled 1 of 3 file(s) from 44100 Hz to the model's 16000 Hz" in result.stderr
    records = json.loads((tmp_path / "t.json").read_text())["files"]
    assert [r["resampled_from"] for r in records] == [44100, None, None]
    assert [r["file"] for r in records] == [str(single), str(clips / "four.wav"),
                                           str(clips / "sub" / "short.wav")]
    assert [r["seconds"] for r in records] == [10.0, 4.0, 1.0]
    rows = list(csv.DictReader((tmp_path / "t.csv").open()))
    assert [r["file"] for r in rows] == [r["file"] for r in records]

    # The same numbers as the SavedModel's signature on the same waveform.
    exported = ExportedPredictor(audio_model)
    waveform, _ = soundfile.read(clips / "four.wav", dtype="float32")
    expected = exported.tag_waveforms(waveform[None])["probabilities"].numpy()[0]
    np.testing.assert_allclose(list(records[1]["probabilities"].values()), expected, rtol=1e-5)
    assert records[1]["labels"] == [n for n, p in zip("cmfvpbo", expected) if p >= 0.5]
    assert float(rows[1]["c"]) == pytest.approx(expected[0], abs=1e-6)


def test_a_missing_path_exits_2(audio_model, tmp_path):
    result = predict("--model", audio_model, tmp_path / "nope.wav")
    assert result.returncode == 2
    assert result.stderr.strip().splitlines()[-1].startswith(f"error: {tmp_path / 'nope.wav'}")


class TestRestRequest:
    """The README's REST bodies, decoded as TF Serving does, give predict.py's numbers."""

    @pytest.fixture(scope="class")
    def clip(self, tmp_path_factory):
        path = tmp_path_factory.mktemp("clip") / "clip.wav"
        soundfile.write(path, 0.1 * np.random.default_rng(3).standard_normal(48000), 16000)
        return path

    @pytest.fixture(scope="class")
    def predicted(self, audio_model, clip):
        result = predict("--model", audio_model, clip, "--json", clip.with_suffix(".json"))
        assert result.returncode == 0, result.stderr
        record = json.loads(clip.with_suffix(".json").read_text())["files"][0]
        return np.array(list(record["probabilities"].values()))

    @pytest.mark.parametrize("form", ["instances", "inputs"])
    def test_body_through_the_loaded_signature(self, audio_model, clip, predicted, form):
        waveform, _ = soundfile.read(clip, dtype="float32")
        body = json.loads(json.dumps(rest_request_body([waveform], form=form)))
        assert body["signature_name"] == "serving_default"
        # TF Serving stacks the row format's per-instance values, and takes the columnar as is.
        batch = ([row["waveform"] for row in body["instances"]] if form == "instances"
                 else body["inputs"]["waveform"])
        signature = tf.saved_model.load(str(audio_model)).signatures[body["signature_name"]]
        out = signature(waveform=tf.constant(batch, tf.float32))
        np.testing.assert_allclose(out["probabilities"].numpy()[0], predicted, rtol=1e-5)

    def test_body_through_saved_model_cli(self, audio_model, clip, predicted, tmp_path):
        waveform, _ = soundfile.read(clip, dtype="float32")
        body = rest_request_body([waveform], form="inputs")
        np.save(tmp_path / "waveform.npy", np.asarray(body["inputs"]["waveform"], np.float32))
        cli = Path(sys.executable).with_name("saved_model_cli")
        result = subprocess.run(
            [str(cli), "run", "--dir", str(audio_model), "--tag_set", "serve",
             "--signature_def", "serving_default", "--inputs",
             f"waveform={tmp_path / 'waveform.npy'}", "--outdir", str(tmp_path / "out")],
            capture_output=True, text=True, timeout=300,
            env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"})
        assert result.returncode == 0, result.stderr
        np.testing.assert_allclose(np.load(tmp_path / "out" / "probabilities.npy")[0], predicted,
                                   rtol=1e-5)
