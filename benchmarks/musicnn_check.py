"""The Keras port of musicnn against musicnn's own code on the same audio (issue #25, item 2).

    python benchmarks/musicnn_check.py [--reference-python /tmp/mvenv/bin/python]
        [--weights-dir DIR] [--json benchmarks/musicnn_check.json]

The reference is the `musicnn` 0.1.0 wheel itself (`musicnn.extractor.extractor`: its librosa
front end and its `tf.compat.v1.layers` graph restored by `tf.compat.v1.train.Saver`), run in a
child process under `--reference-python`, an environment where `tf.compat.v1.layers` works:
TensorFlow 2.16 with `tf_keras` and `TF_USE_LEGACY_KERAS=1`, plus `pip install --no-deps
musicnn==0.1.0`. The port (`admlc_tf.predictors.musicnn`, weights from the same checkpoints) runs
here. Per model (MTT_musicnn, MSD_musicnn) and clip, max abs differences of:

- `network`: the port fed the reference's own mel patches, against the reference's taggram,
  penultimate embedding and pools: the network and the weight mapping alone;
- `front_end`: the port's in-graph mel (`MusicnnMel`) against librosa's, with zero padding
  (librosa 0.11's default, what the reference computes here) and with reflect padding (the
  port's default, librosa's until 0.9, what the models were trained with);
- `end_to_end`: waveform -> taggram through the port against the reference's taggram, with each
  padding; with reflection only the first and last frame of a clip differ from the reference.

The clips: synthetic music (chords, kick, hi-hat) at 16 kHz and at 44.1 kHz (both sides
resample with soxr_hq), and 12 s of the real-recording benchmark's clips when that set is built
(`benchmarks/real_audio.py build`). Writes `--json` with the date, commit and machine.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

if not __package__:  # `python benchmarks/musicnn_check.py`: siblings as `benchmarks.*`
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402

from admlc_tf.cli import run_cli  # noqa: E402

MODELS = ("MTT_musicnn", "MSD_musicnn")
TOLERANCE = 1e-4  # on the taggram, network on identical input
FIXTURE_CLIP = "synthetic_music(10.0, 16000, 0)"  # the first clip of `write_clips`
DEFAULT_REFERENCE = "/tmp/mvenv/bin/python"


# --- the reference, in the child (musicnn's environment: no admlc_tf, no Keras 3) -------------

def reference_child(spec_path: str) -> None:
    """Runs musicnn's extractor on every clip and saves what it saw and computed."""
    import librosa
    from musicnn import configuration, extractor

    spec = json.loads(Path(spec_path).read_text())
    spec["folder"] = spec["folder"] or str(Path(extractor.__file__).parent)
    out = {}
    for model in spec["models"]:
        for i, clip in enumerate(spec["clips"]):
            start = time.perf_counter()
            taggram, labels, features = extractor.extractor(clip, model=model,
                                                            extract_features=True)
            seconds = time.perf_counter() - start
            key = f"{model}/{i}"
            out[f"{key}/taggram"] = taggram
            for name in ("penultimate", "mean_pool", "max_pool"):
                out[f"{key}/{name}"] = features[name]
            out[f"{key}/seconds"] = np.float64(seconds)
    batches = [extractor.batch_data(clip, 187, 187)[0] for clip in spec["clips"]]
    for model in spec["models"]:
        for i, outputs in enumerate(reference_graph(model, batches, spec["folder"])):
            for name, value in outputs.items():
                out[f"{model}/{i}/graph/{name}"] = value
    for i, clip in enumerate(spec["clips"]):
        batch, spectrogram = extractor.batch_data(clip, 187, 187)
        audio, _ = librosa.load(clip, sr=configuration.SR)
        reflect = librosa.feature.melspectrogram(
            y=audio, sr=configuration.SR, hop_length=configuration.FFT_HOP,
            n_fft=configuration.FFT_SIZE, n_mels=configuration.N_MELS, pad_mode="reflect").T
        out[f"clip/{i}/batch"] = batch.astype(np.float32)
        out[f"clip/{i}/mel_constant"] = spectrogram.astype(np.float32)
        out[f"clip/{i}/mel_reflect"] = np.log10(10000 * reflect.astype(np.float16) + 1)
        out[f"clip/{i}/waveform"] = audio
    np.savez(spec["out"], **out)
    print(json.dumps({"librosa": librosa.__version__, "numpy": np.__version__,
                      "musicnn_folder": str(Path(extractor.__file__).parent),
                      "tensorflow": __import__("tensorflow").__version__}))


