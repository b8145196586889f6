"""Fuzzing every reader of the project (issue #24 item 4): mutated inputs of every format through
the library functions the entry points call, each case ending as a CLI would.

    python benchmarks/fuzz.py --cases 1000 --seed 0          # writes benchmarks/fuzz.{json,md}
    python benchmarks/fuzz.py --replay wav:header:123456      # one case, its outcome printed

A case (`benchmarks.fuzz_inputs.Case`: format, mutation, seed) writes a valid input of its
format into a folder of its own, mutates it, and runs each entry point that reads the format:
`train` (`train.py`'s data preparation: `admlc_tf.data.audio.prepare`, `load_vectors`,
`read_image`), `evaluate` (`admlc_tf.evaluation.evaluate_export`) and `predict`
(`admlc_tf.serving.tagging.tag_files`). Each ends as `admlc_tf.cli.run_cli` would end the
script: `ok` (exit 0), `partial` (predict.py's exit 1: some files named as unreadable, the rest
tagged), `refused` (exit 2: an `AdmlcError` of one line). Anything else is a finding:

- `crash`: another exception escaped (the script would print a traceback);
- `timeout`: the entry ran past the case's time limit;
- `multi-line`: an AdmlcError whose message is not one line, or a traceback printed;
- `half-written`: a temporary file left behind, an output written by a refused run, or an
  output that does not parse.

The exported graph is stood in for (`tf.saved_model.load` answers zeros of the export's 7
outputs; every method of `ExportedPredictor` runs) so a case costs milliseconds, except with `--real-graph`, where export cases run a real tiny SavedModel and
mutate its graph files too. The per-case time limit is a SIGALRM in this process; memory is
capped per case (RLIMIT_AS) so an absurd header cannot take the machine's memory.
"""

from __future__ import annotations

import argparse
import collections
import contextlib
import datetime
import faulthandler
import gc
import io
import resource
import shutil
import signal
import sys
import tempfile
import threading
import time
import traceback
from pathlib import Path
from typing import Callable, Optional, Sequence

if __package__ in (None, ""):  # run as a script: the repository root on the path
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np  # noqa: E402

from admlc_tf.cli import run_cli  # noqa: E402
from benchmarks import fuzz_inputs as inputs  # noqa: E402
from benchmarks.fuzz_inputs import Case  # noqa: E402

OK, PARTIAL, REFUSED = "ok", "partial", "refused"
EXPECTED = (OK, PARTIAL, REFUSED)
FINDINGS = ("crash", "timeout", "multi-line", "half-written")
EXIT_CODES = {OK: 0, PARTIAL: 1, REFUSED: 2}
TIME_LIMIT = 20.0  # seconds per case; a tiny input read in more is a hang
MEMORY_HEADROOM = 3 << 30  # bytes of address space a case may add to the process's


class CaseTimeout(BaseException):
    """Raised by the alarm: a BaseException, so that no `except Exception` in the library
    swallows it."""


@contextlib.contextmanager
def time_limit(seconds: float):
    def expire(signum, frame):
        raise CaseTimeout(f"over {seconds:g} s")

    previous = signal.signal(signal.SIGALRM, expire)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


def _address_space() -> int:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[0]) * resource.getpagesize()


@contextlib.contextmanager
def memory_cap(headroom: int = MEMORY_HEADROOM):
    """An allocation past `headroom` more than now fails with MemoryError instead of swapping
    or inviting the OOM killer onto a shared machine's other jobs."""
    soft, hard = resource.getrlimit(resource.RLIMIT_AS)
    cap = _address_space() + headroom
    if hard != resource.RLIM_INFINITY:
        cap = min(cap, hard)
    resource.setrlimit(resource.RLIMIT_AS, (cap, hard))
    try:
        yield
    finally:
        resource.setrlimit(resource.RLIMIT_AS, (soft, hard))


