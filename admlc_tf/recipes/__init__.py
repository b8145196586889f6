"""Tasks as recipes of the one run lifecycle (`admlc_tf.lifecycle`): `config.task` -> recipe."""

from admlc_tf.recipes.audio import AudioRecipe
from admlc_tf.recipes.images import ImageRecipe
from admlc_tf.recipes.vectors import VectorRecipe

RECIPES = {"audio": AudioRecipe, "features": VectorRecipe, "images": ImageRecipe}
