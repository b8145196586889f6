"""Real recordings: plain vs AD, with and without augmentation, over seeds, beside a linear
baseline (log-mel mean/std + one-vs-rest logistic regression).

    python benchmarks/real_audio_study.py                   # builds the set if needed, 3 seeds
    python benchmarks/real_audio_study.py --seeds 5 --set predictor.dropout=0.3
    python benchmarks/real_audio_study.py --tiny            # CI smoke: the numbers mean nothing

The set comes from `benchmarks/real_audio.py build` (real recordings from Debian packages,
development and evaluation from different recordings). Every system trains with the defaults a
user gets from `python train.py --data-dir DIR` (`ExperimentConfig()`), varied only in
`loss.adversarial` and augmentation (`augment.*` on as configured, or all off), each `--set`
override applied to all. Measures on the test split (threshold-free: mean per-label EER, AUC,
mAP, ranking loss); early stopping watches the `val` split. For AD runs the critic's hardness
cue is measured: the AUC with which the trained critic ranks the predictor's own outputs
rounded to 0/1 above the same outputs left soft, on validation clips (0.5: the critic ignores
hardness; 1: hardness alone tells it a pair is real).

Writes `benchmarks/real_audio_study.json` and `.md` (or `--out`).
"""

from __future__ import annotations

import argparse
import copy
import dataclasses
import datetime
import json
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Optional, Sequence

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
HERE = Path(__file__).resolve().parent
sys.path[:0] = [str(HERE.parent), str(HERE)]

import numpy as np  # noqa: E402

import real_audio  # noqa: E402
from reproduce import compare, light_mode, mean_std, measures  # noqa: E402
from run import machine_info  # noqa: E402

DEFAULT_SEEDS = 3
REPORTED = ("mean_eer", "mean_auc", "map", "ranking_loss")


def parse_overrides(items: Sequence[str]) -> list[tuple[str, str, object]]:
    """`section.field=value` -> (section, field, value parsed as JSON, else the text)."""
    parsed = []
    for item in items:
        key, _, text = item.partition("=")
        section, _, field = key.partition(".")
        try:
            value = json.loads(text)
        except json.JSONDecodeError:
            value = text
        parsed.append((section, field, tuple(value) if isinstance(value, list) else value))
    return parsed


def base_config(data_dir: Path, cache_dir: Path, overrides, tiny: bool):
    from admlc_tf.recipes.audio import data_dir_config

    config = data_dir_config()  # what `train.py --data-dir` starts from
    config.data.data_dir, config.data.cache_dir = str(data_dir), str(cache_dir)
    if tiny:
        config.predictor.conv_filters, config.predictor.gru_units = (4,), (6,)
        config.predictor.dense_units, config.trainer.epochs = 8, 2
        config.trainer.batch_size = config.trainer.critic_batch = 8
        config.trainer.critic_pretrain_steps = 2
    for section, field, value in overrides:
        target = getattr(config, section)
        if not hasattr(target, field):
            raise SystemExit(f"--set {section}.{field}: no such config field")
        setattr(target, field, value)
    return config


def variants(config, arms: str = "both") -> list[tuple[str, object]]:
    """(name, config): plain and AD, each with the configured augmentation and/or with none."""
    from admlc_tf.config import AugmentConfig

    out = []
    augmented = config.augment if config.augment.active else AugmentConfig(
        spec_augment=True, mixup=0.3, gain_db=6.0, shift_seconds=1.0)
    chosen = {"both": ("no augmentation", "augmentation"), "none": ("no augmentation",),
              "augmentation": ("augmentation",)}[arms]
    for aug_name, augment in (("no augmentation", AugmentConfig(spec_augment=False)),
                              ("augmentation", augmented)):
        if aug_name not in chosen:
            continue
        for adversarial in (False, True):
            c = copy.deepcopy(config)
            c.loss.adversarial, c.augment = adversarial, copy.deepcopy(augment)
            out.append((f"{'AD' if adversarial else 'plain'}, {aug_name}", c))
    return out


