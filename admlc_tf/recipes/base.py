"""The recipe contract and the one run lifecycle that drives it: validate -> resume check + lock
-> save config -> fit -> report -> export -> results.json.

A task is a `Recipe`: its default config, data, predictor and critic, validation metric, report
and export. `admlc_tf.recipes.recipe_for` picks the recipe of `config.task`;
`admlc_tf.lifecycle.run(config)` does that and calls `run_recipe` here, which the recipes'
own `run` shortcuts call directly.
"""

from __future__ import annotations

import copy
import dataclasses
import json
import tempfile
from pathlib import Path
from typing import Any, Callable, Optional, Protocol

from admlc_tf.config import ExperimentConfig
from admlc_tf.errors import AdmlcError, first_line
from admlc_tf.files import run_folder_lock, sweep_temporaries, write_json_atomic


@dataclasses.dataclass
class Fitted:
    """What `Recipe.fit` hands to the report and the export.

    Attributes:
      trainer: the trained `Trainer` (None when a recipe trains several, like the protocol).
      history: per-epoch scalars.
      extra: whatever else the recipe's report needs.
      thresholds: the content of the export's `thresholds.json` (`admlc_tf.thresholds`), when
        the recipe chose thresholds; None writes none.
    """

    trainer: Any
    history: list
    extra: dict = dataclasses.field(default_factory=dict)
    thresholds: Optional[dict] = None


class Recipe(Protocol):
    """A task, as the lifecycle drives it. Every method may raise `AdmlcError`."""

    multi_worker: bool  # whether MultiWorkerMirroredStrategy may run it

    @staticmethod
    def default_config(*, with_data: bool, paper: bool) -> ExperimentConfig:
        """The task's defaults: with or without a data folder (the generated demo set), or the
        paper's settings (`train.py --paper`)."""

    @staticmethod
    def export_name(config: ExperimentConfig) -> str:
        """The export's name when none is given: the model's."""

    def validate(self, config: ExperimentConfig) -> None:
        """Refuses settings that cannot work, before anything is read or written."""

    def prepare(self, config: ExperimentConfig, run_dir: Path, verbose: bool) -> Any:
        """Reads the data (following `run_dir`'s files when resuming); writes nothing."""

    def run_files(self, data: Any) -> dict[str, Callable[[Path], None]]:
        """Files the run folder gets beside config.json: name -> writer(path)."""

    def fit(self, config: ExperimentConfig, data: Any, strategy, run_dir: Path, verbose: bool,
            build_predictor: Optional[Callable], restore_dir: Optional[Path]) -> Fitted:
        """Trains (resuming from the run folder's checkpoints)."""

    def report(self, config: ExperimentConfig, data: Any, fitted: Fitted,
               announce: bool) -> dict:
        """The final scores (printed when `announce`), merged into results.json."""

    def export(self, config: ExperimentConfig, data: Any, fitted: Fitted) -> Optional[Path]:
        """Exports the predictor; None when the task exports nothing."""

    def plot(self, data: Any, fitted: Fitted, report: dict, plots_dir: Path) -> None:
        """Saves the task's plots."""


def check_resume(config: ExperimentConfig, run_dir: Path) -> None:
    """Refuses to continue a run folder made with other settings (epochs may grow)."""
    saved_path = run_dir / "config.json"
    if not saved_path.is_file():
        return
    try:
        saved = ExperimentConfig.from_dict(json.loads(saved_path.read_bytes())).to_dict()
    except (ValueError, TypeError, AttributeError, KeyError) as e:  # garbage, or not an object
        raise AdmlcError(f"{saved_path} is damaged ({first_line(e)}): delete it to resume with "
                         "the current settings, or pass a new out_dir") from None
    current = json.loads(json.dumps(config.to_dict()))
    saved = json.loads(json.dumps(saved))

    def differences(old, new, prefix=""):
        for key, value in new.items():
            if isinstance(value, dict):
                yield from differences(old.get(key, {}), value, f"{prefix}{key}.")
            elif old.get(key) != value and f"{prefix}{key}" != "trainer.epochs":
                yield f"{prefix}{key}: {old.get(key)!r} -> {value!r}"

    diffs = list(differences(saved, current))
    if diffs:
        raise AdmlcError(f"{run_dir} holds a run with other settings ({'; '.join(diffs)}): pass a "
                         "new out_dir, the same settings, or --force to resume anyway")


