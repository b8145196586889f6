"""The training loop of Algorithm 1 under tf.distribute, with checkpoints and TensorBoard.

The Trainer owns what is shared across steps: the strategy, both models and optimizers (built
inside `strategy.scope()`), the checkpoint and the summary writers. The maths of each update is in
`admlc_tf.task.AdmlcTask`; here each kind of iteration is one `tf.function` around
`strategy.run`, and the Python loop decides when the critic steps (Algorithm 1's `mod(k, l)`).
"""

from __future__ import annotations

import json
import math
import os
import sys
from pathlib import Path
from typing import Callable, Optional, Sequence

import keras
import numpy as np
import tensorflow as tf

from admlc_tf import checkpoints, critic_modes
from admlc_tf.config import ExperimentConfig, RuntimeConfig
from admlc_tf.data.pipeline import RowSource, training_stream
from admlc_tf.early_stopping import EarlyStopping
from admlc_tf.errors import AdmlcError, first_line
from admlc_tf.files import write_error
from admlc_tf.losses import get_supervised_loss
from admlc_tf.metrics import mean_eer, per_label_eer
from admlc_tf.predictors.spec import PredictorSpec
from admlc_tf.task import AdmlcTask


STRATEGIES = ("auto", "mirrored", "multi-worker", "one-device")
PRECISIONS = ("float32", "mixed_float16", "mixed_bfloat16")


def cluster_from_environment() -> dict:
    try:
        return json.loads(os.environ.get("TF_CONFIG", "{}")).get("cluster", {})
    except json.JSONDecodeError:
        raise AdmlcError("the TF_CONFIG environment variable is not valid JSON: fix or unset "
                         "it") from None


def make_strategy(runtime: RuntimeConfig) -> tf.distribute.Strategy:
    """The tf.distribute strategy `runtime` asks for; the one place strategies are built.

    Build it before any other TensorFlow op: MultiWorkerMirroredStrategy configures the runtime.
    """
    kind = runtime.strategy
    if kind not in STRATEGIES:
        raise AdmlcError(f"--strategy {kind} is not known: use one of {', '.join(STRATEGIES)}")
    if kind == "auto":
        kind = "multi-worker" if cluster_from_environment() else "mirrored"
    if kind == "multi-worker":
        if not cluster_from_environment():
            raise AdmlcError("--strategy multi-worker needs TF_CONFIG to name the cluster and "
                             "this worker's task: set it on every worker")
        # AUTO picks NCCL all-reduce between GPUs and ring all-reduce on CPUs.
        return tf.distribute.MultiWorkerMirroredStrategy()
    gpus = [d.name for d in tf.config.list_logical_devices("GPU")]
    if kind == "one-device":
        return tf.distribute.OneDeviceStrategy((runtime.devices or gpus or ["/cpu:0"])[0])
    devices = runtime.devices or gpus or ["/cpu:0"]
    # All-reduce across CPU devices has no NCCL: reduce to one device instead.
    cross_device_ops = None
    if not any("GPU" in d.upper() for d in devices):
        cross_device_ops = tf.distribute.ReductionToOneDevice()
    return tf.distribute.MirroredStrategy(devices, cross_device_ops=cross_device_ops)


def is_chief(strategy: tf.distribute.Strategy) -> bool:
    """True unless this process is a non-chief worker of a multi-worker cluster."""
    resolver = getattr(strategy, "cluster_resolver", None)
    if resolver is None or not resolver.cluster_spec().as_dict():
        return True
    if resolver.task_type == "chief":
        return True
    has_chief = "chief" in resolver.cluster_spec().as_dict()
    return resolver.task_type == "worker" and resolver.task_id == 0 and not has_chief


def mean_eer_metric(labels: np.ndarray, probabilities: np.ndarray,
                    label_names: Optional[Sequence[str]] = None) -> dict:
    """The default validation metric: `{"val_mean_eer": mean of the defined per-label EERs}`,
    and with `label_names` each label's as `val_eer/<name>` (TensorBoard groups them)."""
    eers = per_label_eer(labels, probabilities)
    mean = mean_eer(eers)  # NaN, not None, when no label has an EER: a history holds floats
    values = {"val_mean_eer": math.nan if mean is None else mean}
    for name, value in zip(label_names or (), eers):
        values[f"val_eer/{name}"] = float(value)
    return values