def hardness_auc(trainer, rows) -> Optional[float]:
    """AUC of the critic scoring rounded predictions above the same predictions left soft,
    on the first segment of each validation clip."""
    import h5py
    import tensorflow as tf
    from sklearn.metrics import roc_auc_score

    if trainer.critic is None:
        return None
    with h5py.File(rows.cache_path, "r") as f:
        x = np.stack([rows.segments(i, f)[0] for i in range(len(rows))])
    p = tf.sigmoid(trainer.predictor(x, training=False)).numpy()
    hard = np.round(p)
    score = lambda y: trainer.critic({"features": x, "labels": y}, training=False).numpy()[:, 0]
    s_soft, s_hard = score(p), score(hard)
    return float(roc_auc_score(np.r_[np.zeros(len(p)), np.ones(len(p))], np.r_[s_soft, s_hard]))


def run_one(config, data) -> dict:
    from admlc_tf.recipes.audio import AudioRecipe
    from admlc_tf.trainer import make_strategy

    fitted = AudioRecipe().fit(config, data, make_strategy(config.runtime), None, False, None,
                               None)
    trainer, validation, test = fitted.trainer, data.validation, data.test
    values, _ = measures(data.label_names, validation.labels, trainer.predict(validation),
                         test.labels, trainer.predict(test))
    result = {"measures": values, "hardness_auc": hardness_auc(trainer, validation),
              "early_stopping": trainer.early_stopping,
              "epochs": [h["epoch"] for h in fitted.history][-1:]}
    import keras

    keras.backend.clear_session()  # 12 runs in one process: drop each finished run's graphs
    return result


def summarise(runs: dict) -> dict:
    summary = {name: {m: mean_std([r["measures"][m] for r in rs]) for m in REPORTED}
               for name, rs in runs.items()}
    for name, rs in runs.items():
        cue = [r["hardness_auc"] for r in rs if r["hardness_auc"] is not None]
        if cue:
            summary[name]["hardness_auc"] = mean_std(cue)
        summary[name]["best_epoch"] = mean_std([r["early_stopping"].get("best_epoch")
                                                for r in rs])
    return summary


def cell(stat: dict) -> str:
    if not stat or stat.get("mean") is None:
        return "-"
    return f"{stat['mean']:.3f} ± {stat['std']:.3f}" if stat.get("std") is not None \
        else f"{stat['mean']:.3f}"


def describe_short(summary: dict) -> str:
    clips = summary["clips"]
    return (f"{clips['train']} train / {clips['val']} val / {clips['test']} test clips of 4 s, "
            f"labels {', '.join(summary['labels'])}; development and evaluation from different "
            "recordings" + (" (SYNTHETIC stand-ins)" if summary.get("synthetic_fallback")
                            or summary.get("tiny") else ""))


def markdown(result: dict) -> str:
    lines = [f"## Real recordings (`benchmarks/real_audio_study.py`, {result['date']})", "",
             f"Machine: {result['machine']['cpu_model']}, {result['machine']['usable_cores']} "
             f"usable cores; TensorFlow {result['machine']['tensorflow']}. Seeds "
             f"{result['seeds']}; {result['minutes']:.0f} min. Data: "
             f"{describe_short(result['data']['summary'])}.",
             f"Settings: {result['settings']}", "",
             "| system | EER ↓ | AUC ↑ | mAP ↑ | RL ↓ | critic hardness AUC | best epoch |",
             "|---|---|---|---|---|---|---|"]
    for name, s in result["summary"].items():
        lines.append(f"| {name} | " + " | ".join(cell(s[m]) for m in REPORTED)
                     + f" | {cell(s.get('hardness_auc', {}))} | {cell(s['best_epoch'])} |")
    b = result["baseline"]
    lines.append(f"| log-mel mean/std + logistic regression | {cell(b['mean_eer'])} | "
                 f"{cell(b['mean_auc'])} | {cell(b['map'])} | - | - | - |")
    lines += ["", "AD − plain, paired by seed (95% t interval):", ""]
    for aug, diff in result["differences"].items():
        parts = [f"{m} {d['mean']:+.3f} [{d['low']:+.3f}, {d['high']:+.3f}] ({v['verdict']})"
                 for m, v in diff.items() for d in [v["difference"]] if d["low"] is not None]
        lines.append(f"- {aug}: " + "; ".join(parts))
    return "\n".join(lines) + "\n"


