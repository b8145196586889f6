"""One audio-tagging experiment end to end: data -> features -> Algorithm 1 -> EER -> export.

`train.py` is a thin layer over `run`; notebooks call the same functions.
"""

from __future__ import annotations

import copy
import dataclasses
import functools
import json
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Callable, Optional

import numpy as np

from admlc_tf.config import CriticConfig, ExperimentConfig, PredictorConfig, TrainerConfig
from admlc_tf.data import chime_home
from admlc_tf.data.cache import build_feature_cache, feature_statistics
from admlc_tf.data.demo import ensure_demo_dataset
from admlc_tf.data.pipeline import ChunkRows
from admlc_tf.errors import AdmlcError, DataError
from admlc_tf.files import run_folder_lock, write_json_atomic
from admlc_tf.losses import SUPERVISED_LOSSES
from admlc_tf.metrics import eer_report, format_eer_table

if TYPE_CHECKING:
    import keras


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


@dataclasses.dataclass
class ExperimentData:
    """The data of one run.

    Attributes:
      data_dir: the chime_home folder used.
      cache_path: the HDF5 feature cache (development and evaluation chunks).
      train: training rows.
      test: validation rows (a development fold) or test rows (the evaluation list).
      feature_mean: `[bands]` per-band mean of the training features.
      feature_variance: `[bands]` per-band variance of the training features.
    """

    data_dir: Path
    cache_path: Path
    train: ChunkRows
    test: ChunkRows
    feature_mean: np.ndarray
    feature_variance: np.ndarray


def split_chunks(config: ExperimentConfig, data_dir: Path, split: str):
    """All chunks (development then evaluation) and the chunks of a named split.

    Args:
      split: "evaluation", "fold-K" (development fold K) or "train" (what `config.data.fold`
        trains on).
    """
    rate = config.features.sample_rate
    development = chime_home.load_development(data_dir, rate)
    evaluation = chime_home.load_evaluation(data_dir, rate)
    everything = development + evaluation
    names = [c.name for c in everything]
    if len(set(names)) != len(names):
        twice = sorted({n for n in names if names.count(n) > 1})[0]
        raise DataError(f"chunk {twice} is in both the development and the evaluation list of "
                        f"{data_dir}: remove it from one")
    if split == "evaluation":
        return everything, evaluation
    if split.startswith("fold-"):
        fold = int(split[len("fold-"):])
        return everything, [c for c in development if c.fold == fold]
    if split == "train":
        fold = config.data.fold
        return everything, [c for c in development if fold == "all" or c.fold != int(fold)]
    raise ValueError(f"unknown split {split!r}")


def resolve_data_dir(config: ExperimentConfig) -> Path:
    if config.data.data_dir is None:
        return ensure_demo_dataset()
    return chime_home.resolve_root(config.data.data_dir)


def rows_for(cache_path: Path, everything, chunks) -> ChunkRows:
    index = {c.name: i for i, c in enumerate(everything)}
    return ChunkRows(cache_path, [index[c.name] for c in chunks],
                     np.stack([c.labels for c in chunks]))


def test_split_name(fold: str) -> str:
    return "evaluation" if fold == "all" else f"fold-{int(fold)}"


def validate(config: ExperimentConfig) -> None:
    """Rejects settings that cannot work, before anything is read or written."""
    fold = config.data.fold
    if fold != "all" and fold not in {str(k) for k in range(1, chime_home.NUM_FOLDS + 1)}:
        raise AdmlcError(f"--fold {fold} does not exist: use 1..{chime_home.NUM_FOLDS} or all")
    if config.loss.supervised not in SUPERVISED_LOSSES:
        raise AdmlcError(f"--loss {config.loss.supervised} is not known: use one of "
                         f"{', '.join(SUPERVISED_LOSSES)}")
    if config.serving.pooling not in ("max", "mean"):
        raise AdmlcError(f"--serving-pooling {config.serving.pooling} is not known: use max or "
                         "mean")
    if config.serving.hop_seconds <= 0:
        raise AdmlcError(f"--serving-hop {config.serving.hop_seconds} must be positive")
    from admlc_tf.trainer import check_precision

    trainer = config.trainer
    check_precision(trainer.precision)
    for flag, value in (("--epochs", trainer.epochs), ("--batch-size", trainer.batch_size),
                        ("--critic-batch", trainer.critic_batch),
                        ("--critic-every", trainer.critic_every)):
        if value < 1:
            raise AdmlcError(f"{flag} {value} must be at least 1")


