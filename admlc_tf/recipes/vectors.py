"""The feature-vector task: one split, or the paper's Table 2 protocol (`task` "features").

Two recipes of the one run lifecycle (`admlc_tf.recipes.base`): `VectorRecipe` trains and exports
one model; `ProtocolRecipe` draws r examples for training + validation and tests on the rest, R
times with recorded seeds, running every deep model plain ("Ori.") and adversarial ("AD") on the
same splits beside two scikit-learn peers a user would try first (a multi-label MLPClassifier
and one-vs-rest logistic regression). The same Algorithm 1 trainer as audio, with a dense critic.
"""

from __future__ import annotations

import copy
import csv
import dataclasses
import functools
import io
import warnings
from pathlib import Path
from typing import Optional, Sequence

import numpy as np

from admlc_tf.config import ExperimentConfig
from admlc_tf.critic import build_critic
from admlc_tf.data.vectors.splits import random_split, train_validation_split
from admlc_tf.data.vectors.formats import VectorDataset, load_vectors
from admlc_tf.errors import AdmlcError
from admlc_tf.files import write_json_atomic, write_text_atomic
from admlc_tf.recipes.base import Fitted, run_recipe
from admlc_tf.metrics.multilabel import macro_f1, micro_f1, ranking_loss
from admlc_tf.metrics.reports import multilabel_report
from admlc_tf.metrics.thresholding import binarize
from admlc_tf.predictors import registry
from admlc_tf.predictors.spec import PredictorSpec

PEERS = ("mlp", "logreg")


def measured_critic(config: ExperimentConfig) -> ExperimentConfig:
    """`config` with the critic the vector and image tasks use unless told otherwise: the value
    critic with the soft-F1 quality. On scene and on the real-recording clips as log-mel vectors
    (`benchmarks/reproduce.py --modes ...`, 5 seeds) it was never worse than the plain model on
    a threshold-free measure for any Table 2 model and better on most, where the paper's critic
    made BP-MLL worse and C2AE collapse (docs/results/critic.md)."""
    config.loss.critic_mode, config.loss.critic_quality = "value", "f1"
    return config


def paper_defaults(task: str) -> ExperimentConfig:
    """`train.py --paper` for a task: the field defaults (the paper's settings) with every
    epoch trained (no early stopping)."""
    config = ExperimentConfig(task=task)
    config.trainer.patience = 0
    return config


def validate(config: ExperimentConfig) -> None:
    if not config.vectors.data_path:
        raise AdmlcError("task features needs vectors.data_path (an .arff, .npz, .h5 or .mat "
                         "file)")
    validate_fitting(config)


def validate_fitting(config: ExperimentConfig) -> None:
    """The checks of the fitting settings, shared with the images task."""
    from admlc_tf.trainer import check_precision

    check_precision(config.trainer.precision)
    v = config.vectors
    registry.check(config.model_name, registry.VECTORS)
    if v.bpmll_loss not in ("bpmll", "l2"):
        raise AdmlcError(f"vectors.bpmll_loss {v.bpmll_loss} is not known: use bpmll or l2")
    if v.threshold not in ("fixed", "per_label", "top_k"):
        raise AdmlcError(f"vectors.threshold {v.threshold} is not known: use fixed, per_label "
                         "or top_k")
    if not 0 < v.validation_fraction < 1:
        raise AdmlcError(f"vectors.validation_fraction {v.validation_fraction} must be in (0, 1)")


def build_spec(config: ExperimentConfig, model: str, features: np.ndarray,
               labels: np.ndarray) -> PredictorSpec:
    """A fresh registry predictor `model` for the fitting split `features [n, d]`,
    `labels [n, L]`."""
    return registry.build(model, config, registry.PredictorInputs.from_arrays(features, labels))


def f1_metric(labels: np.ndarray, probabilities: np.ndarray) -> dict:
    """Per-epoch validation: micro and macro F1 at a fixed 0.5, and the ranking loss (which
    early stopping watches: it needs no threshold)."""
    predictions = (probabilities >= 0.5).astype(np.float32)
    return {"val_micro_f1": micro_f1(labels, predictions),
            "val_macro_f1": macro_f1(labels, predictions),
            "val_ranking_loss": ranking_loss(labels, probabilities)}


