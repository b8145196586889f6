"""Real recordings: the critic modes (issue #21) against plain training, CE and WARP, with and
without augmentation, over seeds, beside a linear baseline (log-mel mean/std + one-vs-rest
logistic regression).

Full study (2 cores; one run of the `--data-dir` defaults measured ~2.5 min here, so the
estimates below are runs x 2.5 min on an otherwise idle machine; AD runs take longer than plain
ones, `value` most (its critic also learns from thresholded, flipped and smoothed pairs: on the
vector sets an AD value run took 2.4x a plain one), and a shared machine is slower still):

    python benchmarks/real_audio_study.py --only-systems plain,value   # screen: 2 losses x 2
        # arms x 2 systems x 5 seeds = 40 runs, ~1 h 40 min
    python benchmarks/real_audio_study.py --resume                     # the rest, resumed: all
        # modes of MODES (5) + plain = 6 systems x 2 losses x 2 arms x 5 seeds = 120 runs in
        # all, ~5 h from scratch (~3 h 20 min after the screen)
    python benchmarks/real_audio_study.py --report-only                # markdown from the JSON
    python benchmarks/real_audio_study.py --tiny --modes paper,value   # CI smoke: numbers mean
                                                                       # nothing

Cut off by a time limit, the same command with `--resume` continues where it stopped (every
finished (system, seed) run is in the JSON, rewritten atomically after each run with
`complete: false`; `complete: true` once every planned run is in it). `--only-systems`,
`--modes`, `--losses` and `--arms` choose a subset; `--seeds N` raises the count later with
`--resume`. Systems: `plain` and `AD <mode>` (`loss.critic_mode`, every mode of
`admlc_tf.critic_modes.MODES` by default) for each supervised loss (`--losses`, default
ce,warp) and arm (no augmentation / augmentation), with the user's `train.py --data-dir`
defaults (`data_dir_config()`) otherwise, each `--set` override applied to all. The set comes
from `benchmarks/real_audio.py build` (real recordings from Debian packages, development and
evaluation from different recordings; the default set is built if missing). Measures on the
test split: mean per-label EER, AUC, mAP, ranking loss, micro/macro F1 at per-label thresholds
tuned on `val` (which early stopping also watches). For AD runs, the critic's hardness AUC
(`Trainer.critic_hardness_auc` on `val`: 0.5 the critic ignores hardness, 1 hardness alone
tells it a pair is real).

Output (default stem `benchmarks/critic_study`, or `--out STEM`): `STEM.json` holds `settings`
(base, overrides, data), `invocations` (command, commit, runs trained and skipped of each
call: a resumed study may mix commits), `audio.runs` (system name -> per-seed runs with
`measures`, `hardness_auc`, `early_stopping`, `seconds`), `audio.summary` (mean ± sd per system
and measure), `audio.best_plain` (per loss, the plain system of lowest mean EER: the one the
critic must beat), `audio.differences` (each AD system against the plain run of its loss and
arm and against the best plain of its loss: the paired 95% t interval over seeds per measure,
from reproduce.py's `compare`) and `audio.baseline`; `STEM.md` the tables, regenerated from
the JSON. `--part scene` (or both) adds the features-task defaults on scene, plain and every
AD mode, beside logistic regression, in `scene`.
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
from typing import Callable, Optional, Sequence

if not __package__:  # `python benchmarks/real_audio_study.py`: siblings as `benchmarks.*`
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import numpy as np  # noqa: E402

from admlc_tf.cli import run_cli  # noqa: E402
from benchmarks import real_audio  # noqa: E402
from benchmarks.common import (HERE, code_commit, command_line, stamp,  # noqa: E402
                               write_json, write_text)
from benchmarks.reproduce import (_cell_difference, apply_mode, compare,  # noqa: E402
                                  light_mode, mean_std, measures, parse_modes, system_names)

DEFAULT_SEEDS = 5
LOSSES = ("ce", "warp")
ARMS = ("no augmentation", "augmentation")
REPORTED = ("mean_eer", "mean_auc", "map", "ranking_loss")
F1 = ("micro_f1@tuned", "macro_f1@tuned")
COMPARED = REPORTED + F1
SHORT = {"mean_eer": "EER ↓", "mean_auc": "AUC ↑", "map": "mAP ↑", "ranking_loss": "RL ↓",
         "micro_f1@tuned": "MiF1@t ↑", "macro_f1@tuned": "MaF1@t ↑"}


class UsageError(Exception):
    """Bad input: one line naming it and the fix, exit 2."""


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
        target = getattr(config, section, None)
        if target is None or not hasattr(target, field):
            raise UsageError(f"--set {section}.{field}: no such config field (see "
                             "admlc_tf/config.py)")
        setattr(target, field, value)
    return config


def augmented(config):
    """The augmentation arm's settings: the configured augmentation, or the measured default."""
    from admlc_tf.config import AugmentConfig

    return copy.deepcopy(config.augment) if config.augment.active else AugmentConfig(
        spec_augment=True, mixup=0.3, gain_db=6.0, shift_seconds=1.0)


