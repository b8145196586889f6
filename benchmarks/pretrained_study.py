"""Real recordings: what a pretrained front end (musicnn) buys and costs (issue #25, item 4).

Systems, each over seeds on the real-recording set (`benchmarks/real_audio.py build`, the set
of `benchmarks/real_audio_study.py`), through the library's own recipes:

- `musicnn + linear head`: the audio task with `--model musicnn` and the `--data-dir` defaults
  otherwise (frozen backbone, a dense layer on its 200-d embedding, the defaults' augmentation,
  no critic), `admlc_tf.recipes.audio.AudioRecipe`;
- `embeddings + <head>, plain`: `--task embeddings --no-adversarial` (cached musicnn clip
  embeddings, then one Table 2 model: warp, bpmll, deep-cplst, c2ae),
  `admlc_tf.recipes.embeddings.EmbeddingRecipe`;
- `embeddings + <best head>, critic`: the head of lowest validation mean EER over the seeds
  (chosen on val, never on test), with the task's default critic (`measured_critic`: value,
  soft-F1 quality).

The same `measures` (benchmarks/reproduce.py) as the critic study, on the same test clips, so
the rows compare with `critic_study.json`'s: its `CE plain, augmentation` (the CGRNN that
`train.py --data-dir` trains) is paired seed by seed with every system here (paired 95% t
interval of the difference, `compare`), and its log-mel logistic regression is the floor. The
cost: musicnn's embedding time per clip, the training time of every run, and of one export per
system (seed 0; the CGRNN's too, built untrained: size and speed do not depend on the weights)
the SavedModel's size and the median time of its serving signature on a 4 s clip.

    python benchmarks/pretrained_study.py --data-dir ~/.cache/admlc-tf/real-audio-v1
        # 3 seeds x (1 linear + 4 heads + 1 critic) = 18 runs; measured on the shared 2-core
        # machine (another benchmark running): see the `minutes` and per-run `seconds` in
        # benchmarks/pretrained_study.json
    python benchmarks/pretrained_study.py --resume --seeds 5   # more seeds later
    python benchmarks/pretrained_study.py --report-only        # markdown from the JSON
    python benchmarks/pretrained_study.py --tiny               # CI smoke (~20 s): generated
        # stand-in set, random musicnn weights, 2 epochs; numbers mean nothing

Needs the musicnn wheel's checkpoints (`pip install --no-deps musicnn==0.1.0`) unless
`--backbone-weights random`. Cut off, the same command with `--resume` continues: every
finished (system, seed) run is in `STEM.json`, rewritten atomically after each run, with
`complete: false` until every planned run is in it. `--heads` chooses the Table 2 heads,
`--paths` the systems (linear, heads, critic), `--reference` the critic study JSON (default
benchmarks/critic_study.json; none with --tiny).
"""

from __future__ import annotations

import argparse
import copy
import datetime
import hashlib
import json
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Callable, Optional, Sequence

if not __package__:  # `python benchmarks/pretrained_study.py`: siblings as `benchmarks.*`
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import numpy as np  # noqa: E402

from admlc_tf.cli import run_cli  # noqa: E402
from benchmarks import real_audio  # noqa: E402
from benchmarks.common import HERE, code_commit, command_line, stamp  # noqa: E402
from benchmarks.real_audio_study import (REPORTED, SHORT, Study, UsageError, cell,  # noqa: E402
                                         describe_short, run_one, study_set, summarise)
from benchmarks.reproduce import _cell_difference, compare, light_mode, measures  # noqa: E402

DEFAULT_SEEDS = 3
HEADS = ("warp", "bpmll", "deep-cplst", "c2ae")
PATHS = ("linear", "heads", "critic")
LINEAR = "musicnn + linear head (audio task), plain"
REFERENCE = "CE plain, augmentation"  # the CGRNN `train.py --data-dir` trains
SERVING_REPEATS = 20


def head_name(head: str, critic: bool = False) -> str:
    return f"embeddings + {head}, " + ("critic (value, soft F1)" if critic else "plain")


# ------------------------------------------------------------------------------------------
# Configs: the product's own defaults, as train.py builds them.