@dataclasses.dataclass
class SplitResult:
    """The outcome of one model on one split.

    Attributes:
      report: test metrics (`multilabel_report`) plus `thresholding` (the method and, when
        tuned, the per-label thresholds used).
      history: per-epoch training scalars (empty for the scikit-learn peers).
      trainer: the trained Trainer (None for the peers).
    """

    report: dict
    history: list
    trainer: object = None


def _report(config, test_labels, test_scores, val_labels, val_scores) -> dict:
    """Test metrics, with label sets chosen as `config.vectors.threshold` says."""
    v = config.vectors
    predictions, thresholding = binarize(
        test_scores, method=v.threshold, k=v.top_k if v.threshold == "top_k" else None,
        validation=(val_labels, val_scores))
    return {**multilabel_report(test_labels, test_scores, predictions),
            "thresholding": thresholding}


def run_split(config: ExperimentConfig, data: VectorDataset, train_idx: np.ndarray,
              test_idx: np.ndarray, *, model: str, adversarial: bool, seed: int,
              run_dir: Optional[str] = None, verbose: bool = False,
              strategy=None, val_idx: Optional[np.ndarray] = None,
              test_data: Optional[VectorDataset] = None) -> SplitResult:
    """Trains one deep model on `train_idx` (minus a validation part, unless `val_idx` gives
    the validation examples) and tests on `test_idx` of `data`, or on all of `test_data` when
    given. With neither (an empty `test_idx`), the report is the validation part's, marked as
    such: it chose the epoch and thresholds. `data` is a `VectorDataset` or anything with its
    `features`, `labels` and `rows(index)` (the images task's cached features)."""
    from admlc_tf.trainer import Trainer, make_strategy

    config = copy.deepcopy(config)
    config.loss.adversarial = adversarial
    config.trainer.seed = seed
    if val_idx is None:
        fit_idx, val_idx = train_validation_split(train_idx, config.vectors.validation_fraction,
                                                  seed=seed)
    else:
        fit_idx = np.asarray(train_idx)
    x_fit, y_fit = data.features[fit_idx], data.labels[fit_idx]
    critic = functools.partial(build_critic, (data.features.shape[1],), data.labels.shape[1],
                               config=config.critic, feature_mean=x_fit.mean(0),
                               feature_variance=x_fit.var(0) + 1e-6)
    trainer = Trainer(config, strategy or make_strategy(config.runtime),
                      build_predictor=functools.partial(build_spec, config, model, x_fit, y_fit),
                      build_critic=critic, run_dir=run_dir)
    validation = data.rows(val_idx)
    history = trainer.fit(data.rows(fit_idx), validation, verbose=verbose,
                          validation_metric=f1_metric, monitor=("val_ranking_loss", "min"))
    if test_data is not None:
        test = test_data.rows(np.arange(test_data.num_examples))
    elif len(test_idx):
        test = data.rows(test_idx)
    else:
        test = validation
    report = _report(config, test.labels, trainer.predict(test), validation.labels,
                     trainer.predict(validation))
    report["scored"] = ("test" if test is not validation else
                        "validation: no test data (pass --test-data or --train-size); the "
                        "validation part chose the epoch and thresholds, so it flatters")
    report["early_stopping"] = trainer.early_stopping
    return SplitResult(report, history, trainer)