def reference_graph(model: str, batches, folder: str) -> list[dict]:
    """musicnn's own `models.define_model` graph, restored from its checkpoint, on whole batches.

    The extractor runs one patch per call and, in 0.1.0, returns the first patch's penultimate
    embedding for every later patch (its loop unpacks it as `backend_` and concatenates the
    stale `penultimate_`): the embeddings are compared on this graph's outputs instead.
    """
    import tensorflow as tf
    from musicnn import configuration, models

    tf.compat.v1.reset_default_graph()
    with tf.name_scope("model"):
        x = tf.compat.v1.placeholder(tf.float32, [None, 187, configuration.N_MELS])
        training = tf.compat.v1.placeholder(tf.bool)
        logits, *_, mean_pool, max_pool, penultimate = models.define_model(x, training, model, 50)
    fetch = {"taggram": tf.nn.sigmoid(logits), "penultimate": penultimate,
             "mean_pool": mean_pool, "max_pool": max_pool}
    with tf.compat.v1.Session() as session:
        tf.compat.v1.train.Saver().restore(session, f"{folder}/{model}/")
        return [session.run(fetch, {x: batch, training: False}) for batch in batches]


def run_reference(python: str, clips: list[str], models, folder: Path) -> tuple[dict, dict]:
    spec = {"clips": clips, "models": list(models), "out": str(folder / "reference.npz"),
            "folder": None}
    (folder / "spec.json").write_text(json.dumps(spec))
    env = {**os.environ, "TF_USE_LEGACY_KERAS": "1", "TF_CPP_MIN_LOG_LEVEL": "3",
           "PYTHONPATH": ""}
    proc = subprocess.run([python, str(Path(__file__).resolve()), "--reference-child",
                           str(folder / "spec.json")], capture_output=True, text=True, env=env,
                          cwd=folder)
    if proc.returncode != 0:
        tail = [line for line in proc.stderr.splitlines() if line.strip()][-8:]
        raise SystemExit(f"the reference failed under {python} (exit {proc.returncode}): "
                         + " | ".join(tail))
    versions = json.loads(proc.stdout.strip().splitlines()[-1])
    with np.load(spec["out"]) as data:
        return {k: data[k] for k in data.files}, versions


# --- the clips ----------------------------------------------------------------------------

def synthetic_music(seconds: float, rate: int, seed: int) -> np.ndarray:
    """Chords of harmonic tones with envelopes, a kick every half second, hi-hat noise."""
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * rate)) / rate
    y = np.zeros_like(t)
    for start in np.arange(0.0, seconds, 1.0):
        root = 110.0 * 2 ** (rng.integers(0, 12) / 12)
        on = (t >= start) & (t < start + 1.0)
        envelope = np.exp(-3.0 * (t - start)) * on
        for ratio in (1.0, 1.26, 1.5):
            for harmonic in range(1, 6):
                y += 0.05 / harmonic * envelope * np.sin(2 * np.pi * root * ratio * harmonic * t)
    for start in np.arange(0.0, seconds, 0.5):
        local = t - start
        on = (local >= 0) & (local < 0.2)
        y += 0.4 * on * np.exp(-20 * local) * np.sin(2 * np.pi * (60 + 100 * np.exp(-30 * local))
                                                     * local)
        hat = (local >= 0.25) & (local < 0.3)
        y += 0.05 * hat * rng.standard_normal(t.size) * np.exp(-80 * np.clip(local - 0.25, 0, None))
    return (0.8 * y / np.max(np.abs(y))).astype(np.float32)