def linear_config(data_dir: Path, cache_dir: Path, weights: str, tiny: bool):
    """`train.py --data-dir DIR --model musicnn`: the audio defaults with musicnn's features."""
    from admlc_tf.recipes import configure, default_config

    config = configure(default_config("audio", with_data=True), {
        "model": "musicnn", "data.data_dir": str(data_dir), "data.cache_dir": str(cache_dir),
        "predictor.backbone_weights": weights})
    if tiny:
        config.trainer.epochs, config.trainer.batch_size = 2, 8
        config.trainer.critic_batch = 8
    return config


def head_config(data_dir: Path, cache_dir: Path, weights: str, head: str, critic: bool,
                tiny: bool):
    """`train.py --task embeddings --data-dir DIR --model HEAD` (with `--no-adversarial`
    unless `critic`): the task's defaults, critic mode included."""
    from admlc_tf.recipes import configure, default_config

    config = configure(default_config("embeddings", with_data=True), {
        "model": head, "data.data_dir": str(data_dir), "data.cache_dir": str(cache_dir),
        "predictor.backbone_weights": weights, "loss.adversarial": critic})
    if tiny:
        config.vectors.hidden_units, config.trainer.epochs = (16,), 2
        config.trainer.batch_size = config.trainer.critic_batch = 8
        config.trainer.critic_pretrain_steps = 2
    return config


# ------------------------------------------------------------------------------------------
# One run of each path, and the cost of an export.


def val_mean_eer(label_names, labels, scores) -> Optional[float]:
    """The validation mean EER: what the best head is chosen on (never the test split)."""
    from admlc_tf.metrics.reports import tagging_report

    return tagging_report(labels, scores, label_names, split="val")["mean_eer"]


def export_cost(version: Path, waveform: np.ndarray) -> dict:
    """The export's size on disk and its serving signature's median time on `waveform`, from
    `tf.saved_model.load` as a server would load it (two calls first: tracing is not
    serving)."""
    import tensorflow as tf

    size = sum(f.stat().st_size for f in version.rglob("*") if f.is_file())
    started = time.time()
    serve = tf.saved_model.load(str(version)).signatures["serving_default"]
    loaded = time.time() - started
    wave = tf.constant(waveform[None])
    for _ in range(2):
        serve(waveform=wave)
    times = []
    for _ in range(SERVING_REPEATS):
        started = time.perf_counter()
        serve(waveform=wave)
        times.append(time.perf_counter() - started)
    return {"export_mb": round(size / 1e6, 2), "load_seconds": round(loaded, 2),
            "serving_ms_per_clip": round(1000 * float(np.median(times)), 2),
            "clip_seconds": round(len(waveform) / 16000, 2), "repeats": SERVING_REPEATS}


def measured_export(export: Callable[[], Path], waveform: np.ndarray) -> dict:
    """Exports (into a scratch folder, removed after) and measures the export's cost."""
    started = time.time()
    version = Path(export())
    cost = {**export_cost(version, waveform), "export_seconds": round(time.time() - started, 1)}
    shutil.rmtree(version.parent, ignore_errors=True)
    return {"cost": cost}


def linear_run(config, data, waveform: Optional[np.ndarray]) -> dict:
    """One `--model musicnn` run (real_audio_study's `run_one`), its val EER, and with
    `waveform` the cost of its export."""
    from admlc_tf.recipes.audio import AudioRecipe

    def after(fitted, data):
        validation = data.validation
        out = {"val_mean_eer": val_mean_eer(data.label_names, validation.labels,
                                            fitted.trainer.predict(validation))}
        if waveform is not None:
            out.update(measured_export(lambda: AudioRecipe().export(config, data, fitted),
                                       waveform))
        return out

    return run_one(config, data, after)