def audio_systems(config, losses: Sequence[str], arms: Sequence[str],
                  systems: Sequence[str]) -> list[dict]:
    """One entry per (loss, arm, system): its name, fields and config (seed not yet set)."""
    from admlc_tf.config import AugmentConfig

    out = []
    for loss in losses:
        for arm in arms:
            for system in systems:
                c = copy.deepcopy(config)
                c.loss.supervised = loss
                c.augment = augmented(config) if arm == "augmentation" else AugmentConfig(
                    spec_augment=False)
                c.loss.adversarial = system != "plain"
                mode = system[3:] if c.loss.adversarial else None
                if mode:
                    apply_mode(c, mode)
                out.append({"name": f"{loss.upper()} {system}, {arm}", "loss": loss, "arm": arm,
                            "system": system, "mode": mode, "config": c,
                            "plain": f"{loss.upper()} plain, {arm}"})
    return out


def run_one(config, data, after: Optional[Callable] = None) -> dict:
    """Trains one audio system and measures it on the test split. `after(fitted, data)`, when
    given, adds its dict to the result before the session is cleared (an export, say: the
    pretrained study measures its cost)."""
    from admlc_tf.recipes.audio import AudioRecipe
    from admlc_tf.trainer import make_strategy

    fitted = AudioRecipe().fit(config, data, make_strategy(config.runtime), None, False, None,
                               None)
    trainer, validation, test = fitted.trainer, data.validation, data.test
    values, _ = measures(data.label_names, validation.labels, trainer.predict(validation),
                         test.labels, trainer.predict(test))
    result = {"measures": values, "hardness_auc": trainer.critic_hardness_auc(validation),
              "early_stopping": trainer.early_stopping,
              "epochs": [h["epoch"] for h in fitted.history][-1:]}
    if after is not None:
        result.update(after(fitted, data))
    import keras

    keras.backend.clear_session()  # many runs in one process: drop each finished run's graphs
    return result


# ------------------------------------------------------------------------------------------
# Summaries, all recomputed from the runs in the JSON (so resumed and partial studies agree).


def summarise(runs: dict, measures_: Sequence[str] = COMPARED) -> dict:
    summary = {}
    for name, rs in runs.items():
        summary[name] = {m: mean_std([r["measures"][m] for r in rs]) for m in measures_}
        cue = [r.get("hardness_auc") for r in rs if r.get("hardness_auc") is not None]
        if cue:
            summary[name]["hardness_auc"] = mean_std(cue)
        stopping = [r["early_stopping"].get("best_epoch") for r in rs if r.get("early_stopping")]
        if stopping:
            summary[name]["best_epoch"] = mean_std(stopping)
        summary[name]["seeds"] = sorted(r["seed"] for r in rs)
    return summary


