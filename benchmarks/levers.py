"""The speed levers of issue #5, measured one by one (`python benchmarks/run.py --only levers`).

Training step, adversarial with the critic every step (l = 1), demo model, the same in-memory
batches for every variant, milliseconds per step and the ratio to the plain predictor step:

- `eager`: `strategy.run(task.adversarial_step)` without `tf.function`.
- `two_graphs`: a `tf.function` per update, y_hat handed back through Python in between (what
  admlc-tf did before this lever).
- `one_graph`: both updates in one `tf.function`, no Python between them: `Trainer.adversarial_step`,
  the library's path.
- `one_graph_shared_critic_pass`: as `one_graph`, but the critic scores (x, y_hat) once, for
  both losses, from a persistent tape, and scores x and x_gt as one batch: the "reuse the
  forward pass" lever.
- `one_graph_xla`: as `one_graph` with the critic's forward and backward passes compiled by XLA
  (`jit_compile=True`). The predictor is not compiled: the CGRNN's synchronized batch norm
  all-reduces across replicas, which XLA cannot compile inside `strategy.run`.
- `one_graph_pooling_critic`: as `one_graph` with the critic's representation branch as it was
  before the strided lever: stride-1 convolutions, each followed by 2x2 max-pooling.
- `one_graph_mixed_bfloat16` / `_mixed_float16`: `TrainerConfig.precision` (GPU options; on a
  CPU without bfloat16/float16 units this measures their emulation cost).

Input pipeline, samples per second of the training stream of an HDF5 cache, batch as the model
(the pipeline alone, no model):

- `library`: `training_stream`: shuffled row indices, rows read in parallel, prefetch.
- `sequential_read`: rows read one at a time (no parallel map).
- `no_prefetch`: without the final prefetch.
- `cache_in_memory`: every row read once in order into `.cache()`, then shuffled with a buffer
  of every row (so it holds the feature set twice), timed once the cache is filled.
- `row_stream_shuffle_buffer`: the previous design: tensorflow-io's sequential HDF5 stream into a
  shuffle buffer of every row.
"""

from __future__ import annotations

import copy
import dataclasses
import time
from pathlib import Path
from unittest import mock

import numpy as np


def _variant_steps(trainer, variant: str):
    """A callable `(x, y, x_gt, y_gt) -> logs` for one way of running Algorithm 1's step."""
    import tensorflow as tf

    from admlc_tf.losses import score_cross_entropy
    from admlc_tf.task import apply_gradients, global_batch_mean, scaled_gradients
    from admlc_tf.trainer import sum_over_replicas

    strategy, task = trainer.strategy, trainer.task
    if variant in ("one_graph", "one_graph_pooling_critic", "one_graph_mixed_bfloat16",
                   "one_graph_mixed_float16"):
        return trainer.adversarial_step
    if variant == "eager":
        return lambda x, y, xg, yg: sum_over_replicas(
            strategy, strategy.run(task.adversarial_step, args=(x, y, xg, yg)))
    if variant == "two_graphs":
        predictor = tf.function(lambda x, y: strategy.run(task.predictor_step, args=(x, y)))
        critic = tf.function(lambda *a: sum_over_replicas(
            strategy, strategy.run(task.critic_step, args=a)))

        def two(x, y, xg, yg):
            logs, y_hat = predictor(x, y)
            return {**sum_over_replicas(strategy, logs), **critic(x, y_hat, xg, yg)}
        return two
    if variant == "one_graph_shared_critic_pass":
        def shared(x, y, xg, yg):
            local = tf.shape(x)[0]
            with tf.GradientTape(persistent=True) as tape:
                outputs, per_example = task.spec.forward(x, y, training=True)
                y_hat = task.spec.probabilities(outputs)
                scores = task._critic_logits(tf.concat([x, xg], 0), tf.concat([y_hat, yg], 0),
                                             training=True)
                s_pred, s_gt = scores[:local], scores[local:]
                loss = (global_batch_mean(per_example, task.batch_size) + task.lam
                        * global_batch_mean(score_cross_entropy(s_pred, 1.0), task.batch_size))
                critic_loss = (
                    global_batch_mean(score_cross_entropy(s_pred, 0.0), task.batch_size)
                    + global_batch_mean(score_cross_entropy(s_gt, 1.0), task.critic_batch))
            pv = task.spec.trained_model.trainable_variables
            cv = task.critic.trainable_variables
            pg = scaled_gradients(tape, task.predictor_optimizer, loss, pv)
            cg = scaled_gradients(tape, task.critic_optimizer, critic_loss, cv)
            del tape
            return {"loss": loss, "critic_loss": critic_loss,
                    "nonfinite_gradients": apply_gradients(task.predictor_optimizer, pg, pv)
                    + apply_gradients(task.critic_optimizer, cg, cv)}
        return tf.function(lambda *a: sum_over_replicas(strategy, strategy.run(shared, args=a)))
    if variant == "one_graph_xla":
        # Only the critic is compiled: the CGRNN's synchronized batch norm all-reduces across
        # replicas, which XLA cannot compile inside `strategy.run`. The critic is the part the
        # adversarial training adds, and its gradient function is compiled with it.
        compiled = tf.function(lambda features, labels, training: task.critic(
            {"features": features, "labels": labels}, training=training), jit_compile=True)
        xla_task = copy.copy(task)
        xla_task._critic_logits = lambda x, labels, training: compiled(x, labels, training)[:, 0]
        return tf.function(lambda *a: sum_over_replicas(
            strategy, strategy.run(xla_task.adversarial_step, args=a)))
    raise ValueError(variant)