def run_recipe(config: ExperimentConfig, recipe: Recipe, *, verbose: bool = True,
               force: bool = False, plots_dir: Optional[str] = None,
               build_predictor: Optional[Callable] = None) -> dict:
    """Runs one task end to end and returns what it writes to `<out_dir>/results.json`.

    Args:
      config: the experiment.
      recipe: the task, e.g. `admlc_tf.recipes.recipe_for(config, protocol=True)`.
      verbose: False hides progress bars and status lines, not the results.
      force: resume a run folder even if it was made with other settings.
      plots_dir: also save the task's plots (PNG) there.
      build_predictor: your own predictor instead of `config.model`: called with the prepared
        data, it returns a Keras model (logits out) or a `PredictorSpec`.
    """
    from admlc_tf.trainer import check_critic, cluster_from_environment, is_chief, make_strategy

    check_critic(config.loss)  # before any data is prepared
    recipe.validate(config)
    if not recipe.multi_worker and (config.runtime.strategy == "multi-worker" or (
            config.runtime.strategy == "auto" and cluster_from_environment())):
        raise AdmlcError(f"task {config.task} trains on one machine: unset TF_CONFIG or set "
                         "runtime.strategy to mirrored")
    strategy = make_strategy(config.runtime)  # first: a multi-worker strategy sets up TF
    run_dir = Path(config.out_dir)
    if not is_chief(strategy):
        return _run_as_worker(config, recipe, strategy, build_predictor)
    if not force:
        check_resume(config, run_dir)
    data = recipe.prepare(config, run_dir, verbose)  # before anything is written
    try:
        run_dir.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise AdmlcError(f"cannot create the run folder {run_dir} ({e.strerror}): pass out_dir a "
                         "writable folder") from None
    with run_folder_lock(run_dir):
        # A killed run's half best.weights.h5 is not written again unless an epoch beats it.
        sweep_temporaries(run_dir)
        config.save(run_dir / "config.json")
        for name, write in recipe.run_files(data).items():
            write(run_dir / name)
        return _fit_report_export(config, recipe, data, strategy, run_dir, verbose,
                                  build_predictor, plots_dir)


def _run_as_worker(config, recipe, strategy, build_predictor) -> dict:
    """A non-chief worker: the same steps, but everything it writes goes to a temporary folder
    that is removed at the end, and it resumes from the chief's checkpoints (TF's convention)."""
    data = recipe.prepare(config, Path(config.out_dir), False)
    with tempfile.TemporaryDirectory(prefix="admlc-worker-") as tmp:
        worker = copy.deepcopy(config)
        worker.out_dir, worker.export_dir = str(Path(tmp) / "run"), str(Path(tmp) / "export")
        Path(worker.out_dir).mkdir()
        return _fit_report_export(worker, recipe, data, strategy, Path(worker.out_dir), False,
                                  build_predictor, None, announce=False,
                                  restore_dir=Path(config.out_dir) / "checkpoints")


def _fit_report_export(config, recipe, data, strategy, run_dir: Path, verbose: bool,
                       build_predictor, plots_dir, announce: bool = True,
                       restore_dir: Optional[Path] = None) -> dict:
    fitted = recipe.fit(config, data, strategy, run_dir, verbose, build_predictor, restore_dir)
    report = recipe.report(config, data, fitted, announce)
    export = recipe.export(config, data, fitted)
    results = {**report, "history": fitted.history}
    if export is not None:
        results["export"] = str(export)
    if fitted.trainer is not None:
        results["replicas"] = fitted.trainer.strategy.num_replicas_in_sync
        if fitted.trainer.critic_summary:
            results["critic"] = fitted.trainer.critic_summary
    write_json_atomic(run_dir / "results.json", results)
    if announce and export is not None:
        print(f"Exported the predictor to {export}")
    if announce and plots_dir:
        recipe.plot(data, fitted, report, Path(plots_dir))
        print(f"Saved plots to {plots_dir}")
    return results