def best_plain(runs: dict, info: dict) -> dict:
    """Per loss, the plain system of lowest mean EER over its seeds (ties: the later arm)."""
    out = {}
    for name, fields in info.items():
        if fields["system"] != "plain" or not runs.get(name):
            continue
        eer = mean_std([r["measures"]["mean_eer"] for r in runs[name]])["mean"]
        best = out.get(fields["loss"])
        if eer is not None and (best is None or eer <= best["mean_eer"]):
            out[fields["loss"]] = {"system": name, "mean_eer": eer}
    return out


def differences(runs: dict, info: dict, best: dict) -> dict:
    """Each AD system against the plain run of its loss and arm, and against the best plain
    system of its loss: per measure, reproduce.py's `compare` (paired by seed)."""
    out = {}
    for name, fields in info.items():
        if fields["system"] == "plain" or not runs.get(name):
            continue
        targets = [("plain, same arm", fields["plain"])]
        if fields["loss"] in best and best[fields["loss"]]["system"] != fields["plain"]:
            targets.append(("best plain", best[fields["loss"]]["system"]))
        for against, plain in targets:
            if not runs.get(plain):
                continue
            by_measure = {m: v for m, v in compare(runs[plain], runs[name]).items()
                          if m in COMPARED}
            out[f"{name} − {plain}"] = {"ad": name, "plain": plain, "against": against,
                                        "loss": fields["loss"], "arm": fields["arm"],
                                        "mode": fields["mode"], "measures": by_measure}
    return out


def refresh_audio(part: dict) -> None:
    runs, info = part["runs"], part["systems"]
    part["summary"] = summarise(runs)
    part["best_plain"] = best_plain(runs, info)
    part["differences"] = differences(runs, info, part["best_plain"])


# ------------------------------------------------------------------------------------------
# Markdown, from the JSON alone.


def cell(stat: Optional[dict]) -> str:
    if not stat or stat.get("mean") is None:
        return "-"
    return f"{stat['mean']:.3f} ± {stat['std']:.3f}" if stat.get("std") is not None \
        else f"{stat['mean']:.3f}"


def describe_short(summary: Optional[dict]) -> str:
    if not summary:
        return "a folder not built by benchmarks/real_audio.py"
    clips = summary["clips"]
    return (f"{clips['train']} train / {clips['val']} val / {clips['test']} test clips of 4 s, "
            f"labels {', '.join(summary['labels'])}; development and evaluation from different "
            "recordings" + (" (SYNTHETIC stand-ins)" if summary.get("synthetic_fallback")
                            or summary.get("tiny") else ""))


def system_table(summary: dict, measures_: Sequence[str], extra: bool) -> list[str]:
    head = "| system | " + " | ".join(SHORT[m] for m in measures_) + " |"
    if extra:
        head += " critic hardness AUC | best epoch | seeds |"
    lines = [head, "|---|" + "---|" * (len(measures_) + 3 * extra)]
    for name, s in summary.items():
        row = f"| {name} | " + " | ".join(cell(s.get(m)) for m in measures_) + " |"
        if extra:
            row += (f" {cell(s.get('hardness_auc'))} | {cell(s.get('best_epoch'))} | "
                    f"{len(s['seeds'])} |")
        lines.append(row)
    return lines


def difference_table(diffs: dict) -> list[str]:
    lines = ["| AD system | against | " + " | ".join(SHORT[m] for m in COMPARED) + " |",
             "|---|---|" + "---|" * len(COMPARED)]
    for d in diffs.values():
        n = d["measures"]["mean_eer"]["difference"]["n"]
        lines.append(f"| {d['ad']} | {d['plain']} ({d['against']}, {n} seeds) | " + " | ".join(
            _cell_difference(d["measures"][m]) for m in COMPARED) + " |")
    return lines


