"""Benchmarks of admlc-tf (issue #5): one command, one process, a table and a JSON file.

    python benchmarks/run.py [--only step,fit,features,serving,memory,levers] [--repeats N]
                             [--tiny]
                             [--json PATH] [--no-paper]

Every measurement warms up first (tracing, thread pools), then runs its variants alternately,
`--repeats` times, and reports the median (raw repeats are kept in the JSON). Progress goes to
stderr; the markdown table goes to stdout and into the JSON (`table`). `--tiny` shrinks every
model and count so that the whole command finishes in about a minute (the smoke test runs
it); its numbers mean nothing. See benchmarks/README.md for what each measurement is.
"""

from __future__ import annotations

import argparse
import dataclasses
import functools
import json
import os
import resource
import statistics
import sys
import tempfile
import time
import warnings
from pathlib import Path

if not __package__:  # `python benchmarks/run.py`: the siblings are imported as `benchmarks.*`
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402

from admlc_tf.cli import run_cli  # noqa: E402
from benchmarks import levers  # noqa: E402
from benchmarks.common import (HERE, finish, in_child, logger, sections, stamp,  # noqa: E402
                               status_kb, write_json)

warnings.filterwarnings("ignore", message=".*`shuffle=True` was passed.*")

SECTIONS = ("step", "fit", "features", "serving", "memory", "levers")
DCASE_CHUNKS = 5203  # "a DCASE-sized set", as issue #5 sizes it
# CUB-200-2011 as the paper's timings use it: 312 binary attributes; 1024-d features as from
# GoogLeNet's pooling layer (a common choice for CUB; the step cost scales with it).
CUB_DIMS, CUB_LABELS = 1024, 312
SCHEMA_VERSION = 1
NUM_LABELS = 7


log = logger("bench")


# ------------------------------------------------------------------------------------------
# Settings.
# ------------------------------------------------------------------------------------------


def experiment_config(size: str):
    """The ExperimentConfig of a model size: "demo" (train.py's default), "paper" (the
    defaults with --data-dir) or "tiny" (smoke test only)."""
    from admlc_tf.config import (CriticConfig, ExperimentConfig, PredictorConfig,
                                 TrainerConfig)
    from admlc_tf.recipes.audio import demo_config

    if size == "demo":
        return demo_config()
    if size == "paper":
        return ExperimentConfig()
    if size == "tiny":
        return ExperimentConfig(
            predictor=PredictorConfig(window_hop=54, conv_filters=(4,), gru_units=(6,),
                                      dense_units=8),
            critic=CriticConfig(representation_units=(4,), embedding_units=8, label_units=4,
                                fusion_units=(8,)),
            trainer=TrainerConfig(epochs=1, batch_size=8, critic_batch=8,
                                  critic_pretrain_steps=2, checkpoint_every=1000))
    raise ValueError(size)


def with_loss(config, *, adversarial: bool, critic_every: int = 1, epochs: int | None = None):
    trainer = dataclasses.replace(config.trainer, critic_every=critic_every,
                                  epochs=config.trainer.epochs if epochs is None else epochs)
    return dataclasses.replace(config, loss=dataclasses.replace(config.loss,
                                                                adversarial=adversarial),
                               trainer=trainer)


@dataclasses.dataclass
class Plan:
    """Counts per section; `tiny` shrinks them all."""

    size: str  # model size of the main measurements
    repeats: int
    step_steps: int  # steps per timed block, item 1 (a multiple of every l)
    paper_steps: int  # steps per timed block, paper-sized item 1
    fit_steps: int  # steps per timed block, item 2
    feature_chunks: int  # chunks per timed block, item 3
    serving_calls: int  # single-clip calls per signature and repeat, item 4
    serving_batches: int  # batch-32 calls per signature and repeat, item 4
    paper_serving_calls: int
    memory_rows: int  # rows of the generated cache, item 5
    lever_steps: int  # steps per timed block, step levers
    lever_rows: int  # rows of the pipeline levers' cache
    lever_batches: int  # batches per timed block, pipeline levers
    vector_steps: int  # steps per timed block, item 1 for BP-MLL and C2AE
    vector_dims: int  # feature dimension of their synthetic data
    vector_labels: int  # label count of their synthetic data
    paper: bool  # also the paper-sized CGRNN (item 1 at l = 1, item 4)


def make_plan(args) -> Plan:
    if args.tiny:
        return Plan(size="tiny", repeats=args.repeats or 2, step_steps=10, paper_steps=1,
                    fit_steps=3, feature_chunks=4, serving_calls=8, serving_batches=1,
                    paper_serving_calls=0, memory_rows=64, lever_steps=2, lever_rows=32,
                    lever_batches=2, vector_steps=5, vector_dims=16, vector_labels=6,
                    paper=False)
    return Plan(size="demo", repeats=args.repeats or 5, step_steps=20, paper_steps=1,
                fit_steps=30, feature_chunks=480, serving_calls=200, serving_batches=5,
                paper_serving_calls=100, memory_rows=DCASE_CHUNKS, lever_steps=20,
                lever_rows=2048, lever_batches=40, vector_steps=100, vector_dims=CUB_DIMS,
                vector_labels=CUB_LABELS, paper=not args.no_paper)


# ------------------------------------------------------------------------------------------
# Synthetic data.
# ------------------------------------------------------------------------------------------


