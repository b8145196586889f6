"""The audio task: a labelled audio collection -> log-mel -> Algorithm 1 -> EER/AUC/AP -> export.

One recipe for CHiME-Home (DCASE 2016 Task 4) and every other layout of
`admlc_tf.data.layouts.registry`; `admlc_tf.recipes.base.run_recipe` drives it. Notebooks use
`demo_config`, `prepare_data` and `model_builders` directly.
"""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Optional

from admlc_tf.config import (AugmentConfig, CriticConfig, ExperimentConfig, LossConfig,
                             PredictorConfig, TrainerConfig)
from admlc_tf.data import audio
from admlc_tf.data.audio import AudioData
from admlc_tf.errors import AdmlcError
from admlc_tf.recipes.base import Fitted, run_recipe
from admlc_tf.losses import SUPERVISED_LOSSES
from admlc_tf.predictors import registry
from admlc_tf.metrics.reports import format_tagging_table, tagging_report

# The audio predictors on a pretrained backbone (name -> its transfer module and title): each
# takes its own front end and weights, and `--freeze-epochs` fine-tunes its top blocks.
PRETRAINED = {"musicnn": ("admlc_tf.predictors.musicnn_transfer", "musicnn"),
              "yamnet": ("admlc_tf.predictors.yamnet_transfer", "YAMNet")}


def demo_config() -> ExperimentConfig:
    """The defaults of `python train.py` without --data-dir: the generated demo set, a small
    CGRNN and critic, and a schedule that finishes in a few minutes on two CPU cores."""
    return ExperimentConfig(
        name="cgrnn-demo",
        predictor=PredictorConfig(window_hop=27, conv_filters=(16, 16), gru_units=(32,),
                                  dense_units=32),
        critic=CriticConfig(representation_units=(16, 32), embedding_units=32, label_units=16,
                            fusion_units=(32,)),
        trainer=TrainerConfig(epochs=40, batch_size=32, critic_batch=32,
                              critic_pretrain_steps=50, checkpoint_every=100),
    )


def data_dir_config() -> ExperimentConfig:
    """The defaults of `python train.py --data-dir DIR`, chosen by measurement on real
    recordings (`benchmarks/real_audio_study.py`, README "Results on real recordings"): a
    CPU-sized CGRNN (the paper-sized one takes minutes an epoch on two cores where this one
    takes seconds, and has far more weights than a few hundred clips can fit), batches of 32
    and up to 60 epochs with early stopping on the validation split. `paper_config` has the
    paper's settings.

    The critic is off: on those recordings no critic mode beat the plain model (5 seeds:
    docs/results/critic.md), so `--adversarial` turns it on, as the value critic the vector
    tasks use, for a user who wants to try it on their data. With the critic off, training
    augmentation is on (SpecAugment, mixup 0.3, +-6 dB gain, +-1 s shift): the plain model with
    it measured best of every system tried there (docs/results/real-recordings.md)."""
    return ExperimentConfig(
        predictor=PredictorConfig(window_hop=27, conv_filters=(16, 16), gru_units=(32,),
                                  dense_units=32),
        loss=LossConfig(adversarial=False, critic_mode="value", critic_quality="f1"),
        augment=AugmentConfig(spec_augment=True, mixup=0.3, gain_db=6.0, shift_seconds=1.0),
        trainer=TrainerConfig(epochs=60, batch_size=32, critic_batch=32, patience=10),
    )


def paper_config() -> ExperimentConfig:
    """The paper's settings for DCASE 2016 Task 4 (`train.py --paper`): the field defaults of
    `ExperimentConfig` (CGRNN with two gated-conv blocks of 64 maps, three bidirectional GRUs
    of 128, batch 100, 30 epochs), every epoch trained (no early stopping)."""
    config = ExperimentConfig()
    config.trainer.patience = 0
    return config


