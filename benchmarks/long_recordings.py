"""Benchmarks of tagging long recordings and of one-clip latency (issue #15).

    python benchmarks/long_recordings.py                 # 1, 10, 60 min; demo and paper CGRNN
    python benchmarks/long_recordings.py --tiny          # smoke settings, numbers meaningless
    python benchmarks/long_recordings.py --minutes 1,10 --sizes demo --json /tmp/long.json
    python benchmarks/long_recordings.py --only latency --json /tmp/latency.json

Two sections, each measured in child processes (so one measurement's peak memory and thread
pools do not leak into the next):

1. `long`: a synthetic 16 kHz WAV of each length is tagged as `predict.py` tags it
   (`admlc_tf.streaming.tag_stream`: blocks, batches of `--batch-size` segments, the
   per-segment timeline kept) with untrained exports of the demo-sized and paper-sized CGRNN
   (cost and memory do not depend on the weights). Reported: the real-time factor
   (tagging seconds / audio seconds), the child's peak resident memory (VmHWM) and its growth
   over the resident memory just before tagging. For reference, the whole-file path that
   predict.py used before streaming (decode everything, one `serving_default` call) is measured
   where it fits in memory (demo up to 10 min, paper 1 min).
2. `latency`: one 4 s clip per call, waveform in, at most 2 threads (TensorFlow intra-op 2 and
   inter-op 1; TFLite `num_threads=2`, without the XNNPACK delegate, as predict.py runs it), for
   one paper-sized export as a SavedModel
   (`serving_default`), TFLite float32 and TFLite int8 (dynamic range): p50 and p99 over
   `--calls` calls per form, run alternately in rounds. With the FLOPs of one clip and this
   machine's float32 matmul rate, the JSON gives the arithmetic floor of one call.

Results go to `--json` (default benchmarks/long_recordings.json) and a markdown table to stdout
and `--markdown` (default benchmarks/long_recordings.md), with the machine and the date.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

if not __package__:  # `python benchmarks/long_recordings.py`: siblings as `benchmarks.*`
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402

from admlc_tf.cli import run_cli  # noqa: E402
from benchmarks import run as bench  # noqa: E402
from benchmarks.common import (HERE, finish, in_child, logger, sections, stamp,  # noqa: E402
                               status_kb, write_json, write_text)

SCHEMA_VERSION = 1
SECTIONS = ("long", "latency")
WHOLE_FILE_LIMIT_MINUTES = {"tiny": 1.0, "demo": 10.0, "paper": 1.0}  # fits in memory


log = logger("long")


def write_recording(path: Path, minutes: float, seed: int = 0, rate: int = 16000) -> Path:
    """A mono 16-bit WAV of tones, clicks and noise, written 10 s at a time."""
    import soundfile

    rng = np.random.default_rng(seed)
    block = 10 * rate
    total = int(round(minutes * 60 * rate))
    t = np.arange(block) / rate
    with soundfile.SoundFile(path, "w", rate, 1, subtype="PCM_16") as f:
        for start in range(0, total, block):
            x = 0.02 * rng.standard_normal(block)
            x += rng.uniform(0.02, 0.2) * np.sin(2 * np.pi * rng.uniform(80, 4000) * t)
            x[rng.integers(0, block, 5)] += rng.uniform(-0.5, 0.5, 5)
            f.write(np.clip(x, -0.99, 0.99)[:total - start])
    return path


def export_model(size: str, workdir: Path, tflite: bool = False) -> Path:
    import keras

    from admlc_tf.config import FeatureConfig
    from admlc_tf.data.layouts.chime_home import LABELS
    from admlc_tf.serving.export import export_predictor

    config = bench.experiment_config(size)
    frames, bands = bench.feature_shape()
    mean, variance = bench.band_stats(bands)
    keras.utils.set_random_seed(0)
    predictor = bench.builders(config, frames, bands, mean, variance, False)[0]()
    return export_predictor(predictor, base_dir=workdir / "saved_models", name=f"long-{size}",
                            label_names=LABELS, metadata={"benchmark": True},
                            features=FeatureConfig(), tflite=tflite)


# ------------------------------------------------------------------------------------------
# Children.
# ------------------------------------------------------------------------------------------


def long_child(spec: dict) -> dict:
    """Tags one recording (streamed or whole) in this process; returns time and memory."""
    from admlc_tf.serving.exported import ExportedPredictor
    from admlc_tf.features import read_audio
    from admlc_tf.serving.audio import segment_predictor
    from admlc_tf.serving.streaming import tag_stream

    model = ExportedPredictor(spec["model"])
    serving = model.metadata["serving"]
    predict = segment_predictor(model)

    def streamed(path):
        pooled, info = tag_stream(path, predict, sample_rate=16000,
                                  segment=serving["segment_samples"], hop=serving["hop_samples"],
                                  pooling=serving["pooling"], batch_size=spec["batch_size"],
                                  keep_segments=True)
        return pooled.result(), info.samples

    def whole(path):
        waveform = read_audio(path, sample_rate=16000)
        return model.tag_waveforms(waveform[None])["probabilities"].numpy()[0], len(waveform)

    tag = streamed if spec["mode"] == "streamed" else whole
    tag(spec["warmup"])  # tracing and thread pools, on a short file
    before = status_kb("VmRSS")
    start = time.perf_counter()
    probabilities, samples = tag(spec["recording"])
    elapsed = time.perf_counter() - start
    assert np.all(np.isfinite(probabilities))
    return {"seconds": elapsed, "audio_seconds": samples / 16000,
            "rtf": elapsed / (samples / 16000), "rss_before_mb": before / 1024,
            "peak_rss_mb": status_kb("VmHWM") / 1024,
            "growth_mb": (status_kb("VmHWM") - before) / 1024}


def latency_child(spec: dict) -> dict:
    """One 4 s clip per call through the SavedModel and both TFLite files, 2 threads."""
    import tensorflow as tf

    tf.config.threading.set_intra_op_parallelism_threads(2)
    tf.config.threading.set_inter_op_parallelism_threads(1)
    from admlc_tf.serving.exported import ExportedPredictor
    from admlc_tf.serving.audio import TFLiteSegments

    model = ExportedPredictor(spec["model"])
    clip = bench.synthetic_waveforms(1, 64000, 16000, seed=30)  # [1, 64000]
    tensor = tf.constant(clip)

    def saved_model():
        return model.serving_default(waveform=tensor)["probabilities"].numpy()

    def interpreter(name):
        it = TFLiteSegments(Path(spec["model"]) / name, num_threads=2).interpreter
        inp, out = it.get_input_details()[0]["index"], it.get_output_details()[0]["index"]

        def call():
            it.set_tensor(inp, clip)
            it.invoke()
            return it.get_tensor(out)

        return call

    forms = {"savedmodel": saved_model, "tflite_float32": interpreter("model.tflite"),
             "tflite_int8": interpreter("model_int8.tflite")}
    outputs = {}
    for name, call in forms.items():  # warm-up
        for _ in range(10):
            outputs[name] = np.asarray(call()).reshape(-1)
    times = {name: [] for name in forms}
    rounds = spec["rounds"]
    for _ in range(rounds):
        for name, call in forms.items():
            for _ in range(spec["calls"] // rounds):
                start = time.perf_counter()
                call()
                times[name].append(time.perf_counter() - start)
    return {name: {"p50_ms": float(np.percentile(t, 50) * 1e3),
                   "p99_ms": float(np.percentile(t, 99) * 1e3), "calls": len(t),
                   "max_abs_diff_to_savedmodel": float(np.abs(outputs[name]
                                                              - outputs["savedmodel"]).max())}
            for name, t in times.items()}


def _in_child(kind: str, spec: dict) -> dict:
    return in_child("benchmarks.long_recordings", f"--{kind}-child", spec)


# ------------------------------------------------------------------------------------------
# Sections.
# ------------------------------------------------------------------------------------------


def bench_long(sizes, minutes, batch_size: int, workdir: Path) -> dict:
    # two full batches and a short one: every batch shape the timed run sees is traced
    warmup = write_recording(workdir / "warmup.wav", (2 * batch_size + 3) * 2 / 60, seed=1)
    recordings = {m: write_recording(workdir / f"{m:g}min.wav", m, seed=2) for m in minutes}
    results = {}
    for size in sizes:
        log(f"long/{size}: exporting")
        model = export_model(size, workdir)
        for m in minutes:
            for mode in ("streamed", "whole_file"):
                if mode == "whole_file" and m > WHOLE_FILE_LIMIT_MINUTES[size]:
                    continue
                log(f"long/{size}: {m:g} min, {mode}")
                result = _in_child("long", {"model": str(model), "recording": str(recordings[m]),
                                           "warmup": str(warmup), "mode": mode,
                                           "batch_size": batch_size})
                results[f"{size}/{m:g}min/{mode}"] = {"size": size, "minutes": m, "mode": mode,
                                                      **result}
                log(f"long/{size}: {m:g} min, {mode}: RTF {result['rtf']:.4f}, peak "
                    f"{result['peak_rss_mb']:.0f} MB (+{result['growth_mb']:.0f} MB)")
    return {"batch_size": batch_size, "runs": results}


def bench_latency(size: str, calls: int, rounds: int, workdir: Path) -> dict:
    log(f"latency/{size}: exporting with TFLite")
    model = export_model(size, workdir, tflite=True)
    frames, bands = bench.feature_shape()
    flops = bench.cgrnn_flops(bench.experiment_config(size).predictor, frames, bands, 7)
    log(f"latency/{size}: {calls} calls per form in {rounds} rounds")
    forms = _in_child("latency", {"model": str(model), "calls": calls, "rounds": rounds})
    rate = bench.matmul_gflops()
    sizes = {name: (model / name).stat().st_size / 2 ** 20
             for name in ("model.tflite", "model_int8.tflite")}
    return {"model": size, "forms": forms, "gflops_per_clip": flops["total"] / 1e9,
            "matmul_gflops_per_second": rate,
            "float32_floor_ms_at_matmul_rate": flops["total"] / rate / 1e9 * 1e3,
            "tflite_file_mb": sizes}


# ------------------------------------------------------------------------------------------
# Report.
# ------------------------------------------------------------------------------------------


def format_table(report: dict) -> str:
    machine = report["machine"]
    lines = [f"Measured {report['started']} on {machine['cpu_model']} "
             f"({machine['usable_cores']} cores), TensorFlow {machine['tensorflow']}"
             f"{' (--tiny: meaningless numbers)' if report['tiny'] else ''}.", ""]
    long = report["results"].get("long", {})
    if "runs" in long:
        lines += [f"Tagging one recording (batch {long['batch_size']} segments, timeline kept):",
                  "", "| model | audio | path | real-time factor | peak RSS | growth while "
                  "tagging |", "|---|---|---|---|---|---|"]
        for run in long["runs"].values():
            lines.append(f"| {run['size']} | {run['minutes']:g} min | {run['mode']} | "
                         f"{run['rtf']:.4f} | {run['peak_rss_mb']:.0f} MB | "
                         f"{run['growth_mb']:.0f} MB |")
        lines.append("")
    latency = report["results"].get("latency", {})
    if "forms" in latency:
        lines += [f"One 4 s clip per call, {latency['model']}-sized CGRNN, 2 threads "
                  f"({latency['gflops_per_clip']:.2f} GFLOP per clip; float32 floor "
                  f"{latency['float32_floor_ms_at_matmul_rate']:.1f} ms at this machine's "
                  f"{latency['matmul_gflops_per_second']:.0f} GFLOP/s matmul rate):", "",
                  "| form | p50 | p99 | max abs diff to SavedModel |", "|---|---|---|---|"]
        for name, form in latency["forms"].items():
            lines.append(f"| {name} | {form['p50_ms']:.1f} ms | {form['p99_ms']:.1f} ms | "
                         f"{form['max_abs_diff_to_savedmodel']:.1e} |")
    for name, section in report["results"].items():
        if "error" in section:
            lines.append(f"\n{name} failed: {section['error']}")
    return "\n".join(lines)


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tiny", action="store_true", help="smoke settings (about a minute)")
    parser.add_argument("--minutes", help="recording lengths (default 1,10,60; tiny 0.25,0.5)")
    parser.add_argument("--sizes", help="CGRNN sizes for the long recordings (default "
                        "demo,paper; tiny: tiny)")
    parser.add_argument("--only", default="long,latency", help="sections: long, latency or both")
    parser.add_argument("--batch-size", type=int, default=16, help="segments per model call")
    parser.add_argument("--calls", type=int, default=0,
                        help="latency: calls per form (default 300; tiny 10)")
    parser.add_argument("--json", default=str(HERE / "long_recordings.json"))
    parser.add_argument("--markdown", default=str(HERE / "long_recordings.md"))
    parser.add_argument("--long-child", help=argparse.SUPPRESS)
    parser.add_argument("--latency-child", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    args.only = sections(parser, args.only, SECTIONS)
    return args


def main(argv=None) -> int:
    args = parse_args(argv)
    if args.long_child:
        print(json.dumps(long_child(json.loads(args.long_child))))
        return 0
    if args.latency_child:
        print(json.dumps(latency_child(json.loads(args.latency_child))))
        return 0
    minutes = [float(m) for m in (args.minutes or ("0.25,0.5" if args.tiny else "1,10,60"))
               .split(",")]
    sizes = (args.sizes or ("tiny" if args.tiny else "demo,paper")).split(",")
    calls = args.calls or (10 if args.tiny else 300)
    report = {"schema": SCHEMA_VERSION, **stamp("long_recordings.py", argv), "tiny": args.tiny,
              "results": {}}
    jobs = {"long": lambda w: bench_long(sizes, minutes, args.batch_size, w),
            "latency": lambda w: bench_latency("tiny" if args.tiny else "paper", calls,
                                               2 if args.tiny else 5, w)}
    failed = []
    for name, job in jobs.items():
        if name not in args.only:
            continue
        start = time.time()
        try:
            with tempfile.TemporaryDirectory(prefix=f"admlc-long-{name}-") as tmp:
                report["results"][name] = job(Path(tmp))
        except Exception as e:  # keep the other section's numbers; exit 1 at the end
            log(f"{name} failed: {type(e).__name__}: {e}")
            report["results"][name] = {"error": f"{type(e).__name__}: {e}"}
            failed.append(name)
        report["results"][name]["seconds"] = round(time.time() - start, 1)
    finish(report)
    report["table"] = format_table(report)
    print(report["table"])
    write_json(args.json, report)
    write_text(args.markdown, f"<!-- {report['command']} -->\n\n{report['table']}\n")
    log(f"wrote {args.json} and {args.markdown}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(run_cli(main))