def head_run(config, data, waveform: Optional[np.ndarray]) -> dict:
    """One `--task embeddings` run: measured on the clip embeddings of val and test (the
    export scores 3 s segments max-pooled instead: 4 s clips are two)."""
    import keras

    from admlc_tf.recipes.embeddings import EmbeddingRecipe
    from admlc_tf.trainer import make_strategy

    recipe = EmbeddingRecipe()
    fitted = recipe.fit(config, data, make_strategy(config.runtime), None, False, None, None)
    trainer, names = fitted.trainer, data.dataset.label_names
    validation, test = data.dataset.rows(data.val_idx), data.dataset.rows(data.test_idx)
    val_scores = trainer.predict(validation)
    values, _ = measures(names, validation.labels, val_scores, test.labels,
                         trainer.predict(test))
    result = {"measures": values, "val_mean_eer": val_mean_eer(names, validation.labels,
                                                                val_scores),
              "hardness_auc": trainer.critic_hardness_auc(validation),
              "early_stopping": trainer.early_stopping,
              "epochs": [h["epoch"] for h in fitted.history][-1:]}
    if waveform is not None:
        result.update(measured_export(lambda: recipe.export(config, data, fitted), waveform))
    keras.backend.clear_session()
    return result


def cgrnn_cost(data_dir: Path, cache_dir: Path, export_dir: Path, waveform: np.ndarray,
               tiny: bool) -> dict:
    """The `--data-dir` defaults' CGRNN export, untrained (its size and speed are the trained
    one's): the cost the pretrained systems are weighed against."""
    from types import SimpleNamespace

    from admlc_tf.data import audio
    from admlc_tf.recipes.audio import AudioRecipe, data_dir_config, model_builders

    config = data_dir_config()
    config.data.data_dir, config.data.cache_dir = str(data_dir), str(cache_dir)
    config.export_dir, config.name = str(export_dir), "cgrnn-cost"
    if tiny:
        config.predictor.conv_filters, config.predictor.gru_units = (4,), (6,)
    data = audio.prepare(config, verbose=False)
    build, _ = model_builders(config, data)
    spec = build()
    predictor = getattr(spec, "predictor", spec)
    fitted = SimpleNamespace(trainer=SimpleNamespace(predictor=predictor), thresholds=None)
    return measured_export(lambda: AudioRecipe().export(config, data, fitted), waveform)["cost"]


def embedding_cost(embedder, paths: Sequence[Path], sample_rate: int) -> dict:
    """musicnn's time to embed one clip (mel + backbone over its patches), median over
    `paths` after one warm-up call; reading the file is not counted."""
    from admlc_tf.features import read_audio

    waves = [read_audio(p, sample_rate=sample_rate) for p in paths]
    embedder(waves[0])
    times = []
    for wave in waves:
        started = time.perf_counter()
        embedder(wave)
        times.append(time.perf_counter() - started)
    return {"ms_per_clip": round(1000 * float(np.median(times)), 2), "clips": len(waves),
            "clip_seconds": round(float(np.median([len(w) for w in waves])) / sample_rate, 2)}


# ------------------------------------------------------------------------------------------
# The test clips, checked against the critic study's.


def test_clips(data_dir: Path) -> list[str]:
    """labels.csv's test rows: the split both recipes read (it is given there, not drawn)."""
    import csv

    with open(data_dir / "labels.csv", newline="") as f:
        return sorted(row["file"] for row in csv.DictReader(f) if row["split"] == "test")


def digest(names: Sequence[str]) -> str:
    return hashlib.sha256("\n".join(sorted(names)).encode()).hexdigest()[:16]


def check_same_clips(wanted: list[str], got: Sequence[str], what: str) -> None:
    """Refuses a run whose recipe scored other clips than labels.csv's test rows."""
    got = sorted(got)
    if got != wanted:
        raise UsageError(f"{what} tests on {len(got)} clips, labels.csv lists {len(wanted)} "
                         f"test clips (first differing: {sorted(set(got) ^ set(wanted))[:1]}): "
                         "the comparison with the critic study would not be paired")


def test_names(assignment: dict) -> list[str]:
    return sorted(Path(name).as_posix() for name, split in assignment.items() if split == "test")


# ------------------------------------------------------------------------------------------
# Summaries, recomputed from the runs in the JSON (so resumed and partial studies agree).