class StandInSignature:
    """A concrete function's face: its input and output specs, and zeros of the outputs'
    width when called (`segments` answers one segment per row, as the real one does)."""

    def __init__(self, inputs: dict, outputs: int, per_row: bool = False):
        import tensorflow as tf

        self.structured_input_signature = ((), inputs)
        self.structured_outputs = {"probabilities": tf.TensorSpec((None, outputs))}
        self.outputs, self.per_row = outputs, per_row

    def __call__(self, **inputs):
        import tensorflow as tf

        rows = int(tf.shape(next(iter(inputs.values())))[0])
        shape = (rows, 1, self.outputs) if self.per_row else (rows, self.outputs)
        return {"probabilities": tf.zeros(shape, tf.float32)}


@contextlib.contextmanager
def stand_in_graph(outputs: int = len(inputs.LABELS)):
    """`tf.saved_model.load` gives a stand-in whose signatures answer zeros of `outputs`
    labels: the readers around the graph are what is fuzzed, and a graph load costs seconds."""
    import tensorflow as tf

    from admlc_tf.config import FeatureConfig

    features = FeatureConfig()
    spec = tf.TensorSpec((None, features.num_frames, features.n_mels), name="features")
    waveform = {"waveform": tf.TensorSpec((None, None))}

    class Loaded:
        signatures = {"features": StandInSignature({"features": spec}, outputs),
                      "serving_default": StandInSignature(waveform, outputs),
                      "segments": StandInSignature(waveform, outputs, per_row=True)}

    real = tf.saved_model.load
    tf.saved_model.load = lambda path, *args, **kwargs: Loaded()
    try:
        yield
    finally:
        tf.saved_model.load = real


# --- one entry point, ended as the CLI would end it ---------------------------------------------

def where(error: BaseException) -> str:
    """The innermost frame of the project in a traceback: where to fix it."""
    frames = [f for f in traceback.extract_tb(error.__traceback__)
              if "admlc_tf" in f.filename or "benchmarks" in f.filename]
    frame = frames[-1] if frames else traceback.extract_tb(error.__traceback__)[-1]
    return f"{Path(frame.filename).name}:{frame.lineno}"


def end_like_cli(run: Callable[[], object], limit: float) -> tuple[str, str]:
    """Runs one entry point as `run_cli` would: (outcome, detail)."""
    from admlc_tf.errors import AdmlcError

    err = io.StringIO()
    try:
        with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()), \
                memory_cap(), time_limit(limit):
            result = run()
        outcome = PARTIAL if isinstance(result, list) and any("error" in r for r in result) \
            else OK
        detail = ""
    except AdmlcError as e:
        message = str(e)
        if "\n" in message or not message.strip():
            return "multi-line", f"AdmlcError of {message.count(chr(10)) + 1} lines: {message[:200]!r}"
        outcome, detail = REFUSED, message
    except CaseTimeout as e:
        return "timeout", str(e)
    except KeyboardInterrupt:
        raise
    except BaseException as e:  # noqa: BLE001 -- any other escape is what the fuzzer looks for
        first = str(e).splitlines()[0][:200] if str(e) else ""
        return "crash", f"{type(e).__name__}: {first} (at {where(e)})"
    if "Traceback (most recent call last)" in err.getvalue():
        return "multi-line", "a traceback on stderr"
    return outcome, detail


def leftovers(folder: Path) -> list[str]:
    """Temporary files and folders of the atomic writes (`.<name>.tmp-<pid>`, `.tmp-<v>-<pid>`)."""
    return sorted(str(p.relative_to(folder)) for p in folder.rglob(".*")
                  if ".tmp" in p.name)


def check_outputs(outcome: str, outputs: Sequence[Path]) -> Optional[str]:
    """A refused run wrote none of its outputs; any other wrote each completely."""
    import json

    import h5py

    for path in outputs:
        if outcome == REFUSED:
            if path.exists():
                return f"refused, yet {path.name} was written"
            continue
        try:
            if path.suffix == ".json":
                json.loads(path.read_text())
            elif path.suffix == ".csv":
                path.read_text(encoding="utf-8")
            elif path.suffix == ".h5":
                with h5py.File(path, "r") as f:
                    assert len(f["offsets"]) == len(f["names"]) + 1
        except Exception as e:  # noqa: BLE001
            return f"{path.name} does not parse ({type(e).__name__}: {e})"
    return None