def audio_markdown(result: dict) -> list[str]:
    part = result["audio"]
    lines = [f"## Real recordings: critic modes (`benchmarks/real_audio_study.py`, "
             f"{result.get('started', result.get('date', ''))[:10]})", "",
             f"Machine: {result['machine']['cpu_model']}, {result['machine']['usable_cores']} "
             f"usable cores; TensorFlow {result['machine']['tensorflow']}. Seeds "
             f"{result['seeds']}; {result['minutes']:.0f} min of training in all"
             + ("" if result["complete"] else " (INCOMPLETE: resume with --resume)") + ". Data: "
             f"{describe_short(part['data']['summary'])}.",
             f"Settings: {json.dumps(result['settings'])}; augmentation arm: "
             f"{json.dumps(part.get('augmentation'))}", "",
             "Cells: mean ± sample sd over seeds, on the test split; F1 at per-label thresholds "
             "tuned on val (@t). Critic hardness AUC: how surely the critic ranks the rounded "
             "outputs above the same outputs left soft, on val (0.5 ignores hardness).", ""]
    lines += system_table(part["summary"], COMPARED, extra=True)
    b = part.get("baseline")
    if b:
        lines.append(f"| log-mel mean/std + logistic regression | {cell(b['mean_eer'])} | "
                     f"{cell(b['mean_auc'])} | {cell(b['map'])} | - | - | - | - | - | - |")
    if part["best_plain"]:
        lines += ["", "Best plain system per loss (lowest mean EER): " + "; ".join(
            f"{loss.upper()}: {v['system']}" for loss, v in part["best_plain"].items()) + "."]
    if part["differences"]:
        lines += ["", "AD − plain, paired by seed (95% t interval over seeds; bold ✓ / ✗: the "
                  "interval excludes 0 in AD's favour / against it):", ""]
        lines += difference_table(part["differences"])
    return lines


def scene_markdown(part: dict) -> list[str]:
    lines = ["", f"### Features task defaults on scene ({part['model']}, early stopping "
             f"patience {part['patience']})", ""]
    lines += system_table(part["summary"], REPORTED, extra=False)
    if part.get("differences"):
        lines += ["", "AD − plain, paired by seed:", ""]
        lines += difference_table(part["differences"])
    return lines


def markdown(result: dict) -> str:
    lines = []
    if "audio" in result:
        lines += audio_markdown(result)
    if "scene" in result:
        lines += scene_markdown(result["scene"])
    return "\n".join(lines) + "\n"


# ------------------------------------------------------------------------------------------
# The scene part: the features task's defaults, plain and every AD mode.


C_GRID = (0.001, 0.01, 0.1, 1.0, 10.0)