def prepare_data(config: ExperimentConfig, verbose: bool = True) -> ExperimentData:
    """Reads the lists, builds or reuses the feature cache and computes training statistics."""
    fold = config.data.fold
    data_dir = resolve_data_dir(config)
    everything, train = split_chunks(config, data_dir, "train")
    _, test = split_chunks(config, data_dir, test_split_name(fold))
    cache_path = build_feature_cache(everything, config=config.features,
                                     cache_dir=config.data.cache_dir, verbose=verbose)
    train_rows = rows_for(cache_path, everything, train)
    mean, variance = feature_statistics(cache_path, train_rows.rows)
    return ExperimentData(data_dir, cache_path, train_rows, rows_for(cache_path, everything, test),
                          mean, variance)


def model_builders(config: ExperimentConfig, data: ExperimentData):
    """Zero-argument builders of the predictor and the critic (None for the plain baseline)."""
    from admlc_tf.critic import build_critic
    from admlc_tf.predictors.cgrnn import build_cgrnn

    shape = (config.features.num_frames, config.features.n_mels)
    stats = dict(feature_mean=data.feature_mean, feature_variance=data.feature_variance)
    predictor = functools.partial(build_cgrnn, *shape, len(chime_home.LABELS),
                                  config=config.predictor, name="predictor", **stats)
    critic = None
    if config.loss.adversarial:
        critic = functools.partial(build_critic, shape, len(chime_home.LABELS),
                                   config=config.critic, **stats)
    return predictor, critic


def _check_resume(config: ExperimentConfig, run_dir: Path) -> None:
    """Refuses to continue a run directory made with other settings (epochs may grow)."""
    saved_path = run_dir / "config.json"
    if not saved_path.is_file():
        return
    saved = json.loads(saved_path.read_text())
    current = json.loads(json.dumps(config.to_dict()))
    diffs = [f"{section}.{key}: {saved.get(section, {}).get(key)!r} -> {value!r}"
             for section, fields in current.items() if isinstance(fields, dict)
             for key, value in fields.items()
             if saved.get(section, {}).get(key) != value and (section, key) != ("trainer", "epochs")]
    if diffs:
        raise AdmlcError(f"{run_dir} holds a run with other settings ({'; '.join(diffs)}): pass a "
                         "new --out, the same settings, or --force to resume anyway")


def run(config: ExperimentConfig, verbose: bool = True,
        build_predictor: Optional[Callable[[ExperimentData], "keras.Model"]] = None,
        force: bool = False, plots_dir: Optional[str] = None) -> dict:
    """Trains, evaluates on the test split, exports the predictor and prints the EER table.

    Args:
      config: the experiment.
      verbose: False hides progress bars and status lines, not the results.
      build_predictor: your own predictor instead of the CGRNN: called with the prepared data
        (`data.train.num_frames`, `data.train.num_bands`, `data.feature_mean`,
        `data.feature_variance`), it returns any Keras model mapping "features"
        `[batch, frames, bands]` raw log-mel to `[batch, 7]` logits (no final sigmoid).
      force: resume a run folder even if it was made with other settings.
      plots_dir: also save training curves and per-label ROC curves (PNG) there.

    Returns:
      The results written to `<out_dir>/results.json`: the EER report of the test split
      (`eer`, `mean_eer`, `n_chunks`), `split`, `history` (per-epoch scalars) and `export`.
    """
    from admlc_tf.trainer import is_chief, make_strategy

    validate(config)
    strategy = make_strategy(config.runtime)  # first: a multi-worker strategy sets up TF
    if not is_chief(strategy):
        return _run_as_worker(config, strategy, build_predictor)
    run_dir = Path(config.out_dir)
    if not force:
        _check_resume(config, run_dir)
    data = prepare_data(config, verbose)  # before anything is written: bad data leaves no run
    try:
        run_dir.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise AdmlcError(f"cannot create the run folder {run_dir} ({e.strerror}): pass --out a "
                         "writable folder") from None
    with run_folder_lock(run_dir):
        config.save(run_dir / "config.json")
        return _train_and_export(config, data, strategy, run_dir, verbose, build_predictor,
                                 plots_dir)


