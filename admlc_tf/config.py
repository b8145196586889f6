"""Experiment configuration: plain dataclasses, serialised to `<run_dir>/config.json`.

Every command-line flag of `train.py` maps to exactly one field here.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Optional

from admlc_tf.files import write_text_atomic


@dataclasses.dataclass
class FeatureConfig:
    """Log-mel filterbank (MFB) features, as in Xu et al. 2017.

    Attributes:
      sample_rate: audio rate in Hz; DCASE 2016 Task 4 uses the 16 kHz chunks.
      chunk_seconds: the training segment length: a shorter clip is zero-padded to it, a longer
        one is cropped at random in training and scored segment by segment otherwise.
      n_fft: STFT window length in samples (a periodic Hamming window).
      hop_length: STFT hop in samples.
      n_mels: number of mel bands.
      fmin: lowest mel band edge in Hz.
      fmax: highest mel band edge in Hz.
      log_offset: added to the mel power before the log, so silence stays finite.
      front_end: "logmel" (the above) or "musicnn": musicnn's own input (Hann window, centred
        frames, 96 Slaney bands, float16, `log10(10000 x + 1)`; `--model musicnn` sets it with
        n_mels 96 and 3 s chunks); the window, centring and compression fields above then do
        not apply. Or "yamnet": YAMNet's own input (n_fft is its 400-sample Hann window, in a
        512-point FFT; the STFT magnitude, not its power; TensorFlow's HTK mel bands;
        `--model yamnet` sets it with n_mels 64, 125-7500 Hz, log_offset 0.001 and 3.855 s
        chunks).
    """

    sample_rate: int = 16000
    chunk_seconds: float = 4.0
    n_fft: int = 512
    hop_length: int = 256
    n_mels: int = 40
    fmin: float = 0.0
    fmax: float = 8000.0
    log_offset: float = 1e-6
    front_end: str = "logmel"

    @property
    def num_samples(self) -> int:
        return int(round(self.sample_rate * self.chunk_seconds))

    @property
    def num_frames(self) -> int:
        """Frames per chunk: `1 + (samples - n_fft) // hop` uncentred (logmel), `1 + samples //
        hop` centred (musicnn)."""
        if self.front_end == "musicnn":
            return 1 + self.num_samples // self.hop_length
        return 1 + (self.num_samples - self.n_fft) // self.hop_length


@dataclasses.dataclass
class DataConfig:
    """Where the data comes from and how it is split.

    Attributes:
      data_dir: a labelled audio folder: CHiME-Home's `chime_home` (or its parent), the folder
        holding `FSD50K.ground_truth/`, a DESED root, or a folder with `labels.csv`; None uses
        the generated demo set. Task images: a folder with labels.csv, or CUB-200-2011 (the
        folder holding CUB_200_2011/ and attributes.txt).
      layout: "chime-home", "fsd50k", "desed" or "csv" (task images: "csv" or "cub"); None
        detects it from the folder.
      labels_file: a weak-label TSV (`filename<TAB>event_labels`) or a `labels.csv` anywhere,
        read instead of the layout's own list.
      audio_dir: the audio (task images: the images) of `labels_file` (default: its folder).
      labels: the labels to learn, in this order (a subset or a fixed order); None: FSD50K's
        vocabulary, or the sorted labels of the training split.
      fold: CHiME-Home: "1".."5" trains on the other development folds and validates on that
        fold; "all" trains on the whole development set and tests on the evaluation list.
        Other layouts: "K" validates on the clips of `fold` K (a `fold` column); "all" uses
        the data's split or a stratified one.
      validation_fold: CHiME-Home with fold "all": train on the development set minus this
        fold and validate on it (per-epoch scores, and anything chosen on validation data),
        leaving the evaluation list for the final score alone. None: the per-epoch scores are
        computed on the evaluation list and are for monitoring only.
      cache_dir: where the HDF5 feature caches live; None means `$ADMLC_DATA_HOME/features`
        (default `~/.cache/admlc-tf/features`).
    """

    data_dir: Optional[str] = None
    layout: Optional[str] = None
    labels_file: Optional[str] = None
    audio_dir: Optional[str] = None
    labels: Optional[tuple[str, ...]] = None
    fold: str = "all"
    validation_fold: Optional[int] = None
    cache_dir: Optional[str] = None


@dataclasses.dataclass
class PredictorConfig:
    """The audio predictors' sizes: the CGRNN (`admlc_tf.predictors.cgrnn`) and the attention
    CRNN (`admlc_tf.predictors.crnn_attention`, which has no windows and uses the rest).

    Attributes:
      window_frames: frames per analysis window (33 in Xu et al.).
      window_hop: hop between windows, in frames.
      conv_filters: filters of each gated convolution block; one block per entry.
      gru_units: units of each bidirectional GRU layer; one layer per entry.
      dense_units: the dense layer before the output layer.
      dropout: dropout rate after the dense layer.
      backbone_weights: `--model musicnn`: "mtt" or "msd" (the installed musicnn wheel's
        checkpoints), a checkpoint folder or prefix, or "random" (seeded, for tests).
        `--model yamnet`: "audioset" (the published yamnet.h5, fetched into Keras' cache; set
        with the model unless given), a yamnet.h5 path, or "random". `--task embeddings`: the
        weights of `backbone`, whose default (mtt, audioset) follows it unless given.
      backbone: `--task embeddings`: the audio backbone whose clip embeddings are cached, a
        name of `admlc_tf.data.embedders.EMBEDDERS`: "musicnn" or "yamnet". (The audio task
        names its backbone with `model`.)
    """

    window_frames: int = 33
    window_hop: int = 10
    conv_filters: tuple[int, ...] = (64, 64)
    gru_units: tuple[int, ...] = (128, 128, 128)
    dense_units: int = 500
    dropout: float = 0.2
    backbone_weights: str = "mtt"
    backbone: str = "musicnn"


@dataclasses.dataclass
class CriticConfig:
    """The critic f_C(x, y): representation branch on x, fused with y by dense layers.

    Attributes:
      representation_units: the representation branch, one block per entry: conv filters for a
        `[frames, bands]` input, dense units for a feature vector.
      embedding_units: size of the compact representation of x.
      label_units: size of the dense embedding of the label vector before fusion.
      fusion_units: the dense fusion layers `h`; `g` then maps to one logit.
      dropout: dropout rate in the fusion layers.
    """

    representation_units: tuple[int, ...] = (32, 64)
    embedding_units: int = 64
    label_units: int = 32
    fusion_units: tuple[int, ...] = (64, 32)
    dropout: float = 0.0


@dataclasses.dataclass
class LossConfig:
    """Eq. (3): `L_P(y_hat, y) + lam * BCE(s_pred, 1)`.

    Attributes:
      supervised: the supervised loss L_P of a logits predictor: "ce", "warp", "pr", "bpmll" or
        "l2" (`admlc_tf.losses.SUPERVISED_LOSSES`).
      adversarial: train with the critic (ADMLC); False is the plain supervised baseline.
      lam: the weight lambda of the adversarial term.
      critic_mode: how the critic sees predictions and what it learns
        (`admlc_tf.critic_modes.MODES`): "paper" (Deng et al. 2019 exactly: soft predictions
        -> 0, hard truth -> 1), "bernoulli" / "threshold" (a 0/1 vector in place of y_hat with
        a straight-through gradient, Dong & Yang 2018), "gumbel" (a binary-concrete relaxed
        sample) or "value" (the critic regresses a quality of the pair, Gygli et al. 2017).
      critic_temperature: the "gumbel" relaxation's temperature.
      critic_quality: the "value" critic's target: "rank" (the example's correctly ordered
        label pairs) or "f1" (soft F1).
    """

    supervised: str = "ce"
    adversarial: bool = True
    lam: float = 0.1
    critic_mode: str = "paper"
    critic_temperature: float = 0.5
    critic_quality: str = "rank"


@dataclasses.dataclass
class TrainerConfig:
    """Algorithm 1 and the optimisation.

    Attributes:
      epochs: passes over the training split.
      batch_size: N, the GLOBAL predictor batch (split across replicas).
      critic_batch: M, the GLOBAL batch of ground-truth pairs for each critic step.
      critic_every: l; the critic steps when the step number k (1-based) is a multiple of l.
      critic_pretrain_steps: critic steps on compatible / incompatible pairs before Algorithm 1.
      flip_prob: in pre-training, the chance of flipping each label entry of an incompatible
        pair, on top of the one entry that is always flipped.
      optimizer: "adam" or "sgd" (plain gradient descent: its updates are linear in the
        gradient, which makes equivalence tests sensitive to any mis-scaled loss), for both
        models.
      learning_rate: learning rate of the predictor.
      critic_learning_rate: learning rate of the critic.
      seed: seeds weights, shuffling and pre-training pairs.
      checkpoint_every: steps between checkpoints (the last step is always saved).
      log_every: steps between TensorBoard scalars.
      init_from: an export version or a run folder whose predictor weights start this run (the
        output layer is new when the label set differs).
      freeze_epochs: with `init_from`, epochs during which only the new output layer trains.
      patience: early stopping: stop when the validation score has not improved for this many
        epochs and restore the best epoch's predictor weights before scoring and export
        (`epochs` is then the maximum); 0 trains every epoch and keeps the last weights. Only
        development-side validation data counts: a run that validates on its test split (CHiME-
        Home without `data.validation_fold`) trains every epoch.
      precision: the Keras dtype policy the models are built with: "float32", or for GPUs
        "mixed_float16" (with dynamic loss scaling; tensor-core GPUs) or "mixed_bfloat16"
        (Ampere and later). Variables and the output layers stay float32 either way.
    """

    epochs: int = 30
    batch_size: int = 100
    critic_batch: int = 100
    critic_every: int = 1
    critic_pretrain_steps: int = 100
    flip_prob: float = 0.1
    optimizer: str = "adam"
    learning_rate: float = 1e-3
    critic_learning_rate: float = 1e-3
    seed: int = 0
    checkpoint_every: int = 200
    log_every: int = 10
    init_from: Optional[str] = None
    freeze_epochs: int = 0
    patience: int = 10
    precision: str = "float32"


@dataclasses.dataclass
class AugmentConfig:
    """Training-only augmentation of the audio task, drawn from stateless seeds keyed by the run
    seed and each example's position in its stream (the same after a resume). Validation, test
    and the export never see it.

    Attributes:
      spec_augment: SpecAugment (Park et al. 2019): time and frequency masks on the log-mel
        segment, filled with the training mean of each band (zero after standardisation).
      time_masks: masks over time per segment.
      time_mask_frames: the widest time mask, in frames (each width is uniform in 0..this).
      freq_masks: masks over mel bands per segment.
      freq_mask_bands: the widest frequency mask, in bands.
      mixup: alpha of mixup (Zhang et al. 2018): each batch is mixed with the batch reversed,
        inputs and label vectors alike, with a weight drawn from Beta(alpha, alpha); 0 is off.
        The mix happens in the log-mel domain (logs of power, as in PANNs' implementation of
        mixup on log-mel inputs the mix is of features, not of waveforms). With the critic,
        its ground-truth pairs are mixed inputs with their mixed (soft) label vectors, and its
        predicted pairs are the predictor's output on the mixed inputs.
      gain_db: a random gain, uniform in +-gain_db decibels, per segment (0 is off).
      shift_seconds: a random circular time shift of each segment, uniform in
        +-shift_seconds (0 is off); a clip longer than a segment also gets a random crop.
    """

    spec_augment: bool = False
    time_masks: int = 2
    time_mask_frames: int = 20
    freq_masks: int = 2
    freq_mask_bands: int = 8
    mixup: float = 0.0
    gain_db: float = 0.0
    shift_seconds: float = 0.0

    @property
    def active(self) -> bool:
        return bool(self.spec_augment or self.mixup or self.gain_db or self.shift_seconds)


@dataclasses.dataclass
class RuntimeConfig:
    """Devices and the distribution strategy.

    Attributes:
      strategy: "auto" (multi-worker when the TF_CONFIG environment variable names a cluster,
        else mirrored), "mirrored" (every local GPU, or the CPU), "multi-worker"
        (MultiWorkerMirroredStrategy, configured by TF_CONFIG) or "one-device".
      devices: devices for MirroredStrategy, e.g. ["/cpu:0", "/cpu:1"]; None uses every GPU, or
        the CPU when there is none.
    """

    strategy: str = "auto"
    devices: Optional[list[str]] = None


@dataclasses.dataclass
class VectorConfig:
    """Feature-vector tagging (`--task features`; the paper's Table 2).

    Attributes:
      data_path: the data file: Mulan/MEKA `.arff`, `.npz`/`.h5` with X and Y, or `.mat`.
      labels_xml: Mulan's label XML for an `.arff` (default: beside it, same stem).
      hidden_units: hidden layers of the Deep-CPLST regressor, the WARP MLP and C2AE's Fx (the
        authors' demo uses 512, 512; Fe and Fd use one layer of the last width; BP-MLL has its
        own single layer).
      dropout: dropout after each hidden layer of Deep-CPLST and WARP.
      bpmll_hidden_fraction: BP-MLL's hidden width as a fraction of the input dimension.
      bpmll_loss: "bpmll" (pairwise exponential) or "l2".
      cplst_dims: Deep-CPLST's projection size k; 0 means 80% of the labels (rounded up), the
        largest of Chen & Lin's settings.
      c2ae_latent: C2AE's latent size; 0 means 80% of the labels (rounded up), the authors'
        reduction rate.
      c2ae_alpha: C2AE's alpha as in the authors' code: the output loss is weighted
        1/(5 alpha) (`DCCA_grad.m` divides its gradient by alpha, and `BR_error.m`'s gradient
        lacks the factor 5); 2.0 in their demo, i.e. a weight of 0.1.
      c2ae_lagrange: C2AE's weight of the orthogonality constraint ||X^T X - I||^2 +
        ||E^T E - I||^2 on the unnormalised batch Gram matrices (0.5 in `CORR_error.m`).
      test_path: a second file of the same labels and features to test on (e.g. Mulan's
        `-test.arff`); the run then trains on `data_path` (all of it, or `train_size` of it).
      train_size: r, examples drawn for training + validation (a fraction if below 1); the rest
        are the test set. None: the protocol draws half (r = 0.5), and one run trains on the
        whole file minus its validation part, testing on `test_path` (or, without one,
        reporting the validation part's scores, which chose the epoch and thresholds).
      validation_fraction: part of those r held out to tune thresholds.
      repeats: R, random splits of the protocol, seeds `trainer.seed + i`.
      threshold: how scores become label sets: "fixed" (0.5), "per_label" (each label's
        threshold tuned on the validation part for F1), or "top_k".
      top_k: k for "top_k".
    """

    data_path: Optional[str] = None
    labels_xml: Optional[str] = None
    test_path: Optional[str] = None
    hidden_units: tuple[int, ...] = (512,)
    dropout: float = 0.2
    bpmll_hidden_fraction: float = 0.2
    bpmll_loss: str = "bpmll"
    cplst_dims: int = 0
    c2ae_latent: int = 0
    c2ae_alpha: float = 2.0
    c2ae_lagrange: float = 0.5
    train_size: Optional[float] = None
    validation_fraction: float = 0.1
    repeats: int = 10
    threshold: str = "fixed"
    top_k: int = 3


@dataclasses.dataclass
class ImageConfig:
    """Image tagging (`--task images`): a pretrained backbone's features, then the Table 2 models.

    Attributes:
      backbone: a `keras.applications` network by id (`admlc_tf.backbones.BACKBONES`):
        "vgg16" (the paper: the 4,096-d fc2 layer), "efficientnetv2-b0" or "mobilenetv3small"
        (globally average-pooled).
      backbone_weights: "imagenet" (Keras downloads and caches them on first use), a path to a
        weights file for that network, or "random" (seeded; shows the pipeline, not the
        features' quality).
      image_size: images are resized to this square size; 0 means the backbone's own (224).
        VGG-16's fc2 with imagenet weights needs 224.
      extract_batch: images per backbone call while features are extracted (bounds memory).
    """

    backbone: str = "vgg16"
    backbone_weights: str = "imagenet"
    image_size: int = 0
    extract_batch: int = 32


@dataclasses.dataclass
class ServingConfig:
    """How the exported waveform signature tags clips of any length.

    Attributes:
      hop_seconds: hop between the training-length segments of a clip.
      pooling: "max" or "mean" of the segments' probabilities, per label.
      threshold_rule: how the end of an audio run chooses each label's threshold on its
        development-side validation split (never the test list), written to the export's
        `assets/thresholds.json`: "f1" (max F1) or "eer" (the equal-error point).
      tflite: also write the export as `model.tflite` and `model_int8.tflite`.
    """

    hop_seconds: float = 2.0
    pooling: str = "max"
    threshold_rule: str = "f1"
    tflite: bool = False


@dataclasses.dataclass
class ExperimentConfig:
    """One training run.

    Attributes:
      task: "audio" (labelled audio, EER), "features" (feature vectors, Table 2 models, F1),
        "images" (a folder of images -> backbone features -> the Table 2 models) or
        "embeddings" (labelled audio -> cached musicnn or YAMNet embeddings -> the Table 2
        models).
      model: the predictor, a name of `admlc_tf.predictors.registry.PREDICTORS` of the task's
        family: audio "cgrnn" or "crnn-attention"; features "deep-cplst", "warp", "bpmll" or
        "c2ae" (also for images). None: the task's default (`model_name`).
      name: model name; the predictor is exported to `<export_dir>/<name>/<version>/`.
      out_dir: run directory: config.json, checkpoints, TensorBoard logs, results.json.
      export_dir: base folder of exported SavedModels.
    """

    task: str = "audio"
    model: Optional[str] = None
    name: str = "cgrnn"
    out_dir: str = "runs/default"
    export_dir: str = "saved_models"
    data: DataConfig = dataclasses.field(default_factory=DataConfig)
    features: FeatureConfig = dataclasses.field(default_factory=FeatureConfig)
    predictor: PredictorConfig = dataclasses.field(default_factory=PredictorConfig)
    critic: CriticConfig = dataclasses.field(default_factory=CriticConfig)
    loss: LossConfig = dataclasses.field(default_factory=LossConfig)
    trainer: TrainerConfig = dataclasses.field(default_factory=TrainerConfig)
    augment: AugmentConfig = dataclasses.field(default_factory=AugmentConfig)
    runtime: RuntimeConfig = dataclasses.field(default_factory=RuntimeConfig)
    serving: ServingConfig = dataclasses.field(default_factory=ServingConfig)
    vectors: VectorConfig = dataclasses.field(default_factory=VectorConfig)
    images: ImageConfig = dataclasses.field(default_factory=ImageConfig)

    @property
    def model_name(self) -> str:
        """`model`, or the task's default predictor: cgrnn for audio, warp for features and
        images (chosen by measurement on scene: `benchmarks/real_audio_study.py --part
        scene`)."""
        return self.model or ("warp" if self.task in ("features", "images", "embeddings")
                              else "cgrnn")

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, values: dict) -> "ExperimentConfig":
        values = json.loads(json.dumps(values))  # a deep copy that migration may change
        old_model = values.get("vectors", {}).pop("model", None)
        if "model" not in values:  # written before `model` was one field for every task
            values["model"] = old_model if values.get("task") == "features" else None
        return _from_dict(cls, values)

    def save(self, path: str | Path) -> None:
        # Atomic: a run killed while saving it must not leave a config.json its resume refuses.
        write_text_atomic(path, json.dumps(self.to_dict(), indent=2) + "\n")

    @classmethod
    def load(cls, path: str | Path) -> "ExperimentConfig":
        return cls.from_dict(json.loads(Path(path).read_text()))


def _from_dict(cls, values: dict):
    fields = {f.name: f for f in dataclasses.fields(cls)}
    unknown = set(values) - set(fields)
    if unknown:
        raise ValueError(f"unknown {cls.__name__} field(s): {sorted(unknown)}")
    kwargs = {}
    for name, value in values.items():
        default = getattr(cls(), name)
        if dataclasses.is_dataclass(default):
            value = _from_dict(type(default), value)
        elif isinstance(default, tuple):
            value = tuple(value)
        kwargs[name] = value
    return cls(**kwargs)