def best_head(runs: dict, heads: Sequence[str]) -> Optional[dict]:
    """The plain head of lowest mean validation EER over the seeds every head has, or None
    until every head has a run."""
    names = [head_name(h) for h in heads]
    if not all(runs.get(n) for n in names):
        return None
    seeds = set.intersection(*[{r["seed"] for r in runs[n]} for n in names])
    mean = {h: float(np.mean([r["val_mean_eer"] for r in runs[head_name(h)]
                              if r["seed"] in seeds])) for h in heads}
    head = min(heads, key=lambda h: (mean[h], heads.index(h)))
    return {"head": head, "val_mean_eer": mean, "seeds": sorted(seeds)}


def differences(runs: dict, reference: Optional[dict]) -> dict:
    """Each system against the CGRNN reference (`compare`: paired by seed, system − CGRNN),
    and the critic system against its own plain head."""
    out = {}
    for name, rs in runs.items():
        targets = []
        if reference:
            targets.append((reference["system"], reference["runs"]))
        if name.endswith("critic (value, soft F1)"):
            plain = name.replace("critic (value, soft F1)", "plain")
            targets.append((plain, runs.get(plain)))
        for against, base in targets:
            if base:
                out[f"{name} − {against}"] = {"system": name, "against": against,
                                              "measures": {m: v for m, v in
                                                           compare(base, rs).items()
                                                           if m in REPORTED}}
    return out


def seconds(runs: Sequence[dict]) -> dict:
    from benchmarks.reproduce import mean_std

    return mean_std([r.get("seconds") for r in runs])


def refresh(part: dict) -> None:
    runs = part["runs"]
    part["summary"] = summarise(runs, REPORTED)
    for name, rs in runs.items():
        part["summary"][name]["val_mean_eer"] = seconds([{"seconds": r["val_mean_eer"]}
                                                         for r in rs])
        part["summary"][name]["seconds"] = seconds(rs)
    part["best_head"] = best_head(runs, part["heads"])
    part["differences"] = differences(runs, part.get("reference"))


# ------------------------------------------------------------------------------------------
# Markdown, from the JSON alone.


def system_rows(part: dict) -> list[str]:
    lines = ["| system | " + " | ".join(SHORT[m] for m in REPORTED)
             + " | val EER | training s/run | seeds |", "|---|" + "---|" * (len(REPORTED) + 3)]
    for name, s in part["summary"].items():
        lines.append(f"| {name} | " + " | ".join(cell(s.get(m)) for m in REPORTED)
                     + f" | {cell(s['val_mean_eer'])} | {cell(s['seconds'])} | "
                     f"{len(s['seeds'])} |")
    ref = part.get("reference")
    if ref:
        summary = summarise({"r": ref["runs"]}, REPORTED)["r"]
        lines.append(f"| reference: CGRNN `--data-dir` defaults ({ref['system']}, "
                     "critic_study.json) | " + " | ".join(cell(summary[m]) for m in REPORTED)
                     + f" | - | - | {len(ref['runs'])} |")
        b = ref.get("baseline")
        if b:
            lines.append("| reference: log-mel mean/std + logistic regression | "
                         + " | ".join(cell(b.get(m)) for m in REPORTED) + " | - | - | 1 |")
    return lines


def difference_rows(diffs: dict) -> list[str]:
    lines = ["| system | − | " + " | ".join(SHORT[m] for m in REPORTED) + " |",
             "|---|---|" + "---|" * len(REPORTED)]
    for d in diffs.values():
        n = d["measures"]["mean_eer"]["difference"]["n"]
        lines.append(f"| {d['system']} | {d['against']} ({n} paired seeds) | " + " | ".join(
            _cell_difference(d["measures"][m]) for m in REPORTED) + " |")
    return lines


def cost_rows(part: dict) -> list[str]:
    cost = part.get("cost", {})
    lines = ["| export (seed 0) | size MB | serving ms per 4 s clip (median) | load s |",
             "|---|---|---|---|"]
    for name, rs in part["runs"].items():
        c = next((r["cost"] for r in rs if r.get("cost")), None)
        if c:
            lines.append(f"| {name} | {c['export_mb']:.1f} | {c['serving_ms_per_clip']:.1f} "
                         f"| {c['load_seconds']:.1f} |")
    c = cost.get("cgrnn")
    if c:
        lines.append(f"| CGRNN `--data-dir` defaults (untrained: same graph) | "
                     f"{c['export_mb']:.1f} | {c['serving_ms_per_clip']:.1f} | "
                     f"{c['load_seconds']:.1f} |")
    e = cost.get("embedding")
    if e:
        lines += ["", f"Embedding one {e['clip_seconds']:.0f} s clip with musicnn (mel + "
                  f"backbone, `--task embeddings`' cache): {e['ms_per_clip']:.0f} ms "
                  f"(median of {e['clips']} clips); the whole cache of "
                  f"{e.get('cache_clips', '?')} clips took {e.get('cache_seconds', 0):.0f} s "
                  "(reading included)."]
    return lines