def prepare_data(config: ExperimentConfig, verbose: bool = True,
                 run_dir: Optional[Path] = None) -> AudioData:
    """Reads the data set, its splits (the run folder's splits.csv when resuming) and features."""
    from admlc_tf.data.layouts.collection import SPLITS_FILE

    splits = Path(run_dir) / SPLITS_FILE if run_dir else None
    return audio.prepare(config, splits_file=splits, verbose=verbose)


def model_builders(config: ExperimentConfig, data: AudioData, source=None):
    """Zero-argument builders of the predictor (`config.model`) and the critic (None for the
    plain baseline). With `source` (fine-tuning), the predictor takes its standardisation."""
    from admlc_tf.critic import build_critic

    shape = (config.features.num_frames, config.features.n_mels)
    mean, variance = data.feature_mean, data.feature_variance
    if source is not None and source.feature_mean is not None:
        mean, variance = source.feature_mean, source.feature_variance
    inputs = registry.PredictorInputs(shape, len(data.label_names), mean, variance)
    predictor = functools.partial(registry.build, config.model_name, config, inputs)
    critic = None
    if config.loss.adversarial:
        critic = functools.partial(build_critic, shape, len(data.label_names),
                                   config=config.critic, feature_mean=data.feature_mean,
                                   feature_variance=data.feature_variance)
    return predictor, critic


def _with_initial_weights(build, data: AudioData, source):
    """Wraps a predictor builder so the built predictor starts from `source`'s weights."""
    from admlc_tf.finetune import load_weights
    from admlc_tf.predictors.spec import PredictorSpec

    def build_and_load():
        spec = build()
        model = spec.predictor if isinstance(spec, PredictorSpec) else spec
        heads = spec.head_layers if isinstance(spec, PredictorSpec) else ()
        load_weights(model, source, head_layers=heads,
                     same_labels=source.label_names == list(data.label_names))
        return spec

    return build_and_load


def augmentation(config: ExperimentConfig, data: AudioData):
    """The run's training augmentation (`config.augment`), or None when it is all off."""
    from admlc_tf.data.augment import Augmentation

    if not config.augment.active:
        return None
    features = config.features
    try:
        return Augmentation(config.augment,
                            frames_per_second=features.sample_rate / features.hop_length,
                            fill=data.feature_mean)
    except ValueError as e:
        raise AdmlcError(str(e)) from None


def choose_thresholds(config: ExperimentConfig, data: AudioData, trainer) -> dict:
    """Each label's threshold on the run's development-side validation split (the content of
    the export's `assets/thresholds.json`); 0.5 for every label, and why, without one."""
    from admlc_tf import thresholds

    if data.validation_split is None:
        return thresholds.fixed(data.label_names, "the run has no validation split to choose "
                                "them on (a val split or a development fold)")
    if data.monitoring_only:
        return thresholds.fixed(data.label_names, f"the run's validation split "
                                f"{data.validation_split} is its test split, which nothing is "
                                "chosen on (hold a development fold out with "
                                "data.validation_fold)")
    rows = data.validation
    return thresholds.choose(rows.labels, trainer.predict(rows), data.label_names,
                             rule=config.serving.threshold_rule, split=data.validation_split)