def check_critic(loss) -> None:
    """Refuses a critic mode, quality or temperature (`config.loss`) the trainer would not know,
    with the flag to fix; the plain baseline never reads them."""
    if not loss.adversarial:
        return
    if loss.critic_mode not in critic_modes.MODES:
        raise AdmlcError(f"--critic-mode {loss.critic_mode} is not known: use one of "
                         f"{', '.join(critic_modes.MODES)}")
    if loss.critic_quality not in critic_modes.QUALITIES:
        raise AdmlcError(f"loss.critic_quality {loss.critic_quality} is not known: use one "
                         f"of {', '.join(critic_modes.QUALITIES)}")
    if loss.critic_mode == "gumbel" and not loss.critic_temperature > 0:
        raise AdmlcError(f"--critic-temperature {loss.critic_temperature} must be above 0")


def check_precision(precision: str) -> None:
    """Refuses a `TrainerConfig.precision` Keras would not know, with the flag to fix."""
    if precision not in PRECISIONS:
        raise AdmlcError(f"--precision {precision} is not known: use one of "
                         f"{', '.join(PRECISIONS)}")


def _build_models(config: ExperimentConfig, build_predictor, build_critic):
    """(PredictorSpec, critic or None), built under `config.trainer.precision`'s dtype policy.

    The policy is global in Keras; it is restored afterwards so that nothing else built in this
    process (an evaluation model, another Trainer) inherits it by accident.
    """
    previous = keras.config.dtype_policy()
    keras.config.set_dtype_policy(config.trainer.precision)
    try:
        spec = build_predictor()
        if not isinstance(spec, PredictorSpec):
            spec = PredictorSpec(spec, get_supervised_loss(config.loss.supervised))
        critic = build_critic() if (config.loss.adversarial and build_critic) else None
    finally:
        keras.config.set_dtype_policy(previous)
    return spec, critic


OPTIMIZERS = {"adam": keras.optimizers.Adam, "sgd": keras.optimizers.SGD}


def _optimizer(kind: str, learning_rate: float, precision: str) -> keras.optimizers.Optimizer:
    optimizer = OPTIMIZERS[kind](learning_rate)
    if precision == "mixed_float16":
        # float16 gradients underflow without loss scaling; bfloat16 has float32's range.
        optimizer = keras.optimizers.LossScaleOptimizer(optimizer)
    return optimizer


def sum_over_replicas(strategy: tf.distribute.Strategy, logs: dict) -> dict:
    """Per-replica scalars (each already divided by the global batch, see `task`) -> their
    sum over replicas: the global-batch values, one scalar tensor per key."""
    return {k: strategy.reduce(tf.distribute.ReduceOp.SUM, v, axis=None) for k, v in logs.items()}