def write_clips(folder: Path) -> list[tuple[str, str]]:
    """(name, path) of every clip the check runs on."""
    import soundfile

    clips = []
    for name, seconds, rate, seed in (("synthetic_16k", 10.0, 16000, 0),
                                      ("synthetic_44k1", 7.0, 44100, 1)):
        path = folder / f"{name}.wav"
        soundfile.write(str(path), synthetic_music(seconds, rate, seed), rate, subtype="FLOAT")
        clips.append((name, str(path)))
    real = real_clips(folder)
    if real:
        clips.append(real)
    return clips


def real_clips(folder: Path):
    """Three of the real-recording benchmark's clips end to end (12 s), if the set is built."""
    import soundfile

    from benchmarks.real_audio import default_set_dir

    audio = sorted((Path(default_set_dir()) / "audio").glob("*.wav"))[:3]
    if len(audio) < 3:
        return None
    path = folder / "real_audio_v1_3clips.wav"
    soundfile.write(str(path), np.concatenate([soundfile.read(str(p), dtype="float32")[0]
                                               for p in audio]), 16000, subtype="FLOAT")
    return (f"real-audio-v1 {', '.join(p.name for p in audio)}", str(path))


# --- the port -------------------------------------------------------------------------------

def max_abs(a, b) -> float:
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    if a.shape != b.shape:
        raise SystemExit(f"shapes differ: {a.shape} vs {b.shape}")
    return float(np.max(np.abs(a - b)))


def compare(reference: dict, clips, weights_dir: Path) -> dict:
    import tensorflow as tf

    from admlc_tf.features import read_audio
    from admlc_tf.predictors import musicnn, musicnn_weights

    report = {"clips": [], "models": {}}
    fronts = {mode: musicnn.MusicnnMel(mode) for mode in ("constant", "reflect")}
    waves, mels = [], []
    for i, (name, path) in enumerate(clips):
        wave = read_audio(path, sample_rate=musicnn.SAMPLE_RATE)
        waves.append(wave)
        mel = {mode: front(wave[None])[0].numpy() for mode, front in fronts.items()}
        mels.append(mel)
        ref_c, ref_r = reference[f"clip/{i}/mel_constant"], reference[f"clip/{i}/mel_reflect"]
        report["clips"].append({
            "name": name, "seconds": round(len(wave) / musicnn.SAMPLE_RATE, 3),
            "patches": int(reference[f"clip/{i}/batch"].shape[0]),
            "waveform_max_abs_diff": max_abs(wave, reference[f"clip/{i}/waveform"]),
            "front_end_constant_max_abs_diff": max_abs(mel["constant"], ref_c),
            "front_end_reflect_max_abs_diff": max_abs(mel["reflect"], ref_r),
            "front_end_reflect_interior_frames_vs_constant_max_abs_diff":
                max_abs(mel["reflect"][1:-1], ref_c[1:-1]),
            "front_end_elements_off_by_more_than_1e-6": float(np.mean(
                np.abs(mel["constant"] - ref_c) > 1e-6)),
            "mel_max": float(ref_c.max())})
    for model_name in MODELS:
        net = musicnn.build_musicnn(frames=None, name=model_name)
        source = weights_dir / model_name
        musicnn_weights.load_checkpoint(net, source)
        tags = musicnn.TAGS[model_name]
        rows = []
        for i, (name, _) in enumerate(clips):
            key = f"{model_name}/{i}"
            ref = {k: reference[f"{key}/{k}"] for k in ("taggram", "penultimate", "mean_pool",
                                                        "max_pool")}
            graph = {k: reference[f"{key}/graph/{k}"] for k in ref}
            same_input = net(reference[f"clip/{i}/batch"], training=False)
            same_input = {**same_input, "taggram": tf.sigmoid(same_input["logits"])}
            row = {"clip": name, "reference_seconds": round(float(reference[f"{key}/seconds"]), 3),
                   "network": {k: max_abs(same_input[k], graph[k]) for k in graph},
                   "graph_output_max_abs": {k: float(np.abs(graph[k]).max()) for k in graph},
                   "extractor_vs_graph_taggram": max_abs(ref["taggram"], graph["taggram"]),
                   "extractor_penultimate_repeats_first_patch": bool(
                       np.all(ref["penultimate"] == ref["penultimate"][:1]))}
            start = time.perf_counter()
            for mode in ("constant", "reflect"):
                out = net(musicnn.patches(mels[i][mode]), training=False)
                taggram = tf.sigmoid(out["logits"]).numpy()
                row[f"end_to_end_{mode}"] = {
                    "taggram": max_abs(taggram, ref["taggram"]),
                    "penultimate_first_patch": max_abs(out["penultimate"][:1],
                                                       ref["penultimate"][:1])}
                if mode == "reflect":
                    row["port_seconds_both_paddings"] = round(time.perf_counter() - start, 3)
                    row["top5_port"] = [tags[j] for j in np.argsort(-taggram.mean(0))[:5]]
            row["top5_reference"] = [tags[j] for j in np.argsort(-ref["taggram"].mean(0))[:5]]
            rows.append(row)
        report["models"][model_name] = rows
    return report