# --- the entry points of each format ------------------------------------------------------------

class Workspace:
    """The shared, unmutated pieces of every case: the stub (or real) exports and a valid
    clip and image, written once."""

    def __init__(self, root: Path, real_export: Optional[Path] = None, warm: bool = True):
        self.root = root
        rng = np.random.default_rng(0)
        self.audio_export = inputs.write_stub_export(root / "export-audio" / "1")
        self.image_export = inputs.write_stub_export(root / "export-image" / "1", "image_bytes")
        self.real_export = real_export
        self.clip = root / "valid.wav"
        inputs.write_bytes(self.clip, inputs.audio_bytes("wav", rng))
        self.image = root / "valid.png"
        inputs.write_bytes(self.image, inputs.image_bytes("png", rng))
        self.dataset = root / "dataset"
        inputs.write_layout("labels-csv", self.dataset, rng)
        if warm:  # the first feature extraction imports and compiles for seconds: no case's time
            with contextlib.redirect_stdout(io.StringIO()), \
                    contextlib.redirect_stderr(io.StringIO()):
                _prepare(self.dataset, root / "warm-up")()
        gc.freeze()  # what is loaded by now lives on: the collection after each case skips it


def _prepare(folder: Path, cache: Path, layout_fmt: Optional[str] = None):
    from admlc_tf.config import ExperimentConfig
    from admlc_tf.data import audio

    config = ExperimentConfig()
    config.data.data_dir, config.data.cache_dir = str(folder), str(cache)
    if layout_fmt == "chime-home":
        config.data.data_dir = str(folder / "chime_home")
    return lambda: audio.prepare(config, verbose=False)


def _predict(paths: Sequence[Path], export: Path, out: Path):
    from admlc_tf.serving.tagging import tag_files

    return lambda: tag_files(list(map(str, paths)), model_path=export, csv_path=out / "tags.csv",
                             json_path=out / "tags.json", verbose=False)


def _evaluate(export: Path, data: Path, cache: Path, out: Path):
    from admlc_tf.evaluation import evaluate_export

    return lambda: evaluate_export(export, data_dir=str(data), cache_dir=str(cache),
                                   json_path=str(out / "eval.json"), verbose=False)


