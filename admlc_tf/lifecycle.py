"""The entry point of a run: `run(config)` picks the recipe of `config.task`
(`admlc_tf.recipes.recipe_for`) and drives it through the one run lifecycle
(`admlc_tf.recipes.base.run_recipe`: validate -> resume check + lock -> save config -> fit ->
report -> export -> results.json). `train.py` and the notebooks call it."""

from __future__ import annotations

from typing import Callable, Optional

from admlc_tf.config import ExperimentConfig
from admlc_tf.recipes import recipe_for  # noqa: F401  (callers pick protocol recipes with it)
from admlc_tf.recipes.base import Fitted, Recipe, check_resume, run_recipe  # noqa: F401


def run(config: ExperimentConfig, *, recipe: Optional[Recipe] = None, verbose: bool = True,
        force: bool = False, plots_dir: Optional[str] = None,
        build_predictor: Optional[Callable] = None) -> dict:
    """Runs one task end to end and returns what it writes to `<out_dir>/results.json`.

    Args:
      config: the experiment; `config.task` picks the recipe unless `recipe` is given.
      recipe: the task, e.g. `recipe_for(config, protocol=True)`.
      verbose, force, plots_dir, build_predictor: as `run_recipe`.
    """
    return run_recipe(config, recipe or recipe_for(config), verbose=verbose, force=force,
                      plots_dir=plots_dir, build_predictor=build_predictor)