STEP_VARIANTS = ("eager", "two_graphs", "one_graph", "one_graph_shared_critic_pass",
                 "one_graph_xla", "one_graph_pooling_critic", "one_graph_mixed_bfloat16",
                 "one_graph_mixed_float16")


def _pooling_representation(x, *, conv_filters, embedding_units):
    """The audio critic's representation branch before the strided-convolution lever."""
    import keras

    x = keras.layers.Reshape((*x.shape[1:], 1))(x)
    for filters in conv_filters:
        x = keras.layers.Conv2D(filters, 3, padding="same", activation="relu")(x)
        x = keras.layers.MaxPooling2D(2, padding="same")(x)
    x = keras.layers.Reshape((x.shape[1], x.shape[2] * x.shape[3]))(x)
    x = keras.layers.GlobalAveragePooling1D()(x)
    return keras.layers.Dense(embedding_units, activation="relu", name="representation")(x)


def bench_step_levers(run, size: str, steps: int, repeats: int) -> dict:
    """Milliseconds per step of each step variant (see the module docstring)."""
    import admlc_tf.critic

    config = run.experiment_config(size)
    batch, critic_batch = config.trainer.batch_size, config.trainer.critic_batch
    trainers = {"float32": run._make_trainer(config, adversarial=True)}
    plain = run._make_trainer(config, adversarial=False)
    for precision in ("mixed_bfloat16", "mixed_float16"):
        mixed = dataclasses.replace(config, trainer=dataclasses.replace(config.trainer,
                                                                        precision=precision))
        trainers[precision] = run._make_trainer(mixed, adversarial=True)
    with mock.patch.object(admlc_tf.critic, "conv_representation", _pooling_representation):
        trainers["pooling_critic"] = run._make_trainer(config, adversarial=True)
    n_batches = min(steps, 4)
    data = {}
    for name, trainer in (("plain", plain), *trainers.items()):
        data[name] = (run._fixed_batches(trainer, n_batches, batch, seed=1),
                      run._fixed_batches(trainer, n_batches, critic_batch, seed=2))

    def timed(step, batches, critic_batches, n):
        start = time.perf_counter()
        for k in range(n):
            x, y = batches[k % len(batches)]
            logs = step(x, y, *critic_batches[k % len(critic_batches)])
            {name: float(value) for name, value in logs.items()}
        return (time.perf_counter() - start) / n

    variants = {"plain": (lambda x, y, xg, yg: plain.predictor_step(x, y), "plain")}
    errors, warm = {}, {}
    run.log(f"levers/{size}: warm-up (tracing, XLA compilation)")
    for variant in STEP_VARIANTS:
        # Which Trainer (and batches) the variant runs on: its own if it has one.
        key = variant.removeprefix("one_graph_")
        key = key if key in trainers else "float32"
        try:
            step = _variant_steps(trainers[key], variant)
            timed(step, *data[key], 2)
        except Exception as e:  # a lever that does not run here is a result, not a crash
            errors[variant] = f"{type(e).__name__}: {str(e).splitlines()[0][:300]}"
            run.log(f"levers/{size}: {variant} does not run: {errors[variant]}")
            continue
        variants[variant] = (step, key)
    for name, (step, key) in variants.items():
        warm[name] = timed(step, *data[key], 2)
    # A variant many times slower than plain (eager; float16 emulated on a CPU) runs fewer
    # steps per block, so that every block takes about as long; times stay per step.
    counts = {name: steps if warm[name] < 2 * warm["plain"]
              else max(2, round(steps * warm["plain"] / warm[name])) for name in variants}
    times = {name: [] for name in variants}
    for r in range(repeats):
        for name, (step, key) in variants.items():
            times[name].append(timed(step, *data[key], counts[name]))
        run.log(f"levers/{size}: repeat {r + 1}/{repeats}: " + ", ".join(
            f"{n} {v[-1] * 1e3:.0f} ms" for n, v in times.items()))
    per_step = {name: run.median(v) for name, v in times.items()}
    return {"model": size, "batch_size": batch, "critic_batch": critic_batch, "critic_every": 1,
            "steps_per_repeat": counts, "repeats": repeats, "seconds_per_step": per_step,
            "ratio_to_plain": {n: run.paired_ratio(times[n], times["plain"])["median"]
                               for n in per_step if n != "plain"},
            "raw_seconds_per_step": times, "errors": errors}