def build(case: Case, folder: Path, space: Workspace) -> dict[str, tuple[Callable, list[Path]]]:
    """Writes the case's mutated input under `folder`; returns entry name -> (run, outputs)."""
    rng = np.random.default_rng(case.seed)
    fmt, mutation = case.format, case.mutation
    cache, out = folder / "cache", folder / "out"
    out.mkdir(parents=True)
    suffix = {"jpeg": ".jpg"}.get(fmt, f".{fmt}")
    if fmt in inputs.AUDIO or fmt in inputs.IMAGES:
        make = inputs.audio_bytes if fmt in inputs.AUDIO else inputs.image_bytes
        valid, other = make(fmt, rng), make(fmt, rng)
        data = valid if mutation == "none" else inputs.mutate_bytes(fmt, mutation, valid,
                                                                     other, rng)
        if fmt in inputs.IMAGES:
            path = folder / f"image{suffix}"
            inputs.write_bytes(path, data)
            from admlc_tf.data.images import read_image

            return {"train": (lambda: read_image(path), []),
                    "predict": (_predict([space.image, path], space.image_export, out),
                                [out / "tags.csv", out / "tags.json"])}
        data_dir = folder / "data"
        inputs.write_layout("labels-csv", data_dir, rng)
        path = data_dir / "audio" / f"fuzzed{suffix}"
        inputs.write_bytes(path, data)
        with open(data_dir / "labels.csv", "a", encoding="utf-8") as f:
            f.write(f"audio/fuzzed{suffix},c;m,train\n")
        return {"train": (_prepare(data_dir, cache), []),
                "predict": (_predict([space.clip, path], space.audio_export, out),
                            [out / "tags.csv", out / "tags.json"])}
    if fmt in inputs.LAYOUTS:
        texts = inputs.write_layout(fmt, folder / "data", rng)
        if mutation == "none":
            pass
        elif mutation == "audio":
            clips = sorted((folder / "data").rglob("*.wav"))
            path = clips[int(rng.integers(len(clips)))]
            kind = inputs.BYTE_MUTATIONS[int(rng.integers(len(inputs.BYTE_MUTATIONS)))]
            inputs.write_bytes(path, inputs.mutate_bytes("wav", kind, path.read_bytes(),
                                                         space.clip.read_bytes(), rng))
        else:
            target = texts[0] if rng.random() < 0.6 else texts[int(rng.integers(len(texts)))]
            inputs.write_bytes(target, inputs.mutate_text(mutation, target.read_text("utf-8"),
                                                          rng))
        data = folder / "data"
        return {"train": (_prepare(data, cache, fmt), []),
                "evaluate": (_evaluate(space.audio_export, data if fmt != "chime-home"
                                       else data / "chime_home", cache, out),
                             [out / "eval.json"])}
    if fmt in inputs.VECTORS:
        from admlc_tf.data.vectors.formats import load_vectors

        path = folder / f"vectors{suffix}"
        if mutation == "structure":
            inputs.restructure(fmt, path, rng)
        elif mutation == "none":
            inputs.write_vectors(fmt, path, rng)
        else:
            inputs.write_vectors(fmt, path, rng)
            other = folder / f"other{suffix}"
            inputs.write_vectors(fmt, other, rng)
            data = path.read_bytes()
            if fmt == "arff" and mutation in inputs.TEXT_MUTATIONS:
                mutated = inputs.mutate_text(mutation, data.decode("utf-8"), rng)
            elif mutation == "sparse":
                mutated = inputs.sparse_rows(data.decode("utf-8"), rng)
            elif mutation == "attribute":
                mutated = inputs.attribute_edit(data.decode("utf-8"), rng)
            elif mutation == "xml":
                xml = path.with_suffix(".xml")
                text = xml.read_text("utf-8") if xml.is_file() else ""
                kind = inputs.TEXT_MUTATIONS[int(rng.integers(len(inputs.TEXT_MUTATIONS)))]
                inputs.write_bytes(xml, inputs.mutate_text(kind, text, rng))
                mutated = data
            else:
                mutated = inputs.mutate_bytes(fmt, mutation, data, other.read_bytes(), rng)
            inputs.write_bytes(path, mutated)
            other.unlink()
            other.with_suffix(".xml").unlink(missing_ok=True)
        return {"train": (lambda: load_vectors(path), [])}
    # an export folder
    source = space.real_export or space.audio_export
    export = inputs.copy_export(source, folder / "export" / "1")
    target = inputs.export_targets(export).get(mutation)
    if target is not None and target.is_file():
        data = target.read_bytes()
        if mutation == "config":
            mutated = inputs.json_edit(data.decode("utf-8"), rng)
        elif mutation == "thresholds":
            mutated = (inputs.json_edit if rng.random() < 0.6 else
                       lambda t, r: inputs.mutate_text("quote", t, r))(data.decode("utf-8"), rng)
        elif mutation in ("labels", "splits"):
            kind = inputs.TEXT_MUTATIONS[int(rng.integers(len(inputs.TEXT_MUTATIONS)))]
            mutated = inputs.mutate_text(kind, data.decode("utf-8"), rng)
        else:
            mutated = inputs.mutate_bytes("export", mutation, data, data, rng)
        inputs.write_bytes(target, mutated)
    return {"predict": (_predict([space.clip], export, out), [out / "tags.csv", out / "tags.json"]),
            "evaluate": (_evaluate(export, space.dataset, cache, out), [out / "eval.json"])}