C_GRID = (0.001, 0.01, 0.1, 1.0, 10.0)


def logistic_regression(scene, seed: int, validation_fraction: float, c: Optional[float]):
    """One-vs-rest logistic regression on standardised features, trained on the scene split's
    training part minus the validation part; `c` None picks C on the validation part's ranking
    loss."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.multiclass import OneVsRestClassifier
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    from admlc_tf.data.vectors import train_validation_split
    from admlc_tf.metrics import ranking_loss

    fit, val = train_validation_split(scene.train_idx, validation_fraction, seed=seed)
    x, y = scene.features, scene.labels.astype(int)

    def model(value):
        m = make_pipeline(StandardScaler(), OneVsRestClassifier(
            LogisticRegression(C=value, max_iter=2000)))
        return m.fit(x[fit], y[fit])

    if c is None:
        c = min(C_GRID, key=lambda v: ranking_loss(y[val], model(v).predict_proba(x[val])))
    m = model(c)
    values, _ = measures(scene.label_names, y[val], m.predict_proba(x[val]),
                         y[scene.test_idx], m.predict_proba(x[scene.test_idx]))
    return {"seed": seed, "C": c, "measures": values}


def scene_part(seeds: Sequence[int], tiny: bool) -> dict:
    """The features task's defaults (`train.py --task features`) on scene, plain and AD, beside
    one-vs-rest logistic regression (C = 1, as the protocol's peer, and C tuned)."""
    from admlc_tf.config import ExperimentConfig
    from reproduce import load_scene, run_scene, synthetic_scene, with_settings

    scene = synthetic_scene() if tiny else load_scene()
    config = ExperimentConfig(task="features", name="scene")
    if tiny:
        config.vectors.hidden_units, config.trainer.epochs = (16,), 2
        config.trainer.batch_size = config.trainer.critic_batch = 16
        config.trainer.critic_pretrain_steps = 2
    model = config.model_name
    runs: dict[str, list] = {}
    for seed in seeds:
        for adversarial in (False, True):
            name = f"{model} {'AD' if adversarial else 'plain'}"
            print(f"scene seed {seed}: {name}", flush=True)
            result = run_scene(with_settings(config, adversarial=adversarial, seed=seed), scene,
                               model)
            runs.setdefault(name, []).append({"seed": seed, "measures": result["measures"],
                                              "epochs": len(result["history"])})
        frac = config.vectors.validation_fraction
        runs.setdefault("logistic regression C=1", []).append(
            logistic_regression(scene, seed, frac, 1.0))
        runs.setdefault("logistic regression, C tuned", []).append(
            logistic_regression(scene, seed, frac, None))
    summary = {name: {m: mean_std([r["measures"][m] for r in rs]) for m in REPORTED}
               for name, rs in runs.items()}
    return {"model": model, "patience": config.trainer.patience, "summary": summary,
            "runs": runs, "synthetic": tiny}


def scene_markdown(part: dict) -> str:
    lines = ["", f"### Features task defaults on scene ({part['model']}, early stopping "
             f"patience {part['patience']})", "",
             "| system | EER ↓ | AUC ↑ | mAP ↑ | RL ↓ |", "|---|---|---|---|---|"]
    for name, s in part["summary"].items():
        lines.append(f"| {name} | " + " | ".join(cell(s[m]) for m in REPORTED) + " |")
    return "\n".join(lines) + "\n"


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data-dir", help="a set built by benchmarks/real_audio.py build "
                        "(default: build it into the cache)")
    parser.add_argument("--seeds", type=int, default=None, help=f"seeds ({DEFAULT_SEEDS})")
    parser.add_argument("--set", action="append", default=[], metavar="SECTION.FIELD=VALUE",
                        help="override a config field for every system (repeatable)")
    parser.add_argument("--out", help="output stem (default benchmarks/real_audio_study)")
    parser.add_argument("--tiny", action="store_true", help="CI smoke: tiny set and models")
    parser.add_argument("--arms", choices=("both", "augmentation", "none"), default="both",
                        help="audio: the systems with and without augmentation (default both)")
    parser.add_argument("--part", choices=("audio", "scene", "both"), default="both",
                        help="the real-recording audio study, the features defaults on scene, "
                        "or both (default)")
    args = parser.parse_args(argv)
    from admlc_tf.files import write_json_atomic, write_text_atomic

    start = time.time()
    if args.tiny:
        light_mode()  # smoke runs of a few steps: graph building dominates
    seeds = list(range(args.seeds or (2 if args.tiny else DEFAULT_SEEDS)))
    result = {"date": datetime.date.today().isoformat(), "machine": machine_info(),
              "tiny": args.tiny, "seeds": seeds}
    text = ""
    if args.part in ("audio", "both"):
        result["audio"] = audio_part(args, seeds, start)
        text += markdown({**result, **result["audio"], "minutes": (time.time() - start) / 60})
    if args.part in ("scene", "both"):
        result["scene"] = scene_part(seeds, args.tiny)
        text += scene_markdown(result["scene"])
    result["minutes"] = (time.time() - start) / 60
    stem = Path(args.out) if args.out else HERE / ("real_audio_study_tiny" if args.tiny
                                                   else "real_audio_study")
    write_json_atomic(stem.with_suffix(".json"), result)
    write_text_atomic(stem.with_suffix(".md"), text)
    print(text)
    return 0