def run_peer(config: ExperimentConfig, data: VectorDataset, train_idx, test_idx, *, peer: str,
             seed: int) -> SplitResult:
    """A scikit-learn peer on the same split and thresholding as the deep models."""
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.linear_model import LogisticRegression
    from sklearn.multiclass import OneVsRestClassifier
    from sklearn.neural_network import MLPClassifier
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    fit_idx, val_idx = train_validation_split(train_idx, config.vectors.validation_fraction,
                                              seed=seed)
    if peer == "mlp":
        estimator = MLPClassifier(hidden_layer_sizes=config.vectors.hidden_units,
                                  max_iter=max(50, config.trainer.epochs), random_state=seed)
    else:
        estimator = OneVsRestClassifier(LogisticRegression(max_iter=1000))
    model = make_pipeline(StandardScaler(), estimator)
    labels = data.labels.astype(int)
    with warnings.catch_warnings():
        # The MLP's iteration budget follows --epochs on purpose; a short budget is not news.
        warnings.simplefilter("ignore", ConvergenceWarning)
        model.fit(data.features[fit_idx], labels[fit_idx])

    def scores(idx):
        return np.asarray(model.predict_proba(data.features[idx]), dtype=np.float32)

    report = _report(config, data.labels[test_idx], scores(test_idx), data.labels[val_idx],
                     scores(val_idx))
    return SplitResult(report, [])


def load_test_vectors(config: ExperimentConfig, data: VectorDataset) -> VectorDataset:
    """`vectors.test_path`, checked to have `data`'s labels (in order) and feature count."""
    v = config.vectors
    # Mulan ships one label XML for both halves (scene.xml beside scene-train/-test.arff).
    xml = next((x for x in (Path(v.test_path).with_suffix(".xml"), v.labels_xml,
                            Path(v.data_path).with_suffix(".xml"))
                if x is not None and Path(x).is_file()), None)
    test = load_vectors(v.test_path, labels_xml=xml, num_labels=data.num_labels)
    if test.label_names != data.label_names:
        raise AdmlcError(f"{v.test_path} has labels {test.label_names[:5]}... but {v.data_path} "
                         f"has {data.label_names[:5]}...: pass a test file of the same labels "
                         "in the same order")
    if test.num_features != data.num_features:
        raise AdmlcError(f"{v.test_path} has {test.num_features} features but {v.data_path} "
                         f"has {data.num_features}: pass a test file of the same features")
    return test


def _requested(size: float, n: int) -> int:
    """`train_size` as a count of `n` examples: a fraction below 1, else a count."""
    return int(round(size * n)) if size < 1 else int(size)


def train_count(config: ExperimentConfig, n: int) -> int:
    """r, the examples for training + validation of `n` (`vectors.train_size`; the protocol's
    default is half), refused when it leaves fewer than 1 or more than n - 2 to test."""
    size = config.vectors.train_size
    size = 0.5 if size is None else size  # the protocol's r when none is given
    count = _requested(size, n)
    if not 2 <= count < n:
        raise AdmlcError(f"vectors.train_size {size} leaves {n - count} of {n} examples for testing: "
                         "choose a size between 2 and n - 1 (or a fraction)")
    return count


@dataclasses.dataclass
class VectorData:
    """A feature-vector data set and the split of one run."""

    dataset: VectorDataset
    train_idx: np.ndarray
    test_idx: np.ndarray
    val_idx: Optional[np.ndarray] = None  # None: held out of train_idx by validation_fraction
    test: Optional[VectorDataset] = None

    @property
    def n_test(self) -> int:
        return len(self.test.labels) if self.test is not None else len(self.test_idx)


