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
from admlc_tf.serving.export import export_predictor
from admlc_tf.serving.exported import ExportedPredictor
from admlc_tf.serving.audio import rest_request_body
from admlc_tf.predictors.cgrnn import build_cgrnn
from tests.helpers import run_script



@pytest.fixture(scope="module")
def audio_model(tmp_path_factory):
    model = build_cgrnn(249, 40, 7, config=PredictorConfig(conv_filters=(4,), gru_units=(6,),
                                                           dense_units=8),
                        feature_mean=np.full(40, -8.0), feature_variance=np.full(40, 9.0))
    return export_predictor(model, base_dir=tmp_path_factory.mktemp("models"), name="tagger",
                            label_names=list("cmfvpbo"), metadata={}, features=FeatureConfig())


def predict(*args, in_process=False):
    return run_script("predict.py", *args, timeout=300, in_process=in_process)


@pytest.mark.slow
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
    result = predict("--model", audio_model, tmp_path / "nope.wav", in_process=True)
    assert result.returncode == 2
    assert result.stderr.strip().splitlines()[-1].startswith(f"error: {tmp_path / 'nope.wav'}")


class TestRestRequest:
    """The REST bodies of docs/tutorials/serving.md, decoded as TF Serving does, give
    predict.py's numbers."""

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

    @pytest.mark.slow
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

    @pytest.mark.slow
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


@pytest.fixture(scope="module")
def thresholded_model(tmp_path_factory):
    """The tiny tagger with per-label thresholds in its assets, as a training run writes."""
    model = build_cgrnn(249, 40, 7, config=PredictorConfig(conv_filters=(4,), gru_units=(6,),
                                                           dense_units=8),
                        feature_mean=np.full(40, -8.0), feature_variance=np.full(40, 9.0))
    cuts = {n: t for n, t in zip("cmfvpbo", (0.0, 1.0, 0.0, 1.0, 0.0, 1.0, 0.0))}
    text = json.dumps({"rule": "f1", "chosen_on": "val (10 clips)",
                       "note": "max F1 per label on val", "thresholds": cuts})
    return export_predictor(model, base_dir=tmp_path_factory.mktemp("thresholded"),
                            name="tagger", label_names=list("cmfvpbo"), metadata={},
                            features=FeatureConfig(), assets={"thresholds.json": text},
                            tflite=True)


@pytest.mark.slow
def test_timeline_and_events_of_a_long_recording(thresholded_model, tmp_path):
    """A 21 s recording: the timeline has the `segments` signature's 10 rows, the last ending at
    21 s; with thresholds 0 and 1 alternating per label, the events are exactly one event per
    always-on label spanning the clip, in DESED's format; the settings file and the JSON say
    the export's per-label thresholds were used, and --threshold overrides them. Fails if the
    export's thresholds are ignored, the last row ends at the padded 22 s, or events are not
    merged across overlapping segments."""
    clip = 0.1 * np.random.default_rng(5).standard_normal(336000).astype(np.float32)
    path = tmp_path / "day.wav"
    soundfile.write(path, clip, 16000, subtype="FLOAT")
    result = predict("--model", thresholded_model, path, "--timeline", tmp_path / "t.csv",
                     "--events", tmp_path / "e.tsv", "--json", tmp_path / "r.json",
                     "--csv", tmp_path / "r.csv", "--batch-size", "3", "--quiet")
    assert result.returncode == 0, result.stderr
    rows = list(csv.DictReader((tmp_path / "t.csv").open()))
    assert list(rows[0]) == ["file", "start_s", "end_s", *"cmfvpbo"]
    assert [float(r["start_s"]) for r in rows] == [2.0 * k for k in range(10)]
    assert float(rows[-1]["end_s"]) == 21.0 and float(rows[0]["end_s"]) == 4.0
    segments = tf.saved_model.load(str(thresholded_model)).signatures["segments"]
    expected = segments(waveform=tf.constant(clip[None]))["probabilities"].numpy()[0]
    np.testing.assert_allclose([[float(r[n]) for n in "cmfvpbo"] for r in rows], expected,
                               atol=2e-6)
    lines = (tmp_path / "e.tsv").read_text().splitlines()
    assert lines[0] == "filename\tonset\toffset\tevent_label"
    assert sorted(lines[1:]) == sorted(f"{path}\t0.000\t21.000\t{n}" for n in "cfpo")
    settings = json.loads((tmp_path / "e.tsv.settings.json").read_text())
    assert settings["median_segments"] == 3 and settings["thresholds"]["m"] == 1.0
    assert "per label from assets/thresholds.json" in settings["thresholds_used"]
    record = json.loads((tmp_path / "r.json").read_text())
    assert record["files"][0]["labels"] == list("cfpo")
    assert "per label" in record["thresholds_used"]
    # said once, in the JSON: not repeated on every CSV row
    assert "thresholds" not in list(csv.DictReader((tmp_path / "r.csv").open()))[0]

    result = predict("--model", thresholded_model, path, "--events", tmp_path / "e2.tsv",
                     "--json", tmp_path / "r2.json", "--threshold", "1.5", "--quiet")
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "e2.tsv").read_text().splitlines() == [lines[0]]
    overridden = json.loads((tmp_path / "r2.json").read_text())
    assert overridden["thresholds_used"] == "1.5 for every label (--threshold)"
    assert overridden["files"][0]["labels"] == []