def logistic_regression(scene, seed: int, validation_fraction: float, c: Optional[float]):
    """One-vs-rest logistic regression on standardised features, trained on the scene split's
    training part minus the validation part; `c` None picks C on the validation part's ranking
    loss."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.multiclass import OneVsRestClassifier
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    from admlc_tf.data.vectors.splits import train_validation_split
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


def scene_systems(modes: Sequence[str], only: Optional[set]) -> list[str]:
    return [s for s in system_names(modes) if only is None or s in only]


def scene_part(study: "Study", seeds: Sequence[int], modes: Sequence[str],
               only: Optional[set], tiny: bool) -> None:
    from admlc_tf.config import ExperimentConfig
    from reproduce import load_scene, run_scene, synthetic_scene, with_settings

    config = ExperimentConfig(task="features", name="scene")
    if tiny:
        config.vectors.hidden_units, config.trainer.epochs = (16,), 2
        config.trainer.batch_size = config.trainer.critic_batch = 16
        config.trainer.critic_pretrain_steps = 2
    model = config.model_name
    part = study.result.setdefault("scene", {"runs": {}})
    part.update(model=model, patience=config.trainer.patience, synthetic=tiny)
    scene = []  # loaded on the first run to make

    def data():
        if not scene:
            scene.append(synthetic_scene() if tiny else load_scene())
        return scene[0]

    info = part.setdefault("systems", {})
    for seed in seeds:
        for system in scene_systems(modes, only):
            name = f"{model} {system}"
            info[name] = {"system": system, "loss": model, "arm": "scene",
                          "mode": None if system == "plain" else system[3:],
                          "plain": f"{model} plain"}
            mode = info[name]["mode"]

            def job(system=system, mode=mode):
                c = with_settings(config, adversarial=system != "plain", seed=seed,
                                  critic_mode=mode)
                r = run_scene(c, data(), model)
                return {"measures": r["measures"], "hardness_auc": r.get("hardness_auc"),
                        "epochs": len(r["history"])}
            study.run("scene", name, seed, job)
        for name, c in (("logistic regression C=1", 1.0), ("logistic regression, C tuned", None)):
            study.run("scene", name, seed, lambda c=c: logistic_regression(
                data(), seed, config.vectors.validation_fraction, c), trained=False)


def refresh_scene(part: dict) -> None:
    part["summary"] = summarise(part["runs"], REPORTED)
    part["differences"] = differences(part["runs"], part.get("systems", {}), {})


# ------------------------------------------------------------------------------------------
# The study: resumable, written after every run.


class Study:
    """Keeps the result, skips (part, system, seed) runs already in it, rewrites the JSON and
    markdown after every run."""

    def __init__(self, result: dict, stem: Path, planned: int):
        self.result, self.stem, self.planned = result, stem, planned
        self.trained = self.skipped = self.missing = 0
        self.started = time.time()

    def done(self, part: str, system: str, seed: int) -> bool:
        runs = self.result.get(part, {}).get("runs", {}).get(system, [])
        return any(r["seed"] == seed for r in runs)

    def run(self, part: str, system: str, seed: int, job: Callable[[], dict], *,
            trained: bool = True) -> None:
        if self.done(part, system, seed):
            self.skipped += 1
            return
        started = time.time()
        elapsed = (started - self.started) / 60
        print(f"[{elapsed:5.1f} min] {part} seed {seed}: {system}"
              + (f" ({self.trained + 1}/{self.planned} to train)" if trained else ""), flush=True)
        run = {"seed": seed, **job(), "seconds": round(time.time() - started, 1)}
        self.result[part]["runs"].setdefault(system, []).append(run)
        self.result[part]["runs"][system].sort(key=lambda r: r["seed"])
        self.result["minutes"] = self.result.get("minutes", 0.0) + (time.time() - started) / 60
        if trained:
            self.trained += 1
            self.result["trained_runs"] = self.result.get("trained_runs", 0) + 1
        self.save()

    def save(self) -> None:
        if "audio" in self.result:
            refresh_audio(self.result["audio"])
        if "scene" in self.result:
            refresh_scene(self.result["scene"])
        write_json(self.stem.with_suffix(".json"), self.result)
        write_text(self.stem.with_suffix(".md"), markdown(self.result))


def study_set(data_dir: Optional[str], tiny: bool, scratch: Path) -> Path:
    """The real-recording set a study runs on: `--data-dir`, stand-in sounds for `--tiny`, or
    the default set (built if missing)."""
    if data_dir:
        path = Path(data_dir).expanduser()
        if not (path / "labels.csv").is_file():
            raise UsageError(f"--data-dir {path}: no labels.csv there: build the set with "
                             f"python benchmarks/real_audio.py build {path}")
        return path
    if tiny:  # stand-in sounds: CI has no business downloading 470 MB of packages
        return Path(real_audio.write_set(scratch / "set", real_audio.synthetic_sources(),
                                         seed=0, n_dev=40, n_eval=16))
    return Path(real_audio.build(str(real_audio.default_set_dir()), seed=0,
                                 n_dev=real_audio.N_DEV, n_eval=real_audio.N_EVAL, tiny=False))


def audio_part(study: Study, args, seeds: Sequence[int], modes: Sequence[str],
               only: Optional[set]) -> None:
    from admlc_tf.data import audio

    scratch = Path(tempfile.mkdtemp(prefix="real-audio-study-"))
    data_dir = study_set(args.data_dir, args.tiny, scratch)
    config = base_config(data_dir, scratch / "features", parse_overrides(args.set), args.tiny)
    part = study.result.setdefault("audio", {"runs": {}, "systems": {}})
    part["data"] = {"dir": str(data_dir), "summary": real_audio.describe(data_dir)}
    systems = [s for s in system_names(modes) if only is None or s in only]
    data = []  # prepared on the first run to make: a resumed study with nothing left skips it

    def prepared():
        if not data:
            data.append(audio.prepare(config, verbose=False))
        return data[0]

    entries = audio_systems(config, args.losses, args.arms, systems)
    for entry in entries:
        part["systems"][entry["name"]] = {k: entry[k] for k in ("loss", "arm", "system", "mode",
                                                                "plain")}
    part["augmentation"] = dataclasses.asdict(augmented(config))
    for seed in seeds:
        for entry in entries:
            variant = copy.deepcopy(entry["config"])
            variant.trainer.seed = seed
            study.run("audio", entry["name"], seed, lambda v=variant: run_one(v, prepared()))
    if "baseline" not in part:
        baseline = real_audio.baseline(str(data_dir), seeds=seeds[:1], quiet=True)
        test = baseline["runs"][0]["test"]
        part["baseline"] = {
            "mean_eer": {"mean": test["mean_eer"]},
            "mean_auc": {"mean": float(np.mean([v for v in test["auc"].values()
                                                if v is not None]))},
            "map": {"mean": test["map"]}, "C": baseline["runs"][0]["C"]}
        study.save()


def settings_of(args) -> dict:
    """What must agree between a study and its --resume (not the seeds or the systems)."""
    return {"base": "data_dir_config() (the train.py --data-dir defaults)",
            "overrides": list(args.set),
            "data_dir": str(args.data_dir or ("(tiny stand-ins)" if args.tiny else
                                              real_audio.default_set_dir())),
            "tiny": args.tiny}


def parse_args(argv):
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data-dir", help="a set built by benchmarks/real_audio.py build "
                        "(default: build it into the cache)")
    parser.add_argument("--seeds", type=int, default=None,
                        help=f"seeds 0..N-1 (default {DEFAULT_SEEDS}; 2 with --tiny)")
    parser.add_argument("--modes", default=None,
                        help="comma-separated critic modes of the AD systems (default: every "
                             "mode of admlc_tf.critic_modes.MODES)")
    parser.add_argument("--losses", default=",".join(LOSSES),
                        help=f"comma-separated supervised losses (default {','.join(LOSSES)})")
    parser.add_argument("--only-systems", default=None, metavar="SYSTEMS",
                        help="comma-separated subset of plain and the modes (e.g. plain,value "
                             "or 'plain,AD value'); default all")
    parser.add_argument("--set", action="append", default=[], metavar="SECTION.FIELD=VALUE",
                        help="override a config field for every system (repeatable)")
    parser.add_argument("--out", help="output stem (default benchmarks/critic_study; "
                        "--tiny: benchmarks/critic_study_tiny)")
    parser.add_argument("--resume", action="store_true",
                        help="keep the runs already in the JSON and make only the missing ones")
    parser.add_argument("--report-only", action="store_true",
                        help="only rewrite the markdown from the JSON")
    parser.add_argument("--tiny", action="store_true", help="CI smoke: tiny set and models")
    parser.add_argument("--arms", choices=("both", "augmentation", "none"), default="both",
                        help="audio: the systems with and without augmentation (default both)")
    parser.add_argument("--part", choices=("audio", "scene", "both"), default="audio",
                        help="the real-recording audio study (default), the features defaults "
                        "on scene, or both")
    args = parser.parse_args(argv)
    args.arms = {"both": ARMS, "none": ARMS[:1], "augmentation": ARMS[1:]}[args.arms]
    args.losses = [x.strip() for x in args.losses.split(",") if x.strip()]
    bad = [x for x in args.losses if x not in LOSSES]
    if bad or not args.losses:
        raise UsageError(f"--losses {','.join(bad) or '(empty)'}: choose from {','.join(LOSSES)}")
    if args.seeds is not None and args.seeds < 2:
        raise UsageError("--seeds must be at least 2 (the paired interval needs two seeds)")
    return args


def main(argv=None) -> int:
    try:
        return _main(argv)
    except UsageError as e:
        print(f"real_audio_study: {e}", file=sys.stderr)
        return 2


def _main(argv) -> int:
    from admlc_tf.errors import AdmlcError

    args = parse_args(argv)
    stem = Path(args.out) if args.out else HERE / ("critic_study_tiny" if args.tiny
                                                   else "critic_study")
    json_path = stem.with_suffix(".json")
    if args.report_only or args.resume:
        if not json_path.is_file():
            raise UsageError(f"{json_path} does not exist: run the study first (without "
                             "--resume / --report-only) or pass its --out")
        try:
            previous = json.loads(json_path.read_text())
        except (OSError, json.JSONDecodeError) as e:
            raise UsageError(f"{json_path} is not a readable study JSON ({e}): pass another "
                             "--out") from None
    if args.report_only:
        write_text(stem.with_suffix(".md"), markdown(previous))
        print(markdown(previous))
        return 0
    modes = parse_modes(args.modes, UsageError)
    only = None
    if args.only_systems:
        only = {s.strip() if s.strip() == "plain" or s.strip().startswith("AD ")
                else f"AD {s.strip()}" for s in args.only_systems.split(",") if s.strip()}
        unknown = sorted(only - set(system_names(modes)))
        if unknown:
            raise UsageError(f"--only-systems {', '.join(unknown)}: not among "
                             f"{', '.join(system_names(modes))} (see --modes)")
    if args.tiny:
        light_mode()  # smoke runs of a few steps: graph building dominates
    seeds = list(range(args.seeds or (2 if args.tiny else DEFAULT_SEEDS)))
    settings = settings_of(args)
    if args.resume:
        if previous.get("settings") != settings:
            raise UsageError(f"{json_path} was made with other settings "
                             f"({previous.get('settings')}): resume with the same --set, "
                             "--data-dir and --tiny, or pass another --out")
        result = previous
        result["seeds"] = sorted(set(result["seeds"]) | set(seeds))
    else:
        result = {**stamp("real_audio_study.py", argv), "tiny": args.tiny, "seeds": seeds,
                  "settings": settings, "minutes": 0.0, "trained_runs": 0}
    result["complete"] = False
    result["command"] = command_line("real_audio_study.py", argv)
    n_systems = len([s for s in system_names(modes) if only is None or s in only])
    planned = len(seeds) * n_systems * (
        (len(args.losses) * len(args.arms) if args.part != "scene" else 0)
        + (1 if args.part != "audio" else 0))
    study = Study(result, stem, planned)
    try:
        if args.part in ("audio", "both"):
            audio_part(study, args, seeds, modes, only)
        if args.part in ("scene", "both"):
            scene_part(study, seeds, modes, only, args.tiny)
    except AdmlcError as e:  # a missing or broken set: one line
        raise UsageError(str(e)) from None
    result["complete"] = True
    result["this_invocation"] = {"trained": study.trained, "skipped": study.skipped}
    result.setdefault("invocations", []).append(
        {"command": result["command"], "commit": code_commit(), **result["this_invocation"],
         "finished": datetime.datetime.now().astimezone().isoformat(timespec="seconds")})
    study.save()
    print(f"trained {study.trained} runs, skipped {study.skipped} already in {json_path}")
    print(markdown(result))
    return 0


if __name__ == "__main__":
    sys.exit(run_cli(main))
