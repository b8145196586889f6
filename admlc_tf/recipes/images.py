"""The image task: a folder of labelled images -> backbone features -> the Table 2 models.

`--task images` reads a labels.csv folder or CUB-200-2011 (`admlc_tf.data.layouts`), extracts the
features of a `keras.applications` backbone once into an HDF5 cache
(`admlc_tf.data.image_cache`), then fits one of the four Table 2 models, plain or with the
critic, exactly as `--task features` does (`admlc_tf.recipes.vectors.run_split`), streaming the
rows from the cache. The export takes encoded images (`image_bytes`) and runs decoding, resizing,
the backbone and the predictor in one graph.

Splits: a split the data gives (a labels.csv `split` column, completed by stratified folds as in
the audio task; CUB's train_test_split.txt) is used and overrides `vectors.train_size`; without
one, `vectors.train_size` images are drawn at random for training + validation (the features
task's split) and the rest are the test set. Either way the assignment is the run's splits.csv.
`--protocol` draws its own `vectors.repeats` random splits, as for feature vectors.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Optional

import numpy as np

from admlc_tf.config import ExperimentConfig, ImageConfig, TrainerConfig
from admlc_tf.data.layouts import collection as collections
from admlc_tf.errors import AdmlcError
from admlc_tf.recipes.vectors import (ProtocolRecipe, VectorData, VectorRecipe, measured_critic,
                                      paper_defaults, train_count, validate_fitting)


def demo_config() -> ExperimentConfig:
    """The defaults of `python train.py --task images` without data: the generated shapes set,
    EfficientNetV2-B0 with random weights (nothing downloaded) at 64 x 64, the default model
    (WARP) with the critic, about a minute on two CPU cores."""
    return ExperimentConfig(
        task="images", name="images-demo",
        images=ImageConfig(backbone="efficientnetv2-b0", backbone_weights="random",
                           image_size=64),
        trainer=TrainerConfig(epochs=40, batch_size=32, critic_batch=32,
                              critic_pretrain_steps=50, checkpoint_every=100),
    )


@dataclasses.dataclass
class ImageDataset:
    """The images of a run as feature rows: what `run_split` and the protocol use.

    Attributes:
      features: the cache's `[n, dims]` matrix, read on the host by row index.
      labels: `[n, L]` multi-hot labels, in cache order.
      label_names: `[L]`.
      source: the data folder.
      cache_path: the HDF5 feature cache.
      names: image names (paths relative to the data folder), in cache order.
    """

    features: object
    labels: np.ndarray
    label_names: list[str]
    source: Path
    cache_path: Path
    names: list[str]

    def rows(self, indices):
        """The rows `indices`, streamed from the cache in training."""
        from admlc_tf.data.image_cache import CachedRows

        indices = np.asarray(indices, dtype=np.int64)
        return CachedRows(self.cache_path, indices, self.labels[indices])


@dataclasses.dataclass
class ImageData(VectorData):
    """`VectorData` with the split assignment and the backbone the features came from."""

    assignment: Optional[dict] = None
    extractor: object = None


def validate(config: ExperimentConfig) -> None:
    from admlc_tf.backbones import check
    from admlc_tf.data.layouts.registry import IMAGE_LAYOUTS

    image = config.images
    check(image.backbone, image.backbone_weights, image.image_size)
    if image.extract_batch < 1:
        raise AdmlcError(f"images.extract_batch {image.extract_batch} must be at least 1")
    if config.data.layout is not None and config.data.layout not in IMAGE_LAYOUTS:
        raise AdmlcError(f"data.layout {config.data.layout} is not an image layout: use one of "
                         f"{', '.join(IMAGE_LAYOUTS)}")
    if config.data.fold != "all" and not config.data.fold.isdigit():
        raise AdmlcError(f"data.fold {config.data.fold} is not a fold: use an integer or all")
    validate_fitting(config)


def _assign(config: ExperimentConfig, clips, splits_file: Optional[Path]) -> dict[str, str]:
    """clip name -> train/val/test: the run's splits.csv, the data's split, or train_size."""
    if splits_file is not None and splits_file.is_file():
        return collections.read_splits(splits_file, clips)
    seed = config.trainer.seed
    if any(clip.split for clip in clips.clips) or config.data.fold != "all":
        assignment = collections.assign_splits(clips, seed=seed, fold=config.data.fold)
    else:
        from admlc_tf.data.vectors.splits import random_split, train_validation_split

        n = len(clips.clips)
        train_idx, test_idx = random_split(n, train_count(config, n), seed=seed)
        fit_idx, val_idx = train_validation_split(
            train_idx, config.vectors.validation_fraction, seed=seed)
        split = np.empty(n, dtype=object)
        split[fit_idx], split[val_idx], split[test_idx] = "train", "val", "test"
        assignment = {clip.name: split[i] for i, clip in enumerate(clips.clips)}
    collections.check_assignment(assignment, clips.source)
    return assignment


def prepare(config: ExperimentConfig, run_dir: Optional[Path] = None,
            verbose: bool = True) -> ImageData:
    """Reads the images, assigns splits, and extracts (or reuses) the backbone features."""
    from admlc_tf.backbones import Extractor
    from admlc_tf.data.generated.image_demo import ensure_image_demo
    from admlc_tf.data.image_cache import CachedMatrix, build_image_cache
    from admlc_tf.data.layouts.registry import load_image_collection

    data = config.data
    data_dir = data.data_dir
    if data_dir is None and data.labels_file is None:
        data_dir = ensure_image_demo()
    clips = load_image_collection(data_dir if data.labels_file is None else None,
                                  layout=data.layout, labels_file=data.labels_file,
                                  image_dir=data.audio_dir)
    assignment = _assign(config, clips, Path(run_dir) / collections.SPLITS_FILE if run_dir else None)
    vocabulary = collections.choose_vocabulary(clips, assignment,
                                               list(data.labels) if data.labels else None)
    labels = collections.label_matrix(clips.clips, vocabulary)
    members = {s: np.array([i for i, c in enumerate(clips.clips) if assignment[c.name] == s],
                           dtype=np.int64) for s in collections.SPLITS}
    image = config.images
    extractor = Extractor(image.backbone, image.backbone_weights, image.image_size)
    cache_path = build_image_cache([(c.name, c.path) for c in clips.clips], extractor,
                                   cache_dir=data.cache_dir, batch_size=image.extract_batch,
                                   verbose=verbose)
    # The data folder names the data set in reports and the protocol's table.
    source = Path(clips.source) if clips.layout == "cub" else Path(clips.source).parent
    dataset = ImageDataset(CachedMatrix(cache_path), labels, vocabulary, source, cache_path,
                           [c.name for c in clips.clips])
    test, val = members["test"], members["val"]
    if not len(test):  # check_assignment: val or test exists; score on val then
        test, val = val, np.array([], dtype=np.int64)
    return ImageData(dataset, members["train"], test, val if len(val) else None,
                     assignment=assignment, extractor=extractor)


class ImageRecipe(VectorRecipe):
    """One Table 2 model on backbone features of images, exported with an image front end."""

    multi_worker = False

    @staticmethod
    def protocol() -> "ImageProtocolRecipe":
        return ImageProtocolRecipe()

    @staticmethod
    def default_config(*, with_data: bool, paper: bool) -> ExperimentConfig:
        """The generated shapes set without data (`demo_config`); the field defaults (VGG-16's
        fc2 with ImageNet weights, the paper's setting) with data."""
        if paper:
            return paper_defaults("images")
        return measured_critic(ExperimentConfig(task="images") if with_data else demo_config())

    @staticmethod
    def export_name(config: ExperimentConfig) -> str:
        return f"images-{config.model_name}"  # its export is not the features task's

    def fit(self, config, data: ImageData, strategy, run_dir, verbose, build_predictor,
            restore_dir):
        from admlc_tf import thresholds

        fitted = super().fit(config, data, strategy, run_dir, verbose, build_predictor,
                             restore_dir)
        fitted.thresholds = thresholds.of_vector_run(
            data.dataset.label_names, fitted.extra["report"].get("thresholding", {}),
            config.vectors.threshold)
        return fitted

    def validate(self, config):
        validate(config)

    def prepare(self, config, run_dir, verbose) -> ImageData:
        return prepare(config, run_dir, verbose)

    def run_files(self, data: ImageData) -> dict:
        return {collections.SPLITS_FILE: lambda path: collections.write_splits(path,
                                                                               data.assignment)}

    def export(self, config, data: ImageData, fitted):
        from admlc_tf.backbones import ImageFrontEnd
        from admlc_tf.serving.export import export_predictor

        spec = fitted.trainer.task.spec
        return export_predictor(spec.predictor, base_dir=config.export_dir, name=config.name,
                                label_names=data.dataset.label_names,
                                metadata={"config": config.to_dict()}, output=spec.output,
                                front_end=ImageFrontEnd(data.extractor),
                                splits=collections.splits_text(data.assignment),
                                thresholds=fitted.thresholds)


class ImageProtocolRecipe(ProtocolRecipe):
    """The Table 2 protocol on the backbone features of an image folder (its own r-splits)."""

    def validate(self, config):
        validate(config)

    def prepare(self, config, run_dir, verbose) -> ImageData:
        return prepare(config, run_dir, verbose)

    def run_files(self, data: ImageData) -> dict:
        return {}