@pytest.mark.slow
def test_one_bad_file_among_many_exits_1_and_the_rest_are_written(audio_model, tmp_path):
    """A folder with two good clips and a file that is not audio: one stderr line names it,
    both good clips are in the CSV and JSON (which lists the failure), exit code 1. Fails if
    one bad file stops the batch, or the failure is not reported in the exit code."""
    rng = np.random.default_rng(6)
    for name in ("a.wav", "c.wav"):
        soundfile.write(tmp_path / name, 0.1 * rng.standard_normal(32000), 16000)
    (tmp_path / "b.wav").write_bytes(b"not audio at all" * 100)
    result = predict("--model", audio_model, tmp_path, "--csv", tmp_path / "out.csv",
                     "--json", tmp_path / "out.json", "--quiet")
    assert result.returncode == 1, result.stderr
    errors = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert errors[0].startswith(f"error: audio file {tmp_path / 'b.wav'} cannot be decoded")
    assert "1 of 3 file(s) could not be read" in errors[1]
    rows = list(csv.DictReader((tmp_path / "out.csv").open()))
    assert [Path(r["file"]).name for r in rows] == ["a.wav", "c.wav"]
    written = json.loads((tmp_path / "out.json").read_text())
    assert [f["file"] for f in written["errors"]] == [str(tmp_path / "b.wav")]


def test_not_an_export_exits_2_before_any_work(tmp_path):
    soundfile.write(tmp_path / "a.wav", np.zeros(16000), 16000)
    result = predict("--model", tmp_path, tmp_path / "a.wav", "--csv", tmp_path / "out.csv",
                     in_process=True)
    assert result.returncode == 2
    assert "is not an exported model version" in result.stderr
    assert not (tmp_path / "out.csv").exists()


@pytest.mark.slow
def test_ctrl_c_leaves_outputs_complete_or_absent(audio_model, tmp_path, monkeypatch):
    """KeyboardInterrupt while the second file is tagged: exit 130 and no output at all; while
    the JSON is being written (after the CSV): the CSV is complete, the JSON and its temporary
    file are absent. Fails if outputs are written file by file or a temporary file leaks."""
    import predict as predict_module
    from admlc_tf import files
    from admlc_tf.serving import streaming

    rng = np.random.default_rng(7)
    for name in ("a.wav", "b.wav"):
        soundfile.write(tmp_path / name, 0.1 * rng.standard_normal(32000), 16000)
    original = streaming.tag_stream
    calls = []

    def interrupted_on_second(path, *args, **kwargs):
        calls.append(path)
        if len(calls) == 2:
            raise KeyboardInterrupt
        return original(path, *args, **kwargs)

    outputs = ["--csv", str(tmp_path / "o.csv"), "--json", str(tmp_path / "o.json"),
               "--timeline", str(tmp_path / "o_t.csv")]
    monkeypatch.setattr(streaming, "tag_stream", interrupted_on_second)
    argv = ["--model", str(audio_model), str(tmp_path / "a.wav"), str(tmp_path / "b.wav"),
            *outputs, "--quiet"]
    assert predict_module.main(argv) == 130
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.wav", "b.wav"]

    monkeypatch.setattr(streaming, "tag_stream", original)
    original_write = files.write_text_atomic

    def interrupted_json(path, text):
        if str(path).endswith(".json"):
            Path(f"{path}.partial").write_text(text[:10])  # what a torn write would leave
            Path(f"{path}.partial").unlink()
            raise KeyboardInterrupt
        original_write(path, text)

    monkeypatch.setattr(files, "write_text_atomic", interrupted_json)
    assert predict_module.main(argv) == 130
    names = sorted(p.name for p in tmp_path.iterdir())
    assert names == ["a.wav", "b.wav", "o.csv"]
    assert len(list(csv.DictReader((tmp_path / "o.csv").open()))) == 2


