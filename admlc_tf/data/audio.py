"""The prepared data of an audio run: any supported layout -> splits, labels, cached features.

CHiME-Home keeps its published protocol (development folds, the evaluation list, the seven
letters). Every other layout (`admlc_tf.data.layouts.registry`) is a `Collection` of clips
with label names: its splits are the data's own, completed by stratified folds, and written as
`splits.csv` so that a resumed run and `evaluate.py` use exactly the same assignment; its label
vocabulary comes from the data.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Optional, Sequence

import numpy as np

from admlc_tf.config import ExperimentConfig
from admlc_tf.data.layouts import chime_home, collection as collections
from admlc_tf.data.cache import build_feature_cache, feature_statistics
from admlc_tf.data.pipeline import ClipRows
from admlc_tf.errors import DataError
from admlc_tf.features import silence_value


@dataclasses.dataclass
class AudioData:
    """Every clip of a data set, its labels and features, and its named splits.

    Attributes:
      source: the data folder.
      layout: "chime-home", "fsd50k", "desed" or "csv".
      label_names: the label vocabulary, the order of every label vector.
      cache_path: the HDF5 feature cache of every clip.
      labels: `[n_clips, n_labels]` multi-hot labels in cache order.
      members: split name -> clip indices (CHiME-Home: `chime_home.SPLITS`; else train, val,
        test).
      train_split, validation_split, test_split: the run's splits: trained on, monitored every
        epoch, and scored at the end (CHiME-Home monitors its test split, as the paper does).
      assignment: clip name -> split, written as splits.csv (None for CHiME-Home).
      feature_mean, feature_variance: `[bands]` statistics of the training clips' frames.
      config: the experiment the rows are cut for (segment length, scoring hop and pooling).
      initial: with `trainer.init_from`, the `admlc_tf.finetune.Source` to start from.
    """

    source: Path
    layout: str
    label_names: list[str]
    cache_path: Path
    labels: np.ndarray
    members: dict[str, np.ndarray]
    train_split: str
    validation_split: Optional[str]
    test_split: str
    assignment: Optional[dict[str, str]]
    feature_mean: np.ndarray
    feature_variance: np.ndarray
    config: ExperimentConfig
    initial: Optional[object] = None

    def rows(self, split: str) -> ClipRows:
        """The clips of a named split, cut and scored as the export's waveform signature does."""
        if split not in self.members:
            raise DataError(f"split {split} is not one of {', '.join(self.members)} of "
                            f"{self.source}: pick one of those")
        index = self.members[split]
        if not len(index):
            raise DataError(f"split {split} of {self.source} has no clips: pick another split")
        features, serving = self.config.features, self.config.serving
        hop = int(round(serving.hop_seconds * features.sample_rate)) // features.hop_length
        return ClipRows(self.cache_path, index, self.labels[index],
                        segment_frames=features.num_frames, hop_frames=max(1, hop),
                        pooling=serving.pooling,
                        pad_value=silence_value(features))

    @property
    def monitoring_only(self) -> bool:
        """True when the per-epoch validation scores are computed on the test split itself
        (CHiME-Home's evaluation list or fold without `validation_fold`): they are for watching
        training, and nothing may be chosen on them."""
        return self.validation_split == self.test_split

    @property
    def train(self) -> ClipRows:
        return self.rows(self.train_split)

    @property
    def validation(self) -> Optional[ClipRows]:
        return self.rows(self.validation_split) if self.validation_split else None

    @property
    def test(self) -> ClipRows:
        return self.rows(self.test_split)

    def write_splits(self, path: str | Path) -> None:
        if self.assignment is not None:
            collections.write_splits(path, self.assignment)


def prepare(config: ExperimentConfig, *, splits_file: Optional[str | Path] = None,
            label_names: Optional[Sequence[str]] = None, verbose: bool = True) -> AudioData:
    """Reads the data set, assigns splits, builds or reuses the feature cache.

    Args:
      config: `data` says where and how to read; `features` how to cut; `trainer.seed` seeds the
        stratified splits.
      splits_file: a splits.csv to follow instead of assigning splits (a resumed run, an
        export's assets).
      label_names: a fixed vocabulary (an export's labels.txt); labels outside it are dropped.
      verbose: progress of the feature extraction.
    """
    from admlc_tf.data.generated.demo import ensure_demo_dataset
    from admlc_tf.data.layouts.registry import detect_layout, load_collection

    data = config.data
    if data.data_dir is None and data.labels_file is None:
        source, layout = ensure_demo_dataset(), "chime-home"
    else:
        source = Path(data.data_dir or Path(data.labels_file).parent).expanduser()
        layout = data.layout or ("csv" if data.labels_file else detect_layout(source))
    if layout == "chime-home":
        return _prepare_chime_home(config, source, verbose)
    if data.validation_fold is not None:
        raise DataError(f"data.validation_fold is for CHiME-Home; {source} has a {layout} layout: "
                        "use its val split, or data.fold with a fold column")
    clips = load_collection(source if data.data_dir else None, layout=layout,
                            labels_file=data.labels_file, audio_dir=data.audio_dir)
    if splits_file is not None and Path(splits_file).is_file():
        assignment = collections.read_splits(splits_file, clips)
    else:
        assignment = collections.assign_splits(clips, seed=config.trainer.seed, fold=data.fold)
    collections.check_assignment(assignment, clips.source)
    wanted = label_names or data.labels
    vocabulary = collections.choose_vocabulary(clips, assignment,
                                               list(wanted) if wanted else None)
    ordered = [c for c in clips.clips if c.name in assignment]
    labels = collections.label_matrix(ordered, vocabulary)
    members = {s: np.array([i for i, c in enumerate(ordered) if assignment[c.name] == s],
                           dtype=np.int64) for s in collections.SPLITS}
    return _with_features(config, [(c.name, c.path) for c in ordered], source=clips.root,
                          layout=clips.layout, label_names=vocabulary, labels=labels,
                          members=members, train_split="train",
                          validation_split="val" if len(members["val"]) else None,
                          test_split="test" if len(members["test"]) else "val",
                          assignment={c.name: assignment[c.name] for c in ordered},
                          verbose=verbose)


def _prepare_chime_home(config: ExperimentConfig, source: Path, verbose: bool) -> AudioData:
    everything = chime_home.load_all(source, config.features.sample_rate)
    train_split, test_split = chime_home.split_names(config.data.fold)
    validation_split = test_split  # monitoring only: nothing is chosen on it
    if config.data.validation_fold is not None:
        if config.data.fold != "all":
            raise DataError("data.validation_fold holds a development fold out of training: "
                            "use it with data.fold all")
        train_split, validation_split = chime_home.split_names(str(config.data.validation_fold))
    members = {s: np.array([i for i, c in enumerate(everything) if chime_home.in_split(c, s)],
                           dtype=np.int64) for s in chime_home.SPLITS}
    return _with_features(config, [(c.name, c.wav_path) for c in everything],
                          source=chime_home.resolve_root(source), layout="chime-home",
                          label_names=list(chime_home.LABELS),
                          labels=np.stack([c.labels for c in everything]), members=members,
                          train_split=train_split, validation_split=validation_split,
                          test_split=test_split, assignment=None, verbose=verbose)


def _with_features(config: ExperimentConfig, clips, *, verbose: bool, **fields) -> AudioData:
    cache_path = build_feature_cache(clips, config=config.features,
                                     cache_dir=config.data.cache_dir, verbose=verbose)
    mean, variance = feature_statistics(cache_path, fields["members"][fields["train_split"]])
    return AudioData(cache_path=cache_path, feature_mean=mean, feature_variance=variance,
                     config=config, **fields)