def audio_part(args, seeds: Sequence[int], start: float) -> dict:
    from admlc_tf.data import audio

    scratch = Path(tempfile.mkdtemp(prefix="real-audio-study-"))
    if args.data_dir:
        data_dir = Path(args.data_dir)
    elif args.tiny:  # stand-in sounds: CI has no business downloading 470 MB of packages
        data_dir = real_audio.write_set(scratch / "set", real_audio.synthetic_sources(), seed=0,
                                        n_dev=40, n_eval=16)
    else:
        data_dir = real_audio.build(str(real_audio.default_set_dir()), seed=0,
                                    n_dev=real_audio.N_DEV, n_eval=real_audio.N_EVAL, tiny=False)
    data_dir = Path(data_dir)
    config = base_config(data_dir, scratch / "features", parse_overrides(args.set), args.tiny)
    data = audio.prepare(config, verbose=False)
    runs: dict[str, list] = {}
    for seed in seeds:
        for name, variant in variants(config, args.arms):
            variant.trainer.seed = seed
            print(f"[{(time.time() - start) / 60:5.1f} min] seed {seed}: {name}", flush=True)
            runs.setdefault(name, []).append({"seed": seed, **run_one(variant, data)})
    baseline = real_audio.baseline(str(data_dir), seeds=seeds[:1], quiet=True)
    test = baseline["runs"][0]["test"]
    differences = {aug: {m: v for m, v in compare(runs[f"plain, {aug}"],
                                                  runs[f"AD, {aug}"]).items() if m in REPORTED}
                   for aug in ("no augmentation", "augmentation") if f"AD, {aug}" in runs}
    return {
        "data": {"dir": str(data_dir), "summary": real_audio.describe(data_dir)},
        "settings": {"base": "data_dir_config() (the train.py --data-dir defaults)",
                     "overrides": args.set,
                     "augmentation": dataclasses.asdict(variants(config)[-1][1].augment),
                     "arms": args.arms},
        "summary": summarise(runs), "differences": differences,
        "baseline": {"mean_eer": {"mean": test["mean_eer"]},
                     "mean_auc": {"mean": float(np.mean([v for v in test["auc"].values()
                                                         if v is not None]))},
                     "map": {"mean": test["map"]}, "C": baseline["runs"][0]["C"]},
        "runs": runs}


if __name__ == "__main__":
    sys.exit(main())