class VectorRecipe:
    """One model on one random split (seed `trainer.seed`), exported."""

    multi_worker = False

    @staticmethod
    def protocol() -> "ProtocolRecipe":
        return ProtocolRecipe()

    @staticmethod
    def default_config(*, with_data: bool, paper: bool) -> ExperimentConfig:
        """The field defaults (the paper's Table 2 settings) with the measured critic, data or
        not: the task has no demo set. `paper`: the paper's critic and no early stopping."""
        return paper_defaults("features") if paper else measured_critic(
            ExperimentConfig(task="features"))

    @staticmethod
    def export_name(config: ExperimentConfig) -> str:
        return config.model_name

    def validate(self, config):
        validate(config)

    def prepare(self, config, run_dir, verbose) -> VectorData:
        v = config.vectors
        data = load_vectors(v.data_path, labels_xml=v.labels_xml)
        n = len(data.labels)
        test = load_test_vectors(config, data) if v.test_path else None
        no_rows = np.zeros(0, np.int64)
        if v.train_size is None or (test is not None and _requested(v.train_size, n) == n):
            return VectorData(data, np.arange(n, dtype=np.int64), no_rows, test=test)
        train_idx, test_idx = random_split(n, train_count(config, n), seed=config.trainer.seed)
        # With a test file, r rows of this one train and the other file tests.
        return VectorData(data, train_idx, test_idx if test is None else no_rows, test=test)

    def run_files(self, data) -> dict:
        return {}

    def fit(self, config, data: VectorData, strategy, run_dir, verbose, build_predictor,
            restore_dir) -> Fitted:
        result = run_split(config, data.dataset, data.train_idx, data.test_idx,
                           model=config.model_name, adversarial=config.loss.adversarial,
                           seed=config.trainer.seed, run_dir=run_dir, verbose=verbose,
                           strategy=strategy, val_idx=data.val_idx, test_data=data.test)
        return Fitted(result.trainer, result.history, {"report": result.report})

    def report(self, config, data: VectorData, fitted: Fitted, announce: bool) -> dict:
        report = {**fitted.extra["report"], "n_train": len(data.train_idx)}
        report["n_test"] = report["n_examples"]  # the validation part's, without test data
        if announce:
            where = (f"{data.n_test} test examples of {data.test.source}" if data.test is not None
                     else f"{data.n_test} test examples of {data.dataset.source}" if data.n_test
                     else f"the validation part of {data.dataset.source} (no test data)")
            print(format_report(report, title=f"{config.model_name} "
                                f"({'AD' if config.loss.adversarial else 'Ori.'}) on {where}"))
        return report

    def export(self, config, data: VectorData, fitted: Fitted):
        from admlc_tf.serving.export import export_predictor

        spec = fitted.trainer.task.spec
        return export_predictor(spec.predictor, base_dir=config.export_dir, name=config.name,
                                label_names=data.dataset.label_names,
                                metadata={"config": config.to_dict()}, output=spec.output)

    def plot(self, data, fitted: Fitted, report: dict, plots_dir):
        from admlc_tf import plots

        if fitted.history:
            plots.plot_training_curves(fitted.history, path=plots_dir / "training_curves.png")


def format_report(report: dict, title: str = "") -> str:
    keys = [k for k, v in report.items() if isinstance(v, float) or v is None]
    width = max(len(k) for k in keys)
    lines = [title] if title else []
    lines += [f"{k:<{width}}  {'-' if report[k] is None else format(report[k], '.4f')}"
              for k in keys]
    lines.append(f"{'thresholds':<{width}}  {report['thresholding']['method']}")
    return "\n".join(lines)