def markdown(result: dict) -> str:
    part = result["audio"]
    m = result["machine"]
    lines = [f"## Real recordings: a pretrained front end (`benchmarks/pretrained_study.py`, "
             f"{result['started'][:10]})", "",
             f"Machine: {m['cpu_model']}, {m['usable_cores']} usable cores, shared with another "
             f"benchmark; TensorFlow {m['tensorflow']}. Seeds {result['seeds']}; "
             f"{result['minutes']:.0f} min of runs in all"
             + ("" if result["complete"] else " (INCOMPLETE: resume with --resume)")
             + f". musicnn weights: {result['settings']['backbone_weights']}. Data: "
             f"{describe_short(part['data']['summary'])}. Command: `{result['command']}`.", "",
             f"Test clips: {part['test_clips']['count']} (sha256 of the sorted names "
             f"{part['test_clips']['sha256']}), the same in both recipes"
             + (", and the critic study's set build" if part["test_clips"].get(
                 "same_build_as_reference") else "") + ".", "",
             "Cells: mean ± sample sd over seeds, on the test split; val EER: the validation "
             "split's mean EER (what picks the best head). The embeddings heads are scored on "
             "the clip embeddings, the audio-task systems as their export scores (3 s segments, "
             "max-pooled).", ""]
    lines += system_rows(part)
    best = part.get("best_head")
    if best:
        lines += ["", f"Best head by validation mean EER (seeds {best['seeds']}): "
                  f"**{best['head']}** (" + ", ".join(
                      f"{h} {v:.3f}" for h, v in best["val_mean_eer"].items()) + ")."]
    if part["differences"]:
        lines += ["", "Paired by seed (system − reference; 95% t interval over seeds; bold ✓ / "
                  "✗: the interval excludes 0 in the system's favour / against it):", ""]
        lines += difference_rows(part["differences"])
    lines += ["", "Cost:", ""] + cost_rows(part)
    return "\n".join(lines) + "\n"


# ------------------------------------------------------------------------------------------
# The study.


class PretrainedStudy(Study):
    """real_audio_study's resumable `Study` (skip done runs, write after each), saving this
    study's summaries and markdown instead of the critic study's."""

    def save(self) -> None:
        from benchmarks.common import write_json, write_text

        refresh(self.result["audio"])
        write_json(self.stem.with_suffix(".json"), self.result)
        write_text(self.stem.with_suffix(".md"), markdown(self.result))


def load_reference(path: Optional[Path], data_summary: Optional[dict],
                   seeds: Sequence[int]) -> Optional[dict]:
    """The CGRNN's per-seed runs and the logistic regression from the critic study's JSON."""
    if path is None:
        return None
    try:
        study = json.loads(Path(path).read_text())
        audio = study["audio"]
        runs = [r for r in audio["runs"][REFERENCE] if r["seed"] in seeds]
    except (OSError, json.JSONDecodeError, KeyError) as e:
        raise UsageError(f"--reference {path}: not a critic study JSON with {REFERENCE!r} runs "
                         f"({e}): pass benchmarks/critic_study.json or --no-reference") from None
    return {"path": str(path), "system": REFERENCE,
            "runs": [{"seed": r["seed"], "measures": r["measures"]} for r in runs],
            "baseline": audio.get("baseline"),
            "same_build": audio["data"]["summary"] == data_summary}