class AudioRecipe:
    """The audio task for `admlc_tf.recipes.base.run_recipe`."""

    multi_worker = True

    @staticmethod
    def default_config(*, with_data: bool, paper: bool) -> ExperimentConfig:
        if paper:
            return paper_config()
        return data_dir_config() if with_data else demo_config()

    @staticmethod
    def export_name(config: ExperimentConfig) -> str:
        return config.model_name

    def validate(self, config: ExperimentConfig) -> None:
        # (the layouts' readers import scikit-learn: lazily)
        from admlc_tf.data.layouts.registry import LAYOUTS
        from admlc_tf.trainer import check_precision

        data = config.data
        if data.layout is not None and data.layout not in LAYOUTS:
            raise AdmlcError(f"data.layout {data.layout} is not known: use one of "
                             f"{', '.join(LAYOUTS)}")
        if data.fold != "all" and not data.fold.isdigit():
            raise AdmlcError(f"data.fold {data.fold} is not a fold: use an integer or all")
        if data.audio_dir and not data.labels_file:
            raise AdmlcError("data.audio_dir is the audio of data.labels_file: pass both")
        registry.check(config.model_name, registry.AUDIO)
        from admlc_tf.features import check_front_end

        check_front_end(config.features)
        if config.model_name in PRETRAINED:
            import importlib

            model = config.model_name
            module, title = PRETRAINED[model]
            if config.features.front_end != model:
                raise AdmlcError(f"model {model} takes {title}'s own features: leave "
                                 f"features.front_end at {model} (--model {model} sets it)")
            importlib.import_module(module).check_weights(config.predictor.backbone_weights)
        if config.loss.supervised not in SUPERVISED_LOSSES:
            raise AdmlcError(f"loss.supervised {config.loss.supervised} is not known: use one of "
                             f"{', '.join(SUPERVISED_LOSSES)}")
        if config.serving.pooling not in ("max", "mean"):
            raise AdmlcError(f"serving.pooling {config.serving.pooling} is not known: use max "
                             "or mean")
        if config.serving.threshold_rule not in ("f1", "eer"):
            raise AdmlcError(f"serving.threshold_rule {config.serving.threshold_rule} is not "
                             "known: use f1 or eer")
        if config.serving.hop_seconds <= 0:
            raise AdmlcError(f"serving.hop_seconds {config.serving.hop_seconds} must be positive")
        trainer = config.trainer
        check_precision(trainer.precision)
        for field in ("epochs", "batch_size", "critic_batch", "critic_every"):
            if getattr(trainer, field) < 1:
                raise AdmlcError(f"trainer.{field} {getattr(trainer, field)} must be at least 1")
        if trainer.patience < 0:
            raise AdmlcError(f"trainer.patience {trainer.patience} must be at least 0")
        if trainer.freeze_epochs < 0 or (trainer.freeze_epochs and not trainer.init_from
                                         and config.model_name not in PRETRAINED):
            raise AdmlcError("trainer.freeze_epochs freezes a fine-tuned predictor: pass "
                             "trainer.init_from too (or use --model musicnn or yamnet), and a "
                             "count of at least 0")

    def prepare(self, config, run_dir, verbose):
        source = None
        if config.trainer.init_from:  # refused before any feature is extracted
            from admlc_tf.finetune import check_features, load_source

            source = load_source(config.trainer.init_from)
            check_features(source, config.features)
        data = prepare_data(config, verbose, run_dir)
        if source is not None:
            data.initial = source
            # A dry run of the weight transfer, so a shape mismatch is refused before the run
            # folder is written.
            predictor, _ = model_builders(config, data, source)
            _with_initial_weights(predictor, data, source)()
        return data

    def run_files(self, data: AudioData) -> dict:
        from admlc_tf.files import write_text_atomic
        from admlc_tf.finetune import RUN_FILE, run_file

        files = {RUN_FILE: lambda path: write_text_atomic(path, run_file(
            data.label_names, data.feature_mean, data.feature_variance))}
        if data.assignment is not None:
            from admlc_tf.data.layouts.collection import SPLITS_FILE

            files[SPLITS_FILE] = data.write_splits
        return files

    def fit(self, config, data: AudioData, strategy, run_dir, verbose, build_predictor,
            restore_dir) -> Fitted:
        from admlc_tf.trainer import Trainer

        source = data.initial
        predictor, critic = model_builders(config, data, source)
        if build_predictor:
            predictor = functools.partial(build_predictor, data)
        if source is not None:
            predictor = _with_initial_weights(predictor, data, source)
        trainer = Trainer(config, strategy, build_predictor=predictor, build_critic=critic,
                          run_dir=run_dir, restore_dir=restore_dir,
                          augmentation=augmentation(config, data))
        if verbose and data.monitoring_only:
            stopping = (" and early stopping is off" if config.trainer.patience else "")
            print(f"The per-epoch validation scores are computed on {data.test_split}, the test "
                  f"split: they are for monitoring only{stopping} (data.validation_fold holds a "
                  "development fold out instead)")
        if verbose:
            loss = config.loss.supervised.upper()
            mode = (f"AD-{loss} (lambda={config.loss.lam}, critic every "
                    f"{config.trainer.critic_every} step(s))" if config.loss.adversarial
                    else f"{loss} (no critic)")
            print(f"Training {config.model_name} with {mode} on {len(data.train)} clips of "
                  f"{data.source} ({len(data.label_names)} labels), "
                  f"{trainer.strategy.num_replicas_in_sync} replica(s)")
        from admlc_tf.trainer import mean_eer_metric

        history = trainer.fit(data.train, data.validation, verbose=verbose,
                              validation_metric=functools.partial(
                                  mean_eer_metric, label_names=data.label_names),
                              monitor=None if data.monitoring_only else ("val_mean_eer", "min"))
        return Fitted(trainer, history, thresholds=choose_thresholds(config, data, trainer))

    def report(self, config, data: AudioData, fitted: Fitted, announce: bool) -> dict:
        test = data.test
        scores = fitted.trainer.predict(test)
        report = tagging_report(test.labels, scores, data.label_names, split=data.test_split,
                                n_chunks=data.layout == "chime-home")
        report["validation"] = {
            "split": data.validation_split,
            "use": "monitoring only: it is the test split, nothing is chosen on it"
                   if data.monitoring_only
                   else "per-epoch scores, early stopping and per-label thresholds"}
        report["early_stopping"] = fitted.trainer.early_stopping
        fitted.extra["scores"] = scores
        report["thresholds"] = fitted.thresholds
        if announce:
            print(format_tagging_table(report, title=f"{config.model_name} on {data.test_split} "
                                       f"({report['n_clips']} clips)"))
        return report

    def export(self, config, data: AudioData, fitted: Fitted) -> Path:
        from admlc_tf.data.layouts.collection import splits_text
        from admlc_tf.serving.export import export_predictor

        splits = splits_text(data.assignment) if data.assignment is not None else None
        return export_predictor(fitted.trainer.predictor, base_dir=config.export_dir,
                                name=config.name, label_names=data.label_names,
                                metadata={"config": config.to_dict()}, features=config.features,
                                hop_seconds=config.serving.hop_seconds,
                                pooling=config.serving.pooling, splits=splits,
                                thresholds=fitted.thresholds, tflite=config.serving.tflite)

    def plot(self, data: AudioData, fitted: Fitted, report: dict, plots_dir: Path) -> None:
        from admlc_tf import plots

        if fitted.history:
            plots.plot_training_curves(fitted.history, path=plots_dir / "training_curves.png")
        plots.plot_roc_with_eer(data.test.labels, fitted.extra["scores"], data.label_names,
                                path=plots_dir / "roc_eer.png")


def run(config: ExperimentConfig, verbose: bool = True, build_predictor=None,
        force: bool = False, plots_dir: Optional[str] = None) -> dict:
    """The run lifecycle (`admlc_tf.recipes.base.run_recipe`) of the audio task, for notebooks
    and scripts.

    Args:
      build_predictor: your own predictor instead of `config.model`: called with the prepared
        `AudioData` (`data.train.num_frames`, `data.train.num_bands`, `data.label_names`,
        `data.feature_mean`, `data.feature_variance`), it returns any Keras model mapping
        "features" `[batch, frames, bands]` raw log-mel to `[batch, len(data.label_names)]`
        logits (no final sigmoid).
    """
    return run_recipe(config, AudioRecipe(), verbose=verbose, force=force, plots_dir=plots_dir,
                      build_predictor=build_predictor)