class ProtocolRecipe(VectorRecipe):
    """The Table 2 protocol: R random splits x (models x {Ori., AD} + peers); exports nothing.

    Writes `<out_dir>/protocol.json` (every split's reports and seeds) and
    `<out_dir>/protocol.csv` (mean and standard deviation per system and metric), and prints
    the table in the paper's shape.
    """

    def __init__(self, models: Sequence[str] = registry.names(registry.VECTORS),
                 peers: Sequence[str] = PEERS):
        self.models, self.peers = tuple(models), tuple(peers)

    def fit(self, config, data: VectorData, strategy, run_dir, verbose, build_predictor,
            restore_dir) -> Fitted:
        data = data.dataset
        n = len(data.labels)
        count = train_count(config, n)
        systems = [(m, ad) for m in self.models for ad in (False, True)]
        runs = {name: [] for name in [_system_name(m, ad) for m, ad in systems] + list(self.peers)}
        seeds = [config.trainer.seed + i for i in range(config.vectors.repeats)]
        for repeat, seed in enumerate(seeds):
            train_idx, test_idx = random_split(n, count, seed=seed)
            for model, adversarial in systems:
                if verbose:
                    print(f"split {repeat + 1}/{len(seeds)} (seed {seed}): "
                          f"{_system_name(model, adversarial)}", flush=True)
                result = run_split(config, data, train_idx, test_idx, model=model,
                                   adversarial=adversarial, seed=seed, strategy=strategy)
                runs[_system_name(model, adversarial)].append(result.report)
            for peer in self.peers:
                runs[peer].append(run_peer(config, data, train_idx, test_idx, peer=peer,
                                           seed=seed).report)
        summary = {name: _mean_std(reports) for name, reports in runs.items()}
        results = {"data": str(data.source), "n_examples": n, "train_size": count,
                   "seeds": seeds, "thresholding": config.vectors.threshold, "summary": summary,
                   "runs": runs}
        write_json_atomic(Path(run_dir) / "protocol.json", results)
        write_text_atomic(Path(run_dir) / "protocol.csv", _summary_csv(summary))
        return Fitted(None, [], {"results": results, "repeats": len(seeds),
                                 "dataset": Path(data.source).stem})

    def report(self, config, data, fitted: Fitted, announce: bool) -> dict:
        extra = fitted.extra
        if announce:
            print(format_protocol_table(extra["results"]["summary"], self.models, self.peers,
                                        dataset=extra["dataset"], repeats=extra["repeats"]))
        return extra["results"]

    def export(self, config, data, fitted):
        return None

    def plot(self, data, fitted, report, plots_dir):
        pass


def run_protocol(config: ExperimentConfig, models: Sequence[str] = registry.names(registry.VECTORS),
                 peers: Sequence[str] = PEERS, verbose: bool = True) -> dict:
    """The run lifecycle with the protocol recipe; returns protocol.json's content."""
    results = run_recipe(config, ProtocolRecipe(models, peers), verbose=verbose)
    results.pop("history", None)
    return results


def _system_name(model: str, adversarial: bool) -> str:
    return f"{model}/{'AD' if adversarial else 'Ori.'}"


def _mean_std(reports: Sequence[dict]) -> dict:
    """Mean and standard deviation of each float metric over splits (undefined ones skipped)."""
    keys = [k for k, v in reports[0].items() if isinstance(v, float) or v is None]
    summary = {}
    for key in keys:
        values = np.array([np.nan if r[key] is None else r[key] for r in reports], dtype=float)
        if np.isfinite(values).any():
            summary[key] = {"mean": float(np.nanmean(values)), "std": float(np.nanstd(values))}
    return summary


def _summary_csv(summary: dict) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(["system", "metric", "mean", "std"])
    for system, metrics in summary.items():
        for metric, value in metrics.items():
            writer.writerow([system, metric, f"{value['mean']:.6f}", f"{value['std']:.6f}"])
    return buffer.getvalue()


def format_protocol_table(summary: dict, models: Sequence[str], peers: Sequence[str], *,
                          dataset: str, repeats: int) -> str:
    """The paper's Table 2 shape: rows dataset x MicF1/MacF1, columns model x Ori./AD, in %."""
    columns = [_system_name(m, ad) for m in models for ad in (False, True)] + list(peers)
    cell, first = 13, max(8, len(dataset) + 2)
    header1 = f"{'':<{first}}{'':<7}" + "".join(f"{m:^{2 * cell}}" for m in models) + "".join(
        f"{p:^{cell}}" for p in peers)
    header2 = f"{'Data':<{first}}{'':<7}" + "".join(
        f"{'Ori.':^{cell}}{'AD':^{cell}}" for _ in models) + "".join(
        f"{'':^{cell}}" for _ in peers)
    lines = [f"Micro/macro F1 (%), mean ± std over {repeats} random splits", header1, header2]
    for i, (metric, label) in enumerate((("micro_f1", "MicF1"), ("macro_f1", "MacF1"))):
        row = f"{dataset if i == 0 else '':<{first}}{label:<7}"
        for column in columns:
            value = summary[column].get(metric)
            row += f"{100 * value['mean']:6.1f}±{100 * value['std']:<5.1f}".center(cell) \
                if value else f"{'-':^{cell}}"
        lines.append(row)
    return "\n".join(lines)