def _run_as_worker(config: ExperimentConfig, strategy, build_predictor) -> dict:
    """A non-chief worker: the same steps, but everything it writes goes to a temporary folder
    that is removed at the end, and it resumes from the chief's checkpoints (TF's convention)."""
    data = prepare_data(config, verbose=False)
    with tempfile.TemporaryDirectory(prefix="admlc-worker-") as tmp:
        worker = copy.deepcopy(config)
        worker.out_dir, worker.export_dir = str(Path(tmp) / "run"), str(Path(tmp) / "export")
        Path(worker.out_dir).mkdir()
        return _train_and_export(worker, data, strategy, Path(worker.out_dir), False,
                                 build_predictor, None, announce=False,
                                 restore_dir=Path(config.out_dir) / "checkpoints")


def _train_and_export(config: ExperimentConfig, data: ExperimentData, strategy, run_dir: Path,
                      verbose: bool, build_predictor, plots_dir: Optional[str],
                      announce: bool = True, restore_dir: Optional[Path] = None) -> dict:
    from admlc_tf.export import export_predictor
    from admlc_tf.trainer import Trainer

    default_predictor, build_critic = model_builders(config, data)
    predictor = functools.partial(build_predictor, data) if build_predictor else default_predictor
    trainer = Trainer(config, strategy, build_predictor=predictor, build_critic=build_critic,
                      run_dir=run_dir, restore_dir=restore_dir)
    if verbose:
        loss = config.loss.supervised.upper()
        mode = (f"AD-{loss} (lambda={config.loss.lam}, critic every "
                f"{config.trainer.critic_every} step(s))" if config.loss.adversarial
                else f"{loss} (no critic)")
        print(f"Training {mode} on {len(data.train)} chunks from {data.data_dir}, "
              f"{trainer.strategy.num_replicas_in_sync} replica(s)")
    history = trainer.fit(data.train, data.test, verbose=verbose)
    split = test_split_name(config.data.fold)
    scores = trainer.predict(data.test)
    report = eer_report(data.test.labels, scores, list(chime_home.LABELS))
    export_path = export_predictor(trainer.predictor, base_dir=config.export_dir,
                                   name=config.name, label_names=chime_home.LABELS,
                                   metadata={"config": config.to_dict()},
                                   features=config.features,
                                   hop_seconds=config.serving.hop_seconds,
                                   pooling=config.serving.pooling)
    results = {**report, "split": split, "history": history, "export": str(export_path),
               "replicas": trainer.strategy.num_replicas_in_sync}
    write_json_atomic(run_dir / "results.json", results)
    if not announce:
        return results
    print(format_eer_table(report["eer"], report["mean_eer"],
                           title=f"EER on {split} ({report['n_chunks']} chunks)"))
    print(f"Exported the predictor to {export_path}")
    if plots_dir:
        from admlc_tf import plots

        if history:
            plots.plot_training_curves(history, path=Path(plots_dir) / "training_curves.png")
        plots.plot_roc_with_eer(data.test.labels, scores, chime_home.LABELS,
                                path=Path(plots_dir) / "roc_eer.png")
        print(f"Saved plots to {plots_dir}")
    return results