def run_case(case: Case, space: Workspace, limit: float = TIME_LIMIT,
             keep: Optional[Path] = None) -> dict:
    """Runs a case's entries; returns its record: outcome per entry, the worst, the seconds."""
    folder = Path(tempfile.mkdtemp(prefix=f"{case.format}-", dir=space.root))
    start = time.perf_counter()
    record = {"case": str(case), "format": case.format, "mutation": case.mutation,
              "entries": {}}
    try:
        entries = build(case, folder, space)
        real = case.format == "export" and space.real_export is not None
        for name, (run, outputs) in entries.items():
            with contextlib.nullcontext() if real else stand_in_graph():
                outcome, detail = end_like_cli(run, limit)
            if outcome in EXPECTED:
                problem = check_outputs(outcome, outputs)
                stray = leftovers(folder)
                if stray or problem:
                    outcome, detail = "half-written", problem or f"left {', '.join(stray)}"
            record["entries"][name] = {"outcome": outcome, "exit": EXIT_CODES.get(outcome),
                                       "detail": detail}
    finally:
        if keep is None:
            shutil.rmtree(folder, ignore_errors=True)
        else:
            shutil.copytree(folder, keep / folder.name, dirs_exist_ok=True)
            shutil.rmtree(folder, ignore_errors=True)
    # Collected here, not in the middle of the next case: twice a 1,000-case run hung inside
    # HDF5 reading a string dataset of a later case (never when that case ran alone), which
    # fits a garbage h5py object of this case finalised inside HDF5's conversion callback.
    gc.collect()
    outcomes = [e["outcome"] for e in record["entries"].values()]
    record["outcome"] = next((o for o in FINDINGS if o in outcomes), None) or max(
        outcomes, key=lambda o: EXIT_CODES[o])
    record["seconds"] = round(time.perf_counter() - start, 3)
    return record


def findings(records: Sequence[dict]) -> list[dict]:
    return [r for r in records if r["outcome"] in FINDINGS]


def counts(records: Sequence[dict]) -> dict:
    """Cases by outcome, by format (and outcome), and entry runs by outcome."""
    by_format = collections.defaultdict(collections.Counter)
    for r in records:
        by_format[r["format"]][r["outcome"]] += 1
    entries = collections.Counter(e["outcome"] for r in records for e in r["entries"].values())
    return {"cases": len(records),
            "by_outcome": dict(collections.Counter(r["outcome"] for r in records)),
            "by_format": {f: dict(by_format[f]) for f in inputs.FORMATS if f in by_format},
            "entry_runs": dict(entries)}


# --- the benchmark --------------------------------------------------------------------------

def real_export(root: Path, model=None) -> Path:
    """A tiny real audio export, for `--real-graph`: the CGRNN of tests/test_predict.py, or
    `model` (`[batch, 249, 40]` log-mel -> `[batch, 7]` logits; a smaller one traces faster)."""
    from admlc_tf.config import FeatureConfig, PredictorConfig
    from admlc_tf.predictors.cgrnn import build_cgrnn
    from admlc_tf.serving.export import export_predictor
    from admlc_tf.serving.exported import ExportedPredictor

    if model is None:
        model = build_cgrnn(249, 40, len(inputs.LABELS),
                            config=PredictorConfig(conv_filters=(4,), gru_units=(6,),
                                                   dense_units=8),
                            feature_mean=np.full(40, -8.0), feature_variance=np.full(40, 9.0))
    stub = ExportedPredictor(inputs.write_stub_export(root / "meta" / "1"))
    thresholds = json_load(stub.assets / ExportedPredictor.THRESHOLDS)
    return export_predictor(model, base_dir=root, name="real", label_names=inputs.LABELS,
                            metadata={"config": stub.metadata["config"]},
                            features=FeatureConfig(), thresholds=thresholds,
                            splits=(stub.assets / ExportedPredictor.SPLITS).read_text())


def json_load(path: Path):
    import json

    return json.loads(path.read_text())


