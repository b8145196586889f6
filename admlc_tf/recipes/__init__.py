"""Tasks as recipes of the one run lifecycle (`admlc_tf.recipes.base`): `config.task` -> recipe,
and the defaults every caller gets (train.py, notebooks): the task's default config and the
settings that follow from the ones given."""

from __future__ import annotations

import datetime
import os
from typing import Any

from admlc_tf.config import ExperimentConfig
from admlc_tf.errors import AdmlcError
from admlc_tf.recipes.audio import AudioRecipe
from admlc_tf.recipes.base import Recipe
from admlc_tf.recipes.embeddings import EmbeddingRecipe
from admlc_tf.recipes.images import ImageRecipe
from admlc_tf.recipes.vectors import VectorRecipe

RECIPES = {"audio": AudioRecipe, "features": VectorRecipe, "images": ImageRecipe,
           "embeddings": EmbeddingRecipe}


def recipe_class(task: str) -> type:
    if task not in RECIPES:
        raise AdmlcError(f"task {task} is not known: use one of {', '.join(sorted(RECIPES))}")
    return RECIPES[task]


def recipe_for(config: ExperimentConfig, protocol: bool = False) -> Recipe:
    """The recipe of `config.task`; with `protocol`, its Table 2 protocol."""
    recipe = recipe_class(config.task)
    return recipe.protocol() if protocol else recipe()


def default_config(task: str = "audio", *, with_data: bool = False,
                   paper: bool = False) -> ExperimentConfig:
    """The defaults of `train.py --task <task>`: with a data folder (`--data-dir` or
    `--labels-file`) or without (the generated demo set), or the paper's (`--paper`)."""
    return recipe_class(task).default_config(with_data=with_data, paper=paper)


def configure(config: ExperimentConfig, fields: dict[str, Any],
              follow: bool = True) -> ExperimentConfig:
    """Sets `fields` ("section.field", or a top-level "field" -> value) on `config`, then, with
    `follow`, what follows from them unless given too: `trainer.critic_batch` follows
    `trainer.batch_size`; `--model musicnn` takes musicnn's features (front end, 96 bands, 3 s
    chunks) unless features are given, `--model yamnet` YAMNet's (64 bands, 3.855 s chunks) and
    its default weights (audioset); `--task embeddings` (`--backbone` is its
    `predictor.backbone`) the default weights of its backbone (mtt for musicnn, audioset for
    yamnet); the name is the model's (`images-<model>` for images, `embeddings-<model>` or
    `embeddings-yamnet-<model>`) for the features, images and embeddings tasks or when `model`
    is given; `out_dir` is `runs/<name>-<time>`.
    """
    fields = dict(fields)
    task = fields.get("task", config.task)
    if task in ("audio", "embeddings") and "images.backbone_weights" in fields:
        # `--backbone-weights` is one flag: for audio it names the musicnn or YAMNet
        # backbone's weights.
        fields["predictor.backbone_weights"] = fields.pop("images.backbone_weights")
    if task == "embeddings" and "images.backbone" in fields:  # `--backbone` likewise
        fields["predictor.backbone"] = fields.pop("images.backbone")
    for key, value in fields.items():
        section, _, field = key.rpartition(".")
        setattr(getattr(config, section) if section else config, field, value)
    if not follow:
        return config
    if (config.task == "audio" and config.model == "musicnn"
            and not any(key.startswith("features.") for key in fields)):
        from admlc_tf.predictors.musicnn_transfer import musicnn_features

        config.features = musicnn_features(config.features)
    if config.task == "audio" and config.model == "yamnet":
        from admlc_tf.predictors.yamnet_transfer import yamnet_features

        if not any(key.startswith("features.") for key in fields):
            config.features = yamnet_features(config.features)
        if ("predictor.backbone_weights" not in fields
                and config.predictor.backbone_weights == "mtt"):  # musicnn's default
            config.predictor.backbone_weights = "audioset"
    if (config.task == "embeddings" and "predictor.backbone_weights" not in fields
            and config.predictor.backbone_weights == "mtt"):  # the field's (musicnn's) default
        from admlc_tf.data.embedders import EMBEDDERS

        backbone = EMBEDDERS.get(config.predictor.backbone)
        if backbone is not None:  # an unknown one is refused by validation, in one line
            config.predictor.backbone_weights = backbone.default_weights
    if "trainer.critic_batch" not in fields and "trainer.batch_size" in fields:
        config.trainer.critic_batch = config.trainer.batch_size
    if (config.task in ("features", "images", "embeddings") or "model" in fields) \
            and "name" not in fields:
        config.name = recipe_class(config.task).export_name(config)
    if "out_dir" not in fields:
        stamp = datetime.datetime.now().strftime("%Y%m%d-%H%M%S")
        config.out_dir = os.path.join("runs", f"{config.name}-{stamp}")
    return config