def run_study(study: PretrainedStudy, args, seeds: Sequence[int]) -> None:
    from admlc_tf.data import audio
    from admlc_tf.features import read_audio

    scratch = Path(tempfile.mkdtemp(prefix="pretrained-study-"))
    data_dir = study_set(args.data_dir, args.tiny, scratch)
    part = study.result.setdefault("audio", {"runs": {}})
    part["heads"] = list(args.heads)
    part["data"] = {"dir": str(data_dir), "summary": real_audio.describe(data_dir)}
    part["reference"] = load_reference(args.reference, part["data"]["summary"], seeds)
    wanted = test_clips(data_dir)
    part["test_clips"] = {"count": len(wanted), "sha256": digest(wanted),
                          "same_build_as_reference": bool(part["reference"]
                                                          and part["reference"]["same_build"])}
    weights, tiny, cache = args.backbone_weights, args.tiny, scratch / "features"
    waveform = read_audio(data_dir / wanted[0], sample_rate=16000)  # a 4 s test clip
    cost = part.setdefault("cost", {})
    embedded = []  # prepared on the first run to make: a resume with nothing left skips it

    def embeddings():
        if not embedded:
            from admlc_tf.recipes.embeddings import prepare

            started = time.time()
            data = prepare(head_config(data_dir, cache, weights, "warp", False, tiny),
                           verbose=False)
            check_same_clips(wanted, test_names(data.assignment), "--task embeddings")
            if args.cost:
                cost.setdefault("embedding", {
                    **embedding_cost(data.extractor, [data_dir / n for n in wanted[:30]],
                                     16000),
                    "cache_seconds": round(time.time() - started, 1),
                    "cache_clips": len(data.dataset.names)})
            embedded.append(data)
        return embedded[0]

    def job(config, prepared, run, seed):
        variant = copy.deepcopy(config)
        variant.trainer.seed = seed
        measure = args.cost and seed == seeds[0]  # one export per system is its cost
        return lambda: run(variant, prepared(), waveform if measure else None)

    if "heads" in args.paths:
        for seed in seeds:
            for head in args.heads:
                study.run("audio", head_name(head), seed, job(
                    head_config(data_dir, cache, weights, head, False, tiny), embeddings,
                    head_run, seed))
    if "critic" in args.paths:
        refresh(part)
        if part["best_head"] is None:
            raise UsageError("the critic system needs every plain head first: include heads "
                             "in --paths (or resume a study that has them)")
        best = part["best_head"]["head"]
        for seed in seeds:
            study.run("audio", head_name(best, critic=True), seed, job(
                head_config(data_dir, cache, weights, best, True, tiny), embeddings, head_run,
                seed))
    if "linear" in args.paths:
        config = linear_config(data_dir, cache, weights, tiny)
        prepared_audio = []

        def audio_data():
            if not prepared_audio:
                data = audio.prepare(config, verbose=False)
                check_same_clips(wanted, test_names(data.assignment), "--model musicnn")
                prepared_audio.append(data)
            return prepared_audio[0]

        for seed in seeds:
            study.run("audio", LINEAR, seed, job(config, audio_data, linear_run, seed))
    if args.cost and "cgrnn" not in cost:
        cost["cgrnn"] = cgrnn_cost(data_dir, cache, scratch / "export", waveform, tiny)
        study.save()
    shutil.rmtree(scratch, ignore_errors=True)


def settings_of(args) -> dict:
    """What must agree between a study and its --resume (not the seeds or the systems)."""
    return {"data_dir": str(args.data_dir or ("(tiny stand-ins)" if args.tiny else
                                              real_audio.default_set_dir())),
            "backbone_weights": args.backbone_weights, "tiny": args.tiny}