def markdown(report: dict) -> str:
    c = report["counts"]
    outcomes = [o for o in EXPECTED + FINDINGS if any(o in v for v in c["by_format"].values())]
    lines = [f"# Fuzzing: {c['cases']} cases", "",
             f"`{report['command']}` at commit {report['commit']}, started {report['started']}, "
             f"{report['seconds']:.0f} s on {report['machine']['cpu_model']} "
             f"({report['machine']['usable_cores']} usable cores, load "
             f"{report['machine']['load_average_start']} -> "
             f"{report['machine'].get('load_average_end')}); per-case limit "
             f"{report['time_limit_s']:g} s, graph {'real' if report['real_graph'] else 'stood in'}"
             " for export cases.", "",
             "Outcome of a case: the worst of its entry points (train data preparation, "
             "evaluate, predict); `ok`/`partial`/`refused` are exit 0/1/2 with one line, "
             "anything else is a finding.", "",
             "| format | " + " | ".join(outcomes) + " |",
             "|---|" + "---|" * len(outcomes)]
    for fmt, row in c["by_format"].items():
        lines.append(f"| {fmt} | " + " | ".join(str(row.get(o, 0)) for o in outcomes) + " |")
    lines.append("| **all** | " + " | ".join(str(c["by_outcome"].get(o, 0)) for o in outcomes)
                 + " |")
    lines += ["", f"Entry runs by outcome: {c['entry_runs']}.", ""]
    found = report["findings"]
    lines.append(f"Findings: {len(found)}." + (" Replay one with `python benchmarks/fuzz.py "
                                               "--replay <case>`:" if found else ""))
    for r in found[:50]:
        details = "; ".join(f"{k}: {e['outcome']} {e['detail']}" for k, e in r["entries"].items()
                            if e["outcome"] in FINDINGS)
        lines.append(f"- `{r['case']}` {details}")
    return "\n".join(lines) + "\n"


def main(argv: Optional[Sequence[str]] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--cases", type=int, default=1000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--time-limit", type=float, default=TIME_LIMIT,
                        help="seconds per entry point of a case")
    parser.add_argument("--real-graph", action=argparse.BooleanOptionalAction, default=True,
                        help="export cases run a real tiny SavedModel (default on)")
    parser.add_argument("--replay", help="run one case, format:mutation:seed, and print it")
    parser.add_argument("--keep", help="with --replay: copy the case's folder here")
    parser.add_argument("--json", default=str(Path(__file__).with_name("fuzz.json")))
    parser.add_argument("--md", default=str(Path(__file__).with_name("fuzz.md")))
    args = parser.parse_args(argv)
    from benchmarks import common

    log = common.logger("fuzz", time.time())
    with tempfile.TemporaryDirectory(prefix="admlc-fuzz-") as tmp:
        root = Path(tmp)
        import os

        os.environ["ADMLC_DATA_HOME"] = str(root / "data-home")
        export = real_export(root / "real") if args.real_graph else None
        space = Workspace(root / "space", export)
        if args.replay:
            keep = Path(args.keep) if args.keep else None
            if keep:
                keep.mkdir(parents=True, exist_ok=True)
            record = run_case(Case.parse(args.replay), space, args.time_limit, keep)
            print(record)
            return 0 if record["outcome"] in EXPECTED else 1
        report = common.stamp("fuzz.py", argv)
        report.update(time_limit_s=args.time_limit, real_graph=args.real_graph, seed=args.seed)
        started, records = time.time(), []
        for i, case in enumerate(inputs.cases(args.cases, args.seed)):
            # A hang in C code, which the alarm cannot interrupt, still names its case and
            # where it is stuck (the dump is C-level: it needs no GIL).
            watchdog = threading.Timer(3 * args.time_limit, log, [f"case {i} {case} hangs"])
            watchdog.daemon = True
            watchdog.start()
            faulthandler.dump_traceback_later(3 * args.time_limit + 10)
            records.append(run_case(case, space, args.time_limit))
            faulthandler.cancel_dump_traceback_later()
            watchdog.cancel()
            if records[-1]["seconds"] > args.time_limit:
                log(f"slow case {i} {case}: {records[-1]['seconds']} s")
            if records[-1]["outcome"] in FINDINGS:
                log(f"finding {case}: {records[-1]['entries']}")
            if (i + 1) % 100 == 0:
                log(f"{i + 1}/{args.cases} cases, {len(findings(records))} findings")
        report["seconds"] = round(time.time() - started, 1)
        common.finish(report)
    report.update(counts=counts(records), findings=findings(records),
                  date=datetime.date.today().isoformat(),
                  slowest=sorted(records, key=lambda r: -r["seconds"])[:10])
    common.write_json(args.json, report)
    common.write_text(args.md, markdown(report))
    print(markdown(report))
    return 0 if not report["findings"] else 1


if __name__ == "__main__":
    sys.exit(run_cli(main))