class TestSegmentsRestRequest:
    """The `segments` REST body of docs/tutorials/serving.md, decoded as TF Serving does, gives
    predict.py's timeline."""

    @pytest.mark.slow
    def test_segments_body_gives_the_timeline(self, audio_model, tmp_path):
        clip = (0.1 * np.random.default_rng(8).standard_normal(100000)).astype(np.float32)
        soundfile.write(tmp_path / "clip.wav", clip, 16000, subtype="FLOAT")
        result = predict("--model", audio_model, tmp_path / "clip.wav", "--timeline",
                         tmp_path / "t.csv", "--quiet")
        assert result.returncode == 0, result.stderr
        rows = list(csv.DictReader((tmp_path / "t.csv").open()))
        body = json.loads(json.dumps(rest_request_body([clip], signature="segments")))
        assert body["signature_name"] == "segments"
        batch = [row["waveform"] for row in body["instances"]]
        out = tf.saved_model.load(str(audio_model)).signatures["segments"](
            waveform=tf.constant(batch, tf.float32))
        np.testing.assert_allclose(out["start_s"][0], [float(r["start_s"]) for r in rows])
        np.testing.assert_allclose(out["probabilities"][0],
                                   [[float(r[n]) for n in "cmfvpbo"] for r in rows], atol=2e-6)


def test_tflite_backends_tag_like_the_saved_model(thresholded_model, tmp_path):
    """A 13 s clip through `--backend tflite` and `tflite-int8` (in process): the pooled and
    per-segment probabilities of float32 within 1e-4 of the SavedModel's, int8 within 0.01.
    Fails if the TFLite path cuts, orders or pools segments differently."""
    from admlc_tf.serving.tagging import tag_files

    clip = 0.1 * np.random.default_rng(10).standard_normal(208000).astype(np.float32)
    soundfile.write(tmp_path / "clip.wav", clip, 16000, subtype="FLOAT")
    outputs = {}
    for backend in ("savedmodel", "tflite", "tflite-int8"):
        timeline_path = tmp_path / f"{backend}.csv"
        records = tag_files([tmp_path / "clip.wav"], model_path=thresholded_model,
                            timeline_path=str(timeline_path), batch_size=4, backend=backend,
                            verbose=False)
        rows = list(csv.DictReader(timeline_path.open()))
        outputs[backend] = (np.array(list(records[0]["probabilities"].values())),
                            np.array([[float(r[n]) for n in "cmfvpbo"] for r in rows]))
    assert outputs["savedmodel"][1].shape == (6, 7)
    for backend, bound in (("tflite", 1e-4), ("tflite-int8", 0.01)):
        for got, expected in zip(outputs[backend], outputs["savedmodel"]):
            np.testing.assert_allclose(got, expected, atol=bound)


def test_a_broken_link_in_a_folder_is_skipped_with_one_line(tmp_path, capsys):
    """A dangling symbolic link among a folder's audio files: the other files are found and the
    link is named on one stderr line. Fails if it is skipped without a word."""
    from admlc_tf.serving.audio import find_audio

    soundfile.write(tmp_path / "a.wav", np.zeros(1600, np.float32), 16000)
    (tmp_path / "gone.wav").symlink_to(tmp_path / "moved" / "gone.wav")
    assert find_audio([tmp_path]) == [tmp_path / "a.wav"]
    lines = capsys.readouterr().err.splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"skipped {tmp_path / 'gone.wav'}: a symbolic link")