PIPELINE_VARIANTS = ("library", "sequential_read", "no_prefetch", "cache_in_memory",
                     "row_stream_shuffle_buffer")


def _stream(rows, variant: str, batch: int, seed: int):
    import tensorflow as tf
    import tensorflow_io as tfio

    from admlc_tf.data.pipeline import training_stream

    if variant == "library":
        return training_stream(rows, batch_size=batch, seed=seed)
    if variant == "row_stream_shuffle_buffer":
        # The cache stores frames; its one-segment clips are `num_frames` consecutive rows.
        features = tfio.IODataset.from_hdf5(rows.cache_path, dataset="/features")
        features = features.batch(rows.num_frames, drop_remainder=True)
        ds = tf.data.Dataset.zip(features, tf.data.Dataset.from_tensor_slices(rows.labels))
        ds = ds.shuffle(len(rows), seed=seed, reshuffle_each_iteration=True)
        return ds.batch(batch, drop_remainder=True).repeat().prefetch(tf.data.AUTOTUNE)
    if variant == "cache_in_memory":
        # Read once in row order and keep; reshuffling then needs a buffer of every row too.
        ds = tf.data.Dataset.range(len(rows)).map(_read_whole(rows, seed),
                                                  num_parallel_calls=tf.data.AUTOTUNE).cache()
        ds = ds.shuffle(len(rows), seed=seed, reshuffle_each_iteration=True)
        return ds.batch(batch, drop_remainder=True).repeat().prefetch(tf.data.AUTOTUNE)
    positions = tf.data.Dataset.range(len(rows)).shuffle(len(rows), seed=seed,
                                                         reshuffle_each_iteration=True)
    parallel = None if variant == "sequential_read" else tf.data.AUTOTUNE
    ds = positions.map(_read_whole(rows, seed), num_parallel_calls=parallel)
    ds = ds.batch(batch, drop_remainder=True).repeat()
    return ds if variant == "no_prefetch" else ds.prefetch(tf.data.AUTOTUNE)


def _read_whole(rows, seed: int):
    """`position -> (features, labels)` of a one-segment clip (the crop is always 0)."""
    import tensorflow as tf

    read, seed = rows.reader(), tf.constant(seed, tf.int64)
    return lambda position: read(position, position, seed)


def bench_pipeline_levers(run, size: str, rows_count: int, batches: int, repeats: int,
                          workdir: Path) -> dict:
    """Samples per second of each input-pipeline variant (see the module docstring)."""
    from admlc_tf.data.pipeline import ClipRows

    config = run.experiment_config(size)
    batch = config.trainer.batch_size
    frames, bands = run.feature_shape()
    cache, labels = run.write_synthetic_cache(workdir / "levers-cache.h5", rows_count, frames,
                                              bands, seed=50)
    rows = ClipRows(cache, np.arange(rows_count), labels)
    iterators = {}
    run.log(f"levers/pipeline: {rows_count} cached rows, batch {batch}; warm-up (one epoch each, "
            "which also fills the in-memory cache)")
    for variant in PIPELINE_VARIANTS:
        iterators[variant] = iter(_stream(rows, variant, batch, seed=0))
        for _ in range(rows_count // batch):
            next(iterators[variant])
    times = {variant: [] for variant in PIPELINE_VARIANTS}
    for r in range(repeats):
        for variant, iterator in iterators.items():
            start = time.perf_counter()
            for _ in range(batches):
                next(iterator)
            times[variant].append(time.perf_counter() - start)
        run.log(f"levers/pipeline: repeat {r + 1}/{repeats}: " + ", ".join(
            f"{v} {batches * batch / t[-1]:.0f}/s" for v, t in times.items()))
    return {"model": size, "batch_size": batch, "rows": rows_count, "batches_per_repeat": batches,
            "repeats": repeats,
            "samples_per_second": {v: batches * batch / run.median(t) for v, t in times.items()},
            "raw_seconds": times}
