"""The embeddings task: labelled audio -> a pretrained backbone's cached clip embeddings -> the
Table 2 models, plain or with the critic.

`--task embeddings` reads any audio layout of the audio task (labels.csv, FSD50K, DESED; its
splits, folds and vocabulary rules), embeds every clip once with the backbone `--backbone`
names (`predictor.backbone`, `admlc_tf.data.embedders`: musicnn, the default, with
`--backbone-weights` mtt, msd, a checkpoint or random; yamnet with audioset, a yamnet.h5 or
random; frozen) into an HDF5 cache keyed on the clips, the backbone and a digest of its weights
(`admlc_tf.data.embedding_cache`), then fits one of the vector models on the embeddings exactly
as `--task images` fits them on image features (the critic's representation branch reads the
embeddings). The export is an audio export: the backbone's own front end, the backbone and the
fitted model in one graph on one segment (musicnn 3 s, YAMNet 3.855 s), so `predict.py`, the
`segments` signature, timelines and events work unchanged; `--tflite` adds its TFLite files.
"""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import numpy as np

from admlc_tf.config import ExperimentConfig
from admlc_tf.data.layouts import collection as collections
from admlc_tf.errors import AdmlcError
from admlc_tf.recipes.images import ImageData, ImageDataset, ImageProtocolRecipe, ImageRecipe
from admlc_tf.recipes.vectors import measured_critic, paper_defaults, validate_fitting


def validate(config: ExperimentConfig) -> None:
    from admlc_tf.data import embedders
    from admlc_tf.data.layouts.registry import LAYOUTS

    if config.data.data_dir is None and config.data.labels_file is None:
        raise AdmlcError("task embeddings embeds your audio: pass --data-dir (or --labels-file)")
    if config.data.layout is not None and config.data.layout not in LAYOUTS:
        raise AdmlcError(f"data.layout {config.data.layout} is not known: use one of "
                         f"{', '.join(LAYOUTS)}")
    if config.data.layout == "chime-home":
        raise AdmlcError("task embeddings reads labels.csv, FSD50K and DESED layouts, not "
                         "chime-home: use the audio task for CHiME-Home")
    validate_fitting(config)
    embedders.check(config.predictor.backbone, config.predictor.backbone_weights)


def prepare(config: ExperimentConfig, run_dir: Optional[Path] = None,
            verbose: bool = True) -> ImageData:
    """Reads the clips, assigns splits as the audio task does, and embeds (or reuses) them."""
    from admlc_tf.data.embedders import build_embedder
    from admlc_tf.data.embedding_cache import build_embedding_cache
    from admlc_tf.data.image_cache import CachedMatrix
    from admlc_tf.data.layouts.registry import detect_layout, load_collection

    data = config.data
    source = Path(data.data_dir or Path(data.labels_file).parent).expanduser()
    layout = data.layout or ("csv" if data.labels_file else detect_layout(source))
    if layout == "chime-home":
        raise AdmlcError(f"{source} is a CHiME-Home folder: task embeddings reads labels.csv, "
                         "FSD50K and DESED layouts; use the audio task for it")
    clips = load_collection(source if data.data_dir else None, layout=layout,
                            labels_file=data.labels_file, audio_dir=data.audio_dir)
    splits = Path(run_dir) / collections.SPLITS_FILE if run_dir else None
    if splits is not None and splits.is_file():
        assignment = collections.read_splits(splits, clips)
    else:
        assignment = collections.assign_splits(clips, seed=config.trainer.seed, fold=data.fold)
    collections.check_assignment(assignment, clips.source)
    vocabulary = collections.choose_vocabulary(clips, assignment,
                                               list(data.labels) if data.labels else None)
    ordered = [c for c in clips.clips if c.name in assignment]
    labels = collections.label_matrix(ordered, vocabulary)
    members = {s: np.array([i for i, c in enumerate(ordered) if assignment[c.name] == s],
                           dtype=np.int64) for s in collections.SPLITS}
    embedder = build_embedder(config.predictor.backbone, config.predictor.backbone_weights)
    cache_path = build_embedding_cache([(c.name, c.path) for c in ordered], embedder,
                                       cache_dir=data.cache_dir, verbose=verbose)
    dataset = ImageDataset(CachedMatrix(cache_path), labels, vocabulary, Path(clips.root),
                           cache_path, [c.name for c in ordered])
    test, val = members["test"], members["val"]
    if not len(test):  # check_assignment: val or test exists; score on val then
        test, val = val, np.array([], dtype=np.int64)
    return ImageData(dataset, members["train"], test, val if len(val) else None,
                     assignment={c.name: assignment[c.name] for c in ordered}, extractor=embedder)


class EmbeddingRecipe(ImageRecipe):
    """One Table 2 model on a backbone's clip embeddings, exported as an audio model."""

    @staticmethod
    def protocol() -> "EmbeddingProtocolRecipe":
        return EmbeddingProtocolRecipe()

    @staticmethod
    def default_config(*, with_data: bool, paper: bool) -> ExperimentConfig:
        if paper:
            return paper_defaults("embeddings")
        return measured_critic(ExperimentConfig(task="embeddings"))

    @staticmethod
    def export_name(config: ExperimentConfig) -> str:
        backbone = config.predictor.backbone
        # musicnn's keeps the name it had before there were other backbones
        return f"embeddings-{'' if backbone == 'musicnn' else backbone + '-'}{config.model_name}"

    def validate(self, config):
        validate(config)

    def prepare(self, config, run_dir, verbose) -> ImageData:
        return prepare(config, run_dir, verbose)

    def export(self, config, data: ImageData, fitted):
        from admlc_tf.serving.export import export_predictor

        spec = fitted.trainer.task.spec
        return export_predictor(data.extractor.segment_model(spec.predictor),
                                base_dir=config.export_dir, name=config.name,
                                label_names=data.dataset.label_names,
                                metadata={"config": config.to_dict(),
                                          "embeddings": data.extractor.metadata()},
                                features=data.extractor.segment_features(),
                                output=spec.output, tflite=config.serving.tflite,
                                hop_seconds=config.serving.hop_seconds,
                                pooling=config.serving.pooling,
                                splits=collections.splits_text(data.assignment),
                                thresholds=fitted.thresholds)


class EmbeddingProtocolRecipe(ImageProtocolRecipe):
    """The Table 2 protocol on a backbone's clip embeddings (its own r-splits)."""

    def validate(self, config):
        validate(config)

    def prepare(self, config, run_dir, verbose) -> ImageData:
        return prepare(config, run_dir, verbose)