def synthetic_features(n: int, frames: int, bands: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Log-mel-like `[n, frames, bands]` float32 (N(-5, 2^2)) and multi-hot `[n, 7]` labels.
    Step cost does not depend on the values."""
    rng = np.random.default_rng(seed)
    x = rng.normal(-5.0, 2.0, size=(n, frames, bands)).astype(np.float32)
    y = (rng.random((n, NUM_LABELS)) < 0.27).astype(np.float32)
    return x, y


def write_synthetic_cache(path: Path, n: int, frames: int, bands: int, seed: int,
                          block: int = 256) -> tuple[Path, np.ndarray]:
    """Writes `n` synthetic one-segment clips in the layout of `build_feature_cache` (one HDF5
    chunk per segment), block by block so the writer never holds the whole set; returns (path,
    labels)."""
    import h5py

    labels = []
    with h5py.File(path, "w") as f:
        features = f.create_dataset("features", shape=(n * frames, bands), dtype="float32",
                                    chunks=(frames, bands))
        for start in range(0, n, block):
            x, y = synthetic_features(min(block, n - start), frames, bands, seed + start)
            features[start * frames:(start + len(x)) * frames] = x.reshape(-1, bands)
            labels.append(y)
        f.create_dataset("offsets", data=np.arange(n + 1, dtype=np.int64) * frames)
        f.create_dataset("names", data=np.array([f"chunk{i}" for i in range(n)], dtype=object),
                         dtype=h5py.string_dtype())
    return path, np.concatenate(labels)


def synthetic_waveforms(n: int, samples: int, rate: int, seed: int) -> np.ndarray:
    """`[n, samples]` float32 4 s "chunks": a few tones, clicks and coloured noise."""
    rng = np.random.default_rng(seed)
    t = np.arange(samples) / rate
    out = np.empty((n, samples), dtype=np.float32)
    for i in range(n):
        x = 0.02 * rng.standard_normal(samples)
        for _ in range(3):
            x += rng.uniform(0.02, 0.2) * np.sin(2 * np.pi * rng.uniform(80, 4000) * t)
        clicks = rng.integers(0, samples, 5)
        x[clicks] += rng.uniform(-0.5, 0.5, 5)
        out[i] = np.clip(x, -0.99, 0.99)
    return out


def builders(config, frames: int, bands: int, mean, variance, adversarial: bool):
    from admlc_tf.critic import build_critic
    from admlc_tf.predictors.cgrnn import build_cgrnn

    stats = dict(feature_mean=mean, feature_variance=variance)
    predictor = functools.partial(build_cgrnn, frames, bands, NUM_LABELS,
                                  config=config.predictor, name="predictor", **stats)
    critic = (functools.partial(build_critic, (frames, bands), NUM_LABELS, config=config.critic,
                                **stats) if adversarial else None)
    return predictor, critic


def feature_shape():
    from admlc_tf.config import FeatureConfig

    f = FeatureConfig()
    return f.num_frames, f.n_mels


def band_stats(bands: int):
    return np.full(bands, -5.0, np.float32), np.full(bands, 4.0, np.float32)


def median(values) -> float:
    return float(statistics.median(values))


def paired_ratio(numerators, denominators) -> dict:
    """Median and range of the per-repeat ratios of two variants timed in the same repeats.

    Variants alternate within a repeat, so a slow period of the machine hits both sides of a
    pair; the median of the pairs' ratios cancels it, where the ratio of the two medians
    would not."""
    ratios = [a / b for a, b in zip(numerators, denominators)]
    return {"median": median(ratios), "min": min(ratios), "max": max(ratios)}


# ------------------------------------------------------------------------------------------
# 1. Training step time, adversarial / plain.
# ------------------------------------------------------------------------------------------


def _make_trainer(config, adversarial: bool):
    from admlc_tf.trainer import Trainer, make_strategy

    frames, bands = feature_shape()
    mean, variance = band_stats(bands)
    config = with_loss(config, adversarial=adversarial)
    predictor, critic = builders(config, frames, bands, mean, variance, adversarial)
    return Trainer(config, make_strategy(config.runtime), build_predictor=predictor,
                   build_critic=critic)


def _fixed_batches(trainer, n_batches: int, batch: int, seed: int) -> list:
    """`n_batches` distributed (x, y) batches collected once from an in-memory tf.data source,
    so every variant steps on exactly the same tensors and no input pipeline is timed."""
    import tensorflow as tf

    frames, bands = feature_shape()
    x, y = synthetic_features(n_batches * batch, frames, bands, seed)
    ds = tf.data.Dataset.from_tensor_slices((x, y)).batch(batch, drop_remainder=True)
    return list(trainer.strategy.experimental_distribute_dataset(ds))


def _run_steps(trainer, batches, critic_batches, steps: int, critic_every: int | None) -> float:
    """Algorithm 1's inner loop as Trainer.fit drives it (critic when k % l == 0, scalars
    fetched every step); returns the wall time of `steps` steps."""
    start = time.perf_counter()
    for k in range(1, steps + 1):
        x, y = batches[k % len(batches)]
        if critic_every and k % critic_every == 0:
            logs = trainer.adversarial_step(x, y, *critic_batches[k % len(critic_batches)])
        else:
            logs = trainer.predictor_step(x, y)
        logs = {name: float(value) for name, value in logs.items()}
        trainer.step.assign(k)
    return time.perf_counter() - start


def _time_plain_and_adversarial(label: str, plain, adversarial, batches: dict, critic_batches,
                                steps: int, repeats: int, critic_everies) -> dict:
    """Warms up, then times plain and adversarial (each l) alternately; returns the JSON fields
    shared by every item-1 measurement."""
    variants = [("plain", plain, None)] + [(f"adversarial_l{l}", adversarial, l)
                                           for l in critic_everies]
    log(f"step/{label}: warm-up (tracing)")
    for name, trainer, l in variants:
        kind = "plain" if l is None else "adversarial"
        _run_steps(trainer, batches[kind], critic_batches, max(2, l or 1), l)
    times = {name: [] for name, _, _ in variants}
    for r in range(repeats):
        for name, trainer, l in variants:
            kind = "plain" if l is None else "adversarial"
            times[name].append(_run_steps(trainer, batches[kind], critic_batches, steps, l)
                               / steps)
        log(f"step/{label}: repeat {r + 1}/{repeats}: " + ", ".join(
            f"{n} {v[-1] * 1e3:.2f} ms" for n, v in times.items()))
    per_step = {name: median(v) for name, v in times.items()}
    ratios = {name: paired_ratio(times[name], times["plain"]) for name in per_step
              if name != "plain"}
    return {
        "steps_per_repeat": steps, "repeats": repeats,
        "critic_params": int(adversarial.critic.count_params()),
        "seconds_per_step": per_step,
        "ratio_to_plain": {name: r["median"] for name, r in ratios.items()},
        "ratio_to_plain_range": ratios,
        "ratio_of_medians_to_plain": {name: per_step[name] / per_step["plain"]
                                      for name in ratios},
        "raw_seconds_per_step": times,
    }


def bench_step(size: str, steps: int, repeats: int, critic_everies: tuple[int, ...]) -> dict:
    config = experiment_config(size)
    batch, critic_batch = config.trainer.batch_size, config.trainer.critic_batch
    log(f"step/{size}: building the plain and the adversarial Trainer (batch {batch}, "
        f"critic batch {critic_batch})")
    plain = _make_trainer(config, adversarial=False)
    adversarial = _make_trainer(config, adversarial=True)
    n_batches = min(steps, 4)
    batches = {"plain": _fixed_batches(plain, n_batches, batch, seed=1),
               "adversarial": _fixed_batches(adversarial, n_batches, batch, seed=1)}
    critic_batches = _fixed_batches(adversarial, n_batches, critic_batch, seed=2)
    return {"model": size, "batch_size": batch, "critic_batch": critic_batch,
            "predictor_params": int(plain.predictor.count_params()),
            **_time_plain_and_adversarial(size, plain, adversarial, batches, critic_batches,
                                          steps, repeats, critic_everies)}


def bench_step_vectors(model: str, dims: int, labels: int, steps: int, repeats: int,
                       critic_everies: tuple[int, ...], tiny: bool) -> dict:
    """Item 1 for the feature-vector models (BP-MLL, C2AE): the `--task features` defaults
    (batch 100, M 100, dense critic) on synthetic `[n, dims]` features and `[n, labels]` labels."""
    import tensorflow as tf

    from admlc_tf.config import CriticConfig, ExperimentConfig
    from admlc_tf.critic import build_critic
    from admlc_tf.trainer import Trainer, make_strategy
    from admlc_tf.recipes.vectors import build_spec

    config = ExperimentConfig(task="features", model=model)
    if tiny:
        config.vectors.hidden_units = (16,)
        config.critic = CriticConfig(representation_units=(8,), embedding_units=8, label_units=4,
                                     fusion_units=(8,))
        config.trainer.batch_size = config.trainer.critic_batch = 8
    batch, critic_batch = config.trainer.batch_size, config.trainer.critic_batch
    rng = np.random.default_rng(60)
    n = 4 * max(batch, critic_batch)
    x = rng.normal(size=(n, dims)).astype(np.float32)
    y = (rng.random((n, labels)) < 0.1).astype(np.float32)
    y[np.arange(n), rng.integers(0, labels, n)] = 1.0  # every example has a label (BP-MLL)

    def make(adversarial: bool):
        cfg = with_loss(config, adversarial=adversarial)
        critic = functools.partial(build_critic, (dims,), labels, config=cfg.critic,
                                   feature_mean=x.mean(0), feature_variance=x.var(0) + 1e-6)
        return Trainer(cfg, make_strategy(cfg.runtime),
                       build_predictor=functools.partial(build_spec, cfg, model, x, y),
                       build_critic=critic)

    log(f"step/{model}: building the plain and the adversarial Trainer ({dims}-d features, "
        f"{labels} labels, batch {batch}, critic batch {critic_batch})")
    plain, adversarial = make(False), make(True)

    def fixed(trainer, size: int, offset: int) -> list:
        ds = tf.data.Dataset.from_tensor_slices((np.roll(x, offset, 0), np.roll(y, offset, 0)))
        return list(trainer.strategy.experimental_distribute_dataset(
            ds.batch(size, drop_remainder=True)))

    batches = {"plain": fixed(plain, batch, 0), "adversarial": fixed(adversarial, batch, 0)}
    critic_batches = fixed(adversarial, critic_batch, 7)
    return {"model": model, "feature_dims": dims, "num_labels": labels, "batch_size": batch,
            "critic_batch": critic_batch,
            "predictor_params": int(plain.task.spec.trained_model.count_params()),
            **_time_plain_and_adversarial(model, plain, adversarial, batches, critic_batches,
                                          steps, repeats, critic_everies)}


# ------------------------------------------------------------------------------------------
# 2. Custom MirroredStrategy loop (Trainer.fit) vs keras model.fit.
# ------------------------------------------------------------------------------------------


def bench_fit(size: str, steps: int, repeats: int, workdir: Path) -> dict:
    import keras

    from admlc_tf.data.pipeline import ClipRows, training_stream

    config = experiment_config(size)
    batch = config.trainer.batch_size
    frames, bands = feature_shape()
    n = steps * batch
    cache, labels = write_synthetic_cache(workdir / "fit-cache.h5", n, frames, bands, seed=10)
    rows = ClipRows(cache, np.arange(n), labels)
    mean, variance = band_stats(bands)
    plain_config = with_loss(config, adversarial=False, epochs=1)
    log(f"fit/{size}: {n} rows in an HDF5 cache, {steps} steps of {batch} per repeat")
    trainer = _make_trainer(plain_config, adversarial=False)
    keras.utils.set_random_seed(plain_config.trainer.seed)
    model = builders(plain_config, frames, bands, mean, variance, False)[0]()
    model.compile(optimizer=keras.optimizers.Adam(plain_config.trainer.learning_rate),
                  loss=keras.losses.BinaryCrossentropy(from_logits=True))
    stream = functools.partial(training_stream, rows, batch_size=batch,
                               seed=plain_config.trainer.seed)

    # Start time of every training step, for the steady-state rate (between the first and the
    # last step of a call: no stream set-up or iterator teardown).
    stamps: list[float] = []
    traced_step = trainer.predictor_step

    def stamped_step(*args):  # (x, y, the step's seed)
        stamps.append(time.perf_counter())
        return traced_step(*args)

    trainer.predictor_step = stamped_step  # Trainer.fit calls self.predictor_step

    class Stamp(keras.callbacks.Callback):
        def on_train_batch_begin(self, batch, logs=None):
            stamps.append(time.perf_counter())

    def custom():
        trainer.step.assign(0)  # Trainer.fit resumes from `step`: rerun the same epoch
        start = time.perf_counter()
        trainer.fit(rows, verbose=False)
        return time.perf_counter() - start

    def keras_fit():
        start = time.perf_counter()
        model.fit(stream(), epochs=1, steps_per_epoch=steps, verbose=0, callbacks=[Stamp()])
        return time.perf_counter() - start

    def input_only():
        start = time.perf_counter()
        iterator = iter(stream())
        for _ in range(steps):
            next(iterator)
        return time.perf_counter() - start

    variants = {"custom_loop": custom, "keras_fit": keras_fit, "input_pipeline_only": input_only}
    log(f"fit/{size}: warm-up (tracing)")
    for fn in variants.values():
        fn()
    times = {name: [] for name in variants}
    steady = {"custom_loop": [], "keras_fit": []}  # seconds per step between first and last
    for r in range(repeats):
        for name, fn in variants.items():
            stamps.clear()
            times[name].append(fn())
            if name in steady:
                if len(stamps) != steps:
                    raise RuntimeError(f"{name}: {len(stamps)} step stamps, expected {steps}")
                steady[name].append((stamps[-1] - stamps[0]) / (steps - 1))
        log(f"fit/{size}: repeat {r + 1}/{repeats}: " + ", ".join(
            f"{k} {v[-1]:.2f} s" for k, v in times.items()) + "; steady " + ", ".join(
            f"{k} {v[-1] * 1e3:.0f} ms/step" for k, v in steady.items()))
    whole = {name: steps * batch / median(v) for name, v in times.items()}
    rate = {name: batch / median(v) for name, v in steady.items()}
    return {"model": size, "batch_size": batch, "steps_per_repeat": steps, "repeats": repeats,
            "rows": n, "samples_per_second": rate,
            # samples/s ratio = inverse ratio of seconds per step, paired by repeat
            "ratio_custom_to_keras": paired_ratio(steady["keras_fit"],
                                                  steady["custom_loop"])["median"],
            "ratio_custom_to_keras_range": paired_ratio(steady["keras_fit"],
                                                        steady["custom_loop"]),
            "ratio_of_medians_custom_to_keras": rate["custom_loop"] / rate["keras_fit"],
            "whole_call_samples_per_second": whole,
            "whole_call_ratio_custom_to_keras": whole["custom_loop"] / whole["keras_fit"],
            "raw_whole_call_seconds": times, "raw_steady_seconds_per_step": steady,
            "note": "samples_per_second = batch / median seconds per step between the first and "
                    "the last step start of a call (steady state). whole_call_* = steps * batch "
                    "/ median duration of the whole call, which adds building a fresh stream "
                    "from the HDF5 cache and tearing down its iterator"}


# ------------------------------------------------------------------------------------------
# 3. Feature extraction.
# ------------------------------------------------------------------------------------------


def bench_features(chunks: int, repeats: int, workdir: Path) -> dict:
    import dataclasses as dc

    import soundfile
    import tensorflow as tf

    from admlc_tf.config import FeatureConfig
    from admlc_tf.data.cache import build_feature_cache
    from admlc_tf.features import LogMelSpectrogram, log_mel_spectrogram

    config = FeatureConfig()
    waves = synthetic_waveforms(chunks, config.num_samples, config.sample_rate, seed=20)
    wav_dir = workdir / "wavs"
    wav_dir.mkdir(parents=True)
    chunk_list = []
    for i, w in enumerate(waves):
        path = wav_dir / f"chunk{i}.16kHz.wav"
        pcm = np.round(w * 32767.0).astype(np.int16)
        soundfile.write(path, pcm, config.sample_rate, subtype="PCM_16", format="WAV")
        chunk_list.append((f"chunk{i}", path))
    log(f"features: {chunks} generated 4 s WAV chunks")
    front_end = LogMelSpectrogram(dc.asdict(config))
    in_graph = tf.function(front_end.call, input_signature=[
        tf.TensorSpec((None, config.num_samples), tf.float32)])
    graph_batch = 32
    batches = [tf.constant(waves[i:i + graph_batch]) for i in range(0, chunks, graph_batch)]
    counter = iter(range(10 ** 6))

    def offline_cache():
        cache_dir = workdir / f"cache-{next(counter)}"
        start = time.perf_counter()
        path = build_feature_cache(chunk_list, config=config, cache_dir=cache_dir, verbose=False)
        elapsed = time.perf_counter() - start
        path.unlink()
        return elapsed

    def librosa_compute():
        start = time.perf_counter()
        for w in waves:
            log_mel_spectrogram(w, config=config)
        return time.perf_counter() - start

    def graph():
        start = time.perf_counter()
        for b in batches:
            in_graph(b).numpy()
        return time.perf_counter() - start

    variants = {"offline_cache_librosa": offline_cache,
                "librosa_in_memory_one_thread": librosa_compute,
                "in_graph_logmel_batch32": graph}
    log("features: warm-up")
    for fn in variants.values():
        fn()
    times = {name: [] for name in variants}
    for r in range(repeats):
        for name, fn in variants.items():
            times[name].append(fn())
        log(f"features: repeat {r + 1}/{repeats}: " + ", ".join(
            f"{k} {chunks / v[-1]:.0f} chunks/s" for k, v in times.items()))
    rate = {name: chunks / median(v) for name, v in times.items()}
    return {"chunks_per_repeat": chunks, "repeats": repeats, "chunks_per_second": rate,
            "dcase_chunks": DCASE_CHUNKS,
            "dcase_cache_build_seconds_extrapolated":
                DCASE_CHUNKS / rate["offline_cache_librosa"],
            "raw_seconds": times,
            "note": "offline cache = build_feature_cache end to end (WAV decode, librosa, HDF5 "
                    f"writes, its thread pool of os.cpu_count() = {os.cpu_count()} workers); "
                    "in-graph = admlc_tf.features.LogMelSpectrogram in a tf.function on "
                    "in-memory batches of 32"}


# ------------------------------------------------------------------------------------------
# 4. The exported predictor.
# ------------------------------------------------------------------------------------------


def cgrnn_flops(config, frames: int, bands: int, labels: int) -> dict:
    """Floating-point operations (2 per multiply-add) of one CGRNN forward pass on one chunk,
    counted from the architecture: the gated convolutions, the GRUs and the dense layers.
    Element-wise work (batch norm, gates' activations, pooling) is left out, so it is a floor.
    TensorFlow's profiler agrees on the convolutions but cannot see inside the GRUs' loops."""
    window, hop = config.window_frames, config.window_hop
    windows = 1 + (frames - window) // hop
    conv, channels, width = 0, 1, bands
    for filters in config.conv_filters:
        conv += 2 * (2 * 9 * channels * filters * window * width)  # linear and gate convs
        channels, width = filters, width // 2
    gru, inputs = 0, channels * width
    for units in config.gru_units:
        gru += 2 * window * 2 * 3 * units * (inputs + units)  # two directions, three gates
        inputs = 2 * units
    dense = 2 * (inputs * config.dense_units + config.dense_units * labels)
    return {"windows": windows, "conv": windows * conv, "gru": windows * gru,
            "dense": windows * dense, "total": windows * (conv + gru + dense)}


def matmul_gflops(n: int = 2048, repeats: int = 5) -> float:
    """GFLOP/s of a large float32 matrix product on this machine: a practical ceiling for
    dense arithmetic, to compare a model's achieved rate against."""
    import tensorflow as tf

    a = tf.random.normal((n, n))
    product = tf.function(lambda m: tf.reduce_sum(tf.matmul(m, m)))
    product(a).numpy()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        product(a).numpy()
        times.append(time.perf_counter() - start)
    return 2 * n ** 3 / min(times) / 1e9


def bench_serving(size: str, single_calls: int, batch_calls: int, repeats: int,
                  workdir: Path) -> dict:
    import keras
    import tensorflow as tf

    from admlc_tf.config import FeatureConfig
    from admlc_tf.data.layouts.chime_home import LABELS
    from admlc_tf.serving.export import export_predictor
    from admlc_tf.serving.exported import ExportedPredictor

    config = experiment_config(size)
    features = FeatureConfig()
    frames, bands = feature_shape()
    mean, variance = band_stats(bands)
    keras.utils.set_random_seed(0)
    predictor = builders(config, frames, bands, mean, variance, False)[0]()
    log(f"serving/{size}: exporting ({predictor.count_params()} parameters) and loading")
    path = export_predictor(predictor, base_dir=workdir / "saved_models", name=f"bench-{size}",
                            label_names=LABELS, metadata={"benchmark": True}, features=features)
    exported = ExportedPredictor(path)
    wave1 = tf.constant(synthetic_waveforms(1, features.num_samples, features.sample_rate, 30))
    wave32 = tf.constant(synthetic_waveforms(32, features.num_samples, features.sample_rate, 31))
    feat1 = tf.constant(synthetic_features(1, frames, bands, 32)[0])
    feat32 = tf.constant(synthetic_features(32, frames, bands, 33)[0])
    calls = {
        "serving_default": (lambda w: exported.serving_default(waveform=w), wave1, wave32),
        "features": (lambda f: exported.signature(features=f), feat1, feat32),
    }

    def timed(fn, arg) -> float:
        start = time.perf_counter()
        out = fn(arg)
        out["probabilities"].numpy()
        return time.perf_counter() - start

    log(f"serving/{size}: warm-up")
    for fn, one, many in calls.values():
        for _ in range(5):
            timed(fn, one)
        timed(fn, many)
    single = {name: [] for name in calls}
    batched = {name: [] for name in calls}
    for r in range(repeats):
        for name, (fn, one, many) in calls.items():
            single[name] += [timed(fn, one) for _ in range(single_calls)]
            batched[name].append(sum(timed(fn, many) for _ in range(batch_calls)) / batch_calls)
        log(f"serving/{size}: repeat {r + 1}/{repeats}: " + ", ".join(
            f"{k} p50 {np.percentile(single[k], 50) * 1e3:.2f} ms" for k in calls))
    flops = cgrnn_flops(config.predictor, frames, bands, NUM_LABELS)
    p50 = {name: float(np.percentile(single[name], 50)) for name in calls}
    ceiling = matmul_gflops()
    return {
        "model": size, "predictor_params": int(predictor.count_params()),
        "matmul_gflops_per_second": ceiling,
        "one_clip_floor_ms_at_matmul_rate": flops["total"] / ceiling / 1e9 * 1e3,
        "gflops_per_clip": {k: v / 1e9 for k, v in flops.items() if k != "windows"},
        "windows_per_clip": flops["windows"],
        "signatures": {name: {
            "achieved_gflops_per_second_one_clip": flops["total"] / p50[name] / 1e9,
            "achieved_gflops_per_second_batch32": flops["total"] * 32 / median(batched[name])
                                                  / 1e9,
            "one_clip_p50_ms": float(np.percentile(single[name], 50) * 1e3),
            "one_clip_p99_ms": float(np.percentile(single[name], 99) * 1e3),
            "one_clip_calls": len(single[name]),
            "batch32_clips_per_second": 32 / median(batched[name]),
            "raw_batch32_seconds": batched[name]} for name in calls},
        "note": "one 4 s clip = [1, 64000] waveform (serving_default, log-mel in the graph) or "
                "[1, 249, 40] features; through tf.saved_model.load signatures, eager call "
                "from Python, output fetched"}


# ------------------------------------------------------------------------------------------
# 5. Peak resident memory of a training run (in a subprocess).
# ------------------------------------------------------------------------------------------


def memory_child(spec: dict) -> dict:
    """Runs in its own process (`in_child`): one Trainer.fit epoch on the given cache."""
    import tensorflow as tf  # noqa: F401

    from admlc_tf.data.cache import feature_statistics
    from admlc_tf.data.pipeline import ClipRows
    from admlc_tf.trainer import Trainer, make_strategy

    after_import = status_kb("VmRSS")
    labels = np.load(spec["labels"])
    rows = ClipRows(spec["cache"], np.arange(len(labels)), labels)
    mean, variance = feature_statistics(spec["cache"], rows.rows)  # as prepare_data does
    config = with_loss(experiment_config(spec["size"]), adversarial=True, epochs=1)
    predictor, critic = builders(config, rows.num_frames, rows.num_bands, mean, variance, True)
    trainer = Trainer(config, make_strategy(config.runtime), build_predictor=predictor,
                      build_critic=critic)
    before_fit = status_kb("VmRSS")
    start = time.perf_counter()
    history = trainer.fit(rows, verbose=False)
    elapsed = time.perf_counter() - start
    return {
        "rss_after_imports_mb": after_import / 1024, "rss_before_fit_mb": before_fit / 1024,
        "rss_after_fit_mb": status_kb("VmRSS") / 1024,
        # VmHWM is this process's own peak. ru_maxrss is not: Linux carries it over from the
        # parent across fork + exec, so it is at least the benchmark process's peak.
        "peak_rss_mb": status_kb("VmHWM") / 1024,
        "ru_maxrss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "fit_seconds": elapsed, "steps": int(trainer.step.numpy()),
        "loss_finite": bool(np.isfinite(history[-1]["loss"])) if history else None}


def _memory_run(spec: dict) -> dict:
    result = in_child("benchmarks.run", "--memory-child", spec)
    result["growth_during_fit_mb"] = result["peak_rss_mb"] - result["rss_before_fit_mb"]
    return result


def bench_memory(size: str, rows: int, workdir: Path) -> dict:
    frames, bands = feature_shape()
    config = experiment_config(size)
    small = 2 * max(config.trainer.batch_size, config.trainer.critic_batch)
    runs = {}
    caches = {}
    for name, n in (("dcase_sized", rows), ("small_baseline", small)):
        if n not in caches:
            log(f"memory: writing a synthetic cache of {n} rows ({frames}x{bands} float32 each)")
            cache, labels = write_synthetic_cache(workdir / f"memory-cache-{n}.h5", n, frames,
                                                  bands, seed=40)
            np.save(workdir / f"memory-labels-{n}.npy", labels)
            caches[n] = (str(cache), str(workdir / f"memory-labels-{n}.npy"))
        log(f"memory: {name}: Trainer.fit, one epoch, adversarial, {size} model, {n} rows, "
            "in a subprocess")
        result = _memory_run({"cache": caches[n][0], "labels": caches[n][1], "size": size})
        result["rows"] = n
        runs[name] = result
        log(f"memory: {name}: peak {result['peak_rss_mb']:.0f} MB, before fit "
            f"{result['rss_before_fit_mb']:.0f} MB, fit {result['fit_seconds']:.0f} s")
    return {"model": size, "rows": rows, "cache_feature_mb": rows * frames * bands * 4 / 2 ** 20,
            "audio_in_memory_would_be_mb": rows * 64000 * 4 / 2 ** 20,
            "data_dependent_peak_mb": (runs["dcase_sized"]["peak_rss_mb"]
                                       - runs["small_baseline"]["peak_rss_mb"]),
            "runs": runs,
            "note": "caches written directly in the build_feature_cache layout with synthetic "
                    "rows (no WAVs); each child process runs feature_statistics, builds the "
                    "Trainer and runs Trainer.fit for one epoch (critic pre-training included); "
                    "peak = VmHWM of the child from /proc/self/status (its ru_maxrss is kept too, but "
                    "Linux carries ru_maxrss over from the parent across fork and exec); data_dependent_peak_mb = peak of "
                    "the DCASE-sized run minus peak of the same run on a small set"}


# ------------------------------------------------------------------------------------------
# Targets, table, main.
# ------------------------------------------------------------------------------------------


def targets(results: dict) -> list[dict]:
    out = []

    def add(key, description, value, target, met):
        out.append({"id": key, "description": description, "value": value, "target": target,
                    "met": bool(met)})

    for key in ("step", "step_paper", "step_bpmll", "step_c2ae"):
        step = results.get(key)
        if step and "adversarial_l1" in step["ratio_to_plain"]:
            ratio = step["ratio_to_plain"]["adversarial_l1"]
            what = step["model"] + (" CGRNN" if key in ("step", "step_paper") else "")
            add(f"{key}_ratio_l1", f"adversarial / plain step time, l = 1, {what}",
                round(ratio, 3), "<= 1.3", ratio <= 1.3)
    if "fit" in results:
        ratio = results["fit"]["ratio_custom_to_keras"]
        add("fit_ratio", "samples/s, custom MirroredStrategy loop / model.fit (steady state)",
            round(ratio, 3),
            ">= 1.0", ratio >= 1.0)
    for key in ("serving", "serving_paper"):
        serving = results.get(key)
        if serving:
            for sig, v in serving["signatures"].items():
                p50 = v["one_clip_p50_ms"]
                add(f"{key}_{sig}_p50", f"one 4 s clip p50, {sig}, {serving['model']} CGRNN",
                    round(p50, 2), "well under 10 ms (< 10 ms)", p50 < 10.0)
    if "memory" in results:
        mem = results["memory"]
        extra = mem["data_dependent_peak_mb"]
        add("memory_streams", f"peak RSS of training on {mem['rows']} cached rows minus on a "
            "small set, below the size of the audio (audio not held)", round(extra, 1),
            f"< {mem['audio_in_memory_would_be_mb']:.0f} MB",
            extra < mem["audio_in_memory_would_be_mb"])
    return out


def format_table(report: dict) -> str:
    m = report["machine"]
    res = {k: v for k, v in report["results"].items() if "error" not in v}
    lines = [f"Machine: {m['cpu_model']}, {m['usable_cores']} usable of {m['logical_cores']} "
             f"logical cores, {m['gpus']} GPU; TensorFlow {m['tensorflow']}, Keras {m['keras']}, "
             f"Python {m['python']}; load average at start {m['load_average_start'][0]}, at end "
             f"{m.get('load_average_end', ['?'])[0]}; repeats {report['repeats']} (median)"
             + (" -- TINY settings, numbers meaningless" if report["tiny"] else ""),
             "", "| # | measurement | value |", "|---|---|---|"]

    def row(item, what, value):
        lines.append(f"| {item} | {what} | {value} |")

    for key in ("step_bpmll", "step_c2ae"):
        s = res.get(key)
        if not s:
            continue
        head = (f"{s['model']} ({s['predictor_params']:,} params, {s['feature_dims']}-d features, "
                f"{s['num_labels']} labels, batch {s['batch_size']}, critic "
                f"{s['critic_params']:,} params, M {s['critic_batch']})")
        for name, sec in s["seconds_per_step"].items():
            ratio = "" if name == "plain" else f", ratio {s['ratio_to_plain'][name]:.2f}"
            row(1, f"step time, {name.replace('_l', ', l = ')}, {head}",
                f"{sec * 1e3:.2f} ms/step{ratio}")
    for key in ("step", "step_paper"):
        s = res.get(key)
        if not s:
            continue
        head = (f"{s['model']} CGRNN ({s['predictor_params']:,} params, batch {s['batch_size']}, "
                f"critic {s['critic_params']:,} params, M {s['critic_batch']})")
        for name, sec in s["seconds_per_step"].items():
            ratio = "" if name == "plain" else f", ratio {s['ratio_to_plain'][name]:.2f}"
            row(1, f"step time, {name.replace('_l', ', l = ')}, {head}",
                f"{sec * 1e3:.1f} ms/step{ratio}")
    if "fit" in res:
        f = res["fit"]
        head = f"{f['model']} CGRNN plain, batch {f['batch_size']}, HDF5 stream"
        for name, rate in f["samples_per_second"].items():
            whole = f["whole_call_samples_per_second"][name]
            row(2, f"{name.replace('_', ' ')}, {head}: steady state (whole call of "
                f"{f['steps_per_repeat']} steps)", f"{rate:.0f} samples/s ({whole:.0f})")
        row(2, f"input pipeline alone, {f['steps_per_repeat']} batches, whole call",
            f"{f['whole_call_samples_per_second']['input_pipeline_only']:.0f} samples/s")
        row(2, "custom loop / model.fit, steady state, median of paired repeats (whole call)",
            f"{f['ratio_custom_to_keras']:.3f}, repeats {f['ratio_custom_to_keras_range']['min']:.3f}"
            f"-{f['ratio_custom_to_keras_range']['max']:.3f} "
            f"({f['whole_call_ratio_custom_to_keras']:.2f})")
    if "features" in res:
        f = res["features"]
        for name, rate in f["chunks_per_second"].items():
            row(3, f"{name.replace('_', ' ')} (4 s chunks)", f"{rate:.0f} chunks/s")
        row(3, f"offline cache for {f['dcase_chunks']} chunks (extrapolated from "
            f"{f['chunks_per_repeat']})", f"{f['dcase_cache_build_seconds_extrapolated']:.0f} s")
    for key in ("serving", "serving_paper"):
        s = res.get(key)
        if not s:
            continue
        g = s["gflops_per_clip"]
        row(4, f"{s['model']} CGRNN, arithmetic per 4 s clip ({s['windows_per_clip']} windows)",
            f"{g['total']:.2f} GFLOP (convolutions {g['conv']:.2f}, GRUs {g['gru']:.2f}); at "
            f"this machine's 2048x2048 matmul rate ({s['matmul_gflops_per_second']:.0f} GFLOP/s) "
            f"one clip needs {s['one_clip_floor_ms_at_matmul_rate']:.1f} ms")
        for sig, v in s["signatures"].items():
            row(4, f"SavedModel `{sig}`, {s['model']} CGRNN, one 4 s clip",
                f"p50 {v['one_clip_p50_ms']:.2f} ms, p99 {v['one_clip_p99_ms']:.2f} ms "
                f"({v['achieved_gflops_per_second_one_clip']:.0f} GFLOP/s)")
            row(4, f"SavedModel `{sig}`, {s['model']} CGRNN, batch 32",
                f"{v['batch32_clips_per_second']:.0f} clips/s "
                f"({v['achieved_gflops_per_second_batch32']:.0f} GFLOP/s)")
    if "memory" in res:
        mem = res["memory"]
        for name, run in mem["runs"].items():
            row(5, f"peak RSS, Trainer.fit 1 epoch (AD, {mem['model']} CGRNN) on {run['rows']} "
                "cached rows",
                f"{run['peak_rss_mb']:.0f} MB (before fit {run['rss_before_fit_mb']:.0f} MB, "
                f"+{run['growth_during_fit_mb']:.0f} MB)")
        row(5, f"peak RSS, {mem['rows']} rows minus small set (data-dependent memory)",
            f"{mem['data_dependent_peak_mb']:.0f} MB")
        row(5, f"for scale: {mem['rows']} rows of cached features / of audio as float32",
            f"{mem['cache_feature_mb']:.0f} MB / {mem['audio_in_memory_would_be_mb']:.0f} MB")
    if "levers" in res:
        step, pipe = res["levers"]["step"], res["levers"]["pipeline"]
        head = (f"{step['model']} CGRNN, batch {step['batch_size']}, M {step['critic_batch']}, "
                "critic every step")
        for name, sec in step["seconds_per_step"].items():
            ratio = "" if name == "plain" else f", {step['ratio_to_plain'][name]:.2f} x plain"
            row("L", f"step lever `{name}`, {head}", f"{sec * 1e3:.1f} ms/step{ratio}")
        for name, error in step["errors"].items():
            row("L", f"step lever `{name}`, {head}", f"does not run: {error[:160]}")
        for name, rate in pipe["samples_per_second"].items():
            row("L", f"pipeline lever `{name}`, {pipe['rows']} cached rows, batch "
                f"{pipe['batch_size']}", f"{rate:.0f} samples/s")
    loads = ", ".join(f"{name} {v['load_average_1min']['before']}/{v['load_average_1min']['after']}"
                      for name, v in report["results"].items() if "load_average_1min" in v)
    if loads:
        lines.insert(1, f"Load average (1 min) before/after each section: {loads}")
    for name, value in report["results"].items():
        if "error" in value:
            row("-", f"{name} FAILED", value["error"].splitlines()[0][:200])
    if report["targets"]:
        lines += ["", "| target | value | goal | met |", "|---|---|---|---|"]
        for t in report["targets"]:
            lines.append(f"| {t['description']} | {t['value']} | {t['target']} | "
                         f"{'yes' if t['met'] else 'NO'} |")
    return "\n".join(lines)


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--only", default=",".join(SECTIONS),
                        help=f"comma-separated sections to run, of {','.join(SECTIONS)}")
    parser.add_argument("--repeats", type=int, default=0,
                        help="timed repeats per variant (default 5; 2 with --tiny)")
    parser.add_argument("--tiny", action="store_true",
                        help="tiny models and counts (smoke test; about a minute)")
    parser.add_argument("--no-paper", action="store_true",
                        help="skip the paper-sized CGRNN (item 1 at l = 1 and item 4)")
    parser.add_argument("--json", default=str(HERE / "results.json"),
                        help="where to write the JSON report (default benchmarks/results.json)")
    parser.add_argument("--memory-child", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    args.only = sections(parser, args.only, SECTIONS)
    if args.repeats < 0:
        parser.error("--repeats must be at least 1")
    return args


def main(argv=None) -> int:
    args = parse_args(argv)
    if args.memory_child:
        print(json.dumps(memory_child(json.loads(args.memory_child))))
        return 0
    plan = make_plan(args)
    started = time.time()
    report = {"schema": SCHEMA_VERSION, **stamp("run.py", argv),
              "tiny": plan.size == "tiny", "repeats": plan.repeats,
              "sections": args.only, "results": {}}
    log(f"machine: {report['machine']['cpu_model']}, load {report['machine']['load_average_start']}")
    results = report["results"]
    jobs = []
    if "step" in args.only:
        jobs.append(("step", lambda w: bench_step(plan.size, plan.step_steps, plan.repeats,
                                                  (1, 2, 5))))
        if plan.paper:
            jobs.append(("step_paper", lambda w: bench_step("paper", plan.paper_steps,
                                                            plan.repeats, (1,))))
        for model in ("bpmll", "c2ae"):
            jobs.append((f"step_{model}", functools.partial(
                lambda w, model: bench_step_vectors(
                    model, plan.vector_dims, plan.vector_labels, plan.vector_steps,
                    plan.repeats, (1, 2, 5), tiny=plan.size == "tiny"), model=model)))
    if "fit" in args.only:
        jobs.append(("fit", lambda w: bench_fit(plan.size, plan.fit_steps, plan.repeats, w)))
    if "features" in args.only:
        jobs.append(("features", lambda w: bench_features(plan.feature_chunks, plan.repeats, w)))
    if "serving" in args.only:
        jobs.append(("serving", lambda w: bench_serving(plan.size, plan.serving_calls,
                                                        plan.serving_batches, plan.repeats, w)))
        if plan.paper:
            jobs.append(("serving_paper", lambda w: bench_serving(
                "paper", plan.paper_serving_calls, 1, plan.repeats, w)))
    if "memory" in args.only:
        jobs.append(("memory", lambda w: bench_memory(plan.size, plan.memory_rows, w)))
    if "levers" in args.only:
        jobs.append(("levers", lambda w: {
            "step": levers.bench_step_levers(RUN, plan.size, plan.lever_steps, plan.repeats),
            "pipeline": levers.bench_pipeline_levers(RUN, plan.size, plan.lever_rows,
                                                     plan.lever_batches, plan.repeats, w)}))
    failed = []
    for name, job in jobs:
        load_before = round(os.getloadavg()[0], 2)
        section_start = time.time()
        try:
            with tempfile.TemporaryDirectory(prefix=f"admlc-bench-{name}-") as tmp:
                results[name] = job(Path(tmp))
        except Exception as e:  # keep the other sections' numbers; exit non-zero at the end
            log(f"{name} failed: {type(e).__name__}: {e}")
            results[name] = {"error": f"{type(e).__name__}: {e}"}
            failed.append(name)
        results[name]["seconds"] = round(time.time() - section_start, 1)
        results[name]["benchmark_process_peak_rss_mb"] = round(status_kb("VmHWM") / 1024)
        results[name]["load_average_1min"] = {"before": load_before,
                                              "after": round(os.getloadavg()[0], 2)}
    finish(report)
    report["duration_s"] = round(time.time() - started, 1)
    report["targets"] = targets({k: v for k, v in results.items() if "error" not in v})
    report["table"] = format_table(report)
    print(report["table"])
    write_json(args.json, report)
    log(f"wrote {args.json} ({report['duration_s']} s)")
    if failed:
        log(f"failed sections: {', '.join(failed)}")
        return 1
    return 0


RUN = sys.modules[__name__]  # the helpers levers.py uses

if __name__ == "__main__":
    sys.exit(run_cli(main))