def parse_args(argv):
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data-dir", help="a set built by benchmarks/real_audio.py build "
                        "(default: build it into the cache)")
    parser.add_argument("--seeds", type=int, default=None,
                        help=f"seeds 0..N-1 (default {DEFAULT_SEEDS}; 2 with --tiny)")
    parser.add_argument("--heads", default=",".join(HEADS),
                        help=f"comma-separated Table 2 heads (default {','.join(HEADS)})")
    parser.add_argument("--paths", default=",".join(PATHS),
                        help=f"comma-separated systems to run (default {','.join(PATHS)})")
    parser.add_argument("--backbone-weights", default=None,
                        help="musicnn weights: mtt (default), msd, a checkpoint, or random "
                             "(the default with --tiny)")
    parser.add_argument("--reference", default=None,
                        help="the critic study JSON of the CGRNN rows (default "
                             "benchmarks/critic_study.json; none with --tiny)")
    parser.add_argument("--no-reference", action="store_true", help="no CGRNN reference rows")
    parser.add_argument("--no-cost", dest="cost", action="store_false",
                        help="skip the exports and timings (the test's smoke: they dominate it)")
    parser.add_argument("--out", help="output stem (default benchmarks/pretrained_study; "
                        "--tiny: benchmarks/pretrained_study_tiny)")
    parser.add_argument("--resume", action="store_true",
                        help="keep the runs already in the JSON and make only the missing ones")
    parser.add_argument("--report-only", action="store_true",
                        help="only rewrite the markdown from the JSON")
    parser.add_argument("--tiny", action="store_true",
                        help="CI smoke: generated set, random weights, tiny models")
    args = parser.parse_args(argv)
    args.heads = [h.strip() for h in args.heads.split(",") if h.strip()]
    args.paths = [p.strip() for p in args.paths.split(",") if p.strip()]
    for flag, given, known in (("--heads", args.heads, HEADS), ("--paths", args.paths, PATHS)):
        bad = [x for x in given if x not in known]
        if bad or not given:
            raise UsageError(f"{flag} {','.join(bad) or '(empty)'}: choose from "
                             f"{','.join(known)}")
    if args.seeds is not None and args.seeds < 2:
        raise UsageError("--seeds must be at least 2 (the paired interval needs two seeds)")
    args.backbone_weights = args.backbone_weights or ("random" if args.tiny else "mtt")
    if args.no_reference or (args.tiny and args.reference is None):
        args.reference = None
    else:
        args.reference = Path(args.reference) if args.reference else HERE / "critic_study.json"
    return args


def main(argv=None) -> int:
    try:
        return _main(argv)
    except UsageError as e:
        print(f"pretrained_study: {e}", file=sys.stderr)
        return 2


def previous_result(json_path: Path) -> dict:
    if not json_path.is_file():
        raise UsageError(f"{json_path} does not exist: run the study first (without --resume "
                         "/ --report-only) or pass its --out")
    try:
        return json.loads(json_path.read_text())
    except (OSError, json.JSONDecodeError) as e:
        raise UsageError(f"{json_path} is not a readable study JSON ({e}): pass another "
                         "--out") from None


def _main(argv) -> int:
    from benchmarks.common import write_text
    from admlc_tf.errors import AdmlcError

    args = parse_args(argv)
    stem = Path(args.out) if args.out else HERE / ("pretrained_study_tiny" if args.tiny
                                                   else "pretrained_study")
    json_path = stem.with_suffix(".json")
    if args.report_only:
        previous = previous_result(json_path)
        write_text(stem.with_suffix(".md"), markdown(previous))
        print(markdown(previous))
        return 0
    if args.tiny:
        light_mode()  # smoke runs of a few steps: graph building dominates
    seeds = list(range(args.seeds or (2 if args.tiny else DEFAULT_SEEDS)))
    settings = settings_of(args)
    if args.resume:
        result = previous_result(json_path)
        if result.get("settings") != settings:
            raise UsageError(f"{json_path} was made with other settings "
                             f"({result.get('settings')}): resume with the same --data-dir, "
                             "--backbone-weights and --tiny, or pass another --out")
        result["seeds"] = sorted(set(result["seeds"]) | set(seeds))
    else:
        result = {**stamp("pretrained_study.py", argv), "tiny": args.tiny, "seeds": seeds,
                  "settings": settings, "minutes": 0.0, "trained_runs": 0}
    result["complete"] = False
    result["command"] = command_line("pretrained_study.py", argv)
    planned = len(seeds) * (("linear" in args.paths) + ("critic" in args.paths)
                            + len(args.heads) * ("heads" in args.paths))
    study = PretrainedStudy(result, stem, planned)
    try:
        run_study(study, args, seeds)
    except AdmlcError as e:  # a missing set or missing weights: one line
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