class Trainer:
    """Runs critic pre-training and Algorithm 1 on one strategy.

    Args:
      config: the experiment; `trainer` and `loss` are read here.
      strategy: a tf.distribute strategy; models and optimizers are built in its scope.
      build_predictor: returns a fresh predictor: a Keras model with logits out (trained with
        `config.loss.supervised`), or a `PredictorSpec` that brings its own loss.
      build_critic: returns a fresh critic, or None for the plain baseline.
      run_dir: where checkpoints and TensorBoard logs go; None keeps nothing on disk.
      restore_dir: where to resume from, if not `run_dir/checkpoints` (a non-chief worker
        writes to a temporary folder but resumes from the chief's checkpoints).
      augmentation: an `admlc_tf.data.augment.Augmentation` for both training streams, or None.
    """

    def __init__(self, config: ExperimentConfig, strategy: tf.distribute.Strategy, *,
                 build_predictor: Callable[[], keras.Model],
                 build_critic: Optional[Callable[[], keras.Model]],
                 run_dir: Optional[str | Path] = None,
                 restore_dir: Optional[str | Path] = None, augmentation=None):
        self.config = config
        self.augmentation = augmentation
        self.strategy = strategy
        train = config.trainer
        check_precision(train.precision)
        loss = config.loss
        check_critic(loss)
        if train.optimizer not in OPTIMIZERS:
            raise AdmlcError(f"trainer.optimizer {train.optimizer} is not known: use one of "
                             f"{', '.join(OPTIMIZERS)}")
        with strategy.scope():
            # Seeds Python, NumPy and Keras globally: the initial weights follow from the seed.
            keras.utils.set_random_seed(train.seed)
            spec, critic = _build_models(config, build_predictor, build_critic)
            predictor_optimizer = _optimizer(train.optimizer, train.learning_rate,
                                             train.precision)
            predictor_optimizer.build(spec.trained_model.trainable_variables)
            critic_optimizer = None
            if critic is not None:
                critic_optimizer = _optimizer(train.optimizer, train.critic_learning_rate,
                                              train.precision)
                critic_optimizer.build(critic.trainable_variables)
            self.step = tf.Variable(0, dtype=tf.int64, trainable=False, name="step")
            self.pretrain_step = tf.Variable(0, dtype=tf.int64, trainable=False,
                                             name="pretrain_step")
            # Checkpointed, so that a resumed run knows its best epoch so far.
            self.stopping = EarlyStopping(Path(run_dir) / "best.weights.h5" if run_dir else None)
            tracked = dict(step=self.step, pretrain_step=self.pretrain_step,
                           best_epoch=self.stopping.best_epoch,
                           best_value=self.stopping.best_value,
                           predictor=spec.predictor, predictor_optimizer=predictor_optimizer)
            if spec.training_model is not None:
                tracked["training_model"] = spec.training_model
            # Dropout's random state lives in Keras seed generators, which a tf.train.Checkpoint
            # of the models does not save; tracking them makes a resumed run draw the same masks.
            tracked["rng"] = [v for model in (spec.trained_model, critic) if model is not None
                              for v in model.variables if "seed_generator_state" in v.path]
            if critic is not None:
                tracked.update(critic=critic, critic_optimizer=critic_optimizer)
            self.checkpoint = tf.train.Checkpoint(**tracked)
        self.task = AdmlcTask(spec, critic, predictor_optimizer=predictor_optimizer,
                              critic_optimizer=critic_optimizer, lam=config.loss.lam,
                              batch_size=train.batch_size, critic_batch=train.critic_batch,
                              flip_prob=train.flip_prob, mode=loss.critic_mode,
                              temperature=loss.critic_temperature, quality=loss.critic_quality)
        self.run_dir = Path(run_dir) if run_dir else None
        self.restore_dir = restore_dir
        self.manager = None
        if self.run_dir:
            folder = self.run_dir / "checkpoints"
            checkpoints.sweep_partial(folder)  # a killed save's leftovers
            checkpoints.repair_state(folder)  # before the manager reads it
            self.manager = tf.train.CheckpointManager(self.checkpoint, folder, max_to_keep=3)
        self._frozen = False
        self.critic_summary: dict = {}
        self._build_step_functions()
        self._build_other_functions()

    @property
    def predictor(self) -> keras.Model:
        return self.task.predictor

    @property
    def early_stopping(self) -> dict:
        """What results.json reports of early stopping in the last `fit` ({} before one)."""
        return self.stopping.report

    @property
    def critic(self) -> Optional[keras.Model]:
        return self.task.critic

    def _build_step_functions(self):
        """The update graphs; traced anew when `_freeze_body` changes the trainable set."""
        strategy, task = self.strategy, self.task

        # Each call is one graph: when the critic steps, both updates run in one graph with no
        # Python between them.
        # `seed` is the step's stateless seed [run seed, k], for the critic modes that sample.
        @tf.function
        def predictor_step(x, y, seed=None):
            logs, _ = strategy.run(task.predictor_step, args=(x, y, self._seed(seed)))
            return sum_over_replicas(strategy, logs)

        @tf.function
        def adversarial_step(x, y, x_gt, y_gt, seed=None):
            return sum_over_replicas(strategy, strategy.run(
                task.adversarial_step, args=(x, y, x_gt, y_gt, self._seed(seed))))

        self.predictor_step = predictor_step
        self.adversarial_step = adversarial_step

    def _seed(self, seed: Optional[tf.Tensor]) -> tf.Tensor:
        if seed is None:  # a direct call (tests, benchmarks): keyed by the step counter
            return tf.stack([tf.constant(self.config.trainer.seed, tf.int32),
                             tf.cast(self.step, tf.int32) + 1])
        return seed

    def _step_seed(self, k: int) -> tf.Tensor:
        return tf.constant([self.config.trainer.seed, k], dtype=tf.int32)

    def _build_other_functions(self):
        """The graphs that do not depend on which predictor variables train."""
        strategy, task = self.strategy, self.task

        @tf.function
        def critic_pretrain_step(x, y, seed):
            return sum_over_replicas(strategy, strategy.run(task.critic_pretrain_step,
                                                            args=(x, y, seed)))

        @tf.function(reduce_retracing=True)  # the last batch of a split is shorter
        def predict_step(x):
            return task.predict_step(x)

        @tf.function(reduce_retracing=True)
        def hardness_step(x):
            p = task.predict_step(x)
            score = lambda labels: task.critic({"features": x, "labels": labels},
                                               training=False)[:, 0]
            return p, score(p), score(tf.round(p))

        self.critic_pretrain_step = critic_pretrain_step
        self._predict_step = predict_step
        self._hardness_step = hardness_step

    def restore(self) -> bool:
        """Restores the newest checkpoint that restores, if any; True when one was restored.

        A damaged newest checkpoint (a copy cut short, a bad disk) falls back to the previous
        good one, said on one stderr line; when none restores, the error names the newest.
        """
        folder = self.restore_dir or (self.manager.directory if self.manager else None)
        candidates = checkpoints.prefixes(folder) if folder else []
        failed = []
        for prefix in candidates:
            try:
                self.checkpoint.restore(prefix).assert_existing_objects_matched()
            except (tf.errors.OpError, AssertionError, ValueError, IndexError) as e:
                failed.append((prefix, first_line(e)))
                continue
            if failed:
                print(f"note: checkpoint {failed[0][0]} cannot be restored ({failed[0][1]}): "
                      f"resumed from the previous good one, {prefix}", file=sys.stderr)
            return True
        if failed:
            latest, reason = failed[0]
            raise AdmlcError(f"checkpoint {latest} cannot be restored ({reason}): delete "
                             f"{Path(latest).parent} or pass another --out")
        return False

    def _save(self, k: int) -> None:
        """Saves checkpoint `k`; a failed save (a full disk) removes what it wrote and names
        the last good checkpoint, which is kept."""
        try:
            self.manager.save(checkpoint_number=k)
        except (tf.errors.OpError, OSError) as e:
            folder = Path(self.manager.directory)
            checkpoints.sweep_partial(folder, k)
            checkpoints.repair_state(folder)
            kept = checkpoints.prefixes(folder)
            kept = f"the last good one, {kept[0]}, is kept" if kept else "no checkpoint is kept"
            raise write_error(f"checkpoint {folder / f'ckpt-{k}'} ({kept})", e,
                              "pass --out a writable folder") from None

    def _distribute(self, dataset: tf.data.Dataset):
        return iter(self.strategy.experimental_distribute_dataset(dataset))

    def predict(self, rows: RowSource, batch_size: Optional[int] = None) -> np.ndarray:
        """`[len(rows), n_labels]` probabilities, in `rows` order; runs on the host.

        Clips are scored as the export's waveform signature scores them (segments, pooled)."""
        return rows.score(lambda x: self._predict_step(tf.constant(x)).numpy(),
                          batch_size or self.config.trainer.batch_size)

    def _score_validation(self, rows: RowSource) -> tuple[np.ndarray, Optional[float]]:
        """(probabilities `[n, n_labels]` as `predict` gives them, the critic's hardness AUC on
        the same inputs or None without a critic), in one pass over `rows`."""
        if self.critic is None:
            return self.predict(rows), None
        soft, hard = [], []

        def predict(x):
            p, s_soft, s_hard = self._hardness_step(tf.constant(x))
            soft.append(s_soft.numpy())
            hard.append(s_hard.numpy())
            return p.numpy()

        probabilities = rows.score(predict, self.config.trainer.batch_size)
        return probabilities, critic_modes.hardness_auc(np.concatenate(soft),
                                                        np.concatenate(hard))

    def critic_hardness_auc(self, rows: RowSource) -> Optional[float]:
        """How surely the critic scores the predictor's rounded outputs above the same outputs
        left soft, on every input `rows` scores (`critic_modes.hardness_auc`): about 0.5 when it
        judges the labels, near 1 when it tells real from predicted pairs by 0/1-ness. None
        without a critic."""
        return self._score_validation(rows)[1]

    def fit(self, train_rows: RowSource, validation_rows: Optional[RowSource] = None,
            verbose: bool = True,
            validation_metric: Callable[[np.ndarray, np.ndarray], dict] = mean_eer_metric,
            monitor: Optional[tuple[str, str]] = None) -> list[dict]:
        """Critic pre-training, then Algorithm 1 for at most `config.trainer.epochs` epochs.

        Resumes from the latest checkpoint in `run_dir`: the step counters, both models, both
        optimizers, early stopping's best epoch and the data position (the streams are seeded,
        so skipping the batches already used restores them).

        Args:
          train_rows: the training split.
          validation_rows: scored after every epoch with `validation_metric`, if given.
          verbose: progress bars.
          validation_metric: `(labels [n, L], probabilities [n, L]) -> {name: value}`.
          monitor: `(name, "min" | "max")`: early stopping on that value of
            `validation_metric` with `trainer.patience` (0 is off); the best epoch's predictor
            weights are restored at the end. None: no early stopping (e.g. when the validation
            rows are the test split).

        Returns:
          One dict per epoch trained in this call: mean training scalars, and the validation
          metric's values (`val_mean_eer` by default) when `validation_rows` is given.
        """
        cfg = self.config.trainer
        self.restore()
        patience = cfg.patience if (monitor and validation_rows is not None) else 0
        self.stopping.start(monitor, patience)
        steps_per_epoch = len(train_rows) // cfg.batch_size
        if steps_per_epoch == 0:
            raise AdmlcError(f"the training split has {len(train_rows)} chunks, fewer than "
                             f"--batch-size {cfg.batch_size}: lower the batch size")
        total_steps = cfg.epochs * steps_per_epoch
        writer = val_writer = None
        if self.run_dir:
            writer = tf.summary.create_file_writer(str(self.run_dir / "train"))
            val_writer = tf.summary.create_file_writer(str(self.run_dir / "validation"))

        critic_batches_used = int(self.pretrain_step.numpy())
        if self.critic is not None:
            # Pre-training's "another example's labels" come from the split's label vectors.
            self.task.label_sets = tf.constant(np.unique(train_rows.labels, axis=0))
            critic_batches_used += int(self.step.numpy()) // cfg.critic_every
            critic_stream = self._distribute(training_stream(
                train_rows, batch_size=cfg.critic_batch, seed=cfg.seed + 1,
                skip_batches=critic_batches_used, augmentation=self.augmentation))
            self._pretrain_critic(critic_stream, writer, verbose)

        start = int(self.step.numpy())
        stream = self._distribute(training_stream(
            train_rows, batch_size=cfg.batch_size, seed=cfg.seed, skip_batches=start,
            augmentation=self.augmentation))
        progress = keras.utils.Progbar(total_steps) if verbose else None
        if progress and start:
            progress.update(start)
        history, epoch_logs = [], {}
        if patience:
            self.stopping.load_best(self.predictor)
            if start and self.stopping.spent(start // steps_per_epoch):
                total_steps = start  # stopped early before the run was interrupted
        for k in range(start + 1, total_steps + 1):
            self._freeze_body((k - 1) // steps_per_epoch < cfg.freeze_epochs)
            x, y = next(stream)
            if self.critic is not None and k % cfg.critic_every == 0:
                logs = self._checked(self.adversarial_step(x, y, *next(critic_stream),
                                                           self._step_seed(k)), k)
            else:
                logs = self._checked(self.predictor_step(x, y, self._step_seed(k)), k)
            self.step.assign(k)
            for name, value in logs.items():
                epoch_logs.setdefault(name, []).append(value)
            if writer and k % cfg.log_every == 0:
                with writer.as_default(step=k):
                    for name, value in logs.items():
                        tf.summary.scalar(name, value)
            if progress:
                progress.update(k, values=[(n, v) for n, v in logs.items()
                                           if n in ("sup_loss", "adv_loss", "critic_loss")])
            if self.manager and (k % cfg.checkpoint_every == 0 or k == total_steps):
                self._save(k)
            if k % steps_per_epoch == 0:
                summary = {n: float(np.mean(v)) for n, v in epoch_logs.items()}
                summary["epoch"] = k // steps_per_epoch
                epoch_logs = {}
                if validation_rows is not None:
                    probabilities, hardness = self._score_validation(validation_rows)
                    values = validation_metric(validation_rows.labels, probabilities)
                    summary.update(values)
                    if hardness is not None:  # a critic that cheats shows here (near 1)
                        values = {**values, "val_critic_hardness_auc": hardness}
                        summary["val_critic_hardness_auc"] = hardness
                    if val_writer:
                        with val_writer.as_default(step=k):
                            for name, value in values.items():
                                tf.summary.scalar(name.removeprefix("val_"), value)
                history.append(summary)
                if patience:
                    self.stopping.track(summary["epoch"], values[monitor[0]], self.predictor)
                    if self.stopping.spent(summary["epoch"]):
                        if self.manager:
                            self._save(k)
                        if verbose:
                            print(f"\nEarly stop after epoch {summary['epoch']}: "
                                  f"{monitor[0]} has not improved for {patience} epochs")
                        break
        for w in (writer, val_writer):
            if w:
                w.flush()
        self._freeze_body(False)
        self.stopping.finish(self.predictor, int(self.step.numpy()) // steps_per_epoch)
        self.critic_summary = self._critic_summary(validation_rows)
        return history

    def _critic_summary(self, validation_rows: Optional[RowSource]) -> dict:
        """What results.json says of the critic: its mode and, with validation data, the hardness
        AUC of the predictor as it leaves `fit` (the best epoch's, with early stopping)."""
        if self.critic is None:
            return {}
        loss = self.config.loss
        summary = {"mode": loss.critic_mode, "lambda": loss.lam}
        if loss.critic_mode == "value":
            summary["quality"] = loss.critic_quality
        if loss.critic_mode == "gumbel":
            summary["temperature"] = loss.critic_temperature
        if validation_rows is not None:
            summary["hardness_auc"] = self.critic_hardness_auc(validation_rows)
        return summary

    def _freeze_body(self, frozen: bool) -> None:
        """`trainer.freeze_epochs`: while `frozen`, only the predictor's head layers train
        (after it, all but the spec's `frozen_layers`).

        Frozen layers are not trainable, so their batch normalisation also runs in inference
        mode; the step functions are traced anew, as they capture the trainable variables.
        """
        if frozen == self._frozen:
            return
        spec = self.task.spec
        head = set(spec.head_layers) or {spec.predictor.layers[-1].name}
        for layer in spec.trained_model.layers:
            if layer.name not in head and layer.name not in spec.frozen_layers and layer.weights:
                layer.trainable = not frozen
        self._frozen = frozen
        self._build_step_functions()

    def _checked(self, logs: dict, k: int, what: str = "step") -> dict:
        """Host floats of a step's scalars; stops on a non-finite loss or gradient."""
        logs = {name: float(value) for name, value in logs.items()}
        nonfinite = logs.pop("nonfinite_gradients")
        losses = [v for n, v in logs.items() if n.endswith("loss")]
        if nonfinite or not all(math.isfinite(v) for v in losses):
            last = self.manager.latest_checkpoint if self.manager else None
            kept = f"the last good checkpoint {last} is kept" if last else "no checkpoint was made"
            raise AdmlcError(f"non-finite loss or gradient at {what} {k}: {kept}; lower --lr "
                             "or check the inputs for NaN/inf")
        return logs

    def _pretrain_critic(self, critic_stream, writer, verbose: bool):
        cfg = self.config.trainer
        start = int(self.pretrain_step.numpy())
        if start >= cfg.critic_pretrain_steps:
            return
        if verbose:
            print(f"Pre-training the critic for {cfg.critic_pretrain_steps} steps")
        progress = keras.utils.Progbar(cfg.critic_pretrain_steps) if verbose else None
        for k in range(start + 1, cfg.critic_pretrain_steps + 1):
            x, y = next(critic_stream)
            logs = self._checked(self.critic_pretrain_step(
                x, y, tf.constant([cfg.seed, k], dtype=tf.int32)), k, "critic pre-training step")
            self.pretrain_step.assign(k)
            if writer and k % cfg.log_every == 0:
                with writer.as_default(step=k):
                    for name, value in logs.items():
                        tf.summary.scalar(f"pretrain/{name}", value)
            if progress:
                progress.update(k, values=list(logs.items()))
        if self.manager:
            self._save(0)