def fixture(reference: dict) -> dict:
    """The reference graph's outputs on the first clip (`FIXTURE_CLIP`), for tests/test_musicnn.py:
    the original network's numbers without its environment."""
    out = {"clip": FIXTURE_CLIP, "front_end": "librosa melspectrogram, pad_mode constant",
           "models": {}}
    for model in MODELS:
        out["models"][model] = {k: np.round(reference[f"{model}/0/graph/{k}"].astype(np.float64),
                                            7).tolist() for k in ("taggram", "penultimate")}
    return out


def summary(report: dict) -> dict:
    rows = [row for rows in report["models"].values() for row in rows]
    worst = {
        "network_taggram": max(r["network"]["taggram"] for r in rows),
        "network_penultimate": max(r["network"]["penultimate"] for r in rows),
        "network_pools": max(max(r["network"]["mean_pool"], r["network"]["max_pool"])
                             for r in rows),
        "end_to_end_constant_taggram": max(r["end_to_end_constant"]["taggram"] for r in rows),
        "end_to_end_reflect_taggram": max(r["end_to_end_reflect"]["taggram"] for r in rows),
        "front_end_constant": max(c["front_end_constant_max_abs_diff"] for c in report["clips"]),
        "front_end_reflect": max(c["front_end_reflect_max_abs_diff"] for c in report["clips"]),
    }
    return {"max_abs_diff": worst, "tolerance_taggram": TOLERANCE,
            "met": {"network_taggram": worst["network_taggram"] < TOLERANCE,
                    "end_to_end_constant_taggram": worst["end_to_end_constant_taggram"]
                    < TOLERANCE}}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--reference-python", default=os.environ.get(
        "MUSICNN_REFERENCE_PYTHON", DEFAULT_REFERENCE))
    parser.add_argument("--weights-dir", type=Path, default=None,
                        help="the wheel's musicnn/ folder (default: the reference's package)")
    parser.add_argument("--json", default=str(Path(__file__).with_name("musicnn_check.json")))
    parser.add_argument("--fixture", default=None,
                        help="also write the reference outputs tests/test_musicnn.py checks")
    parser.add_argument("--reference-child", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.reference_child:
        reference_child(args.reference_child)
        return 0
    from benchmarks.common import finish, logger, stamp, write_json

    log = logger("musicnn_check", time.time())
    report = stamp("musicnn_check.py", argv)
    with tempfile.TemporaryDirectory() as tmp:
        clips = write_clips(Path(tmp))
        log(f"reference on {len(clips)} clips under {args.reference_python}")
        reference, versions = run_reference(args.reference_python, [p for _, p in clips],
                                            MODELS, Path(tmp))
        # The same checkpoints as the reference's unless told otherwise.
        weights_dir = args.weights_dir or Path(versions["musicnn_folder"])
        log(f"port, weights from {weights_dir}")
        report.update({"reference": {"python": args.reference_python, **versions,
                                     "code": "musicnn 0.1.0 extractor.extractor"},
                       **compare(reference, clips, weights_dir)})
        if args.fixture:
            write_json(args.fixture, fixture(reference))
    report["summary"] = summary(report)
    finish(report)
    write_json(args.json, report)
    print(json.dumps(report["summary"], indent=1))
    return 0 if all(report["summary"]["met"].values()) else 1


if __name__ == "__main__":
    sys.exit(run_cli(main))
